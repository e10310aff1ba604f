// Vital product data pages (SPC-4 §7.8, SBC-3 §6.5): supported pages, unit serial number, device
// identification, third-party copy, block limits, block device characteristics, logical block
// provisioning.

import { PROTOCOL_ID_ISCSI } from './constants.js';
import { thirdPartyCopyDescriptors } from './extended-copy.js';
import type { LogicalUnit } from './logical-unit.js';
import { invalidFieldInCdb } from './sense.js';
import type { ItNexus } from './types.js';

/** Supported VPD Pages (SPC-4, Supported VPD Pages). */
export const VPD_SUPPORTED_PAGES = 0x00;
/** Unit Serial Number (SPC-4, Unit Serial Number VPD page). */
export const VPD_UNIT_SERIAL_NUMBER = 0x80;
/** Device Identification (SPC-4, Device Identification VPD page). */
export const VPD_DEVICE_IDENTIFICATION = 0x83;
/** Third-party Copy (SPC-4 §7.8.17), when the LU has a copy manager. */
export const VPD_THIRD_PARTY_COPY = 0x8f;
/** Block Limits (SBC-3 §6.5, Block Limits VPD page). */
export const VPD_BLOCK_LIMITS = 0xb0;
/** Block Device Characteristics (SBC-3 §6.5, Block Device Characteristics VPD page). */
export const VPD_BLOCK_DEVICE_CHARACTERISTICS = 0xb1;
/** Logical Block Provisioning (SBC-3 §6.5, Logical Block Provisioning VPD page). */
export const VPD_LOGICAL_BLOCK_PROVISIONING = 0xb2;

/** The pages an LU returns, in ascending order, as the Supported VPD Pages page requires (SPC-4 §7.8). */
export function supportedVpdPages(lu: LogicalUnit): number[] {
  return [
    VPD_SUPPORTED_PAGES,
    VPD_UNIT_SERIAL_NUMBER,
    VPD_DEVICE_IDENTIFICATION,
    ...(lu.capabilities.thirdPartyCopy ? [VPD_THIRD_PARTY_COPY] : []),
    VPD_BLOCK_LIMITS,
    VPD_BLOCK_DEVICE_CHARACTERISTICS,
    VPD_LOGICAL_BLOCK_PROVISIONING,
  ];
}

function page(code: number, body: Buffer, qualifierType = 0x00): Buffer {
  const b = Buffer.alloc(4 + body.length);
  b[0] = qualifierType;
  b[1] = code;
  b.writeUInt16BE(body.length, 2);
  body.copy(b, 4);
  return b;
}

/** One designation descriptor (SPC-4 §7.8, Device Identification). */
function designator(opts: {
  protocol?: number;
  codeSet: number;
  piv: boolean;
  association: number;
  type: number;
  value: Buffer;
}): Buffer {
  const b = Buffer.alloc(4 + opts.value.length);
  b[0] = ((opts.protocol ?? 0) << 4) | opts.codeSet;
  b[1] = (opts.piv ? 0x80 : 0) | (opts.association << 4) | opts.type;
  b[3] = opts.value.length;
  opts.value.copy(b, 4);
  return b;
}

/** A SCSI name string (SPC-4, SCSI name string designator): UTF-8, NUL-terminated, padded to a multiple of 4 bytes. */
function scsiNameString(name: string): Buffer {
  const raw = Buffer.from(name, 'utf8');
  const len = Math.min(256, (raw.length + 4) & ~3);
  const b = Buffer.alloc(len);
  raw.copy(b, 0, 0, Math.min(raw.length, len - 1));
  return b;
}

const ASSOC_LU = 0;
const ASSOC_TARGET_PORT = 1;
const ASSOC_TARGET_DEVICE = 2;
const CODE_SET_BINARY = 1;
const CODE_SET_ASCII = 2;
const CODE_SET_UTF8 = 3;
const TYPE_T10_VENDOR_ID = 1;
const TYPE_NAA = 3;
const TYPE_RELATIVE_TARGET_PORT = 4;
const TYPE_SCSI_NAME_STRING = 8;

/** Device Identification (SPC-4, Device Identification VPD page): the LU's designators plus those of the port it was asked on. */
export function deviceIdentification(lu: LogicalUnit, nexus: ItNexus): Buffer {
  const id = lu.identity;
  const parts: Buffer[] = [
    designator({ codeSet: CODE_SET_BINARY, piv: false, association: ASSOC_LU, type: TYPE_NAA, value: id.naa }),
    // T10 vendor ID based (SPC-4, T10 vendor ID designator): the 8-byte vendor, then a vendor specific identifier.
    designator({
      codeSet: CODE_SET_ASCII,
      piv: false,
      association: ASSOC_LU,
      type: TYPE_T10_VENDOR_ID,
      value: Buffer.concat([Buffer.from(id.vendor.padEnd(8, ' ').slice(0, 8), 'latin1'), Buffer.from(id.serial, 'latin1')]),
    }),
  ];
  // Port and device designators carry PIV=1 and protocol identifier 5 (iSCSI, SPC-4 protocol identifier values).
  const rtpi = Buffer.alloc(4);
  rtpi.writeUInt16BE(nexus.relativeTargetPortId & 0xffff, 2);
  parts.push(
    designator({
      protocol: PROTOCOL_ID_ISCSI,
      codeSet: CODE_SET_BINARY,
      piv: true,
      association: ASSOC_TARGET_PORT,
      type: TYPE_RELATIVE_TARGET_PORT,
      value: rtpi,
    }),
    designator({
      protocol: PROTOCOL_ID_ISCSI,
      codeSet: CODE_SET_UTF8,
      piv: true,
      association: ASSOC_TARGET_PORT,
      type: TYPE_SCSI_NAME_STRING,
      value: scsiNameString(nexus.targetPortName),
    }),
    designator({
      protocol: PROTOCOL_ID_ISCSI,
      codeSet: CODE_SET_UTF8,
      piv: true,
      association: ASSOC_TARGET_DEVICE,
      type: TYPE_SCSI_NAME_STRING,
      value: scsiNameString(nexus.targetName),
    }),
  );
  return page(VPD_DEVICE_IDENTIFICATION, Buffer.concat(parts));
}

