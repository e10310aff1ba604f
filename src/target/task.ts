// One SCSI task on the target: what arrived with its command, the Data-Out still owed (immediate,
// unsolicited, R2T-solicited), its abort signal, and a promise that settles when it is finished.

import type { ScsiCommandPdu } from '../pdu/types.js';
import type { TaskAttribute } from '../scsi/types.js';

/** Where a task is: gathering its Data-Out, handed to (or waiting for) the SCSI layer, or finished. */
export type TaskState = 'data-out' | 'running' | 'done';

const ATTRS: readonly TaskAttribute[] = ['untagged', 'simple', 'ordered', 'head-of-queue', 'aca'];

const MAX_POOLED = 1024;
const controllers: AbortController[] = [];

function takeController(): AbortController {
  return controllers.pop() ?? new AbortController();
}

/** One SCSI task of a target session, from its command to its status. */
export class TargetTask {
  readonly itt: number;
  readonly cmdSN: number;
  readonly immediate: boolean;
  readonly lun: number | undefined;
  readonly lunField: bigint;
  readonly cdb: Buffer;
  readonly attr: TaskAttribute;
  readonly read: boolean;
  readonly write: boolean;
  readonly edtl: number;
  /** Data-In limit: the EDTL, or for a bidirectional command the AHS read length. */
  readonly readLength: number;
  readonly abort: AbortController;
  /** Set by a TMF: the task must finish without a response (RFC 7143 §4.2.3.4 / SAM-5 §7.2). */
  aborted = false;
  state: TaskState = 'data-out';
  /** The task's command-window slot was given back (its status is on its way). */
  slotReleased = false;

  // Data-Out bookkeeping (RFC 7143 §4.2.3.5 and §11.7): bytes arrive in order (DataPDUInOrder=Yes).
  buffer: Buffer | null = null;
  /** Data received before the buffer was given (immediate data, unsolicited Data-Out), in order. */
  readonly parts: Buffer[] = [];
  /** The buffer counts against the connection's maxBufferedWrite. */
  bufferCounted = false;
  received = 0;
  /** Unsolicited data (immediate + Data-Out with the reserved TTT) the initiator may still send. */
  unsolicitedLimit = 0;
  unsolicitedDone = true;
  unsolicitedDataSN = 0;
  /** Next byte offset an R2T will ask for. */
  nextR2TOffset = 0;
  r2tSN = 0;
  outstandingR2T = 0;
  #finished: Promise<void> | undefined;
  #resolve: (() => void) | undefined;
  /** When the task arrived (clock ms), for timeouts. */
  readonly started: number;
  /** When the task was admitted (performance.now() ms, stats/clock.ts), set only while counters or a channel want latency. */
  t0 = 0;

  constructor(pdu: ScsiCommandPdu, lun: number | undefined, now: number) {
    this.abort = takeController();
    this.itt = pdu.itt;
    this.cmdSN = pdu.cmdSN;
    this.immediate = pdu.immediate;
    this.lun = lun;
    this.lunField = pdu.lun;
    this.cdb = pdu.cdb;
    this.attr = ATTRS[pdu.attr] ?? 'simple';
    this.read = pdu.read;
    this.write = pdu.write;
    this.edtl = pdu.expectedDataTransferLength;
    this.readLength = pdu.read ? (pdu.write ? (pdu.bidiReadExpectedDataTransferLength ?? 0) : pdu.expectedDataTransferLength) : 0;
    this.started = now;
  }

  /** Bytes of Data-Out expected in all. */
  get dataOutLength(): number {
    return this.write ? this.edtl : 0;
  }

  get allDataReceived(): boolean {
    return this.received >= this.dataOutLength;
  }

  finish(): void {
    this.state = 'done';
    // A controller that never fired goes back to the pool: once a task has finished nothing waits on
    // its signal (every listener is removed when its wait ends), and creating an AbortSignal costs an
    // EventTarget per command (4% of the CPU of a 4 KiB read load, measured).
    if (!this.aborted && !this.abort.signal.aborted && controllers.length < MAX_POOLED) controllers.push(this.abort);
    this.#resolve?.();
  }

  /**
   * Settles when the task is finished, its status sent or suppressed. Made on demand: only task
   * management and logout wait for a task, and a promise per command is garbage on the hot path.
   */
  get finished(): Promise<void> {
    if (this.#finished === undefined) {
      this.#finished = this.state === 'done' ? Promise.resolve() : new Promise<void>((r) => (this.#resolve = r));
    }
    return this.#finished;
  }
}
