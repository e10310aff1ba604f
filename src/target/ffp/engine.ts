// The full feature phase of one target connection (RFC 7143 §4.2, §11), without a socket: PDUs in
// through handle(), PDUs out through the host's send. This class is the engine's face (the PDU switch,
// teardown, what task management, text and the server call); the work is done by the modules of this
// folder, plain functions over the connection's FfpState.

import { Opcode, RejectReason } from '../../pdu/constants.js';
import type { InitiatorPdu, TargetPdu, TaskManagementRequestPdu, TextRequestPdu } from '../../pdu/types.js';
import type { ConnectionParams } from '../../login/keys.js';
import type { TimerHandle } from '../../util/clock.js';
import type { TargetSession } from '../session.js';
import type { TargetTask } from '../task.js';
import type { TextConnection } from '../text.js';
import type { TmfConnection } from '../tmf.js';
import { onCommand } from './command.js';
import { countTmf } from './counting.js';
import type { FfpHost, FfpOptions } from './host.js';
import { abandon, abortAll, onDataOut, startWaiting } from './lifecycle.js';
import { armPing, disarmPing, onNopOut } from './liveness.js';
import { onLogout } from './logout.js';
import { reject, requestLogout, sendAsync, stamp, type AsyncMessageOptions } from './messages.js';
import { FfpState, nextStatSN } from './state.js';
import { admitInOrder, skipCmdSN } from './window.js';

/** One connection in full feature phase: feed it the initiator's PDUs, it sends the target's. */
export class FullFeatureConnection implements TmfConnection, TextConnection {
  readonly session: TargetSession;
  readonly cid: number;
  readonly #st: FfpState;

