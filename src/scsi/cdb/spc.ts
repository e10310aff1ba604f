// CDB builders and parameter-data parsers of the SPC-4 primary commands, shared by both ends: TEST UNIT
// READY, REQUEST SENSE, INQUIRY, REPORT LUNS (with the SAM-5 §4.6 LUN structure), MODE SENSE/SELECT,
// REPORT SUPPORTED OPERATION CODES and REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS.

import { lunAddress, lunOfAddress, MAX_LUN } from '../../pdu/lun.js';
import { MI, OP } from '../constants.js';
import { checkUint, newCdb, readAscii, readU64 } from './fields.js';

/** TEST UNIT READY (SPC-4 §6.47). */
export function cdbTestUnitReady(): Buffer {
  return newCdb(OP.TEST_UNIT_READY, 6);
}

/** REQUEST SENSE (SPC-4 §6.39): `desc` asks for descriptor format sense data. */
export function cdbRequestSense(opts: { desc?: boolean; alloc?: number } = {}): Buffer {
  const alloc = opts.alloc ?? 252;
  checkUint('ALLOCATION LENGTH', alloc, 0xff, 'SPC-4 §6.39');
  const b = newCdb(OP.REQUEST_SENSE, 6);
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
  const b = newCdb(OP.INQUIRY, 6);
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
  const b = newCdb(OP.REPORT_LUNS, 12);
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
  const b = newCdb(OP.MODE_SENSE_6, 6);
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
  const b = newCdb(OP.MODE_SENSE_10, 10);
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
  const b = newCdb(OP.MODE_SELECT_6, 6);
  if (opts.pf !== false) b[1] |= 0x10;
  if (opts.sp === true) b[1] |= 0x01;
  b[4] = length;
  return b;
}

/** MODE SELECT(10) (SPC-4 §6.10). */
export function cdbModeSelect10(length: number, opts: { pf?: boolean; sp?: boolean } = {}): Buffer {
  checkUint('PARAMETER LIST LENGTH', length, 0xffff, 'SPC-4 §6.10');
  const b = newCdb(OP.MODE_SELECT_10, 10);
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
  const b = newCdb(OP.MAINTENANCE_IN, 12);
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
  const b = newCdb(OP.MAINTENANCE_IN, 12);
  b[1] = MI.REPORT_SUPPORTED_TASK_MANAGEMENT_FUNCTIONS;
  if (opts.reptd === true) b[2] = 0x80;
  b.writeUInt32BE(alloc, 6);
  return b;
}

/**
 * The highest LUN the single-level flat space addressing method can carry (SAM-5 §4.6, flat space
 * addressing): the codec's own MAX_LUN, under the name the SCSI API has always exported.
 */
export { MAX_LUN as MAX_FLAT_LUN };

/**
 * Encodes a LUN as the 8-byte single-level LUN structure (SAM-5 §4.6): peripheral device addressing
 * below 256 (what initiators expect for small LUNs), flat space addressing up to 16383.
 */
export function encodeLun(lun: number, into: Buffer = Buffer.alloc(8), off = 0): Buffer {
  checkUint('LUN', lun, MAX_LUN, 'SAM-5 §4.6, flat space addressing');
  into.fill(0, off, off + 8);
  into.writeUInt16BE(lunAddress(lun), off);
  return into;
}

/**
 * Decodes the first level of an 8-byte LUN (SAM-5 §4.6): peripheral or flat addressing give the
 * LUN; other methods (logical unit, extended, well-known) return the raw 16 first-level bits.
 */
export function decodeLun(buf: Buffer, off = 0): number {
  const address = buf.readUInt16BE(off);
  return lunOfAddress(address) ?? address;
}

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
    vendor: readAscii(buf, 8, 16),
    product: readAscii(buf, 16, 32),
    revision: readAscii(buf, 32, 36),
    versionDescriptors,
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
