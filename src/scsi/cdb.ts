// CDB builders and parameter-data parsers shared by both ends: the initiator builds its commands and
// decodes the answers with these; the target's tests use them to drive the logical unit.
// LBAs are plain numbers: every builder refuses one at or beyond 2^53 rather than lose precision.

import { MI, OP, SAI } from './constants.js';

// ---------------------------------------------------------------------------------------------
// Field helpers

function checkUint(name: string, v: number, max: number, rule: string): void {
  if (!Number.isInteger(v) || v < 0 || v > max) {
    throw new RangeError(`${name} ${v} does not fit its field: 0..${max} (${rule})`);
  }
}

function writeU64(buf: Buffer, off: number, v: number): void {
  buf.writeUInt32BE(Math.floor(v / 0x100000000), off);
  buf.writeUInt32BE(v % 0x100000000, off + 4);
}

/** Reads a big-endian 64-bit unsigned field as a number; exact below 2^53 (larger values round). */
export function readU64(buf: Buffer, off: number): number {
  return buf.readUInt32BE(off) * 0x100000000 + buf.readUInt32BE(off + 4);
}

function ascii(buf: Buffer, start: number, end: number): string {
  return buf.toString('latin1', start, Math.min(end, buf.length)).replace(/[\0 ]+$/, '');
}

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

function rwByte1(o: RwOptions | undefined): number {
  let b = 0;
  if (o?.protect !== undefined) {
    checkUint('RDPROTECT/WRPROTECT', o.protect, 7, 'SBC-3 READ(10)');
    b |= o.protect << 5;
  }
  if (o?.dpo === true) b |= 0x10;
  if (o?.fua === true) b |= 0x08;
  return b;
}

function group(o: { group?: number } | undefined): number {
  if (o?.group === undefined) return 0;
  checkUint('GROUP NUMBER', o.group, 0x1f, 'SBC-3 READ(10)');
  return o.group;
}

function rw6(op: number, lba: number, blocks: number): Buffer {
  // SBC-3 READ(6): 21-bit LBA, 8-bit TRANSFER LENGTH where 0 means 256 blocks.
  checkUint('LBA', lba, 0x1fffff, 'SBC-3 READ(6)');
  checkUint('TRANSFER LENGTH', blocks, 256, 'SBC-3 READ(6)');
  if (blocks === 0) throw new RangeError('READ(6)/WRITE(6) cannot transfer 0 blocks: 0 means 256 (SBC-3 READ(6))');
  const b = Buffer.alloc(6);
  b[0] = op;
  b[1] = (lba >> 16) & 0x1f;
  b.writeUInt16BE(lba & 0xffff, 2);
  b[4] = blocks & 0xff;
  return b;
}

function rw10(op: number, lba: number, blocks: number, b1: number, grp: number): Buffer {
  checkUint('LBA', lba, 0xffffffff, 'SBC-3 READ(10)');
  checkUint('TRANSFER LENGTH', blocks, 0xffff, 'SBC-3 READ(10)');
  const b = Buffer.alloc(10);
  b[0] = op;
  b[1] = b1;
  b.writeUInt32BE(lba, 2);
  b[6] = grp;
  b.writeUInt16BE(blocks, 7);
  return b;
}

function rw12(op: number, lba: number, blocks: number, b1: number, grp: number): Buffer {
  checkUint('LBA', lba, 0xffffffff, 'SBC-3 READ(12)');
  checkUint('TRANSFER LENGTH', blocks, 0xffffffff, 'SBC-3 READ(12)');
  const b = Buffer.alloc(12);
  b[0] = op;
  b[1] = b1;
  b.writeUInt32BE(lba, 2);
  b.writeUInt32BE(blocks, 6);
  b[10] = grp;
  return b;
}

function rw16(op: number, lba: number, blocks: number, b1: number, grp: number): Buffer {
  checkUint('LBA', lba, Number.MAX_SAFE_INTEGER, 'SBC-3 READ(16) (numbers are exact below 2^53)');
  checkUint('TRANSFER LENGTH', blocks, 0xffffffff, 'SBC-3 READ(16)');
  const b = Buffer.alloc(16);
  b[0] = op;
  b[1] = b1;
  writeU64(b, 2, lba);
  b.writeUInt32BE(blocks, 10);
  b[14] = grp;
  return b;
}

