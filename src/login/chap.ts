// CHAP for iSCSI (RFC 1994 as profiled by RFC 7143 §12.1.3), pure: the response hash, challenge generation,
// constant-time verification, and one state machine per side (target: ChapAuthenticator, initiator: ChapClient).

import { createHash, randomBytes as nodeRandomBytes, timingSafeEqual } from 'node:crypto';
import { IscsiProtocolError, TsiscsiError, type ProtocolErrorInit } from '../errors.js';
import { LoginStatus } from '../pdu/constants.js';
import { AUTH_BINARY_MAX_BYTES, decodeBinaryValue, decodeRegularBinaryNumber, encodeHexConstant, type TextPair } from '../pdu/text-keys.js';

/**
 * CHAP algorithm numbers from the IANA "PPP Authentication Algorithms" registry, which RFC 7143 §12.1.3
 * uses for CHAP_A. (tgt historically sent 7 for SHA-1; the registry, and this module, say 7 is SHA-256.)
 */
export const ChapAlgorithm = {
  MD5: 5,
  SHA1: 6,
  SHA256: 7,
  SHA3_256: 8,
} as const;

/** One of the CHAP_A numbers this module implements. */
export type ChapAlgorithmId = (typeof ChapAlgorithm)[keyof typeof ChapAlgorithm];

/** What an algorithm number means. */
export interface ChapAlgorithmInfo {
  readonly id: ChapAlgorithmId;
  readonly name: string;
  /** The node:crypto hash name. */
  readonly hash: string;
  /** Bytes of the digest, hence of CHAP_R. */
  readonly digestLength: number;
}

/** The implemented algorithms by IANA number. */
export const CHAP_ALGORITHMS: ReadonlyMap<ChapAlgorithmId, ChapAlgorithmInfo> = new Map<ChapAlgorithmId, ChapAlgorithmInfo>([
  [5, { id: 5, name: 'MD5', hash: 'md5', digestLength: 16 }],
  [6, { id: 6, name: 'SHA-1', hash: 'sha1', digestLength: 20 }],
  [7, { id: 7, name: 'SHA-256', hash: 'sha256', digestLength: 32 }],
  [8, { id: 8, name: 'SHA3-256', hash: 'sha3-256', digestLength: 32 }],
]);

/**
 * RFC 7143 §12.1.3: a CHAP secret with fewer than 96 random bits is only allowed on a connection
 * protected by IPsec. 12 bytes is the least this module accepts unless told the channel is protected.
 */
export const MIN_CHAP_SECRET_BYTES = 12;

/** RFC 7143 §12.1.3: CHAP_C and CHAP_R are at most 1024 bytes in binary form. */
export const MAX_CHAP_BINARY_BYTES = AUTH_BINARY_MAX_BYTES;

/** RFC 1994 §2.3 asks for a challenge at least as long as the digest; 16 bytes at the least. */
const MIN_GENERATED_CHALLENGE_BYTES = 16;

/** A CHAP secret: a string is used as its UTF-8 bytes, as open-iscsi, libiscsi and LIO do. */
export type ChapSecret = string | Uint8Array;

/** A name and secret used to authenticate one side. */
export interface ChapCredentials {
  /** CHAP_N: the name this side sends. */
  name: string;
  secret: ChapSecret;
}

/** Source of random bytes (injectable so tests are deterministic). */
export type RandomBytes = (size: number) => Buffer;

/** A CHAP exchange failed; carries the login status (or connection drop) RFC 7143 requires. */
export class ChapError extends IscsiProtocolError {
  constructor(code: string, message: string, init: ProtocolErrorInit) {
    super(code, message, init);
    this.name = 'ChapError';
  }
}

/** A CHAP configuration this module refuses (short or shared secrets, unknown algorithms). */
export class ChapConfigError extends TsiscsiError {
  constructor(message: string) {
    super('ERR_CHAP_CONFIG', message);
    this.name = 'ChapConfigError';
  }
}

