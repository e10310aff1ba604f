// CDB builders and parameter-data parsers of the SBC-3 block commands, shared by both ends: READ,
// WRITE, VERIFY, WRITE AND VERIFY, SYNCHRONIZE CACHE, PRE-FETCH, READ CAPACITY, START STOP UNIT,
// PREVENT ALLOW MEDIUM REMOVAL, READ DEFECT DATA, and the writes that read first: COMPARE AND WRITE,
// ORWRITE(16), WRITE ATOMIC(16) (SBC-4). LBAs are plain numbers: every builder refuses one at or
// beyond 2^53 rather than lose precision. Provisioning commands are in provisioning.ts.

import { OP, SAI } from '../constants.js';
import { checkUint, groupNumber, newCdb, protectBits, readU64, writeLba, writeU64 } from './fields.js';

/** Options of the READ/WRITE family (SBC-3 READ(10), §5.32). */
export interface RwOptions {
  /** Force Unit Access: read from / write to the medium, not a volatile cache. */
  fua?: boolean;
  /** Disable Page Out: the data need not stay cached. */
  dpo?: boolean;
  /** RDPROTECT / WRPROTECT (protection information), 0..7; only 0 without PI. */
  protect?: number;
  /** GROUP NUMBER, 0..31. */
  group?: number;
}

/** Byte 1 of READ, WRITE and the writes that read first: the protection field, DPO, FUA. */
function byte1(o: RwOptions | undefined, protectName: string, rule: string): number {
  return protectBits(o?.protect, protectName, rule) | (o?.dpo === true ? 0x10 : 0) | (o?.fua === true ? 0x08 : 0);
}

function rwByte1(o: RwOptions | undefined): number {
  return byte1(o, 'RDPROTECT/WRPROTECT', 'SBC-3 READ(10)');
}

function group(o: { group?: number } | undefined): number {
  return groupNumber(o?.group, 'SBC-3 READ(10)');
}

function rw6(op: number, lba: number, blocks: number): Buffer {
  // SBC-3 READ(6): 21-bit LBA, 8-bit TRANSFER LENGTH where 0 means 256 blocks.
  checkUint('LBA', lba, 0x1fffff, 'SBC-3 READ(6)');
  checkUint('TRANSFER LENGTH', blocks, 256, 'SBC-3 READ(6)');
  if (blocks === 0) throw new RangeError('READ(6)/WRITE(6) cannot transfer 0 blocks: 0 means 256 (SBC-3 READ(6))');
  const b = newCdb(op, 6);
  b[1] = (lba >> 16) & 0x1f;
  b.writeUInt16BE(lba & 0xffff, 2);
  b[4] = blocks & 0xff;
  return b;
}

function rw10(op: number, lba: number, blocks: number, b1: number, grp: number): Buffer {
  checkUint('LBA', lba, 0xffffffff, 'SBC-3 READ(10)');
  checkUint('TRANSFER LENGTH', blocks, 0xffff, 'SBC-3 READ(10)');
  const b = newCdb(op, 10);
  b[1] = b1;
  b.writeUInt32BE(lba, 2);
  b[6] = grp;
  b.writeUInt16BE(blocks, 7);
  return b;
}

function rw12(op: number, lba: number, blocks: number, b1: number, grp: number): Buffer {
  checkUint('LBA', lba, 0xffffffff, 'SBC-3 READ(12)');
  checkUint('TRANSFER LENGTH', blocks, 0xffffffff, 'SBC-3 READ(12)');
  const b = newCdb(op, 12);
  b[1] = b1;
  b.writeUInt32BE(lba, 2);
  b.writeUInt32BE(blocks, 6);
  b[10] = grp;
  return b;
}

function rw16(op: number, lba: number, blocks: number, b1: number, grp: number): Buffer {
  checkUint('LBA', lba, Number.MAX_SAFE_INTEGER, 'SBC-3 READ(16) (numbers are exact below 2^53)');
  checkUint('TRANSFER LENGTH', blocks, 0xffffffff, 'SBC-3 READ(16)');
  const b = newCdb(op, 16);
  b[1] = b1;
  writeU64(b, 2, lba);
  b.writeUInt32BE(blocks, 10);
  b[14] = grp;
  return b;
}

/** READ(6) (SBC-3): 1..256 blocks below LBA 2^21. */
export function cdbRead6(lba: number, blocks: number): Buffer {
  return rw6(OP.READ_6, lba, blocks);
}

/** READ(10) (SBC-3). */
export function cdbRead10(lba: number, blocks: number, opts?: RwOptions): Buffer {
  return rw10(OP.READ_10, lba, blocks, rwByte1(opts), group(opts));
}

