// Server-side NBD bytes for the protocol tests (proto.md): greetings, option replies, simple replies
// and structured reply chunks, built field by field as the spec lays them out.

import { NBD_REP_MAGIC, NBD_SIMPLE_REPLY_MAGIC, NBD_STRUCTURED_REPLY_MAGIC } from '../../../src/backend/nbd/constants.js';

export function greeting(flags = 3): Buffer {
  const b = Buffer.alloc(18);
  b.write('NBDMAGIC', 0, 'latin1');
  b.write('IHAVEOPT', 8, 'latin1');
  b.writeUInt16BE(flags, 16);
  return b;
}

export function optionReply(option: number, type: number, data: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(20 + data.length);
  b.writeBigUInt64BE(NBD_REP_MAGIC, 0);
  b.writeUInt32BE(option, 8);
  b.writeUInt32BE(type, 12);
  b.writeUInt32BE(data.length, 16);
  data.copy(b, 20);
  return b;
}

export function infoExport(size: number, flags: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16BE(0, 0);
  b.writeBigUInt64BE(BigInt(size), 2);
  b.writeUInt16BE(flags, 10);
  return b;
}

export function infoBlockSize(min: number, preferred: number, max: number): Buffer {
  const b = Buffer.alloc(14);
  b.writeUInt16BE(3, 0);
  b.writeUInt32BE(min, 2);
  b.writeUInt32BE(preferred, 6);
  b.writeUInt32BE(max, 10);
  return b;
}

export function simpleReply(error: number, cookieHi: number, cookieLo: number, data: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(16 + data.length);
  b.writeUInt32BE(NBD_SIMPLE_REPLY_MAGIC, 0);
  b.writeUInt32BE(error, 4);
  b.writeUInt32BE(cookieHi, 8);
  b.writeUInt32BE(cookieLo, 12);
  data.copy(b, 16);
  return b;
}

export function chunk(flags: number, type: number, cookieHi: number, cookieLo: number, payload: Buffer): Buffer {
  const b = Buffer.alloc(20 + payload.length);
  b.writeUInt32BE(NBD_STRUCTURED_REPLY_MAGIC, 0);
  b.writeUInt16BE(flags, 4);
  b.writeUInt16BE(type, 6);
  b.writeUInt32BE(cookieHi, 8);
  b.writeUInt32BE(cookieLo, 12);
  b.writeUInt32BE(payload.length, 16);
  payload.copy(b, 20);
  return b;
}

export function offsetData(offset: number, data: Buffer): Buffer {
  const b = Buffer.alloc(8 + data.length);
  b.writeBigUInt64BE(BigInt(offset), 0);
  data.copy(b, 8);
  return b;
}

export function offsetHole(offset: number, size: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeBigUInt64BE(BigInt(offset), 0);
  b.writeUInt32BE(size, 8);
  return b;
}

export function errorPayload(error: number, message: string, offset?: number): Buffer {
  const m = Buffer.from(message);
  const b = Buffer.alloc(6 + m.length + (offset === undefined ? 0 : 8));
  b.writeUInt32BE(error, 0);
  b.writeUInt16BE(m.length, 4);
  m.copy(b, 6);
  if (offset !== undefined) b.writeBigUInt64BE(BigInt(offset), 6 + m.length);
  return b;
}

/** Cuts `buf` at the given points (taken modulo its length). */
export function chunked(buf: Buffer, cuts: number[]): Buffer[] {
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
