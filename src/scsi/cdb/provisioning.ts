// CDB builders and parameter-data parsers of logical block provisioning (SBC-3 §4.7), shared by both
// ends: WRITE SAME(10)/(16), UNMAP and its parameter list, GET LBA STATUS and its parameter data.

import { OP, SAI } from '../constants.js';
import { checkUint, groupNumber, newCdb, protectBits, readU64, writeLba } from './fields.js';

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
  let b = protectBits(o?.protect, 'WRPROTECT', 'SBC-3 §5.45');
  if (o?.anchor === true) b |= 0x10;
  if (o?.unmap === true) b |= 0x08;
  return b;
}

/** WRITE SAME(10) (SBC-3 §5.45); `blocks` 0 means to the end of the medium. */
export function cdbWriteSame10(lba: number, blocks: number, opts?: WriteSameOptions): Buffer {
  checkUint('LOGICAL BLOCK ADDRESS', lba, 0xffffffff, 'SBC-3 §5.45');
  checkUint('NUMBER OF LOGICAL BLOCKS', blocks, 0xffff, 'SBC-3 §5.45');
  const b = newCdb(OP.WRITE_SAME_10, 10);
  b[1] = wsByte1(opts);
  b.writeUInt32BE(lba, 2);
  b[6] = groupNumber(opts?.group, 'SBC-3 §5.45');
  b.writeUInt16BE(blocks, 7);
  return b;
}

/** WRITE SAME(16) (SBC-3 §5.46); `blocks` 0 means to the end of the medium. */
export function cdbWriteSame16(lba: number, blocks: number, opts?: WriteSameOptions): Buffer {
  checkUint('NUMBER OF LOGICAL BLOCKS', blocks, 0xffffffff, 'SBC-3 §5.46');
  const b = newCdb(OP.WRITE_SAME_16, 16);
  b[1] = wsByte1(opts) | (opts?.ndob === true ? 0x01 : 0);
  writeLba(b, 2, lba);
  b.writeUInt32BE(blocks, 10);
  b[14] = groupNumber(opts?.group, 'SBC-3 §5.46');
  return b;
}

/** UNMAP (SBC-3 §5.28) and its parameter list for `ranges` of `[lba, blocks]`. */
export function cdbUnmap(ranges: readonly (readonly [number, number])[], opts: { anchor?: boolean; group?: number } = {}): { cdb: Buffer; data: Buffer } {
  const data = Buffer.alloc(8 + 16 * ranges.length);
  data.writeUInt16BE(data.length - 2, 0);
  data.writeUInt16BE(16 * ranges.length, 2);
  ranges.forEach(([lba, n], i) => {
    writeLba(data, 8 + 16 * i, lba);
    checkUint('NUMBER OF LOGICAL BLOCKS', n, 0xffffffff, 'SBC-3 §5.28.2');
    data.writeUInt32BE(n, 16 + 16 * i);
  });
  checkUint('PARAMETER LIST LENGTH', data.length, 0xffff, 'SBC-3 §5.28');
  const cdb = newCdb(OP.UNMAP, 10);
  cdb[1] = opts.anchor === true ? 0x01 : 0;
  cdb[6] = opts.group ?? 0;
  cdb.writeUInt16BE(data.length, 7);
  return { cdb, data };
}

/** GET LBA STATUS (SBC-3 §5.6). */
export function cdbGetLbaStatus(lba: number, alloc = 24): Buffer {
  checkUint('ALLOCATION LENGTH', alloc, 0xffffffff, 'SBC-3 §5.6');
  const b = newCdb(OP.SERVICE_ACTION_IN_16, 16);
  b[1] = SAI.GET_LBA_STATUS;
  writeLba(b, 2, lba);
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
    out.push({ lba: readU64(buf, off), blocks: buf.readUInt32BE(off + 8), status: buf[off + 12]! & 0x0f });
  }
  return out;
}
