// The copy manager of a logical unit (SPC-4 §5.16, §6.4, §6.18): EXTENDED COPY (LID1) with block
// device to block device segments between the logical units of the same SCSI target device, found by
// their identification (E4h) CSCD descriptors; RECEIVE COPY RESULTS (COPY STATUS, OPERATING
// PARAMETERS, FAILED SEGMENT DETAILS); and the Third-party Copy VPD page (8Fh) describing it.
//
// The copy runs inside the EXTENDED COPY command (no IMMED), a chunk at a time with a turn of the
// event loop between chunks; destination blocks are written under a shared range lock like any
// write. Held results are per I_T nexus and go with it (nexus loss) or with a reset.

import { inChunks, mediumError, writeOptions } from './block-io.js';
import { readU64, truncate } from './cdb/fields.js';
import { command, F_MEDIUM, F_WRITE } from './command.js';
import { ASC, ASSOCIATION, DESIGNATOR_TYPE, OP, SENSE_KEY, STATUS, XCOPY_DESCRIPTOR, XCOPY_SA } from './constants.js';
import { COPY_DONE, COPY_FAILED, XCOPY_LIMITS, type CopyRecord } from './copy-results.js';
import type { CommandDescriptor, LuContext } from './handler.js';
import { t10VendorIdDesignator } from './inquiry.js';
import { CheckConditionError, illegalRequest, invalidFieldInCdb, invalidFieldInParameterList } from './sense.js';
import type { ScsiCommand, ScsiResponse } from './types.js';

/** Descriptor type codes this copy manager implements. */
const IMPLEMENTED_DESCRIPTORS = [XCOPY_DESCRIPTOR.BLOCK_TO_BLOCK, XCOPY_DESCRIPTOR.IDENTIFICATION_CSCD];
const CSCD_LENGTH = 32;
const B2B_LENGTH = 0x1c;

function copyAborted(ascAscq: number, segment: number, message: string): CheckConditionError {
  // SPC-4 §6.4.3: COPY ABORTED; COMMAND-SPECIFIC INFORMATION holds the segment being processed.
  return new CheckConditionError(SENSE_KEY.COPY_ABORTED, ascAscq, { commandSpecific: segment, message });
}

/** The logical unit of this target a CSCD identification descriptor names (SPC-4 §6.4.6.1), if any. */
function findLogicalUnit(lu: LuContext, d: Buffer): LuContext | undefined {
  // Bytes 4..23: a designation descriptor; only logical-unit associated NAA and T10 vendor ID ones name an LU.
  const assoc = (d[5]! >> 4) & 0x03;
  const type = d[5]! & 0x0f;
  const len = d[7]!;
  if (assoc !== ASSOCIATION.LOGICAL_UNIT || len > 20) return undefined;
  const value = d.subarray(8, 8 + len);
  for (const other of lu.host.logicalUnits()) {
    if (other.removed) continue;
    const id = other.identity;
    if (type === DESIGNATOR_TYPE.NAA && value.equals(id.naa)) return other;
    if (type === DESIGNATOR_TYPE.T10_VENDOR_ID && value.equals(t10VendorIdDesignator(id))) return other;
  }
  return undefined;
}

interface Segment {
  readonly index: number;
  readonly src: number;
  readonly dst: number;
  readonly blocks: number;
  readonly srcLba: number;
  readonly dstLba: number;
}

