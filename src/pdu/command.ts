// The SCSI-carrying PDUs: SCSI Command and Response, Data-Out, Data-In and R2T (RFC 7143 §11.3-§11.8).

import {
  CMD_ATTR_MASK,
  CMD_FLAG_READ,
  CMD_FLAG_WRITE,
  DATAIN_FLAG_ACK,
  DATAIN_FLAG_OVERFLOW,
  DATAIN_FLAG_STATUS,
  DATAIN_FLAG_UNDERFLOW,
  FLAG_FINAL,
  FLAG_IMMEDIATE,
  Opcode,
  RSP_FLAG_BIDI_OVERFLOW,
  RSP_FLAG_BIDI_UNDERFLOW,
  RSP_FLAG_OVERFLOW,
  RSP_FLAG_UNDERFLOW,
  RESERVED_TAG,
} from './constants.js';
import { EMPTY, checkNoPayload, fieldError, readLun, writeLun, type FamilyCodec } from './bhs.js';
import type { DataInPdu, DataOutPdu, R2TPdu, RawAhs, ScsiCommandPdu, ScsiResponsePdu } from './types.js';

/** AHS types (RFC 7143 §11.2.2.2). */
export const AHS_EXTENDED_CDB = 1;
export const AHS_BIDI_READ_LENGTH = 2;
/** Largest CDB an Extended CDB AHS can carry: AHSLength is 16 bits and counts CDB bytes - 15. */
export const MAX_CDB_LENGTH = 16 + 0xffff - 1;

