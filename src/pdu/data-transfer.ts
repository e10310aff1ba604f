// The data-transfer PDUs of a SCSI command (RFC 7143 §11.7, §11.8): SCSI Data-Out (initiator to
// target), SCSI Data-In (target to initiator, may carry the status) and Ready To Transfer (R2T).

import {
  DATAIN_FLAG_ACK,
  DATAIN_FLAG_OVERFLOW,
  DATAIN_FLAG_STATUS,
  DATAIN_FLAG_UNDERFLOW,
  FLAG_FINAL,
  Opcode,
  RESERVED_TAG,
} from './constants.js';
import { EMPTY, checkNoPayload, fieldError, readLun, writeLun, type FamilyCodec } from './bhs.js';
import type { DataInPdu, DataOutPdu, R2TPdu } from './types.js';

/** SCSI Data-Out (RFC 7143 §11.7): a piece of write data, solicited by an R2T or unsolicited. */
export const dataOutCodec: FamilyCodec<DataOutPdu> = {
  opcode: Opcode.DataOut,
  hasData: true,
  writeHeader(p, h) {
    h[0] = Opcode.DataOut;
    h[1] = p.final ? FLAG_FINAL : 0;
    writeLun(h, p.lun);
    h.writeUInt32BE(p.itt >>> 0, 16);
    h.writeUInt32BE(p.ttt >>> 0, 20);
    h.writeUInt32BE(p.expStatSN >>> 0, 28);
    h.writeUInt32BE(p.dataSN >>> 0, 36);
    h.writeUInt32BE(p.bufferOffset >>> 0, 40);
  },
  segment: (p) => p.data,
  decode(h, ahs, data) {
    checkNoPayload(h, ahs, data, true, 'SCSI Data-Out');
    return {
      opcode: Opcode.DataOut,
      final: (h[1]! & FLAG_FINAL) !== 0,
      lun: readLun(h),
      itt: h.readUInt32BE(16),
      ttt: h.readUInt32BE(20),
      expStatSN: h.readUInt32BE(28),
      dataSN: h.readUInt32BE(36),
      bufferOffset: h.readUInt32BE(40),
      data,
    };
  },
};

/** SCSI Data-In (RFC 7143 §11.7): a piece of read data, with the status when S is set (§11.7.1). */
export const dataInCodec: FamilyCodec<DataInPdu> = {
  opcode: Opcode.DataIn,
  hasData: true,
  writeHeader(p, h) {
    h[0] = Opcode.DataIn;
    h[1] =
      (p.final ? FLAG_FINAL : 0) |
      (p.acknowledge ? DATAIN_FLAG_ACK : 0) |
      (p.residualOverflow ? DATAIN_FLAG_OVERFLOW : 0) |
      (p.residualUnderflow ? DATAIN_FLAG_UNDERFLOW : 0) |
      (p.statusPresent ? DATAIN_FLAG_STATUS : 0);
    h[3] = p.statusPresent ? p.status : 0;
    writeLun(h, p.lun);
    h.writeUInt32BE(p.itt >>> 0, 16);
    h.writeUInt32BE(p.ttt >>> 0, 20);
    h.writeUInt32BE(p.statSN >>> 0, 24);
    h.writeUInt32BE(p.expCmdSN >>> 0, 28);
    h.writeUInt32BE(p.maxCmdSN >>> 0, 32);
    h.writeUInt32BE(p.dataSN >>> 0, 36);
    h.writeUInt32BE(p.bufferOffset >>> 0, 40);
    h.writeUInt32BE(p.residualCount >>> 0, 44);
  },
  segment: (p) => p.data,
  decode(h, ahs, data) {
    checkNoPayload(h, ahs, data, true, 'SCSI Data-In');
    const f = h[1]!;
    const s = (f & DATAIN_FLAG_STATUS) !== 0;
    // RFC 7143 §11.7.1: S may be set only together with F; O and U are meaningful only with S.
    if (s && !(f & FLAG_FINAL)) throw fieldError(h, 'Data-In with S set but not F', 'RFC 7143 §11.7.1');
    if ((f & DATAIN_FLAG_OVERFLOW) && (f & DATAIN_FLAG_UNDERFLOW)) {
      throw fieldError(h, 'Data-In sets both O and U', 'RFC 7143 §11.7.1');
    }
    return {
      opcode: Opcode.DataIn,
      final: (f & FLAG_FINAL) !== 0,
      acknowledge: (f & DATAIN_FLAG_ACK) !== 0,
      residualOverflow: (f & DATAIN_FLAG_OVERFLOW) !== 0,
      residualUnderflow: (f & DATAIN_FLAG_UNDERFLOW) !== 0,
      statusPresent: s,
      status: h[3]!,
      lun: readLun(h),
      itt: h.readUInt32BE(16),
      ttt: h.readUInt32BE(20),
      statSN: h.readUInt32BE(24),
      expCmdSN: h.readUInt32BE(28),
      maxCmdSN: h.readUInt32BE(32),
      dataSN: h.readUInt32BE(36),
      bufferOffset: h.readUInt32BE(40),
      residualCount: h.readUInt32BE(44),
      data,
    };
  },
};

/** Ready To Transfer (RFC 7143 §11.8): the target asks for one burst of Data-Out. */
export const r2tCodec: FamilyCodec<R2TPdu> = {
  opcode: Opcode.R2T,
  hasData: false,
  writeHeader(p, h) {
    h[0] = Opcode.R2T;
    h[1] = FLAG_FINAL;
    writeLun(h, p.lun);
    h.writeUInt32BE(p.itt >>> 0, 16);
    h.writeUInt32BE(p.ttt >>> 0, 20);
    h.writeUInt32BE(p.statSN >>> 0, 24);
    h.writeUInt32BE(p.expCmdSN >>> 0, 28);
    h.writeUInt32BE(p.maxCmdSN >>> 0, 32);
    h.writeUInt32BE(p.r2tSN >>> 0, 36);
    h.writeUInt32BE(p.bufferOffset >>> 0, 40);
    h.writeUInt32BE(p.desiredDataTransferLength >>> 0, 44);
  },
  segment: () => EMPTY,
  decode(h, ahs, data) {
    checkNoPayload(h, ahs, data, false, 'R2T');
    const ttt = h.readUInt32BE(20);
    if (ttt === RESERVED_TAG) throw fieldError(h, 'R2T with the reserved Target Transfer Tag', 'RFC 7143 §11.8.3');
    const desired = h.readUInt32BE(44);
    // RFC 7143 §11.8.4: the Desired Data Transfer Length MUST NOT be 0.
    if (desired === 0) throw fieldError(h, 'R2T asks for 0 bytes', 'RFC 7143 §11.8.4');
    return {
      opcode: Opcode.R2T,
      lun: readLun(h),
      itt: h.readUInt32BE(16),
      ttt,
      statSN: h.readUInt32BE(24),
      expCmdSN: h.readUInt32BE(28),
      maxCmdSN: h.readUInt32BE(32),
      r2tSN: h.readUInt32BE(36),
      bufferOffset: h.readUInt32BE(40),
      desiredDataTransferLength: desired,
    };
  },
};
