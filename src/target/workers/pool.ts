// A target whose connections are served by worker processes, each owning whole targets: their LUNs,
// sessions, reservations, unit attentions and task sets live in exactly one process, so SCSI semantics
// are those of a single-process target. The main process listens, reads each connection's first Login
// Request to learn its target, and hands the socket itself to the owning worker (handoff.ts), which
// serves it end to end: no byte of the full feature phase passes through the main process. Discovery
// sessions, and logins that name no known target, are answered by the main process's own server, which
// knows every target by name and ACL but opens no LUN. Why processes and handed-over sockets rather than
// login redirection: docs/architecture.md ("Several cores").

import type { Server, Socket } from 'node:net';
import type { Logger } from 'pino';
import { executeVerb, type AdminAnswer } from '../admin/commands.js';
import { ExportPolicy } from '../admin/paths.js';
import { DEFAULT_PORTAL, buildServer, parsePortal } from '../config/build.js';
import type { ServerConfig } from '../config/schema.js';
import { RunningConfig } from '../config/store.js';
import { listenOn, type Portal } from '../portal.js';
import type { TargetServer } from '../server.js';
import type { CloseSummary, ShutdownOptions } from '../shutdown.js';
import type { StatsSnapshot } from '../stats/snapshot.js';
import type { LunEventMode } from '../target-node.js';
import { gatherStats, routeAdmin, type AdminPeer, type AdminScope } from './admin-routing.js';
import { detachForHandoff, readFirstPdu, restoreFirstBytes } from './handoff.js';
import { forgetTarget, knowTarget } from './known-targets.js';
import { sessionIdsOf, slotOfSession } from './messages.js';
import { WorkerSlot } from './worker-slot.js';

/** How a target with workers is built beyond its configuration. */
export interface WorkerTargetOptions {
  lunEvents?: LunEventMode;
  /** Called once when a worker keeps dying (worker-slot.ts): the caller shuts down and exits non-zero. */
  onFatal?: (reason: string) => void;
  /** Keep command counters in every process (for metrics and `admin stats|top`). Default false. */
  counting?: boolean;
  /**
   * The running configuration, kept by the main process: admin changes are recorded in it (and saved
   * with "persist"), and a worker restarted after a crash starts from it. Default: one of `cfg`.
   */
  config?: RunningConfig;
}

const DEFAULT_LOGIN_TIMEOUT_MS = 15_000;
const DEFAULT_MAX_CONNECTIONS = 1024;

/** The main process of a target with workers: listeners, routing by first Login Request, workers, admin. */
export class WorkerTarget {
  /** The addresses listened on, once started. */
  readonly bound: Portal[] = [];
  readonly #cfg: ServerConfig;
  readonly #store: RunningConfig;
  readonly #n: number;
  readonly #log: Logger;
  readonly #opts: WorkerTargetOptions;
  readonly #slots: WorkerSlot[] = [];
  /** Which worker serves each target, by name (targets added at runtime included). */
  readonly #ownerOf = new Map<string, WorkerSlot>();
  readonly #peers = new Map<WorkerSlot, AdminPeer>();
  #localPeer: AdminPeer | undefined;
  readonly #servers: Server[] = [];
  /** Connections whose first PDU is still being read. */
  readonly #routing = new Set<Socket>();
  #local: TargetServer | undefined;
  #closing = false;
  #closed: Promise<CloseSummary> | undefined;

  /** `workers` processes (at most one per target) serve `cfg.targets`, spread round-robin. */
  constructor(cfg: ServerConfig, workers: number, log: Logger, opts: WorkerTargetOptions = {}) {
    if (!Number.isInteger(workers) || workers < 1) throw new RangeError(`--workers ${workers} must be a positive integer`);
    this.#cfg = cfg;
    this.#store = opts.config ?? new RunningConfig(cfg);
    this.#n = Math.min(workers, cfg.targets.length);
    this.#log = log;
    this.#opts = opts;
  }

  /** Every target's name, in configuration order (targets added at runtime last). */
  targetNames(): string[] {
    return this.#store.running().targets.map((t) => t.iqn);
  }

  /** The process ids of the workers now running, by slot (1..N); undefined for one being restarted. */
  workerPids(): (number | undefined)[] {
    return this.#slots.map((s) => s.pid);
  }