// ---------------------------------------------------------------------------------------------
// SPC-4 commands

/** TEST UNIT READY (SPC-4 §6.47). */
export function cdbTestUnitReady(): Buffer {
  return Buffer.alloc(6);
}

/** REQUEST SENSE (SPC-4 §6.39): `desc` asks for descriptor format sense data. */
export function cdbRequestSense(opts: { desc?: boolean; alloc?: number } = {}): Buffer {
  const alloc = opts.alloc ?? 252;
  checkUint('ALLOCATION LENGTH', alloc, 0xff, 'SPC-4 §6.39');
  const b = Buffer.alloc(6);
  b[0] = OP.REQUEST_SENSE;
  if (opts.desc === true) b[1] = 0x01;
  b[4] = alloc;
  return b;
}

/** INQUIRY (SPC-4 §6.6): standard data, or the VPD page `page` when `evpd`. */
export function cdbInquiry(opts: { evpd?: boolean; page?: number; alloc?: number } = {}): Buffer {
  const alloc = opts.alloc ?? 255;
  const page = opts.page ?? 0;
  checkUint('ALLOCATION LENGTH', alloc, 0xffff, 'SPC-4 §6.6');
  checkUint('PAGE CODE', page, 0xff, 'SPC-4 §6.6');
  const b = Buffer.alloc(6);
  b[0] = OP.INQUIRY;
  if (opts.evpd === true) b[1] = 0x01;
  b[2] = page;
  b.writeUInt16BE(alloc, 3);
  return b;
}

/** REPORT LUNS (SPC-4 §6.33). `selectReport` 0: all LUs, 1: well-known only, 2: all of both. */
export function cdbReportLuns(opts: { selectReport?: number; alloc?: number } = {}): Buffer {
  const alloc = opts.alloc ?? 4096;
  checkUint('SELECT REPORT', opts.selectReport ?? 0, 0xff, 'SPC-4 §6.33');
  checkUint('ALLOCATION LENGTH', alloc, 0xffffffff, 'SPC-4 §6.33');
  const b = Buffer.alloc(12);
  b[0] = OP.REPORT_LUNS;
  b[2] = opts.selectReport ?? 0;
  b.writeUInt32BE(alloc, 6);
  return b;
}

/** MODE SENSE(6) (SPC-4 §6.11). `pc`: 0 current, 1 changeable, 2 default, 3 saved. */
export function cdbModeSense6(
  opts: { page?: number; subpage?: number; pc?: number; dbd?: boolean; alloc?: number } = {},
): Buffer {
  const alloc = opts.alloc ?? 255;
  checkUint('ALLOCATION LENGTH', alloc, 0xff, 'SPC-4 §6.11');
  checkUint('PAGE CODE', opts.page ?? 0x3f, 0x3f, 'SPC-4 §6.11');
  checkUint('PC', opts.pc ?? 0, 3, 'SPC-4 §6.11');
  checkUint('SUBPAGE CODE', opts.subpage ?? 0, 0xff, 'SPC-4 §6.11');
  const b = Buffer.alloc(6);
  b[0] = OP.MODE_SENSE_6;
  if (opts.dbd === true) b[1] = 0x08;
  b[2] = ((opts.pc ?? 0) << 6) | (opts.page ?? 0x3f);
  b[3] = opts.subpage ?? 0;
  b[4] = alloc;
  return b;
}

