// Vital product data pages (SPC-4 §7.8, SBC-3 §6.5): supported pages, unit serial number, device
// identification, third-party copy, block limits, block device characteristics, logical block
// provisioning.

import {
  ASSOCIATION,
  CODE_SET,
  DESIGNATOR_TYPE,
  PROTOCOL_ID_ISCSI,
  VPD_BLOCK_DEVICE_CHARACTERISTICS,
  VPD_BLOCK_LIMITS,
  VPD_DEVICE_IDENTIFICATION,
  VPD_LOGICAL_BLOCK_PROVISIONING,
  VPD_SUPPORTED_PAGES,
  VPD_THIRD_PARTY_COPY,
  VPD_UNIT_SERIAL_NUMBER,
} from './constants.js';
import { thirdPartyCopyDescriptors } from './extended-copy.js';
import type { LuContext } from './handler.js';
import { t10VendorIdDesignator } from './inquiry.js';
import { invalidFieldInCdb } from './sense.js';
import type { ItNexus } from './types.js';

/** The pages an LU returns, in ascending order, as the Supported VPD Pages page requires (SPC-4 §7.8). */
export function supportedVpdPages(lu: LuContext): number[] {
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

/** Device Identification (SPC-4, Device Identification VPD page): the LU's designators plus those of the port it was asked on. */
export function deviceIdentification(lu: LuContext, nexus: ItNexus): Buffer {
  const id = lu.identity;
  const parts: Buffer[] = [
    designator({ codeSet: CODE_SET.BINARY, piv: false, association: ASSOCIATION.LOGICAL_UNIT, type: DESIGNATOR_TYPE.NAA, value: id.naa }),
    designator({
      codeSet: CODE_SET.ASCII,
      piv: false,
      association: ASSOCIATION.LOGICAL_UNIT,
      type: DESIGNATOR_TYPE.T10_VENDOR_ID,
      value: t10VendorIdDesignator(id),
    }),
  ];
  // Port and device designators carry PIV=1 and protocol identifier 5 (iSCSI, SPC-4 protocol identifier values).
  const rtpi = Buffer.alloc(4);
  rtpi.writeUInt16BE(nexus.relativeTargetPortId & 0xffff, 2);
  parts.push(
    designator({
      protocol: PROTOCOL_ID_ISCSI,
      codeSet: CODE_SET.BINARY,
      piv: true,
      association: ASSOCIATION.TARGET_PORT,
      type: DESIGNATOR_TYPE.RELATIVE_TARGET_PORT,
      value: rtpi,
    }),
    designator({
      protocol: PROTOCOL_ID_ISCSI,
      codeSet: CODE_SET.UTF8,
      piv: true,
      association: ASSOCIATION.TARGET_PORT,
      type: DESIGNATOR_TYPE.SCSI_NAME_STRING,
      value: scsiNameString(nexus.targetPortName),
    }),
  );
  if (lu.alua !== undefined) {
    // SPC-4 §7.8.6.8: an LU with asymmetric access names the target port group of the port asked on.
    const tpg = Buffer.alloc(4);
    tpg.writeUInt16BE(lu.alua.group & 0xffff, 2);
    parts.push(
      designator({
        protocol: PROTOCOL_ID_ISCSI,
        codeSet: CODE_SET.BINARY,
        piv: true,
        association: ASSOCIATION.TARGET_PORT,
        type: DESIGNATOR_TYPE.TARGET_PORT_GROUP,
        value: tpg,
      }),
    );
  }
  parts.push(
    designator({
      protocol: PROTOCOL_ID_ISCSI,
      codeSet: CODE_SET.UTF8,
      piv: true,
      association: ASSOCIATION.TARGET_DEVICE,
      type: DESIGNATOR_TYPE.SCSI_NAME_STRING,
      value: scsiNameString(nexus.targetName),
    }),
  );
  return page(VPD_DEVICE_IDENTIFICATION, Buffer.concat(parts));
}

/** Block Limits (SBC-3 §6.5, Block Limits VPD page; SBC-4, Block Limits VPD page for the atomic fields, left zero). */
export function blockLimits(lu: LuContext): Buffer {
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
export function logicalBlockProvisioning(lu: LuContext): Buffer {
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
export function vpdPage(lu: LuContext, code: number, nexus: ItNexus): Buffer {
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
