// CRC32C against RFC 3720 B.4's vectors, and the digest's byte order on the wire.

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { crc32c, crc32cv } from '../../src/pdu/crc32c.js';
import { encodePduToBuffer, Opcode } from '../../src/pdu/index.js';

const seq = (n: number, f: (i: number) => number) => Buffer.from(Array.from({ length: n }, (_, i) => f(i)));

// Bit-at-a-time reference, straight from the polynomial (RFC 3720 B.4).
function reference(buf: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return ~c >>> 0;
}

describe('crc32c (RFC 3720 B.4)', () => {
  it('gives 0x8a9136aa for 32 bytes of zeros', () => expect(crc32c(Buffer.alloc(32))).toBe(0x8a9136aa));
  it('gives 0x62a8ab43 for 32 bytes of 0xff', () => expect(crc32c(Buffer.alloc(32, 0xff))).toBe(0x62a8ab43));
  it('gives 0x46dd794e for 0x00..0x1f', () => expect(crc32c(seq(32, (i) => i))).toBe(0x46dd794e));
  it('gives 0x113fdb5c for 0x1f..0x00', () => expect(crc32c(seq(32, (i) => 31 - i))).toBe(0x113fdb5c));
  it('gives 0xe3069283 for "123456789" (the CRC-32C check value)', () => expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283));

  it('agrees with the bit-at-a-time reference on any input', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (a) => {
      expect(crc32c(a)).toBe(reference(a));
    }));
  });

  it('continues across split buffers', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(), (a, cut) => {
        const k = cut % (a.length + 1);
        expect(crc32cv([a.subarray(0, k), a.subarray(k)])).toBe(crc32c(a));
        expect(crc32c(a, 0, 0, k)).toBe(crc32c(a.subarray(0, k)));
      }),
    );
  });

  it('sends the digest little-endian: 32 zero bytes end in aa 36 91 8a', () => {
    // A 32-byte data segment of zeros with a data digest: the last 4 bytes on the wire are the CRC.
    const wire = encodePduToBuffer(
      { opcode: Opcode.NopOut, immediate: true, lun: 0n, itt: 1, ttt: 0xffffffff, cmdSN: 0, expStatSN: 0, data: Buffer.alloc(32) },
      { header: false, data: true },
    );
    expect(wire.subarray(-4).toString('hex')).toBe('aa36918a');
  });
});