/** MODE SENSE(10) (SPC-4 §6.12); `llbaa` allows long LBA block descriptors. */
export function cdbModeSense10(
  opts: { page?: number; subpage?: number; pc?: number; dbd?: boolean; llbaa?: boolean; alloc?: number } = {},
): Buffer {
  const alloc = opts.alloc ?? 4096;
  checkUint('ALLOCATION LENGTH', alloc, 0xffff, 'SPC-4 §6.12');
  checkUint('PAGE CODE', opts.page ?? 0x3f, 0x3f, 'SPC-4 §6.12');
  checkUint('PC', opts.pc ?? 0, 3, 'SPC-4 §6.12');
  checkUint('SUBPAGE CODE', opts.subpage ?? 0, 0xff, 'SPC-4 §6.12');
  const b = Buffer.alloc(10);
  b[0] = OP.MODE_SENSE_10;
  if (opts.llbaa === true) b[1] |= 0x10;
  if (opts.dbd === true) b[1] |= 0x08;
  b[2] = ((opts.pc ?? 0) << 6) | (opts.page ?? 0x3f);
  b[3] = opts.subpage ?? 0;
  b.writeUInt16BE(alloc, 7);
  return b;
}

/** MODE SELECT(6) (SPC-4 §6.9): PF defaults to 1 (pages are in SPC format). */
export function cdbModeSelect6(length: number, opts: { pf?: boolean; sp?: boolean } = {}): Buffer {
  checkUint('PARAMETER LIST LENGTH', length, 0xff, 'SPC-4 §6.9');
  const b = Buffer.alloc(6);
  b[0] = OP.MODE_SELECT_6;
  if (opts.pf !== false) b[1] |= 0x10;
  if (opts.sp === true) b[1] |= 0x01;
  b[4] = length;
  return b;
}

/** MODE SELECT(10) (SPC-4 §6.10). */
export function cdbModeSelect10(length: number, opts: { pf?: boolean; sp?: boolean } = {}): Buffer {
  checkUint('PARAMETER LIST LENGTH', length, 0xffff, 'SPC-4 §6.10');
  const b = Buffer.alloc(10);
  b[0] = OP.MODE_SELECT_10;
  if (opts.pf !== false) b[1] |= 0x10;
  if (opts.sp === true) b[1] |= 0x01;
  b.writeUInt16BE(length, 7);
  return b;
}

/** REPORT SUPPORTED OPERATION CODES (SPC-4 §6.35). `options` is the REPORTING OPTIONS field (0..3). */
export function cdbReportSupportedOpcodes(
  opts: { options?: number; opcode?: number; serviceAction?: number; rctd?: boolean; alloc?: number } = {},
): Buffer {
  const alloc = opts.alloc ?? 65535;
  checkUint('REPORTING OPTIONS', opts.options ?? 0, 7, 'SPC-4 §6.35');
  checkUint('REQUESTED OPERATION CODE', opts.opcode ?? 0, 0xff, 'SPC-4 §6.35');
  checkUint('REQUESTED SERVICE ACTION', opts.serviceAction ?? 0, 0xffff, 'SPC-4 §6.35');
  checkUint('ALLOCATION LENGTH', alloc, 0xffffffff, 'SPC-4 §6.35');
  const b = Buffer.alloc(12);
  b[0] = OP.MAINTENANCE_IN;
  b[1] = MI.REPORT_SUPPORTED_OPERATION_CODES;
  b[2] = (opts.rctd === true ? 0x80 : 0) | (opts.options ?? 0);
  b[3] = opts.opcode ?? 0;
  b.writeUInt16BE(opts.serviceAction ?? 0, 4);
  b.writeUInt32BE(alloc, 6);
  return b;
}

/** REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS (SPC-4 §6.36). */
export function cdbReportSupportedTmfs(opts: { reptd?: boolean; alloc?: number } = {}): Buffer {
  const alloc = opts.alloc ?? 16;
  checkUint('ALLOCATION LENGTH', alloc, 0xffffffff, 'SPC-4 §6.36');
  const b = Buffer.alloc(12);
  b[0] = OP.MAINTENANCE_IN;
  b[1] = MI.REPORT_SUPPORTED_TASK_MANAGEMENT_FUNCTIONS;
  if (opts.reptd === true) b[2] = 0x80;
  b.writeUInt32BE(alloc, 6);
  return b;
}

/** RESERVE(6) (SPC-2 (RESERVE(6))). */
export function cdbReserve6(): Buffer {
  const b = Buffer.alloc(6);
  b[0] = OP.RESERVE_6;
  return b;
}

