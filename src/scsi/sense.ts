// Sense data (SPC-4 §4.5): building fixed (70h) and descriptor (72h) format for the target, parsing
// both for the initiator, and the error the emulation throws to end a command in CHECK CONDITION.

import { ScsiError } from '../errors.js';
import { readU64, writeU64 } from './cdb/fields.js';
import { ASC, SENSE_KEY, STATUS, ascName, senseKeyName, statusName } from './constants.js';

/**
 * The sense-key specific field (SPC-4 §4.5, sense key specific) as a field pointer (SPC-4 §4.5, field pointer): which byte
 * (and optionally which bit) of the CDB (`cd: true`) or of the parameter list (`cd: false`) is wrong.
 */
export interface FieldPointer {
  /** C/D bit: true when the pointer is into the CDB, false when into the parameter list. */
  cd: boolean;
  /** Byte offset of the field. */
  field: number;
  /** Bit (7..0) of the field's most significant bit; absent when the whole byte is meant (BPV=0). */
  bit?: number;
}

/** What a device server reports in sense data. */
export interface SenseInit {
  key: number;
  asc: number;
  ascq: number;
  /** INFORMATION field (SPC-4 §4.5.2, sense key specific descriptor): e.g. the miscompare offset; sets VALID. */
  information?: number;
  /** Sense-key specific field pointer (ILLEGAL REQUEST, SPC-4 §4.5, field pointer); sets SKSV. */
  fieldPointer?: FieldPointer;
  /** COMMAND-SPECIFIC INFORMATION (e.g. the segment an EXTENDED COPY stopped at, SPC-4 §6.4.3). */
  commandSpecific?: number;
  /** Deferred error (71h/73h) rather than current (70h/72h). */
  deferred?: boolean;
}

/** Sense data decoded from either format. */
export interface ParsedSense {
  /** 70h, 71h (fixed) or 72h, 73h (descriptor). */
  responseCode: number;
  format: 'fixed' | 'descriptor';
  deferred: boolean;
  senseKey: number;
  asc: number;
  ascq: number;
  /** INFORMATION field, when VALID (fixed) or an information descriptor (descriptor) says so. */
  information?: number;
  /** COMMAND-SPECIFIC INFORMATION field (fixed format, or its descriptor). */
  commandSpecific?: number;
  /** Field pointer when SKSV is set and the sense key is ILLEGAL REQUEST. */
  fieldPointer?: FieldPointer;
  /** Progress indication (SPC-4 §4.5, progress indication) for NOT READY / NO SENSE, 0..65535. */
  progress?: number;
  /** The raw 3 bytes of the sense-key specific field when SKSV is set. */
  senseKeySpecific?: Buffer;
  /** FILEMARK, EOM, ILI bits (fixed format byte 2, or stream commands descriptor). */
  filemark?: boolean;
  eom?: boolean;
  ili?: boolean;
}

/** Fixed format sense data is 18 bytes: 8 of header plus ADDITIONAL SENSE LENGTH 10 (SPC-4 §4.5.3). */
export const FIXED_SENSE_LENGTH = 18;

function writeSks(buf: Buffer, off: number, fp: FieldPointer): void {
  // SPC-4 §4.5, field pointer: SKSV | C/D | reserved | BPV | BIT POINTER, then FIELD POINTER.
  let b0 = 0x80;
  if (fp.cd) b0 |= 0x40;
  if (fp.bit !== undefined) b0 |= 0x08 | (fp.bit & 0x07);
  buf[off] = b0;
  buf.writeUInt16BE(fp.field & 0xffff, off + 1);
}