// Target side: RFC 7143 §12.1.3 "the target MUST answer with a Login reject with the Authentication
// Failure status". Initiator side: "the initiator MUST close the connection".
const targetFails = (rule = 'RFC 7143 §12.1.3'): ProtocolErrorInit => ({ rule, action: 'login-reject', loginStatus: LoginStatus.AuthenticationFailure });
const initiatorFails = (rule = 'RFC 7143 §12.1.3'): ProtocolErrorInit => ({ rule, action: 'drop', loginStatus: LoginStatus.AuthenticationFailure });

function secretBytes(secret: ChapSecret): Buffer {
  return typeof secret === 'string' ? Buffer.from(secret, 'utf8') : Buffer.from(secret.buffer, secret.byteOffset, secret.byteLength);
}

function algorithmInfo(algorithm: number): ChapAlgorithmInfo {
  const info = CHAP_ALGORITHMS.get(algorithm as ChapAlgorithmId);
  if (info === undefined) throw new ChapConfigError(`CHAP algorithm ${algorithm} is not implemented (5 MD5, 6 SHA-1, 7 SHA-256, 8 SHA3-256)`);
  return info;
}

function checkSecret(secret: ChapSecret, what: string, allowShort: boolean): Buffer {
  const b = secretBytes(secret);
  if (b.length === 0) throw new ChapConfigError(`${what} is empty`);
  if (!allowShort && b.length < MIN_CHAP_SECRET_BYTES) {
    throw new ChapConfigError(
      `${what} is ${b.length} bytes; RFC 7143 §12.1.3 requires at least 96 bits (${MIN_CHAP_SECRET_BYTES} bytes) unless the connection is protected (set allowShortSecrets)`,
    );
  }
  return b;
}

function checkAlgorithms(algorithms: readonly number[]): ChapAlgorithmId[] {
  if (algorithms.length === 0) throw new ChapConfigError('no CHAP algorithm configured');
  for (const a of algorithms) algorithmInfo(a);
  return [...new Set(algorithms)] as ChapAlgorithmId[];
}

/**
 * The CHAP response, H(identifier || secret || challenge) (RFC 1994 §4.1; RFC 7143 §12.1.3).
 * @param algorithm IANA CHAP algorithm number (5, 6, 7, 8)
 * @param identifier CHAP_I, 0 to 255
 */
export function chapResponse(algorithm: ChapAlgorithmId, identifier: number, secret: ChapSecret, challenge: Uint8Array): Buffer {
  if (!Number.isInteger(identifier) || identifier < 0 || identifier > 255) throw new RangeError(`CHAP identifier must be 0 to 255, got ${identifier}`);
  return createHash(algorithmInfo(algorithm).hash).update(Uint8Array.of(identifier)).update(secretBytes(secret)).update(challenge).digest();
}

/**
 * Check a CHAP response in constant time: the length is compared first (timingSafeEqual needs equal
 * lengths), then the bytes.
 */
export function verifyChapResponse(algorithm: ChapAlgorithmId, identifier: number, secret: ChapSecret, challenge: Uint8Array, response: Uint8Array): boolean {
  const expected = chapResponse(algorithm, identifier, secret, challenge);
  if (response.length !== expected.length) return false;
  return timingSafeEqual(expected, response);
}

/**
 * A fresh random challenge for `algorithm`: as long as its digest and never under 16 bytes (RFC 1994 §2.3:
 * the challenge should be at least as long as the hash output).
 */
export function createChallenge(algorithm: ChapAlgorithmId, random: RandomBytes = nodeRandomBytes): Buffer {
  const length = Math.max(MIN_GENERATED_CHALLENGE_BYTES, algorithmInfo(algorithm).digestLength);
  const c = random(length);
  if (c.length !== length) throw new RangeError(`random source returned ${c.length} bytes, wanted ${length}`);
  return c;
}

/** Encode CHAP_C/CHAP_R as a hex constant, "0x" and lower-case digits (libiscsi only parses "0x"). */
export function encodeChapBinary(bytes: Uint8Array): string {
  return encodeHexConstant(bytes);
}