/** RELEASE(6) (SPC-2 (RELEASE(6))). */
export function cdbRelease6(): Buffer {
  const b = Buffer.alloc(6);
  b[0] = OP.RELEASE_6;
  return b;
}

/** PREVENT ALLOW MEDIUM REMOVAL (SBC-3): `prevent` 0 allows, 1 prevents. */
export function cdbPreventAllow(prevent: number): Buffer {
  checkUint('PREVENT', prevent, 3, 'SBC-3 PREVENT ALLOW MEDIUM REMOVAL');
  const b = Buffer.alloc(6);
  b[0] = OP.PREVENT_ALLOW_MEDIUM_REMOVAL;
  b[4] = prevent;
  return b;
}

// ---------------------------------------------------------------------------------------------
// SBC-3 commands

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
  let b = 0;
  if (o?.protect !== undefined) {
    checkUint('VRPROTECT/WRPROTECT', o.protect, 7, 'SBC-3 VERIFY(10)');
    b |= o.protect << 5;
  }
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
  const b = Buffer.alloc(10);
  b[0] = OP.READ_CAPACITY_10;
  return b;
}

/** READ CAPACITY(16) (SBC-3), a SERVICE ACTION IN(16) service action. */
export function cdbReadCapacity16(opts: { alloc?: number } = {}): Buffer {
  const alloc = opts.alloc ?? 32;
  checkUint('ALLOCATION LENGTH', alloc, 0xffffffff, 'SBC-3 READ CAPACITY(16)');
  const b = Buffer.alloc(16);
  b[0] = OP.SERVICE_ACTION_IN_16;
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
  const b = Buffer.alloc(6);
  b[0] = OP.START_STOP_UNIT;
  if (opts.immed === true) b[1] = 0x01;
  b[3] = opts.modifier ?? 0;
  b[4] = ((opts.powerCondition ?? 0) << 4) | (opts.noFlush === true ? 0x04 : 0) | (opts.loej === true ? 0x02 : 0) | (opts.start === true ? 0x01 : 0);
  return b;
}

/** READ DEFECT DATA(10) (SBC-3). */
export function cdbReadDefectData10(
  opts: { plist?: boolean; glist?: boolean; format?: number; alloc?: number } = {},
): Buffer {
  const alloc = opts.alloc ?? 4;
  checkUint('DEFECT LIST FORMAT', opts.format ?? 0, 7, 'SBC-3 READ DEFECT DATA(10)');
  checkUint('ALLOCATION LENGTH', alloc, 0xffff, 'SBC-3 READ DEFECT DATA(10)');
  const b = Buffer.alloc(10);
  b[0] = OP.READ_DEFECT_DATA_10;
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
  const b = Buffer.alloc(12);
  b[0] = OP.READ_DEFECT_DATA_12;
  b[1] = (opts.plist === true ? 0x10 : 0) | (opts.glist === true ? 0x08 : 0) | (opts.format ?? 0);
  b.writeUInt32BE(opts.index ?? 0, 2);
  b.writeUInt32BE(alloc, 6);
  return b;
}

// ---------------------------------------------------------------------------------------------
// LUN encoding (SAM-5 §4.6)

/** The highest LUN the single-level flat space addressing method can carry (SAM-5 §4.6, flat space addressing). */
export const MAX_FLAT_LUN = 0x3fff;

/**
 * Encodes a LUN as the 8-byte single-level LUN structure (SAM-5 §4.6): peripheral device addressing
 * below 256 (what initiators expect for small LUNs), flat space addressing up to 16383.
 */
export function encodeLun(lun: number, into: Buffer = Buffer.alloc(8), off = 0): Buffer {
  checkUint('LUN', lun, MAX_FLAT_LUN, 'SAM-5 §4.6, flat space addressing');
  into.fill(0, off, off + 8);
  if (lun < 256) {
    into[off + 1] = lun;
  } else {
    into[off] = 0x40 | (lun >> 8);
    into[off + 1] = lun & 0xff;
  }
  return into;
}

