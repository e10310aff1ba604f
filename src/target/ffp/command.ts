// Admission of a SCSI Command (RFC 7143 §11.3): the checks that answer with Reject (discovery session,
// logout under way, reserved or busy ITT, too many immediate commands, F/W/immediate-data rules), then
// the task it becomes, with the window slot it takes and the Data-Out it still expects.

import { RESERVED_TAG, RejectReason } from '../../pdu/constants.js';
import { lunFromField } from '../../pdu/lun.js';
import type { ScsiCommandPdu } from '../../pdu/types.js';
import { ASC, SENSE_KEY } from '../../scsi/constants.js';
import { commandEndChannel, commandStartChannel, type CommandStartMessage } from '../stats/channels.js';
import { turnClockMs } from '../stats/clock.js';
import { TargetTask } from '../task.js';
import { checkCondition } from './data-in.js';
import { gatherWrite, respond, run } from './lifecycle.js';
import { reject } from './messages.js';
import type { FfpState } from './state.js';
import { tooLargeToGather } from './write-budget.js';

/** Takes a SCSI Command whose CmdSN turn has come (window.ts). */
export function onCommand(st: FfpState, pdu: ScsiCommandPdu, bhs: Buffer): void {
  const s = st.session;
  if (st.host.execute === undefined) {
    // A discovery session carries only Text and Logout (RFC 7143 §4.3): it never reaches data.
    return reject(st, RejectReason.ProtocolError, bhs, 'SCSI Command in a discovery session');
  }
  if (st.loggingOut) return reject(st, RejectReason.WaitingForLogout, bhs, 'SCSI Command after Logout');
  if (pdu.itt === RESERVED_TAG) return reject(st, RejectReason.InvalidPduField, bhs, 'SCSI Command with the reserved ITT');
  if (s.tasks.has(pdu.itt)) return reject(st, RejectReason.TaskInProgress, bhs, `ITT 0x${pdu.itt.toString(16)} is in use`);
  if (pdu.immediate && st.immediateActive >= st.maxImmediate) {
    return reject(st, RejectReason.ImmediateCommandReject, bhs, 'too many immediate commands');
  }
  // RFC 7143 §11.3.1: a command that will send no unsolicited Data-Out must have F set; a read
  // carries no immediate data; ImmediateData=No forbids it (§13.11).
  if (!pdu.final && !pdu.write) return reject(st, RejectReason.ProtocolError, bhs, 'F clear on a command without W');
  if (pdu.data.length > 0) {
    if (!pdu.write) return reject(st, RejectReason.ProtocolError, bhs, 'immediate data on a command without W');
    if (!s.params.immediateData) return reject(st, RejectReason.ProtocolError, bhs, 'immediate data with ImmediateData=No');
    if (pdu.data.length > s.params.firstBurstLength || pdu.data.length > pdu.expectedDataTransferLength) {
      return reject(st, RejectReason.ProtocolError, bhs, 'immediate data beyond FirstBurstLength or EDTL');
    }
  }
  if (!pdu.final && s.params.initialR2T) {
    return reject(st, RejectReason.ProtocolError, bhs, 'unsolicited Data-Out announced with InitialR2T=Yes');
  }

  const task = new TargetTask(pdu, lunFromField(pdu.lun), st.host.clock.now());
  s.tasks.set(task.itt, task);
  s.stats.commands++;
  if (st.host.stats !== undefined || commandEndChannel.hasSubscribers) task.t0 = turnClockMs();
  if (commandStartChannel.hasSubscribers) publishStart(st, task, pdu);
  if (task.immediate) st.immediateActive++;
  else s.active++;

  if (task.write && task.edtl > 0) {
    if (tooLargeToGather(st, task)) {
      // Too large to gather: finish with CHECK CONDITION; Data-Out still in flight is ignored.
      respond(st, task, checkCondition(SENSE_KEY.ILLEGAL_REQUEST, ASC.INVALID_FIELD_IN_CDB));
      return;
    }
    const imm = pdu.data.length;
    task.received = imm;
    // Unsolicited data (RFC 7143 §13.10, §13.14): with InitialR2T=No up to FirstBurstLength in all.
    task.unsolicitedLimit = s.params.initialR2T ? imm : Math.min(s.params.firstBurstLength, task.edtl);
    task.unsolicitedDone = pdu.final || task.received >= task.unsolicitedLimit;
    task.nextR2TOffset = task.unsolicitedDone ? task.received : task.unsolicitedLimit;
    s.stats.writeBytes += imm;
    if (imm === task.edtl) {
      task.buffer = pdu.data; // the whole write came as immediate data: no copy
      run(st, task);
      return;
    }
    if (imm > 0) task.parts.push(pdu.data);
    gatherWrite(st, task);
    return;
  }
  run(st, task);
}

function publishStart(st: FfpState, task: TargetTask, pdu: ScsiCommandPdu): void {
  const m: CommandStartMessage = {
    target: st.host.targetName ?? '',
    sessionId: st.session.id,
    itt: task.itt,
    cmdSN: pdu.cmdSN,
    lun: task.lun,
    cdb: task.cdb,
    expectedLength: task.edtl,
  };
  commandStartChannel.publish(m);
}
