// Task Management Function Request and Response (RFC 7143 §11.5, §11.6; RFC 7144 §4).

import { FLAG_FINAL, FLAG_IMMEDIATE, Opcode } from './constants.js';
import { EMPTY, checkNoPayload, fieldError, readLun, writeLun, type FamilyCodec } from './bhs.js';
import type { TaskManagementRequestPdu, TaskManagementResponsePdu } from './types.js';

/** Task Management Function Request (RFC 7143 §11.5, RFC 7144 §4.1). */
export const tmfRequestCodec: FamilyCodec<TaskManagementRequestPdu> = {
  opcode: Opcode.TaskManagementRequest,
  hasData: false,
  writeHeader(p, h) {
    h[0] = Opcode.TaskManagementRequest | (p.immediate ? FLAG_IMMEDIATE : 0);
    h[1] = FLAG_FINAL | (p.function & 0x7f);
    writeLun(h, p.lun);
    h.writeUInt32BE(p.itt >>> 0, 16);
    h.writeUInt32BE(p.referencedTaskTag >>> 0, 20);
    h.writeUInt32BE(p.cmdSN >>> 0, 24);
    h.writeUInt32BE(p.expStatSN >>> 0, 28);
    h.writeUInt32BE(p.refCmdSN >>> 0, 32);
    h.writeUInt32BE(p.expDataSN >>> 0, 36);
  },
  segment: () => EMPTY,
  decode(h, ahs, data) {
    checkNoPayload(h, ahs, data, false, 'Task Management Function Request');
    const fn = h[1]! & 0x7f;
    // Functions 1-8 (RFC 7143) and 9-12 (RFC 7144); anything else is a reserved code value.
    if (fn < 1 || fn > 12) throw fieldError(h, `task management function ${fn} is reserved`, 'RFC 7143 §11.5.1');
    return {
      opcode: Opcode.TaskManagementRequest,
      immediate: (h[0]! & FLAG_IMMEDIATE) !== 0,
      function: fn,
      lun: readLun(h),
      itt: h.readUInt32BE(16),
      referencedTaskTag: h.readUInt32BE(20),
      cmdSN: h.readUInt32BE(24),
      expStatSN: h.readUInt32BE(28),
      refCmdSN: h.readUInt32BE(32),
      expDataSN: h.readUInt32BE(36),
    };
  },
};

/** Task Management Function Response (RFC 7143 §11.6, RFC 7144 §4.2). */
export const tmfResponseCodec: FamilyCodec<TaskManagementResponsePdu> = {
  opcode: Opcode.TaskManagementResponse,
  hasData: false,
  writeHeader(p, h) {
    h[0] = Opcode.TaskManagementResponse;
    h[1] = FLAG_FINAL;
    h[2] = p.response;
    // RFC 7144 §4.2: Additional Response Information, 3 bytes at offset 8.
    h[8] = (p.additionalResponseInformation >>> 16) & 0xff;
    h[9] = (p.additionalResponseInformation >>> 8) & 0xff;
    h[10] = p.additionalResponseInformation & 0xff;
    h.writeUInt32BE(p.itt >>> 0, 16);
    h.writeUInt32BE(p.statSN >>> 0, 24);
    h.writeUInt32BE(p.expCmdSN >>> 0, 28);
    h.writeUInt32BE(p.maxCmdSN >>> 0, 32);
  },
  segment: () => EMPTY,
  decode(h, ahs, data) {
    checkNoPayload(h, ahs, data, false, 'Task Management Function Response');
    const r = h[2]!;
    if (!(r <= 7 || r === 255)) throw fieldError(h, `TMF response ${r} is reserved`, 'RFC 7143 §11.6.1');
    return {
      opcode: Opcode.TaskManagementResponse,
      response: r,
      itt: h.readUInt32BE(16),
      statSN: h.readUInt32BE(24),
      expCmdSN: h.readUInt32BE(28),
      maxCmdSN: h.readUInt32BE(32),
      additionalResponseInformation: (h[8]! << 16) | (h[9]! << 8) | h[10]!,
    };
  },
};
