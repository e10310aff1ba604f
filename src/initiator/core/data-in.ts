// The Data-In half of a command (RFC 7143 §11.7) and its status (§11.4): every Data-In is checked
// (DataSN in order, offset where the data so far ended, nothing past the expected length), status may be
// collapsed into the last Data-In (§11.7.5), and the residuals of the response reach the caller.

import { IscsiProtocolError } from '../../errors.js';
import { IscsiResponse } from '../../pdu/constants.js';
import type { DataInPdu, ScsiResponsePdu } from '../../pdu/types.js';
import type { CommandResult } from './result.js';
import type { Task } from './task.js';

const EMPTY: Buffer = Buffer.alloc(0);

function violation(code: string, message: string, rule: string): IscsiProtocolError {
  return new IscsiProtocolError(code, message, { rule, action: 'drop' });
}

/**
 * Takes one Data-In for `task` (backward path). Throws IscsiProtocolError when the target breaks a rule:
 * Data-In for a command without input, DataSN out of order, an offset that skips or overlaps (in-order
 * delivery is negotiated: DataPDUInOrder=Yes), or data past the expected transfer length.
 */
export function acceptDataIn(task: Task, pdu: DataInPdu): void {
  const p = task.pending!;
  const length = p.readLength;
  if (length === 0 && pdu.data.length > 0) {
    throw violation('ERR_DATA_IN_UNEXPECTED', `Data-In with ${pdu.data.length} bytes for a command that reads nothing (ITT 0x${task.itt.toString(16)})`, 'RFC 7143 §11.7');
  }
  // RFC 7143 §11.7.4: DataSN counts the Data-In PDUs of the command from 0. At ErrorRecoveryLevel 0
  // there is no SNACK to ask for a missing one: a gap fails the command.
  if (pdu.dataSN !== task.expDataSN) {
    throw violation('ERR_DATA_IN_SEQUENCE', `Data-In DataSN ${pdu.dataSN}, expected ${task.expDataSN} (ITT 0x${task.itt.toString(16)})`, 'RFC 7143 §11.7.4');
  }
  const n = pdu.data.length;
  const off = pdu.bufferOffset;
  // RFC 7143 §13.18: DataPDUInOrder=Yes, so each Data-In starts where the previous one ended.
  if (off !== task.received) {
    throw violation('ERR_DATA_IN_OFFSET', `Data-In at offset ${off}, expected ${task.received} (ITT 0x${task.itt.toString(16)})`, 'RFC 7143 §11.7.6');
  }
  if (off + n > length) {
    throw violation('ERR_DATA_IN_OVERRUN', `Data-In ends at ${off + n}, past the expected transfer length ${length} (ITT 0x${task.itt.toString(16)})`, 'RFC 7143 §11.7.6');
  }
  task.expDataSN = (task.expDataSN + 1) >>> 0;
  if (n === 0) return;
  if (task.buf === null) {
    if (off === 0 && pdu.final && p.into === null && task.view === null) {
      // The whole transfer in one PDU: hand the caller the socket's bytes, no copy.
      task.view = pdu.data;
      task.received = n;
      return;
    }
    task.buf = p.into ?? Buffer.allocUnsafe(length);
    if (task.view !== null) {
      task.view.copy(task.buf, 0);
      task.view = null;
    }
  }
  pdu.data.copy(task.buf, off);
  task.received = off + n;
}

/** Status of a Data-In with the S bit (RFC 7143 §11.7.5: status collapsed into the last Data-In). */
export function resultFromDataIn(task: Task, pdu: DataInPdu): CommandResult {
  return finish(task, pdu.status, EMPTY, pdu.residualOverflow, pdu.residualUnderflow, pdu.residualCount);
}

/**
 * The result of a SCSI Response (backward path). Throws for a Target Failure response (the caller gets a
 * TargetFailureError) only through the caller; this returns null for it.
 */
export function resultFromResponse(task: Task, pdu: ScsiResponsePdu): CommandResult | null {
  if (pdu.response !== IscsiResponse.CommandCompleted) return null;
  return finish(task, pdu.status, pdu.sense, pdu.residualOverflow, pdu.residualUnderflow, pdu.residualCount);
}

function finish(task: Task, status: number, sense: Buffer, overflow: boolean, underflow: boolean, residualCount: number): CommandResult {
  const p = task.pending!;
  let data: Buffer;
  if (task.view !== null) data = task.view;
  else if (task.buf !== null) data = task.received === task.buf.length ? task.buf : task.buf.subarray(0, task.received);
  else data = p.into !== null ? p.into.subarray(0, 0) : EMPTY;
  return { status, data, sense, overflow, underflow, residualCount: overflow || underflow ? residualCount : 0 };
}

/**
 * Checks a GOOD read against its residual: without underflow every expected byte must have come
 * (otherwise Data-In was lost, which ErrorRecoveryLevel 0 cannot repair); with underflow, no more than
 * expected minus the residual.
 */
export function checkReadComplete(task: Task, r: CommandResult): IscsiProtocolError | undefined {
  const expected = task.pending!.readLength;
  if (expected === 0) return undefined;
  const due = r.underflow ? expected - r.residualCount : expected;
  if (r.underflow && (r.residualCount > expected || r.residualCount < 0)) {
    return violation('ERR_RESIDUAL', `residual underflow ${r.residualCount} exceeds the expected length ${expected}`, 'RFC 7143 §11.4.5.1');
  }
  if (task.received < due) {
    return violation('ERR_DATA_IN_MISSING', `status GOOD after ${task.received} of ${due} Data-In bytes (ITT 0x${task.itt.toString(16)})`, 'RFC 7143 §11.7');
  }
  return undefined;
}
