// The PDUs of error handling and events: SNACK Request, Asynchronous Message and Reject
// (RFC 7143 §11.16, §11.9, §11.17).

import { FLAG_FINAL, Opcode, RESERVED_TAG } from './constants.js';
import { EMPTY, afterSense, checkNoPayload, decodeSense, encodeSenseSegment, fieldError, readLun, writeLun, type FamilyCodec } from './bhs.js';
import type { AsyncMessagePdu, RejectPdu, SnackRequestPdu } from './types.js';

/** SNACK Request (RFC 7143 §11.16): the initiator asks again for data, status or an R2T. */
export const snackCodec: FamilyCodec<SnackRequestPdu> = {
  opcode: Opcode.SnackRequest,
  hasData: false,
  writeHeader(p, h) {
    h[0] = Opcode.SnackRequest;
    h[1] = FLAG_FINAL | (p.type & 0x0f);
    writeLun(h, p.lun);
    h.writeUInt32BE(p.itt >>> 0, 16);
    h.writeUInt32BE(p.ttt >>> 0, 20);
    h.writeUInt32BE(p.expStatSN >>> 0, 28);
    h.writeUInt32BE(p.begRun >>> 0, 40);
    h.writeUInt32BE(p.runLength >>> 0, 44);
  },
  segment: () => EMPTY,
  decode(h, ahs, data) {
    checkNoPayload(h, ahs, data, false, 'SNACK Request');
    const type = h[1]! & 0x0f;
    if (type > 3) throw fieldError(h, `SNACK type ${type} is reserved`, 'RFC 7143 §11.16.1');
    return {
      opcode: Opcode.SnackRequest,
      type,
      lun: readLun(h),
      itt: h.readUInt32BE(16),
      ttt: h.readUInt32BE(20),
      expStatSN: h.readUInt32BE(28),
      begRun: h.readUInt32BE(40),
      runLength: h.readUInt32BE(44),
    };
  },
};

/** Asynchronous Message (RFC 7143 §11.9): a target event, with sense data for a SCSI event. */
export const asyncMessageCodec: FamilyCodec<AsyncMessagePdu> = {
  opcode: Opcode.AsyncMessage,
  hasData: true,
  writeHeader(p, h) {
    h[0] = Opcode.AsyncMessage;
    h[1] = FLAG_FINAL;
    writeLun(h, p.lun);
    h.writeUInt32BE(RESERVED_TAG, 16);
    h.writeUInt32BE(p.statSN >>> 0, 24);
    h.writeUInt32BE(p.expCmdSN >>> 0, 28);
    h.writeUInt32BE(p.maxCmdSN >>> 0, 32);
    h[36] = p.asyncEvent;
    h[37] = p.asyncVCode;
    h.writeUInt16BE(p.parameter1, 38);
    h.writeUInt16BE(p.parameter2, 40);
    h.writeUInt16BE(p.parameter3, 42);
  },
  // RFC 7143 §11.9.4: SenseLength, sense data, then iSCSI event data.
  segment: (p) => encodeSenseSegment(p.sense, p.eventData),
  decode(h, ahs, data) {
    checkNoPayload(h, ahs, data, true, 'Asynchronous Message');
    const ev = h[36]!;
    if (ev > 4 && ev !== 255) throw fieldError(h, `AsyncEvent ${ev} is reserved`, 'RFC 7143 §11.9.1');
    const sense = decodeSense(h, data, 'Asynchronous Message data', 'RFC 7143 §11.9.4');
    return {
      opcode: Opcode.AsyncMessage,
      lun: readLun(h),
      statSN: h.readUInt32BE(24),
      expCmdSN: h.readUInt32BE(28),
      maxCmdSN: h.readUInt32BE(32),
      asyncEvent: ev,
      asyncVCode: h[37]!,
      parameter1: h.readUInt16BE(38),
      parameter2: h.readUInt16BE(40),
      parameter3: h.readUInt16BE(42),
      sense,
      eventData: afterSense(data, sense),
    };
  },
};

/** Reject (RFC 7143 §11.17): the target refuses a PDU and returns its header. */
export const rejectCodec: FamilyCodec<RejectPdu> = {
  opcode: Opcode.Reject,
  hasData: true,
  writeHeader(p, h) {
    h[0] = Opcode.Reject;
    h[1] = FLAG_FINAL;
    h[2] = p.reason;
    h.writeUInt32BE(RESERVED_TAG, 16);
    h.writeUInt32BE(p.statSN >>> 0, 24);
    h.writeUInt32BE(p.expCmdSN >>> 0, 28);
    h.writeUInt32BE(p.maxCmdSN >>> 0, 32);
    h.writeUInt32BE(p.dataSN >>> 0, 36);
  },
  segment: (p) => p.data,
  decode(h, ahs, data) {
    checkNoPayload(h, ahs, data, true, 'Reject');
    const reason = h[2]!;
    if (reason < 2 || reason > 0x0c) throw fieldError(h, `Reject reason ${reason} is reserved`, 'RFC 7143 §11.17.1');
    return {
      opcode: Opcode.Reject,
      reason,
      statSN: h.readUInt32BE(24),
      expCmdSN: h.readUInt32BE(28),
      maxCmdSN: h.readUInt32BE(32),
      dataSN: h.readUInt32BE(36),
      data,
    };
  },
};