export const scsiCommandCodec: FamilyCodec<ScsiCommandPdu> = {
  opcode: Opcode.ScsiCommand,
  hasData: true,
  writeHeader(p, h) {
    h[0] = Opcode.ScsiCommand | (p.immediate ? FLAG_IMMEDIATE : 0);
    h[1] =
      (p.final ? FLAG_FINAL : 0) | (p.read ? CMD_FLAG_READ : 0) | (p.write ? CMD_FLAG_WRITE : 0) | (p.attr & CMD_ATTR_MASK);
    writeLun(h, p.lun);
    h.writeUInt32BE(p.itt >>> 0, 16);
    h.writeUInt32BE(p.expectedDataTransferLength >>> 0, 20);
    h.writeUInt32BE(p.cmdSN >>> 0, 24);
    h.writeUInt32BE(p.expStatSN >>> 0, 28);
    const n = Math.min(16, p.cdb.length);
    p.cdb.copy(h, 32, 0, n);
    if (n < 16) h.fill(0, 32 + n, 48);
  },
  segment: (p) => p.data,
  ahs(p) {
    const extra = p.cdb.length > 16 ? p.cdb.length - 16 : 0;
    const bidi = p.bidiReadExpectedDataTransferLength !== undefined;
    if (extra === 0 && !bidi && !p.ahs?.length) return null;
    const parts: Buffer[] = [];
    if (extra > 0) {
      if (p.cdb.length > MAX_CDB_LENGTH) throw new RangeError(`CDB of ${p.cdb.length} bytes is too long for an AHS`);
      const len = extra + 1;
      const b = Buffer.alloc(3 + len + pad4(3 + len));
      b.writeUInt16BE(len, 0);
      b[2] = AHS_EXTENDED_CDB;
      p.cdb.copy(b, 4, 16);
      parts.push(b);
    }
    if (bidi) {
      const b = Buffer.alloc(8);
      b.writeUInt16BE(5, 0);
      b[2] = AHS_BIDI_READ_LENGTH;
      b.writeUInt32BE(p.bidiReadExpectedDataTransferLength! >>> 0, 4);
      parts.push(b);
    }
    for (const a of p.ahs ?? []) {
      const len = a.data.length;
      const b = Buffer.alloc(3 + len + pad4(3 + len));
      b.writeUInt16BE(len, 0);
      b[2] = a.ahsType;
      a.data.copy(b, 3);
      parts.push(b);
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  },
  decode(h, ahs, data) {
    const attr = h[1]! & CMD_ATTR_MASK;
    if (attr > 4) throw fieldError(h, `task attribute ${attr} is reserved`, 'RFC 7143 §11.3.1.1');
    let cdb = h.subarray(32, 48);
    let bidi: number | undefined;
    let other: RawAhs[] | undefined;
    if (ahs !== null) {
      for (let off = 0; off < ahs.length; ) {
        if (ahs.length - off < 4) throw fieldError(h, 'truncated AHS', 'RFC 7143 §11.2.2');
        const len = ahs.readUInt16BE(off);
        const type = ahs[off + 2]!;
        const total = 3 + len + pad4(3 + len);
        if (len < 1 || off + total > ahs.length) {
          throw fieldError(h, `AHS length ${len} overruns TotalAHSLength`, 'RFC 7143 §11.2.2.1');
        }
        // The AHS-specific part starts after 3 header bytes; its first byte is reserved for both known types.
        const body = ahs.subarray(off + 4, off + 3 + len);
        if (type === AHS_EXTENDED_CDB) {
          if (cdb.length > 16) throw fieldError(h, 'two Extended CDB AHS', 'RFC 7143 §11.3.5');
          cdb = Buffer.concat([h.subarray(32, 48), body]);
        } else if (type === AHS_BIDI_READ_LENGTH) {
          if (len !== 5) throw fieldError(h, `bidirectional read AHS length ${len}, must be 5`, 'RFC 7143 §11.3.6');
          bidi = body.readUInt32BE(0);
        } else {
          // Types 3-63 are reserved; 64-127 are vendor specific and kept for the receiver to judge.
          if (type < 64) throw fieldError(h, `AHS type ${type} is reserved`, 'RFC 7143 §11.2.2.2');
          (other ??= []).push({ ahsType: type, data: Buffer.from(ahs.subarray(off + 3, off + 3 + len)) });
        }
        off += total;
      }
    }
    const p: ScsiCommandPdu = {
      opcode: Opcode.ScsiCommand,
      immediate: (h[0]! & FLAG_IMMEDIATE) !== 0,
      final: (h[1]! & FLAG_FINAL) !== 0,
      read: (h[1]! & CMD_FLAG_READ) !== 0,
      write: (h[1]! & CMD_FLAG_WRITE) !== 0,
      attr,
      lun: readLun(h),
      itt: h.readUInt32BE(16),
      expectedDataTransferLength: h.readUInt32BE(20),
      cmdSN: h.readUInt32BE(24),
      expStatSN: h.readUInt32BE(28),
      cdb,
      data,
    };
    if (bidi !== undefined) p.bidiReadExpectedDataTransferLength = bidi;
    if (other !== undefined) p.ahs = other;
    return p;
  },
};

export const scsiResponseCodec: FamilyCodec<ScsiResponsePdu> = {
  opcode: Opcode.ScsiResponse,
  hasData: true,
  writeHeader(p, h) {
    h[0] = Opcode.ScsiResponse;
    h[1] =
      FLAG_FINAL |
      (p.bidiReadResidualOverflow ? RSP_FLAG_BIDI_OVERFLOW : 0) |
      (p.bidiReadResidualUnderflow ? RSP_FLAG_BIDI_UNDERFLOW : 0) |
      (p.residualOverflow ? RSP_FLAG_OVERFLOW : 0) |
      (p.residualUnderflow ? RSP_FLAG_UNDERFLOW : 0);
    h[2] = p.response;
    h[3] = p.status;
    h.writeUInt32BE(p.itt >>> 0, 16);
    h.writeUInt32BE(p.snackTag >>> 0, 20);
    h.writeUInt32BE(p.statSN >>> 0, 24);
    h.writeUInt32BE(p.expCmdSN >>> 0, 28);
    h.writeUInt32BE(p.maxCmdSN >>> 0, 32);
    h.writeUInt32BE(p.expDataSN >>> 0, 36);
    h.writeUInt32BE(p.bidiReadResidualCount >>> 0, 40);
    h.writeUInt32BE(p.residualCount >>> 0, 44);
  },
  segment(p) {
    if (p.sense.length === 0 && p.responseData.length === 0) return EMPTY;
    // RFC 7143 §11.4.7.2: SenseLength (2 bytes) then the sense data, then any response data.
    const b = Buffer.allocUnsafe(2 + p.sense.length + p.responseData.length);
    b.writeUInt16BE(p.sense.length, 0);
    p.sense.copy(b, 2);
    p.responseData.copy(b, 2 + p.sense.length);
    return b;
  },
  decode(h, ahs, data) {
    checkNoPayload(h, ahs, data, true, 'SCSI Response');
    const f = h[1]!;
    if ((f & RSP_FLAG_OVERFLOW) && (f & RSP_FLAG_UNDERFLOW)) {
      throw fieldError(h, 'SCSI Response sets both O and U', 'RFC 7143 §11.4.1');
    }
    if ((f & RSP_FLAG_BIDI_OVERFLOW) && (f & RSP_FLAG_BIDI_UNDERFLOW)) {
      throw fieldError(h, 'SCSI Response sets both o and u', 'RFC 7143 §11.4.1');
    }
    let sense = EMPTY;
    let responseData = EMPTY;
    if (data.length > 0) {
      if (data.length < 2) throw fieldError(h, 'SCSI Response data segment shorter than SenseLength', 'RFC 7143 §11.4.7.2');
      const senseLength = data.readUInt16BE(0);
      if (2 + senseLength > data.length) {
        throw fieldError(h, `SenseLength ${senseLength} overruns the data segment`, 'RFC 7143 §11.4.7.2');
      }
      sense = data.subarray(2, 2 + senseLength);
      responseData = data.subarray(2 + senseLength);
    }
    return {
      opcode: Opcode.ScsiResponse,
      bidiReadResidualOverflow: (f & RSP_FLAG_BIDI_OVERFLOW) !== 0,
      bidiReadResidualUnderflow: (f & RSP_FLAG_BIDI_UNDERFLOW) !== 0,
      residualOverflow: (f & RSP_FLAG_OVERFLOW) !== 0,
      residualUnderflow: (f & RSP_FLAG_UNDERFLOW) !== 0,
      response: h[2]!,
      status: h[3]!,
      itt: h.readUInt32BE(16),
      snackTag: h.readUInt32BE(20),
      statSN: h.readUInt32BE(24),
      expCmdSN: h.readUInt32BE(28),
      maxCmdSN: h.readUInt32BE(32),
      expDataSN: h.readUInt32BE(36),
      bidiReadResidualCount: h.readUInt32BE(40),
      residualCount: h.readUInt32BE(44),
      sense,
      responseData,
    };
  },
};

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

export function pad4(n: number): number {
  return (4 - (n & 3)) & 3;
}