/** READ(12) (SBC-3). */
export function cdbRead12(lba: number, blocks: number, opts?: RwOptions): Buffer {
  return rw12(OP.READ_12, lba, blocks, rwByte1(opts), group(opts));
}

/** READ(16) (SBC-3). */
export function cdbRead16(lba: number, blocks: number, opts?: RwOptions): Buffer {
  return rw16(OP.READ_16, lba, blocks, rwByte1(opts), group(opts));
}

/** WRITE(6) (SBC-3). */
export function cdbWrite6(lba: number, blocks: number): Buffer {
  return rw6(OP.WRITE_6, lba, blocks);
}

/** WRITE(10) (SBC-3). */
export function cdbWrite10(lba: number, blocks: number, opts?: RwOptions): Buffer {
  return rw10(OP.WRITE_10, lba, blocks, rwByte1(opts), group(opts));
}

/** WRITE(12) (SBC-3). */
export function cdbWrite12(lba: number, blocks: number, opts?: RwOptions): Buffer {
  return rw12(OP.WRITE_12, lba, blocks, rwByte1(opts), group(opts));
}

/** WRITE(16) (SBC-3). */
export function cdbWrite16(lba: number, blocks: number, opts?: RwOptions): Buffer {
  return rw16(OP.WRITE_16, lba, blocks, rwByte1(opts), group(opts));
}

/** Options of VERIFY and WRITE AND VERIFY (SBC-3 VERIFY(10), §5.35). */
export interface VerifyOptions {
  /** BYTCHK: 0 medium only, 1 compare with Data-Out, 3 compare every block with one block. */
  bytchk?: number;
  dpo?: boolean;
  /** VRPROTECT / WRPROTECT, 0..7. */
  protect?: number;
  group?: number;
}

function verifyByte1(o: VerifyOptions | undefined): number {
  let b = protectBits(o?.protect, 'VRPROTECT/WRPROTECT', 'SBC-3 VERIFY(10)');
  if (o?.dpo === true) b |= 0x10;
  if (o?.bytchk !== undefined) {
    checkUint('BYTCHK', o.bytchk, 3, 'SBC-4 VERIFY(10)');
    b |= o.bytchk << 1;
  }
  return b;
}

/** VERIFY(10) (SBC-3). */
export function cdbVerify10(lba: number, blocks: number, opts?: VerifyOptions): Buffer {
  return rw10(OP.VERIFY_10, lba, blocks, verifyByte1(opts), group(opts));
}

/** VERIFY(12) (SBC-3). */
export function cdbVerify12(lba: number, blocks: number, opts?: VerifyOptions): Buffer {
  return rw12(OP.VERIFY_12, lba, blocks, verifyByte1(opts), group(opts));
}

/** VERIFY(16) (SBC-3). */
export function cdbVerify16(lba: number, blocks: number, opts?: VerifyOptions): Buffer {
  return rw16(OP.VERIFY_16, lba, blocks, verifyByte1(opts), group(opts));
}

/** WRITE AND VERIFY(10) (SBC-3). */
export function cdbWriteAndVerify10(lba: number, blocks: number, opts?: VerifyOptions): Buffer {
  return rw10(OP.WRITE_AND_VERIFY_10, lba, blocks, verifyByte1(opts), group(opts));
}

/** WRITE AND VERIFY(12) (SBC-3). */
export function cdbWriteAndVerify12(lba: number, blocks: number, opts?: VerifyOptions): Buffer {
  return rw12(OP.WRITE_AND_VERIFY_12, lba, blocks, verifyByte1(opts), group(opts));
}

/** WRITE AND VERIFY(16) (SBC-3). */
export function cdbWriteAndVerify16(lba: number, blocks: number, opts?: VerifyOptions): Buffer {
  return rw16(OP.WRITE_AND_VERIFY_16, lba, blocks, verifyByte1(opts), group(opts));
}

/** SYNCHRONIZE CACHE(10) (SBC-3); `blocks` 0 means to the end of the medium. */
export function cdbSynchronizeCache10(lba = 0, blocks = 0, opts: { immed?: boolean; group?: number } = {}): Buffer {
  return rw10(OP.SYNCHRONIZE_CACHE_10, lba, blocks, opts.immed === true ? 0x02 : 0, group(opts));
}

/** SYNCHRONIZE CACHE(16) (SBC-3). */
export function cdbSynchronizeCache16(lba = 0, blocks = 0, opts: { immed?: boolean; group?: number } = {}): Buffer {
  return rw16(OP.SYNCHRONIZE_CACHE_16, lba, blocks, opts.immed === true ? 0x02 : 0, group(opts));
}

/** PRE-FETCH(10) (SBC-3); `blocks` 0 means to the end of the medium. */
export function cdbPrefetch10(lba: number, blocks: number, opts: { immed?: boolean; group?: number } = {}): Buffer {
  return rw10(OP.PRE_FETCH_10, lba, blocks, opts.immed === true ? 0x02 : 0, group(opts));
}

