// Task management requests the initiator has outstanding (RFC 7143 §11.5, §11.6, RFC 7144): ABORT TASK
// for a command its caller gave up on, LOGICAL UNIT RESET when an abort goes unanswered, and whatever
// function the library's caller asks for. Each has a deadline; the core escalates what expires (ABORT
// TASK → LUN RESET → connection recovery).

import { Opcode, RESERVED_TAG, TmfFunction } from '../../pdu/constants.js';
import type { TaskManagementRequestPdu } from '../../pdu/types.js';

/** The target's answer to a TMF (RFC 7143 §11.6). */
export interface TmfAnswer {
  response: number;
  /** RFC 7144 §4.2: QUERY ASYNCHRONOUS EVENT carries UADE DEPTH, SENSE KEY, ASC and ASCQ here. */
  additionalResponseInformation: number;
}

/** One outstanding TMF. */
export interface TmfEntry {
  itt: number;
  function: number;
  lun: bigint;
  /** For ABORT TASK, QUERY TASK: the ITT of the task referred to. */
  referencedTaskTag: number;
  /**
   * The CmdSN the request carried: commands sent before it have lower CmdSNs, and only those can be
   * affected by it (the target acts on what it received before the TMF).
   */
  cmdSN: number;
  deadline: number;
  /** How long the target was given, for messages. */
  timeoutMs: number;
  /** Answers an awaited TMF (the library caller's); null for internal ones (abort, escalation). */
  done: ((answer: TmfAnswer | Error) => void) | null;
}

/** The first tag of the core's own PDUs (TMF, NOP-Out ping, Text, Logout); task ITTs stay below it. */
export const FIRST_OWN_TAG = 0x80000000;

/** Tags for non-command PDUs: the upper half of the ITT space, never 0xffffffff (RFC 7143 §11.2.1.8). */
export class TagSource {
  #next = 0;
  /** The next tag. */
  next(): number {
    this.#next = (this.#next + 1) & 0x7ffffffe;
    return (FIRST_OWN_TAG | this.#next) >>> 0;
  }
}

/** The TMF requests in flight, by ITT, with their deadlines. */
export class TmfTracker {
  readonly #pending = new Map<number, TmfEntry>();
  readonly #tags: TagSource;

  constructor(tags: TagSource) {
    this.#tags = tags;
  }

  /** Requests outstanding. */
  get size(): number {
    return this.#pending.size;
  }

  /** Builds the request and records it (forward path: it is stamped with the current CmdSN). */
  request(
    fn: number,
    lun: bigint,
    ref: { itt: number; cmdSN: number } | null,
    cmdSN: number,
    expStatSN: number,
    deadline: number,
    done: TmfEntry['done'] = null,
    timeoutMs = 0,
  ): { entry: TmfEntry; pdu: TaskManagementRequestPdu } {
    const itt = this.#tags.next();
    const entry: TmfEntry = { itt, function: fn, lun, referencedTaskTag: ref?.itt ?? RESERVED_TAG, cmdSN, deadline, timeoutMs, done };
    this.#pending.set(itt, entry);
    return {
      entry,
      pdu: {
        opcode: Opcode.TaskManagementRequest,
        // RFC 7143 §11.5: TMF requests are sent as immediate commands so a closed window cannot stop them.
        immediate: true,
        function: fn,
        lun,
        itt,
        referencedTaskTag: ref?.itt ?? RESERVED_TAG,
        cmdSN,
        expStatSN,
        // RFC 7143 §11.5.5: RefCmdSN is the referenced task's CmdSN (ABORT TASK; QUERY TASK alike).
        refCmdSN: (fn === TmfFunction.AbortTask || fn === TmfFunction.QueryTask) && ref !== null ? ref.cmdSN : cmdSN,
        expDataSN: 0,
      },
    };
  }

  /** The entry a response answers, removed; undefined for an unknown tag. */
  take(itt: number): TmfEntry | undefined {
    const e = this.#pending.get(itt);
    if (e !== undefined) this.#pending.delete(itt);
    return e;
  }

  /** Entries whose deadline passed, removed. */
  expired(now: number): TmfEntry[] {
    let out: TmfEntry[] | undefined;
    for (const e of this.#pending.values()) {
      if (e.deadline <= now) (out ??= []).push(e);
    }
    if (out === undefined) return [];
    for (const e of out) this.#pending.delete(e.itt);
    return out;
  }

  /** Drops every entry (the connection is gone), answering awaited ones with `err`. */
  clear(err: Error): TmfEntry[] {
    const all = [...this.#pending.values()];
    this.#pending.clear();
    for (const e of all) e.done?.(err);
    return all;
  }

  /** An outstanding ABORT TASK for `itt`, if any. */
  abortFor(itt: number): TmfEntry | undefined {
    for (const e of this.#pending.values()) if (e.function === TmfFunction.AbortTask && e.referencedTaskTag === itt) return e;
    return undefined;
  }

  /** True when a LUN RESET for `lun` is outstanding. */
  resetPending(lun: bigint): boolean {
    for (const e of this.#pending.values()) if (e.function === TmfFunction.LogicalUnitReset && e.lun === lun) return true;
    return false;
  }
}
