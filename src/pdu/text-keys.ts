// Text data segments of Login and Text PDUs (RFC 7143 §6.1): NUL-terminated key=value pairs, their
// assembly across PDUs with the Continue bit, splitting for sending, and the value encodings of §6.1.

import { isUtf8 } from 'node:buffer';
import { IscsiProtocolError, type ProtocolErrorInit } from '../errors.js';
import { LoginStatus, RejectReason } from './constants.js';

/** One key=value pair, in the order it appeared on the wire. */
export type TextPair = [key: string, value: string];

/**
 * Where a text segment came from, which decides what a format error makes the receiver do:
 * a target answers a bad Login Request with a Login reject (initiator error, RFC 7143 §11.13.5) and a bad
 * Text Request with a Reject PDU (protocol error, §11.17.1); an initiator drops the connection on a bad
 * Login or Text Response (§6.2, §7).
 */
export type TextSource = 'login-request' | 'text-request' | 'response';

/** RFC 7143 §6.1: a key name (standard-label) must not exceed 63 bytes. */
export const KEY_NAME_MAX_BYTES = 63;
/** RFC 7143 §6.1: unless a key says otherwise, a simple-value (decoded) is at most 255 bytes. */
export const SIMPLE_VALUE_MAX_BYTES = 255;
/** RFC 7143 §12.1.2 (SRP) and §12.1.3 (CHAP): binary authentication values are at most 1024 bytes. */
export const AUTH_BINARY_MAX_BYTES = 1024;
/** RFC 7143 §12.1.1: KRB_AP_REQ and KRB_AP_REP are at most 65536 bytes in binary form. */
export const KRB5_BINARY_MAX_BYTES = 65536;
/** RFC 7143 §6.1: every node MUST accept at least 8192 bytes of key=value data in a negotiation sequence. */
export const MIN_NEGOTIATION_TEXT_BYTES = 8192;
/**
 * RFC 7143 §6.1: with authentication methods that carry very long items (Kerberos), at least 64 KB of
 * key=value data. This is the default bound of {@link TextAssembler}.
 */
export const LONG_NEGOTIATION_TEXT_BYTES = 65536;

/**
 * The length rule for one key's value (RFC 7143 §6.1, §12.1):
 * - `simple`: the whole value is at most `maxBytes` bytes;
 * - `list`: a list-of-values, each comma-separated element at most `maxElementBytes` bytes (the 255-byte
 *   limit of §6.1 does not count the delimiter, comma or NUL);
 * - `binary`: a binary-value whose decoded length (not its hex/base64 text) is at most `maxDecodedBytes`.
 */
export type ValueLimit =
  | { readonly kind: 'simple'; readonly maxBytes: number }
  | { readonly kind: 'list'; readonly maxElementBytes: number }
  | { readonly kind: 'binary'; readonly maxDecodedBytes: number };

const SIMPLE: ValueLimit = { kind: 'simple', maxBytes: SIMPLE_VALUE_MAX_BYTES };
const LIST: ValueLimit = { kind: 'list', maxElementBytes: SIMPLE_VALUE_MAX_BYTES };
const AUTH_BINARY: ValueLimit = { kind: 'binary', maxDecodedBytes: AUTH_BINARY_MAX_BYTES };
const KRB5_BINARY: ValueLimit = { kind: 'binary', maxDecodedBytes: KRB5_BINARY_MAX_BYTES };

// The keys whose value is not a 255-byte simple-value. Everything else, known or not, is (§6.1).
const VALUE_LIMITS: ReadonlyMap<string, ValueLimit> = new Map<string, ValueLimit>([
  // §12.1.3: C and R are binary-values of at most 1024 bytes.
  ['CHAP_C', AUTH_BINARY],
  ['CHAP_R', AUTH_BINARY],
  // §12.1.2: s, A, B, M and H(A | M | K) are binary-values of at most 1024 bytes.
  ['SRP_s', AUTH_BINARY],
  ['SRP_A', AUTH_BINARY],
  ['SRP_B', AUTH_BINARY],
  ['SRP_M', AUTH_BINARY],
  ['SRP_HM', AUTH_BINARY],
  // §12.1.1: at most 65536 bytes.
  ['KRB_AP_REQ', KRB5_BINARY],
  ['KRB_AP_REP', KRB5_BINARY],
  // list-of-values keys (§13.1, §12.1, §12.1.2, §12.1.3, §13.23).
  ['HeaderDigest', LIST],
  ['DataDigest', LIST],
  ['AuthMethod', LIST],
  ['CHAP_A', LIST],
  ['SRP_GROUP', LIST],
  ['TaskReporting', LIST],
  // §13.26: X#NodeArchitecture is a list, but its total length is at most 255 bytes: the SIMPLE default.
]);

