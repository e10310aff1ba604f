// The target server: listens on portals, owns the targets, and keeps the session registry (TSIH
// assignment, session reinstatement by InitiatorName + ISID, RFC 7143 §6.3.5), discovery answers and
// orderly shutdown.

import { createServer, type Server, type Socket } from 'node:net';
import { pino, type Logger } from 'pino';
import { AsyncEvent, LoginStatus, Opcode } from '../pdu/constants.js';
import { lunToField } from '../pdu/lun.js';
import type { LoginResponsePdu } from '../pdu/types.js';
import { realClock, type Clock } from '../session/clock.js';
import type { ChapSecret } from '../session/chap.js';
import type { NegotiationPolicy, TargetAuthConfig } from '../session/negotiation.js';
import { TargetConnection } from './connection.js';
import type { FullFeatureConnection } from './ffp.js';
import { LoginRefusal, type LoginContext, type LoginDone, type LoginRegistry } from './login.js';
import { TargetSession } from './session.js';
import type { TargetNode, ChapAccount } from './target-node.js';
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
  clock?: Clock;
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

export class TargetServer {
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
  /** Discovery sessions have no logical units: their task manager sees nothing. */
  readonly discoveryTmf: TaskManager;
  /** Addresses actually bound, once listening. */
  bound: Portal[] = [];

  constructor(opts: TargetServerOptions) {
    this.log = opts.log ?? pino({ level: 'silent' });
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
    node.dropAll = (reason) => {
      // Linger, so the TMF response queued just before reaches the initiator.
      for (const [s, c] of this.#connOf) if (s.targetName === node.name) void c.close(reason, { linger: true });
    };
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
  }

  /** The connection closed: at ErrorRecoveryLevel 0 its session ends with it (unless reinstated). */
  detach(conn: TargetConnection, opts: { logout: boolean }): void {
    const s = conn.session;
    if (s === undefined || this.#connOf.get(s) !== conn) {
      // A login that never completed, or a connection already replaced.
      if (s !== undefined && this.#connOf.get(s) === undefined && !this.#reinstating.has(s)) this.#forget(s, opts.logout);
      return;
    }
    this.#connOf.delete(s);
    if (s.targetName !== undefined) this.#targets.get(s.targetName)?.connections.delete(s);
    if (!this.#reinstating.has(s)) this.#forget(s, opts.logout);
  }

  #forget(s: TargetSession, logout: boolean): void {
    if (s.closed) return;
    s.closed = true;
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
    for (const [s, c] of this.#connOf) {
      out.push({
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
      });
    }
    return out;
  }

  /** Drops one session by its id (admin). */
  async dropSession(id: number): Promise<boolean> {
    for (const [s, c] of this.#connOf) {
      if (s.id === id) {
        await c.close('dropped by the administrator');
        return true;
      }
    }
    return false;
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  /**
   * Shuts down: stop accepting, ask every initiator to log out (Async Message, RFC 7143 §11.9.1), wait
   * up to `graceMs` for them and for in-flight I/O, close what is left, flush and close the backends.
   */
  async close(opts: { graceMs?: number } = {}): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    const grace = opts.graceMs ?? 5000;
    await Promise.all(this.#servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    for (const c of this.#connOf.values()) c.requestLogout(Math.max(1, Math.ceil(grace / 1000)));
    const all = Promise.all([...this.#connections].map((c) => c.closed));
    if (this.#connections.size > 0) {
      await Promise.race([all, new Promise<void>((r) => setTimeout(r, grace).unref())]);
    }
    await Promise.all([...this.#connections].map((c) => c.close('target shutting down')));
    // Everything acknowledged reaches stable storage before the backends close.
    for (const t of this.#targets.values()) {
      for (const l of t.device.luns()) {
        await t.device
          .get(l)
          ?.backend.flush()
          .catch((err: unknown) => this.log.error({ err, target: t.name, lun: l }, 'flush at shutdown failed'));
      }
      await t.device.close();
    }
    this.log.info('target stopped');
  }

  /**
   * Changes a LUN's capacity: the LU reports CAPACITY DATA HAS CHANGED (2Ah/09h) as a unit attention,
   * and every session of the target gets a SCSI Asynchronous Event carrying the same sense
   * (RFC 7143 §11.9.1, AsyncEvent 0), so an initiator learns of it before its next command.
   */
  async resizeLun(targetName: string, lun: number, blocks: number): Promise<void> {
    const node = this.#targets.get(targetName);
    const lu = node?.device.get(lun);
    if (node === undefined || lu === undefined) throw new RangeError(`no LUN ${lun} on ${targetName}`);
    await lu.resize(blocks);
    const sense = Buffer.alloc(18);
    sense[0] = 0x70;
    sense[2] = 0x06; // UNIT ATTENTION
    sense[7] = 10;
    sense[12] = 0x2a;
    sense[13] = 0x09;
    for (const ffp of node.connections.values()) ffp.sendAsync(AsyncEvent.ScsiAsyncEvent, { lun: lunToField(lun), sense });
    this.log.info({ target: targetName, lun, blocks }, 'LUN resized');
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