  /**
   * Listens, then starts every worker. Rejects, with everything stopped, when a portal cannot be bound or
   * a worker cannot serve its targets (the worker's message names the setting). Connections that arrive
   * meanwhile wait for their worker.
   */
  async start(): Promise<Portal[]> {
    const portals = (this.#cfg.portals ?? [DEFAULT_PORTAL]).map((p, i) => parsePortal(p, `portals[${i}]`));
    try {
      // The local server knows every target (SendTargets, ACLs) and serves none of them.
      this.#local = await buildServer(
        this.#cfg,
        this.#log,
        { sessionIds: sessionIdsOf(0, this.#n, 0), counting: this.#opts.counting === true, ...(this.#opts.lunEvents !== undefined && { lunEvents: this.#opts.lunEvents }) },
        { serve: new Set() },
      );
      // Listen first: the workers' SendTargets answers need the bound addresses (port 0 picks one).
      for (const p of portals) {
        const { server, bound } = await listenOn(p, (s) => this.#accept(s), { pauseOnConnect: true });
        server.on('error', (err) => this.#log.error({ err }, 'listener error'));
        this.bound.push(bound);
        this.#servers.push(server);
      }
      this.#local.bound = this.bound;
      this.#localPeer = localPeer(this.#local, this.#store, this.#log);
      const waitMs = this.#cfg.loginTimeoutMs ?? DEFAULT_LOGIN_TIMEOUT_MS;
      for (let w = 0; w < this.#n; w++) {
        const slot: WorkerSlot = new WorkerSlot(
          {
            slot: w + 1,
            slots: this.#n,
            logLevel: this.#log.level,
            portals: this.bound,
            counting: this.#opts.counting === true,
            ...(this.#opts.lunEvents !== undefined && { lunEvents: this.#opts.lunEvents }),
          },
          () => this.#assignment(slot),
          this.#log,
          { fatal: (reason) => this.#fatal(reason) },
          waitMs,
        );
        this.#slots.push(slot);
        this.#peers.set(slot, workerPeer(slot));
      }
      // Targets spread round-robin in configuration order.
      this.#cfg.targets.forEach((t, i) => this.#ownerOf.set(t.iqn, this.#slots[i % this.#n]!));
      await Promise.all(this.#slots.map((s) => s.start()));
    } catch (e) {
      this.#closing = true;
      for (const s of this.#slots) s.kill();
      for (const s of this.#servers) s.close();
      for (const s of this.#routing) s.destroy();
      await this.#local?.close({ graceMs: 0, abortWaitMs: 0, backendWaitMs: 1000 });
      throw e;
    }
    for (const b of this.bound) this.#log.info({ host: b.host, port: b.port, workers: this.#n }, 'listening');
    return this.bound;
  }

  #accept(socket: Socket): void {
    const max = this.#cfg.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    if (this.#closing || this.#routing.size >= max) {
      if (!this.#closing) this.#log.warn({ peer: socket.remoteAddress }, 'connection refused: too many logins under way');
      socket.destroy();
      return;
    }
    this.#routing.add(socket);
    void readFirstPdu(socket, this.#cfg.loginTimeoutMs ?? DEFAULT_LOGIN_TIMEOUT_MS).then((first) => {
      this.#routing.delete(socket);
      if (first === undefined) return;
      if (this.#closing) return void socket.destroy();
      const owner = first.route.kind === 'target' ? this.#ownerOf.get(first.route.name) : undefined;
      if (owner === undefined) return this.#local!.adopt(restoreFirstBytes(socket, first.bytes));
      const rest = detachForHandoff(socket);
      owner.hand(socket, rest.length === 0 ? first.bytes : Buffer.concat([first.bytes, ...rest]));
    });
  }

  /** The running configuration and the indexes in it of the targets `slot` serves: what its worker starts with. */
  #assignment(slot: WorkerSlot): { config: ServerConfig; serve: number[] } {
    const config = this.#store.running();
    const serve = config.targets.flatMap((t, i) => (this.#ownerOf.get(t.iqn) === slot ? [i] : []));
    return { config, serve };
  }

  #scope(): AdminScope {
    const slotOf = (p: AdminPeer | undefined) => [...this.#peers].find(([, q]) => q === p)?.[0];
    return {
      targets: () => this.targetNames(),
      local: this.#localPeer!,
      workers: () => this.#slots.map((s) => this.#peers.get(s)!),
      ownerOf: (t) => {
        const s = this.#ownerOf.get(t);
        return s === undefined ? undefined : this.#peers.get(s);
      },
      sessionOwner: (id) => {
        if (!Number.isInteger(id) || id <= 0) return undefined;
        const slot = slotOfSession(id, this.#n);
        return slot === 0 ? this.#localPeer : this.#peers.get(this.#slots[slot - 1]!);
      },
      placeNew: () => {
        // The worker serving the fewest targets; the lowest slot among equals.
        const load = (s: WorkerSlot) => [...this.#ownerOf.values()].filter((o) => o === s).length;
        const least = this.#slots.reduce((best, s) => (load(s) < load(best) ? s : best));
        return this.#peers.get(least)!;
      },
      setOwner: (t, p) => {
        const s = slotOf(p);
        if (s === undefined) this.#ownerOf.delete(t);
        else this.#ownerOf.set(t, s);
      },
      config: this.#store,
    };
  }

  /** Runs one admin request where its answer lives and records its changes (admin-routing.ts). Never rejects. */
  admin(req: unknown): Promise<AdminAnswer> {
    if (this.#localPeer === undefined) return Promise.resolve({ ok: false, error: 'the target is not started' });
    return routeAdmin(this.#scope(), req);
  }

  /** The counters of every process, summed: what the metrics endpoint and `admin stats` report. */
  stats(): Promise<StatsSnapshot> {
    return gatherStats(this.#scope());
  }

  #fatal(reason: string): void {
    this.#log.fatal({ reason }, 'a worker keeps dying: stopping the target');
    this.#opts.onFatal?.(reason);
  }

  /**
   * Shuts down like a single-process target (shutdown.ts), every process at once: stop accepting, ask
   * every initiator to log out within `graceMs`, close what is left, flush and close the backends. The
   * summary puts the processes' summaries together; a worker that does not finish within the sum of the
   * bounds (plus a margin) is killed and reported. Idempotent.
   */
  close(opts: ShutdownOptions = {}): Promise<CloseSummary> {
    this.#closed ??= this.#close(opts);
    return this.#closed;
  }

  async #close(opts: ShutdownOptions): Promise<CloseSummary> {
    this.#closing = true;
    for (const s of this.#servers) s.close();
    for (const s of this.#routing) s.destroy();
    this.#routing.clear();
    const running = this.#store.running().targets;
    const targets = running.length;
    const luns = Math.max(1, ...running.map((t) => t.luns.length));
    // What one worker's shutdown may take at most: the grace, the aborts, a flush per LUN and a close per target.
    const bound = (opts.graceMs ?? 5000) + (opts.abortWaitMs ?? 2000) + (opts.backendWaitMs ?? 5000) * (luns + 1) * targets + 2000;
    const summaries = await Promise.all([
      this.#local?.close(opts) ?? Promise.resolve<CloseSummary>({ clean: true, loggedOut: 0, forced: 0, problems: [] }),
      ...this.#slots.map((s) => s.stop(opts, bound)),
    ]);
    const summary: CloseSummary = {
      clean: summaries.every((s) => s.clean),
      loggedOut: summaries.reduce((n, s) => n + s.loggedOut, 0),
      forced: summaries.reduce((n, s) => n + s.forced, 0),
      problems: summaries.flatMap((s) => s.problems),
    };
    this.#log.info({ loggedOut: summary.loggedOut, forced: summary.forced, clean: summary.clean, workers: this.#n }, 'target stopped');
    return summary;
  }

  /** Kills every worker at once (a second signal). */
  kill(): void {
    this.#closing = true;
    for (const s of this.#slots) s.kill();
  }
}

/** The main process's own server as the admin router reaches it. */
function localPeer(server: TargetServer, config: RunningConfig, log: Logger): AdminPeer {
  const ctx = { server, config, exports: new ExportPolicy(config.running().allowedPaths), stats: () => server.stats(), log };
  return {
    verb: (req) => executeVerb(ctx, req),
    know: async (t) => void knowTarget(server, t, log),
    forget: async (iqn) => void (await forgetTarget(server, iqn)),
  };
}

/** A worker as the admin router reaches it: calls over its IPC channel. */
function workerPeer(slot: WorkerSlot): AdminPeer {
  return {
    verb: (req) => slot.call('verb', req),
    know: async (t) => void (await slot.call('know-target', t)),
    forget: async (iqn) => void (await slot.call('forget-target', iqn)),
  };
}
