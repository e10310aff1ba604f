// The first PDU of a connection, read only as far as routing needs (a target with workers): which target
// its Login Request names. RFC 7143 §6.3: the initiator names the target in the first Login Request of a
// normal session, and a login is request/response, so nothing else follows until it is answered.

import { BHS_LENGTH, Opcode } from '../../pdu/constants.js';
import { parseTextKeys } from '../../pdu/text-keys.js';

/**
 * The largest data segment of a Login Request: MaxRecvDataSegmentLength is not negotiated yet, so the
 * RFC 7143 §13.12 default of 8192 bytes holds during login.
 */
export const LOGIN_MAX_DATA_SEGMENT = 8192;

/** The most bytes routing ever waits for: a BHS, the largest AHS (255 words) and a login data segment. */
export const FIRST_PDU_MAX_BYTES = BHS_LENGTH + 255 * 4 + LOGIN_MAX_DATA_SEGMENT;

/**
 * Where a connection goes, from its first bytes:
 * - `incomplete`: the first PDU is not whole yet;
 * - `target`: a normal session's Login Request naming `name`;
 * - `local`: anything else (a discovery session, a login without TargetName, another PDU, bytes that do
 *   not parse), which the main process's own server answers as a single-process target would.
 */
export type FirstPduRoute = { kind: 'incomplete' } | { kind: 'target'; name: string } | { kind: 'local' };

const INCOMPLETE: FirstPduRoute = { kind: 'incomplete' };
const LOCAL: FirstPduRoute = { kind: 'local' };

/** Routes a connection from the bytes it sent first (see {@link FirstPduRoute}). Never throws. */
export function routeFirstPdu(buf: Buffer): FirstPduRoute {
  if (buf.length < BHS_LENGTH) return INCOMPLETE;
  if ((buf[0]! & 0x3f) !== Opcode.LoginRequest) return LOCAL;
  const ahs = buf[4]! * 4;
  const dsl = buf.readUIntBE(5, 3);
  if (dsl > LOGIN_MAX_DATA_SEGMENT) return LOCAL;
  if (buf.length < BHS_LENGTH + ahs + dsl) return INCOMPLETE;
  let pairs;
  try {
    pairs = parseTextKeys(buf.subarray(BHS_LENGTH + ahs, BHS_LENGTH + ahs + dsl), { source: 'login-request' });
  } catch {
    // Text split across PDUs (C bit) or malformed: the local login assembles or refuses it properly.
    return LOCAL;
  }
  let name: string | undefined;
  for (const [k, v] of pairs) {
    if (k === 'SessionType' && v === 'Discovery') return LOCAL;
    if (k === 'TargetName') name = v;
  }
  return name === undefined ? LOCAL : { kind: 'target', name };
}
