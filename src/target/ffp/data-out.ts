// The Data-Out half of a write (RFC 7143 §4.2.3.5, §11.7, §11.8): unsolicited data (immediate and
// Data-Out with the reserved TTT, within FirstBurstLength), then R2Ts of at most MaxBurstLength,
// MaxOutstandingR2T at a time, each answered by one burst in order (DataPDUInOrder=Yes,
// DataSequenceInOrder=Yes). A broken sequence fails the command, not the connection.

import { Opcode, RESERVED_TAG } from '../../pdu/constants.js';
import type { DataOutPdu } from '../../pdu/types.js';
import { ASC, SENSE_KEY } from '../../scsi/constants.js';
import type { ScsiResponse } from '../../scsi/types.js';
import type { TargetTask } from '../task.js';
import { checkCondition } from './data-in.js';
import { takeTtt, type FfpState } from './state.js';

/** Why a Data-Out broke its sequence, and the SPC data-phase ASC/ASCQ (ASC << 8 | ASCQ) that says so. */
export interface DataOutFault {
  why: string;
  ascAscq: number;
}

function fault(why: string, ascAscq: number = ASC.DATA_PHASE_ERROR): DataOutFault {
  return { why, ascAscq };
}

/** True when every byte of the write is in and no R2T or unsolicited burst is still open. */
export function dataComplete(task: TargetTask): boolean {
  return task.allDataReceived && task.outstandingR2T === 0 && task.unsolicitedDone;
}

/**
 * Asks for the rest of the write with R2Ts (RFC 7143 §11.8), up to MaxOutstandingR2T at once, each at
 * most MaxBurstLength. Nothing before the write has its buffer (write-budget.ts); when the descriptor
 * pool is exhausted, the next completed burst issues what is left.
 */
export function issueR2Ts(st: FfpState, task: TargetTask): void {
  if (task.buffer === null) return; // waiting for room: R2Ts come with the buffer
  const s = st.session;
  while (task.outstandingR2T < s.params.maxOutstandingR2T && task.nextR2TOffset < task.edtl) {
    const len = Math.min(s.params.maxBurstLength, task.edtl - task.nextR2TOffset);
    const ttt = takeTtt(st);
    const d = st.r2t.issue({
      itt: task.itt,
      ttt,
      r2tSN: task.r2tSN,
      bufferOffset: task.nextR2TOffset,
      desiredDataTransferLength: len,
      owner: task,
    });
    if (d === undefined) return;
    task.r2tSN++;
    task.outstandingR2T++;
    task.nextR2TOffset += len;
    st.host.send({
      opcode: Opcode.R2T,
      lun: task.lunField,
      itt: task.itt,
      ttt,
      // R2T carries the current StatSN without consuming it (RFC 7143 §11.8).
      statSN: st.statSN,
      expCmdSN: s.expCmdSN,
      maxCmdSN: s.maxCmdSN,
      r2tSN: d.r2tSN,
      bufferOffset: d.bufferOffset,
      desiredDataTransferLength: len,
    });
  }
}

/**
 * Takes one Data-Out for a task awaiting data: checks DataSN, offset and burst against the unsolicited
 * sequence (reserved TTT) or the R2T it answers, copies the data, and asks for more when a burst ends.
 * Returns the fault when the sequence is broken, else undefined (see {@link dataComplete} for whether
 * the write may run).
 */
export function acceptDataOut(st: FfpState, task: TargetTask, pdu: DataOutPdu): DataOutFault | undefined {
  const len = pdu.data.length;
  if (pdu.ttt === RESERVED_TAG) {
    // Unsolicited data (RFC 7143 §4.2.3.5): DataSN from 0, offsets in order, within FirstBurstLength.
    if (task.unsolicitedDone) return fault('unsolicited Data-Out after the unsolicited burst ended');
    if (pdu.dataSN !== task.unsolicitedDataSN) return fault(`Data-Out DataSN ${pdu.dataSN}, expected ${task.unsolicitedDataSN}`);
    if (pdu.bufferOffset !== task.received) return fault(`Data-Out offset ${pdu.bufferOffset}, expected ${task.received}`, ASC.DATA_OFFSET_ERROR);
    if (task.received + len > task.unsolicitedLimit) return fault('unsolicited data beyond FirstBurstLength', ASC.TOO_MUCH_WRITE_DATA);
    if (task.buffer !== null) pdu.data.copy(task.buffer, task.received);
    else task.parts.push(pdu.data);
    task.received += len;
    task.unsolicitedDataSN++;
    st.session.stats.writeBytes += len;
    if (pdu.final || task.received >= task.unsolicitedLimit) {
      if (!pdu.final) return fault('unsolicited burst complete without F');
      task.unsolicitedDone = true;
      task.nextR2TOffset = task.received;
      issueR2Ts(st, task);
    }
    return undefined;
  }
  const d = st.r2t.byTtt(pdu.ttt);
  if (d === undefined || d.itt !== task.itt) return fault(`Data-Out TTT 0x${pdu.ttt.toString(16)} matches no R2T`, ASC.INVALID_TARGET_PORT_TRANSFER_TAG_RECEIVED);
  if (pdu.dataSN !== d.nextDataSN) return fault(`Data-Out DataSN ${pdu.dataSN}, expected ${d.nextDataSN}`);
  const expected = d.bufferOffset + d.done;
  if (pdu.bufferOffset !== expected) return fault(`Data-Out offset ${pdu.bufferOffset}, expected ${expected}`, ASC.DATA_OFFSET_ERROR);
  if (d.done + len > d.desiredDataTransferLength) return fault('Data-Out beyond the R2T burst', ASC.TOO_MUCH_WRITE_DATA);
  pdu.data.copy(task.buffer!, pdu.bufferOffset);
  d.done += len;
  d.nextDataSN++;
  task.received += len;
  st.session.stats.writeBytes += len;
  if (d.done === d.desiredDataTransferLength) {
    if (!pdu.final) return fault('R2T burst complete without F');
    st.r2t.retire(d);
    task.outstandingR2T--;
    issueR2Ts(st, task);
  } else if (pdu.final) {
    return fault('F set before the R2T burst was complete');
  }
  return undefined;
}

/**
 * A broken Data-Out sequence (bad DataSN, offset, TTT or burst) cannot be recovered at
 * ErrorRecoveryLevel 0 (RFC 7143 §7.1.4). The task ends with CHECK CONDITION, ABORTED COMMAND and the
 * SPC data-phase ASC that names the fault; Data-Out still in flight for it is ignored, and the
 * connection, which is intact, goes on (libiscsi's iSCSIDataSnInvalid expects the write to fail).
 * Returns the answer, once the task's R2Ts are retired.
 */
export function dataOutFailure(st: FfpState, task: TargetTask, f: DataOutFault): ScsiResponse {
  st.host.log.warn({ itt: task.itt, reason: f.why }, 'Data-Out sequence error, failing the command');
  st.session.stats.errors++;
  st.r2t.retireTask(task.itt);
  task.outstandingR2T = 0;
  const res = checkCondition(SENSE_KEY.ABORTED_COMMAND, f.ascAscq);
  res.dataOutLength = task.edtl;
  return res;
}
