// The write budget of a connection: a write gets one buffer for its whole EDTL (at most maxWriteBuffer),
// and the buffers of all writes together stay under maxBufferedWrite. A write that does not fit waits,
// oldest first, with what it already received left in the PDU buffers it came in; no R2T asks for the
// rest until it has its buffer, so a flood of large writes cannot grow memory without bound.

import type { TargetTask } from '../task.js';
import type { FfpState } from './state.js';

/** True when one write is larger than the connection buffers for a single command. */
export function tooLargeToGather(st: FfpState, task: TargetTask): boolean {
  return task.edtl > st.maxWriteBuffer;
}

/**
 * Gives the write its buffer when there is room under maxBufferedWrite (or nothing else holds one) and
 * returns true; else queues it behind the writes already waiting and returns false.
 */
export function claimBuffer(st: FfpState, task: TargetTask): boolean {
  if (st.waitingForBuffer.length > 0 || !fits(st, task)) {
    st.waitingForBuffer.push(task);
    return false;
  }
  giveBuffer(st, task);
  return true;
}

/**
 * The oldest waiting write that fits now, its buffer given; undefined when none does. Writes that ended
 * while they waited (an abort, a teardown) leave the queue on the way.
 */
export function nextWaitingWrite(st: FfpState): TargetTask | undefined {
  while (st.waitingForBuffer.length > 0) {
    const next = st.waitingForBuffer[0]!;
    if (next.state !== 'data-out') {
      st.waitingForBuffer.shift();
      continue;
    }
    if (!fits(st, next)) return undefined;
    st.waitingForBuffer.shift();
    giveBuffer(st, next);
    return next;
  }
  return undefined;
}

/** Returns the task's buffer to the budget; true when it held one (waiting writes may fit now). */
export function releaseBuffer(st: FfpState, task: TargetTask): boolean {
  if (!task.bufferCounted) return false;
  task.bufferCounted = false;
  st.bufferedWrite -= task.edtl;
  return true;
}

/** One write always fits when no buffer is held, however large (under maxWriteBuffer). */
function fits(st: FfpState, task: TargetTask): boolean {
  return st.bufferedWrite === 0 || st.bufferedWrite + task.edtl <= st.maxBufferedWrite;
}

/** Allocates the write's buffer and copies in what arrived before it (immediate, unsolicited data). */
function giveBuffer(st: FfpState, task: TargetTask): void {
  task.buffer = Buffer.allocUnsafe(task.edtl);
  task.bufferCounted = true;
  st.bufferedWrite += task.edtl;
  let off = 0;
  for (const p of task.parts) {
    p.copy(task.buffer, off);
    off += p.length;
  }
  task.parts.length = 0;
}
