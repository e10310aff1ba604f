// The forward path of the core (frwdLock held in every function here): take a task from the pool, queue
// it, give it a CmdSN and send it; send the Data-Out bursts R2Ts asked for, NOP-Out answers and pings,
// TMFs; and take back a command its caller gave up on. What the backward path handed over (it never
// sends under backLock) is sent from here, after backLock was released.

import { ConnectionError } from '../../errors.js';
import { Opcode, RESERVED_TAG, TmfFunction, TmfResponse } from '../../pdu/constants.js';
import type { R2TDescriptor } from '../../r2t/table.js';
import { sendBurst, sendUnsolicited, unsolicitedPlan } from './data-out.js';
import { sendAgainFirst } from './reissue.js';
import { dropBursts, rejectPending, type CoreLink, type CoreState, type Handoff } from './state.js';
import type { Pending, Task } from './task.js';
import type { TmfEntry } from './tmf.js';

const EMPTY: Buffer = Buffer.alloc(0);

/** A new submission: a free task takes it at once when nobody waits before it, otherwise it waits. */
export function enqueue(s: CoreState, p: Pending): void {
  if (p.settled) return;
  if (s.waiters.length === 0) {
    const t = s.pool.take();
    if (t !== undefined) {
      bind(t, p);
      queue(s, t);
      return;
    }
  }
  s.waiters.push(p);
}

function bind(t: Task, p: Pending): void {
  t.pending = p;
  p.task = t;
}

function queue(s: CoreState, t: Task): void {
  if (s.txQueue.length === 0 && canTransmit(s)) transmit(s, t);
  else s.txQueue.push(t);
}

function canTransmit(s: CoreState): boolean {
  const link = s.link;
  return link !== null && !s.linkDown && !s.quiesced && s.window.open && !link.congested;
}

function transmit(s: CoreState, t: Task): void {
  const p = t.pending!;
  const link = s.link!;
  const limits = s.limits!;
  t.cmdSN = s.window.take();
  t.state = 'active';
  const out = p.dataOut;
  let immediate = EMPTY;
  let unsolicited = 0;
  if (out !== null && out.length > 0) {
    const plan = unsolicitedPlan(out.length, limits);
    immediate = plan.immediate > 0 ? out.subarray(0, plan.immediate) : EMPTY;
    unsolicited = plan.total;
    t.unsolicited = plan.total;
    s.stats.bytesOut += out.length;
  }
  const expStatSN = s.expStatSN;
  link.send({
    opcode: Opcode.ScsiCommand,
    immediate: false,
    // RFC 7143 §11.3.1: F is 0 only when unsolicited Data-Out PDUs follow.
    final: unsolicited <= immediate.length,
    read: p.readLength > 0,
    write: out !== null && out.length > 0,
    attr: p.attr,
    lun: p.lun,
    itt: t.itt,
    expectedDataTransferLength: out !== null ? out.length : p.readLength,
    cmdSN: t.cmdSN,
    expStatSN,
    cdb: p.cdb,
    data: immediate,
  });
  if (unsolicited > immediate.length) sendUnsolicited(t, out!, immediate.length, unsolicited, limits, expStatSN, link.send.bind(link));
}

/** Everything the forward path may have to do: handed-over work, queued commands, waiting submitters. */
export function pump(s: CoreState): void {
  const link = s.link;
  if (link !== null && !s.linkDown && (s.handoff.length > 0 || s.r2tReady.length > 0)) drainHandoff(s, link);
  while (s.txQueue.length > 0 && canTransmit(s)) transmit(s, s.txQueue.shift()!);
  while (s.waiters.length > 0 && s.pool.free > 0) {
    const p = s.waiters.shift()!;
    if (p.settled) continue;
    bind(s.pool.take()!, p);
    queue(s, p.task!);
  }
}

/** Sends what the backward path handed over: NOP-In answers, retries, aborts, LUN resets, R2T bursts. */
function drainHandoff(s: CoreState, link: CoreLink): void {
  let items: Handoff[] = s.handoffSpare;
  let bursts: R2TDescriptor[] = s.r2tSpare;
  // Swap the lists under backLock: the backward path fills the spares meanwhile, nothing is allocated.
  s.locks.backInsideForward(() => {
    items = s.handoff;
    s.handoff = s.handoffSpare;
    s.handoffSpare = items;
    bursts = s.r2tReady;
    s.r2tReady = s.r2tSpare;
    s.r2tSpare = bursts;
  });
  let retries: Task[] | undefined;
  for (const h of items) {
    switch (h.kind) {
      case 'nop-reply':
        // RFC 7143 §11.18: answer a target's ping with its TTT, ITT reserved, as an immediate PDU.
        link.send({ opcode: Opcode.NopOut, immediate: true, lun: h.lun, itt: RESERVED_TAG, ttt: h.ttt, cmdSN: s.window.cmdSN, expStatSN: s.expStatSN, data: EMPTY });
        break;
      case 'retry':
        // The ITT check: the slot was not finished and taken again meanwhile.
        if (h.task.state === 'queued' && h.task.itt === h.itt && h.task.pending !== null) (retries ??= []).push(h.task);
        break;
      case 'abort':
        if (h.task.state === 'aborting' && h.task.itt === h.itt && h.task.abortTag === 0) sendAbort(s, h.task);
        break;
      case 'lun-reset':
        if (!s.tmf.resetPending(h.lun)) sendTmf(s, TmfFunction.LogicalUnitReset, h.lun, null, s.clock.now() + s.o.tmfTimeout, null);
        break;
    }
  }
  items.length = 0;
  if (retries !== undefined) sendAgainFirst(s, retries);
  if (bursts.length === 0) return;
  const limits = s.limits!;
  const send = link.send.bind(link);
  for (const d of bursts) {
    const t = d.owner as Task | null;
    if (t !== null && t.state === 'active' && t.itt === d.itt) sendBurst(t, d, t.pending!.dataOut!, limits, s.expStatSN, send);
  }
  // Queue → pool once the burst is sent: the descriptor belongs to the response side (queue2pool under
  // backLock), which took it from the pool when the R2T arrived.
  s.locks.backInsideForward(() => {
    for (const d of bursts) {
      const t = d.owner as Task | null;
      if (t !== null && t.itt === d.itt && t.outstandingR2T > 0) t.outstandingR2T--;
      s.r2t?.retire(d);
    }
  });
  bursts.length = 0;
}

