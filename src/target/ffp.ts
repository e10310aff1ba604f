// The full feature phase of one target connection (RFC 7143 §4.2, §11), without a socket: PDUs in,
// PDUs out through `send`. Commands are admitted in CmdSN order, Data-Out is gathered (immediate,
// unsolicited, then R2Ts within MaxBurstLength, MaxOutstandingR2T at a time), the SCSI layer runs the
// command, and Data-In goes out split by the initiator's MaxRecvDataSegmentLength and MaxBurstLength,
// with the status collapsed into the last Data-In when there is no sense data.

import type { Logger } from 'pino';
import {
  AsyncEvent,
  IscsiResponse,
  LogoutReason,
  LogoutResponseCode,
  Opcode,
  RESERVED_TAG,
  RejectReason,
} from '../pdu/constants.js';
import { lunFromField } from '../pdu/lun.js';
import type {
  DataOutPdu,
  InitiatorPdu,
  LogoutRequestPdu,
  NopOutPdu,
  ScsiCommandPdu,
  TargetPdu,
  TaskManagementRequestPdu,
  TextRequestPdu,
} from '../pdu/types.js';
import { R2TTable } from '../r2t/table.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import type { ConnectionParams } from '../login/keys.js';
import { snAdd, snInWindow } from '../util/serial.js';
import { ASC, SENSE_KEY, STATUS } from '../scsi/constants.js';
import { buildFixedSense } from '../scsi/sense.js';
import type { ScsiCommand, ScsiResponse } from '../scsi/types.js';
import type { TargetSession } from './session.js';
import { TargetTask } from './task.js';
import type { TaskManager } from './tmf.js';
import type { TextResponder } from './text.js';

/** What the engine needs from its surroundings. */
export interface FfpHost {
  send(pdu: TargetPdu): void;
  /** Drop the connection (after flushing what was sent). */
  drop(reason: string): void;
  /** Close after a successful logout, once the response is flushed. */
  closeAfterLogout(): void;
  /** Runs a command on the target's logical units (undefined in a discovery session). */
  execute: ((cmd: ScsiCommand) => Promise<ScsiResponse>) | undefined;
  tmf: TaskManager;
  text: TextResponder;
  clock: Clock;
  log: Logger;
  /** True while the socket holds more than its high-water mark (the peer reads slower than we send). */
  congested?: () => boolean;
}

export interface FfpOptions {
  cid: number;
  /** First StatSN of the full feature phase (the one after the last Login Response's). */
  statSN: number;
  connection: ConnectionParams;
  /** Largest write buffered for one command (bytes); larger writes end in CHECK CONDITION. */
  maxWriteBuffer?: number;
  /**
   * Write data buffered at once on this connection (bytes). Beyond it, R2Ts for further writes wait
   * until buffers free up, so a flood of large writes cannot grow memory without bound.
   */
  maxBufferedWrite?: number;
  /** Send a NOP-In ping after this much silence from the initiator (ms); 0 disables. */
  nopInterval?: number;
  /** Drop the connection when a ping is not answered (and nothing else arrives) within this (ms). */
  nopTimeout?: number;
  /** Immediate SCSI commands allowed at once beyond the window. */
  maxImmediate?: number;
  /**
   * Data-In bytes of read commands started and not yet answered (bytes). Beyond it, or while the socket
   * is congested, commands wait to start: a peer that never reads cannot make the target hold
   * queueDepth × MAXIMUM TRANSFER LENGTH of read data (issue 9: 1 GiB per connection before).
   */
  maxReadInFlight?: number;
}

const DEFAULT_MAX_WRITE_BUFFER = 32 * 1024 * 1024;
const DEFAULT_MAX_BUFFERED_WRITE = 128 * 1024 * 1024;
const DEFAULT_MAX_READ_IN_FLIGHT = 32 * 1024 * 1024;

export class FullFeatureConnection {
  readonly session: TargetSession;
  readonly cid: number;
  #statSN: number;
  readonly #host: FfpHost;
  readonly #conn: ConnectionParams;
  readonly #r2t: R2TTable;
  #nextTtt = 1;
  /** Non-immediate PDUs that arrived ahead of ExpCmdSN, waiting for the gap to fill. */
  readonly #held = new Map<number, () => void>();
  #immediateActive = 0;
  readonly #maxImmediate: number;
  readonly #maxWriteBuffer: number;
  readonly #maxBufferedWrite: number;
  /** Bytes of write buffers allocated, and the writes waiting for room (oldest first). */
  #bufferedWrite = 0;
  readonly #waitingForBuffer: TargetTask[] = [];
  /** Read commands started and not finished, their Data-In bytes, and the commands waiting to start (in order). */
  readonly #readsInFlight = new Set<TargetTask>();
  #readBytesInFlight = 0;
  readonly #maxReadInFlight: number;
  readonly #waitingToRun: TargetTask[] = [];
  #startingWaiters = false;
  // Liveness (RFC 7143 §11.18/§11.19): any PDU from the initiator counts (open-iscsi #97).
  #lastHeard: number;
  #pingTtt: number | undefined;
  #pingTimer: TimerHandle | undefined;
  readonly #nopInterval: number;
  readonly #nopTimeout: number;
  #stopped = false;
  #loggingOut = false;

