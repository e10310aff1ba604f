// The target server: listens on portals, owns the targets, and keeps the session registry (TSIH
// assignment, session reinstatement by InitiatorName + ISID, RFC 7143 §6.3.5), discovery answers and
// orderly shutdown.

import { createServer, type Server, type Socket } from 'node:net';
import { pino, type Logger } from 'pino';
// The bounded, never-pending-without-delivering event channel (seed 004) both ends use.
import { CheckedEventEmitter } from '../util/checked-emitter.js';
import { EventChannel, type EventIterator } from '../util/event-channel.js';
import { AsyncEvent, LoginStatus, Opcode } from '../pdu/constants.js';
import type { LoginResponsePdu } from '../pdu/types.js';
import { realClock, type Clock } from '../util/clock.js';
import type { ChapSecret } from '../login/chap.js';
import type { NegotiationPolicy } from '../login/policy.js';
import type { TargetAuthConfig } from '../login/target-negotiator.js';
import { TargetConnection } from './connection.js';
import type { FullFeatureConnection } from './ffp.js';
import { LoginRefusal, type LoginContext, type LoginDone, type LoginRegistry } from './login.js';
import { TargetSession } from './session.js';
import type { TargetNode, ChapAccount, LunEventMode, TargetNodeEvent } from './target-node.js';
import type { SendTargetsEntry } from './text.js';
import { TaskManager } from './tmf.js';

export interface Portal {
  host: string;
  port: number;
}

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
  clock?: Clock;
}

/** What the server reports: session up/down, LUN changes, task management, backend failures. */
export type TargetEvent =
  | TargetNodeEvent
  | { type: 'session-up'; session: SessionInfo }
  | { type: 'session-down'; session: SessionInfo; reason: string; logout: boolean }
  | { type: 'stopping' }
  | { type: 'stopped'; clean: boolean };

/** The names of {@link TargetEvent} types. */
export type TargetEventType = TargetEvent['type'];

const TARGET_EVENT_TYPES: ReadonlySet<string> = new Set<TargetEventType>([
  'lun-added',
  'lun-removing',
  'lun-removed',
  'lun-resized',
  'task-management',
  'backend-error',
  'session-up',
  'session-down',
  'stopping',
  'stopped',
]);

/** What {@link TargetServer.close} found: whether everything ended within its bounds. */
export interface CloseSummary {
  /** Every connection and backend closed within the time allowed, every flush succeeded. */
  clean: boolean;
  /** Sessions that logged out when asked, and those closed by force after the grace period. */
  loggedOut: number;
  forced: number;
  /** Problems met (a flush that failed, a backend that did not close in time). */
  problems: string[];
}

export interface ResolvedServerOptions {
  tpgt: number;
  queueDepth: number;
  nopInterval: number;
  nopTimeout: number;
  loginTimeout: number;
  maxConnections: number;
}

/** A summary of one session, for logs and the admin socket. */
export interface SessionInfo {
  id: number;
  tsih: number;
  type: 'Normal' | 'Discovery';
  initiatorName: string;
  isid: string;
  targetName: string | undefined;
  peer: string;
  commands: number;
  readBytes: number;
  writeBytes: number;
  outstanding: number;
  createdAt: string;
}

/**
 * The target server. Events (session up/down, LUNs added, removed and resized, task management,
 * backend failures) come as EventEmitter events named by `type` (and `'event'` for all) and through
 * {@link events}, an async iterator that never says an event is pending without delivering it.
 */
export class TargetServer extends CheckedEventEmitter<TargetEvent> {
  readonly log: Logger;
  readonly clock: Clock;
  readonly options: ResolvedServerOptions;
  readonly #portals: Portal[];
  readonly #policy: Partial<NegotiationPolicy>;
  readonly #discoveryChap: TargetServerOptions['discoveryChap'];
  readonly #targets = new Map<string, TargetNode>();
  readonly #servers: Server[] = [];
  readonly #connections = new Set<TargetConnection>();
  readonly #byKey = new Map<string, TargetSession>();
  readonly #byTsih = new Map<number, TargetSession>();
  readonly #connOf = new Map<TargetSession, TargetConnection>();
  readonly #reinstating = new Set<TargetSession>();
  #nextTsih = 1;
  #closing = false;
  #closed: Promise<CloseSummary> | null = null;
  #lunEvents: LunEventMode | undefined;
  readonly #events: EventChannel<TargetEvent>;
  /** Session summaries kept from attach to detach, so a session-down event can say what went down. */
  readonly #infoOf = new Map<TargetSession, SessionInfo>();
  /** Discovery sessions have no logical units: their task manager sees nothing. */
  readonly discoveryTmf: TaskManager;
  /** Addresses actually bound, once listening. */
  bound: Portal[] = [];

