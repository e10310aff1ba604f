// The target server: listens on portals, owns the targets, authorizes logins and reports what happens.
// Its rooms: the session registry (session-registry.ts: TSIH, reinstatement, RFC 7143 §6.3), SendTargets
// (discovery.ts) and the orderly shutdown (shutdown.ts).

import type { Server, Socket } from 'node:net';
import { pino, type Logger } from 'pino';
import { CheckedEventEmitter } from '../util/checked-emitter.js';
import { EventChannel, type EventIterator } from '../util/event-channel.js';
import { AsyncEvent, LoginStatus } from '../pdu/constants.js';
import { realClock, type Clock } from '../util/clock.js';
import type { ChapSecret } from '../login/chap.js';
import type { NegotiationPolicy } from '../login/policy.js';
import type { TargetAuthConfig } from '../login/target-negotiator.js';
import { TargetConnection, type ConnectionHost, type Establishment } from './connection.js';
import { portalAddresses, sendTargetsAnswer } from './discovery.js';
import { TARGET_EVENT_TYPES, type SessionInfo, type TargetEvent } from './events.js';
import type { FullFeatureConnection } from './ffp/index.js';
import { LoginRefusal, type LoginContext, type LoginDone, type LoginRegistry } from './login.js';
import { listenOn, type Portal } from './portal.js';
import { SessionRegistry } from './session-registry.js';
import { askLogout, shutdown, type CloseSummary, type ShutdownOptions } from './shutdown.js';
import type { TargetNode, ChapAccount, LunEventMode } from './target-node.js';
import type { SendTargetsEntry, TextConnection } from './text.js';
import { loginFailedChannel, sessionDownChannel, sessionUpChannel, type LoginFailedMessage } from './stats/channels.js';
import { loginFailureLabel } from './stats/names.js';
import { targetSnapshot, type StatsSnapshot } from './stats/snapshot.js';
import { TaskManager } from './tmf.js';

/** How a server is built: its portals, limits, timers, negotiation policy and discovery CHAP. */
export interface TargetServerOptions {
  portals: Portal[];
  /** Target portal group tag of every portal (RFC 7143 §13.9). Default 1. */
  tpgt?: number;
  log?: Logger;
  /** Commands a session may have queued (MaxCmdSN is advertised from it). Default 128. */
  queueDepth?: number;
  /** NOP-In ping after this much initiator silence (ms); 0 disables. Default 30 s. */
  nopInterval?: number;
  /** Connection dropped when a ping goes unanswered this long (ms). Default 15 s. */
  nopTimeout?: number;
  /** A login must complete within this (ms). Default 15 s. */
  loginTimeout?: number;
  /** Connections accepted at once; more are closed at accept. Default 1024. */
  maxConnections?: number;
  /** Negotiation limits of the target (MaxBurstLength, digests, ...). */
  policy?: Partial<NegotiationPolicy>;
  /** CHAP for discovery sessions; none by default. */
  discoveryChap?: { accounts: ChapAccount[]; mutual?: ChapAccount };
  /** How LUN inventory and capacity changes reach initiators, for every target (see {@link LunEventMode}). */
  lunEvents?: LunEventMode;
  /**
   * Keep per-LUN and per-session command counters (latency included) for {@link TargetServer.stats}, the
   * metrics endpoint and `admin top`. Off by default: the command path then pays one field read.
   */
  counting?: boolean;
  clock?: Clock;
  /**
   * Runs once the server has stopped serving (connections ended, backends flushed and closed): a
   * cluster gateway leaves the cluster here, so its LUNs move to another gateway only after its last
   * write was answered.
   */
  onStopped?: () => Promise<void>;
  /**
   * Session ids `first`, `first + step`, ... (for the admin socket): the processes of a target with
   * workers (workers/) number their sessions apart. Default: one counter for the whole process.
   */
  sessionIds?: { first: number; step: number };
}

/** The server's settings once defaults are applied. */
export interface ResolvedServerOptions {
  tpgt: number;
  queueDepth: number;
  nopInterval: number;
  nopTimeout: number;
  loginTimeout: number;
  maxConnections: number;
}

