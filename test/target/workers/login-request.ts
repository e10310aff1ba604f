// A leading Login Request as an initiator sends it (security stage skipped straight to full feature),
// encoded: what the routing and hand-over tests put first on a connection.

import { encodePduToBuffer } from '../../../src/pdu/codec.js';
import { Opcode } from '../../../src/pdu/constants.js';
import { encodeTextKeys } from '../../../src/pdu/text-keys.js';
import type { LoginRequestPdu } from '../../../src/pdu/types.js';

/** The bytes of a first Login Request carrying `keys`, with any field of `over` in place of the usual one. */
export function loginRequestBytes(keys: [string, string][], over: Partial<LoginRequestPdu> = {}): Buffer {
  const pdu: LoginRequestPdu = {
    opcode: Opcode.LoginRequest,
    transit: true,
    continue: false,
    csg: 1,
    nsg: 3,
    versionMax: 0,
    versionMin: 0,
    isid: '400000000001',
    tsih: 0,
    itt: 1,
    cid: 0,
    cmdSN: 1,
    expStatSN: 0,
    data: encodeTextKeys(keys),
    ...over,
  };
  return encodePduToBuffer(pdu);
}