/**
 * Decodes the first level of an 8-byte LUN (SAM-5 §4.6): peripheral or flat addressing give the
 * LUN; other methods (logical unit, extended, well-known) return the raw 16 first-level bits.
 */
export function decodeLun(buf: Buffer, off = 0): number {
  const method = buf[off]! >> 6;
  if (method === 0) return buf[off + 1]!; // peripheral device addressing, bus identifier 0
  if (method === 1) return ((buf[off]! & 0x3f) << 8) | buf[off + 1]!;
  return (buf[off]! << 8) | buf[off + 1]!;
}

// ---------------------------------------------------------------------------------------------
// Response parsers

/** Standard INQUIRY data (SPC-4 §6.6). */
export interface StandardInquiry {
  peripheralQualifier: number;
  deviceType: number;
  rmb: boolean;
  version: number;
  normaca: boolean;
  hisup: boolean;
  responseDataFormat: number;
  additionalLength: number;
  sccs: boolean;
  acc: boolean;
  tpgs: number;
  threePc: boolean;
  protect: boolean;
  encserv: boolean;
  multip: boolean;
  cmdque: boolean;
  vendor: string;
  product: string;
  revision: string;
  versionDescriptors: number[];
}

/** Parses standard INQUIRY data; needs at least the 36 bytes SPC-4 §6.6, standard INQUIRY data requires. */
export function parseInquiry(buf: Buffer): StandardInquiry {
  if (buf.length < 36) throw new RangeError(`standard INQUIRY data is ${buf.length} bytes, less than 36 (SPC-4 §6.6)`);
  const versionDescriptors: number[] = [];
  for (let off = 58; off + 2 <= Math.min(buf.length, 74); off += 2) {
    const v = buf.readUInt16BE(off);
    if (v !== 0) versionDescriptors.push(v);
  }
  return {
    peripheralQualifier: buf[0]! >> 5,
    deviceType: buf[0]! & 0x1f,
    rmb: (buf[1]! & 0x80) !== 0,
    version: buf[2]!,
    normaca: (buf[3]! & 0x20) !== 0,
    hisup: (buf[3]! & 0x10) !== 0,
    responseDataFormat: buf[3]! & 0x0f,
    additionalLength: buf[4]!,
    sccs: (buf[5]! & 0x80) !== 0,
    acc: (buf[5]! & 0x40) !== 0,
    tpgs: (buf[5]! >> 4) & 0x03,
    threePc: (buf[5]! & 0x08) !== 0,
    protect: (buf[5]! & 0x01) !== 0,
    encserv: (buf[6]! & 0x40) !== 0,
    multip: (buf[6]! & 0x10) !== 0,
    cmdque: (buf[7]! & 0x02) !== 0,
    vendor: ascii(buf, 8, 16),
    product: ascii(buf, 16, 32),
    revision: ascii(buf, 32, 36),
    versionDescriptors,
  };
}

function vpdBody(buf: Buffer, page: number, long: boolean): Buffer {
  if (buf.length < 4) throw new RangeError(`VPD page 0x${page.toString(16)} shorter than its 4-byte header (SPC-4, VPD page format)`);
  if (buf[1] !== page) throw new RangeError(`expected VPD page 0x${page.toString(16)}, got 0x${buf[1]!.toString(16)}`);
  const len = long ? buf.readUInt16BE(2) : buf[3]!;
  return buf.subarray(4, Math.min(buf.length, 4 + len));
}

/** Supported VPD pages (SPC-4, Supported VPD Pages): the page codes listed. */
export function parseVpdSupportedPages(buf: Buffer): number[] {
  return [...vpdBody(buf, 0x00, false)];
}

/** Unit Serial Number VPD page (SPC-4, Unit Serial Number VPD page). */
export function parseVpdSerialNumber(buf: Buffer): string {
  return vpdBody(buf, 0x80, false).toString('latin1').replace(/[\0 ]+$/, '').replace(/^ +/, '');
}

