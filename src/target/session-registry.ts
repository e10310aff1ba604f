// The target's session registry (RFC 7143 §6.3, §4.2.2): TSIH assignment, sessions by InitiatorName +
// ISID + target, session reinstatement (§6.3.5) and connection reinstatement (§6.3.4), and the one
// connection serving each live session (MaxConnections=1). It reports sessions up and down.

import type { Logger } from 'pino';
import { LoginStatus, Opcode } from '../pdu/constants.js';
import type { LoginResponsePdu } from '../pdu/types.js';
import type { Establishment, TargetConnection } from './connection.js';
import type { SessionInfo, TargetEvent } from './events.js';
import type { FullFeatureConnection } from './ffp/index.js';
import type { LoginDone } from './login.js';
import { TargetSession } from './session.js';
import type { TargetNode } from './target-node.js';

/** What the registry needs of its server. */
export interface RegistryScope {
  /** Target portal group tag of the server's portals (RFC 7143 §13.9). */
  readonly tpgt: number;
  /** Commands a session may have queued (MaxCmdSN is advertised from it). */
  readonly queueDepth: number;
  target(name: string): TargetNode | undefined;
  /** True once the server is shutting down: no new session is created. */
  closing(): boolean;
  emit(e: TargetEvent): void;
  readonly log: Logger;
  /** The id of the next session; absent: the process-wide counter of TargetSession. */
  nextSessionId?: () => number;
}

/** TSIHs are 16 bits, 0 reserved for "new session" (RFC 7143 §11.12.6). */
const MAX_TSIH = 0xffff;

/** Sessions of one server, the connection of each, and the rules by which a login creates or joins one. */
export class SessionRegistry {
  readonly #scope: RegistryScope;
  readonly #byKey = new Map<string, TargetSession>();
  readonly #byTsih = new Map<number, TargetSession>();
  readonly #connOf = new Map<TargetSession, TargetConnection>();
  readonly #reinstating = new Set<TargetSession>();
  /** Session summaries kept from attach to detach, so a session-down event can say what went down. */
  readonly #infoOf = new Map<TargetSession, SessionInfo>();
  #nextTsih = 1;

  constructor(scope: RegistryScope) {
    this.#scope = scope;
  }

  /**
   * Creates or joins the session for a completed login: new TSIH, session reinstatement (same
   * InitiatorName + ISID + target, TSIH 0: the old session ends first, RFC 7143 §6.3.5), or the
   * reinstatement of a connection of a live session (same TSIH and CID, §6.3.4).
   */
  async establish(conn: TargetConnection, done: LoginDone): Promise<Establishment> {
    const ctx = done.ctx;
    this.#scope.log.debug({ conn: conn.id, initiator: ctx.initiatorName, isid: ctx.isid, tsih: ctx.tsih }, 'establishing session');
    const refuse = (status: number, reason: string) => ({ refuse: loginReject(done, status), reason });
    const key = `${ctx.initiatorName}|${ctx.isid}|${ctx.targetName ?? ''}|${ctx.sessionType}`;
    if (ctx.tsih !== 0) {
      const s = this.#byTsih.get(ctx.tsih);
      if (s === undefined || keyOf(s) !== key) return refuse(LoginStatus.SessionDoesNotExist, `no session with TSIH ${ctx.tsih}`);
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
      this.#scope.log.info({ initiator: ctx.initiatorName, isid: ctx.isid, tsih: existing.tsih }, 'session reinstatement');
      const old = this.#connOf.get(existing);
      if (old !== undefined) await old.close('session reinstated');
      else this.#forget(existing, false);
    }
    if (this.#scope.closing()) return refuse(LoginStatus.ServiceUnavailable, 'the target is shutting down');
    const tsih = this.#allocTsih();
    if (tsih === undefined) return refuse(LoginStatus.OutOfResources, 'no TSIH left');
    const session = new TargetSession({
      tsih,
      isid: ctx.isid,
      initiatorName: ctx.initiatorName!,
      targetName: ctx.sessionType === 'Discovery' ? undefined : ctx.targetName,
      tpgt: this.#scope.tpgt,
      type: ctx.sessionType,
      params: done.params.session,
      queueDepth: this.#scope.queueDepth,
      expCmdSN: done.cmdSN,
      ...(this.#scope.nextSessionId !== undefined && { id: this.#scope.nextSessionId() }),
    });
    this.#byKey.set(key, session);
    this.#byTsih.set(tsih, session);
    const node = session.targetName === undefined ? undefined : this.#scope.target(session.targetName);
    if (node !== undefined) {
      node.sessions.add(session);
      node.device.attachNexus(session.nexus!);
    }
    return { session };
  }

  #allocTsih(): number | undefined {
    for (let i = 0; i < MAX_TSIH; i++) {
      const t = this.#nextTsih;
      this.#nextTsih = this.#nextTsih >= MAX_TSIH ? 1 : this.#nextTsih + 1;
      if (!this.#byTsih.has(t)) return t;
    }
    return undefined;
  }

  /** The connection entered full feature phase. */
  attach(conn: TargetConnection, ffp: FullFeatureConnection): void {
    const s = ffp.session;
    this.#connOf.set(s, conn);
    if (s.targetName !== undefined) this.#scope.target(s.targetName)?.connections.set(s, ffp);
    if (!this.#infoOf.has(s)) {
      const info = sessionInfo(s, conn);
      this.#infoOf.set(s, info);
      this.#scope.emit({ type: 'session-up', session: info });
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
    if (s.targetName !== undefined) this.#scope.target(s.targetName)?.connections.delete(s);
    if (!this.#reinstating.has(s)) this.#forget(s, opts.logout, conn.closeReason);
  }

  #forget(s: TargetSession, logout: boolean, reason = 'session reinstated'): void {
    if (s.closed) return;
    s.closed = true;
    const info = this.#infoOf.get(s);
    if (info !== undefined) {
      this.#infoOf.delete(s);
      this.#scope.emit({ type: 'session-down', session: info, reason, logout });
    }
    if (this.#byKey.get(keyOf(s)) === s) this.#byKey.delete(keyOf(s));
    if (this.#byTsih.get(s.tsih) === s) this.#byTsih.delete(s.tsih);
    const node = s.targetName === undefined ? undefined : this.#scope.target(s.targetName);
    if (node !== undefined) {
      node.sessions.delete(s);
      // The I_T nexus is gone either way (SAM-5 §6.3.4); a logout is the orderly form of it.
      if (s.nexus !== undefined) node.device.nexusLost(s.nexus);
    }
    this.#scope.log.debug({ tsih: s.tsih, logout }, 'session removed');
  }

  /** Live sessions in full feature phase, each with the connection serving it. */
  live(): IterableIterator<[TargetSession, TargetConnection]> {
    return this.#connOf.entries();
  }

  /** The connections serving live sessions. */
  connections(): TargetConnection[] {
    return [...this.#connOf.values()];
  }

  /** Summaries of the live sessions, for the admin socket. */
  sessions(): SessionInfo[] {
    const out: SessionInfo[] = [];
    for (const [s, c] of this.#connOf) out.push(sessionInfo(s, c));
    return out;
  }
}

function keyOf(s: TargetSession): string {
  return `${s.initiatorName}|${s.isid}|${s.targetName ?? ''}|${s.type}`;
}

function sessionInfo(s: TargetSession, c: TargetConnection): SessionInfo {
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

/** The Login Response that refuses a completed login (RFC 7143 §11.13: T=0, TSIH 0, the status). */
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
