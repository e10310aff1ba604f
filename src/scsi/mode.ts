// Mode parameters (SPC-4 §7.5, SBC-3 §6.4): the caching (08h), control (0Ah) and informational
// exceptions control (1Ch) pages, and MODE SENSE(6)/(10), MODE SELECT(6)/(10) over them.
// Pages are LU-wide (SPC-4 allows per-I_T-nexus copies; one shared copy is what tgt and LIO keep).

import { truncate, writeU64 } from './cdb/fields.js';
import { ASC, SENSE_KEY, STATUS } from './constants.js';
import type { LuContext, ModeState, NexusState } from './handler.js';
import { CheckConditionError, invalidFieldInCdb, invalidFieldInParameterList, illegalRequest } from './sense.js';
import type { ScsiCommand, ScsiResponse } from './types.js';

/** Caching mode page (SBC-3 §6.4, Caching mode page). */
export const PAGE_CACHING = 0x08;
/** Control mode page (SPC-4 §7.5). */
export const PAGE_CONTROL = 0x0a;
/** Informational Exceptions Control mode page (SPC-4 §7.5). */
export const PAGE_INFORMATIONAL_EXCEPTIONS = 0x1c;
/** "Return all pages" page code of MODE SENSE (SPC-4 §6.11). */
export const PAGE_ALL = 0x3f;

/** Page codes in ascending order, the order MODE SENSE returns them in. */
export const MODE_PAGES: readonly number[] = [PAGE_CACHING, PAGE_CONTROL, PAGE_INFORMATIONAL_EXCEPTIONS];

/** PC field (SPC-4 §6.11). */
export type PageControl = 0 | 1 | 2;
const PC_CHANGEABLE = 1;
const PC_DEFAULT = 2;
const PC_SAVED = 3;

/** Builds one page: current values from `state`, the changeable mask, or `defaults`. */
export function buildModePage(code: number, pc: PageControl, state: ModeState, defaults: ModeState): Buffer {
  const s = pc === PC_DEFAULT ? defaults : state;
  switch (code) {
    case PAGE_CACHING: {
      // SBC-3 §6.4, Caching mode page: page length 12h. Only WCE is implemented (and changeable).
      const b = Buffer.alloc(20);
      b[0] = PAGE_CACHING;
      b[1] = 0x12;
      if (pc === PC_CHANGEABLE) b[2] = 0x04;
      else if (s.wce) b[2] = 0x04;
      return b;
    }
    case PAGE_CONTROL: {
      // SPC-4 Control mode page: page length 0Ah. Only fields libiscsi (and SPC) model, so a page
      // read back and written unchanged always compares equal.
      const b = Buffer.alloc(12);
      b[0] = PAGE_CONTROL;
      b[1] = 0x0a;
      if (pc === PC_CHANGEABLE) {
        b[2] = 0x04; // D_SENSE
        b[4] = 0x08; // SWP
        return b;
      }
      // GLTSD=1: no log parameters are saved. QUEUE ALGORITHM MODIFIER 1: SIMPLE tasks may be
      // reordered (they run concurrently). QERR 00b: a CHECK CONDITION does not abort other tasks.
      // TAS 0: tasks aborted by another nexus end without TASK ABORTED status. BUSY TIMEOUT PERIOD 0:
      // undefined (this LU never answers BUSY).
      b[2] = 0x02 | (s.dSense ? 0x04 : 0);
      b[3] = 0x10;
      b[4] = s.swp ? 0x08 : 0;
      return b;
    }
    case PAGE_INFORMATIONAL_EXCEPTIONS: {
      // SPC-4 Informational Exceptions Control mode page: page length 0Ah. DEXCPT=1: no informational exceptions reported.
      const b = Buffer.alloc(12);
      b[0] = PAGE_INFORMATIONAL_EXCEPTIONS;
      b[1] = 0x0a;
      if (pc !== PC_CHANGEABLE) b[2] = 0x08;
      return b;
    }
    default:
      throw new RangeError(`mode page 0x${code.toString(16)} is not implemented`);
  }
}