  constructor(session: TargetSession, host: FfpHost, opts: FfpOptions) {
    this.session = session;
    this.cid = opts.cid;
    this.#statSN = opts.statSN >>> 0;
    this.#host = host;
    this.#conn = opts.connection;
    this.#maxWriteBuffer = opts.maxWriteBuffer ?? DEFAULT_MAX_WRITE_BUFFER;
    this.#maxBufferedWrite = opts.maxBufferedWrite ?? DEFAULT_MAX_BUFFERED_WRITE;
    this.#maxImmediate = opts.maxImmediate ?? 8;
    this.#maxReadInFlight = opts.maxReadInFlight ?? DEFAULT_MAX_READ_IN_FLIGHT;
    this.#r2t = new R2TTable(Math.max(1, session.params.maxOutstandingR2T) * (session.queueDepth + this.#maxImmediate));
    this.#nopInterval = opts.nopInterval ?? 0;
    this.#nopTimeout = opts.nopTimeout ?? 15_000;
    this.#lastHeard = host.clock.now();
    this.#armPing();
  }

  get statSN(): number {
    return this.#statSN;
  }

  /** Tasks of this connection's session (the session has one connection: MaxConnections=1). */
  get tasks(): ReadonlyMap<number, TargetTask> {
    return this.session.tasks;
  }