/** The RFC 7143 length rule for `key`'s value (§6.1 default, with the per-key exceptions of §12 and §13). */
export function rfcValueLimit(key: string): ValueLimit {
  return VALUE_LIMITS.get(key) ?? SIMPLE;
}

/** Options for {@link parseTextKeys} and {@link TextAssembler}. */
export interface ParseTextOptions {
  /** Who sent the text; decides the action carried by errors. Default `'login-request'`. */
  source?: TextSource;
  /** Length rule per key; default {@link rfcValueLimit}. */
  valueLimit?: (key: string) => ValueLimit;
}

/** A text segment broke a rule of RFC 7143 §6.1 (or a value was not a valid §6.1 encoding). */
export class TextFormatError extends IscsiProtocolError {
  /** The key concerned, when the fault is in one pair. */
  readonly key: string | undefined;
  constructor(code: string, message: string, source: TextSource, rule: string, key?: string) {
    super(code, message, errorInit(source, rule));
    this.name = 'TextFormatError';
    this.key = key;
  }
}

function errorInit(source: TextSource, rule: string): ProtocolErrorInit {
  switch (source) {
    case 'login-request':
      return { rule, action: 'login-reject', loginStatus: LoginStatus.InitiatorError };
    case 'text-request':
      return { rule, action: 'reject', rejectReason: RejectReason.ProtocolError };
    case 'response':
      return { rule, action: 'drop' };
  }
}