/** MODE SENSE(6) (SPC-4 §6.11) and MODE SENSE(10) (SPC-4 §6.12). */
export function modeSense(lu: LuContext, cmd: ScsiCommand, ten: boolean): ScsiResponse {
  const cdb = cmd.cdb;
  const dbd = (cdb[1]! & 0x08) !== 0;
  const llbaa = ten && (cdb[1]! & 0x10) !== 0;
  const pc = cdb[2]! >> 6;
  const page = cdb[2]! & 0x3f;
  const subpage = cdb[3]!;
  const alloc = ten ? cdb.readUInt16BE(7) : cdb[4]!;
  if (pc === PC_SAVED) {
    // SPC-4 §6.11: saved values for a device that cannot save them.
    throw new CheckConditionError(SENSE_KEY.ILLEGAL_REQUEST, ASC.SAVING_PARAMETERS_NOT_SUPPORTED, {
      fieldPointer: { cd: true, field: 2, bit: 7 },
    });
  }
  let pages: readonly number[];
  if (page === PAGE_ALL) {
    // 3Fh/00h: every page; 3Fh/FFh: every page and subpage (SPC-4 §6.11). There are no subpages.
    if (subpage !== 0x00 && subpage !== 0xff) throw invalidFieldInCdb(3);
    pages = MODE_PAGES;
  } else if (MODE_PAGES.includes(page)) {
    if (subpage !== 0x00 && subpage !== 0xff) throw invalidFieldInCdb(3);
    pages = [page];
  } else {
    throw invalidFieldInCdb(2, 5);
  }
  const hdr = ten ? 8 : 4;
  const bdl = dbd ? 0 : llbaa ? 16 : 8;
  const parts: Buffer[] = [];
  let total = hdr + bdl;
  for (const code of pages) {
    const p = buildModePage(code, pc as PageControl, lu.mode, lu.defaultMode);
    parts.push(p);
    total += p.length;
  }
  const out = Buffer.alloc(total);
  // Device-specific parameter for direct-access devices (SBC-3 §6.4, device-specific parameter): WP, DPOFUA.
  const dsp = (lu.writeProtected ? 0x80 : 0) | 0x10;
  if (ten) {
    out.writeUInt16BE(total - 2, 0);
    out[3] = pc === PC_CHANGEABLE ? 0 : dsp;
    if (llbaa && !dbd) out[4] = 0x01; // LONGLBA
    out.writeUInt16BE(bdl, 6);
  } else {
    out[0] = total - 1;
    out[2] = pc === PC_CHANGEABLE ? 0 : dsp;
    out[3] = bdl;
  }
  if (bdl !== 0 && pc !== PC_CHANGEABLE) {
    // Block descriptors (SBC-3 §6.4, block descriptors): no field of them is changeable, so the changeable image is
    // all zeros. A capacity the short form cannot carry is FFFFFFFFh (SBC-3 §6.4, short LBA block descriptor).
    if (bdl === 16) {
      writeU64(out, hdr, lu.blocks);
      out.writeUInt32BE(lu.blockSize, hdr + 12);
    } else {
      out.writeUInt32BE(Math.min(lu.blocks, 0xffffffff), hdr);
      out.writeUIntBE(lu.blockSize, hdr + 5, 3);
    }
  }
  let off = hdr + bdl;
  for (const p of parts) {
    p.copy(out, off);
    off += p.length;
  }
  return { status: STATUS.GOOD, data: truncate(out, alloc) };
}

/** The bit number of the most significant one in `v` (a byte). */
function topBit(v: number): number {
  return 31 - Math.clz32(v);
}

function parameterListLengthError(): CheckConditionError {
  return illegalRequest(ASC.PARAMETER_LIST_LENGTH_ERROR);
}

