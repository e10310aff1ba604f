// Parsers of the vital product data pages (SPC-4 §7.8, SBC-3 §6.5) an initiator reads with INQUIRY
// EVPD=1: supported pages, unit serial number, device identification, block limits, block device
// characteristics, logical block provisioning.

import {
  CODE_SET,
  VPD_BLOCK_DEVICE_CHARACTERISTICS,
  VPD_BLOCK_LIMITS,
  VPD_DEVICE_IDENTIFICATION,
  VPD_LOGICAL_BLOCK_PROVISIONING,
  VPD_SUPPORTED_PAGES,
  VPD_UNIT_SERIAL_NUMBER,
} from '../constants.js';
import { readU64 } from './fields.js';

function vpdBody(buf: Buffer, page: number, long: boolean): Buffer {
  if (buf.length < 4) throw new RangeError(`VPD page 0x${page.toString(16)} shorter than its 4-byte header (SPC-4, VPD page format)`);
  if (buf[1] !== page) throw new RangeError(`expected VPD page 0x${page.toString(16)}, got 0x${buf[1]!.toString(16)}`);
  const len = long ? buf.readUInt16BE(2) : buf[3]!;
  return buf.subarray(4, Math.min(buf.length, 4 + len));
}

/** Supported VPD pages (SPC-4, Supported VPD Pages): the page codes listed. */
export function parseVpdSupportedPages(buf: Buffer): number[] {
  return [...vpdBody(buf, VPD_SUPPORTED_PAGES, false)];
}

/** Unit Serial Number VPD page (SPC-4, Unit Serial Number VPD page). */
export function parseVpdSerialNumber(buf: Buffer): string {
  return vpdBody(buf, VPD_UNIT_SERIAL_NUMBER, false).toString('latin1').replace(/[\0 ]+$/, '').replace(/^ +/, '');
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
  const body = vpdBody(buf, VPD_DEVICE_IDENTIFICATION, true);
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
    if (d.codeSet === CODE_SET.ASCII || d.codeSet === CODE_SET.UTF8) {
      d.text = d.designator.toString(d.codeSet === CODE_SET.UTF8 ? 'utf8' : 'latin1').replace(/\0+$/, '');
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
  vpdBody(buf, VPD_BLOCK_LIMITS, true).copy(b, 4);
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
  vpdBody(buf, VPD_BLOCK_DEVICE_CHARACTERISTICS, true).copy(b, 4);
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
  vpdBody(buf, VPD_LOGICAL_BLOCK_PROVISIONING, true).copy(b, 4);
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
