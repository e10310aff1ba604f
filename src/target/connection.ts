// One TCP connection of the target: the socket glue around the framer, the login phase and the full
// feature phase engine. Teardown stops timers and PDU processing first, then delivery, then closes the
// socket, and a last check proves nothing still points at the connection: a late completion or timer
// must find nothing to act on, rather than a half-closed connection it could corrupt.

import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { IscsiProtocolError } from '../errors.js';
import { decodePdu } from '../pdu/codec.js';
import { Opcode, RejectReason, Stage } from '../pdu/constants.js';
import { Framer, type Frame } from '../pdu/framer.js';
import type { LoginRequestPdu, LoginResponsePdu, TargetPdu } from '../pdu/types.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import { PduWriter } from '../transport/pdu-writer.js';
import { FullFeatureConnection } from './ffp/index.js';
import { TargetLogin, type LoginDone, type LoginRegistry } from './login.js';
import type { TargetSession } from './session.js';
import type { TargetNode } from './target-node.js';
import { TargetTextResponder, type SendTargetsEntry, type TextConnection } from './text.js';
import type { TmfHandler } from './tmf.js';

type State = 'login' | 'establishing' | 'ffp' | 'closing' | 'closed';

/** How a completed login ended: the session it created or joined, or the Login Response refusing it. */
export type Establishment = { session: TargetSession } | { refuse: LoginResponsePdu; reason: string };

/**
 * What a connection needs of the server that accepted it (TargetServer implements it): its settings, the
 * targets, and the session registry the login joins (RFC 7143 §6.3).
 */
export interface ConnectionHost {
  readonly log: Logger;
  readonly clock: Clock;
  readonly options: { readonly loginTimeout: number; readonly nopInterval: number; readonly nopTimeout: number };
  /** What the login of one connection may ask about targets and authentication. */
  loginRegistry(conn: TargetConnection): LoginRegistry;
  /** Creates, joins or reinstates the session for a completed login. */
  establish(conn: TargetConnection, done: LoginDone): Promise<Establishment>;
  /** The target a normal session reaches. */
  target(name: string): TargetNode | undefined;
  /** Task management for discovery sessions, which have no logical units. */
  readonly discoveryTmf: TmfHandler;
  /** The SendTargets answer for a Text Request on this connection (RFC 7143 Appendix C). */
  sendTargets(conn: TargetConnection, text: TextConnection, value: string): SendTargetsEntry[];
  /** The connection entered full feature phase. */
  attach(conn: TargetConnection, ffp: FullFeatureConnection): void;
  /** The connection closed. */
  detach(conn: TargetConnection, opts: { logout: boolean }): void;
  /** Whether the engine keeps counters (metrics or the admin socket are on). */
  readonly counting: boolean;
  /** A login ended without a session: refused with a Login Response `status`, or dropped (undefined). */
  loginFailed(conn: TargetConnection, status: number | undefined, reason: string): void;
}

let nextConnectionId = 1;

/** One TCP connection of the target, from the first Login Request to the socket's close. */
export class TargetConnection {
  readonly id = nextConnectionId++;
  readonly socket: Socket;
  readonly #server: ConnectionHost;
  readonly #log: Logger;
  readonly #framer: Framer;
  readonly #writer: PduWriter;
  readonly #login: TargetLogin;
  #state: State = 'login';
  #ffp: FullFeatureConnection | undefined;
  #session: TargetSession | undefined;
  #loginTimer: TimerHandle | undefined;
  #closeReason = '';
  readonly closed: Promise<void>;
  #resolveClosed!: () => void;
  /** PDUs that arrived while the session was being established (only the final login's successors). */
  #backlog: Frame[] = [];
  #done: LoginDone | undefined;

