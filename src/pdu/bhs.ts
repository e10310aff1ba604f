// Helpers shared by the PDU family codecs: the common BHS fields (RFC 7143 §11.2.1) and typed errors.

import { IscsiProtocolError } from '../errors.js';
import { RejectReason } from './constants.js';
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

export const EMPTY: Buffer = Buffer.alloc(0);

export function dataSegmentLength(h: Buffer): number {
  return (h[5]! << 16) | (h[6]! << 8) | h[7]!;
}

/** TotalAHSLength in bytes (the field counts 4-byte words, RFC 7143 §11.2.1.4). */
export function totalAhsBytes(h: Buffer): number {
  return h[4]! * 4;
}

export function readLun(h: Buffer): bigint {
  return h.readBigUInt64BE(8);
}

export function writeLun(h: Buffer, lun: bigint): void {
  h.writeBigUInt64BE(BigInt.asUintN(64, lun), 8);
}

/** Throws the protocol error a receiver must report (RFC 7143 §11: reserved code values). */
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
    header: Buffer.from(h.subarray(0, 48)),
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

export function isidToHex(h: Buffer, offset: number): string {
  return h.toString('hex', offset, offset + 6);
}

export function writeIsid(h: Buffer, offset: number, isid: string): void {
  if (!/^[0-9a-fA-F]{12}$/.test(isid)) throw new RangeError(`ISID must be 12 hex digits, got '${isid}'`);
  h.write(isid, offset, 6, 'hex');
}
