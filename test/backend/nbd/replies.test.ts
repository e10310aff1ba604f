// The NBD reply stream (proto.md "Transmission phase"): simple and structured replies parsed from any
// chunking, READ data placed in the caller's buffer, abandoned requests' data dropped, and every
// protocol violation refused with a typed error before its payload is taken.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NBD_CMD, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE, NBD_REQUEST_MAGIC } from '../../../src/backend/nbd/constants.js';
import { NbdProtocolError } from '../../../src/backend/nbd/errors.js';
import { ReplyParser, requestHeader, type ReplyTarget } from '../../../src/backend/nbd/replies.js';
import { chunk, chunked, errorPayload, offsetData, offsetHole, simpleReply } from './wire.js';

const DONE = NBD_REPLY_FLAG_DONE;

interface Req extends ReplyTarget {
  id: number;
}

function req(id: number, type: number, offset: number, length: number, into: Buffer | null = null): Req {
  return { id, type, offset, length, into, intoOffset: 0, covered: 0, replyError: 0, replyMessage: '' };
}

function harness(structured: boolean, reqs: Req[]) {
  const replies: { id: number; error: number; message: string }[] = [];
  const errors: NbdProtocolError[] = [];
  const table = new Map(reqs.map((r) => [r.id, r]));
  const p = new ReplyParser<Req>(
    {
      lookup: (hi, lo) => (hi === 7 ? table.get(lo) : undefined),
      onReply: (t, error, message) => {
        table.delete(t.id);
        replies.push({ id: t.id, error, message });
      },
      onError: (e) => errors.push(e),
    },
    structured,
  );
  return { p, replies, errors };
}

const pattern = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));

describe('request headers', () => {
  it('lays out magic, flags, type, cookie, a 64-bit offset and the length (proto.md "Request message")', () => {
    const h = requestHeader(1, NBD_CMD.WRITE, 0x01020304, 0x05060708, 2 ** 40 + 512, 4096);
    expect(h.readUInt32BE(0)).toBe(NBD_REQUEST_MAGIC);
    expect(h.readUInt16BE(4)).toBe(1);
    expect(h.readUInt16BE(6)).toBe(NBD_CMD.WRITE);
    expect(h.readBigUInt64BE(8)).toBe(0x0102030405060708n);
    expect(h.readBigUInt64BE(16)).toBe(2n ** 40n + 512n);
    expect(h.readUInt32BE(24)).toBe(4096);
  });
});