  constructor(opts: TargetServerOptions) {
    super(TARGET_EVENT_TYPES);
    this.log = opts.log ?? pino({ level: 'silent' });
    this.#lunEvents = opts.lunEvents;
    this.#events = new EventChannel<TargetEvent>((e) => {
      // Listeners run after the current section of work: one that throws cannot tear the server's state.
      queueMicrotask(() => {
        this.emit(e.type, e);
        this.emit('event', e);
      });
    });
    this.clock = opts.clock ?? realClock;
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
  }

  addTarget(node: TargetNode): void {
    if (this.#targets.has(node.name)) throw new RangeError(`target ${node.name} is defined twice`);
    this.#targets.set(node.name, node);
    if (this.#lunEvents !== undefined) node.lunEvents = this.#lunEvents;
    node.emit = (e) => this.#events.emit(e);
    node.dropAll = (reason) => {
      // Linger, so the TMF response queued just before reaches the initiator.
      for (const [s, c] of this.#connOf) if (s.targetName === node.name) void c.close(reason, { linger: true });
    };
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


  target(name: string): TargetNode | undefined {
    return this.#targets.get(name);
  }

  targets(): TargetNode[] {
    return [...this.#targets.values()];
  }

  /** Starts listening on every portal; resolves with the addresses bound (port 0 picks one). */
  async listen(): Promise<Portal[]> {
    for (const p of this.#portals) {
      const server = createServer({ noDelay: true }, (s) => this.#accept(s));
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(p.port, p.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      server.on('error', (err) => this.log.error({ err }, 'listener error'));
      const a = server.address() as { address: string; port: number };
      this.bound.push({ host: a.address, port: a.port });
      this.#servers.push(server);
      this.log.info({ host: a.address, port: a.port }, 'listening');
    }
    return this.bound;
  }

  /**
   * Serves a connection accepted elsewhere: a worker thread's relayed socket (workers.ts), or a test's.
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
    const node = this.#targets.get(ctx.targetName!);
    if (node === undefined) throw new LoginRefusal(LoginStatus.NotFound, `no target named ${ctx.targetName}`);
    if (!node.allows(ctx.initiatorName!)) {
      throw new LoginRefusal(LoginStatus.AuthorizationFailure, `${ctx.initiatorName} is not allowed on ${node.name}`);
    }
    const auth: TargetAuthConfig =
      node.chap.length > 0 ? { methods: ['CHAP'], chap: chapOptions(node.chap, node.mutualChap, node.allowShortSecrets) } : { methods: ['None'] };
    return { auth, policy: this.#policy, ...(node.alias !== undefined && { targetAlias: node.alias }) };
  }

  /**
   * Creates or joins the session for a completed login: new TSIH, session reinstatement (same
   * InitiatorName + ISID + target, TSIH 0: the old session ends first, RFC 7143 §6.3.5), or the
   * reinstatement of a connection of a live session (same TSIH and CID).
   */
  async establish(conn: TargetConnection, done: LoginDone): Promise<{ session: TargetSession } | { refuse: LoginResponsePdu; reason: string }> {
    const ctx = done.ctx;
    this.log.debug({ conn: conn.id, initiator: ctx.initiatorName, isid: ctx.isid, tsih: ctx.tsih }, 'establishing session');
    const refuse = (status: number, reason: string) => ({ refuse: loginReject(done, status), reason });
    const key = `${ctx.initiatorName}|${ctx.isid}|${ctx.targetName ?? ''}|${ctx.sessionType}`;
    if (ctx.tsih !== 0) {
      const s = this.#byTsih.get(ctx.tsih);
      if (s === undefined || this.#keyOf(s) !== key) return refuse(LoginStatus.SessionDoesNotExist, `no session with TSIH ${ctx.tsih}`);
      const old = this.#connOf.get(s);
      if (old !== undefined && old.ffp?.cid !== ctx.cid) {
        return refuse(LoginStatus.TooManyConnections, 'MaxConnections is 1');
      }
      if (old !== undefined) {
        // Connection reinstatement (RFC 7143 §6.3.4): the old connection and its tasks go; the session stays.
        this.#reinstating.add(s);
        await old.close('connection reinstated');
        this.#reinstating.delete(s);
      }
      s.params = done.params.session;
      return { session: s };
    }
    const existing = this.#byKey.get(key);
    if (existing !== undefined) {
      this.log.info({ initiator: ctx.initiatorName, isid: ctx.isid, tsih: existing.tsih }, 'session reinstatement');
      const old = this.#connOf.get(existing);
      if (old !== undefined) await old.close('session reinstated');
      else this.#forget(existing, false);
    }
    if (this.#closing) return refuse(LoginStatus.ServiceUnavailable, 'the target is shutting down');
    const tsih = this.#allocTsih();
    if (tsih === undefined) return refuse(LoginStatus.OutOfResources, 'no TSIH left');
    const session = new TargetSession({
      tsih,
      isid: ctx.isid,
      initiatorName: ctx.initiatorName!,
      targetName: ctx.sessionType === 'Discovery' ? undefined : ctx.targetName,
      tpgt: this.options.tpgt,
      type: ctx.sessionType,
      params: done.params.session,
      queueDepth: this.options.queueDepth,
      expCmdSN: done.cmdSN,
    });
    this.#byKey.set(key, session);
    this.#byTsih.set(tsih, session);
    const node = session.targetName === undefined ? undefined : this.#targets.get(session.targetName);
    if (node !== undefined) {
      node.sessions.add(session);
      node.device.attachNexus(session.nexus!);
    }
    return { session };
  }

  #keyOf(s: TargetSession): string {
    return `${s.initiatorName}|${s.isid}|${s.targetName ?? ''}|${s.type}`;
  }

  #allocTsih(): number | undefined {
    for (let i = 0; i < 0xffff; i++) {
      const t = this.#nextTsih;
      this.#nextTsih = this.#nextTsih >= 0xffff ? 1 : this.#nextTsih + 1;
      if (!this.#byTsih.has(t)) return t;
    }
    return undefined;
  }

  /** The connection entered full feature phase. */
  attach(conn: TargetConnection, ffp: FullFeatureConnection): void {
    const s = ffp.session;
    this.#connOf.set(s, conn);
    if (s.targetName !== undefined) this.#targets.get(s.targetName)?.connections.set(s, ffp);
    if (!this.#infoOf.has(s)) {
      const info = this.#info(s, conn);
      this.#infoOf.set(s, info);
      this.#events.emit({ type: 'session-up', session: info });
    }
  }

  /** The connection closed: at ErrorRecoveryLevel 0 its session ends with it (unless reinstated). */
  detach(conn: TargetConnection, opts: { logout: boolean }): void {
    const s = conn.session;
    if (s === undefined || this.#connOf.get(s) !== conn) {
      // A login that never completed, or a connection already replaced.
      if (s !== undefined && this.#connOf.get(s) === undefined && !this.#reinstating.has(s)) this.#forget(s, opts.logout, conn.closeReason);
      return;
    }
    this.#connOf.delete(s);
    if (s.targetName !== undefined) this.#targets.get(s.targetName)?.connections.delete(s);
    if (!this.#reinstating.has(s)) this.#forget(s, opts.logout, conn.closeReason);
  }

  #forget(s: TargetSession, logout: boolean, reason = 'session reinstated'): void {
    if (s.closed) return;
    s.closed = true;
    const info = this.#infoOf.get(s);
    if (info !== undefined) {
      this.#infoOf.delete(s);
      this.#events.emit({ type: 'session-down', session: info, reason, logout });
    }
    if (this.#byKey.get(this.#keyOf(s)) === s) this.#byKey.delete(this.#keyOf(s));
    if (this.#byTsih.get(s.tsih) === s) this.#byTsih.delete(s.tsih);
    const node = s.targetName === undefined ? undefined : this.#targets.get(s.targetName);
    if (node !== undefined) {
      node.sessions.delete(s);
      // The I_T nexus is gone either way (SAM-5 §6.3.4); a logout is the orderly form of it.
      if (s.nexus !== undefined) node.device.nexusLost(s.nexus);
    }
    this.log.debug({ tsih: s.tsih, logout }, 'session removed');
  }

  /** SendTargets answer (RFC 7143 Appendix C), filtered by the initiator's ACL. */
  sendTargets(conn: TargetConnection, ffp: FullFeatureConnection, value: string): SendTargetsEntry[] {
    const s = ffp.session;
    let names: string[];
    if (value === 'All') {
      // Only a discovery session may ask for All (Appendix C.1); a normal session gets its own target.
      names = s.type === 'Discovery' ? [...this.#targets.keys()] : s.targetName !== undefined ? [s.targetName] : [];
    } else if (value === '') {
      names = s.targetName !== undefined ? [s.targetName] : [];
    } else {
      names = this.#targets.has(value) ? [value] : [];
    }
    const addresses = this.#addresses(conn);
    return names
      .map((n) => this.#targets.get(n)!)
      .filter((t) => t.allows(s.initiatorName))
      .map((t) => ({ name: t.name, addresses }));
  }

  #addresses(conn: TargetConnection): string[] {
    const local = conn.socket.localAddress ?? '127.0.0.1';
    const out: string[] = [];
    for (const p of this.bound) {
      const wildcard = p.host === '0.0.0.0' || p.host === '::';
      let host = wildcard ? local : p.host;
      if (host.startsWith('::ffff:')) host = host.slice(7);
      const h = host.includes(':') ? `[${host}]` : host;
      out.push(`${h}:${p.port},${this.options.tpgt}`);
    }
    return [...new Set(out)];
  }

  /** Sessions for the admin socket. */
  sessions(): SessionInfo[] {
    const out: SessionInfo[] = [];
    for (const [s, c] of this.#connOf) out.push(this.#info(s, c));
    return out;
  }

  #info(s: TargetSession, c: TargetConnection): SessionInfo {
    return {
      id: s.id,
      tsih: s.tsih,
      type: s.type,
      initiatorName: s.initiatorName,
      isid: s.isid,
      targetName: s.targetName,
      peer: `${c.socket.remoteAddress}:${c.socket.remotePort}`,
      commands: s.stats.commands,
      readBytes: s.stats.readBytes,
      writeBytes: s.stats.writeBytes,
      outstanding: s.tasks.size,
      createdAt: new Date(s.createdAt).toISOString(),
    };
  }

  /**
   * Drops one session by its id (admin), in the three steps of seed 003: 1) ask the initiator to log
   * out (Async Message, RFC 7143 §11.9.1) and let what is in flight finish and be answered (a logout
   * completes only after its running tasks), for up to `graceMs`; 2) close the connection, aborting
   * whatever is left, and end the I_T nexus in the SCSI layer (reservations released), once; 3) free it.
   * Resolves false when there is no such session, else whether the initiator logged out in time.
   */
  async dropSession(id: number, opts: { graceMs?: number } = {}): Promise<{ found: boolean; loggedOut: boolean }> {
    for (const [s, c] of this.#connOf) {
      if (s.id === id) {
        const loggedOut = await this.#askLogout([c], opts.graceMs ?? 2000);
        await c.close('dropped by the administrator');
        return { found: true, loggedOut: loggedOut === 1 };
      }
    }
    return { found: false, loggedOut: false };
  }

  /** Asks these connections' initiators to log out and waits up to `graceMs`; resolves how many did. */
  async #askLogout(conns: readonly TargetConnection[], graceMs: number): Promise<number> {
    const live = conns.filter((c) => c.state !== 'closed' && c.state !== 'closing');
    if (live.length === 0) return 0;
    for (const c of live) c.requestLogout(Math.max(1, Math.ceil(graceMs / 1000)));
    let loggedOut = 0;
    const all = Promise.all(live.map((c) => c.closed.then(() => void (c.closeReason === 'logged out' && loggedOut++))));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([all, new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
    return loggedOut;
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  /**
   * Shuts down, in the order of seed 000, each wait bounded:
   * 1. stop accepting connections and logins;
   * 2. ask every initiator to log out (Async Message, RFC 7143 §11.9.1) and wait up to `graceMs` for
   *    them: a logout completes once its running commands are answered;
   * 3. close what is left (its commands aborted; each connection waits up to `abortWaitMs` for them);
   * 4. flush every backend (what was acknowledged reaches stable storage), then close them, waiting up
   *    to `backendWaitMs` for those that hang.
   * Idempotent: every call returns the same promise. The summary says whether all went cleanly.
   */
  close(opts: { graceMs?: number; abortWaitMs?: number; backendWaitMs?: number } = {}): Promise<CloseSummary> {
    this.#closed ??= this.#close(opts);
    return this.#closed;
  }

  async #close(opts: { graceMs?: number; abortWaitMs?: number; backendWaitMs?: number }): Promise<CloseSummary> {
    this.#closing = true;
    this.#events.emit({ type: 'stopping' });
    const grace = opts.graceMs ?? 5000;
    const problems: string[] = [];
    // net.Server#close stops accepting at once but calls back only once every connection has ended:
    // waiting for it here would wait for the initiators to leave by themselves (iscsi-perf: the whole run).
    const listenersClosed = Promise.all(this.#servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    const loggedOut = await this.#askLogout([...this.#connOf.values()], grace);
    const left = [...this.#connections];
    const abortWaitMs = opts.abortWaitMs ?? 2000;
    await Promise.all(left.map((c) => c.close('target shutting down', { abortWaitMs })));
    const forced = left.filter((c) => c.session !== undefined && c.closeReason === 'target shutting down').length;
    await listenersClosed;
    const backendWait = opts.backendWaitMs ?? 5000;
    for (const t of this.#targets.values()) {
      // Everything acknowledged reaches stable storage before the backends close.
      for (const l of t.device.luns()) {
        const lu = t.device.get(l);
        if (lu === undefined) continue;
        const r = await bounded(lu.backend.flush(), backendWait);
        if (r !== 'done') {
          const why = r === 'timeout' ? `flush of ${t.name} LUN ${l} took over ${backendWait} ms` : `flush of ${t.name} LUN ${l} failed: ${(r as Error).message}`;
          problems.push(why);
          this.log.error({ target: t.name, lun: l, err: r === 'timeout' ? undefined : r }, why);
        }
      }
      const r = await bounded(t.device.close(), backendWait);
      if (r !== 'done') {
        const why = r === 'timeout' ? `backends of ${t.name} did not close within ${backendWait} ms` : `closing the backends of ${t.name} failed: ${(r as Error).message}`;
        problems.push(why);
        this.log.error({ target: t.name }, why);
      }
    }
    const summary: CloseSummary = { clean: problems.length === 0, loggedOut, forced, problems };
    this.log.info({ loggedOut, forced, clean: summary.clean }, 'target stopped');
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

/** Waits for `p` at most `ms`: 'done', 'timeout', or the error it failed with. The timer never outlives the wait. */
async function bounded(p: Promise<unknown>, ms: number): Promise<'done' | 'timeout' | Error> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p.then(
        () => 'done' as const,
        (e: unknown) => (e instanceof Error ? e : new Error(String(e))),
      ),
      new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ms))),
    ]);
  } finally {
    clearTimeout(timer);
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

function loginReject(done: LoginDone, status: number): LoginResponsePdu {
  const r = done.finalRequest;
  return {
    opcode: Opcode.LoginResponse,
    transit: false,
    continue: false,
    csg: r.csg,
    nsg: 0,
    versionMax: 0,
    versionActive: 0,
    isid: r.isid,
    tsih: 0,
    itt: r.itt,
    statSN: 0,
    expCmdSN: r.cmdSN,
    maxCmdSN: r.cmdSN,
    statusClass: status >> 8,
    statusDetail: status & 0xff,
    data: Buffer.alloc(0),
  };
}