/** Validates the parameter list (SPC-4 §6.4.1) and returns its CSCD descriptors and segments. */
function parseParameterList(p: Buffer, len: number): { listId: number; usage: number; cscds: Buffer[]; segments: Segment[] } {
  const listId = p[0]!;
  const usage = (p[1]! >> 3) & 0x03;
  const tdll = p.readUInt16BE(2);
  const sdll = p.readUInt32BE(8);
  const inline = p.readUInt32BE(12);
  // Lengths first: descriptors the list does not hold, or more than the copy manager takes.
  if (16 + tdll + sdll + inline > len) throw illegalRequest(ASC.PARAMETER_LIST_LENGTH_ERROR);
  if (tdll + sdll > XCOPY_LIMITS.maxDescriptorListLength) throw illegalRequest(ASC.PARAMETER_LIST_LENGTH_ERROR);
  if (inline > XCOPY_LIMITS.maxInlineDataLength) throw invalidFieldInParameterList(12);
  // LIST ID USAGE 01b is reserved; 11b (no list identifier) needs LIST IDENTIFIER 0.
  if (usage === 0x01) throw invalidFieldInParameterList(1, 4);
  if (usage === 0x03 && listId !== 0) throw invalidFieldInParameterList(0);
  if (tdll % CSCD_LENGTH !== 0) throw invalidFieldInParameterList(2);
  const nCscd = tdll / CSCD_LENGTH;
  if (nCscd > XCOPY_LIMITS.maxTargetDescriptors) throw illegalRequest(ASC.TOO_MANY_TARGET_DESCRIPTORS);
  const cscds: Buffer[] = [];
  for (let i = 0; i < nCscd; i++) {
    const off = 16 + i * CSCD_LENGTH;
    const d = p.subarray(off, off + CSCD_LENGTH);
    if (d[0] !== XCOPY_DESCRIPTOR.IDENTIFICATION_CSCD) throw illegalRequest(ASC.UNSUPPORTED_TARGET_DESCRIPTOR_TYPE_CODE);
    // PERIPHERAL DEVICE TYPE 00h (block); LU ID TYPE is ignored (SPC-4) and NUL is obsolete.
    if ((d[1]! & 0x1f) !== 0) throw invalidFieldInParameterList(off + 1, 4);
    cscds.push(d);
  }
  const segments: Segment[] = [];
  const segStart = 16 + tdll;
  for (let off = segStart; off < segStart + sdll; ) {
    if (segments.length >= XCOPY_LIMITS.maxSegmentDescriptors) throw illegalRequest(ASC.TOO_MANY_SEGMENT_DESCRIPTORS);
    if (off + 4 > segStart + sdll) throw invalidFieldInParameterList(off);
    const type = p[off]!;
    const dlen = 4 + p.readUInt16BE(off + 2);
    if (type !== XCOPY_DESCRIPTOR.BLOCK_TO_BLOCK) throw illegalRequest(ASC.UNSUPPORTED_SEGMENT_DESCRIPTOR_TYPE_CODE);
    if (dlen !== B2B_LENGTH || off + dlen > segStart + sdll) throw invalidFieldInParameterList(off + 2);
    segments.push({
      index: segments.length,
      src: p.readUInt16BE(off + 4),
      dst: p.readUInt16BE(off + 6),
      blocks: p.readUInt16BE(off + 10),
      srcLba: readU64(p, off + 12),
      dstLba: readU64(p, off + 20),
    });
    off += dlen;
  }
  return { listId, usage, cscds, segments };
}

/** Copies one block-to-block segment a chunk at a time (SPC-4 §6.4.5.5). */
async function copySegment(lu: LuContext, cmd: ScsiCommand, cscds: Buffer[], s: Segment, rec: CopyRecord): Promise<void> {
  const resolve = (i: number): LuContext => {
    const d = cscds[i];
    if (d === undefined) throw copyAborted(ASC.UNREACHABLE_COPY_TARGET, s.index, `segment ${s.index} names CSCD descriptor ${i} of ${cscds.length}`);
    const target = findLogicalUnit(lu, d);
    if (target === undefined) throw copyAborted(ASC.COPY_TARGET_DEVICE_NOT_REACHABLE, s.index, `no logical unit of this target matches CSCD ${i}`);
    // DISK BLOCK LENGTH (bytes 29..31) must be the logical unit's.
    if (d.readUIntBE(29, 3) !== target.blockSize) {
      throw copyAborted(ASC.INCORRECT_COPY_TARGET_DEVICE_TYPE, s.index, `CSCD ${i} gives a block length other than ${target.blockSize}`);
    }
    return target;
  };
  const src = resolve(s.src);
  const dst = resolve(s.dst);
  if (s.blocks === 0) return;
  for (const t of [src, dst]) {
    if (!t.mediumPresent) throw new CheckConditionError(SENSE_KEY.NOT_READY, ASC.MEDIUM_NOT_PRESENT);
  }
  // The destination refuses writes as any write path does.
  dst.checkWritable();
  if (s.srcLba + s.blocks > src.blocks || s.dstLba + s.blocks > dst.blocks) {
    throw copyAborted(ASC.NO_ADDITIONAL_SENSE, s.index, `segment ${s.index} reaches beyond the end of a logical unit`);
  }
  const bs = src.blockSize;
  const chunk = Math.max(1, Math.min(s.blocks, Math.floor((1 << 20) / bs)));
  const buf = Buffer.allocUnsafe(chunk * bs);
  const release = dst.rangeLock.tryAcquireShared(s.dstLba, s.blocks) ?? (await dst.rangeLock.acquireShared(s.dstLba, s.blocks, cmd.signal));
  try {
    await inChunks(s.blocks, chunk, cmd.signal, async (done, n) => {
      const view = n === chunk ? buf : buf.subarray(0, n * bs);
      try {
        await src.backend.read(s.srcLba + done, n, view, cmd.signal);
      } catch (e) {
        throw mediumError(e, 'read');
      }
      try {
        await dst.backend.write(s.dstLba + done, view, writeOptions(dst.mode, false), cmd.signal);
      } catch (e) {
        throw mediumError(e, 'write');
      }
      rec.bytes += n * bs;
    });
  } finally {
    release();
  }
}