  /** Handles one PDU from the initiator. Protocol errors answer with Reject or drop the connection. */
  handle(pdu: InitiatorPdu, bhs: Buffer): void {
    if (this.#stopped) return;
    this.#lastHeard = this.#host.clock.now();
    switch (pdu.opcode) {
      case Opcode.ScsiCommand:
        return this.#ordered(pdu, () => this.#onCommand(pdu, bhs));
      case Opcode.DataOut:
        return this.#onDataOut(pdu);
      case Opcode.NopOut:
        return this.#onNopOut(pdu);
      case Opcode.TaskManagementRequest:
        return this.#ordered(pdu, () => this.#onTmf(pdu));
      case Opcode.TextRequest:
        return this.#ordered(pdu, () => this.#onText(pdu, bhs));
      case Opcode.LogoutRequest:
        return this.#ordered(pdu, () => this.#onLogout(pdu));
      case Opcode.SnackRequest:
        return this.reject(RejectReason.SnackReject, bhs, 'SNACK at ErrorRecoveryLevel 0');
      case Opcode.LoginRequest:
        // RFC 7143 §6.2: a Login Request in full feature phase is a protocol error.
        return this.reject(RejectReason.ProtocolError, bhs, 'Login Request in full feature phase');
    }
  }

  /** Notes that something arrived from the initiator (liveness), even a PDU that failed to decode. */
  heard(): void {
    this.#lastHeard = this.#host.clock.now();
  }

  /**
   * Stops the engine (teardown, seed 000): timers first, then PDU processing; running tasks are
   * aborted and their completions go nowhere. Resolves when every task has finished, or after
   * `waitMs` (the backstop against a backend that ignores its AbortSignal) with the ITTs of the tasks
   * still running: whatever they do later reaches nothing, since the engine is stopped.
   */
  async stop(reason: string, waitMs = Infinity): Promise<number[]> {
    if (this.#stopped) return [];
    this.#stopped = true;
    this.#pingTimer?.cancel();
    this.#pingTimer = undefined;
    this.#held.clear();
    const pending: TargetTask[] = [];
    for (const t of this.session.tasks.values()) {
      if (t.state === 'done') continue;
      t.aborted = true;
      t.abort.abort(new Error(`connection closed: ${reason}`));
      this.#r2t.retireTask(t.itt);
      if (t.state === 'data-out') this.#finishTask(t);
      pending.push(t);
    }
    // Commands still waiting to start never reach the SCSI layer.
    for (const t of this.#waitingToRun.splice(0)) this.#finishTask(t);
    const all = Promise.all(pending.map((t) => t.finished));
    if (waitMs === Infinity) await all;
    else {
      let timer: TimerHandle | undefined;
      await Promise.race([all, new Promise<void>((r) => (timer = this.#host.clock.setTimeout(r, waitMs)))]);
      timer?.cancel();
    }
    return pending.filter((t) => t.state !== 'done').map((t) => t.itt);
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  /** True while a liveness timer is armed (teardown checks none is left once stopped). */
  get timerArmed(): boolean {
    return this.#pingTimer !== undefined;
  }

  // --- CmdSN ordering (RFC 7143 §4.2.2.1, §3.2.2.1 of RFC 3720) ---------------------------------

  #ordered(pdu: { immediate: boolean; cmdSN: number; opcode: number }, run: () => void): void {
    const s = this.session;
    if (pdu.immediate) {
      run();
      return;
    }
    if (!snInWindow(pdu.cmdSN, s.expCmdSN, s.maxCmdSN)) {
      // Outside the window: silently ignored (RFC 7143 §4.2.2.1).
      this.#host.log.debug({ cmdSN: pdu.cmdSN, expCmdSN: s.expCmdSN, maxCmdSN: s.maxCmdSN }, 'CmdSN outside the window, ignored');
      return;
    }
    if (pdu.cmdSN !== s.expCmdSN) {
      if (this.#held.has(pdu.cmdSN)) {
        this.#host.log.debug({ cmdSN: pdu.cmdSN }, 'duplicate CmdSN ignored');
        return;
      }
      this.#held.set(pdu.cmdSN, run);
      return;
    }
    s.expCmdSN = snAdd(s.expCmdSN, 1);
    run();
    this.#drainHeld();
  }

  #drainHeld(): void {
    const s = this.session;
    for (;;) {
      if (s.skippedCmdSNs.delete(s.expCmdSN)) {
        s.expCmdSN = snAdd(s.expCmdSN, 1);
        continue;
      }
      const next = this.#held.get(s.expCmdSN);
      if (next === undefined) return;
      this.#held.delete(s.expCmdSN);
      s.expCmdSN = snAdd(s.expCmdSN, 1);
      next();
    }
  }

  /** Called by ABORT TASK for a command not yet received (RFC 7143 §11.6.1 case b). */
  skipCmdSN(cmdSN: number): void {
    const s = this.session;
    const held = this.#held.get(cmdSN);
    if (held !== undefined) {
      this.#held.delete(cmdSN);
    }
    if (cmdSN === s.expCmdSN) {
      s.expCmdSN = snAdd(s.expCmdSN, 1);
      this.#drainHeld();
    } else {
      s.skippedCmdSNs.add(cmdSN);
    }
  }

  // --- SCSI commands ---------------------------------------------------------------------------

  #onCommand(pdu: ScsiCommandPdu, bhs: Buffer): void {
    const s = this.session;
    if (this.#host.execute === undefined) {
      // A discovery session carries only Text and Logout (RFC 7143 §4.3): it never reaches data.
      return this.reject(RejectReason.ProtocolError, bhs, 'SCSI Command in a discovery session');
    }
    if (this.#loggingOut) return this.reject(RejectReason.WaitingForLogout, bhs, 'SCSI Command after Logout');
    if (pdu.itt === RESERVED_TAG) return this.reject(RejectReason.InvalidPduField, bhs, 'SCSI Command with the reserved ITT');
    if (s.tasks.has(pdu.itt)) return this.reject(RejectReason.TaskInProgress, bhs, `ITT 0x${pdu.itt.toString(16)} is in use`);
    if (pdu.immediate) {
      if (this.#immediateActive >= this.#maxImmediate) {
        return this.reject(RejectReason.ImmediateCommandReject, bhs, 'too many immediate commands');
      }
    }
    // RFC 7143 §11.3.1: a command that will send no unsolicited Data-Out must have F set; a read
    // carries no immediate data; ImmediateData=No forbids it (§13.11).
    if (!pdu.final && !pdu.write) return this.reject(RejectReason.ProtocolError, bhs, 'F clear on a command without W');
    if (pdu.data.length > 0) {
      if (!pdu.write) return this.reject(RejectReason.ProtocolError, bhs, 'immediate data on a command without W');
      if (!s.params.immediateData) return this.reject(RejectReason.ProtocolError, bhs, 'immediate data with ImmediateData=No');
      if (pdu.data.length > s.params.firstBurstLength || pdu.data.length > pdu.expectedDataTransferLength) {
        return this.reject(RejectReason.ProtocolError, bhs, 'immediate data beyond FirstBurstLength or EDTL');
      }
    }
    if (!pdu.final && s.params.initialR2T) {
      return this.reject(RejectReason.ProtocolError, bhs, 'unsolicited Data-Out announced with InitialR2T=Yes');
    }

    const task = new TargetTask(pdu, lunFromField(pdu.lun), this.#host.clock.now());
    s.tasks.set(task.itt, task);
    s.stats.commands++;
    if (task.immediate) this.#immediateActive++;
    else s.active++;

    if (task.write && task.edtl > 0) {
      if (task.edtl > this.#maxWriteBuffer) {
        // Too large to gather: finish with CHECK CONDITION; Data-Out still in flight is ignored.
        this.#respond(task, {
          status: STATUS.CHECK_CONDITION,
          sense: buildFixedSense({ key: SENSE_KEY.ILLEGAL_REQUEST, asc: ASC.INVALID_FIELD_IN_CDB >> 8, ascq: ASC.INVALID_FIELD_IN_CDB & 0xff }),
        });
        return;
      }
      const imm = pdu.data.length;
      task.received = imm;
      task.unsolicitedLimit = s.params.initialR2T ? imm : Math.min(s.params.firstBurstLength, task.edtl);
      task.unsolicitedDone = pdu.final || task.received >= task.unsolicitedLimit;
      task.nextR2TOffset = task.unsolicitedDone ? task.received : task.unsolicitedLimit;
      s.stats.writeBytes += imm;
      if (imm === task.edtl) {
        task.buffer = pdu.data; // the whole write came as immediate data: no copy
        this.#run(task);
        return;
      }
      if (imm > 0) task.parts.push(pdu.data);
      this.#claimBuffer(task);
      return;
    }
    this.#run(task);
  }

  /**
   * Gives the write its buffer when there is room under maxBufferedWrite (or nothing else holds one),
   * else queues it: until then, data it already received stays in the PDU buffers it came in and no
   * R2T is issued for the rest.
   */
  #claimBuffer(task: TargetTask): void {
    if (this.#waitingForBuffer.length > 0 || (this.#bufferedWrite > 0 && this.#bufferedWrite + task.edtl > this.#maxBufferedWrite)) {
      this.#waitingForBuffer.push(task);
      return;
    }
    this.#giveBuffer(task);
  }

  #giveBuffer(task: TargetTask): void {
    task.buffer = Buffer.allocUnsafe(task.edtl);
    task.bufferCounted = true;
    this.#bufferedWrite += task.edtl;
    let off = 0;
    for (const p of task.parts) {
      p.copy(task.buffer, off);
      off += p.length;
    }
    task.parts.length = 0;
    if (task.unsolicitedDone) this.#issueR2Ts(task);
    if (task.allDataReceived && task.outstandingR2T === 0 && task.unsolicitedDone) this.#run(task);
  }

  #drainWaitingForBuffer(): void {
    while (this.#waitingForBuffer.length > 0) {
      const next = this.#waitingForBuffer[0]!;
      if (next.state !== 'data-out') {
        this.#waitingForBuffer.shift();
        continue;
      }
      if (this.#bufferedWrite > 0 && this.#bufferedWrite + next.edtl > this.#maxBufferedWrite) return;
      this.#waitingForBuffer.shift();
      this.#giveBuffer(next);
    }
  }

  /** Bytes of write data buffered on this connection (for counters and tests). */
  get bufferedWrite(): number {
    return this.#bufferedWrite;
  }

  #issueR2Ts(task: TargetTask): void {
    if (task.buffer === null) return; // waiting for room: R2Ts come with the buffer
    const s = this.session;
    while (task.outstandingR2T < s.params.maxOutstandingR2T && task.nextR2TOffset < task.edtl) {
      const len = Math.min(s.params.maxBurstLength, task.edtl - task.nextR2TOffset);
      let ttt = this.#nextTtt;
      this.#nextTtt = this.#nextTtt === 0xfffffffe ? 1 : this.#nextTtt + 1;
      if (ttt === RESERVED_TAG) ttt = 1;
      const d = this.#r2t.issue({
        itt: task.itt,
        ttt,
        r2tSN: task.r2tSN,
        bufferOffset: task.nextR2TOffset,
        desiredDataTransferLength: len,
        owner: task,
      });
      if (d === undefined) return; // pool exhausted: the next completed burst issues it
      task.r2tSN++;
      task.outstandingR2T++;
      task.nextR2TOffset += len;
      this.#host.send({
        opcode: Opcode.R2T,
        lun: task.lunField,
        itt: task.itt,
        ttt,
        // R2T carries the current StatSN without consuming it (RFC 7143 §11.8).
        statSN: this.#statSN,
        expCmdSN: s.expCmdSN,
        maxCmdSN: s.maxCmdSN,
        r2tSN: d.r2tSN,
        bufferOffset: d.bufferOffset,
        desiredDataTransferLength: len,
      });
    }
  }

  #onDataOut(pdu: DataOutPdu): void {
    const task = this.session.tasks.get(pdu.itt);
    if (task === undefined || task.state !== 'data-out') {
      // Data for a task that ended early (CHECK CONDITION, abort): dropped without a word.
      this.#host.log.debug({ itt: pdu.itt }, 'Data-Out for no task awaiting data, ignored');
      return;
    }
    const len = pdu.data.length;
    if (pdu.ttt === RESERVED_TAG) {
      // Unsolicited data (RFC 7143 §4.2.3.5): DataSN from 0, offsets in order, within FirstBurstLength.
      if (task.unsolicitedDone) return this.#dataOutError(task, 'unsolicited Data-Out after the unsolicited burst ended');
      if (pdu.dataSN !== task.unsolicitedDataSN) {
        return this.#dataOutError(task, `Data-Out DataSN ${pdu.dataSN}, expected ${task.unsolicitedDataSN}`);
      }
      if (pdu.bufferOffset !== task.received) {
        return this.#dataOutError(task, `Data-Out offset ${pdu.bufferOffset}, expected ${task.received}`, 0x05);
      }
      if (task.received + len > task.unsolicitedLimit) return this.#dataOutError(task, 'unsolicited data beyond FirstBurstLength', 0x02);
      if (task.buffer !== null) pdu.data.copy(task.buffer, task.received);
      else task.parts.push(pdu.data);
      task.received += len;
      task.unsolicitedDataSN++;
      this.session.stats.writeBytes += len;
      if (pdu.final || task.received >= task.unsolicitedLimit) {
        if (!pdu.final) return this.#dataOutError(task, 'unsolicited burst complete without F');
        task.unsolicitedDone = true;
        task.nextR2TOffset = task.received;
        this.#issueR2Ts(task);
      }
    } else {
      const d = this.#r2t.byTtt(pdu.ttt);
      if (d === undefined || d.itt !== task.itt) return this.#dataOutError(task, `Data-Out TTT 0x${pdu.ttt.toString(16)} matches no R2T`, 0x01);
      if (pdu.dataSN !== d.nextDataSN) return this.#dataOutError(task, `Data-Out DataSN ${pdu.dataSN}, expected ${d.nextDataSN}`);
      const expected = d.bufferOffset + d.done;
      if (pdu.bufferOffset !== expected) return this.#dataOutError(task, `Data-Out offset ${pdu.bufferOffset}, expected ${expected}`, 0x05);
      if (d.done + len > d.desiredDataTransferLength) return this.#dataOutError(task, 'Data-Out beyond the R2T burst', 0x02);
      pdu.data.copy(task.buffer!, pdu.bufferOffset);
      d.done += len;
      d.nextDataSN++;
      task.received += len;
      this.session.stats.writeBytes += len;
      if (d.done === d.desiredDataTransferLength) {
        if (!pdu.final) return this.#dataOutError(task, 'R2T burst complete without F');
        this.#r2t.retire(d);
        task.outstandingR2T--;
        this.#issueR2Ts(task);
      } else if (pdu.final) {
        return this.#dataOutError(task, 'F set before the R2T burst was complete');
      }
    }
    if (task.allDataReceived && task.outstandingR2T === 0 && task.unsolicitedDone) this.#run(task);
  }

  // A broken Data-Out sequence (bad DataSN, offset, TTT or burst) cannot be recovered at
  // ErrorRecoveryLevel 0 (RFC 7143 §7.1.4). The task ends with CHECK CONDITION, ABORTED COMMAND and the
  // SPC data-phase ASC that names the fault; Data-Out still in flight for it is ignored, and the
  // connection, which is intact, goes on (libiscsi's iSCSIDataSnInvalid expects the write to fail).
  #dataOutError(task: TargetTask, why: string, ascq = 0x00): void {
    this.#host.log.warn({ itt: task.itt, reason: why }, 'Data-Out sequence error, failing the command');
    this.session.stats.errors++;
    this.#r2t.retireTask(task.itt);
    task.outstandingR2T = 0;
    this.#respond(task, {
      status: STATUS.CHECK_CONDITION,
      sense: buildFixedSense({ key: SENSE_KEY.ABORTED_COMMAND, asc: 0x4b, ascq }),
      dataOutLength: task.edtl,
    });
  }

  #run(task: TargetTask): void {
    task.state = 'running';
    // In arrival order: a command waits while one before it waits (task attributes keep their meaning).
    if (this.#waitingToRun.length > 0 || !this.#mayStart(task)) {
      this.#waitingToRun.push(task);
      return;
    }
    this.#start(task);
  }

  /** Room for the task's Data-In: under maxReadInFlight (one read always may) and the socket not congested. */
  #mayStart(task: TargetTask): boolean {
    if (task.readLength === 0) return true;
    if (this.#host.congested?.() === true) return false;
    return this.#readBytesInFlight === 0 || this.#readBytesInFlight + task.readLength <= this.#maxReadInFlight;
  }

  /** Starts what waits, while there is room (after a read finished or the socket drained). */
  #startWaiting(): void {
    if (this.#startingWaiters) return;
    this.#startingWaiters = true;
    try {
      while (this.#waitingToRun.length > 0 && !this.#stopped) {
        const t = this.#waitingToRun[0]!;
        if (t.aborted) {
          this.#waitingToRun.shift();
          this.#finishTask(t);
          continue;
        }
        if (!this.#mayStart(t)) return;
        this.#waitingToRun.shift();
        this.#start(t);
      }
    } finally {
      this.#startingWaiters = false;
    }
  }

  /** The socket drained below its high-water mark: reads that waited for it may start. */
  outputDrained(): void {
    this.#startWaiting();
  }

  /** Data-In bytes of reads started and not finished (for counters and tests). */
  get readBytesInFlight(): number {
    return this.#readBytesInFlight;
  }

  #start(task: TargetTask): void {
    const execute = this.#host.execute!;
    if (task.readLength > 0) {
      this.#readsInFlight.add(task);
      this.#readBytesInFlight += task.readLength;
    }
    let dataOut: Buffer | null = null;
    // Everything arrived while the write waited for a buffer: the PDU buffers themselves will do.
    if (task.write && task.buffer === null && task.parts.length > 0) task.buffer = task.parts.length === 1 ? task.parts[0]! : Buffer.concat(task.parts);
    if (task.write && task.buffer !== null) dataOut = task.received === task.buffer.length ? task.buffer : task.buffer.subarray(0, task.received);
    const cmd: ScsiCommand = {
      nexus: this.session.nexus!,
      lun: task.lun ?? -1,
      cdb: task.cdb,
      taskAttribute: task.attr,
      taskTag: task.itt,
      dataOut,
      dataInLength: task.readLength,
      signal: task.abort.signal,
    };
    execute(cmd).then(
      (res) => this.#respond(task, res),
      (err: unknown) => {
        if (task.aborted || this.#stopped) {
          this.#finishTask(task);
          return;
        }
        this.#host.log.error({ err, itt: task.itt }, 'SCSI layer failed a command');
        this.#respond(task, {
          status: STATUS.CHECK_CONDITION,
          sense: buildFixedSense({ key: SENSE_KEY.HARDWARE_ERROR, asc: 0x44, ascq: 0x00 }),
        });
      },
    );
  }

  /** Sends Data-In and status (RFC 7143 §11.4, §11.7), then retires the task. */
  #respond(task: TargetTask, res: ScsiResponse): void {
    if (task.aborted || this.#stopped) {
      // An aborted task finishes without a response (SAM-5 §7.2); its TMF answers for it.
      this.#finishTask(task);
      return;
    }
    const s = this.session;
    this.#releaseSlot(task);
    const data = res.data;
    const spdtlIn = data?.length ?? 0;
    const sendable = Math.min(spdtlIn, task.readLength);
    // Residuals (RFC 7143 §11.4.5): against the EDTL of the direction that moved data.
    let overflow = false;
    let underflow = false;
    let residual = 0;
    if (task.write) {
      const spdtl = res.dataOutLength ?? task.edtl;
      if (spdtl > task.edtl) {
        overflow = true;
        residual = spdtl - task.edtl;
      } else if (spdtl < task.edtl) {
        underflow = true;
        residual = task.edtl - spdtl;
      }
    } else if (task.read || spdtlIn > 0) {
      const edtl = task.read ? task.readLength : 0;
      if (spdtlIn > edtl) {
        overflow = true;
        residual = spdtlIn - edtl;
      } else if (spdtlIn < edtl) {
        underflow = true;
        residual = edtl - spdtlIn;
      }
    } else if (task.edtl > 0 && !task.write && !task.read) {
      // EDTL without R or W: nothing moves, the whole EDTL is unused.
      underflow = true;
      residual = task.edtl;
    }
    const hasSense = res.sense !== undefined && res.sense.length > 0;
    // RFC 7143 §11.7.5: status may ride on the last Data-In only when there is no sense data.
    const collapse = sendable > 0 && !hasSense;
    let dataSN = 0;
    if (sendable > 0) {
      dataSN = this.#sendDataIn(task, data!, sendable, collapse ? { status: res.status, overflow, underflow, residual } : undefined);
      s.stats.readBytes += sendable;
    }
    if (!collapse) {
      this.#host.send({
        opcode: Opcode.ScsiResponse,
        bidiReadResidualOverflow: false,
        bidiReadResidualUnderflow: false,
        residualOverflow: overflow,
        residualUnderflow: underflow,
        response: IscsiResponse.CommandCompleted,
        status: res.status,
        itt: task.itt,
        snackTag: 0,
        statSN: this.#nextStatSN(),
        expCmdSN: 0, // filled below, after the task leaves the window
        maxCmdSN: 0,
        expDataSN: dataSN,
        bidiReadResidualCount: 0,
        residualCount: residual,
        sense: res.sense ?? EMPTY,
        responseData: EMPTY,
      });
    }
    this.#finishTask(task);
  }

  /** Splits Data-In by MaxRecvDataSegmentLength, sequences by MaxBurstLength; returns PDUs sent. */
  #sendDataIn(
    task: TargetTask,
    data: Buffer,
    length: number,
    status: { status: number; overflow: boolean; underflow: boolean; residual: number } | undefined,
  ): number {
    const s = this.session;
    const maxSeg = this.#conn.maxSendDataSegmentLength;
    const maxBurst = s.params.maxBurstLength;
    let offset = 0;
    let dataSN = 0;
    let burstLeft = maxBurst;
    while (offset < length) {
      const n = Math.min(maxSeg, length - offset, burstLeft);
      const last = offset + n === length;
      burstLeft -= n;
      const endOfSequence = last || burstLeft === 0;
      const withStatus = last && status !== undefined;
      this.#host.send({
        opcode: Opcode.DataIn,
        final: endOfSequence,
        acknowledge: false,
        residualOverflow: withStatus && status.overflow,
        residualUnderflow: withStatus && status.underflow,
        statusPresent: withStatus,
        status: withStatus ? status.status : 0,
        lun: task.lunField,
        itt: task.itt,
        ttt: RESERVED_TAG,
        statSN: withStatus ? this.#nextStatSN() : 0,
        expCmdSN: 0,
        maxCmdSN: 0,
        dataSN,
        bufferOffset: offset,
        residualCount: withStatus ? status.residual : 0,
        data: offset === 0 && n === data.length ? data : data.subarray(offset, offset + n),
      });
      dataSN++;
      offset += n;
      if (burstLeft === 0) burstLeft = maxBurst;
    }
    return dataSN;
  }

  /** Frees the task's slot of the command window, so the status it is about to carry opens it. */
  #releaseSlot(task: TargetTask): void {
    if (task.slotReleased) return;
    task.slotReleased = true;
    const s = this.session;
    if (s.tasks.get(task.itt) === task) s.tasks.delete(task.itt);
    if (task.immediate) this.#immediateActive--;
    else s.active--;
  }

  #finishTask(task: TargetTask): void {
    if (task.state === 'done') return;
    this.#releaseSlot(task);
    if (this.#readsInFlight.delete(task)) {
      this.#readBytesInFlight -= task.readLength;
      this.#startWaiting();
    }
    this.#r2t.retireTask(task.itt);
    task.buffer = null;
    task.parts.length = 0;
    if (task.bufferCounted) {
      task.bufferCounted = false;
      this.#bufferedWrite -= task.edtl;
      this.#drainWaitingForBuffer();
    }
    task.finish();
  }

  /** A TMF aborted the task: one still owed Data-Out never reaches the SCSI layer and ends now. */
  abandon(task: TargetTask): void {
    this.#r2t.retireTask(task.itt);
    task.outstandingR2T = 0;
    const waiting = this.#waitingToRun.indexOf(task);
    if (waiting >= 0) this.#waitingToRun.splice(waiting, 1);
    if (task.state === 'data-out' || waiting >= 0) this.#finishTask(task);
  }

  /** The negotiated connection values (MaxRecvDataSegmentLength may change in full feature phase). */
  get connectionParams(): ConnectionParams {
    return this.#conn;
  }

  // --- other requests --------------------------------------------------------------------------

  #onNopOut(pdu: NopOutPdu): void {
    const answer = (): void => {
      if (pdu.ttt !== RESERVED_TAG) {
        // The answer to our ping: liveness is already noted.
        if (pdu.ttt === this.#pingTtt) this.#pingTtt = undefined;
        if (pdu.itt === RESERVED_TAG) return;
      }
      if (pdu.itt === RESERVED_TAG) return;
      // RFC 7143 §11.19: echo the ping data, up to what the initiator can receive.
      const data = pdu.data.length > this.#conn.maxSendDataSegmentLength ? pdu.data.subarray(0, this.#conn.maxSendDataSegmentLength) : pdu.data;
      this.#host.send({
        opcode: Opcode.NopIn,
        lun: pdu.lun,
        itt: pdu.itt,
        ttt: RESERVED_TAG,
        statSN: this.#nextStatSN(),
        expCmdSN: 0,
        maxCmdSN: 0,
        data,
      });
    };
    // A NOP-Out that answers a ping (TTT set) or wants no answer is not a command: no CmdSN (§11.18).
    if (pdu.ttt !== RESERVED_TAG || pdu.itt === RESERVED_TAG) answer();
    else this.#ordered(pdu, answer);
  }

  #onTmf(pdu: TaskManagementRequestPdu): void {
    this.#host.tmf.handle(this, pdu).then(
      (r) => {
        if (this.#stopped) return;
        this.#host.send({
          opcode: Opcode.TaskManagementResponse,
          response: r.response,
          itt: pdu.itt,
          statSN: this.#nextStatSN(),
          expCmdSN: 0,
          maxCmdSN: 0,
          additionalResponseInformation: r.additionalResponseInformation ?? 0,
        });
        r.after?.();
      },
      (err: unknown) => {
        this.#host.log.error({ err }, 'task management failed');
        this.#host.drop('task management failed');
      },
    );
  }

  #onText(pdu: TextRequestPdu, bhs: Buffer): void {
    const out = this.#host.text.respond(this, pdu);
    if (out === undefined) return;
    if ('reject' in out) return this.reject(out.reject, bhs, out.why);
    this.#host.send({
      opcode: Opcode.TextResponse,
      final: out.final,
      continue: out.continue,
      lun: pdu.lun,
      itt: pdu.itt,
      ttt: out.ttt,
      statSN: this.#nextStatSN(),
      expCmdSN: 0,
      maxCmdSN: 0,
      data: out.data,
    });
  }

  #onLogout(pdu: LogoutRequestPdu): void {
    let response: number = LogoutResponseCode.Success;
    if (pdu.reasonCode === LogoutReason.RemoveConnectionForRecovery) {
      // Connection recovery needs ErrorRecoveryLevel 2 (RFC 7143 §11.15.1).
      response = LogoutResponseCode.RecoveryNotSupported;
    } else if (pdu.reasonCode === LogoutReason.CloseConnection && pdu.cid !== this.cid) {
      response = LogoutResponseCode.CidNotFound;
    }
    const send = (): void => {
      if (this.#stopped) return;
      this.#host.send({
        opcode: Opcode.LogoutResponse,
        response,
        itt: pdu.itt,
        statSN: this.#nextStatSN(),
        expCmdSN: 0,
        maxCmdSN: 0,
        time2Wait: 0,
        time2Retain: 0,
      });
      if (response === LogoutResponseCode.Success) this.#host.closeAfterLogout();
    };
    if (response !== LogoutResponseCode.Success) return send();
    // RFC 7143 §11.14: the logout completes after the connection's outstanding tasks; at ERL 0 we let
    // running tasks finish (their status is still delivered) and abort those still owed Data-Out.
    this.#loggingOut = true;
    const waits: Promise<void>[] = [];
    for (const t of this.session.tasks.values()) {
      if (t.state === 'data-out') {
        t.aborted = true;
        t.abort.abort(new Error('logout'));
        this.#finishTask(t);
      } else if (t.state === 'running') {
        waits.push(t.finished);
      }
    }
    if (waits.length === 0) send();
    else void Promise.all(waits).then(send);
  }

  /** Sends an Asynchronous Message (RFC 7143 §11.9). */
  sendAsync(event: number, opts: { lun?: bigint; sense?: Buffer; parameter1?: number; parameter2?: number; parameter3?: number } = {}): void {
    if (this.#stopped) return;
    this.#host.send({
      opcode: Opcode.AsyncMessage,
      lun: opts.lun ?? 0n,
      statSN: this.#nextStatSN(),
      expCmdSN: 0,
      maxCmdSN: 0,
      asyncEvent: event,
      asyncVCode: 0,
      parameter1: opts.parameter1 ?? 0,
      parameter2: opts.parameter2 ?? 0,
      parameter3: opts.parameter3 ?? 0,
      sense: opts.sense ?? EMPTY,
      eventData: EMPTY,
    });
  }

  /** Asks the initiator to log out within `seconds` (RFC 7143 §11.9.1 AsyncEvent 1). */
  requestLogout(seconds: number): void {
    this.sendAsync(AsyncEvent.LogoutRequest, { parameter3: seconds });
  }

  /** Answers a PDU with Reject (RFC 7143 §11.17); the offending header goes back in the data. */
  reject(reason: number, bhs: Buffer, why: string): void {
    this.#host.log.info({ reason, why }, 'rejecting a PDU');
    const header = Buffer.from(bhs.subarray(0, 48));
    this.#host.send({
      opcode: Opcode.Reject,
      reason,
      statSN: this.#nextStatSN(),
      expCmdSN: 0,
      maxCmdSN: 0,
      dataSN: 0,
      data: header,
    });
  }

  /** Fills ExpCmdSN/MaxCmdSN at the last moment, so every PDU carries the current window. */
  stamp(pdu: TargetPdu): void {
    if ('expCmdSN' in pdu) {
      pdu.expCmdSN = this.session.expCmdSN;
      pdu.maxCmdSN = this.session.maxCmdSN;
    }
  }

  #nextStatSN(): number {
    const sn = this.#statSN;
    this.#statSN = snAdd(sn, 1);
    return sn;
  }

  // --- liveness ----------------------------------------------------------------------------------

  #armPing(): void {
    if (this.#nopInterval <= 0 || this.#stopped) return;
    this.#pingTimer = this.#host.clock.setTimeout(() => this.#onPingTimer(), this.#nopInterval);
  }

  #onPingTimer(): void {
    if (this.#stopped) return;
    const now = this.#host.clock.now();
    const quiet = now - this.#lastHeard;
    if (this.#pingTtt !== undefined && quiet >= this.#nopTimeout) {
      this.#host.log.warn({ quietMs: quiet }, 'NOP-In ping unanswered, dropping the connection');
      this.#host.drop('NOP-In ping timed out');
      return;
    }
    if (this.#pingTtt === undefined && quiet >= this.#nopInterval) {
      let ttt = this.#nextTtt;
      this.#nextTtt = this.#nextTtt === 0xfffffffe ? 1 : this.#nextTtt + 1;
      if (ttt === RESERVED_TAG) ttt = 1;
      this.#pingTtt = ttt;
      // A ping carries the current StatSN without consuming it (RFC 7143 §11.19.1).
      this.#host.send({ opcode: Opcode.NopIn, lun: 0n, itt: RESERVED_TAG, ttt, statSN: this.#statSN, expCmdSN: 0, maxCmdSN: 0, data: EMPTY });
      this.#pingTimer = this.#host.clock.setTimeout(() => this.#onPingTimer(), this.#nopTimeout);
      return;
    }
    const wait = this.#pingTtt !== undefined ? this.#nopTimeout - quiet : this.#nopInterval - quiet;
    this.#pingTimer = this.#host.clock.setTimeout(() => this.#onPingTimer(), Math.max(1, wait));
  }
}

const EMPTY: Buffer = Buffer.alloc(0);