/** Parse the CHAP_A list (RFC 7143 §6.2.1: values not understood are ignored). */
export function parseChapAlgorithmList(value: string): number[] {
  const out: number[] = [];
  for (const v of value.split(',')) {
    const n = decodeRegularBinaryNumber(v);
    if (n !== undefined && n <= 255n) out.push(Number(n));
  }
  return out;
}

function one(keys: ReadonlyMap<string, string>, key: string, fail: (msg: string) => ChapError): string {
  const v = keys.get(key);
  if (v === undefined) throw fail(`${key} is missing`);
  return v;
}

function parseIdentifier(value: string, fail: (msg: string) => ChapError): number {
  const n = decodeRegularBinaryNumber(value);
  // RFC 1994 §4.1: the Identifier is one octet.
  if (n === undefined || n > 255n) throw fail(`CHAP_I=${value} is not an identifier from 0 to 255`);
  return Number(n);
}

function parseBinary(key: string, value: string, fail: (msg: string) => ChapError): Buffer {
  const b = decodeBinaryValue(value, MAX_CHAP_BINARY_BYTES);
  if (b === undefined) throw fail(`${key} is not a hex or base64 value of 1 to ${MAX_CHAP_BINARY_BYTES} bytes`);
  return b;
}

function toMap(keys: Iterable<readonly [string, string]> | ReadonlyMap<string, string>): ReadonlyMap<string, string> {
  return keys instanceof Map ? keys : new Map(keys as Iterable<readonly [string, string]>);
}

/** Options of {@link ChapAuthenticator}. */
export interface ChapAuthenticatorOptions {
  /** Initiator secret by the CHAP_N it sent, or undefined for an unknown name. */
  lookup: (name: string) => ChapSecret | undefined;
  /** Algorithms the target accepts (which one is used follows the initiator's order). Default all four. */
  algorithms?: readonly ChapAlgorithmId[];
  /** The target's own name and secret, used when the initiator asks to authenticate the target. */
  mutual?: ChapCredentials;
  /** Refuse initiators that do not ask for mutual authentication. */
  requireMutual?: boolean;
  /** Accept secrets under 96 bits (only on IPsec-protected connections, RFC 7143 §12.1.3). */
  allowShortSecrets?: boolean;
  /** Random source for identifiers and challenges; default crypto.randomBytes. */
  randomBytes?: RandomBytes;
}

/** Progress of a CHAP exchange. */
export type ChapState = 'initial' | 'challenged' | 'authenticated';

/**
 * The target side of CHAP (RFC 7143 §12.1.3):
 * 1. `selectAlgorithm(CHAP_A list)` answers CHAP_A (the first of the initiator's list it supports),
 *    CHAP_I and CHAP_C;
 * 2. `verify({CHAP_N, CHAP_R[, CHAP_I, CHAP_C]})` checks the initiator and, for mutual CHAP, answers the
 *    target's CHAP_N and CHAP_R.
 * Failures throw {@link ChapError} carrying Login status 0x0201 (authentication failure).
 */
export class ChapAuthenticator {
  readonly #lookup: (name: string) => ChapSecret | undefined;
  readonly #algorithms: ChapAlgorithmId[];
  readonly #mutual: { name: string; secret: Buffer } | undefined;
  readonly #requireMutual: boolean;
  readonly #allowShort: boolean;
  readonly #random: RandomBytes;
  #state: ChapState = 'initial';
  #algorithm: ChapAlgorithmId | undefined;
  #identifier = 0;
  #challenge: Buffer | undefined;
  #name: string | undefined;
  #mutualDone = false;

