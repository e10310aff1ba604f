// Logout Request and Response (RFC 7143 §11.14, §11.15).

import { FLAG_FINAL, FLAG_IMMEDIATE, Opcode } from './constants.js';
import { EMPTY, checkNoPayload, fieldError, type FamilyCodec } from './bhs.js';
import type { LogoutRequestPdu, LogoutResponsePdu } from './types.js';

/** Logout Request (RFC 7143 §11.14). */
export const logoutRequestCodec: FamilyCodec<LogoutRequestPdu> = {
  opcode: Opcode.LogoutRequest,
  hasData: false,
  writeHeader(p, h) {
    h[0] = Opcode.LogoutRequest | (p.immediate ? FLAG_IMMEDIATE : 0);
    h[1] = FLAG_FINAL | (p.reasonCode & 0x7f);
    h.writeUInt32BE(p.itt >>> 0, 16);
    h.writeUInt16BE(p.cid, 20);
    h.writeUInt32BE(p.cmdSN >>> 0, 24);
    h.writeUInt32BE(p.expStatSN >>> 0, 28);
  },
  segment: () => EMPTY,
  decode(h, ahs, data) {
    checkNoPayload(h, ahs, data, false, 'Logout Request');
    const reason = h[1]! & 0x7f;
    if (reason > 2) throw fieldError(h, `logout reason code ${reason} is reserved`, 'RFC 7143 §11.14.1');
    return {
      opcode: Opcode.LogoutRequest,
      immediate: (h[0]! & FLAG_IMMEDIATE) !== 0,
      reasonCode: reason,
      itt: h.readUInt32BE(16),
      cid: h.readUInt16BE(20),
      cmdSN: h.readUInt32BE(24),
      expStatSN: h.readUInt32BE(28),
    };
  },
};

/** Logout Response (RFC 7143 §11.15). */
export const logoutResponseCodec: FamilyCodec<LogoutResponsePdu> = {
  opcode: Opcode.LogoutResponse,
  hasData: false,
  writeHeader(p, h) {
    h[0] = Opcode.LogoutResponse;
    h[1] = FLAG_FINAL;
    h[2] = p.response;
    h.writeUInt32BE(p.itt >>> 0, 16);
    h.writeUInt32BE(p.statSN >>> 0, 24);
    h.writeUInt32BE(p.expCmdSN >>> 0, 28);
    h.writeUInt32BE(p.maxCmdSN >>> 0, 32);
    h.writeUInt16BE(p.time2Wait, 40);
    h.writeUInt16BE(p.time2Retain, 42);
  },
  segment: () => EMPTY,
  decode(h, ahs, data) {
    checkNoPayload(h, ahs, data, false, 'Logout Response');
    const r = h[2]!;
    if (r > 3) throw fieldError(h, `logout response ${r} is reserved`, 'RFC 7143 §11.15.1');
    return {
      opcode: Opcode.LogoutResponse,
      response: r,
      itt: h.readUInt32BE(16),
      statSN: h.readUInt32BE(24),
      expCmdSN: h.readUInt32BE(28),
      maxCmdSN: h.readUInt32BE(32),
      time2Wait: h.readUInt16BE(40),
      time2Retain: h.readUInt16BE(42),
    };
  },
};
