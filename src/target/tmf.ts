// Task management on the target (RFC 7143 §11.5/§11.6, RFC 7144, SAM-5 §7). Order of work: mark the
// affected tasks aborted and fire their AbortSignals, tell the logical units and their backends which
// tasks were aborted *before* waiting (a backend holding one of them learns it must end it; told after,
// the wait would hang on it), then wait for each to finish, then answer (SAM-5 §7: the function completes
// once the tasks it aborts are gone). An ITT freed by an abort can be reused only after the answer: the
// task stays registered until it has finished, and the answer is queued in the same turn as the last of
// them finishes (the wait and the answer are promise callbacks of that turn), before any further PDU of
// the initiator is read.

import type { Logger } from 'pino';
import { TmfFunction, TmfResponse } from '../pdu/constants.js';
import { lunFromField } from '../pdu/lun.js';
import type { TaskManagementRequestPdu } from '../pdu/types.js';
import { snInWindow, snLt } from '../util/serial.js';
import type { TmfType } from '../scsi/types.js';
import type { TargetSession } from './session.js';
import type { TargetTask } from './task.js';

/** What task management needs of a full feature connection (the engine implements it). */
export interface TmfConnection {
  readonly session: TargetSession;
  /** The session's tasks by ITT (MaxConnections=1: the connection's too). */
  readonly tasks: ReadonlyMap<number, TargetTask>;
  /** ABORT TASK for a command not yet received: its CmdSN counts as received (RFC 7143 §11.6.1 b). */
  skipCmdSN(cmdSN: number): void;
  /** The task was aborted: if it still waits for Data-Out or to start, it ends now without an answer. */
  abandon(task: TargetTask): void;
}

/** What the connection engine needs of task management: an answer per TMF request. */
export interface TmfHandler {
  handle(conn: TmfConnection, pdu: TaskManagementRequestPdu): Promise<TmfResult>;
}

/** The answer to one TMF request. */
export interface TmfResult {
  response: number;
  additionalResponseInformation?: number;
  /** Runs after the response is queued (a cold reset drops connections then). */
  after?: () => void;
}

/** A notice to the owner of the logical units, sent before the task manager waits for the aborted tasks. */
export interface TaskManagementNotice {
  type: TmfType;
  lun: number | undefined;
  /** Initiator task tags of the aborted tasks, per session id. */
  aborted: { sessionId: number; itt: number }[];
}

/** A task a TMF aborted, with the session (I_T nexus) it belongs to. */
export interface AbortedTask {
  session: TargetSession;
  task: TargetTask;
}

/** What the task manager needs of the target node. */
export interface TmfScope {
  /** Every live full feature connection of the target (all sessions, for LUN and target resets). */
  connections(): Iterable<TmfConnection>;
  hasLun(lun: number): boolean;
  /**
   * Tells the logical units (and through them the backends) of a TMF and the tasks it aborted, before
   * the wait, so that none waits on a command its backend holds; they apply the SAM-5 side effects
   * (unit attentions, reservations, resets).
   * `lun` undefined means every LUN (target resets, I_T nexus reset).
   */
  notify(type: TmfType, lun: number | undefined, by: TargetSession, aborted: readonly AbortedTask[]): void | Promise<void>;
  /** Unit attentions pending for the session on a LUN, each `asc << 8 | ascq`, oldest first. */
  pendingUnitAttentions(lun: number, session: TargetSession): readonly number[];
  /** Drops every connection of the target (TARGET COLD RESET, RFC 7143 §11.5.1). */
  dropAll(reason: string): void;
  onTaskManagement?: (notice: TaskManagementNotice) => void;
  log: Logger;
}

/** The task manager of one target (or of discovery sessions, which have no logical units). */
export class TaskManager implements TmfHandler {
  readonly #scope: TmfScope;

  constructor(scope: TmfScope) {
    this.#scope = scope;
  }