/**
 * The target server. Events (session up/down, LUNs added, removed and resized, task management,
 * backend failures) come as EventEmitter events named by `type` (and `'event'` for all) and through
 * {@link events}, an async iterator that never says an event is pending without delivering it.
 */
export class TargetServer extends CheckedEventEmitter<TargetEvent> implements ConnectionHost {
  readonly log: Logger;
  readonly clock: Clock;
  readonly options: ResolvedServerOptions;
  readonly #portals: Portal[];
  readonly #policy: Partial<NegotiationPolicy>;
  readonly #discoveryChap: TargetServerOptions['discoveryChap'];
  readonly #targets = new Map<string, TargetNode>();
  /** Targets being removed: already out of discovery and closed to logins. */
  readonly #removing = new Set<string>();
  readonly #servers: Server[] = [];
  readonly #connections = new Set<TargetConnection>();
  readonly #registry: SessionRegistry;
  #closing = false;
  #closed: Promise<CloseSummary> | null = null;
  #lunEvents: LunEventMode | undefined;
  readonly #onStopped: (() => Promise<void>) | undefined;
  /**
   * Bounded (a reader 1024 events behind loses the oldest, counted), and never says an event is pending
   * without delivering it: a slow or absent listener cannot grow memory or stall the server.
   */
  readonly #events: EventChannel<TargetEvent>;
  /** Discovery sessions have no logical units: their task manager sees nothing. */
  readonly discoveryTmf: TaskManager;
  /** Addresses actually bound, once listening. */
  bound: Portal[] = [];
  /** Whether the engine keeps command counters (see {@link TargetServerOptions.counting}). */
  readonly counting: boolean;
  /** Logins refused or dropped, by reason label (never a name the peer sent). */
  readonly #loginFailures = new Map<string, number>();

