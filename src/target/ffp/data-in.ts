// A command's answer (RFC 7143 §11.4, §11.7): Data-In split by the initiator's MaxRecvDataSegmentLength
// and sequenced by MaxBurstLength, residuals against the EDTL (§11.4.5), and the status collapsed into
// the last Data-In when there is no sense data (§11.7.5), else a SCSI Response.

import { IscsiResponse, Opcode, RESERVED_TAG } from '../../pdu/constants.js';
import { STATUS } from '../../scsi/constants.js';
import { buildFixedSense } from '../../scsi/sense.js';
import type { ScsiResponse } from '../../scsi/types.js';
import type { TargetTask } from '../task.js';
import { EMPTY, nextStatSN, type FfpState } from './state.js';

/** The status a final Data-In carries when it is collapsed into it (RFC 7143 §11.7.5). */
interface CollapsedStatus {
  status: number;
  overflow: boolean;
  underflow: boolean;
  residual: number;
}

/** CHECK CONDITION with fixed sense data: `ascAscq` is ASC << 8 | ASCQ, as in ASC of scsi/constants. */
export function checkCondition(key: number, ascAscq: number): ScsiResponse {
  return { status: STATUS.CHECK_CONDITION, sense: buildFixedSense({ key, asc: ascAscq >> 8, ascq: ascAscq & 0xff }) };
}

/** Sends the task's Data-In (if any) and its status. The caller has freed the task's window slot. */
export function sendAnswer(st: FfpState, task: TargetTask, res: ScsiResponse): void {
  const data = res.data;
  const spdtlIn = data?.length ?? 0;
  const sendable = Math.min(spdtlIn, task.readLength);
  // Residuals (RFC 7143 §11.4.5): against the EDTL of the direction that moved data.
  let overflow = false;
  let underflow = false;
  let residual = 0;
  if (task.write) {
    const spdtl = res.dataOutLength ?? task.edtl;
    if (spdtl > task.edtl) {
      overflow = true;
      residual = spdtl - task.edtl;
    } else if (spdtl < task.edtl) {
      underflow = true;
      residual = task.edtl - spdtl;
    }
  } else if (task.read || spdtlIn > 0) {
    const edtl = task.read ? task.readLength : 0;
    if (spdtlIn > edtl) {
      overflow = true;
      residual = spdtlIn - edtl;
    } else if (spdtlIn < edtl) {
      underflow = true;
      residual = edtl - spdtlIn;
    }
  } else if (task.edtl > 0 && !task.write && !task.read) {
    // EDTL without R or W: nothing moves, the whole EDTL is unused.
    underflow = true;
    residual = task.edtl;
  }
  const hasSense = res.sense !== undefined && res.sense.length > 0;
  // RFC 7143 §11.7.5: status may ride on the last Data-In only when there is no sense data.
  const collapse = sendable > 0 && !hasSense;
  let dataSN = 0;
  if (sendable > 0) {
    dataSN = sendDataIn(st, task, data!, sendable, collapse ? { status: res.status, overflow, underflow, residual } : undefined);
    st.session.stats.readBytes += sendable;
  }
  if (!collapse) {
    st.host.send({
      opcode: Opcode.ScsiResponse,
      bidiReadResidualOverflow: false,
      bidiReadResidualUnderflow: false,
      residualOverflow: overflow,
      residualUnderflow: underflow,
      response: IscsiResponse.CommandCompleted,
      status: res.status,
      itt: task.itt,
      snackTag: 0,
      statSN: nextStatSN(st),
      expCmdSN: 0, // stamped as it goes out, after the task left the window
      maxCmdSN: 0,
      expDataSN: dataSN,
      bidiReadResidualCount: 0,
      residualCount: residual,
      sense: res.sense ?? EMPTY,
      responseData: EMPTY,
    });
  }
}

/** Splits Data-In by MaxRecvDataSegmentLength, sequences by MaxBurstLength; returns PDUs sent. */
function sendDataIn(st: FfpState, task: TargetTask, data: Buffer, length: number, status: CollapsedStatus | undefined): number {
  const maxSeg = st.conn.maxSendDataSegmentLength;
  const maxBurst = st.session.params.maxBurstLength;
  let offset = 0;
  let dataSN = 0;
  let burstLeft = maxBurst;
  while (offset < length) {
    const n = Math.min(maxSeg, length - offset, burstLeft);
    const last = offset + n === length;
    burstLeft -= n;
    const endOfSequence = last || burstLeft === 0;
    const withStatus = last && status !== undefined;
    st.host.send({
      opcode: Opcode.DataIn,
      final: endOfSequence,
      acknowledge: false,
      residualOverflow: withStatus && status.overflow,
      residualUnderflow: withStatus && status.underflow,
      statusPresent: withStatus,
      status: withStatus ? status.status : 0,
      lun: task.lunField,
      itt: task.itt,
      ttt: RESERVED_TAG,
      statSN: withStatus ? nextStatSN(st) : 0,
      expCmdSN: 0,
      maxCmdSN: 0,
      dataSN,
      bufferOffset: offset,
      residualCount: withStatus ? status.residual : 0,
      data: offset === 0 && n === data.length ? data : data.subarray(offset, offset + n),
    });
    dataSN++;
    offset += n;
    if (burstLeft === 0) burstLeft = maxBurst;
  }
  return dataSN;
}