/** Builds fixed format sense data (response code 70h or 71h), SPC-4 §4.5.3. */
export function buildFixedSense(s: SenseInit): Buffer {
  const buf = Buffer.alloc(FIXED_SENSE_LENGTH);
  buf[0] = s.deferred === true ? 0x71 : 0x70;
  // The fixed format INFORMATION field is 4 bytes: a larger value cannot be VALID (SPC-4 §4.5.3).
  if (s.information !== undefined && s.information >= 0 && s.information <= 0xffffffff) {
    buf[0] |= 0x80;
    buf.writeUInt32BE(s.information, 3);
  }
  buf[2] = s.key & 0x0f;
  buf[7] = FIXED_SENSE_LENGTH - 8;
  if (s.commandSpecific !== undefined && s.commandSpecific >= 0 && s.commandSpecific <= 0xffffffff) {
    buf.writeUInt32BE(s.commandSpecific, 8);
  }
  buf[12] = s.asc;
  buf[13] = s.ascq;
  if (s.fieldPointer !== undefined) writeSks(buf, 15, s.fieldPointer);
  return buf;
}

/**
 * Writes a descriptor holding one 8-byte field (the information and command-specific information
 * descriptors, SPC-4 §4.5.2): DESCRIPTOR TYPE, ADDITIONAL LENGTH 0Ah, byte 2 (VALID for the
 * information descriptor), a reserved byte, the field. Returns the offset after it.
 */
function writeFieldDescriptor(buf: Buffer, off: number, type: number, byte2: number, value: number): number {
  buf[off] = type;
  buf[off + 1] = 0x0a;
  buf[off + 2] = byte2;
  writeU64(buf, off + 4, value);
  return off + 12;
}

/** Builds descriptor format sense data (response code 72h or 73h), SPC-4 §4.5.2. */
export function buildDescriptorSense(s: SenseInit): Buffer {
  const hasInfo = s.information !== undefined && s.information >= 0;
  const hasSks = s.fieldPointer !== undefined;
  const hasCsi = s.commandSpecific !== undefined && s.commandSpecific >= 0;
  const len = 8 + (hasInfo ? 12 : 0) + (hasCsi ? 12 : 0) + (hasSks ? 8 : 0);
  const buf = Buffer.alloc(len);
  buf[0] = s.deferred === true ? 0x73 : 0x72;
  buf[1] = s.key & 0x0f;
  buf[2] = s.asc;
  buf[3] = s.ascq;
  buf[7] = len - 8;
  let off = 8;
  // Information sense data descriptor, SPC-4 §4.5.2, information descriptor: type 00h, VALID.
  if (hasInfo) off = writeFieldDescriptor(buf, off, 0x00, 0x80, s.information as number);
  // Command-specific information descriptor, SPC-4 §4.5.2: type 01h.
  if (hasCsi) off = writeFieldDescriptor(buf, off, 0x01, 0x00, s.commandSpecific as number);
  if (hasSks) {
    // Sense key specific sense data descriptor, SPC-4 §4.5.2, sense key specific descriptor: type 02h, length 06h.
    buf[off] = 0x02;
    buf[off + 1] = 0x06;
    writeSks(buf, off + 4, s.fieldPointer as FieldPointer);
    off += 8;
  }
  return buf;
}

/** Builds sense data in descriptor format when `descriptor` (D_SENSE, SPC-4, Control mode page) else fixed. */
export function buildSense(s: SenseInit, descriptor: boolean): Buffer {
  return descriptor ? buildDescriptorSense(s) : buildFixedSense(s);
}

/**
 * Sense data with sense key `key` and the ASC/ASCQ pair `ascAscq` (`asc << 8 | ascq`, the form of
 * {@link ASC}) and nothing else, in descriptor format when `descriptor`.
 */
export function senseData(key: number, ascAscq: number, descriptor: boolean): Buffer {
  return buildSense({ key, asc: ascAscq >> 8, ascq: ascAscq & 0xff }, descriptor);
}

function readSks(sks: Buffer, key: number, out: ParsedSense): void {
  if ((sks[0]! & 0x80) === 0) return;
  out.senseKeySpecific = Buffer.from(sks.subarray(0, 3));
  if (key === SENSE_KEY.ILLEGAL_REQUEST) {
    const fp: FieldPointer = { cd: (sks[0]! & 0x40) !== 0, field: sks.readUInt16BE(1) };
    if ((sks[0]! & 0x08) !== 0) fp.bit = sks[0]! & 0x07;
    out.fieldPointer = fp;
  } else if (key === SENSE_KEY.NOT_READY || key === SENSE_KEY.NO_SENSE) {
    out.progress = sks.readUInt16BE(1);
  }
}

