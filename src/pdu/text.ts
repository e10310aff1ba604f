// Text Request and Response PDUs (RFC 7143 §11.10, §11.11). The key=value payload codec is in text-keys.ts.

import { FLAG_FINAL, FLAG_IMMEDIATE, Opcode, TEXT_FLAG_CONTINUE } from './constants.js';
import { checkNoPayload, fieldError, readLun, writeLun, type FamilyCodec } from './bhs.js';
import type { TextRequestPdu, TextResponsePdu } from './types.js';

function flags(h: Buffer, what: string): { final: boolean; cont: boolean } {
  const final = (h[1]! & FLAG_FINAL) !== 0;
  const cont = (h[1]! & TEXT_FLAG_CONTINUE) !== 0;
  // RFC 7143 §11.10.2: "If the C bit is set to 1, the F bit MUST be set to 0."
  if (final && cont) throw fieldError(h, `${what} sets both F and C`, 'RFC 7143 §11.10.2');
  return { final, cont };
}

/** Text Request (RFC 7143 §11.10): key=value pairs in Full Feature Phase. */
export const textRequestCodec: FamilyCodec<TextRequestPdu> = {
  opcode: Opcode.TextRequest,
  hasData: true,
  writeHeader(p, h) {
    h[0] = Opcode.TextRequest | (p.immediate ? FLAG_IMMEDIATE : 0);
    h[1] = (p.final ? FLAG_FINAL : 0) | (p.continue ? TEXT_FLAG_CONTINUE : 0);
    writeLun(h, p.lun);
    h.writeUInt32BE(p.itt >>> 0, 16);
    h.writeUInt32BE(p.ttt >>> 0, 20);
    h.writeUInt32BE(p.cmdSN >>> 0, 24);
    h.writeUInt32BE(p.expStatSN >>> 0, 28);
  },
  segment: (p) => p.data,
  decode(h, ahs, data) {
    checkNoPayload(h, ahs, data, true, 'Text Request');
    const f = flags(h, 'Text Request');
    return {
      opcode: Opcode.TextRequest,
      immediate: (h[0]! & FLAG_IMMEDIATE) !== 0,
      final: f.final,
      continue: f.cont,
      lun: readLun(h),
      itt: h.readUInt32BE(16),
      ttt: h.readUInt32BE(20),
      cmdSN: h.readUInt32BE(24),
      expStatSN: h.readUInt32BE(28),
      data,
    };
  },
};

/** Text Response (RFC 7143 §11.11). */
export const textResponseCodec: FamilyCodec<TextResponsePdu> = {
  opcode: Opcode.TextResponse,
  hasData: true,
  writeHeader(p, h) {
    h[0] = Opcode.TextResponse;
    h[1] = (p.final ? FLAG_FINAL : 0) | (p.continue ? TEXT_FLAG_CONTINUE : 0);
    writeLun(h, p.lun);
    h.writeUInt32BE(p.itt >>> 0, 16);
    h.writeUInt32BE(p.ttt >>> 0, 20);
    h.writeUInt32BE(p.statSN >>> 0, 24);
    h.writeUInt32BE(p.expCmdSN >>> 0, 28);
    h.writeUInt32BE(p.maxCmdSN >>> 0, 32);
  },
  segment: (p) => p.data,
  decode(h, ahs, data) {
    checkNoPayload(h, ahs, data, true, 'Text Response');
    const f = flags(h, 'Text Response');
    return {
      opcode: Opcode.TextResponse,
      final: f.final,
      continue: f.cont,
      lun: readLun(h),
      itt: h.readUInt32BE(16),
      ttt: h.readUInt32BE(20),
      statSN: h.readUInt32BE(24),
      expCmdSN: h.readUInt32BE(28),
      maxCmdSN: h.readUInt32BE(32),
      data,
    };
  },
};
