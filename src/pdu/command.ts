// SCSI Command and SCSI Response (RFC 7143 §11.3, §11.4): the PDUs that carry a CDB and its status. The
// data they move between the two is in data-transfer.ts.

import {
  CMD_ATTR_MASK,
  CMD_FLAG_READ,
  CMD_FLAG_WRITE,
  FLAG_FINAL,
  FLAG_IMMEDIATE,
  Opcode,
  RSP_FLAG_BIDI_OVERFLOW,
  RSP_FLAG_BIDI_UNDERFLOW,
  RSP_FLAG_OVERFLOW,
  RSP_FLAG_UNDERFLOW,
} from './constants.js';
import { afterSense, checkNoPayload, decodeSense, encodeSenseSegment, fieldError, newAhsEntry, pad4, readLun, writeLun, type FamilyCodec } from './bhs.js';
import type { RawAhs, ScsiCommandPdu, ScsiResponsePdu } from './types.js';

/** AHS type of an Extended CDB (RFC 7143 §11.2.2.2, §11.3.5). */
export const AHS_EXTENDED_CDB = 1;
/** AHS type of a Bidirectional Read Expected Data Transfer Length (RFC 7143 §11.2.2.2, §11.3.6). */
export const AHS_BIDI_READ_LENGTH = 2;
/** AHSLength of the Bidirectional Read Expected Data Transfer Length AHS: a reserved byte and 4 bytes. */
const BIDI_READ_AHS_LENGTH = 5;
/** Largest CDB an Extended CDB AHS can carry: AHSLength is 16 bits and counts CDB bytes - 15. */
export const MAX_CDB_LENGTH = 16 + 0xffff - 1;

/** SCSI Command (RFC 7143 §11.3): the CDB, longer ones in an Extended CDB AHS, and immediate data. */
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
      // RFC 7143 §11.3.5: a reserved byte, then the CDB bytes beyond the 16 in the BHS.
      const b = newAhsEntry(AHS_EXTENDED_CDB, extra + 1);
      p.cdb.copy(b, 4, 16);
      parts.push(b);
    }
    if (bidi) {
      // RFC 7143 §11.3.6: a reserved byte, then the 4-byte length.
      const b = newAhsEntry(AHS_BIDI_READ_LENGTH, BIDI_READ_AHS_LENGTH);
      b.writeUInt32BE(p.bidiReadExpectedDataTransferLength! >>> 0, 4);
      parts.push(b);
    }
    for (const a of p.ahs ?? []) {
      const b = newAhsEntry(a.ahsType, a.data.length);
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
          if (len !== BIDI_READ_AHS_LENGTH) throw fieldError(h, `bidirectional read AHS length ${len}, must be ${BIDI_READ_AHS_LENGTH}`, 'RFC 7143 §11.3.6');
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

/** SCSI Response (RFC 7143 §11.4): status, residuals and the SenseLength-prefixed sense data. */
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
  // RFC 7143 §11.4.7.2: SenseLength (2 bytes) then the sense data, then any response data.
  segment: (p) => encodeSenseSegment(p.sense, p.responseData),
  decode(h, ahs, data) {
    checkNoPayload(h, ahs, data, true, 'SCSI Response');
    const f = h[1]!;
    if ((f & RSP_FLAG_OVERFLOW) && (f & RSP_FLAG_UNDERFLOW)) {
      throw fieldError(h, 'SCSI Response sets both O and U', 'RFC 7143 §11.4.1');
    }
    if ((f & RSP_FLAG_BIDI_OVERFLOW) && (f & RSP_FLAG_BIDI_UNDERFLOW)) {
      throw fieldError(h, 'SCSI Response sets both o and u', 'RFC 7143 §11.4.1');
    }
    const sense = decodeSense(h, data, 'SCSI Response data segment', 'RFC 7143 §11.4.7.2');
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
      responseData: afterSense(data, sense),
    };
  },
};