  constructor(socket: Socket, server: ConnectionHost) {
    this.socket = socket;
    this.#server = server;
    this.#log = server.log.child({ conn: this.id, peer: `${socket.remoteAddress}:${socket.remotePort}` });
    this.closed = new Promise((r) => (this.#resolveClosed = r));
    socket.setNoDelay(true);
    this.#writer = new PduWriter(socket, { onDrain: () => this.#resumeReading() });
    this.#framer = new Framer(
      { onFrame: (f) => this.#onFrame(f), onError: (e) => this.#onFramingError(e) },
      { maxRecvDataSegmentLength: 8192 },
    );
    this.#login = new TargetLogin(server.loginRegistry(this), this.#log);
    socket.on('data', (chunk: Buffer) => {
      this.#framer.push(chunk);
      // A peer that never reads cannot make us buffer without bound: stop reading while it is congested.
      if (this.#writer.congested) socket.pause();
    });
    socket.on('error', (err) => this.#log.debug({ err: err.message }, 'socket error'));
    socket.on('close', () => void this.close('peer closed the connection'));
    socket.on('end', () => void this.close('peer ended the connection'));
    this.#loginTimer = server.clock.setTimeout(() => {
      server.loginFailed(this, undefined, 'login timed out');
      void this.close('login timed out');
    }, server.options.loginTimeout);
    this.#log.debug('connection accepted');
  }

  get session(): TargetSession | undefined {
    return this.#session;
  }

  get state(): State {
    return this.#state;
  }

  get ffp(): FullFeatureConnection | undefined {
    return this.#ffp;
  }

  #resumeReading(): void {
    if (this.#state !== 'closing' && this.#state !== 'closed') this.socket.resume();
    // Reads held back while the peer was not reading may start now (the read budget counts congestion).
    this.#ffp?.outputDrained();
  }

  #send = (pdu: TargetPdu): void => {
    this.#ffp?.stamp(pdu);
    this.#writer.send(pdu);
  };

  #onFrame(f: Frame): void {
    if (this.#state === 'closing' || this.#state === 'closed') return;
    if (this.#state === 'establishing') {
      this.#backlog.push(f);
      return;
    }
    let pdu;
    try {
      pdu = decodePdu('initiator', f.bhs, f.ahs, f.data);
    } catch (e) {
      this.#ffp?.heard();
      return this.#onProtocolError(e, f.bhs);
    }
    try {
      if (this.#state === 'login') {
        if (pdu.opcode !== Opcode.LoginRequest) {
          // RFC 7143 §6.3: only Login Requests until the login completes.
          return void this.close(`${pdu.opcode} PDU before login completed`);
        }
        this.#onLogin(pdu);
      } else {
        this.#ffp!.handle(pdu, f.bhs);
      }
    } catch (e) {
      // A bug of ours must not take the process down: this connection goes, the others stay.
      this.#log.error({ err: e }, 'internal error handling a PDU');
      void this.close('internal error');
    }
  }

  #onProtocolError(e: unknown, bhs: Buffer): void {
    if (!(e instanceof IscsiProtocolError)) {
      this.#log.error({ err: e }, 'internal error decoding a PDU');
      return void this.close('internal error');
    }
    if (this.#state !== 'ffp' || e.action !== 'reject') {
      this.#log.info({ code: e.code, reason: e.message }, 'protocol error, dropping the connection');
      return void this.close(e.message);
    }
    this.#ffp!.reject(e.rejectReason ?? RejectReason.ProtocolError, e.header ?? bhs, e.message);
  }

