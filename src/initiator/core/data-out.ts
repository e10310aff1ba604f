// The Data-Out half of a command: unsolicited data (ImmediateData, InitialR2T=No, FirstBurstLength,
// RFC 7143 §13.10, §13.11, §13.14), and the bursts the target asks for with R2T (§11.8), every PDU cut to
// the target's MaxRecvDataSegmentLength (§13.12). Every negotiated limit is applied here and nowhere else.

import { IscsiProtocolError } from '../../errors.js';
import { Opcode, RESERVED_TAG } from '../../pdu/constants.js';
import type { DataOutPdu, InitiatorPdu, R2TPdu } from '../../pdu/types.js';
import type { R2TDescriptor, R2TTable } from '../../r2t/table.js';
import type { NegotiatedParams } from '../../login/policy.js';
import type { Task } from './task.js';

/** The negotiated values that shape output data. */
export interface BurstLimits {
  /** The target's MaxRecvDataSegmentLength: the largest data segment we may send (§13.12). */
  maxSendDataSegmentLength: number;
  firstBurstLength: number;
  maxBurstLength: number;
  immediateData: boolean;
  initialR2T: boolean;
  maxOutstandingR2T: number;
  dataSequenceInOrder: boolean;
}

/** The output limits a connection's negotiated parameters set. */
export function burstLimits(p: NegotiatedParams): BurstLimits {
  return {
    maxSendDataSegmentLength: p.connection.maxSendDataSegmentLength,
    firstBurstLength: p.session.firstBurstLength,
    maxBurstLength: p.session.maxBurstLength,
    immediateData: p.session.immediateData,
    initialR2T: p.session.initialR2T,
    maxOutstandingR2T: p.session.maxOutstandingR2T,
    dataSequenceInOrder: p.session.dataSequenceInOrder,
  };
}

/**
 * How much of `length` output bytes go unsolicited: `immediate` in the SCSI Command PDU, `total` with the
 * unsolicited Data-Out PDUs that follow (RFC 7143 §13.14: at most FirstBurstLength in all).
 */
export function unsolicitedPlan(length: number, l: BurstLimits): { immediate: number; total: number } {
  if (length === 0) return { immediate: 0, total: 0 };
  const first = Math.min(length, l.firstBurstLength);
  const immediate = l.immediateData ? Math.min(first, l.maxSendDataSegmentLength) : 0;
  const total = l.initialR2T ? immediate : first;
  return { immediate, total };
}

/**
 * Emits the unsolicited Data-Out PDUs for bytes [from, to) (RFC 7143 §11.7: TTT 0xffffffff, DataSN from 0
 * within this sequence, F on the last).
 */
export function sendUnsolicited(task: Task, data: Buffer, from: number, to: number, l: BurstLimits, expStatSN: number, send: (p: InitiatorPdu) => void): void {
  let dataSN = 0;
  for (let off = from; off < to; ) {
    const n = Math.min(l.maxSendDataSegmentLength, to - off);
    send(dataOut(task, RESERVED_TAG, dataSN++, off, data.subarray(off, off + n), off + n === to, expStatSN));
    off += n;
  }
}

/** Emits the Data-Out burst one R2T asked for (DataSN from 0 per R2T, RFC 7143 §11.7.4), F on the last. */
export function sendBurst(task: Task, d: R2TDescriptor, data: Buffer, l: BurstLimits, expStatSN: number, send: (p: InitiatorPdu) => void): void {
  const end = d.bufferOffset + d.desiredDataTransferLength;
  for (let off = d.bufferOffset + d.done; off < end; ) {
    const n = Math.min(l.maxSendDataSegmentLength, end - off);
    send(dataOut(task, d.ttt, d.nextDataSN, off, data.subarray(off, off + n), off + n === end, expStatSN));
    d.nextDataSN++;
    d.done += n;
    off += n;
  }
}

function dataOut(task: Task, ttt: number, dataSN: number, bufferOffset: number, data: Buffer, final: boolean, expStatSN: number): DataOutPdu {
  return { opcode: Opcode.DataOut, final, lun: task.pending!.lun, itt: task.itt, ttt, expStatSN, dataSN, bufferOffset, data };
}

function violation(code: string, message: string, rule: string): IscsiProtocolError {
  return new IscsiProtocolError(code, message, { rule, action: 'drop' });
}

/**
 * Takes an R2T for `task` (backward path): checks it and moves a descriptor from the pool to the queue
 * (under pool2queue). Throws IscsiProtocolError for an R2T the negotiation forbids: on a command with no
 * output, R2TSN out of order, a range outside the data or inside what was sent unsolicited, longer than
 * MaxBurstLength, more than MaxOutstandingR2T at once, or out of order with DataSequenceInOrder=Yes.
 */
export function acceptR2T(task: Task, pdu: R2TPdu, l: BurstLimits, table: R2TTable): R2TDescriptor {
  const out = task.pending!.dataOut;
  const itt = `ITT 0x${task.itt.toString(16)}`;
  if (out === null) throw violation('ERR_R2T_UNEXPECTED', `R2T for a command that writes nothing (${itt})`, 'RFC 7143 §11.8');
  if (pdu.r2tSN !== task.expR2TSN) throw violation('ERR_R2T_SEQUENCE', `R2TSN ${pdu.r2tSN}, expected ${task.expR2TSN} (${itt})`, 'RFC 7143 §11.8.5');
  const end = pdu.bufferOffset + pdu.desiredDataTransferLength;
  if (end > out.length) {
    throw violation('ERR_R2T_RANGE', `R2T asks for bytes ${pdu.bufferOffset}..${end}, past the ${out.length} to write (${itt})`, 'RFC 7143 §11.8.4');
  }
  if (pdu.bufferOffset < task.unsolicited) {
    throw violation('ERR_R2T_RANGE', `R2T asks again for bytes below ${task.unsolicited}, already sent unsolicited (${itt})`, 'RFC 7143 §11.8.4');
  }
  if (pdu.desiredDataTransferLength > l.maxBurstLength) {
    throw violation('ERR_R2T_BURST', `R2T asks for ${pdu.desiredDataTransferLength} bytes, more than MaxBurstLength ${l.maxBurstLength} (${itt})`, 'RFC 7143 §13.13');
  }
  if (l.dataSequenceInOrder && pdu.bufferOffset !== Math.max(task.nextR2TOffset, task.unsolicited)) {
    throw violation('ERR_R2T_ORDER', `R2T at offset ${pdu.bufferOffset}, expected ${Math.max(task.nextR2TOffset, task.unsolicited)} (DataSequenceInOrder=Yes, ${itt})`, 'RFC 7143 §13.19');
  }
  if (task.outstandingR2T >= l.maxOutstandingR2T) {
    throw violation('ERR_R2T_OUTSTANDING', `more than MaxOutstandingR2T=${l.maxOutstandingR2T} R2Ts at once (${itt})`, 'RFC 7143 §13.17');
  }
  const d = table.issue({ itt: task.itt, ttt: pdu.ttt, r2tSN: pdu.r2tSN, bufferOffset: pdu.bufferOffset, desiredDataTransferLength: pdu.desiredDataTransferLength, owner: task });
  if (d === undefined) throw violation('ERR_R2T_OUTSTANDING', `no R2T descriptor free (${table.capacity} in use)`, 'RFC 7143 §13.17');
  task.expR2TSN = (task.expR2TSN + 1) >>> 0;
  task.nextR2TOffset = end;
  task.outstandingR2T++;
  return d;
}
