// NOP-Out and NOP-In: pings and their answers (RFC 7143 §11.18, §11.19).

import { FLAG_FINAL, FLAG_IMMEDIATE, Opcode, RESERVED_TAG } from './constants.js';
import { checkNoPayload, fieldError, readLun, writeLun, type FamilyCodec } from './bhs.js';
import type { NopInPdu, NopOutPdu } from './types.js';

/** NOP-Out (RFC 7143 §11.18): an initiator's ping, or its answer to a target's. */
export const nopOutCodec: FamilyCodec<NopOutPdu> = {
  opcode: Opcode.NopOut,
  hasData: true,
  writeHeader(p, h) {
    h[0] = Opcode.NopOut | (p.immediate ? FLAG_IMMEDIATE : 0);
    h[1] = FLAG_FINAL;
    writeLun(h, p.lun);
    h.writeUInt32BE(p.itt >>> 0, 16);
    h.writeUInt32BE(p.ttt >>> 0, 20);
    h.writeUInt32BE(p.cmdSN >>> 0, 24);
    h.writeUInt32BE(p.expStatSN >>> 0, 28);
  },
  segment: (p) => p.data,
  decode(h, ahs, data) {
    checkNoPayload(h, ahs, data, true, 'NOP-Out');
    const immediate = (h[0]! & FLAG_IMMEDIATE) !== 0;
    const itt = h.readUInt32BE(16);
    // RFC 7143 §11.18.1: a NOP-Out that wants no answer (ITT 0xffffffff) MUST be immediate.
    if (itt === RESERVED_TAG && !immediate) {
      throw fieldError(h, 'NOP-Out with ITT 0xffffffff must have the I bit set', 'RFC 7143 §11.18.1');
    }
    return {
      opcode: Opcode.NopOut,
      immediate,
      lun: readLun(h),
      itt,
      ttt: h.readUInt32BE(20),
      cmdSN: h.readUInt32BE(24),
      expStatSN: h.readUInt32BE(28),
      data,
    };
  },
};

/** NOP-In (RFC 7143 §11.19): a target's answer to a ping, or its own ping. */
export const nopInCodec: FamilyCodec<NopInPdu> = {
  opcode: Opcode.NopIn,
  hasData: true,
  writeHeader(p, h) {
    h[0] = Opcode.NopIn;
    h[1] = FLAG_FINAL;
    writeLun(h, p.lun);
    h.writeUInt32BE(p.itt >>> 0, 16);
    h.writeUInt32BE(p.ttt >>> 0, 20);
    h.writeUInt32BE(p.statSN >>> 0, 24);
    h.writeUInt32BE(p.expCmdSN >>> 0, 28);
    h.writeUInt32BE(p.maxCmdSN >>> 0, 32);
  },
  segment: (p) => p.data,
  decode(h, ahs, data) {
    checkNoPayload(h, ahs, data, true, 'NOP-In');
    const itt = h.readUInt32BE(16);
    const ttt = h.readUInt32BE(20);
    // RFC 7143 §11.19: either an answer (ITT valid, TTT reserved) or a ping (ITT reserved), not both.
    if (itt === RESERVED_TAG && ttt === RESERVED_TAG) {
      // Allowed: an unsolicited NOP-In that needs no answer (used to carry StatSN/ExpCmdSN updates).
    } else if (itt !== RESERVED_TAG && ttt !== RESERVED_TAG) {
      throw fieldError(h, 'NOP-In with both ITT and TTT set', 'RFC 7143 §11.19.1');
    }
    return {
      opcode: Opcode.NopIn,
      lun: readLun(h),
      itt,
      ttt,
      statSN: h.readUInt32BE(24),
      expCmdSN: h.readUInt32BE(28),
      maxCmdSN: h.readUInt32BE(32),
      data,
    };
  },
};