/** Sends a task management request and records it; without a connection, `done` hears so at once. */
export function sendTmf(s: CoreState, fn: number, lun: bigint, ref: Task | null, deadline: number, done: TmfEntry['done'], timeoutMs = s.o.tmfTimeout): TmfEntry | undefined {
  const link = s.link;
  if (link === null || s.linkDown) {
    done?.(new ConnectionError('ERR_NOT_CONNECTED', 'not connected'));
    return undefined;
  }
  const { entry, pdu } = s.tmf.request(fn, lun, ref === null ? null : { itt: ref.itt, cmdSN: ref.cmdSN }, s.window.cmdSN, s.expStatSN, deadline, done, timeoutMs);
  if (fn === TmfFunction.AbortTask) s.stats.aborts++;
  else if (fn === TmfFunction.LogicalUnitReset) s.stats.lunResets++;
  link.send(pdu);
  return entry;
}

/** Sends ABORT TASK for `t` (RFC 7143 §11.5.1) and remembers its tag on the task. */
export function sendAbort(s: CoreState, t: Task, done: TmfEntry['done'] = null, timeoutMs = s.o.tmfTimeout): void {
  const e = sendTmf(s, TmfFunction.AbortTask, t.pending?.lun ?? 0n, t, s.clock.now() + timeoutMs, done, timeoutMs);
  if (e !== undefined) t.abortTag = e.itt;
}

/** Sends a NOP-Out ping (keepalive, or a closed window's backstop). */
export function sendPing(s: CoreState): void {
  const link = s.link;
  if (link === null || s.linkDown) return;
  const itt = s.tags.next();
  s.keepalive.pinged(itt, s.clock.now());
  s.stats.pings++;
  // RFC 7143 §11.18: a ping with a valid ITT asks for a NOP-In; immediate, so a closed window cannot hold it.
  link.send({ opcode: Opcode.NopOut, immediate: true, lun: 0n, itt, ttt: RESERVED_TAG, cmdSN: s.window.cmdSN, expStatSN: s.expStatSN, data: EMPTY });
}

/**
 * The caller gave up on `p` (AbortSignal, timeout, abortTask): answer it now, clean up behind. `abort`
 * hears the target's answer to the ABORT TASK this sends, if it sends one. Takes frwdLock itself.
 */
export function cancel(s: CoreState, p: Pending, error: Error | ((onTheWire: boolean) => Error), abort?: { timeoutMs: number; done: NonNullable<TmfEntry['done']> }): void {
  const errorFor = (onTheWire: boolean): Error => (typeof error === 'function' ? error(onTheWire) : error);
  // Whatever path is taken, an explicit abortTask hears how it ended.
  const answered = (response: number): void => abort?.done({ response, additionalResponseInformation: 0 });
  if (p.settled) return answered(TmfResponse.TaskDoesNotExist);
  s.locks.forward(() => {
    if (p.settled) return answered(TmfResponse.TaskDoesNotExist);
    const t = p.task;
    if (t === null) {
      const i = s.waiters.indexOf(p);
      if (i >= 0) s.waiters.splice(i, 1);
      rejectPending(p, errorFor(false));
      return answered(TmfResponse.FunctionComplete);
    }
    if (t.state === 'queued') {
      const i = s.txQueue.indexOf(t);
      if (i >= 0) s.txQueue.splice(i, 1);
      // Never sent (or not since the last reconnect): nothing to abort at the target.
      s.locks.backInsideForward(() => {
        dropBursts(s, t);
        s.pool.put(t);
      });
      rejectPending(p, errorFor(false));
      pump(s);
      return answered(TmfResponse.FunctionComplete);
    }
    if (t.state === 'active') {
      s.locks.backInsideForward(() => {
        t.state = 'aborting';
        dropBursts(s, t);
      });
      rejectPending(p, errorFor(true));
      // The slot stays out of the pool until the target confirms the abort (RFC 7143 §11.5.1).
      if (s.link !== null && !s.linkDown) sendAbort(s, t, abort?.done ?? null, abort?.timeoutMs);
      // The connection is being replaced: the reinstated session will not have the task (RFC 7143 §6.3.5).
      else answered(TmfResponse.FunctionComplete);
      return;
    }
    answered(TmfResponse.TaskDoesNotExist);
  });
}
