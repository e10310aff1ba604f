// Standard INQUIRY data (SPC-4 §6.6) and the identity of a logical unit: vendor, product,
// revision, serial number and the NAA designator, derived stably from the target name and LUN.

import { createHash } from 'node:crypto';
import { VERSION_DESCRIPTOR } from './constants.js';
import { asciiField } from './cdb/fields.js';

/** What identifies a logical unit in INQUIRY and VPD pages. */
export interface LuIdentity {
  /** T10 VENDOR IDENTIFICATION, at most 8 ASCII characters. */
  readonly vendor: string;
  /** PRODUCT IDENTIFICATION, at most 16 ASCII characters. */
  readonly product: string;
  /** PRODUCT REVISION LEVEL, at most 4 ASCII characters. */
  readonly revision: string;
  /** Unit serial number (VPD 80h). */
  readonly serial: string;
  /** 16-byte NAA IEEE Registered Extended designator (NAA 6, SPC-4 §7.8, Device Identification). */
  readonly naa: Buffer;
}

/** The vendor this implementation reports (SPC-4: ASCII, left-aligned, space-padded, 8 bytes). */
export const DEFAULT_VENDOR = 'TSISCSI';
/** The default PRODUCT IDENTIFICATION (16 bytes at most). */
export const DEFAULT_PRODUCT = 'VIRTUAL-DISK';
/** The default PRODUCT REVISION LEVEL (4 bytes at most). */
export const DEFAULT_REVISION = '0001';

/**
 * IEEE company identifier placed in derived NAA designators. Zero is a placeholder: a deployment
 * with its own OUI passes it as `ieeeCompanyId`; the designator stays unique through the 100
 * hashed vendor-specific bits either way.
 */
export const DEFAULT_IEEE_COMPANY_ID = 0x000000;

function digest(targetName: string, lun: number): Buffer {
  return createHash('sha256').update(`${targetName}\0${lun}`).digest();
}

/**
 * A NAA IEEE Registered Extended designator (NAA 6, SPC-4 §7.8, Device Identification): 4 bits NAA, 24 bits IEEE
 * company ID, 36 bits vendor specific identifier and 64 bits extension, the last 100 taken from a
 * SHA-256 of the target name and LUN, so the same LU gets the same designator on every start.
 */
export function deriveNaa(targetName: string, lun: number, companyId = DEFAULT_IEEE_COMPANY_ID): Buffer {
  if (!Number.isInteger(companyId) || companyId < 0 || companyId > 0xffffff) {
    throw new RangeError(`IEEE company ID ${companyId} is not a 24-bit value (SPC-4, NAA IEEE Registered Extended designator)`);
  }
  const h = digest(targetName, lun);
  const naa = Buffer.alloc(16);
  naa[0] = 0x60 | ((companyId >> 20) & 0x0f);
  naa[1] = (companyId >> 12) & 0xff;
  naa[2] = (companyId >> 4) & 0xff;
  naa[3] = ((companyId & 0x0f) << 4) | (h[0]! & 0x0f);
  h.copy(naa, 4, 1, 13);
  return naa;
}

/** Parses an explicit NAA designator given as 32 hex digits (NAA 6) or 16 (NAA 2, 3 or 5). */
export function parseNaa(hex: string): Buffer {
  const clean = hex.replace(/^0x/i, '').replace(/[:\s-]/g, '');
  if (!/^[0-9a-f]+$/i.test(clean) || (clean.length !== 32 && clean.length !== 16)) {
    throw new RangeError(`NAA designator "${hex}" is not 16 or 32 hex digits (SPC-4, NAA designator)`);
  }
  const b = Buffer.from(clean, 'hex');
  const naa = b[0]! >> 4;
  if ((b.length === 16 && naa !== 6) || (b.length === 8 && naa !== 2 && naa !== 3 && naa !== 5)) {
    throw new RangeError(`NAA field ${naa} does not match a ${b.length}-byte designator (SPC-4 §7.8)`);
  }
  return b;
}

/**
 * The T10 vendor ID based designator of a logical unit (SPC-4, T10 vendor ID designator): the 8-byte
 * VENDOR IDENTIFICATION, then the serial number as the vendor specific identifier. VPD 83h reports
 * it; EXTENDED COPY finds a logical unit by it.
 */
