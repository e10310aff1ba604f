// The client side of the NBD fixed newstyle handshake (proto.md "Newstyle negotiation"), driven with
// scripted server bytes: what it sends, what it learns, and what it refuses.

import { describe, expect, it } from 'vitest';
import { NBD_OPT, NBD_REP, NBD_REP_ERR_UNSUP, NBD_OPTS_MAGIC } from '../../../src/backend/nbd/constants.js';
import { NbdProtocolError } from '../../../src/backend/nbd/errors.js';
import { encodeGoData, negotiate, type HandshakeIo } from '../../../src/backend/nbd/handshake.js';
import { greeting, infoBlockSize, infoExport, optionReply } from './wire.js';

/** Serves `script` as the server's bytes and records what the client writes. */
function scripted(script: Buffer): HandshakeIo & { sent: Buffer[] } {
  let pos = 0;
  const sent: Buffer[] = [];
  return {
    sent,
    read(n: number) {
      if (pos + n > script.length) return Promise.reject(new Error('the server closed the connection'));
      const b = script.subarray(pos, pos + n);
      pos += n;
      return Promise.resolve(b);
    },
    write(d: Buffer) {
      sent.push(Buffer.from(d));
    },
  };
}

/** The options the client sent, in order, from the bytes after its 4 flag bytes. */
function options(sent: Buffer[]): { option: number; data: Buffer }[] {
  const all = Buffer.concat(sent).subarray(4);
  const out: { option: number; data: Buffer }[] = [];
  for (let i = 0; i < all.length; ) {
    expect(all.readBigUInt64BE(i)).toBe(NBD_OPTS_MAGIC);
    const len = all.readUInt32BE(i + 12);
    out.push({ option: all.readUInt32BE(i + 8), data: all.subarray(i + 16, i + 16 + len) });
    i += 16 + len;
  }
  return out;
}

describe('negotiate', () => {
  it('agrees structured replies, then GO with the block size asked, and learns size, flags and block sizes', async () => {
    const io = scripted(
      Buffer.concat([
        greeting(3),
        optionReply(NBD_OPT.STRUCTURED_REPLY, NBD_REP.ACK),
        optionReply(NBD_OPT.GO, NBD_REP.INFO, infoBlockSize(512, 4096, 8 << 20)),
        optionReply(NBD_OPT.GO, NBD_REP.INFO, infoExport(1 << 30, 0x0d6d)),
        optionReply(NBD_OPT.GO, NBD_REP.ACK),
      ]),
    );
    const info = await negotiate(io, 'disk0');
    expect(info).toEqual({ size: 1 << 30, flags: 0x0d6d, minBlock: 512, preferredBlock: 4096, maxPayload: 8 << 20, structuredReplies: true });
    // Client flags: FIXED_NEWSTYLE and NO_ZEROES, both offered by the server.
    expect(io.sent[0]!.readUInt32BE(0)).toBe(3);
    const opts = options(io.sent);
    expect(opts.map((o) => o.option)).toEqual([NBD_OPT.STRUCTURED_REPLY, NBD_OPT.GO]);
    expect(opts[1]!.data).toEqual(encodeGoData('disk0', [3]));
  });

  it('keeps simple replies when the server refuses structured ones, and caps the payload at 32 MiB', async () => {
    const io = scripted(
      Buffer.concat([
        greeting(1),
        optionReply(NBD_OPT.STRUCTURED_REPLY, NBD_REP_ERR_UNSUP),
        optionReply(NBD_OPT.GO, NBD_REP.INFO, infoExport(4096, 1)),
        optionReply(NBD_OPT.GO, NBD_REP.INFO, infoBlockSize(1, 4096, 0xffffffff)),
        optionReply(NBD_OPT.GO, NBD_REP.ACK),
      ]),
    );
    const info = await negotiate(io, '');
    expect(info.structuredReplies).toBe(false);
    expect(info.maxPayload).toBe(32 << 20);
    expect(io.sent[0]!.readUInt32BE(0)).toBe(1); // no NO_ZEROES: the server did not offer it
  });

  it('falls back to NBD_OPT_EXPORT_NAME for a server without GO, reading the 124 zero bytes', async () => {
    const tail = Buffer.alloc(10 + 124);
    tail.writeBigUInt64BE(1n << 20n, 0);
    tail.writeUInt16BE(0x3, 8);
    const io = scripted(Buffer.concat([greeting(1), optionReply(NBD_OPT.STRUCTURED_REPLY, NBD_REP_ERR_UNSUP), optionReply(NBD_OPT.GO, NBD_REP_ERR_UNSUP), tail]));
    const info = await negotiate(io, 'old');
    expect(info).toMatchObject({ size: 1 << 20, flags: 3, minBlock: 1, structuredReplies: false });
    expect(options(io.sent).map((o) => o.option)).toEqual([NBD_OPT.STRUCTURED_REPLY, NBD_OPT.GO, NBD_OPT.EXPORT_NAME]);
  });

  it('refuses an unknown export with the server message', async () => {
    const io = scripted(Buffer.concat([greeting(3), optionReply(NBD_OPT.STRUCTURED_REPLY, NBD_REP.ACK), optionReply(NBD_OPT.GO, 0x80000006, Buffer.from('no such export'))]));
    const e = await negotiate(io, 'nope').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(NbdProtocolError);
    expect((e as NbdProtocolError).code).toBe('ERR_NBD_OPTION_REFUSED');
    expect((e as Error).message).toMatch(/export "nope" refused: NBD_REP_ERR_UNKNOWN: no such export/);
  });

  it.each([
    ['not NBD at all', Buffer.from('SSH-2.0-OpenSSH_9.2p1 Debian\r\n'), /no NBDMAGIC/],
    ['an oldstyle server', Buffer.concat([Buffer.from('NBDMAGIC'), Buffer.from('0000420281861253', 'hex'), Buffer.alloc(2)]), /oldstyle/],
    ['a newstyle server that is not fixed', greeting(0), /not fixed newstyle/],
    ['a reply to another option', Buffer.concat([greeting(3), optionReply(NBD_OPT.GO, NBD_REP.ACK)]), /reply to option 7 while 8/],
    ['GO without NBD_INFO_EXPORT', Buffer.concat([greeting(3), optionReply(NBD_OPT.STRUCTURED_REPLY, NBD_REP.ACK), optionReply(NBD_OPT.GO, NBD_REP.ACK)]), /without NBD_INFO_EXPORT/],
    [
      'block sizes that break the constraints',
      Buffer.concat([greeting(3), optionReply(NBD_OPT.STRUCTURED_REPLY, NBD_REP.ACK), optionReply(NBD_OPT.GO, NBD_REP.INFO, infoBlockSize(3, 4096, 65536))]),
      /break the constraints/,
    ],
  ])('refuses %s', async (_name, script, message) => {
    const e = await negotiate(scripted(script), 'x').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(NbdProtocolError);
    expect((e as Error).message).toMatch(message);
  });

  it('refuses an option reply longer than it would ever need, from the header alone', async () => {
    const h = optionReply(NBD_OPT.STRUCTURED_REPLY, NBD_REP.ACK);
    h.writeUInt32BE(1 << 30, 16);
    const e = await negotiate(scripted(Buffer.concat([greeting(3), h])), 'x').catch((x: unknown) => x);
    expect((e as Error).message).toMatch(/too long/);
  });
});
