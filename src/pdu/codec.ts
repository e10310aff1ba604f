// Dispatch by opcode (a table, not an if-chain) and the two whole-PDU entry points:
// encodePdu (PDU → iovecs) and decodePdu (BHS + AHS + data → PDU).

import { IscsiProtocolError } from '../errors.js';
import { BHS_LENGTH, DIGEST_LENGTH, MAX_DATA_SEGMENT_LENGTH, OPCODE_NAMES, RejectReason } from './constants.js';
import { crc32c } from './crc32c.js';
import { pad4, type FamilyCodec } from './bhs.js';
import { asyncMessageCodec, rejectCodec, snackCodec } from './exception.js';
import { loginRequestCodec, loginResponseCodec } from './login.js';
import { logoutRequestCodec, logoutResponseCodec } from './logout.js';
import { nopInCodec, nopOutCodec } from './nop.js';
import { scsiCommandCodec, scsiResponseCodec } from './command.js';
import { dataInCodec, dataOutCodec, r2tCodec } from './data-transfer.js';
import { textRequestCodec, textResponseCodec } from './text.js';
import { tmfRequestCodec, tmfResponseCodec } from './tmf.js';
import type { InitiatorPdu, Pdu, TargetPdu } from './types.js';

/** Which side sent the bytes being decoded. */
export type Direction = 'initiator' | 'target';

const INITIATOR_CODECS: readonly FamilyCodec[] = [
  nopOutCodec,
  scsiCommandCodec,
  tmfRequestCodec,
  loginRequestCodec,
  textRequestCodec,
  dataOutCodec,
  logoutRequestCodec,
  snackCodec,
] as FamilyCodec[];

const TARGET_CODECS: readonly FamilyCodec[] = [
  nopInCodec,
  scsiResponseCodec,
  tmfResponseCodec,
  loginResponseCodec,
  textResponseCodec,
  dataInCodec,
  logoutResponseCodec,
  r2tCodec,
  asyncMessageCodec,
  rejectCodec,
] as FamilyCodec[];

const BY_OPCODE: (FamilyCodec | undefined)[] = new Array(64);
for (const c of [...INITIATOR_CODECS, ...TARGET_CODECS]) BY_OPCODE[c.opcode] = c;

/** Opcode field of a BHS (byte 0, low 6 bits). */
export function opcodeOf(bhs: Buffer): number {
  return bhs[0]! & 0x3f;
}

/** The RFC 7143 §11 title of an opcode, or 'Unknown opcode 0x..'. */
export function opcodeName(opcode: number): string {
  return OPCODE_NAMES[opcode] ?? `Unknown opcode 0x${opcode.toString(16).padStart(2, '0')}`;
}

/** Whether an opcode is one the given side may send (RFC 7143 §11.2.1.2). */
export function isOpcodeOf(direction: Direction, opcode: number): boolean {
  const c = BY_OPCODE[opcode];
  if (c === undefined) return false;
  return direction === 'initiator' ? opcode < 0x20 : opcode >= 0x20;
}

/** Which digests are on for a connection (negotiated HeaderDigest and DataDigest, RFC 7143 §13.1). */
export interface DigestSettings {
  header: boolean;
  data: boolean;
}

const NO_DIGESTS: DigestSettings = { header: false, data: false };
const ZERO_PAD = Buffer.alloc(4);

/**
 * Encodes a PDU as iovecs: [header (BHS, AHS, header digest), data, padding + data digest]. The data
 * buffer is passed through, never copied. Ready for `socket.cork(); write each; uncork()` or writev.
 */
export function encodePdu(pdu: Pdu, digests: DigestSettings = NO_DIGESTS): Buffer[] {
  const codec = BY_OPCODE[pdu.opcode];
  if (codec === undefined) throw new RangeError(`cannot encode opcode ${pdu.opcode}`);
  const ahs = codec.ahs?.(pdu) ?? null;
  const ahsLen = ahs === null ? 0 : ahs.length;
  if (ahsLen > 255 * 4) throw new RangeError(`AHS of ${ahsLen} bytes exceeds TotalAHSLength`);
  const headerLen = BHS_LENGTH + ahsLen + (digests.header ? DIGEST_LENGTH : 0);
  const header = Buffer.allocUnsafe(headerLen);
  header.fill(0, 0, BHS_LENGTH);
  codec.writeHeader(pdu, header);
  const data = codec.segment(pdu);
  if (data.length > MAX_DATA_SEGMENT_LENGTH) throw new RangeError(`data segment of ${data.length} bytes is too long`);
  header[4] = ahsLen >> 2;
  header[5] = (data.length >> 16) & 0xff;
  header[6] = (data.length >> 8) & 0xff;
  header[7] = data.length & 0xff;
  if (ahs !== null) ahs.copy(header, BHS_LENGTH);
  if (digests.header) header.writeUInt32LE(crc32c(header, 0, 0, BHS_LENGTH + ahsLen), BHS_LENGTH + ahsLen);
  if (data.length === 0) return [header];
  const pad = pad4(data.length);
  if (!digests.data) return pad === 0 ? [header, data] : [header, data, ZERO_PAD.subarray(0, pad)];
  const tail = Buffer.alloc(pad + DIGEST_LENGTH);
  let crc = crc32c(data);
  if (pad > 0) crc = crc32c(ZERO_PAD, crc, 0, pad);
  tail.writeUInt32LE(crc, pad);
  return [header, data, tail];
}

/** Encodes a PDU into one contiguous buffer (tests, fixtures, the fuzzer). */
export function encodePduToBuffer(pdu: Pdu, digests: DigestSettings = NO_DIGESTS): Buffer {
  return Buffer.concat(encodePdu(pdu, digests));
}

/**
 * Decodes one PDU. `bhs` is the 48-byte header, `ahs` the AHS bytes or null, `data` the unpadded data
 * segment. Throws IscsiProtocolError (with the Reject reason to answer) on any field the RFC forbids.
 */
export function decodePdu(direction: 'initiator', bhs: Buffer, ahs: Buffer | null, data: Buffer): InitiatorPdu;
export function decodePdu(direction: 'target', bhs: Buffer, ahs: Buffer | null, data: Buffer): TargetPdu;
export function decodePdu(direction: Direction, bhs: Buffer, ahs: Buffer | null, data: Buffer): Pdu;
export function decodePdu(direction: Direction, bhs: Buffer, ahs: Buffer | null, data: Buffer): Pdu {
  const opcode = opcodeOf(bhs);
  if (!isOpcodeOf(direction, opcode)) {
    throw new IscsiProtocolError(
      'ERR_UNKNOWN_OPCODE',
      `${opcodeName(opcode)} (0x${opcode.toString(16)}) is not a PDU an ${direction} sends`,
      {
        rule: 'RFC 7143 §11.2.1.2',
        action: 'reject',
        rejectReason: RejectReason.CommandNotSupported,
        header: Buffer.from(bhs.subarray(0, BHS_LENGTH)),
      },
    );
  }
  return BY_OPCODE[opcode]!.decode(bhs, ahs, data);
}

/** The codec of one opcode (for code that needs `hasData` before reading a payload). */
export function codecOf(opcode: number): FamilyCodec | undefined {
  return BY_OPCODE[opcode];
}