/**
 * Decodes sense data of either format (SPC-4 §4.5). Throws a RangeError for a buffer too short to
 * hold a sense key or with a response code that is neither fixed nor descriptor format.
 */
export function parseSense(buf: Buffer): ParsedSense {
  if (buf.length < 1) throw new RangeError('sense data is empty (SPC-4 §4.5)');
  const responseCode = buf[0]! & 0x7f;
  if (responseCode === 0x70 || responseCode === 0x71) {
    if (buf.length < 3) throw new RangeError('fixed format sense data shorter than 3 bytes (SPC-4 §4.5.3)');
    const key = buf[2]! & 0x0f;
    const out: ParsedSense = {
      responseCode,
      format: 'fixed',
      deferred: responseCode === 0x71,
      senseKey: key,
      asc: buf.length > 12 ? buf[12]! : 0,
      ascq: buf.length > 13 ? buf[13]! : 0,
      filemark: (buf[2]! & 0x80) !== 0,
      eom: (buf[2]! & 0x40) !== 0,
      ili: (buf[2]! & 0x20) !== 0,
    };
    // The ADDITIONAL SENSE LENGTH bounds what follows byte 7; trust the shorter of it and the buffer.
    const end = buf.length >= 8 ? Math.min(buf.length, 8 + buf[7]!) : buf.length;
    if ((buf[0]! & 0x80) !== 0 && end >= 7) out.information = buf.readUInt32BE(3);
    if (end >= 12) {
      const csi = buf.readUInt32BE(8);
      if (csi !== 0) out.commandSpecific = csi;
    }
    if (end >= 18) readSks(buf.subarray(15, 18), key, out);
    return out;
  }
  if (responseCode === 0x72 || responseCode === 0x73) {
    if (buf.length < 4) throw new RangeError('descriptor format sense data shorter than 4 bytes (SPC-4 §4.5.2)');
    const key = buf[1]! & 0x0f;
    const out: ParsedSense = {
      responseCode,
      format: 'descriptor',
      deferred: responseCode === 0x73,
      senseKey: key,
      asc: buf[2]!,
      ascq: buf[3]!,
    };
    const end = buf.length >= 8 ? Math.min(buf.length, 8 + buf[7]!) : buf.length;
    // Each descriptor is 2 bytes of type and ADDITIONAL LENGTH, then that many bytes (SPC-4 §4.5.2).
    for (let off = 8; off + 2 <= end; off += 2 + buf[off + 1]!) {
      const type = buf[off]!;
      const len = buf[off + 1]!;
      if (off + 2 + len > end) break;
      if (type === 0x00 && len >= 0x0a && (buf[off + 2]! & 0x80) !== 0) {
        out.information = readU64(buf, off + 4);
      } else if (type === 0x01 && len >= 0x0a) {
        const csi = readU64(buf, off + 4);
        if (csi !== 0) out.commandSpecific = csi;
      } else if (type === 0x02 && len >= 0x06) {
        readSks(buf.subarray(off + 4, off + 7), key, out);
      } else if (type === 0x04 && len >= 0x02) {
        // Stream commands descriptor (SSC): FILEMARK, EOM, ILI.
        out.filemark = (buf[off + 3]! & 0x80) !== 0;
        out.eom = (buf[off + 3]! & 0x40) !== 0;
        out.ili = (buf[off + 3]! & 0x20) !== 0;
      }
    }
    return out;
  }
  throw new RangeError(
    `sense data response code 0x${responseCode.toString(16)} is neither fixed nor descriptor format (SPC-4 §4.5)`,
  );
}

/**
 * Ends a command in CHECK CONDITION: thrown inside the emulation and turned into sense data by the
 * logical unit, in the format its control mode page asks for. Extends {@link ScsiError} so the same
 * class names the failure on both ends.
 */
