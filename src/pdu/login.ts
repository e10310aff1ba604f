// Login Request and Response (RFC 7143 §11.12, §11.13).

import {
  FLAG_IMMEDIATE,
  LOGIN_CSG_MASK,
  LOGIN_FLAG_CONTINUE,
  LOGIN_FLAG_TRANSIT,
  LOGIN_NSG_MASK,
  Opcode,
} from './constants.js';
import { checkNoPayload, fieldError, isidToHex, writeIsid, type FamilyCodec } from './bhs.js';
import type { LoginRequestPdu, LoginResponsePdu } from './types.js';

function stageFlags(transit: boolean, cont: boolean, csg: number, nsg: number): number {
  return (transit ? LOGIN_FLAG_TRANSIT : 0) | (cont ? LOGIN_FLAG_CONTINUE : 0) | ((csg & 3) << 2) | (transit ? nsg & 3 : 0);
}

function checkStages(h: Buffer, what: string): { transit: boolean; cont: boolean; csg: number; nsg: number } {
  const f = h[1]!;
  const transit = (f & LOGIN_FLAG_TRANSIT) !== 0;
  const cont = (f & LOGIN_FLAG_CONTINUE) !== 0;
  const csg = (f & LOGIN_CSG_MASK) >> 2;
  const nsg = f & LOGIN_NSG_MASK;
  // RFC 7143 §11.12.2: T and C must not both be 1; stage 2 is reserved; CSG 3 is not a login stage.
  if (transit && cont) throw fieldError(h, `${what} sets both T and C`, 'RFC 7143 §11.12.2');
  if (csg === 2 || csg === 3) throw fieldError(h, `${what} has CSG ${csg}, reserved`, 'RFC 7143 §11.12.3');
  if (transit && nsg === 2) throw fieldError(h, `${what} has NSG 2, reserved`, 'RFC 7143 §11.12.3');
  return { transit, cont, csg, nsg: transit ? nsg : 0 };
}

/** Login Request (RFC 7143 §11.12). */
export const loginRequestCodec: FamilyCodec<LoginRequestPdu> = {
  opcode: Opcode.LoginRequest,
  hasData: true,
  writeHeader(p, h) {
    // RFC 7143 §11.12: the I bit is always 1 in a Login Request.
    h[0] = Opcode.LoginRequest | FLAG_IMMEDIATE;
    h[1] = stageFlags(p.transit, p.continue, p.csg, p.nsg);
    h[2] = p.versionMax;
    h[3] = p.versionMin;
    writeIsid(h, 8, p.isid);
    h.writeUInt16BE(p.tsih, 14);
    h.writeUInt32BE(p.itt >>> 0, 16);
    h.writeUInt16BE(p.cid, 20);
    h.writeUInt32BE(p.cmdSN >>> 0, 24);
    h.writeUInt32BE(p.expStatSN >>> 0, 28);
  },
  segment: (p) => p.data,
  decode(h, ahs, data) {
    checkNoPayload(h, ahs, data, true, 'Login Request');
    const s = checkStages(h, 'Login Request');
    return {
      opcode: Opcode.LoginRequest,
      transit: s.transit,
      continue: s.cont,
      csg: s.csg,
      nsg: s.nsg,
      versionMax: h[2]!,
      versionMin: h[3]!,
      isid: isidToHex(h, 8),
      tsih: h.readUInt16BE(14),
      itt: h.readUInt32BE(16),
      cid: h.readUInt16BE(20),
      cmdSN: h.readUInt32BE(24),
      expStatSN: h.readUInt32BE(28),
      data,
    };
  },
};

/** Login Response (RFC 7143 §11.13). */
export const loginResponseCodec: FamilyCodec<LoginResponsePdu> = {
  opcode: Opcode.LoginResponse,
  hasData: true,
  writeHeader(p, h) {
    h[0] = Opcode.LoginResponse;
    h[1] = stageFlags(p.transit, p.continue, p.csg, p.nsg);
    h[2] = p.versionMax;
    h[3] = p.versionActive;
    writeIsid(h, 8, p.isid);
    h.writeUInt16BE(p.tsih, 14);
    h.writeUInt32BE(p.itt >>> 0, 16);
    h.writeUInt32BE(p.statSN >>> 0, 24);
    h.writeUInt32BE(p.expCmdSN >>> 0, 28);
    h.writeUInt32BE(p.maxCmdSN >>> 0, 32);
    h[36] = p.statusClass;
    h[37] = p.statusDetail;
  },
  segment: (p) => p.data,
  decode(h, ahs, data) {
    checkNoPayload(h, ahs, data, true, 'Login Response');
    const s = checkStages(h, 'Login Response');
    return {
      opcode: Opcode.LoginResponse,
      transit: s.transit,
      continue: s.cont,
      csg: s.csg,
      nsg: s.nsg,
      versionMax: h[2]!,
      versionActive: h[3]!,
      isid: isidToHex(h, 8),
      tsih: h.readUInt16BE(14),
      itt: h.readUInt32BE(16),
      statSN: h.readUInt32BE(24),
      expCmdSN: h.readUInt32BE(28),
      maxCmdSN: h.readUInt32BE(32),
      statusClass: h[36]!,
      statusDetail: h[37]!,
      data,
    };
  },
};
