// What the engine reports when a task ends: the LUN's and the session's counters (when the server keeps
// them) and the `tsiscsi:command:end` channel (when someone listens). Both are checked with one field
// read each, so a target without metrics, admin socket or subscriber pays nothing more.

import { TmfResponse } from '../../pdu/constants.js';
import { lunFromField } from '../../pdu/lun.js';
import type { TaskManagementRequestPdu } from '../../pdu/types.js';
import { STATUS } from '../../scsi/constants.js';
import type { ScsiResponse } from '../../scsi/types.js';
import { commandEndChannel, tmfChannel, type CommandEndMessage, type TmfMessage } from '../stats/channels.js';
import { turnClockMs } from '../stats/clock.js';
import { countCompletion } from '../stats/counters.js';
import { tmfFunctionLabel } from '../stats/names.js';
import type { TargetTask } from '../task.js';
import type { FfpState } from './state.js';

/** A task answered with `res`: count it and tell the channel. */
export function countAnswered(st: FfpState, task: TargetTask, res: ScsiResponse): void {
  const stats = st.host.stats;
  const publish = commandEndChannel.hasSubscribers;
  if (stats === undefined && !publish) return;
  // t0 is 0 only when a subscriber arrived while the command ran: no duration to report then.
  const us = task.t0 === 0 ? 0 : (turnClockMs() - task.t0) * 1000;
  const bytesIn = res.data === undefined ? 0 : Math.min(res.data.length, task.readLength);
  const bytesOut = task.write ? task.received : 0;
  if (stats !== undefined) {
    const lc = task.lun === undefined ? undefined : stats.luns[task.lun];
    countCompletion(lc, st.session.counters, task.cdb[0]!, res.status, res.sense, bytesIn, bytesOut, us);
  }
  if (publish) publishEnd(st, task, res.status, senseKeyOf(res), bytesIn, bytesOut, us / 1000);
}

/** A task ended aborted, without a status of its own (SAM-5 §7.2): count it and tell the channel. */
export function countAborted(st: FfpState, task: TargetTask): void {
  const stats = st.host.stats;
  if (stats !== undefined && task.lun !== undefined) {
    const lc = stats.luns[task.lun];
    if (lc !== undefined) lc.aborts++;
  }
  if (commandEndChannel.hasSubscribers) publishEnd(st, task, undefined, undefined, 0, task.write ? task.received : 0, task.t0 === 0 ? 0 : turnClockMs() - task.t0);
}

function senseKeyOf(res: ScsiResponse): number | undefined {
  const s = res.sense;
  if (res.status !== STATUS.CHECK_CONDITION || s === undefined || s.length < 3) return undefined;
  return ((s[0]! & 0x7f) >= 0x72 ? s[1]! : s[2]!) & 0x0f;
}

function publishEnd(st: FfpState, task: TargetTask, status: number | undefined, senseKey: number | undefined, bytesIn: number, bytesOut: number, ms: number): void {
  const m: CommandEndMessage = {
    target: st.host.targetName ?? '',
    sessionId: st.session.id,
    itt: task.itt,
    lun: task.lun,
    opcode: task.cdb[0]!,
    status,
    senseKey,
    bytesIn,
    bytesOut,
    aborted: status === undefined,
    durationMs: ms,
  };
  commandEndChannel.publish(m);
}

/** A task management request was answered: count it by function and tell the channel. */
export function countTmf(st: FfpState, pdu: TaskManagementRequestPdu, response: number): void {
  const stats = st.host.stats;
  if (stats !== undefined) {
    const fn = pdu.function < stats.tmf.length ? pdu.function : 0;
    stats.tmf[fn]++;
    if (response !== TmfResponse.FunctionComplete) stats.tmfFailed[fn]++;
  }
  if (tmfChannel.hasSubscribers) {
    const m: TmfMessage = {
      target: st.host.targetName,
      sessionId: st.session.id,
      function: pdu.function,
      functionName: tmfFunctionLabel(pdu.function),
      lun: lunFromField(pdu.lun),
      referencedTaskTag: pdu.referencedTaskTag,
      response,
    };
    tmfChannel.publish(m);
  }
}