/** One designation descriptor of the Device Identification VPD page (SPC-4, designation descriptor). */
export interface Designator {
  protocolIdentifier: number;
  /** 1 binary, 2 ASCII, 3 UTF-8. */
  codeSet: number;
  piv: boolean;
  /** 0 logical unit, 1 target port, 2 target device. */
  association: number;
  /** 1 T10 vendor ID, 3 NAA, 4 relative target port, 8 SCSI name string, ... */
  designatorType: number;
  designator: Buffer;
  /** The designator as text for the ASCII and UTF-8 code sets, without trailing NULs. */
  text?: string;
}

/** Device Identification VPD page 83h (SPC-4, Device Identification VPD page). */
export function parseVpd83(buf: Buffer): Designator[] {
  const body = vpdBody(buf, 0x83, true);
  const out: Designator[] = [];
  for (let off = 0; off + 4 <= body.length; ) {
    const len = body[off + 3]!;
    if (off + 4 + len > body.length) break;
    const d: Designator = {
      protocolIdentifier: body[off]! >> 4,
      codeSet: body[off]! & 0x0f,
      piv: (body[off + 1]! & 0x80) !== 0,
      association: (body[off + 1]! >> 4) & 0x03,
      designatorType: body[off + 1]! & 0x0f,
      designator: Buffer.from(body.subarray(off + 4, off + 4 + len)),
    };
    if (d.codeSet === 2 || d.codeSet === 3) {
      d.text = d.designator.toString(d.codeSet === 3 ? 'utf8' : 'latin1').replace(/\0+$/, '');
    }
    out.push(d);
    off += 4 + len;
  }
  return out;
}

/** Block Limits VPD page B0h (SBC-3 §6.5, Block Limits VPD page). */
export interface BlockLimits {
  wsnz: boolean;
  maxCompareAndWriteLength: number;
  optimalTransferLengthGranularity: number;
  maxTransferLength: number;
  optimalTransferLength: number;
  maxPrefetchLength: number;
  maxUnmapLbaCount: number;
  maxUnmapBlockDescriptorCount: number;
  optimalUnmapGranularity: number;
  ugavalid: boolean;
  unmapGranularityAlignment: number;
  maxWriteSameLength: number;
  maxAtomicTransferLength: number;
}

/** Parses the Block Limits VPD page (SBC-3 §6.5, Block Limits VPD page, SBC-4, Block Limits VPD page). */
export function parseVpdBlockLimits(buf: Buffer): BlockLimits {
  const b = Buffer.alloc(64);
  vpdBody(buf, 0xb0, true).copy(b, 4);
  return {
    wsnz: (b[4]! & 0x01) !== 0,
    maxCompareAndWriteLength: b[5]!,
    optimalTransferLengthGranularity: b.readUInt16BE(6),
    maxTransferLength: b.readUInt32BE(8),
    optimalTransferLength: b.readUInt32BE(12),
    maxPrefetchLength: b.readUInt32BE(16),
    maxUnmapLbaCount: b.readUInt32BE(20),
    maxUnmapBlockDescriptorCount: b.readUInt32BE(24),
    optimalUnmapGranularity: b.readUInt32BE(28),
    ugavalid: (b[32]! & 0x80) !== 0,
    unmapGranularityAlignment: b.readUInt32BE(32) & 0x7fffffff,
    maxWriteSameLength: readU64(b, 36),
    maxAtomicTransferLength: b.readUInt32BE(44),
  };
}

/** Block Device Characteristics VPD page B1h (SBC-3 §6.5, Block Device Characteristics VPD page). */
export interface BlockDeviceCharacteristics {
  /** 1 means a non-rotating medium (solid state). */
  mediumRotationRate: number;
  productType: number;
  nominalFormFactor: number;
}

/** Parses the Block Device Characteristics VPD page (SBC-3 §6.5, Block Device Characteristics VPD page). */
export function parseVpdBlockDeviceCharacteristics(buf: Buffer): BlockDeviceCharacteristics {
  const b = Buffer.alloc(64);
  vpdBody(buf, 0xb1, true).copy(b, 4);
  return { mediumRotationRate: b.readUInt16BE(4), productType: b[6]!, nominalFormFactor: b[7]! & 0x0f };
}

