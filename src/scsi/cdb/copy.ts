// CDB builders and parameter-data parsers of third-party copy, shared by both ends: EXTENDED COPY
// (LID1) with its parameter list (SPC-4 §6.4), RECEIVE COPY RESULTS and its COPY STATUS and
// OPERATING PARAMETERS data (SPC-4 §6.18).

import { CODE_SET, OP, XCOPY_DESCRIPTOR, XCOPY_SA } from '../constants.js';
import { checkUint, newCdb, writeLba } from './fields.js';

/** EXTENDED COPY (LID1) (SPC-4 §6.4.1) for a parameter list of `length` bytes. */
export function cdbExtendedCopy(length: number): Buffer {
  checkUint('PARAMETER LIST LENGTH', length, 0xffffffff, 'SPC-4 §6.4.1');
  const b = newCdb(OP.EXTENDED_COPY, 16);
  b[1] = XCOPY_SA.EXTENDED_COPY_LID1;
  b.writeUInt32BE(length, 10);
  return b;
}

/** RECEIVE COPY RESULTS (SPC-4 §6.18.1). */
export function cdbReceiveCopyResults(serviceAction: number, listId = 0, alloc = 1024): Buffer {
  checkUint('SERVICE ACTION', serviceAction, 0x1f, 'SPC-4 §6.18.1');
  checkUint('LIST IDENTIFIER', listId, 0xff, 'SPC-4 §6.18.1');
  const b = newCdb(OP.RECEIVE_COPY_RESULTS, 16);
  b[1] = serviceAction;
  b[2] = listId;
  b.writeUInt32BE(alloc, 10);
  return b;
}

/**
 * An identification descriptor CSCD descriptor (E4h, SPC-4 §6.4.6.1) naming a block device by a
 * logical-unit designator (e.g. its NAA designator, designator type 3) with its block length.
 */
export function identificationCscd(designator: { type: number; value: Buffer; codeSet?: number }, blockLength: number): Buffer {
  checkUint('DESIGNATOR LENGTH', designator.value.length, 20, 'SPC-4 §6.4.6.1');
  const d = Buffer.alloc(32);
  d[0] = XCOPY_DESCRIPTOR.IDENTIFICATION_CSCD;
  d[1] = 0x00; // LU ID TYPE 00b, NUL 0, PERIPHERAL DEVICE TYPE 00h (block)
  d[4] = designator.codeSet ?? CODE_SET.BINARY;
  d[5] = designator.type & 0x0f; // association 00b: the logical unit
  d[7] = designator.value.length;
  designator.value.copy(d, 8);
  d.writeUIntBE(blockLength, 29, 3);
  return d;
}

/** A block device to block device segment descriptor (02h, SPC-4 §6.4.5.5). */
export function blockToBlockSegment(s: { src: number; dst: number; blocks: number; srcLba: number; dstLba: number; dc?: boolean }): Buffer {
  checkUint('NUMBER OF BLOCKS', s.blocks, 0xffff, 'SPC-4 §6.4.5.5');
  const d = Buffer.alloc(28);
  d[0] = XCOPY_DESCRIPTOR.BLOCK_TO_BLOCK;
  d[1] = s.dc === true ? 0x02 : 0;
  d.writeUInt16BE(0x18, 2);
  d.writeUInt16BE(s.src, 4);
  d.writeUInt16BE(s.dst, 6);
  d.writeUInt16BE(s.blocks, 10);
  writeLba(d, 12, s.srcLba);
  writeLba(d, 20, s.dstLba);
  return d;
}

/** The EXTENDED COPY (LID1) parameter list (SPC-4 §6.4.1): header, CSCD descriptors, segment descriptors. */
export function extendedCopyParameters(p: { listId?: number; listIdUsage?: number; cscds: readonly Buffer[]; segments: readonly Buffer[] }): Buffer {
  const cscd = Buffer.concat(p.cscds);
  const seg = Buffer.concat(p.segments);
  const h = Buffer.alloc(16);
  h[0] = p.listId ?? 0;
  h[1] = ((p.listIdUsage ?? 0) & 0x03) << 3;
  h.writeUInt16BE(cscd.length, 2);
  h.writeUInt32BE(seg.length, 8);
  return Buffer.concat([h, cscd, seg]);
}

/** COPY STATUS data (SPC-4 §6.18.2). */
export interface CopyStatus {
  availableData: number;
  hdd: boolean;
  /** 00h in progress, 01h completed, 02h completed with an error. */
  copyManagerStatus: number;
  segmentsProcessed: number;
  transferCountUnits: number;
  transferCount: number;
}

/** Parses COPY STATUS data (SPC-4 §6.18.2). */
export function parseCopyStatus(buf: Buffer): CopyStatus {
  if (buf.length < 12) throw new RangeError('COPY STATUS data shorter than 12 bytes (SPC-4 §6.18.2)');
  return {
    availableData: buf.readUInt32BE(0),
    hdd: (buf[4]! & 0x80) !== 0,
    copyManagerStatus: buf[4]! & 0x7f,
    segmentsProcessed: buf.readUInt16BE(5),
    transferCountUnits: buf[7]!,
    transferCount: buf.readUInt32BE(8),
  };
}

/** OPERATING PARAMETERS data (SPC-4 §6.18.4). */
export interface CopyOperatingParameters {
  snlid: boolean;
  maxTargetDescriptors: number;
  maxSegmentDescriptors: number;
  maxDescriptorListLength: number;
  maxSegmentLength: number;
  maxInlineDataLength: number;
  heldDataLimit: number;
  totalConcurrentCopies: number;
  maxConcurrentCopies: number;
  dataSegmentGranularity: number;
  implementedDescriptors: number[];
}

/** Parses OPERATING PARAMETERS data (SPC-4 §6.18.4). */
export function parseCopyOperatingParameters(buf: Buffer): CopyOperatingParameters {
  if (buf.length < 44) throw new RangeError('OPERATING PARAMETERS data shorter than 44 bytes (SPC-4 §6.18.4)');
  const n = buf[43]!;
  return {
    snlid: (buf[4]! & 0x01) !== 0,
    maxTargetDescriptors: buf.readUInt16BE(8),
    maxSegmentDescriptors: buf.readUInt16BE(10),
    maxDescriptorListLength: buf.readUInt32BE(12),
    maxSegmentLength: buf.readUInt32BE(16),
    maxInlineDataLength: buf.readUInt32BE(20),
    heldDataLimit: buf.readUInt32BE(24),
    totalConcurrentCopies: buf.readUInt16BE(34),
    maxConcurrentCopies: buf[36]!,
    dataSegmentGranularity: buf[37]!,
    implementedDescriptors: [...buf.subarray(44, 44 + n)],
  };
}