/** PRE-FETCH(16) (SBC-3). */
export function cdbPrefetch16(lba: number, blocks: number, opts: { immed?: boolean; group?: number } = {}): Buffer {
  return rw16(OP.PRE_FETCH_16, lba, blocks, opts.immed === true ? 0x02 : 0, group(opts));
}

/** READ CAPACITY(10) (SBC-3). */
export function cdbReadCapacity10(): Buffer {
  return newCdb(OP.READ_CAPACITY_10, 10);
}

/** READ CAPACITY(16) (SBC-3), a SERVICE ACTION IN(16) service action. */
export function cdbReadCapacity16(opts: { alloc?: number } = {}): Buffer {
  const alloc = opts.alloc ?? 32;
  checkUint('ALLOCATION LENGTH', alloc, 0xffffffff, 'SBC-3 READ CAPACITY(16)');
  const b = newCdb(OP.SERVICE_ACTION_IN_16, 16);
  b[1] = SAI.READ_CAPACITY_16;
  b.writeUInt32BE(alloc, 10);
  return b;
}

/** START STOP UNIT (SBC-3). */
export function cdbStartStopUnit(
  opts: { start?: boolean; loej?: boolean; immed?: boolean; noFlush?: boolean; powerCondition?: number; modifier?: number } = {},
): Buffer {
  checkUint('POWER CONDITION', opts.powerCondition ?? 0, 0xf, 'SBC-3 START STOP UNIT');
  checkUint('POWER CONDITION MODIFIER', opts.modifier ?? 0, 0xf, 'SBC-3 START STOP UNIT');
  const b = newCdb(OP.START_STOP_UNIT, 6);
  if (opts.immed === true) b[1] = 0x01;
  b[3] = opts.modifier ?? 0;
  b[4] = ((opts.powerCondition ?? 0) << 4) | (opts.noFlush === true ? 0x04 : 0) | (opts.loej === true ? 0x02 : 0) | (opts.start === true ? 0x01 : 0);
  return b;
}

/** PREVENT ALLOW MEDIUM REMOVAL (SBC-3): `prevent` 0 allows, 1 prevents. */
export function cdbPreventAllow(prevent: number): Buffer {
  checkUint('PREVENT', prevent, 3, 'SBC-3 PREVENT ALLOW MEDIUM REMOVAL');
  const b = newCdb(OP.PREVENT_ALLOW_MEDIUM_REMOVAL, 6);
  b[4] = prevent;
  return b;
}

/** READ DEFECT DATA(10) (SBC-3). */
export function cdbReadDefectData10(
  opts: { plist?: boolean; glist?: boolean; format?: number; alloc?: number } = {},
): Buffer {
  const alloc = opts.alloc ?? 4;
  checkUint('DEFECT LIST FORMAT', opts.format ?? 0, 7, 'SBC-3 READ DEFECT DATA(10)');
  checkUint('ALLOCATION LENGTH', alloc, 0xffff, 'SBC-3 READ DEFECT DATA(10)');
  const b = newCdb(OP.READ_DEFECT_DATA_10, 10);
  b[2] = (opts.plist === true ? 0x10 : 0) | (opts.glist === true ? 0x08 : 0) | (opts.format ?? 0);
  b.writeUInt16BE(alloc, 7);
  return b;
}

/** READ DEFECT DATA(12) (SBC-3). */
export function cdbReadDefectData12(
  opts: { plist?: boolean; glist?: boolean; format?: number; index?: number; alloc?: number } = {},
): Buffer {
  const alloc = opts.alloc ?? 8;
  checkUint('DEFECT LIST FORMAT', opts.format ?? 0, 7, 'SBC-3 READ DEFECT DATA(12)');
  checkUint('ADDRESS DESCRIPTOR INDEX', opts.index ?? 0, 0xffffffff, 'SBC-3 READ DEFECT DATA(12)');
  checkUint('ALLOCATION LENGTH', alloc, 0xffffffff, 'SBC-3 READ DEFECT DATA(12)');
  const b = newCdb(OP.READ_DEFECT_DATA_12, 12);
  b[1] = (opts.plist === true ? 0x10 : 0) | (opts.glist === true ? 0x08 : 0) | (opts.format ?? 0);
  b.writeUInt32BE(opts.index ?? 0, 2);
  b.writeUInt32BE(alloc, 6);
  return b;
}

/**
 * DPO, FUA and the protection field of byte 1 of COMPARE AND WRITE, ORWRITE(16) and WRITE ATOMIC(16)
 * (`protect` is WRPROTECT or ORPROTECT): the options of WRITE.
 */
