// CDB builders and parsers for the SBC-3 commands beyond READ and WRITE, shared by both ends:
// COMPARE AND WRITE, ORWRITE(16), WRITE ATOMIC(16) (SBC-4), WRITE SAME(10)/(16), UNMAP and its
// parameter list, GET LBA STATUS and its parameter data.

import { OP, SAI } from './constants.js';

function checkUint(name: string, v: number, max: number, rule: string): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`${name} ${v} does not fit its field: 0..${max} (${rule})`);
}

function writeU64(buf: Buffer, off: number, v: number): void {
  checkUint('LOGICAL BLOCK ADDRESS', v, Number.MAX_SAFE_INTEGER, 'a number below 2^53');
  buf.writeUInt32BE(Math.floor(v / 0x100000000), off);
  buf.writeUInt32BE(v % 0x100000000, off + 4);
}

/** DPO, FUA and the protection field of byte 1. */
export interface BlockWriteOptions {
  dpo?: boolean;
  fua?: boolean;
  /** WRPROTECT / ORPROTECT, 0..7 (0 without protection information). */
  protect?: number;
  group?: number;
}

function byte1(o: BlockWriteOptions | undefined, rule: string): number {
  let b = 0;
  if (o?.protect !== undefined) {
    checkUint('WRPROTECT', o.protect, 7, rule);
    b |= o.protect << 5;
  }
  if (o?.dpo === true) b |= 0x10;
  if (o?.fua === true) b |= 0x08;
  return b;
}

function groupOf(o: BlockWriteOptions | undefined, rule: string): number {
  checkUint('GROUP NUMBER', o?.group ?? 0, 0x1f, rule);
  return o?.group ?? 0;
}

/** COMPARE AND WRITE (SBC-3 §5.2): the Data-Out is `blocks` of verify data then `blocks` of write data. */
export function cdbCompareAndWrite(lba: number, blocks: number, opts?: BlockWriteOptions): Buffer {
  checkUint('NUMBER OF LOGICAL BLOCKS', blocks, 0xff, 'SBC-3 §5.2');
  const b = Buffer.alloc(16);
  b[0] = OP.COMPARE_AND_WRITE;
  b[1] = byte1(opts, 'SBC-3 §5.2');
  writeU64(b, 2, lba);
  b[13] = blocks;
  b[14] = groupOf(opts, 'SBC-3 §5.2');
  return b;
}

/** ORWRITE(16) (SBC-3 §5.9). */
export function cdbOrWrite16(lba: number, blocks: number, opts?: BlockWriteOptions): Buffer {
  checkUint('TRANSFER LENGTH', blocks, 0xffffffff, 'SBC-3 §5.9');
  const b = Buffer.alloc(16);
  b[0] = OP.ORWRITE_16;
  b[1] = byte1(opts, 'SBC-3 §5.9');
  writeU64(b, 2, lba);
  b.writeUInt32BE(blocks, 10);
  b[14] = groupOf(opts, 'SBC-3 §5.9');
  return b;
}

/** WRITE ATOMIC(16) (SBC-4 §5.48). */
export function cdbWriteAtomic16(lba: number, blocks: number, opts?: BlockWriteOptions & { boundary?: number }): Buffer {
  checkUint('TRANSFER LENGTH', blocks, 0xffff, 'SBC-4 §5.48');
  checkUint('ATOMIC BOUNDARY', opts?.boundary ?? 0, 0xffff, 'SBC-4 §5.48');
  const b = Buffer.alloc(16);
  b[0] = OP.WRITE_ATOMIC_16;
  b[1] = byte1(opts, 'SBC-4 §5.48');
  writeU64(b, 2, lba);
  b.writeUInt16BE(opts?.boundary ?? 0, 10);
  b.writeUInt16BE(blocks, 12);
  b[14] = groupOf(opts, 'SBC-4 §5.48');
  return b;
}

/** Options of WRITE SAME (SBC-3 §5.45, §5.46). */
export interface WriteSameOptions {
  unmap?: boolean;
  anchor?: boolean;
  /** NDOB (16-byte form only, SBC-4): no Data-Out, the block is zeros. */
  ndob?: boolean;
  protect?: number;
  group?: number;
}

function wsByte1(o: WriteSameOptions | undefined): number {
  let b = 0;
  if (o?.protect !== undefined) {
    checkUint('WRPROTECT', o.protect, 7, 'SBC-3 §5.45');
    b |= o.protect << 5;
  }
  if (o?.anchor === true) b |= 0x10;
  if (o?.unmap === true) b |= 0x08;
  return b;
}

