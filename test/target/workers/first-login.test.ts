// Routing a connection of a target with workers by its first PDU (RFC 7143 §6.3: the first Login
// Request names the target): only a whole Login Request naming a target goes to a worker.

import { describe, expect, it } from 'vitest';
import { encodePduToBuffer } from '../../../src/pdu/codec.js';
import { Opcode } from '../../../src/pdu/constants.js';
import { encodeTextKeys } from '../../../src/pdu/text-keys.js';
import type { NopOutPdu } from '../../../src/pdu/types.js';
import { FIRST_PDU_MAX_BYTES, routeFirstPdu } from '../../../src/target/workers/first-login.js';
import { loginRequestBytes } from './login-request.js';

const login = loginRequestBytes;

const NAMED = login([
  ['InitiatorName', 'iqn.2026-12.test:i'],
  ['TargetName', 'iqn.2026-12.test:t1'],
  ['SessionType', 'Normal'],
]);

describe('routeFirstPdu', () => {
  it('routes a whole Login Request to the target it names', () => {
    expect(routeFirstPdu(NAMED)).toEqual({ kind: 'target', name: 'iqn.2026-12.test:t1' });
  });

  it('waits while the header or the data segment is not whole, at every length short of it', () => {
    const end = NAMED.length - (NAMED.length - 48 - NAMED.readUIntBE(5, 3)); // without the padding
    for (let n = 0; n < end; n++) expect(routeFirstPdu(NAMED.subarray(0, n)).kind).toBe('incomplete');
    expect(routeFirstPdu(NAMED.subarray(0, end)).kind).toBe('target');
  });

  it('routes with bytes that follow the first PDU', () => {
    expect(routeFirstPdu(Buffer.concat([NAMED, Buffer.alloc(100, 7)]))).toEqual({ kind: 'target', name: 'iqn.2026-12.test:t1' });
  });

  it('keeps a discovery session local even when it names a target', () => {
    const d = login([
      ['InitiatorName', 'iqn.2026-12.test:i'],
      ['SessionType', 'Discovery'],
      ['TargetName', 'iqn.2026-12.test:t1'],
    ]);
    expect(routeFirstPdu(d)).toEqual({ kind: 'local' });
  });

  it('keeps local a login that names no target', () => {
    expect(routeFirstPdu(login([['InitiatorName', 'iqn.2026-12.test:i']]))).toEqual({ kind: 'local' });
  });

  it('keeps local text split across PDUs (C bit): the local login assembles or refuses it', () => {
    const text = encodeTextKeys([['TargetName', 'iqn.2026-12.test:t1']]);
    const half = login([], { continue: true, transit: false, data: text.subarray(0, 10) });
    expect(routeFirstPdu(half)).toEqual({ kind: 'local' });
  });

  it('keeps local another opcode, at once', () => {
    const nop: NopOutPdu = { opcode: Opcode.NopOut, immediate: true, lun: 0n, itt: 1, ttt: 0xffffffff, cmdSN: 1, expStatSN: 0, data: Buffer.alloc(0) };
    expect(routeFirstPdu(encodePduToBuffer(nop).subarray(0, 48))).toEqual({ kind: 'local' });
  });

  it('keeps local a Login Request whose data segment is over the 8192 bytes of login (RFC 7143 §13.12)', () => {
    const big = Buffer.from(NAMED.subarray(0, 48));
    big.writeUIntBE(8193, 5, 3);
    expect(routeFirstPdu(big)).toEqual({ kind: 'local' });
    expect(FIRST_PDU_MAX_BYTES).toBe(48 + 1020 + 8192);
  });
});
