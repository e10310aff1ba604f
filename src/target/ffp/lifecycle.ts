// The way of a SCSI task through the engine once admitted (command.ts): its write data gathered (a
// buffer from the write budget, Data-Out and R2Ts), its start when the read budget allows, the SCSI
// layer, its answer (data-in.ts), and its end, which frees the window slot and the budgets it held so
// that waiting work moves on. Aborted tasks end here too, without an answer (SAM-5 §7.2).

import type { DataOutPdu } from '../../pdu/types.js';
import { ASC, SENSE_KEY } from '../../scsi/constants.js';
import type { ScsiCommand, ScsiResponse } from '../../scsi/types.js';
import type { TargetTask } from '../task.js';
import { countAborted, countAnswered } from './counting.js';
import { checkCondition, sendAnswer } from './data-in.js';
import { acceptDataOut, dataComplete, dataOutFailure, issueR2Ts } from './data-out.js';
import { leaveWaiting, mayStart, mayStartNow, readFinished, readStarted } from './read-budget.js';
import type { FfpState } from './state.js';
import { claimBuffer, nextWaitingWrite, releaseBuffer } from './write-budget.js';

/** Starts gathering a write's data: its buffer now (then R2Ts for the rest) or when the budget has room. */
export function gatherWrite(st: FfpState, task: TargetTask): void {
  if (claimBuffer(st, task)) bufferGiven(st, task);
}

/** The write has its buffer: ask for what is not yet sent, or run it if everything is in. */
function bufferGiven(st: FfpState, task: TargetTask): void {
  if (task.unsolicitedDone) issueR2Ts(st, task);
  if (dataComplete(task)) run(st, task);
}

/** Takes a Data-Out (RFC 7143 §11.7); the write runs once its last byte is in. */
export function onDataOut(st: FfpState, pdu: DataOutPdu): void {
  const task = st.session.tasks.get(pdu.itt);
  if (task === undefined || task.state !== 'data-out') {
    // Data for a task that ended early (CHECK CONDITION, abort): dropped without a word.
    st.host.log.debug({ itt: pdu.itt }, 'Data-Out for no task awaiting data, ignored');
    return;
  }
  const f = acceptDataOut(st, task, pdu);
  if (f !== undefined) return respond(st, task, dataOutFailure(st, task, f));
  if (dataComplete(task)) run(st, task);
}

/** The task has its data: it starts now, or waits behind what waits or for the read budget. */
export function run(st: FfpState, task: TargetTask): void {
  task.state = 'running';
  // In arrival order: a command waits while one before it waits (task attributes keep their meaning).
  if (!mayStartNow(st, task)) {
    st.waitingToRun.push(task);
    return;
  }
  start(st, task);
}

/** Starts what waits, while there is room (after a read finished or the socket drained). */
export function startWaiting(st: FfpState): void {
  if (st.startingWaiters) return;
  st.startingWaiters = true;
  try {
    while (st.waitingToRun.length > 0 && !st.stopped) {
      const t = st.waitingToRun[0]!;
      if (t.aborted) {
        st.waitingToRun.shift();
        finishTask(st, t);
        continue;
      }
      if (!mayStart(st, t)) return;
      st.waitingToRun.shift();
      start(st, t);
    }
  } finally {
    st.startingWaiters = false;
  }
}

/** Hands the task to the SCSI layer; its answer comes back through {@link respond}. */
function start(st: FfpState, task: TargetTask): void {
  const execute = st.host.execute!;
  readStarted(st, task);
  let dataOut: Buffer | null = null;
  // Everything arrived while the write waited for a buffer: the PDU buffers themselves will do.
  if (task.write && task.buffer === null && task.parts.length > 0) task.buffer = task.parts.length === 1 ? task.parts[0]! : Buffer.concat(task.parts);
  if (task.write && task.buffer !== null) dataOut = task.received === task.buffer.length ? task.buffer : task.buffer.subarray(0, task.received);
  const cmd: ScsiCommand = {
    nexus: st.session.nexus!,
    lun: task.lun ?? -1,
    cdb: task.cdb,
    taskAttribute: task.attr,
    taskTag: task.itt,
    dataOut,
    dataInLength: task.readLength,
    signal: task.abort.signal,
  };
  execute(cmd).then(
    (res) => respond(st, task, res),
    (err: unknown) => {
      if (task.aborted || st.stopped) {
        finishTask(st, task);
        return;
      }
      st.host.log.error({ err, itt: task.itt }, 'SCSI layer failed a command');
      respond(st, task, checkCondition(SENSE_KEY.HARDWARE_ERROR, ASC.INTERNAL_TARGET_FAILURE));
    },
  );
}

/** Sends Data-In and status (RFC 7143 §11.4, §11.7), then retires the task. */
export function respond(st: FfpState, task: TargetTask, res: ScsiResponse): void {
  if (task.aborted || st.stopped) {
    // An aborted task finishes without a response (SAM-5 §7.2); its TMF answers for it.
    finishTask(st, task);
    return;
  }
  releaseSlot(st, task);
  sendAnswer(st, task, res);
  countAnswered(st, task, res);
  finishTask(st, task);
}

/** Frees the task's slot of the command window, so the status it is about to carry opens it. */
function releaseSlot(st: FfpState, task: TargetTask): void {
  if (task.slotReleased) return;
  task.slotReleased = true;
  const s = st.session;
  if (s.tasks.get(task.itt) === task) s.tasks.delete(task.itt);
  if (task.immediate) st.immediateActive--;
  else s.active--;
}

/** Ends the task: its slot, read budget, R2Ts and write buffer go back, and what waited for them moves. */
export function finishTask(st: FfpState, task: TargetTask): void {
  if (task.state === 'done') return;
  if (task.aborted) countAborted(st, task);
  releaseSlot(st, task);
  if (readFinished(st, task)) startWaiting(st);
  st.r2t.retireTask(task.itt);
  task.buffer = null;
  task.parts.length = 0;
  if (releaseBuffer(st, task)) {
    let next: TargetTask | undefined;
    while ((next = nextWaitingWrite(st)) !== undefined) bufferGiven(st, next);
  }
  task.finish();
}

/** A TMF aborted the task: one still owed Data-Out (or waiting to start) never reaches the SCSI layer. */
export function abandon(st: FfpState, task: TargetTask): void {
  st.r2t.retireTask(task.itt);
  task.outstandingR2T = 0;
  const waited = leaveWaiting(st, task);
  if (task.state === 'data-out' || waited) finishTask(st, task);
}

/**
 * Aborts every task of the session for a teardown: their signals fire, those owed Data-Out end now, those
 * waiting to start never reach the SCSI layer. Returns the tasks to wait for.
 */
export function abortAll(st: FfpState, reason: string): TargetTask[] {
  const pending: TargetTask[] = [];
  for (const t of st.session.tasks.values()) {
    if (t.state === 'done') continue;
    t.aborted = true;
    t.abort.abort(new Error(`connection closed: ${reason}`));
    st.r2t.retireTask(t.itt);
    if (t.state === 'data-out') finishTask(st, t);
    pending.push(t);
  }
  for (const t of st.waitingToRun.splice(0)) finishTask(st, t);
  return pending;
}