/** Block Limits (SBC-3 §6.5, Block Limits VPD page; SBC-4, Block Limits VPD page for the atomic fields, left zero). */
export function blockLimits(lu: LogicalUnit): Buffer {
  const b = Buffer.alloc(0x3c);
  const l = lu.limits;
  const c = lu.capabilities;
  // Offsets below are of the page (header included) minus 4.
  b[1] = c.compareAndWrite ? Math.min(255, l.maxCompareAndWriteLength) : 0;
  b.writeUInt16BE(Math.min(0xffff, 1 << lu.lbppbe), 2); // OPTIMAL TRANSFER LENGTH GRANULARITY
  b.writeUInt32BE(l.maxTransferLength, 4);
  b.writeUInt32BE(l.optimalTransferLength, 8);
  // MAXIMUM PREFETCH LENGTH 0: PRE-FETCH takes any length (it answers GOOD beyond the cache).
  if (c.unmap) {
    b.writeUInt32BE(l.maxUnmapLbaCount, 16);
    b.writeUInt32BE(l.maxUnmapBlockDescriptorCount, 20);
    b.writeUInt32BE(Math.max(1, 1 << lu.lbppbe), 24); // OPTIMAL UNMAP GRANULARITY
    b.writeUInt32BE(0x80000000, 28); // UGAVALID, alignment 0
  }
  if (c.writeSame) {
    // WSNZ 0: NUMBER OF LOGICAL BLOCKS 0 means to the end of the medium, within this limit.
    b.writeUInt32BE(0, 32);
    b.writeUInt32BE(l.maxWriteSameLength, 36);
  }
  if (c.writeAtomic) {
    // SBC-4 Block Limits: MAXIMUM ATOMIC TRANSFER LENGTH; ATOMIC ALIGNMENT and ATOMIC TRANSFER LENGTH
    // GRANULARITY 0 (no constraint); no atomic boundaries (both boundary fields 0).
    b.writeUInt32BE(l.maxAtomicTransferLength, 40);
  }
  return page(VPD_BLOCK_LIMITS, b);
}

/** Block Device Characteristics (SBC-3 §6.5, Block Device Characteristics VPD page): a non-rotating medium, no form factor. */
export function blockDeviceCharacteristics(): Buffer {
  const b = Buffer.alloc(0x3c);
  b.writeUInt16BE(0x0001, 0); // MEDIUM ROTATION RATE 0001h: non-rotating medium
  return page(VPD_BLOCK_DEVICE_CHARACTERISTICS, b);
}

/** Logical Block Provisioning (SBC-3 §6.5, Logical Block Provisioning VPD page): what this LU and its backend really do. */
export function logicalBlockProvisioning(lu: LogicalUnit): Buffer {
  const b = Buffer.alloc(4);
  const c = lu.capabilities;
  let flags = 0;
  if (c.unmap) flags |= 0x80; // LBPU
  if (c.writeSameUnmap16) flags |= 0x40; // LBPWS
  if (c.writeSameUnmap10) flags |= 0x20; // LBPWS10
  if (c.lbpme && c.lbprz) flags |= 0x04; // LBPRZ: unmapped blocks read back as zeros
  if (c.lbpme && c.anchor) flags |= 0x02; // ANC_SUP: ANCHOR of UNMAP and WRITE SAME is supported
  b[1] = flags;
  // PROVISIONING TYPE: 2 thin when blocks can be deallocated, else 0 (fully provisioned/not reported).
  b[2] = c.lbpme ? 0x02 : 0x00;
  return page(VPD_LOGICAL_BLOCK_PROVISIONING, b);
}

/** The VPD page `code` for INQUIRY with EVPD=1; an unsupported page is INVALID FIELD IN CDB. */
export function vpdPage(lu: LogicalUnit, code: number, nexus: ItNexus): Buffer {
  switch (code) {
    case VPD_SUPPORTED_PAGES:
      return page(VPD_SUPPORTED_PAGES, Buffer.from(supportedVpdPages(lu)));
    case VPD_UNIT_SERIAL_NUMBER: {
      const b = Buffer.from(lu.identity.serial, 'latin1');
      const p = page(VPD_UNIT_SERIAL_NUMBER, b);
      p[2] = 0; // PAGE LENGTH is one byte for page 80h (SPC-4, Unit Serial Number VPD page)
      p[3] = b.length;
      return p;
    }
    case VPD_DEVICE_IDENTIFICATION:
      return deviceIdentification(lu, nexus);
    case VPD_THIRD_PARTY_COPY:
      if (!lu.capabilities.thirdPartyCopy) throw invalidFieldInCdb(2);
      return page(VPD_THIRD_PARTY_COPY, thirdPartyCopyDescriptors(lu));
    case VPD_BLOCK_LIMITS:
      return blockLimits(lu);
    case VPD_BLOCK_DEVICE_CHARACTERISTICS:
      return blockDeviceCharacteristics();
    case VPD_LOGICAL_BLOCK_PROVISIONING:
      return logicalBlockProvisioning(lu);
    default:
      throw invalidFieldInCdb(2);
  }
}
