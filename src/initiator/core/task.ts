// Tasks: one preallocated record per command slot, reused for the life of the session (no per-I/O
// allocation of protocol state). The pool is a stack taken from on the submit path (frwdLock) and given
// back to on the response path (backLock). The ITT carries a generation so a late PDU for a previous
// use of the slot is recognised as stale, never delivered to the new command.

import type { CommandResult } from './result.js';
import { FIRST_OWN_TAG } from './tmf.js';

/** The most tasks a session can have: the ITT keeps 12 bits for the slot. */
export const MAX_QUEUE_DEPTH = 4096;
const SLOT_BITS = 12;
const SLOT_MASK = (1 << SLOT_BITS) - 1;
/** Task ITTs stay below 2^31; the upper half of the tag space is for TMF, NOP-Out, Text and Logout. */
const GEN_MASK = 0x7ffff;

/**
 * Where a task is:
 * - `free`: in the pool;
 * - `queued`: holds a slot, waits for the CmdSN window, the socket or a new connection;
 * - `active`: its SCSI Command PDU went out with a CmdSN;
 * - `aborting`: its caller has been answered (abort or timeout) and an ABORT TASK is under way; PDUs
 *   for it are dropped until the target confirms, then the slot returns to the pool.
 */
export type TaskState = 'free' | 'queued' | 'active' | 'aborting';

/** One submission: what the caller asked and how to answer it. Allocated per command. */
export interface Pending {
  lun: bigint;
  cdb: Buffer;
  /** Expected Data-In bytes (0 for none). */
  readLength: number;
  /** Caller's buffer for Data-In, or null to let the session provide one. */
  into: Buffer | null;
  /** Data-Out bytes, or null. */
  dataOut: Buffer | null;
  /** Task attribute (RFC 7143 §11.3.1.1). */
  attr: number;
  /** The timeout asked for, in ms (0: none). */
  timeout: number;
  /** Absolute deadline on the session clock, or Infinity. */
  deadline: number;
  signal: AbortSignal | null;
  onAbort: (() => void) | null;
  /** UNIT ATTENTION retries left (the command is sent again after a unit attention). */
  uaRetries: number;
  /** Submission order, kept across re-issues so a new connection sees commands in their first order. */
  order: number;
  task: Task | null;
  settled: boolean;
  resolve: (r: CommandResult) => void;
  reject: (e: Error) => void;
}

/**
 * Names one command for the task management functions that refer to a task (ABORT TASK, QUERY TASK,
 * RFC 7143 §11.5, RFC 7144): give it in the command's options, then to `Session.abortTask` or
 * `Session.queryTask`. A handle names one command; it cannot be given to a second one.
 */
export class TaskHandle {
  /** @internal The submission this handle names, once submitted. */
  pending: Pending | null = null;

  /**
   * `'new'`: not submitted yet; `'queued'`: waiting for the window, the socket or a connection (the
   * target knows nothing of it); `'sent'`: on the wire; `'settled'`: its caller has been answered.
   */
  get state(): 'new' | 'queued' | 'sent' | 'settled' {
    const p = this.pending;
    if (p === null) return 'new';
    if (p.settled) return 'settled';
    const t = p.task;
    return t === null || t.state === 'queued' || t.state === 'free' ? 'queued' : 'sent';
  }
}

/** A command slot. Fields are grouped by the path that writes them. */
export class Task {
  /** Index in the pool, kept in the low bits of every ITT the slot gives out. */
  readonly slot: number;
  itt = 0;
  state: TaskState = 'free';
  pending: Pending | null = null;
  // Forward: set when the command is sent.
  cmdSN = 0;
  /** Bytes sent unsolicited (immediate data and unsolicited Data-Out, RFC 7143 §13.10, §13.11). */
  unsolicited = 0;
  // Backward: Data-In (RFC 7143 §11.7).
  expDataSN = 0;
  received = 0;
  /** The buffer Data-In is copied into (caller's or allocated), or null. */
  buf: Buffer | null = null;
  /** Zero-copy: the data segment of a single Data-In that carried everything. */
  view: Buffer | null = null;
  // Backward: R2T (RFC 7143 §11.8).
  expR2TSN = 0;
  /** Offset the next R2T must start at (DataSequenceInOrder=Yes). */
  nextR2TOffset = 0;
  outstandingR2T = 0;
  /** An ABORT TASK for this task is outstanding, with this TMF tag. */
  abortTag = 0;

  constructor(slot: number) {
    this.slot = slot;
  }

  /** Clears the per-connection protocol state, for a first send or a re-issue. */
  resetProtocolState(): void {
    this.cmdSN = 0;
    this.unsolicited = 0;
    this.expDataSN = 0;
    this.received = 0;
    this.buf = null;
    this.view = null;
    this.expR2TSN = 0;
    this.nextR2TOffset = 0;
    this.outstandingR2T = 0;
    this.abortTag = 0;
  }
}

/** The preallocated task pool. `take` belongs to the forward path, `put` to the backward path. */
export class TaskPool {
  /** Every slot, free or not, by slot number. */
  readonly tasks: readonly Task[];
  readonly #free: Task[];
  #generation = 0;

  constructor(size: number) {
    if (!Number.isInteger(size) || size < 1 || size > MAX_QUEUE_DEPTH) {
      throw new RangeError(`queue depth ${size} must be an integer from 1 to ${MAX_QUEUE_DEPTH}`);
    }
    const tasks: Task[] = [];
    for (let i = 0; i < size; i++) tasks.push(new Task(i));
    this.tasks = tasks;
    // Lowest slot on top, so a light load keeps reusing the same few tasks.
    this.#free = [...tasks].reverse();
  }

  /** Slots in all. */
  get size(): number {
    return this.tasks.length;
  }

  /** Slots in the pool now. */
  get free(): number {
    return this.#free.length;
  }

  /** Takes a free task and gives it a fresh ITT (forward path, under frwdLock). */
  take(): Task | undefined {
    const t = this.#free.pop();
    if (t === undefined) return undefined;
    this.#generation = (this.#generation + 1) & GEN_MASK;
    t.itt = ((this.#generation << SLOT_BITS) | t.slot) >>> 0;
    t.state = 'queued';
    t.resetProtocolState();
    return t;
  }

  /** Returns a task to the pool (backward path, under backLock). Idempotent. */
  put(t: Task): void {
    if (t.state === 'free') return;
    t.state = 'free';
    t.pending = null;
    t.buf = null;
    t.view = null;
    this.#free.push(t);
  }

  /** The live task with this ITT, or undefined (free slot, or a stale generation). */
  byItt(itt: number): Task | undefined {
    if (itt >= FIRST_OWN_TAG) return undefined;
    const t = this.tasks[itt & SLOT_MASK];
    if (t === undefined || t.state === 'free' || t.itt !== itt) return undefined;
    return t;
  }
}