/** WRITE SAME(10) (SBC-3 §5.45); `blocks` 0 means to the end of the medium. */
export function cdbWriteSame10(lba: number, blocks: number, opts?: WriteSameOptions): Buffer {
  checkUint('LOGICAL BLOCK ADDRESS', lba, 0xffffffff, 'SBC-3 §5.45');
  checkUint('NUMBER OF LOGICAL BLOCKS', blocks, 0xffff, 'SBC-3 §5.45');
  const b = Buffer.alloc(10);
  b[0] = OP.WRITE_SAME_10;
  b[1] = wsByte1(opts);
  b.writeUInt32BE(lba, 2);
  b[6] = groupOf(opts, 'SBC-3 §5.45');
  b.writeUInt16BE(blocks, 7);
  return b;
}

/** WRITE SAME(16) (SBC-3 §5.46); `blocks` 0 means to the end of the medium. */
export function cdbWriteSame16(lba: number, blocks: number, opts?: WriteSameOptions): Buffer {
  checkUint('NUMBER OF LOGICAL BLOCKS', blocks, 0xffffffff, 'SBC-3 §5.46');
  const b = Buffer.alloc(16);
  b[0] = OP.WRITE_SAME_16;
  b[1] = wsByte1(opts) | (opts?.ndob === true ? 0x01 : 0);
  writeU64(b, 2, lba);
  b.writeUInt32BE(blocks, 10);
  b[14] = groupOf(opts, 'SBC-3 §5.46');
  return b;
}

/** UNMAP (SBC-3 §5.28) and its parameter list for `ranges` of `[lba, blocks]`. */
export function cdbUnmap(ranges: readonly (readonly [number, number])[], opts: { anchor?: boolean; group?: number } = {}): { cdb: Buffer; data: Buffer } {
  const data = Buffer.alloc(8 + 16 * ranges.length);
  data.writeUInt16BE(data.length - 2, 0);
  data.writeUInt16BE(16 * ranges.length, 2);
  ranges.forEach(([lba, n], i) => {
    writeU64(data, 8 + 16 * i, lba);
    checkUint('NUMBER OF LOGICAL BLOCKS', n, 0xffffffff, 'SBC-3 §5.28.2');
    data.writeUInt32BE(n, 16 + 16 * i);
  });
  checkUint('PARAMETER LIST LENGTH', data.length, 0xffff, 'SBC-3 §5.28');
  const cdb = Buffer.alloc(10);
  cdb[0] = OP.UNMAP;
  cdb[1] = opts.anchor === true ? 0x01 : 0;
  cdb[6] = opts.group ?? 0;
  cdb.writeUInt16BE(data.length, 7);
  return { cdb, data };
}

/** GET LBA STATUS (SBC-3 §5.6). */
export function cdbGetLbaStatus(lba: number, alloc = 24): Buffer {
  checkUint('ALLOCATION LENGTH', alloc, 0xffffffff, 'SBC-3 §5.6');
  const b = Buffer.alloc(16);
  b[0] = OP.SERVICE_ACTION_IN_16;
  b[1] = SAI.GET_LBA_STATUS;
  writeU64(b, 2, lba);
  b.writeUInt32BE(alloc, 10);
  return b;
}

/** One LBA status descriptor (SBC-3 §5.6.2): status 0 mapped (or unknown), 1 deallocated, 2 anchored. */
export interface LbaStatusDescriptor {
  lba: number;
  blocks: number;
  status: number;
}

/** Parses GET LBA STATUS parameter data (SBC-3 §5.6.2). */
export function parseGetLbaStatus(buf: Buffer): LbaStatusDescriptor[] {
  if (buf.length < 8) throw new RangeError('GET LBA STATUS data shorter than 8 bytes (SBC-3 §5.6.2)');
  const end = Math.min(buf.length, 4 + buf.readUInt32BE(0));
  const out: LbaStatusDescriptor[] = [];
  for (let off = 8; off + 16 <= end; off += 16) {
    out.push({ lba: buf.readUInt32BE(off) * 0x100000000 + buf.readUInt32BE(off + 4), blocks: buf.readUInt32BE(off + 8), status: buf[off + 12]! & 0x0f });
  }
  return out;
}