// Character classes of RFC 7143 §6.1, as byte tables for the hot loop.
const KEY_CHAR = new Uint8Array(128);
for (const c of 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-+@_') KEY_CHAR[c.charCodeAt(0)] = 1;
const isLetter = (b: number): boolean => (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);

/**
 * Why `key` is not a valid key-name, or undefined if it is (RFC 7143 §6.1): a standard-label of letters,
 * digits, dot, minus, plus, commercial at and underscore, at most 63 bytes, starting with a letter. The
 * RFC says "capital letter", but RFC 7144's own key `iSCSIProtocolLevel` starts with a lower-case one,
 * so any letter is accepted. `#` is accepted in the public-extension prefix `X#` (§13.26, RFC 4850).
 */
export function keyNameProblem(key: string): string | undefined {
  if (key.length === 0) return 'is empty';
  if (key.length > KEY_NAME_MAX_BYTES) return `is ${key.length} bytes, more than ${KEY_NAME_MAX_BYTES}`;
  if (!isLetter(key.charCodeAt(0))) return 'does not start with a letter';
  for (let i = 1; i < key.length; i++) {
    const b = key.charCodeAt(i);
    if (b === 0x23 && i === 1 && key.charCodeAt(0) === 0x58) continue; // "X#"
    if (b >= 128 || KEY_CHAR[b] !== 1) return `contains ${JSON.stringify(key[i])}`;
  }
  return undefined;
}

/** Why `value` breaks `limit`, or undefined if it does not. */
function valueLimitProblem(value: string, byteLength: number, limit: ValueLimit): string | undefined {
  switch (limit.kind) {
    case 'simple':
      return byteLength > limit.maxBytes ? `is ${byteLength} bytes, more than ${limit.maxBytes}` : undefined;
    case 'list': {
      if (byteLength <= limit.maxElementBytes) return undefined;
      for (const element of value.split(',')) {
        const n = Buffer.byteLength(element);
        if (n > limit.maxElementBytes) return `has a list element of ${n} bytes, more than ${limit.maxElementBytes}`;
      }
      return undefined;
    }
    case 'binary': {
      // The encoded text of a hex constant is the longest form: "0x" + 2 digits per byte.
      if (byteLength > 2 + 2 * limit.maxDecodedBytes) {
        return `is ${byteLength} bytes of text, longer than any encoding of ${limit.maxDecodedBytes} bytes`;
      }
      const n = binaryByteLength(value);
      if (n === undefined) {
        // Not a hex or base64 constant (it may be a decimal, or "Reject"): then it is a simple-value.
        return byteLength > SIMPLE_VALUE_MAX_BYTES ? `is ${byteLength} bytes, more than ${SIMPLE_VALUE_MAX_BYTES}` : undefined;
      }
      return n > limit.maxDecodedBytes ? `encodes ${n} bytes, more than ${limit.maxDecodedBytes}` : undefined;
    }
  }
}

/**
 * Parse one logical text data segment (RFC 7143 §6.1) into its pairs, in order, duplicates kept (the
 * negotiation decides what a repeated key means).
 *
 * Every pair, the last included, must end with a NUL. Extra NUL bytes at the very end (padding some
 * implementations put inside DataSegmentLength) are tolerated; an empty pair followed by more text is not.
 * @throws TextFormatError with the action that fits `options.source`.
 */
export function parseTextKeys(buf: Buffer, options: ParseTextOptions = {}): TextPair[] {
  const source = options.source ?? 'login-request';
  const limitOf = options.valueLimit ?? rfcValueLimit;
  let end = buf.length;
  while (end >= 2 && buf[end - 1] === 0 && buf[end - 2] === 0) end--;
  if (end === 1 && buf[0] === 0) end = 0;
  if (end > 0 && buf[end - 1] !== 0) {
    throw new TextFormatError('ERR_TEXT_NOT_TERMINATED', 'the last key=value pair is not followed by a NUL', source, 'RFC 7143 §6.1');
  }
  const pairs: TextPair[] = [];
  let start = 0;
  while (start < end) {
    const nul = buf.indexOf(0, start);
    if (nul === start) {
      throw new TextFormatError('ERR_TEXT_EMPTY_PAIR', `empty key=value pair at offset ${start}`, source, 'RFC 7143 §6.1');
    }
    const eq = buf.indexOf(0x3d, start);
    if (eq === -1 || eq > nul) {
      const text = printable(buf.subarray(start, nul));
      throw new TextFormatError('ERR_TEXT_MISSING_EQUALS', `no "=" in ${JSON.stringify(text)}`, source, 'RFC 7143 §6.1');
    }
    const key = buf.toString('latin1', start, eq);
    const problem = keyNameProblem(key);
    if (problem !== undefined) {
      const code = key.length > KEY_NAME_MAX_BYTES ? 'ERR_TEXT_KEY_TOO_LONG' : 'ERR_TEXT_KEY_INVALID';
      throw new TextFormatError(code, `key name ${JSON.stringify(printable(buf.subarray(start, eq)))} ${problem}`, source, 'RFC 7143 §6.1', key);
    }
    const raw = buf.subarray(eq + 1, nul);
    if (!isUtf8(raw)) {
      throw new TextFormatError('ERR_TEXT_NOT_UTF8', `value of ${key} is not valid UTF-8`, source, 'RFC 7143 §6.1', key);
    }
    const value = raw.toString('utf8');
    const tooLong = valueLimitProblem(value, raw.length, limitOf(key));
    if (tooLong !== undefined) {
      throw new TextFormatError('ERR_TEXT_VALUE_TOO_LONG', `value of ${key} ${tooLong}`, source, 'RFC 7143 §6.1', key);
    }
    pairs.push([key, value]);
    start = nul + 1;
  }
  return pairs;
}

function printable(b: Buffer): string {
  const s = b.toString('latin1');
  return s.length > 64 ? `${s.slice(0, 64)}...` : s;
}

/** Options for {@link encodeTextKeys}. */
export interface EncodeTextOptions {
  /** Length rule per key; default {@link rfcValueLimit}. */
  valueLimit?: (key: string) => ValueLimit;
}

/**
 * Encode pairs as a text data segment: `key=value\0` each (RFC 7143 §6.1). Checks what we send with the
 * same rules we apply to what we receive.
 * @throws TypeError for an invalid key name or a value containing NUL; RangeError for a value over its limit.
 */
export function encodeTextKeys(pairs: Iterable<readonly [string, string]>, options: EncodeTextOptions = {}): Buffer {
  const limitOf = options.valueLimit ?? rfcValueLimit;
  const items: Array<{ key: string; value: string; valueBytes: number }> = [];
  let total = 0;
  for (const [key, value] of pairs) {
    const problem = keyNameProblem(key);
    if (problem !== undefined) throw new TypeError(`cannot encode key ${JSON.stringify(key)}: it ${problem} (RFC 7143 §6.1)`);
    if (value.includes('\0')) throw new TypeError(`cannot encode ${key}: its value contains NUL (RFC 7143 §6.1)`);
    const valueBytes = Buffer.byteLength(value);
    const tooLong = valueLimitProblem(value, valueBytes, limitOf(key));
    if (tooLong !== undefined) throw new RangeError(`cannot encode ${key}: its value ${tooLong} (RFC 7143 §6.1)`);
    items.push({ key, value, valueBytes });
    total += key.length + 1 + valueBytes + 1;
  }
  const out = Buffer.allocUnsafe(total);
  let o = 0;
  for (const { key, value, valueBytes } of items) {
    o += out.write(key, o, 'latin1');
    out[o++] = 0x3d;
    o += out.write(value, o, valueBytes, 'utf8');
    out[o++] = 0;
  }
  return out;
}

/** Options for {@link TextAssembler}. */
export interface TextAssemblerOptions extends ParseTextOptions {
  /**
   * Most bytes one logical text segment may have, to bound memory. Default 65536 (the 64 KB of
   * RFC 7143 §6.1, which is also the most a node is ever required to accept).
   */
  maxBytes?: number;
}

/**
 * Joins the data segments of a run of Login or Text PDUs whose C bit is 1, ended by one with C = 0, into
 * one logical text data segment (RFC 7143 §6.1, §11.10.2, §11.12.2). A PDU with C = 1 may end anywhere,
 * even inside a key or a value; the receiver answers each with an empty PDU and waits for the rest.
 */
export class TextAssembler {
  readonly #maxBytes: number;
  readonly #options: ParseTextOptions;
  #chunks: Buffer[] = [];
  #length = 0;

  constructor(options: TextAssemblerOptions = {}) {
    const maxBytes = options.maxBytes ?? LONG_NEGOTIATION_TEXT_BYTES;
    if (!Number.isInteger(maxBytes) || maxBytes < 1) throw new RangeError(`maxBytes must be a positive integer, got ${maxBytes}`);
    this.#maxBytes = maxBytes;
    this.#options = { source: options.source ?? 'login-request', valueLimit: options.valueLimit ?? rfcValueLimit };
  }

  /** True while a segment with C = 1 has been pushed and the one with C = 0 has not. */
  get pending(): boolean {
    return this.#chunks.length > 0;
  }

  /** Bytes held from PDUs with C = 1. */
  get bufferedBytes(): number {
    return this.#length;
  }

  /**
   * Add one PDU's data segment. Returns undefined while `continueFlag` is set (more is coming: answer with
   * an empty PDU), and the parsed pairs of the whole logical segment on the PDU with C = 0.
   * @throws TextFormatError `ERR_TEXT_TOO_LARGE` past `maxBytes` (state is reset), or any parse error.
   */
  push(segment: Buffer, continueFlag: boolean): TextPair[] | undefined {
    const length = this.#length + segment.length;
    if (length > this.#maxBytes) {
      this.reset();
      throw new TextFormatError(
        'ERR_TEXT_TOO_LARGE',
        `text spread over PDUs with C=1 exceeds ${this.#maxBytes} bytes`,
        this.#options.source!,
        'RFC 7143 §6.1',
      );
    }
    if (continueFlag) {
      // Copied: the framer may reuse the memory behind `segment` before the run ends.
      if (segment.length > 0) this.#chunks.push(Buffer.from(segment));
      this.#length = length;
      return undefined;
    }
    const whole = this.#chunks.length === 0 ? segment : Buffer.concat([...this.#chunks, segment], length);
    this.reset();
    return parseTextKeys(whole, this.#options);
  }

  /** Drop any partial text (e.g. a negotiation reset, RFC 7143 §11.10.4). */
  reset(): void {
    this.#chunks = [];
    this.#length = 0;
  }
}

/** One PDU's worth of text: send `data` with the C bit set to `continue`. */
export interface TextChunk {
  readonly data: Buffer;
  readonly continue: boolean;
}

/** RFC 7143 §13.12: the range of MaxRecvDataSegmentLength. */
const MRDSL_MIN = 512;
const MRDSL_MAX = 2 ** 24 - 1;

/**
 * Cuts an encoded key set into data segments of at most the peer's MaxRecvDataSegmentLength
 * (RFC 7143 §11.10.1, §11.12.1) for sending with C = 1 on all but the last (§6.1). Cuts fall anywhere,
 * as the RFC allows. The chunks are views of the encoded buffer, not copies.
 */
export class TextSplitter implements Iterable<TextChunk> {
  readonly #data: Buffer;
  readonly #max: number;
  #offset = 0;
  #started = false;

  /**
   * @param data an encoded key set, or pairs to encode
   * @param maxSegmentLength the receiver's MaxRecvDataSegmentLength (512 to 2^24 - 1)
   */
  constructor(data: Buffer | Iterable<readonly [string, string]>, maxSegmentLength: number) {
    if (!Number.isInteger(maxSegmentLength) || maxSegmentLength < MRDSL_MIN || maxSegmentLength > MRDSL_MAX) {
      throw new RangeError(`maxSegmentLength must be an integer from ${MRDSL_MIN} to ${MRDSL_MAX} (RFC 7143 §13.12), got ${maxSegmentLength}`);
    }
    this.#data = Buffer.isBuffer(data) ? data : encodeTextKeys(data);
    this.#max = maxSegmentLength;
  }

  /** True once the chunk with C = 0 has been handed out. */
  get done(): boolean {
    return this.#started && this.#offset >= this.#data.length;
  }

  /** The next chunk, or undefined when all were handed out. An empty key set gives one empty chunk. */
  next(): TextChunk | undefined {
    if (this.done) return undefined;
    this.#started = true;
    const end = Math.min(this.#data.length, this.#offset + this.#max);
    const data = this.#data.subarray(this.#offset, end);
    this.#offset = end;
    return { data, continue: end < this.#data.length };
  }

  *[Symbol.iterator](): Iterator<TextChunk> {
    for (let chunk = this.next(); chunk !== undefined; chunk = this.next()) yield chunk;
  }

  /** All chunks at once. */
  static split(data: Buffer | Iterable<readonly [string, string]>, maxSegmentLength: number): TextChunk[] {
    return [...new TextSplitter(data, maxSegmentLength)];
  }
}

// ---- Value encodings (RFC 7143 §6.1) ----

const TWO_64 = 1n << 64n;
const DECIMAL = /^(?:0|[1-9][0-9]*)$/;
const HEX = /^0[xX]([0-9a-fA-F]+)$/;
const BASE64 = /^0[bB]([A-Za-z0-9+/]+)(={0,2})$/;

/** A decimal-constant (RFC 7143 §6.1): "0" or digits without a leading zero, below 2^64. */
export function decodeDecimalConstant(value: string): bigint | undefined {
  if (!DECIMAL.test(value) || value.length > 20) return undefined;
  const n = BigInt(value);
  return n < TWO_64 ? n : undefined;
}

/**
 * A hex-constant (RFC 7143 §6.1) as bytes: "0x" or "0X" and one or more hex digits. Its implicit
 * length is half the digits rounded up; an odd count has an implied leading zero nibble.
 */
export function decodeHexConstant(value: string): Buffer | undefined {
  const m = HEX.exec(value);
  if (m === null) return undefined;
  const digits = m[1]!;
  return Buffer.from(digits.length % 2 === 1 ? `0${digits}` : digits, 'hex');
}

/**
 * A base64-constant (RFC 7143 §6.1, RFC 4648) as bytes: "0b" or "0B" and base64 digits, optional "="
 * padding. Strict: a length of 4k+1 digits, wrong padding or non-zero trailing bits are refused.
 */
export function decodeBase64Constant(value: string): Buffer | undefined {
  const m = BASE64.exec(value);
  if (m === null) return undefined;
  const digits = m[1]!;
  const pad = m[2]!.length;
  const rem = digits.length % 4;
  if (rem === 1) return undefined;
  if (pad > 0 && (digits.length + pad) % 4 !== 0) return undefined;
  const bytes = Buffer.from(digits, 'base64');
  // Canonical form only: re-encoding must give back the same digits (catches non-zero trailing bits).
  if (bytes.toString('base64').replace(/=+$/, '') !== digits) return undefined;
  return bytes;
}

/** Implicit decoded length of a hex or base64 constant (RFC 7143 §6.1), or undefined for other text. */
export function binaryByteLength(value: string): number | undefined {
  const hex = HEX.exec(value);
  if (hex !== null) return Math.ceil(hex[1]!.length / 2);
  const b64 = BASE64.exec(value);
  if (b64 !== null) return Math.floor((b64[1]!.length * 3) / 4);
  return undefined;
}

function bytesToBigInt(b: Buffer): bigint {
  return b.length === 0 ? 0n : BigInt(`0x${b.toString('hex')}`);
}

/** A numerical-value (RFC 7143 §6.1): a decimal or hex constant below 2^64. */
export function decodeNumericValue(value: string): bigint | undefined {
  const dec = decodeDecimalConstant(value);
  if (dec !== undefined) return dec;
  const hex = HEX.exec(value);
  if (hex === null) return undefined;
  const n = BigInt(`0x${hex[1]!}`);
  return n < TWO_64 ? n : undefined;
}

/**
 * A regular-binary-value read as an unsigned number (RFC 7143 §6.1): decimal, hex or base64, at most
 * 64 bits. Used for keys typed as binary numbers, such as TargetPortalGroupTag (§13.9).
 */
export function decodeRegularBinaryNumber(value: string): bigint | undefined {
  const n = decodeNumericValue(value);
  if (n !== undefined) return n;
  const b = decodeBase64Constant(value);
  if (b === undefined || b.length > 8) return undefined;
  return bytesToBigInt(b);
}

/**
 * A binary-value as bytes (RFC 7143 §6.1): a hex or base64 constant (a large-binary-value cannot be a
 * decimal). Returns undefined for anything else, or when longer than `maxBytes`, or empty.
 */
export function decodeBinaryValue(value: string, maxBytes = AUTH_BINARY_MAX_BYTES): Buffer | undefined {
  const n = binaryByteLength(value);
  if (n === undefined || n > maxBytes) return undefined;
  const b = decodeHexConstant(value) ?? decodeBase64Constant(value);
  return b !== undefined && b.length > 0 ? b : undefined;
}

/** Options for {@link parseNumericValue}. */
export interface ParseNumberOptions {
  /** Smallest admissible value (default 0). */
  min?: number;
  /** Largest admissible value (default Number.MAX_SAFE_INTEGER). */
  max?: number;
  /** `'numerical'` (decimal, hex: §6.1 numerical-value) or `'binary'` (adds base64: regular-binary-value). */
  encoding?: 'numerical' | 'binary';
  /** The key, for the error message. */
  key?: string;
  /** Who sent it; decides the error's action. Default `'login-request'`. */
  source?: TextSource;
}

/**
 * Parse a numeric value and check its range.
 * @throws TextFormatError `ERR_TEXT_VALUE_INVALID` (not a §6.1 encoding) or `ERR_TEXT_VALUE_OUT_OF_RANGE`.
 */
export function parseNumericValue(value: string, options: ParseNumberOptions = {}): number {
  const { min = 0, max = Number.MAX_SAFE_INTEGER, encoding = 'numerical', key, source = 'login-request' } = options;
  const what = key === undefined ? JSON.stringify(value) : `${key}=${value}`;
  const n = encoding === 'binary' ? decodeRegularBinaryNumber(value) : decodeNumericValue(value);
  if (n === undefined) {
    throw new TextFormatError('ERR_TEXT_VALUE_INVALID', `${what} is not a ${encoding === 'binary' ? 'binary' : 'numerical'} value`, source, 'RFC 7143 §6.1', key);
  }
  if (n < BigInt(min) || n > BigInt(max)) {
    throw new TextFormatError('ERR_TEXT_VALUE_OUT_OF_RANGE', `${what} is outside ${min} to ${max}`, source, 'RFC 7143 §6.1', key);
  }
  return Number(n);
}

/** Like {@link parseNumericValue} but answers undefined instead of throwing (for "answer Reject" paths). */
export function tryParseNumericValue(value: string, min: number, max: number, encoding: 'numerical' | 'binary' = 'numerical'): number | undefined {
  const n = encoding === 'binary' ? decodeRegularBinaryNumber(value) : decodeNumericValue(value);
  if (n === undefined || n < BigInt(min) || n > BigInt(max)) return undefined;
  return Number(n);
}

/** Encode bytes as a hex-constant, "0x" and lower-case digits (what libiscsi and LIO expect for CHAP). */
export function encodeHexConstant(bytes: Uint8Array): string {
  return `0x${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')}`;
}

/** Encode bytes as a base64-constant, "0b" and RFC 4648 base64 with padding. */
export function encodeBase64Constant(bytes: Uint8Array): string {
  return `0b${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')}`;
}

/** Encode a non-negative integer as a decimal-constant. */
export function encodeNumericValue(n: number | bigint): string {
  if (typeof n === 'number' && (!Number.isSafeInteger(n) || n < 0)) throw new RangeError(`not a non-negative safe integer: ${n}`);
  if (typeof n === 'bigint' && (n < 0n || n >= TWO_64)) throw new RangeError(`numerical values are below 2^64 (RFC 7143 §6.1): ${n}`);
  return n.toString(10);
}