  async handle(conn: TmfConnection, pdu: TaskManagementRequestPdu): Promise<TmfResult> {
    const session = conn.session;
    const lun = lunFromField(pdu.lun);
    const lunOk = lun !== undefined && this.#scope.hasLun(lun);
    this.#scope.log.info({ function: pdu.function, lun, rtt: pdu.referencedTaskTag, session: session.id }, 'task management');
    switch (pdu.function) {
      case TmfFunction.AbortTask: {
        const t = session.tasks.get(pdu.referencedTaskTag);
        if (t !== undefined && t.state !== 'done') {
          await this.#abort('abort-task', lun, session, [[conn, [t]]]);
          return { response: TmfResponse.FunctionComplete };
        }
        // RFC 7143 §11.6.1 b/c: a command not yet received but inside the window counts as received
        // and is discarded; one outside the window (already answered) does not exist.
        const s = session;
        if (snInWindow(pdu.refCmdSN, s.expCmdSN, s.maxCmdSN) && snLt(pdu.refCmdSN, pdu.cmdSN)) {
          conn.skipCmdSN(pdu.refCmdSN);
          return { response: TmfResponse.FunctionComplete };
        }
        return { response: TmfResponse.TaskDoesNotExist };
      }
      case TmfFunction.AbortTaskSet:
      case TmfFunction.ClearTaskSet: {
        if (!lunOk) return { response: TmfResponse.LunDoesNotExist };
        const clear = pdu.function === TmfFunction.ClearTaskSet;
        // ABORT TASK SET: this I_T nexus's tasks; CLEAR TASK SET: every nexus's (SAM-5 §7.3, §7.6).
        const victims = clear ? this.#tasksOnLun(lun!) : [[conn, this.#ofLun(conn, lun!)] as const];
        await this.#abort(clear ? 'clear-task-set' : 'abort-task-set', lun, session, victims);
        return { response: TmfResponse.FunctionComplete };
      }
      case TmfFunction.ClearAca:
        // No ACA is ever established (NormACA=0, SAM-5 §5.9): nothing to clear.
        if (!lunOk) return { response: TmfResponse.LunDoesNotExist };
        return { response: TmfResponse.FunctionComplete };
      case TmfFunction.LogicalUnitReset: {
        if (!lunOk) return { response: TmfResponse.LunDoesNotExist };
        await this.#abort('logical-unit-reset', lun, session, this.#tasksOnLun(lun!));
        return { response: TmfResponse.FunctionComplete };
      }
      case TmfFunction.TargetWarmReset:
      case TmfFunction.TargetColdReset: {
        const cold = pdu.function === TmfFunction.TargetColdReset;
        const all: [TmfConnection, TargetTask[]][] = [];
        for (const c of this.#scope.connections()) all.push([c, [...c.tasks.values()].filter((t) => t.state !== 'done')]);
        await this.#abort(cold ? 'target-cold-reset' : 'target-warm-reset', undefined, session, all);
        // RFC 7143 §11.5.1: after a cold reset the target drops every connection, once the answer is out.
        return cold ? { response: TmfResponse.FunctionComplete, after: () => this.#scope.dropAll('TARGET COLD RESET') } : { response: TmfResponse.FunctionComplete };
      }
      case TmfFunction.TaskReassign:
        // Task reassignment needs ErrorRecoveryLevel 2 (RFC 7143 §11.5.1, §6.2.2).
        return { response: TmfResponse.TaskAllegianceReassignmentNotSupported };
      case TmfFunction.QueryTask: {
        // RFC 7144 §4.1: FUNCTION SUCCEEDED if the task exists, FUNCTION COMPLETE if not.
        if (!lunOk) return { response: TmfResponse.LunDoesNotExist };
        const t = session.tasks.get(pdu.referencedTaskTag);
        return { response: t !== undefined && t.state !== 'done' && t.lun === lun ? TmfResponse.FunctionSucceeded : TmfResponse.FunctionComplete };
      }
      case TmfFunction.QueryTaskSet: {
        if (!lunOk) return { response: TmfResponse.LunDoesNotExist };
        return { response: this.#ofLun(conn, lun!).length > 0 ? TmfResponse.FunctionSucceeded : TmfResponse.FunctionComplete };
      }
      case TmfFunction.ItNexusReset: {
        // RFC 7144 §4.1 / SAM-5 §7.9: abort every task of this I_T nexus, I_T NEXUS LOSS to it.
        const mine = [...session.tasks.values()].filter((t) => t.state !== 'done');
        await this.#abort('i-t-nexus-reset', undefined, session, [[conn, mine]]);
        return { response: TmfResponse.FunctionComplete };
      }
      case TmfFunction.QueryAsyncEvent: {
        // RFC 7144 §4.1 / SAM-5 QUERY ASYNCHRONOUS EVENT: FUNCTION SUCCEEDED with the oldest pending
        // unit attention in the Additional Response Information (UADE DEPTH in bits 5..4 of its first
        // byte: 01b one condition pending, 10b more than one; SENSE KEY in bits 3..0; then ASC, ASCQ),
        // or FUNCTION COMPLETE when none. Querying does not clear the condition.
        if (!lunOk) return { response: TmfResponse.LunDoesNotExist };
        const ua = this.#scope.pendingUnitAttentions(lun!, session);
        if (ua.length === 0) return { response: TmfResponse.FunctionComplete };
        const depth = ua.length === 1 ? 0b01 : 0b10;
        return { response: TmfResponse.FunctionSucceeded, additionalResponseInformation: (((depth << 4) | 0x06) << 16) | ua[0]! };
      }
      default:
        return { response: TmfResponse.FunctionNotSupported };
    }
  }

  /**
   * Aborts the tasks of some I_T nexuses on one LUN, as ABORT TASK SET does for each (the SCSI layer's
   * PREEMPT AND ABORT, SPC-4 §5.9.11.4): signals, notice to the LU, wait. The nexus that issued the
   * PREEMPT AND ABORT is not among them.
   */
  async abortNexusTasks(lun: number, nexusIds: readonly string[]): Promise<void> {
    const ids = new Set(nexusIds);
    const victims: [TmfConnection, TargetTask[]][] = [];
    for (const c of this.#scope.connections()) {
      if (c.session.nexus !== undefined && ids.has(c.session.nexus.id)) victims.push([c, this.#ofLun(c, lun)]);
    }
    if (victims.length === 0) return;
    await this.#abort('abort-task-set', lun, victims[0]![0].session, victims);
  }

  #ofLun(conn: TmfConnection, lun: number): TargetTask[] {
    return [...conn.tasks.values()].filter((t) => t.lun === lun && t.state !== 'done');
  }

  #tasksOnLun(lun: number): [TmfConnection, TargetTask[]][] {
    const out: [TmfConnection, TargetTask[]][] = [];
    for (const c of this.#scope.connections()) out.push([c, this.#ofLun(c, lun)]);
    return out;
  }

  async #abort(
    type: TmfType,
    lun: number | undefined,
    by: TargetSession,
    victims: readonly (readonly [TmfConnection, TargetTask[]])[],
  ): Promise<void> {
    const aborted: { sessionId: number; itt: number }[] = [];
    const tasks: AbortedTask[] = [];
    // In order (see the top of this file): mark aborted and fire the signals; tasks still owed Data-Out
    // never reach the SCSI layer; the logical units and backends hear of it; only then wait.
    for (const [c, ts] of victims) {
      for (const t of ts) {
        t.aborted = true;
        t.abort.abort(new Error(`aborted by ${type}`));
        c.abandon(t);
        aborted.push({ sessionId: c.session.id, itt: t.itt });
        tasks.push({ session: c.session, task: t });
      }
    }
    const told = this.#scope.notify(type, lun, by, tasks);
    this.#scope.onTaskManagement?.({ type, lun, aborted });
    await Promise.all(tasks.map((a) => a.task.finished));
    // A reset of a LU that other gateways share is answered once it is in force there too.
    await told;
  }
}