export function t10VendorIdDesignator(id: LuIdentity): Buffer {
  return Buffer.concat([Buffer.from(id.vendor.padEnd(8, ' ').slice(0, 8), 'latin1'), Buffer.from(id.serial, 'latin1')]);
}

/** A serial number derived like the NAA designator: 16 hex digits, stable per target name and LUN. */
export function deriveSerial(targetName: string, lun: number): string {
  return digest(targetName, lun).toString('hex', 16, 24);
}

/** The identity a logical unit's options give; what is absent is the default or derived. */
export interface LuIdentityOptions {
  /** iSCSI target name: with the LUN it seeds the derived NAA designator and serial number. */
  targetName?: string;
  vendor?: string;
  product?: string;
  revision?: string;
  /** Unit serial number (VPD 80h); derived from the target name and LUN when absent. */
  serial?: string;
  /** Explicit NAA designator as hex (32 digits for NAA 6); derived when absent. */
  naa?: string;
  /** IEEE company ID for the derived NAA 6 designator. */
  ieeeCompanyId?: number;
}

/** The identity of logical unit `lun`: the options' fields, the defaults, and the serial and NAA derived stably. */
export function luIdentity(lun: number, o: LuIdentityOptions): LuIdentity {
  const targetName = o.targetName ?? 'iqn.2024-01.io.tsiscsi:target';
  return {
    vendor: o.vendor ?? DEFAULT_VENDOR,
    product: o.product ?? DEFAULT_PRODUCT,
    revision: o.revision ?? DEFAULT_REVISION,
    serial: o.serial ?? deriveSerial(targetName, lun),
    naa: o.naa !== undefined ? parseNaa(o.naa) : deriveNaa(targetName, lun, o.ieeeCompanyId),
  };
}

/** Fields of standard INQUIRY data that vary between logical units. */
export interface StandardInquiryFields {
  /** 0: connected; 3: not capable of supporting a device at this LUN (SPC-4 §6.6). */
  qualifier: number;
  /** 00h direct access block device; 1Fh unknown or no device type. */
  deviceType: number;
  removable: boolean;
  /** 3PC: the LU has a copy manager (EXTENDED COPY, SPC-4 §6.6). */
  thirdPartyCopy?: boolean;
  /** TPGS (SPC-4 §6.6.2): 0 no asymmetric access, 1 implicit, 2 explicit, 3 both. */
  tpgs?: number;
  vendor: string;
  product: string;
  revision: string;
}

/** Length of the standard INQUIRY data this LU returns: up to the version descriptors and padding. */
export const STANDARD_INQUIRY_LENGTH = 96;

/** Builds standard INQUIRY data (SPC-4 §6.6). */
export function standardInquiry(f: StandardInquiryFields): Buffer {
  const b = Buffer.alloc(STANDARD_INQUIRY_LENGTH);
  b[0] = ((f.qualifier & 0x07) << 5) | (f.deviceType & 0x1f);
  if (f.removable) b[1] = 0x80; // RMB
  b[2] = 0x06; // VERSION: SPC-4
  // HISUP=1: LUNs use the hierarchical addressing of SAM-5 §4.6; RESPONSE DATA FORMAT 2.
  b[3] = 0x10 | 0x02;
  b[4] = STANDARD_INQUIRY_LENGTH - 5; // ADDITIONAL LENGTH
  // Byte 5: SCCS, ACC and PROTECT zero: not implemented. TPGS (bits 5..4) when the LU has asymmetric
  // access (SPC-4 §5.15); 3PC when EXTENDED COPY is.
  b[5] = ((f.tpgs ?? 0) & 0x03) << 4;
  if (f.thirdPartyCopy === true) b[5] |= 0x08;
  // Byte 7: CMDQUE=1, the LU has a task set and honours task attributes (SAM-5, task attributes).
  b[7] = 0x02;
  asciiField(f.vendor, 8).copy(b, 8);
  asciiField(f.product, 16).copy(b, 16);
  asciiField(f.revision, 4).copy(b, 32);
  // Version descriptors (SPC-4 §6.6): the standards this LU claims, "no version claimed".
  b.writeUInt16BE(VERSION_DESCRIPTOR.SAM_5, 58);
  b.writeUInt16BE(VERSION_DESCRIPTOR.ISCSI, 60);
  b.writeUInt16BE(VERSION_DESCRIPTOR.SPC_4, 62);
  if (f.deviceType === 0) b.writeUInt16BE(VERSION_DESCRIPTOR.SBC_3, 64);
  return b;
}