/** MODE SELECT(6) (SPC-4 §6.9) and MODE SELECT(10) (SPC-4 §6.10). */
export function modeSelect(lu: LuContext, cmd: ScsiCommand, nexus: NexusState, ten: boolean): Promise<ScsiResponse> | ScsiResponse {
  const cdb = cmd.cdb;
  const pf = (cdb[1]! & 0x10) !== 0;
  const sp = (cdb[1]! & 0x01) !== 0;
  const len = ten ? cdb.readUInt16BE(7) : cdb[4]!;
  // SPC-4 §6.9: SP=1 asks to save pages; this LU has no saved pages.
  if (sp) throw invalidFieldInCdb(1, 0);
  if (len === 0) return { status: STATUS.GOOD };
  // PF=0 means a vendor-specific page format, which this LU does not define.
  if (!pf) throw invalidFieldInCdb(1, 4);
  const data = cmd.dataOut;
  // A parameter list shorter than PARAMETER LIST LENGTH announced (SPC-4 §6.9).
  if (data === null || data.length < len) throw parameterListLengthError();
  const p = data.subarray(0, len);
  const hdr = ten ? 8 : 4;
  if (len < hdr) throw parameterListLengthError();
  // MODE DATA LENGTH is reserved in MODE SELECT (SPC-4 §7.5, mode parameter header); MEDIUM TYPE must be 0 for SBC.
  const mediumTypeOff = ten ? 2 : 1;
  if (p[mediumTypeOff] !== 0) throw invalidFieldInParameterList(mediumTypeOff);
  const longLba = ten && (p[4]! & 0x01) !== 0;
  const bdl = ten ? p.readUInt16BE(6) : p[3]!;
  if (bdl !== 0) {
    const size = longLba ? 16 : 8;
    if (bdl !== size) throw invalidFieldInParameterList(ten ? 6 : 3);
    if (hdr + bdl > len) throw parameterListLengthError();
    // Changing the logical block length needs FORMAT UNIT, which this LU does not implement.
    const blOff = longLba ? hdr + 12 : hdr + 5;
    const bl = longLba ? p.readUInt32BE(blOff) : p.readUIntBE(blOff, 3);
    if (bl !== lu.blockSize) throw invalidFieldInParameterList(blOff);
  }
  // Validate every page before changing anything: MODE SELECT is all or nothing.
  const updates: { code: number; page: Buffer }[] = [];
  for (let off = hdr + bdl; off < len; ) {
    if (off + 2 > len) throw parameterListLengthError();
    const b0 = p[off]!;
    if ((b0 & 0x80) !== 0) throw invalidFieldInParameterList(off, 7); // PS is reserved here
    if ((b0 & 0x40) !== 0) throw invalidFieldInParameterList(off, 6); // no subpages exist
    const code = b0 & 0x3f;
    if (!MODE_PAGES.includes(code)) throw invalidFieldInParameterList(off, 5);
    const current = buildModePage(code, 0, lu.mode, lu.defaultMode);
    const changeable = buildModePage(code, PC_CHANGEABLE, lu.mode, lu.defaultMode);
    const plen = p[off + 1]!;
    if (plen !== current.length - 2) throw invalidFieldInParameterList(off + 1);
    if (off + 2 + plen > len) throw parameterListLengthError();
    for (let i = 2; i < current.length; i++) {
      // SPC-4 §6.9: a value other than the current one in a field that is not changeable.
      const bad = (p[off + i]! ^ current[i]!) & ~changeable[i]!;
      if (bad !== 0) throw invalidFieldInParameterList(off + i, topBit(bad));
    }
    updates.push({ code, page: p.subarray(off, off + 2 + plen) });
    off += 2 + plen;
  }
  const update: Partial<ModeState> = {};
  for (const u of updates) {
    if (u.code === PAGE_CACHING) update.wce = (u.page[2]! & 0x04) !== 0;
    else if (u.code === PAGE_CONTROL) {
      update.dSense = (u.page[2]! & 0x04) !== 0;
      update.swp = (u.page[4]! & 0x08) !== 0;
    }
  }
  // SPC-4 §6.9: MODE PARAMETERS CHANGED to every I_T nexus other than the one that changed them (the
  // LU does it, through every port when several device servers share it).
  const shared = lu.changeMode(update, nexus.id);
  return shared === undefined ? { status: STATUS.GOOD } : shared.then(() => ({ status: STATUS.GOOD }));
}
