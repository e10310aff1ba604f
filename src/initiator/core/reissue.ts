// Commands sent again. At ErrorRecoveryLevel 0 a reinstated session knows nothing of the commands the
// lost connection carried (RFC 7143 §6.3.5): they go back to the queue. A reset that ended them at the
// target, or a unit attention meant for the I_T nexus rather than the command, sends them again too.
// Whatever the reason, they go out before anything queued after them, in their first order.

import { AbortError } from '../../errors.js';
import { snLt } from '../../util/serial.js';
import { dropBursts, finish, type CoreState } from './state.js';
import type { Task } from './task.js';

/**
 * Sends an active task again (backLock held): its protocol state cleared, queued, and handed to the
 * forward path, which checks the ITT so that a slot finished and reused meanwhile is left alone.
 */
export function retry(s: CoreState, t: Task): void {
  dropBursts(s, t);
  t.resetProtocolState();
  t.state = 'queued';
  s.handoff.push({ kind: 'retry', task: t, itt: t.itt });
}

/** Puts `tasks` at the head of the queue in their submission order (frwdLock held). */
export function sendAgainFirst(s: CoreState, tasks: Task[]): void {
  s.stats.reissued += tasks.length;
  tasks.sort((a, b) => a.pending!.order - b.pending!.order);
  s.txQueue = tasks.concat(s.txQueue);
}

/**
 * The connection is gone (both locks held): the tasks that were on it, and the retries not sent yet, to be
 * sent on the next connection. Tasks being aborted are finished: their callers were answered already.
 */
export function tasksToReissue(s: CoreState): Task[] {
  const requeue: Task[] = [];
  for (const t of s.pool.tasks) {
    if (t.state === 'active') {
      t.resetProtocolState();
      t.state = 'queued';
      requeue.push(t);
    } else if (t.state === 'aborting') {
      s.pool.put(t);
    }
  }
  for (const h of s.handoff) {
    if (h.kind === 'retry' && h.task.state === 'queued' && h.task.itt === h.itt) requeue.push(h.task);
  }
  return requeue;
}

/**
 * A TMF answered "Function complete" ended, at the target, this session's tasks on `lun` (every LUN
 * when null) that it had received before the TMF: those with a CmdSN below the TMF's (SAM-5 §7;
 * commands sent after it were not touched). Tasks being aborted are finished; the others are sent
 * again after a reset (`abortedBy` null: they were collateral damage), or rejected with AbortError
 * after ABORT TASK SET / CLEAR TASK SET, which asked for exactly that. Runs under backLock.
 */
export function afterTaskSetCleared(s: CoreState, lun: bigint | null, before: number, abortedBy: string | null): void {
  for (const t of s.pool.tasks) {
    if (t.pending === null || (lun !== null && t.pending.lun !== lun)) continue;
    if ((t.state !== 'aborting' && t.state !== 'active') || !snLt(t.cmdSN, before)) continue;
    if (t.state === 'aborting') {
      dropBursts(s, t);
      s.pool.put(t);
    } else if (abortedBy !== null) {
      finish(s, t, null, new AbortError(`the command was aborted by ${abortedBy}`));
    } else {
      retry(s, t);
    }
  }
}
