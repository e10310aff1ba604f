// The framer: any chunking of the stream gives the same PDUs; limits and digests refuse as typed.

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Framer, Opcode, decodePdu, encodePduToBuffer, type Frame, type Pdu } from '../../src/pdu/index.js';
import { DigestError, IscsiProtocolError } from '../../src/errors.js';
import { initiatorPdu } from './arbitraries.js';

interface Collected {
  frames: Frame[];
  errors: IscsiProtocolError[];
}

function framer(opts: ConstructorParameters<typeof Framer>[1] = {}): { f: Framer; got: Collected } {
  const got: Collected = { frames: [], errors: [] };
  const f = new Framer({ onFrame: (fr) => got.frames.push(fr), onError: (e) => got.errors.push(e) }, { maxRecvDataSegmentLength: 65536, maxAhsLength: 1020, ...opts });
  return { f, got };
}

function chunked(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(buf.subarray(prev, p));
    prev = p;
  }
  out.push(buf.subarray(prev));
  return out;
}

const nop = (data: Buffer, itt = 1): Pdu => ({ opcode: Opcode.NopOut, immediate: true, lun: 0n, itt, ttt: 0xffffffff, cmdSN: 0, expStatSN: 0, data });

describe('Framer', () => {
  it('frames the same PDUs from any chunking of the stream', () => {
    fc.assert(
      fc.property(
        fc.array(initiatorPdu, { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        fc.boolean(),
        (pdus, cuts, digests) => {
          const wire = Buffer.concat(pdus.map((p) => encodePduToBuffer(p, { header: digests, data: digests })));
          const { f, got } = framer({ headerDigest: digests, dataDigest: digests });
          for (const c of chunked(wire, cuts)) f.push(c);
          expect(got.errors).toEqual([]);
          expect(got.frames.map((fr) => encodePduToBuffer(decodePdu('initiator', fr.bhs, fr.ahs, fr.data), { header: digests, data: digests }))).toEqual(
            pdus.map((p) => encodePduToBuffer(p, { header: digests, data: digests })),
          );
          expect(f.buffered).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('frames a stream fed one byte at a time', () => {
    const wire = Buffer.concat([encodePduToBuffer(nop(Buffer.from('hello'))), encodePduToBuffer(nop(Buffer.alloc(0), 2))]);
    const { f, got } = framer();
    for (let i = 0; i < wire.length; i++) f.push(wire.subarray(i, i + 1));
    expect(got.frames.map((fr) => fr.data.toString())).toEqual(['hello', '']);
    expect(got.frames[0]!.wireLength).toBe(56);
  });

  it('hands out a view, not a copy, when a data segment sits inside one chunk', () => {
    const wire = encodePduToBuffer(nop(Buffer.alloc(1000, 1)));
    const { f, got } = framer();
    f.push(wire);
    expect(got.frames[0]!.data.buffer).toBe(wire.buffer);
  });

  it('refuses a data segment longer than MaxRecvDataSegmentLength before buffering it, then goes on', () => {
    const { f, got } = framer({ maxRecvDataSegmentLength: 512 });
    f.push(encodePduToBuffer(nop(Buffer.alloc(4096, 9))).subarray(0, 100));
    expect(got.errors).toHaveLength(1);
    expect(got.errors[0]!.code).toBe('ERR_DATA_SEGMENT_TOO_LONG');
    expect(got.errors[0]!.rejectReason).toBe(0x04);
    expect(f.buffered).toBe(0);
    f.push(encodePduToBuffer(nop(Buffer.alloc(4096, 9))).subarray(100));
    f.push(encodePduToBuffer(nop(Buffer.from('ok'), 7)));
    expect(got.frames.map((fr) => fr.data.toString())).toEqual(['ok']);
  });

  it('refuses an AHS over the cap', () => {
    const { f, got } = framer({ maxAhsLength: 16 });
    const cmd = encodePduToBuffer({
      opcode: Opcode.ScsiCommand, immediate: false, final: true, read: false, write: false, attr: 1, lun: 0n, itt: 1,
      expectedDataTransferLength: 0, cmdSN: 0, expStatSN: 0, cdb: Buffer.alloc(64), data: Buffer.alloc(0),
    });
    f.push(cmd);
    f.push(encodePduToBuffer(nop(Buffer.from('next'))));
    expect(got.errors.map((e) => e.code)).toEqual(['ERR_AHS_TOO_LONG']);
    expect(got.frames.map((fr) => fr.data.toString())).toEqual(['next']);
  });

  it('drops the stream on a header digest mismatch (RFC 7143 §7.8.1)', () => {
    const wire = encodePduToBuffer(nop(Buffer.from('abc')), { header: true, data: false });
    wire[20] ^= 1;
    const { f, got } = framer({ headerDigest: true });
    f.push(wire);
    f.push(encodePduToBuffer(nop(Buffer.alloc(0)), { header: true, data: false }));
    expect(got.errors).toHaveLength(1);
    expect(got.errors[0]).toBeInstanceOf(DigestError);
    expect(got.errors[0]!.action).toBe('drop');
    expect(f.failed).toBe(true);
    expect(got.frames).toHaveLength(0);
  });

  it('rejects a PDU whose data digest mismatches and keeps framing (RFC 7143 §7.8.1)', () => {
    const bad = encodePduToBuffer(nop(Buffer.from('abcdef')), { header: true, data: true });
    bad[53] ^= 0xff; // inside the data segment (48 BHS + 4 header digest)
    const { f, got } = framer({ headerDigest: true, dataDigest: true });
    f.push(bad);
    f.push(encodePduToBuffer(nop(Buffer.from('good')), { header: true, data: true }));
    expect(got.errors).toHaveLength(1);
    expect(got.errors[0]!.code).toBe('ERR_DATA_DIGEST');
    expect(got.errors[0]!.rejectReason).toBe(0x02);
    expect(got.frames.map((fr) => fr.data.toString())).toEqual(['good']);
  });

  it('switches digests on between two PDUs of the same chunk', () => {
    const wire = Buffer.concat([encodePduToBuffer(nop(Buffer.from('a'))), encodePduToBuffer(nop(Buffer.from('b')), { header: true, data: true })]);
    const got: Frame[] = [];
    const f: Framer = new Framer({
      onFrame: (fr) => {
        got.push(fr);
        f.setDigests(true, true);
      },
      onError: (e) => {
        throw e;
      },
    });
    f.push(wire);
    expect(got.map((fr) => fr.data.toString())).toEqual(['a', 'b']);
  });

  it('holds frames while paused and delivers them on resume', () => {
    const { f, got } = framer();
    f.pause();
    f.push(encodePduToBuffer(nop(Buffer.from('x'))));
    expect(got.frames).toHaveLength(0);
    expect(f.buffered).toBeGreaterThan(0);
    f.resume();
    expect(got.frames).toHaveLength(1);
  });

  it('refuses a MaxRecvDataSegmentLength outside 512..2^24-1', () => {
    expect(() => framer({ maxRecvDataSegmentLength: 100 })).toThrow(RangeError);
    const { f } = framer();
    expect(() => f.setMaxRecvDataSegmentLength(1 << 24)).toThrow(RangeError);
  });
});