export type BlockWriteOptions = RwOptions;

/** COMPARE AND WRITE (SBC-3 §5.2): the Data-Out is `blocks` of verify data then `blocks` of write data. */
export function cdbCompareAndWrite(lba: number, blocks: number, opts?: BlockWriteOptions): Buffer {
  checkUint('NUMBER OF LOGICAL BLOCKS', blocks, 0xff, 'SBC-3 §5.2');
  const b = newCdb(OP.COMPARE_AND_WRITE, 16);
  b[1] = byte1(opts, 'WRPROTECT', 'SBC-3 §5.2');
  writeLba(b, 2, lba);
  b[13] = blocks;
  b[14] = groupNumber(opts?.group, 'SBC-3 §5.2');
  return b;
}

/** ORWRITE(16) (SBC-3 §5.9). */
export function cdbOrWrite16(lba: number, blocks: number, opts?: BlockWriteOptions): Buffer {
  checkUint('TRANSFER LENGTH', blocks, 0xffffffff, 'SBC-3 §5.9');
  const b = newCdb(OP.ORWRITE_16, 16);
  b[1] = byte1(opts, 'WRPROTECT', 'SBC-3 §5.9');
  writeLba(b, 2, lba);
  b.writeUInt32BE(blocks, 10);
  b[14] = groupNumber(opts?.group, 'SBC-3 §5.9');
  return b;
}

/** WRITE ATOMIC(16) (SBC-4 §5.48). */
export function cdbWriteAtomic16(lba: number, blocks: number, opts?: BlockWriteOptions & { boundary?: number }): Buffer {
  checkUint('TRANSFER LENGTH', blocks, 0xffff, 'SBC-4 §5.48');
  checkUint('ATOMIC BOUNDARY', opts?.boundary ?? 0, 0xffff, 'SBC-4 §5.48');
  const b = newCdb(OP.WRITE_ATOMIC_16, 16);
  b[1] = byte1(opts, 'WRPROTECT', 'SBC-4 §5.48');
  writeLba(b, 2, lba);
  b.writeUInt16BE(opts?.boundary ?? 0, 10);
  b.writeUInt16BE(blocks, 12);
  b[14] = groupNumber(opts?.group, 'SBC-4 §5.48');
  return b;
}

/** READ CAPACITY(10) parameter data (SBC-3 READ CAPACITY(10)). `blocks` is null when the LU is too big for it. */
export interface ReadCapacity10 {
  lastLba: number;
  blockLength: number;
  blocks: number | null;
}

/** Parses READ CAPACITY(10) parameter data (SBC-3 READ CAPACITY(10)). */
export function parseReadCapacity10(buf: Buffer): ReadCapacity10 {
  if (buf.length < 8) throw new RangeError('READ CAPACITY(10) data shorter than 8 bytes (SBC-3 READ CAPACITY(10))');
  const lastLba = buf.readUInt32BE(0);
  // FFFFFFFFh means "use READ CAPACITY(16)" (SBC-3 READ CAPACITY(10)).
  return { lastLba, blockLength: buf.readUInt32BE(4), blocks: lastLba === 0xffffffff ? null : lastLba + 1 };
}

/** READ CAPACITY(16) parameter data (SBC-3 READ CAPACITY(16)). */
export interface ReadCapacity16 {
  lastLba: number;
  blocks: number;
  blockLength: number;
  protEn: boolean;
  pType: number;
  pIExponent: number;
  /** Logical blocks per physical block exponent. */
  lbppbe: number;
  lbpme: boolean;
  lbprz: boolean;
  lowestAlignedLba: number;
}

/** Parses READ CAPACITY(16) parameter data; refuses a capacity this code cannot address exactly. */
export function parseReadCapacity16(buf: Buffer): ReadCapacity16 {
  if (buf.length < 16) throw new RangeError('READ CAPACITY(16) data shorter than 16 bytes (SBC-3 READ CAPACITY(16))');
  const lastLba = readU64(buf, 0);
  if (lastLba >= Number.MAX_SAFE_INTEGER) {
    throw new RangeError('READ CAPACITY(16) reports a capacity beyond 2^53 blocks, which this code does not address');
  }
  return {
    lastLba,
    blocks: lastLba + 1,
    blockLength: buf.readUInt32BE(8),
    protEn: (buf[12]! & 0x01) !== 0,
    pType: (buf[12]! >> 1) & 0x07,
    pIExponent: buf[13]! >> 4,
    lbppbe: buf[13]! & 0x0f,
    lbpme: (buf[14]! & 0x80) !== 0,
    lbprz: (buf[14]! & 0x40) !== 0,
    lowestAlignedLba: buf.readUInt16BE(14) & 0x3fff,
  };
}