  constructor(opts: TargetServerOptions) {
    super(TARGET_EVENT_TYPES);
    this.log = opts.log ?? pino({ level: 'silent' });
    this.#lunEvents = opts.lunEvents;
    this.#onStopped = opts.onStopped;
    this.#events = new EventChannel<TargetEvent>((e) => {
      // Listeners run after the current section of work: one that throws cannot tear the server's state.
      queueMicrotask(() => {
        this.emit(e.type, e);
        this.emit('event', e);
      });
    });
    this.clock = opts.clock ?? realClock;
    this.counting = opts.counting ?? false;
    this.#portals = opts.portals;
    this.#policy = opts.policy ?? {};
    this.#discoveryChap = opts.discoveryChap;
    this.options = {
      tpgt: opts.tpgt ?? 1,
      queueDepth: opts.queueDepth ?? 128,
      nopInterval: opts.nopInterval ?? 30_000,
      nopTimeout: opts.nopTimeout ?? 15_000,
      loginTimeout: opts.loginTimeout ?? 15_000,
      maxConnections: opts.maxConnections ?? 1024,
    };
    this.discoveryTmf = new TaskManager({
      connections: () => [],
      hasLun: () => false,
      notify: () => {},
      pendingUnitAttentions: () => [],
      dropAll: () => {},
      log: this.log,
    });
    const ids = opts.sessionIds;
    let nextId = ids?.first ?? 0;
    this.#registry = new SessionRegistry({
      tpgt: this.options.tpgt,
      queueDepth: this.options.queueDepth,
      target: (name) => this.#targets.get(name),
      closing: () => this.#closing,
      emit: (e) => this.#sessionEvent(e),
      log: this.log,
      ...(ids !== undefined && {
        nextSessionId: () => {
          const id = nextId;
          nextId += ids.step;
          return id;
        },
      }),
    });
  }

  /** A session came up or went down: counted, published on its channel, and reported. */
  #sessionEvent(e: TargetEvent): void {
    if (e.type === 'session-up') {
      if (e.session.targetName !== undefined) {
        const node = this.#targets.get(e.session.targetName);
        if (node !== undefined) node.counters.logins++;
      }
      if (sessionUpChannel.hasSubscribers) sessionUpChannel.publish({ session: e.session });
    } else if (e.type === 'session-down' && sessionDownChannel.hasSubscribers) {
      sessionDownChannel.publish({ session: e.session, reason: e.reason, logout: e.logout });
    }
    this.#events.emit(e);
  }

  /** A login ended without a session (see {@link ConnectionHost.loginFailed}). */
  loginFailed(conn: TargetConnection, status: number | undefined, reason: string): void {
    const label = loginFailureLabel(status, reason === 'login timed out');
    this.#loginFailures.set(label, (this.#loginFailures.get(label) ?? 0) + 1);
    if (loginFailedChannel.hasSubscribers) {
      const m: LoginFailedMessage = { reason: label, status, peer: `${conn.socket.remoteAddress}:${conn.socket.remotePort}` };
      loginFailedChannel.publish(m);
    }
  }

  /**
   * A snapshot of every target's counters and state (JSON-safe): what the admin socket's `stats`
   * answers and the metrics endpoint publishes. Command counters move only with `counting` on.
   */
  stats(): StatsSnapshot {
    const peers = new Map<number, string>();
    for (const s of this.#registry.sessions()) peers.set(s.id, s.peer);
    return {
      at: Date.now(),
      counting: this.counting,
      connections: this.#connections.size,
      loginFailures: Object.fromEntries(this.#loginFailures),
      targets: [...this.#targets.values()].map((t) => targetSnapshot(t, (id) => peers.get(id) ?? '')),
    };
  }

  /** Adds a target: the server routes its events and can drop its connections (TARGET COLD RESET). */
  addTarget(node: TargetNode): void {
    if (this.#targets.has(node.name)) throw new RangeError(`target ${node.name} is defined twice`);
    this.#targets.set(node.name, node);
    if (this.#lunEvents !== undefined) node.lunEvents = this.#lunEvents;
    node.emit = (e) => this.#events.emit(e);
    node.dropAll = (reason) => {
      // Linger, so the TMF response queued just before reaches the initiator.
      for (const [s, c] of this.#registry.live()) if (s.targetName === node.name) void c.close(reason, { linger: true });
    };
  }

  /**
   * Removes a target: it leaves discovery and refuses logins at once; its initiators are asked to log
   * out (RFC 7143 §11.9.1) and given `graceMs` to do so, their connections then closed; its LUNs are
   * removed (what is in flight answered, backends closed). Resolves false when there is no such target.
   */
  async removeTarget(name: string, opts: { graceMs?: number } = {}): Promise<boolean> {
    const node = this.#targets.get(name);
    if (node === undefined || this.#removing.has(name)) return false;
    // Out of discovery and closed to logins now; kept in the map until its sessions are gone, so that
    // their ends reach the node (I_T nexus loss, reservations released).
    this.#removing.add(name);
    try {
      const conns = [...this.#registry.live()].filter(([s]) => s.targetName === name).map(([, c]) => c);
      await askLogout(conns, opts.graceMs ?? 2000);
      await Promise.all(conns.map((c) => c.close('target removed by the administrator')));
      for (const lun of node.device.luns()) await node.removeLun(lun);
    } finally {
      this.#targets.delete(name);
      this.#removing.delete(name);
    }
    this.log.info({ target: name }, 'target removed');
    return true;
  }

  /** How LUN inventory and capacity changes reach initiators (every target); see {@link LunEventMode}. */
  get lunEvents(): LunEventMode | undefined {
    return this.#lunEvents;
  }

  set lunEvents(mode: LunEventMode) {
    for (const t of this.#targets.values()) t.lunEvents = mode;
    this.#lunEvents = mode;
  }

  /**
   * Server events from now on, until the server has stopped. Never blocks while one is queued; a reader
   * that falls 1024 events behind loses the oldest (counted in `dropped`).
   */
  events(): EventIterator<TargetEvent> {
    return this.#events.subscribe();
  }

  /** The target named `name`, if this server has it. */
  target(name: string): TargetNode | undefined {
    return this.#targets.get(name);
  }

  /** Every target of this server (those being removed left out). */
  targets(): TargetNode[] {
    return [...this.#targets.values()].filter((t) => !this.#removing.has(t.name));
  }

  /** Starts listening on every portal; resolves with the addresses bound (port 0 picks one). */
  async listen(): Promise<Portal[]> {
    for (const p of this.#portals) {
      const { server, bound } = await listenOn(p, (s) => this.#accept(s));
      server.on('error', (err) => this.log.error({ err }, 'listener error'));
      this.bound.push(bound);
      this.#servers.push(server);
      this.log.info({ host: bound.host, port: bound.port }, 'listening');
    }
    return this.bound;
  }

  /**
   * Serves a connection accepted elsewhere: one the main process of a target with workers passed on
   * (workers/), or a test's. A socket paused on accept is resumed.
   */
  adopt(socket: Socket): void {
    this.#accept(socket);
  }

  #accept(socket: Socket): void {
    if (this.#closing || this.#connections.size >= this.options.maxConnections) {
      this.log.warn({ peer: socket.remoteAddress, connections: this.#connections.size }, 'connection refused: limit reached');
      socket.destroy();
      return;
    }
    const c = new TargetConnection(socket, this);
    this.#connections.add(c);
    // A socket accepted with pauseOnConnect (workers/) stays paused until told: its reads start now.
    if (socket.isPaused()) socket.resume();
    void c.closed.then(() => this.#connections.delete(c));
  }

  /** What the login of one connection may ask about targets and authentication. */
  loginRegistry(_conn: TargetConnection): LoginRegistry {
    return {
      tpgt: this.options.tpgt,
      authorize: (ctx) => this.#authorize(ctx),
    };
  }

  #authorize(ctx: LoginContext): { auth: TargetAuthConfig; policy: Partial<NegotiationPolicy>; targetAlias?: string } {
    if (this.#closing) throw new LoginRefusal(LoginStatus.ServiceUnavailable, 'the target is shutting down');
    if (ctx.sessionType === 'Discovery') {
      const d = this.#discoveryChap;
      return { auth: d === undefined ? { methods: ['None'] } : { methods: ['CHAP'], chap: chapOptions(d.accounts, d.mutual, false) }, policy: this.#policy };
    }
    const node = this.#removing.has(ctx.targetName!) ? undefined : this.#targets.get(ctx.targetName!);
    if (node === undefined) throw new LoginRefusal(LoginStatus.NotFound, `no target named ${ctx.targetName}`);
    if (node.discoveryOnly) {
      // Its sessions live in the worker process that owns it, reached by connections whose first Login
      // Request PDU names it (RFC 7143 §6.3 wants TargetName in the first Login Request); this one
      // named it only in a continuation PDU (C bit), after the connection had been routed here.
      throw new LoginRefusal(LoginStatus.MissingParameter, `TargetName ${node.name} must be in the first Login Request PDU`, 'RFC 7143 §6.3');
    }
    if (!node.allows(ctx.initiatorName!)) {
      throw new LoginRefusal(LoginStatus.AuthorizationFailure, `${ctx.initiatorName} is not allowed on ${node.name}`);
    }
    const auth: TargetAuthConfig =
      node.chap.length > 0 ? { methods: ['CHAP'], chap: chapOptions(node.chap, node.mutualChap, node.allowShortSecrets) } : { methods: ['None'] };
    return { auth, policy: this.#policy, ...(node.alias !== undefined && { targetAlias: node.alias }) };
  }

  /** Creates, joins or reinstates the session for a completed login (see {@link SessionRegistry.establish}). */
  establish(conn: TargetConnection, done: LoginDone): Promise<Establishment> {
    return this.#registry.establish(conn, done);
  }

  /** The connection entered full feature phase. */
  attach(conn: TargetConnection, ffp: FullFeatureConnection): void {
    this.#registry.attach(conn, ffp);
  }

  /** The connection closed: at ErrorRecoveryLevel 0 its session ends with it (unless reinstated). */
  detach(conn: TargetConnection, opts: { logout: boolean }): void {
    this.#registry.detach(conn, opts);
  }

  /** SendTargets answer (RFC 7143 Appendix C), filtered by the initiator's ACL. */
  sendTargets(conn: TargetConnection, text: TextConnection, value: string): SendTargetsEntry[] {
    const targets = this.#removing.size === 0 ? this.#targets : new Map([...this.#targets].filter(([n]) => !this.#removing.has(n)));
    return sendTargetsAnswer(targets, text.session, value, portalAddresses(this.bound, conn.socket.localAddress, this.options.tpgt));
  }

  /** Sessions for the admin socket. */
  sessions(): SessionInfo[] {
    return this.#registry.sessions();
  }

  /**
   * Drops one session by its id (admin), in three steps, so that no command already accepted goes
   * unanswered while the initiator is willing to log out: 1) ask the initiator to log out (Async
   * Message, RFC 7143 §11.9.1) and let what is in flight finish and be answered (a logout completes
   * only after its running tasks, §11.14), for up to `graceMs`; 2) close the connection, aborting
   * whatever is left, and end the I_T nexus in the SCSI layer (reservations released), once; 3) free it.
   * Resolves false when there is no such session, else whether the initiator logged out in time.
   */
  async dropSession(id: number, opts: { graceMs?: number } = {}): Promise<{ found: boolean; loggedOut: boolean }> {
    for (const [s, c] of this.#registry.live()) {
      if (s.id === id) {
        const loggedOut = await askLogout([c], opts.graceMs ?? 2000);
        await c.close('dropped by the administrator');
        return { found: true, loggedOut: loggedOut === 1 };
      }
    }
    return { found: false, loggedOut: false };
  }

  /** Connections open now, logged in or not. */
  get connectionCount(): number {
    return this.#connections.size;
  }

  /**
   * Shuts down (see {@link shutdown}): stop accepting connections and logins, ask every initiator to log
   * out and wait up to `graceMs`, close what is left (waiting up to `abortWaitMs` for aborted commands),
   * flush and close every backend (up to `backendWaitMs` each). Idempotent: every call returns the same
   * promise. The summary says whether all went cleanly.
   */
  close(opts: ShutdownOptions = {}): Promise<CloseSummary> {
    this.#closed ??= this.#close(opts);
    return this.#closed;
  }

  async #close(opts: ShutdownOptions): Promise<CloseSummary> {
    this.#closing = true;
    this.#events.emit({ type: 'stopping' });
    const summary = await shutdown(
      {
        listeners: this.#servers,
        sessionConnections: () => this.#registry.connections(),
        connections: () => [...this.#connections],
        targets: () => this.#targets.values(),
        log: this.log,
      },
      opts,
    );
    if (this.#onStopped !== undefined) {
      try {
        await this.#onStopped();
      } catch (e) {
        summary.problems.push(`after stopping: ${(e as Error).message}`);
        summary.clean = false;
      }
    }
    this.#events.emit({ type: 'stopped', clean: summary.clean });
    this.#events.close();
    return summary;
  }

  /**
   * Changes a LUN's capacity; initiators hear CAPACITY DATA HAS CHANGED (2Ah/09h) as a unit attention
   * and as a SCSI Asynchronous Event (RFC 7143 §11.9.1, AsyncEvent 0), as the target's `lunEvents` says.
   */
  async resizeLun(targetName: string, lun: number, blocks: number): Promise<void> {
    const node = this.#targets.get(targetName);
    if (node === undefined) throw new RangeError(`no LUN ${lun} on ${targetName}`);
    await node.resizeLun(lun, blocks);
  }

  /** An event to every session of a target (capacity change, for instance). */
  broadcastAsync(targetName: string, event: number = AsyncEvent.ScsiAsyncEvent, sense?: Buffer): void {
    const node = this.#targets.get(targetName);
    if (node === undefined) return;
    for (const ffp of node.connections.values()) ffp.sendAsync(event, sense === undefined ? {} : { sense });
  }
}

function chapOptions(accounts: readonly ChapAccount[], mutual: ChapAccount | undefined, allowShort: boolean) {
  const secrets = new Map<string, ChapSecret>(accounts.map((a) => [a.user, a.secret]));
  return {
    lookup: (name: string) => secrets.get(name),
    ...(mutual !== undefined && { mutual: { name: mutual.user, secret: mutual.secret } }),
    allowShortSecrets: allowShort,
  };
}