describe('simple replies', () => {
  it('puts READ data straight into the buffer and completes writes, from any chunking', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 24 }), (cuts) => {
        const into = Buffer.alloc(1024, 0xee);
        const reqs = [req(1, NBD_CMD.READ, 4096, 1024, into), req(2, NBD_CMD.WRITE, 0, 512), req(3, NBD_CMD.FLUSH, 0, 0)];
        const { p, replies, errors } = harness(false, reqs);
        const data = pattern(1024, 3);
        const wire = Buffer.concat([simpleReply(0, 7, 2), simpleReply(0, 7, 1, data), simpleReply(28, 7, 3)]);
        for (const c of chunked(wire, cuts)) p.push(c);
        expect(errors).toEqual([]);
        expect(replies).toEqual([
          { id: 2, error: 0, message: '' },
          { id: 1, error: 0, message: '' },
          { id: 3, error: 28, message: '' },
        ]);
        expect(into.equals(data)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('takes no data after a READ that failed (proto.md: data follows only when the error is zero)', () => {
    const into = Buffer.alloc(512, 0xee);
    const { p, replies, errors } = harness(false, [req(1, NBD_CMD.READ, 0, 512, into), req(2, NBD_CMD.WRITE, 0, 512)]);
    p.push(Buffer.concat([simpleReply(5, 7, 1), simpleReply(0, 7, 2)]));
    expect(errors).toEqual([]);
    expect(replies.map((r) => [r.id, r.error])).toEqual([
      [1, 5],
      [2, 0],
    ]);
    expect(into.every((b) => b === 0xee)).toBe(true);
  });

  it('reads and drops the data of an abandoned READ, even when it is abandoned mid-stream', () => {
    const into = Buffer.alloc(1024, 0xee);
    const r = req(1, NBD_CMD.READ, 0, 1024, into);
    const { p, replies, errors } = harness(false, [r, req(2, NBD_CMD.WRITE, 0, 512)]);
    const wire = Buffer.concat([simpleReply(0, 7, 1, pattern(1024, 1)), simpleReply(0, 7, 2)]);
    p.push(wire.subarray(0, 16 + 100));
    r.into = null; // aborted while its data was arriving
    p.push(wire.subarray(16 + 100));
    expect(errors).toEqual([]);
    expect(replies.map((x) => x.id)).toEqual([1, 2]);
    expect(into.subarray(100).every((b) => b === 0xee)).toBe(true);
  });

  it('refuses a reply to a cookie with no request in flight', () => {
    const { p, errors } = harness(false, []);
    p.push(simpleReply(0, 7, 9));
    expect(errors[0]).toBeInstanceOf(NbdProtocolError);
    expect(errors[0]!.code).toBe('ERR_NBD_REPLY');
    expect(errors[0]!.message).toMatch(/cookie 0x700000009,/);
  });

  it('refuses a bad magic and then takes no more input', () => {
    const { p, errors, replies } = harness(false, [req(1, NBD_CMD.WRITE, 0, 512)]);
    p.push(Buffer.from('HTTP/1.1 400 Bad Request\r\n'));
    p.push(simpleReply(0, 7, 1));
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toMatch(/reply magic/);
    expect(replies).toEqual([]);
    expect(p.failed).toBe(true);
  });

  it('refuses a structured chunk when structured replies were not agreed', () => {
    const { p, errors } = harness(false, [req(1, NBD_CMD.FLUSH, 0, 0)]);
    p.push(chunk(DONE, NBD_REPLY_TYPE.NONE, 7, 1, Buffer.alloc(0)));
    expect(errors[0]!.message).toMatch(/reply magic 0x668e33ef/);
  });
});

describe('structured replies', () => {
  it('assembles a READ from data and hole chunks in any order and any chunking', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 24 }), fc.boolean(), (cuts, holeFirst) => {
        const into = Buffer.alloc(3072, 0xee);
        const { p, replies, errors } = harness(true, [req(1, NBD_CMD.READ, 1 << 20, 3072, into), req(2, NBD_CMD.WRITE, 0, 512)]);
        const a = pattern(1024, 1);
        const c = pattern(1024, 2);
        const parts = [chunk(0, NBD_REPLY_TYPE.OFFSET_DATA, 7, 1, offsetData((1 << 20) + 2048, c)), chunk(0, NBD_REPLY_TYPE.OFFSET_HOLE, 7, 1, offsetHole((1 << 20) + 1024, 1024))];
        if (holeFirst) parts.reverse();
        const wire = Buffer.concat([
          chunk(0, NBD_REPLY_TYPE.OFFSET_DATA, 7, 1, offsetData(1 << 20, a)),
          simpleReply(0, 7, 2), // replies to other requests may come between chunks
          ...parts,
          chunk(DONE, NBD_REPLY_TYPE.NONE, 7, 1, Buffer.alloc(0)),
        ]);
        for (const x of chunked(wire, cuts)) p.push(x);
        expect(errors).toEqual([]);
        expect(replies.map((r) => [r.id, r.error])).toEqual([
          [2, 0],
          [1, 0],
        ]);
        expect(into.equals(Buffer.concat([a, Buffer.alloc(1024), c]))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('completes on a data chunk that carries DONE', () => {
    const into = Buffer.alloc(512);
    const { p, replies, errors } = harness(true, [req(1, NBD_CMD.READ, 0, 512, into)]);
    p.push(chunk(DONE, NBD_REPLY_TYPE.OFFSET_DATA, 7, 1, offsetData(0, pattern(512, 9))));
    expect(errors).toEqual([]);
    expect(replies).toEqual([{ id: 1, error: 0, message: '' }]);
    expect(into.equals(pattern(512, 9))).toBe(true);
  });

  it('reports the first error chunk with its message, and ERROR_OFFSET alike', () => {
    const { p, replies, errors } = harness(true, [req(1, NBD_CMD.READ, 0, 1024, Buffer.alloc(1024)), req(2, NBD_CMD.WRITE, 0, 512)]);
    p.push(
      Buffer.concat([
        chunk(0, NBD_REPLY_TYPE.ERROR_OFFSET, 7, 1, errorPayload(5, 'bad sector', 512)),
        chunk(0, NBD_REPLY_TYPE.OFFSET_DATA, 7, 1, offsetData(0, pattern(512, 1))),
        chunk(DONE, NBD_REPLY_TYPE.NONE, 7, 1, Buffer.alloc(0)),
        chunk(DONE, NBD_REPLY_TYPE.ERROR, 7, 2, errorPayload(28, 'no space')),
      ]),
    );
    expect(errors).toEqual([]);
    expect(replies).toEqual([
      { id: 1, error: 5, message: 'bad sector' },
      { id: 2, error: 28, message: 'no space' },
    ]);
  });

  it('treats an unknown chunk type with bit 15 set as an error (proto.md "Structured reply types")', () => {
    const { p, replies, errors } = harness(true, [req(1, NBD_CMD.TRIM, 0, 512)]);
    p.push(chunk(DONE, 0x8fff, 7, 1, errorPayload(22, '')));
    expect(errors).toEqual([]);
    expect(replies).toEqual([{ id: 1, error: 22, message: '' }]);
  });

  it('still takes simple replies to commands without data', () => {
    const { p, replies, errors } = harness(true, [req(1, NBD_CMD.WRITE, 0, 512)]);
    p.push(simpleReply(0, 7, 1));
    expect(errors).toEqual([]);
    expect(replies).toHaveLength(1);
  });

  it.each([
    ['data outside the READ', [req(1, NBD_CMD.READ, 0, 512, Buffer.alloc(512))], chunk(DONE, NBD_REPLY_TYPE.OFFSET_DATA, 7, 1, offsetData(256, pattern(512, 1))), /outside the READ/],
    ['a hole outside the READ', [req(1, NBD_CMD.READ, 512, 512, Buffer.alloc(512))], chunk(DONE, NBD_REPLY_TYPE.OFFSET_HOLE, 7, 1, offsetHole(0, 512)), /hole at 0/],
    ['a READ reported done but short', [req(1, NBD_CMD.READ, 0, 1024, Buffer.alloc(1024))], chunk(DONE, NBD_REPLY_TYPE.OFFSET_DATA, 7, 1, offsetData(0, pattern(512, 1))), /answered with 512/],
    ['data to a WRITE', [req(1, NBD_CMD.WRITE, 0, 512)], chunk(DONE, NBD_REPLY_TYPE.OFFSET_DATA, 7, 1, offsetData(0, pattern(16, 1))), /OFFSET_DATA chunk/],
    ['NONE without DONE', [req(1, NBD_CMD.FLUSH, 0, 0)], chunk(0, NBD_REPLY_TYPE.NONE, 7, 1, Buffer.alloc(0)), /NONE chunk/],
    ['a block status nobody asked for', [req(1, NBD_CMD.READ, 0, 512, Buffer.alloc(512))], chunk(DONE, NBD_REPLY_TYPE.BLOCK_STATUS, 7, 1, Buffer.alloc(12)), /type 5/],
    ['an error chunk whose message overruns it', [req(1, NBD_CMD.WRITE, 0, 512)], chunk(DONE, NBD_REPLY_TYPE.ERROR, 7, 1, Buffer.from([0, 0, 0, 5, 0, 50, 65])), /50-byte message/],
    ['a simple reply with data to a READ', [req(1, NBD_CMD.READ, 0, 512, Buffer.alloc(512))], simpleReply(0, 7, 1, pattern(512, 1)), /simple reply with data/],
  ])('refuses %s', (_name, reqs, wire, message) => {
    const { p, errors, replies } = harness(true, reqs as Req[]);
    p.push(wire as Buffer);
    expect(replies).toEqual([]);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toMatch(message as RegExp);
  });

  it('refuses an oversized error chunk from its header alone, before buffering its payload', () => {
    const { p, errors } = harness(true, [req(1, NBD_CMD.WRITE, 0, 512)]);
    const h = chunk(DONE, NBD_REPLY_TYPE.ERROR, 7, 1, Buffer.alloc(0));
    h.writeUInt32BE(1 << 30, 16);
    p.push(h);
    expect(errors[0]!.message).toMatch(/error chunk of 1073741824 bytes/);
  });
});
