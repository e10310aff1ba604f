// Read throttling: a command that returns Data-In starts only while the Data-In bytes of the reads
// already started stay under maxReadInFlight (one read always may) and the socket is not congested.
// Otherwise it waits, and every later command waits behind it (arrival order keeps task attributes
// meaningful), so a peer that never reads cannot make the target hold queueDepth reads of data.

import type { TargetTask } from '../task.js';
import type { FfpState } from './state.js';

/** True when the task may start now: nothing waits before it and its Data-In fits the budget. */
export function mayStartNow(st: FfpState, task: TargetTask): boolean {
  return st.waitingToRun.length === 0 && mayStart(st, task);
}

/** Room for the task's Data-In: under maxReadInFlight (one read always may) and the socket not congested. */
export function mayStart(st: FfpState, task: TargetTask): boolean {
  if (task.readLength === 0) return true;
  if (st.host.congested?.() === true) return false;
  return st.readBytesInFlight === 0 || st.readBytesInFlight + task.readLength <= st.maxReadInFlight;
}

/** Counts a started read against the budget. */
export function readStarted(st: FfpState, task: TargetTask): void {
  if (task.readLength > 0) {
    st.readsInFlight.add(task);
    st.readBytesInFlight += task.readLength;
  }
}

/** Takes a finished read off the budget; true when it was counted (waiting commands may start now). */
export function readFinished(st: FfpState, task: TargetTask): boolean {
  if (!st.readsInFlight.delete(task)) return false;
  st.readBytesInFlight -= task.readLength;
  return true;
}

/** Takes the task out of the queue of commands waiting to start; true when it was there. */
export function leaveWaiting(st: FfpState, task: TargetTask): boolean {
  const i = st.waitingToRun.indexOf(task);
  if (i < 0) return false;
  st.waitingToRun.splice(i, 1);
  return true;
}