/** EXTENDED COPY (LID1), SPC-4 §6.4. */
async function extendedCopy(lu: LuContext, cmd: ScsiCommand): Promise<ScsiResponse> {
  const len = cmd.cdb.readUInt32BE(10);
  // A PARAMETER LIST LENGTH of zero is not an error: nothing is copied.
  if (len === 0) return { status: STATUS.GOOD };
  const d = cmd.dataOut;
  if (len < 16 || d === null || d.length < len) throw illegalRequest(ASC.PARAMETER_LIST_LENGTH_ERROR);
  const { listId, usage, cscds, segments } = parseParameterList(d.subarray(0, len), len);
  const nexusId = cmd.nexus.id;
  const rec = lu.copyResults.begin(nexusId, listId);
  try {
    for (const s of segments) {
      await copySegment(lu, cmd, cscds, s, rec);
      rec.segmentsProcessed++;
    }
    rec.status = COPY_DONE;
  } catch (e) {
    rec.status = COPY_FAILED;
    if (e instanceof CheckConditionError) rec.sense = e.toSense(false);
    if (usage !== 0x00) lu.copyResults.drop(nexusId, listId);
    throw e;
  } finally {
    lu.copyResults.end();
  }
  // LIST ID USAGE 10b and 11b: the copy manager holds nothing for RECEIVE COPY RESULTS.
  if (usage !== 0x00) lu.copyResults.drop(nexusId, listId);
  return { status: STATUS.GOOD };
}

// ---------------------------------------------------------------------------------------------
// RECEIVE COPY RESULTS

/** The held record for the LIST IDENTIFIER of the CDB; none is INVALID FIELD IN CDB (SPC-4 §6.18.2). */
function heldRecord(lu: LuContext, cmd: ScsiCommand): CopyRecord {
  const rec = lu.copyResults.get(cmd.nexus.id, cmd.cdb[2]!);
  if (rec === undefined) throw invalidFieldInCdb(2);
  return rec;
}

/** COPY STATUS (SPC-4 §6.18.2). */
function copyStatus(lu: LuContext, cmd: ScsiCommand): ScsiResponse {
  const rec = heldRecord(lu, cmd);
  const data = Buffer.alloc(12);
  data.writeUInt32BE(8, 0);
  data[4] = rec.status; // HDD 0: no held data is ever discarded, none is held
  data.writeUInt16BE(Math.min(rec.segmentsProcessed, 0xffff), 5);
  // TRANSFER COUNT UNITS: bytes while they fit in 32 bits, else the smallest binary unit that does.
  let units = 0;
  let count = rec.bytes;
  while (count > 0xffffffff && units < 6) {
    count = Math.floor(count / 1024);
    units++;
  }
  data[7] = units;
  data.writeUInt32BE(count, 8);
  return { status: STATUS.GOOD, data: truncate(data, cmd.cdb.readUInt32BE(10)) };
}

/** FAILED SEGMENT DETAILS (SPC-4 §6.18.5): the status and sense a failed copy ended with. */
function failedSegmentDetails(lu: LuContext, cmd: ScsiCommand): ScsiResponse {
  const rec = heldRecord(lu, cmd);
  const sense = rec.status === COPY_FAILED && rec.sense !== null ? rec.sense : Buffer.alloc(0);
  const data = Buffer.alloc(60 + sense.length);
  data.writeUInt32BE(56 + sense.length, 0);
  data[56] = rec.status === COPY_FAILED ? STATUS.CHECK_CONDITION : STATUS.GOOD;
  data.writeUInt16BE(sense.length, 58);
  sense.copy(data, 60);
  return { status: STATUS.GOOD, data: truncate(data, cmd.cdb.readUInt32BE(10)) };
}

/** OPERATING PARAMETERS (SPC-4 §6.18.4). */
function operatingParameters(lu: LuContext, cmd: ScsiCommand): ScsiResponse {
  const data = Buffer.alloc(44 + IMPLEMENTED_DESCRIPTORS.length);
  data.writeUInt32BE(data.length - 4, 0);
  data[4] = 0x01; // SNLID: LIST ID USAGE 11b (no list identifier) is supported
  data.writeUInt16BE(XCOPY_LIMITS.maxTargetDescriptors, 8);
  data.writeUInt16BE(XCOPY_LIMITS.maxSegmentDescriptors, 10);
  data.writeUInt32BE(XCOPY_LIMITS.maxDescriptorListLength, 12);
  data.writeUInt32BE(maxSegmentLength(lu), 16);
  data.writeUInt32BE(XCOPY_LIMITS.maxInlineDataLength, 20);
  data.writeUInt32BE(0, 24); // HELD DATA LIMIT: no data is held
  data.writeUInt32BE(0, 28); // MAXIMUM STREAM DEVICE TRANSFER SIZE: no stream devices
  data.writeUInt16BE(XCOPY_LIMITS.totalConcurrentCopies, 34);
  data[36] = XCOPY_LIMITS.totalConcurrentCopies; // MAXIMUM CONCURRENT COPIES
  data[37] = Math.log2(lu.blockSize); // DATA SEGMENT GRANULARITY (log2 bytes)
  data[38] = 0; // INLINE DATA GRANULARITY
  data[39] = 0; // HELD DATA GRANULARITY
  data[43] = IMPLEMENTED_DESCRIPTORS.length;
  IMPLEMENTED_DESCRIPTORS.forEach((t, i) => (data[44 + i] = t));
  return { status: STATUS.GOOD, data: truncate(data, cmd.cdb.readUInt32BE(10)) };
}

