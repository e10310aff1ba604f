// Helpers shared by the PDU family codecs: the codec interface, the common BHS fields (RFC 7143
// §11.2.1), padding, the AHS entry layout (§11.2.2), the SenseLength-prefixed data segment of the SCSI
// Response and the Asynchronous Message (§11.4.7.2, §11.9.4), and the typed field errors. Plain
// functions on a Buffer and numbers, so each codec stays monomorphic and allocates nothing more.

import { IscsiProtocolError } from '../errors.js';
import { BHS_LENGTH, RejectReason } from './constants.js';
import type { Pdu } from './types.js';

/** Encoder and decoder of one opcode. Decoders validate what RFC 7143 says a receiver must check. */
export interface FamilyCodec<P extends Pdu = Pdu> {
  readonly opcode: number;
  /** Whether a data segment is allowed on this PDU (otherwise DataSegmentLength must be 0). */
  readonly hasData: boolean;
  /** Fills the 48-byte BHS except TotalAHSLength and DataSegmentLength (bytes 4..7). */
  writeHeader(p: P, h: Buffer): void;
  /** The data segment, unpadded (may be an empty buffer). */
  segment(p: P): Buffer;
  /** AHS bytes, padded to 4, or null. */
  ahs?(p: P): Buffer | null;
  /** Decodes a PDU from its BHS, AHS bytes (or null) and data segment (unpadded). */
  decode(h: Buffer, ahs: Buffer | null, data: Buffer): P;
}

/** The empty data segment, shared: PDUs without data never allocate one. */
export const EMPTY: Buffer = Buffer.alloc(0);

/** Bytes of padding after a segment of `n` bytes: every segment ends on a 4-byte boundary (RFC 7143 §11.1). */
export function pad4(n: number): number {
  return (4 - (n & 3)) & 3;
}

/** DataSegmentLength (BHS bytes 5..7, RFC 7143 §11.2.1.5): the data segment's length without padding. */
export function dataSegmentLength(h: Buffer): number {
  return (h[5]! << 16) | (h[6]! << 8) | h[7]!;
}

/** TotalAHSLength in bytes (the field counts 4-byte words, RFC 7143 §11.2.1.4). */
export function totalAhsBytes(h: Buffer): number {
  return h[4]! * 4;
}

/** The 8-byte LUN field (BHS bytes 8..15, RFC 7143 §11.2.1.6), raw. */
export function readLun(h: Buffer): bigint {
  return h.readBigUInt64BE(8);
}

/** Writes the LUN field (BHS bytes 8..15); a negative value is taken modulo 2^64. */
export function writeLun(h: Buffer, lun: bigint): void {
  h.writeBigUInt64BE(BigInt.asUintN(64, lun), 8);
}

/** The 6-byte ISID of a Login PDU (RFC 7143 §11.12.5) at `offset`, as 12 lowercase hex digits. */
export function isidToHex(h: Buffer, offset: number): string {
  return h.toString('hex', offset, offset + 6);
}

/** Writes an ISID given as 12 hex digits at `offset`. */
export function writeIsid(h: Buffer, offset: number, isid: string): void {
  if (!/^[0-9a-fA-F]{12}$/.test(isid)) throw new RangeError(`ISID must be 12 hex digits, got '${isid}'`);
  h.write(isid, offset, 6, 'hex');
}

/**
 * A zeroed AHS entry (RFC 7143 §11.2.2): AHSLength (2 bytes, counting the AHS-specific bytes), AHSType,
 * then `ahsLength` AHS-specific bytes starting at offset 3, padded to 4. The caller fills the bytes.
 */
export function newAhsEntry(ahsType: number, ahsLength: number): Buffer {
  const b = Buffer.alloc(3 + ahsLength + pad4(3 + ahsLength));
  b.writeUInt16BE(ahsLength, 0);
  b[2] = ahsType;
  return b;
}

/**
 * The data segment of a SCSI Response or an Asynchronous Message: SenseLength (2 bytes), the sense
 * data, then the rest (response data, or iSCSI event data) (RFC 7143 §11.4.7.2, §11.9.4). Empty when
 * both are.
 */
export function encodeSenseSegment(sense: Buffer, rest: Buffer): Buffer {
  if (sense.length === 0 && rest.length === 0) return EMPTY;
  const b = Buffer.allocUnsafe(2 + sense.length + rest.length);
  b.writeUInt16BE(sense.length, 0);
  sense.copy(b, 2);
  rest.copy(b, 2 + sense.length);
  return b;
}

/**
 * The sense data of a SenseLength-prefixed data segment (see {@link encodeSenseSegment}), EMPTY when
 * the segment is; SenseLength is checked against the segment.
 * @param what the segment's name in the error, e.g. 'SCSI Response data segment'
 * @param rule the section that defines the segment
 */
export function decodeSense(h: Buffer, data: Buffer, what: string, rule: string): Buffer {
  if (data.length === 0) return EMPTY;
  if (data.length < 2) throw fieldError(h, `${what} shorter than SenseLength`, rule);
  const n = data.readUInt16BE(0);
  if (2 + n > data.length) throw fieldError(h, `SenseLength ${n} overruns the data segment`, rule);
  return data.subarray(2, 2 + n);
}

/** What follows `sense` (from {@link decodeSense}) in its data segment: response data or iSCSI event data. */
export function afterSense(data: Buffer, sense: Buffer): Buffer {
  return data.length === 0 ? EMPTY : data.subarray(2 + sense.length);
}

/** The protocol error a receiver must report for a field (RFC 7143 §11: reserved code values), to throw. */
export function fieldError(
  h: Buffer,
  message: string,
  rule: string,
  rejectReason: number = RejectReason.ProtocolError,
): IscsiProtocolError {
  return new IscsiProtocolError('ERR_PDU_FIELD', message, {
    rule,
    action: 'reject',
    rejectReason,
    header: Buffer.from(h.subarray(0, BHS_LENGTH)),
  });
}

/** Refuses a data segment or AHS on a PDU that has none. */
export function checkNoPayload(h: Buffer, ahs: Buffer | null, data: Buffer, allowData: boolean, name: string): void {
  if (ahs !== null && ahs.length > 0) {
    throw fieldError(h, `${name} carries an AHS, which only a SCSI Command may`, 'RFC 7143 §11.2.2');
  }
  if (!allowData && data.length > 0) {
    throw fieldError(h, `${name} has DataSegmentLength ${data.length}, must be 0`, 'RFC 7143 §11.2.1.5');
  }
}