export class CheckConditionError extends ScsiError {
  /** INFORMATION field of the sense data (e.g. a miscompare offset). */
  readonly information: number | undefined;
  /** Sense-key specific field pointer (ILLEGAL REQUEST). */
  readonly fieldPointer: FieldPointer | undefined;
  /** COMMAND-SPECIFIC INFORMATION field (e.g. the segment an EXTENDED COPY stopped at). */
  readonly commandSpecific: number | undefined;
  constructor(
    key: number,
    ascAscq: number,
    opts?: { information?: number; fieldPointer?: FieldPointer; commandSpecific?: number; message?: string },
  ) {
    const asc = ascAscq >> 8;
    const ascq = ascAscq & 0xff;
    super(
      {
        status: STATUS.CHECK_CONDITION,
        statusName: statusName(STATUS.CHECK_CONDITION),
        senseKey: key,
        senseKeyName: senseKeyName(key),
        asc,
        ascq,
        ascName: ascName(asc, ascq),
      },
      opts?.message,
    );
    this.name = 'CheckConditionError';
    this.information = opts?.information;
    this.fieldPointer = opts?.fieldPointer;
    this.commandSpecific = opts?.commandSpecific;
  }

  /** The sense data this error stands for. */
  toSense(descriptor: boolean): Buffer {
    const init: SenseInit = { key: this.senseKey ?? 0, asc: this.asc ?? 0, ascq: this.ascq ?? 0 };
    if (this.information !== undefined) init.information = this.information;
    if (this.fieldPointer !== undefined) init.fieldPointer = this.fieldPointer;
    if (this.commandSpecific !== undefined) init.commandSpecific = this.commandSpecific;
    return buildSense(init, descriptor);
  }
}

/** ILLEGAL REQUEST, INVALID FIELD IN CDB with a field pointer into the CDB (SPC-4 §4.5, field pointer). */
export function invalidFieldInCdb(field: number, bit?: number): CheckConditionError {
  const fieldPointer: FieldPointer = { cd: true, field };
  if (bit !== undefined) fieldPointer.bit = bit;
  return new CheckConditionError(SENSE_KEY.ILLEGAL_REQUEST, ASC.INVALID_FIELD_IN_CDB, { fieldPointer });
}

/** ILLEGAL REQUEST, INVALID FIELD IN PARAMETER LIST with a pointer into the parameter list. */
export function invalidFieldInParameterList(field: number, bit?: number): CheckConditionError {
  const fieldPointer: FieldPointer = { cd: false, field };
  if (bit !== undefined) fieldPointer.bit = bit;
  return new CheckConditionError(SENSE_KEY.ILLEGAL_REQUEST, ASC.INVALID_FIELD_IN_PARAMETER_LIST, { fieldPointer });
}

/** ILLEGAL REQUEST with any ASC/ASCQ and no sense-key specific field. */
export function illegalRequest(ascAscq: number): CheckConditionError {
  return new CheckConditionError(SENSE_KEY.ILLEGAL_REQUEST, ascAscq);
}

/**
 * The {@link ScsiError} an initiator raises for a status other than GOOD / CONDITION MET, with the
 * sense decoded when present and parseable.
 */
export function scsiErrorFromStatus(status: number, sense?: Buffer): ScsiError {
  if (sense !== undefined && sense.length > 0) {
    try {
      const s = parseSense(sense);
      return new ScsiError({
        status,
        statusName: statusName(status),
        senseKey: s.senseKey,
        senseKeyName: senseKeyName(s.senseKey),
        asc: s.asc,
        ascq: s.ascq,
        ascName: ascName(s.asc, s.ascq),
        sense,
      });
    } catch {
      // Unparseable sense still fails the command; the raw bytes travel with the error.
    }
  }
  const init: ConstructorParameters<typeof ScsiError>[0] = { status, statusName: statusName(status) };
  if (sense !== undefined) init.sense = sense;
  return new ScsiError(init);
}