/** Bytes one segment may move: NUMBER OF BLOCKS is 16 bits. */
function maxSegmentLength(lu: LuContext): number {
  return 0xffff * lu.blockSize;
}

// ---------------------------------------------------------------------------------------------
// Third-party Copy VPD page (SPC-4 §7.8.17)

function tpcDescriptor(type: number, body: Buffer): Buffer {
  // Every descriptor is padded to a multiple of four bytes.
  const len = (body.length + 3) & ~3;
  const d = Buffer.alloc(4 + len);
  d.writeUInt16BE(type, 0);
  d.writeUInt16BE(len, 2);
  body.copy(d, 4);
  return d;
}

/** The body of VPD page 8Fh: supported commands, parameter data, supported descriptors, general copy operations. */
export function thirdPartyCopyDescriptors(lu: LuContext): Buffer {
  // Supported Commands (0001h): EXTENDED COPY LID1; RECEIVE COPY RESULTS with its service actions.
  const rcr = [XCOPY_SA.COPY_STATUS, XCOPY_SA.OPERATING_PARAMETERS, XCOPY_SA.FAILED_SEGMENT_DETAILS];
  const cmds = Buffer.from([OP.EXTENDED_COPY, 1, XCOPY_SA.EXTENDED_COPY_LID1, OP.RECEIVE_COPY_RESULTS, rcr.length, ...rcr]);
  const supported = Buffer.concat([Buffer.from([cmds.length]), cmds]);
  // Parameter Data (0004h).
  const params = Buffer.alloc(28);
  params.writeUInt16BE(XCOPY_LIMITS.maxTargetDescriptors, 4);
  params.writeUInt16BE(XCOPY_LIMITS.maxSegmentDescriptors, 6);
  params.writeUInt32BE(XCOPY_LIMITS.maxDescriptorListLength, 8);
  params.writeUInt32BE(XCOPY_LIMITS.maxInlineDataLength, 12);
  // Supported Descriptors (0008h).
  const descs = Buffer.from([IMPLEMENTED_DESCRIPTORS.length, ...IMPLEMENTED_DESCRIPTORS]);
  // General Copy Operations (8001h).
  const general = Buffer.alloc(28);
  general.writeUInt32BE(XCOPY_LIMITS.totalConcurrentCopies, 0);
  general.writeUInt32BE(XCOPY_LIMITS.totalConcurrentCopies, 4);
  general.writeUInt32BE(maxSegmentLength(lu), 8);
  general[12] = Math.log2(lu.blockSize);
  general[13] = 0;
  return Buffer.concat([
    tpcDescriptor(0x0001, supported),
    tpcDescriptor(0x0004, params),
    tpcDescriptor(0x0008, descs),
    tpcDescriptor(0x8001, general),
  ]);
}

const RCR_USAGE = [OP.RECEIVE_COPY_RESULTS, 0x1f, 0xff, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0];
const rcr = (sa: number) => ({ serviceAction: sa, pr: 'info' as const });

/** EXTENDED COPY (LID1) and RECEIVE COPY RESULTS. */
export const COPY_COMMANDS: readonly CommandDescriptor[] = [
  command(
    'EXTENDED COPY(LID1)',
    [OP.EXTENDED_COPY, 0x1f, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0],
    F_MEDIUM | F_WRITE,
    extendedCopy,
    { serviceAction: XCOPY_SA.EXTENDED_COPY_LID1, dataOut: (c) => c.readUInt32BE(10), timeout: 120 },
  ),
  command('RECEIVE COPY RESULTS: COPY STATUS', RCR_USAGE, 0, copyStatus, rcr(XCOPY_SA.COPY_STATUS)),
  command('RECEIVE COPY RESULTS: OPERATING PARAMETERS', RCR_USAGE, 0, operatingParameters, rcr(XCOPY_SA.OPERATING_PARAMETERS)),
  command('RECEIVE COPY RESULTS: FAILED SEGMENT DETAILS', RCR_USAGE, 0, failedSegmentDetails, rcr(XCOPY_SA.FAILED_SEGMENT_DETAILS)),
];