  constructor(options: ChapAuthenticatorOptions) {
    this.#lookup = options.lookup;
    this.#algorithms = checkAlgorithms(options.algorithms ?? [ChapAlgorithm.SHA256, ChapAlgorithm.SHA3_256, ChapAlgorithm.SHA1, ChapAlgorithm.MD5]);
    this.#allowShort = options.allowShortSecrets === true;
    if (options.mutual !== undefined) {
      this.#mutual = { name: options.mutual.name, secret: checkSecret(options.mutual.secret, 'the target CHAP secret', this.#allowShort) };
    }
    this.#requireMutual = options.requireMutual === true;
    if (this.#requireMutual && this.#mutual === undefined) throw new ChapConfigError('requireMutual needs the target credentials (mutual)');
    this.#random = options.randomBytes ?? nodeRandomBytes;
  }

  /** Where the exchange is. */
  get state(): ChapState {
    return this.#state;
  }

  /** The algorithm chosen from the initiator's CHAP_A list. */
  get algorithm(): ChapAlgorithmId | undefined {
    return this.#algorithm;
  }

  /** The CHAP_N the initiator authenticated as. */
  get authenticatedName(): string | undefined {
    return this.#state === 'authenticated' ? this.#name : undefined;
  }

  /** True when the target also proved itself to the initiator. */
  get mutual(): boolean {
    return this.#mutualDone;
  }

  /**
   * Step 1: the initiator's CHAP_A=<A1,A2,...>. Answers CHAP_A=<A>, CHAP_I=<I>, CHAP_C=<C>.
   * @throws ChapError when no offered algorithm is supported (Login reject 0x0201, RFC 7143 §12.1.3).
   */
  selectAlgorithm(chapA: string): TextPair[] {
    if (this.#state !== 'initial') throw new ChapError('ERR_CHAP_SEQUENCE', 'CHAP_A received twice', targetFails());
    // List negotiation (RFC 7143 §6.2.1): the first value of the offerer's list that we support.
    const chosen = parseChapAlgorithmList(chapA).find((a) => this.#algorithms.includes(a as ChapAlgorithmId));
    if (chosen === undefined) {
      throw new ChapError('ERR_CHAP_ALGORITHM', `none of CHAP_A=${chapA} is supported (we accept ${this.#algorithms.join(',')})`, targetFails());
    }
    this.#algorithm = chosen as ChapAlgorithmId;
    this.#identifier = this.#random(1)[0]!;
    this.#challenge = createChallenge(this.#algorithm, this.#random);
    this.#state = 'challenged';
    return [
      ['CHAP_A', String(chosen)],
      ['CHAP_I', String(this.#identifier)],
      ['CHAP_C', encodeChapBinary(this.#challenge)],
    ];
  }

  /**
   * Step 2: the initiator's CHAP_N and CHAP_R, with CHAP_I and CHAP_C when it wants the target
   * authenticated too. Returns [] or, for mutual CHAP, the target's CHAP_N and CHAP_R.
   * @throws ChapError on a wrong response or an unknown name (Login reject 0x0201); a reflected challenge
   * makes the target close the connection (action 'drop', RFC 7143 §12.1.3).
   */
  verify(keys: Iterable<readonly [string, string]> | ReadonlyMap<string, string>): TextPair[] {
    const fail = (msg: string, code = 'ERR_CHAP_AUTH'): ChapError => new ChapError(code, msg, targetFails());
    if (this.#state !== 'challenged') throw fail(`CHAP_N/CHAP_R received in state ${this.#state}`, 'ERR_CHAP_SEQUENCE');
    const map = toMap(keys);
    const name = one(map, 'CHAP_N', fail);
    const response = parseBinary('CHAP_R', one(map, 'CHAP_R', fail), fail);
    const secretValue = this.#lookup(name);
    if (secretValue === undefined) throw fail(`unknown CHAP name ${JSON.stringify(name)}`);
    const secret = secretBytes(secretValue);
    if (secret.length === 0 || (!this.#allowShort && secret.length < MIN_CHAP_SECRET_BYTES)) {
      throw fail(`the configured secret for ${JSON.stringify(name)} is under 96 bits (RFC 7143 §12.1.3)`, 'ERR_CHAP_SECRET_TOO_SHORT');
    }
    if (this.#mutual !== undefined && secret.equals(this.#mutual.secret)) {
      // RFC 7143 §12.1.3: a secret used to authenticate initiators MUST NOT also authenticate targets.
      throw fail(`the secret for ${JSON.stringify(name)} equals the target's own CHAP secret`, 'ERR_CHAP_SHARED_SECRET');
    }
    if (!verifyChapResponse(this.#algorithm!, this.#identifier, secret, this.#challenge!, response)) {
      throw fail(`CHAP_R for ${JSON.stringify(name)} does not match`);
    }
    this.#name = name;
    const hasI = map.has('CHAP_I');
    const hasC = map.has('CHAP_C');
    if (!hasI && !hasC) {
      if (this.#requireMutual) throw fail('the initiator did not ask to authenticate the target, and this target requires mutual CHAP');
      this.#state = 'authenticated';
      return [];
    }
    if (!hasI || !hasC) throw fail('mutual CHAP needs both CHAP_I and CHAP_C');
    if (this.#mutual === undefined) throw fail('the initiator asked to authenticate the target, which has no CHAP credentials');
    const id = parseIdentifier(map.get('CHAP_I')!, fail);
    const challenge = parseBinary('CHAP_C', map.get('CHAP_C')!, fail);
    if (challenge.equals(this.#challenge!)) {
      // RFC 7143 §12.1.3: originators MUST NOT reuse the responder's challenge; responders MUST check this
      // and close the connection (a reflection attack would make us answer our own challenge).
      throw new ChapError('ERR_CHAP_REFLECTED', 'the initiator sent back the challenge this target sent', { rule: 'RFC 7143 §12.1.3', action: 'drop', loginStatus: LoginStatus.AuthenticationFailure });
    }
    this.#state = 'authenticated';
    this.#mutualDone = true;
    return [
      ['CHAP_N', this.#mutual.name],
      ['CHAP_R', encodeChapBinary(chapResponse(this.#algorithm!, id, this.#mutual.secret, challenge))],
    ];
  }
}

/** Options of {@link ChapClient}. */
export interface ChapClientOptions extends ChapCredentials {
  /** CHAP_A offer, in order of preference. Default SHA-256, SHA-1, MD5 (MD5 MUST be offered, §12.1.3). */
  algorithms?: readonly ChapAlgorithmId[];
  /**
   * Authenticate the target too: its secret, and the CHAP_N it must answer with (if set, checked).
   */
  mutual?: { name?: string; secret: ChapSecret };
  /** Accept secrets under 96 bits (only on IPsec-protected connections, RFC 7143 §12.1.3). */
  allowShortSecrets?: boolean;
  /** Random source for the mutual identifier and challenge; default crypto.randomBytes. */
  randomBytes?: RandomBytes;
}

/**
 * The initiator side of CHAP (RFC 7143 §12.1.3):
 * 1. `offer()` gives CHAP_A=<A1,A2,...>;
 * 2. `respond({CHAP_A, CHAP_I, CHAP_C})` answers CHAP_N and CHAP_R (and CHAP_I, CHAP_C for mutual);
 * 3. for mutual CHAP, `verifyTarget({CHAP_N, CHAP_R})`.
 * Failures throw {@link ChapError} with action 'drop': the initiator closes the connection.
 */
export class ChapClient {
  readonly #name: string;
  readonly #secret: Buffer;
  readonly #algorithms: ChapAlgorithmId[];
  readonly #mutual: { name: string | undefined; secret: Buffer } | undefined;
  readonly #random: RandomBytes;
  #state: 'initial' | 'offered' | 'responded' | 'authenticated' = 'initial';
  #algorithm: ChapAlgorithmId | undefined;
  #identifier = 0;
  #challenge: Buffer | undefined;

  constructor(options: ChapClientOptions) {
    const allowShort = options.allowShortSecrets === true;
    this.#name = options.name;
    this.#secret = checkSecret(options.secret, 'the initiator CHAP secret', allowShort);
    this.#algorithms = checkAlgorithms(options.algorithms ?? [ChapAlgorithm.SHA256, ChapAlgorithm.SHA1, ChapAlgorithm.MD5]);
    if (options.mutual !== undefined) {
      const secret = checkSecret(options.mutual.secret, 'the target CHAP secret', allowShort);
      // RFC 7143 §12.1.3: the initiator's secret MUST NOT be the one used to authenticate targets.
      if (secret.equals(this.#secret)) throw new ChapConfigError('the target CHAP secret must differ from the initiator CHAP secret (RFC 7143 §12.1.3)');
      this.#mutual = { name: options.mutual.name, secret };
    }
    this.#random = options.randomBytes ?? nodeRandomBytes;
  }

  /** True when the target is to be authenticated too. */
  get mutual(): boolean {
    return this.#mutual !== undefined;
  }

  /** The algorithm the target chose. */
  get algorithm(): ChapAlgorithmId | undefined {
    return this.#algorithm;
  }

  /** True once the exchange is complete (for mutual CHAP: after the target's response checked out). */
  get authenticated(): boolean {
    return this.#state === 'authenticated';
  }

  /** Step 1: CHAP_A with the algorithms in order of preference. */
  offer(): TextPair[] {
    this.#state = 'offered';
    return [['CHAP_A', this.#algorithms.join(',')]];
  }

  /**
   * Step 2: the target's CHAP_A, CHAP_I, CHAP_C. Answers CHAP_N, CHAP_R, plus CHAP_I and CHAP_C when
   * the target is to be authenticated.
   */
  respond(keys: Iterable<readonly [string, string]> | ReadonlyMap<string, string>): TextPair[] {
    const fail = (msg: string, code = 'ERR_CHAP_AUTH'): ChapError => new ChapError(code, msg, initiatorFails());
    if (this.#state !== 'offered') throw fail(`CHAP challenge received in state ${this.#state}`, 'ERR_CHAP_SEQUENCE');
    const map = toMap(keys);
    const a = one(map, 'CHAP_A', fail);
    // The answer must be a single value from our list (RFC 7143 §6.2.1: anything else is a protocol error).
    const chosen = a.includes(',') ? [] : parseChapAlgorithmList(a);
    if (chosen.length !== 1 || !this.#algorithms.includes(chosen[0] as ChapAlgorithmId)) {
      throw fail(`the target answered CHAP_A=${a}, not one of ${this.#algorithms.join(',')}`, 'ERR_CHAP_ALGORITHM');
    }
    this.#algorithm = chosen[0] as ChapAlgorithmId;
    const id = parseIdentifier(one(map, 'CHAP_I', fail), fail);
    const challenge = parseBinary('CHAP_C', one(map, 'CHAP_C', fail), fail);
    const out: TextPair[] = [
      ['CHAP_N', this.#name],
      ['CHAP_R', encodeChapBinary(chapResponse(this.#algorithm, id, this.#secret, challenge))],
    ];
    if (this.#mutual === undefined) {
      this.#state = 'authenticated';
      return out;
    }
    this.#identifier = this.#random(1)[0]!;
    let mine = createChallenge(this.#algorithm, this.#random);
    // RFC 7143 §12.1.3: never reuse the responder's challenge for the other direction.
    while (mine.equals(challenge)) mine = createChallenge(this.#algorithm, this.#random);
    this.#challenge = mine;
    this.#state = 'responded';
    out.push(['CHAP_I', String(this.#identifier)], ['CHAP_C', encodeChapBinary(mine)]);
    return out;
  }

  /** Step 3 (mutual CHAP): the target's CHAP_N and CHAP_R. */
  verifyTarget(keys: Iterable<readonly [string, string]> | ReadonlyMap<string, string>): void {
    const fail = (msg: string, code = 'ERR_CHAP_AUTH'): ChapError => new ChapError(code, msg, initiatorFails());
    if (this.#state !== 'responded' || this.#mutual === undefined) throw fail(`target CHAP response received in state ${this.#state}`, 'ERR_CHAP_SEQUENCE');
    const map = toMap(keys);
    const name = one(map, 'CHAP_N', fail);
    const response = parseBinary('CHAP_R', one(map, 'CHAP_R', fail), fail);
    if (this.#mutual.name !== undefined && name !== this.#mutual.name) {
      throw fail(`the target answered CHAP_N=${JSON.stringify(name)}, expected ${JSON.stringify(this.#mutual.name)}`);
    }
    if (!verifyChapResponse(this.#algorithm!, this.#identifier, this.#mutual.secret, this.#challenge!, response)) {
      throw fail('the target CHAP_R does not match: the target is not who it claims to be');
    }
    this.#state = 'authenticated';
  }
}
