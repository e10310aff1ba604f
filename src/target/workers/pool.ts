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
import { runAdmin, type AdminAnswer, type AdminRequest } from '../admin.js';
import { buildServer, parsePortal, DEFAULT_PORTAL, type ServerConfig } from '../config.js';
import { listenOn, type Portal } from '../portal.js';
import type { TargetServer } from '../server.js';
import type { CloseSummary, ShutdownOptions } from '../shutdown.js';
import type { LunEventMode } from '../target-node.js';
import { routeAdmin, type AdminExecutor } from './admin-routing.js';
import { detachForHandoff, readFirstPdu, restoreFirstBytes } from './handoff.js';
import { sessionIdsOf, slotOfSession } from './messages.js';
import { WorkerSlot } from './worker-slot.js';

/** How a target with workers is built beyond its configuration. */
export interface WorkerTargetOptions {
  lunEvents?: LunEventMode;
  /** Called once when a worker keeps dying (worker-slot.ts): the caller shuts down and exits non-zero. */
  onFatal?: (reason: string) => void;
}

const DEFAULT_LOGIN_TIMEOUT_MS = 15_000;
const DEFAULT_MAX_CONNECTIONS = 1024;

/** The main process of a target with workers: listeners, routing by first Login Request, workers, admin. */
export class WorkerTarget {
  /** The addresses listened on, once started. */
  readonly bound: Portal[] = [];
  readonly #cfg: ServerConfig;
  readonly #n: number;
  readonly #log: Logger;
  readonly #opts: WorkerTargetOptions;
  readonly #slots: WorkerSlot[] = [];
  readonly #ownerOf = new Map<string, WorkerSlot>();
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
    this.#n = Math.min(workers, cfg.targets.length);
    this.#log = log;
    this.#opts = opts;
  }

  /** Every target's name, in configuration order. */
  targetNames(): string[] {
    return this.#cfg.targets.map((t) => t.iqn);
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
        { sessionIds: sessionIdsOf(0, this.#n, 0), ...(this.#opts.lunEvents !== undefined && { lunEvents: this.#opts.lunEvents }) },
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
      const serve: number[][] = Array.from({ length: this.#n }, () => []);
      this.#cfg.targets.forEach((_, i) => serve[i % this.#n]!.push(i));
      const waitMs = this.#cfg.loginTimeoutMs ?? DEFAULT_LOGIN_TIMEOUT_MS;
      for (let w = 0; w < this.#n; w++) {
        const slot = new WorkerSlot(
          {
            slot: w + 1,
            slots: this.#n,
            config: this.#cfg,
            serve: serve[w]!,
            logLevel: this.#log.level,
            portals: this.bound,
            ...(this.#opts.lunEvents !== undefined && { lunEvents: this.#opts.lunEvents }),
          },
          this.#log,
          { fatal: (reason) => this.#fatal(reason) },
          waitMs,
        );
        this.#slots.push(slot);
        for (const i of serve[w]!) this.#ownerOf.set(this.#cfg.targets[i]!.iqn, slot);
      }
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

  /** Runs one admin request where its answer lives (admin-routing.ts). */
  admin(req: AdminRequest): Promise<AdminAnswer> {
    const local: AdminExecutor = (r) => runAdmin(this.#local!, r);
    const remote =
      (s: WorkerSlot): AdminExecutor =>
      (r) =>
        s.call('admin', r);
    return routeAdmin(
      {
        targets: this.targetNames(),
        ownerOf: (t) => remote(this.#ownerOf.get(t)!),
        sessionOwner: (id) => {
          const slot = slotOfSession(id, this.#n);
          return slot === 0 ? local : remote(this.#slots[slot - 1]!);
        },
        everyone: () => [local, ...this.#slots.map(remote)],
      },
      req,
    );
  }

  /**
   * Asks every process (the main process's server first, then each worker by slot) the same admin
   * request and returns each answer: for what sums over workers (counters) or spans them.
   */
  adminEverywhere(req: AdminRequest): Promise<AdminAnswer[]> {
    return Promise.all([
      runAdmin(this.#local!, req),
      ...this.#slots.map((s) => s.call('admin', req).catch((e: unknown): AdminAnswer => ({ ok: false, error: (e as Error).message }))),
    ]);
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
    const targets = this.#cfg.targets.length;
    const luns = Math.max(...this.#cfg.targets.map((t) => t.luns.length));
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