  #onFramingError(e: IscsiProtocolError): void {
    if (this.#state === 'ffp' && e.action === 'reject') {
      this.#ffp!.heard();
      this.#ffp!.reject(e.rejectReason ?? RejectReason.ProtocolError, e.header ?? Buffer.alloc(48), e.message);
      return;
    }
    this.#log.info({ code: e.code, reason: e.message }, 'framing error, dropping the connection');
    void this.close(e.message);
  }

  #onLogin(pdu: LoginRequestPdu): void {
    const step = this.#login.handle(pdu);
    switch (step.kind) {
      case 'respond':
        for (const p of step.pdus) this.#writer.send(p);
        if (this.#session !== undefined && step.pdus.some(isFinal)) this.#enterFfp();
        return;
      case 'refuse':
        this.#server.loginFailed(this, (step.pdu.statusClass << 8) | step.pdu.statusDetail, step.reason);
        this.#writer.send(step.pdu);
        this.#writer.flushNow();
        return void this.close(`login refused: ${step.reason}`, { linger: true });
      case 'drop':
        this.#server.loginFailed(this, undefined, step.reason);
        return void this.close(step.reason);
      case 'complete':
        this.#done = step.done;
        this.#state = 'establishing';
        this.#framer.pause();
        this.#server.establish(this, step.done).then(
          (result) => this.#established(step.done, result),
          (err: unknown) => {
            this.#log.error({ err }, 'session establishment failed');
            void this.close('session establishment failed');
          },
        );
        return;
    }
  }

  #established(done: LoginDone, result: Establishment): void {
    if (this.#state !== 'establishing') return;
    if ('refuse' in result) {
      this.#server.loginFailed(this, (result.refuse.statusClass << 8) | result.refuse.statusDetail, result.reason);
      this.#writer.send(result.refuse);
      this.#writer.flushNow();
      return void this.close(result.reason, { linger: true });
    }
    this.#session = result.session;
    const pdus = this.#login.finalResponse(done, result.session.tsih, result.session.maxCmdSN);
    for (const p of pdus) this.#writer.send(p);
    this.#state = 'login';
    if (pdus.some(isFinal)) this.#enterFfp();
    this.#framer.resume();
    const backlog = this.#backlog;
    this.#backlog = [];
    for (const f of backlog) this.#onFrame(f);
  }

  #enterFfp(): void {
    const session = this.#session!;
    const params = this.#login.context!;
    const negotiated = this.#done!.params;
    this.#loginTimer?.cancel();
    this.#loginTimer = undefined;
    const conn = negotiated.connection;
    // Digests start with the first PDU after the Login Final-Response (RFC 7143 §13.1).
    const digests = { header: conn.headerDigest === 'CRC32C', data: conn.dataDigest === 'CRC32C' };
    this.#writer.setDigests(digests);
    this.#framer.setDigests(digests.header, digests.data);
    this.#framer.setMaxRecvDataSegmentLength(conn.maxRecvDataSegmentLength);
    const node = session.targetName === undefined ? undefined : this.#server.target(session.targetName);
    this.#ffp = new FullFeatureConnection(
      session,
      {
        send: this.#send,
        drop: (reason) => void this.close(reason),
        closeAfterLogout: () => void this.close('logged out', { linger: true, logout: true }),
        releaseNexus: node === undefined || session.nexus === undefined ? undefined : () => node.device.releaseNexus(session.nexus!),
        execute: node === undefined ? undefined : (cmd) => node.device.execute(cmd),
        tmf: node?.tmf ?? this.#server.discoveryTmf,
        text: new TargetTextResponder({ sendTargets: (c, v) => this.#server.sendTargets(this, c, v) }),
        clock: this.#server.clock,
        log: this.#log,
        congested: () => this.#writer.congested,
        stats: node !== undefined && this.#server.counting ? node.counters : undefined,
        targetName: session.targetName,
      },
      {
        cid: params.cid,
        statSN: this.#login.statSN,
        connection: conn,
        nopInterval: this.#server.options.nopInterval,
        nopTimeout: this.#server.options.nopTimeout,
      },
    );
    this.#state = 'ffp';
    this.#server.attach(this, this.#ffp);
    this.#log.info(
      { initiator: session.initiatorName, target: session.targetName, type: session.type, tsih: session.tsih, isid: session.isid, digests },
      'session up',
    );
  }

  /** Asks the initiator to log out (Async Message, RFC 7143 §11.9.1). */
  requestLogout(seconds: number): void {
    this.#ffp?.requestLogout(seconds);
  }

  /**
   * Closes the connection, in an order that leaves nothing scheduled able to reach it: stop the login
   * timer and PDU processing, stop the engine (its ping timer, then its tasks: aborted, their
   * completions go nowhere; waited for up to `abortWaitMs`, the backstop against a backend that ignores
   * its AbortSignal), flush or drop the writer, close the socket, detach from the session, and last
   * check that nothing scheduled is left that could still reach this connection.
   */
  async close(reason: string, opts: { linger?: boolean; logout?: boolean; abortWaitMs?: number } = {}): Promise<void> {
    if (this.#state === 'closing' || this.#state === 'closed') return this.closed;
    const wasFfp = this.#state === 'ffp';
    this.#state = 'closing';
    this.#closeReason = reason;
    this.#loginTimer?.cancel();
    this.#loginTimer = undefined;
    this.#framer.pause();
    this.socket.pause();
    let stragglers: number[] = [];
    if (this.#ffp !== undefined) stragglers = await this.#ffp.stop(reason, opts.abortWaitMs ?? 5000);
    if (stragglers.length > 0) {
      this.#log.warn({ itts: stragglers.map((i) => `0x${i.toString(16)}`) }, 'closing with commands the backend has not ended: their completions will be dropped');
    }
    if (opts.linger) {
      // Let the last response (Logout Response, a login reject) reach the peer before closing.
      this.#writer.flushNow();
      this.socket.end();
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          this.socket.destroy();
          resolve();
        }, 2000);
        t.unref();
        this.socket.once('close', () => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    this.#writer.close();
    this.socket.destroy();
    this.#server.detach(this, { logout: opts.logout === true });
    this.#state = 'closed';
    if (wasFfp || this.#session !== undefined) {
      this.#log.info({ reason, tsih: this.#session?.tsih, initiator: this.#session?.initiatorName }, 'session down');
    } else {
      this.#log.debug({ reason }, 'connection closed');
    }
    this.#checkNothingLeft();
    this.#resolveClosed();
  }

  /**
   * The last step of a close: once closed, nothing scheduled may still reach this connection. Its timers
   * are cancelled, the engine is stopped (a late completion is dropped there), the writer refuses PDUs
   * and the socket is destroyed; a violation is a bug, reported loudly.
   */
  #checkNothingLeft(): void {
    const left = this.leftovers;
    if (left.length > 0) this.#log.error({ left }, 'connection closed with work still scheduled (a teardown bug)');
  }

  /** What is still scheduled on this connection: nothing once it is closed (tests check it too). */
  get leftovers(): string[] {
    const left: string[] = [];
    if (this.#loginTimer !== undefined) left.push('login timer');
    if (this.#ffp !== undefined && !this.#ffp.stopped) left.push('engine not stopped');
    if (this.#ffp?.timerArmed === true) left.push('ping timer');
    if (!this.socket.destroyed) left.push('socket');
    return left;
  }

  get closeReason(): string {
    return this.#closeReason;
  }
}

function isFinal(p: LoginResponsePdu): boolean {
  return p.transit && p.nsg === Stage.FullFeature && p.statusClass === 0;
}