  constructor(session: TargetSession, host: FfpHost, opts: FfpOptions) {
    this.session = session;
    this.cid = opts.cid;
    this.#st = new FfpState(session, host, opts);
    armPing(this.#st);
  }

  /** The next StatSN the engine will hand out. */
  get statSN(): number {
    return this.#st.statSN;
  }

  /** Tasks of this connection's session (the session has one connection: MaxConnections=1). */
  get tasks(): ReadonlyMap<number, TargetTask> {
    return this.session.tasks;
  }

  /** Handles one PDU from the initiator. Protocol errors answer with Reject or drop the connection. */
  handle(pdu: InitiatorPdu, bhs: Buffer): void {
    const st = this.#st;
    if (st.stopped) return;
    st.lastHeard = st.host.clock.now();
    switch (pdu.opcode) {
      case Opcode.ScsiCommand:
        return admitInOrder(st, pdu, () => onCommand(st, pdu, bhs));
      case Opcode.DataOut:
        return onDataOut(st, pdu);
      case Opcode.NopOut:
        return onNopOut(st, pdu);
      case Opcode.TaskManagementRequest:
        return admitInOrder(st, pdu, () => this.#onTmf(pdu));
      case Opcode.TextRequest:
        return admitInOrder(st, pdu, () => this.#onText(pdu, bhs));
      case Opcode.LogoutRequest:
        return admitInOrder(st, pdu, () => onLogout(st, pdu));
      case Opcode.SnackRequest:
        return reject(st, RejectReason.SnackReject, bhs, 'SNACK at ErrorRecoveryLevel 0');
      case Opcode.LoginRequest:
        // RFC 7143 §6.2: a Login Request in full feature phase is a protocol error.
        return reject(st, RejectReason.ProtocolError, bhs, 'Login Request in full feature phase');
    }
  }

  /** Notes that something arrived from the initiator (liveness), even a PDU that failed to decode. */
  heard(): void {
    this.#st.lastHeard = this.#st.host.clock.now();
  }

  /**
   * Stops the engine for a teardown: timers first, then PDU processing, so nothing scheduled can reach
   * a connection being closed; running tasks are aborted and their completions go nowhere. Resolves
   * when every task has finished, or after `waitMs` (the backstop against a backend that ignores its
   * AbortSignal) with the ITTs of the tasks still running: whatever they do later reaches nothing,
   * since the engine is stopped.
   */
  async stop(reason: string, waitMs = Infinity): Promise<number[]> {
    const st = this.#st;
    if (st.stopped) return [];
    st.stopped = true;
    disarmPing(st);
    st.held.clear();
    const pending = abortAll(st, reason);
    const all = Promise.all(pending.map((t) => t.finished));
    if (waitMs === Infinity) await all;
    else {
      let timer: TimerHandle | undefined;
      await Promise.race([all, new Promise<void>((r) => (timer = st.host.clock.setTimeout(r, waitMs)))]);
      timer?.cancel();
    }
    return pending.filter((t) => t.state !== 'done').map((t) => t.itt);
  }

  /** True once {@link stop} was called. */
  get stopped(): boolean {
    return this.#st.stopped;
  }

  /** True while a liveness timer is armed (teardown checks none is left once stopped). */
  get timerArmed(): boolean {
    return this.#st.pingTimer !== undefined;
  }

  /** Called by ABORT TASK for a command not yet received (RFC 7143 §11.6.1 case b). */
  skipCmdSN(cmdSN: number): void {
    skipCmdSN(this.#st, cmdSN);
  }

  /** A TMF aborted the task: one still owed Data-Out never reaches the SCSI layer and ends now. */
  abandon(task: TargetTask): void {
    abandon(this.#st, task);
  }

  /** The socket drained below its high-water mark: reads that waited for it may start. */
  outputDrained(): void {
    startWaiting(this.#st);
  }

  /** Data-In bytes of reads started and not finished (for counters and tests). */
  get readBytesInFlight(): number {
    return this.#st.readBytesInFlight;
  }

  /** Bytes of write data buffered on this connection (for counters and tests). */
  get bufferedWrite(): number {
    return this.#st.bufferedWrite;
  }

  /** The negotiated connection values (MaxRecvDataSegmentLength may change in full feature phase). */
  get connectionParams(): ConnectionParams {
    return this.#st.conn;
  }

  /** Sends an Asynchronous Message (RFC 7143 §11.9). */
  sendAsync(event: number, opts: AsyncMessageOptions = {}): void {
    sendAsync(this.#st, event, opts);
  }

  /** Asks the initiator to log out within `seconds` (RFC 7143 §11.9.1 AsyncEvent 1). */
  requestLogout(seconds: number): void {
    requestLogout(this.#st, seconds);
  }

  /** Answers a PDU with Reject (RFC 7143 §11.17); the offending header goes back in the data. */
  reject(reason: number, bhs: Buffer, why: string): void {
    reject(this.#st, reason, bhs, why);
  }

  /** Fills ExpCmdSN/MaxCmdSN at the last moment, so every PDU carries the current window. */
  stamp(pdu: TargetPdu): void {
    stamp(this.#st, pdu);
  }

  /** Task management (RFC 7143 §11.5): the task manager decides, the answer goes out unless stopped. */
  #onTmf(pdu: TaskManagementRequestPdu): void {
    const st = this.#st;
    st.host.tmf.handle(this, pdu).then(
      (r) => {
        if (st.stopped) return;
        countTmf(st, pdu, r.response);
        st.host.send({
          opcode: Opcode.TaskManagementResponse,
          response: r.response,
          itt: pdu.itt,
          statSN: nextStatSN(st),
          expCmdSN: 0,
          maxCmdSN: 0,
          additionalResponseInformation: r.additionalResponseInformation ?? 0,
        });
        r.after?.();
      },
      (err: unknown) => {
        st.host.log.error({ err }, 'task management failed');
        st.host.drop('task management failed');
      },
    );
  }

  /** Text requests (RFC 7143 §11.10): the responder answers, splits, or asks for a Reject. */
  #onText(pdu: TextRequestPdu, bhs: Buffer): void {
    const st = this.#st;
    const out = st.host.text.respond(this, pdu);
    if (out === undefined) return;
    if ('reject' in out) return reject(st, out.reject, bhs, out.why);
    st.host.send({
      opcode: Opcode.TextResponse,
      final: out.final,
      continue: out.continue,
      lun: pdu.lun,
      itt: pdu.itt,
      ttt: out.ttt,
      statSN: nextStatSN(st),
      expCmdSN: 0,
      maxCmdSN: 0,
      data: out.data,
    });
  }
}