/** Logical Block Provisioning VPD page B2h (SBC-3 §6.5, Logical Block Provisioning VPD page). */
export interface LogicalBlockProvisioning {
  thresholdExponent: number;
  lbpu: boolean;
  lbpws: boolean;
  lbpws10: boolean;
  /** LBPRZ (SBC-4: 3 bits; bit 0 is SBC-3's LBPRZ). */
  lbprz: number;
  ancSup: boolean;
  dp: boolean;
  /** 0 not reported, 1 resource provisioned, 2 thin provisioned. */
  provisioningType: number;
}

/** Parses the Logical Block Provisioning VPD page (SBC-3 §6.5, Logical Block Provisioning VPD page). */
export function parseVpdLogicalBlockProvisioning(buf: Buffer): LogicalBlockProvisioning {
  const b = Buffer.alloc(8);
  vpdBody(buf, 0xb2, true).copy(b, 4);
  return {
    thresholdExponent: b[4]!,
    lbpu: (b[5]! & 0x80) !== 0,
    lbpws: (b[5]! & 0x40) !== 0,
    lbpws10: (b[5]! & 0x20) !== 0,
    lbprz: (b[5]! >> 2) & 0x07,
    ancSup: (b[5]! & 0x02) !== 0,
    dp: (b[5]! & 0x01) !== 0,
    provisioningType: b[6]! & 0x07,
  };
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

/** REPORT LUNS parameter data (SPC-4 §6.33): the LUNs listed, decoded with {@link decodeLun}. */
export function parseReportLuns(buf: Buffer): number[] {
  if (buf.length < 8) throw new RangeError('REPORT LUNS data shorter than its 8-byte header (SPC-4 §6.33)');
  const listLength = buf.readUInt32BE(0);
  const end = Math.min(buf.length, 8 + listLength);
  const out: number[] = [];
  for (let off = 8; off + 8 <= end; off += 8) out.push(decodeLun(buf, off));
  return out;
}

/** One mode page as returned by MODE SENSE (SPC-4 §7.5, mode page format). */
export interface ModePage {
  pageCode: number;
  subpageCode: number;
  spf: boolean;
  ps: boolean;
  /** The whole page, header included. */
  data: Buffer;
}

/** MODE SENSE parameter data (SPC-4 §7.5, mode parameter list). */
export interface ModeSenseData {
  modeDataLength: number;
  mediumType: number;
  deviceSpecific: number;
  /** WP bit of the direct-access device-specific parameter (SBC-3 §6.4, device-specific parameter). */
  writeProtect: boolean;
  /** DPOFUA bit: DPO and FUA are supported (SBC-3 §6.4, device-specific parameter). */
  dpofua: boolean;
  longLba: boolean;
  blockDescriptors: { blocks: number; blockLength: number }[];
  pages: ModePage[];
}

/** Parses MODE SENSE(6) (`ten` false) or MODE SENSE(10) data, tolerating a truncated last page. */
export function parseModeSense(buf: Buffer, ten: boolean): ModeSenseData {
  const hdr = ten ? 8 : 4;
  if (buf.length < hdr) throw new RangeError(`mode parameter header shorter than ${hdr} bytes (SPC-4 §7.5, mode parameter header)`);
  const modeDataLength = ten ? buf.readUInt16BE(0) : buf[0]!;
  const deviceSpecific = ten ? buf[3]! : buf[2]!;
  const longLba = ten ? (buf[4]! & 0x01) !== 0 : false;
  const bdl = ten ? buf.readUInt16BE(6) : buf[3]!;
  const end = Math.min(buf.length, modeDataLength + (ten ? 2 : 1));
  const blockDescriptors: { blocks: number; blockLength: number }[] = [];
  const bdSize = longLba ? 16 : 8;
  for (let off = hdr; off + bdSize <= Math.min(end, hdr + bdl); off += bdSize) {
    if (longLba) blockDescriptors.push({ blocks: readU64(buf, off), blockLength: buf.readUInt32BE(off + 12) });
    else blockDescriptors.push({ blocks: buf.readUInt32BE(off), blockLength: buf.readUIntBE(off + 5, 3) });
  }
  const pages: ModePage[] = [];
  for (let off = hdr + bdl; off + 2 <= end; ) {
    const spf = (buf[off]! & 0x40) !== 0;
    const headerLen = spf ? 4 : 2;
    if (off + headerLen > end) break;
    const len = spf ? buf.readUInt16BE(off + 2) : buf[off + 1]!;
    const stop = Math.min(end, off + headerLen + len);
    pages.push({
      pageCode: buf[off]! & 0x3f,
      subpageCode: spf ? buf[off + 1]! : 0,
      spf,
      ps: (buf[off]! & 0x80) !== 0,
      data: Buffer.from(buf.subarray(off, stop)),
    });
    off += headerLen + len;
  }
  return {
    modeDataLength,
    mediumType: ten ? buf[2]! : buf[1]!,
    deviceSpecific,
    writeProtect: (deviceSpecific & 0x80) !== 0,
    dpofua: (deviceSpecific & 0x10) !== 0,
    longLba,
    blockDescriptors,
    pages,
  };
}

/** A command descriptor of REPORT SUPPORTED OPERATION CODES, all-commands format (SPC-4 §6.35). */
export interface SupportedCommand {
  opcode: number;
  serviceAction: number;
  servactv: boolean;
  ctdp: boolean;
  cdbLength: number;
  timeouts?: { nominal: number; recommended: number; commandSpecific: number };
}

/** Parses the all-commands format (reporting options 000b) of REPORT SUPPORTED OPERATION CODES. */
export function parseSupportedOpcodesAll(buf: Buffer): SupportedCommand[] {
  if (buf.length < 4) throw new RangeError('REPORT SUPPORTED OPERATION CODES data shorter than 4 bytes (SPC-4 §6.35)');
  const end = Math.min(buf.length, 4 + buf.readUInt32BE(0));
  const out: SupportedCommand[] = [];
  for (let off = 4; off + 8 <= end; ) {
    const ctdp = (buf[off + 5]! & 0x02) !== 0;
    const c: SupportedCommand = {
      opcode: buf[off]!,
      serviceAction: buf.readUInt16BE(off + 2),
      servactv: (buf[off + 5]! & 0x01) !== 0,
      ctdp,
      cdbLength: buf.readUInt16BE(off + 6),
    };
    off += 8;
    if (ctdp) {
      if (off + 12 > end) break;
      c.timeouts = { commandSpecific: buf[off + 3]!, nominal: buf.readUInt32BE(off + 4), recommended: buf.readUInt32BE(off + 8) };
      off += 2 + buf.readUInt16BE(off);
    }
    out.push(c);
  }
  return out;
}

/** The one-command format (reporting options 001b..011b) of REPORT SUPPORTED OPERATION CODES. */
export interface SupportedCommandOne {
  /** SUPPORT: 1 not supported, 3 supported per standard, 5 vendor specific. */
  support: number;
  ctdp: boolean;
  /** CDB USAGE DATA: an image of the CDB with a one for every bit the device server uses. */
  usage: Buffer;
  timeouts?: { nominal: number; recommended: number; commandSpecific: number };
}

/** Parses the one-command format of REPORT SUPPORTED OPERATION CODES (SPC-4 §6.35, one-command format). */
export function parseSupportedOpcodesOne(buf: Buffer): SupportedCommandOne {
  if (buf.length < 4) throw new RangeError('REPORT SUPPORTED OPERATION CODES data shorter than 4 bytes (SPC-4 §6.35, one-command format)');
  const ctdp = (buf[1]! & 0x80) !== 0;
  const size = buf.readUInt16BE(2);
  const out: SupportedCommandOne = { support: buf[1]! & 0x07, ctdp, usage: Buffer.from(buf.subarray(4, Math.min(buf.length, 4 + size))) };
  const t = 4 + size;
  if (ctdp && buf.length >= t + 12) {
    out.timeouts = { commandSpecific: buf[t + 3]!, nominal: buf.readUInt32BE(t + 4), recommended: buf.readUInt32BE(t + 8) };
  }
  return out;
}
