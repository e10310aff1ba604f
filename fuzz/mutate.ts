// Input generators and mutators for the fuzzer: PDUs generated from scratch, PDUs from real captures
// with their fields mutated, CDBs, Data-Out sequences. A seeded PRNG makes every case reproducible.

import { BHS_LENGTH } from '../src/pdu/constants.js';

/** xorshift128+ as 4 uint32s: fast, seedable, good enough for fuzzing. */
export class Rng {
  #s0: number;
  #s1: number;
  #s2: number;
  #s3: number;
  constructor(seed: number) {
    this.#s0 = seed ^ 0x9e3779b9;
    this.#s1 = Math.imul(seed, 0x85ebca6b) ^ 0xc2b2ae35;
    this.#s2 = Math.imul(seed ^ 0x27d4eb2f, 0x165667b1);
    this.#s3 = 0x1b873593 ^ seed;
    for (let i = 0; i < 16; i++) this.u32();
  }
  u32(): number {
    // xoshiro128** (public domain algorithm by Blackman and Vigna).
    const r = Math.imul(rotl(Math.imul(this.#s1, 5), 7), 9) >>> 0;
    const t = this.#s1 << 9;
    this.#s2 ^= this.#s0;
    this.#s3 ^= this.#s1;
    this.#s1 ^= this.#s2;
    this.#s0 ^= this.#s3;
    this.#s2 ^= t;
    this.#s3 = rotl(this.#s3, 11);
    return r;
  }
  int(n: number): number {
    return n <= 0 ? 0 : this.u32() % n;
  }
  bool(p = 0.5): boolean {
    return this.u32() / 0x100000000 < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.u32() & 0xff;
    return b;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** Interesting values for 8/16/32-bit fields: boundaries and off-by-ones. */
const INTERESTING32 = [0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x1ff, 0x200, 0x1000, 0xffff, 0x10000, 0xffffff, 0x1000000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

/** Mutates one PDU's bytes (BHS and data) in place-safe fashion, returning a new buffer. */
export function mutatePdu(rng: Rng, pdu: Buffer): Buffer {
  const b = Buffer.from(pdu);
  const n = 1 + rng.int(4);
  for (let i = 0; i < n; i++) {
    switch (rng.int(9)) {
      case 0: {
        // Flip a bit anywhere.
        const at = rng.int(b.length);
        b[at]! ^= 1 << rng.int(8);
        break;
      }
      case 1: {
        // An interesting value in a 32-bit field of the BHS (ITT, TTT, CmdSN, EDTL, DataSN, offset...).
        const at = 4 * (4 + rng.int(8));
        b.writeUInt32BE(rng.pick(INTERESTING32) >>> 0, at);
        break;
      }
      case 2:
        // Another opcode, keeping the rest.
        b[0] = (b[0]! & 0xc0) | rng.int(64);
        break;
      case 3:
        // Flags byte.
        b[1] = rng.u32() & 0xff;
        break;
      case 4:
        // TotalAHSLength.
        b[4] = rng.bool(0.7) ? rng.int(4) : rng.u32() & 0xff;
        break;
      case 5: {
        // DataSegmentLength (the framing still follows the real length: a lie).
        const v = rng.bool(0.5) ? rng.int(b.length) : rng.pick(INTERESTING32) & 0xffffff;
        b.writeUIntBE(v, 5, 3);
        break;
      }
      case 6:
        // LUN.
        b.writeUInt32BE(rng.bool(0.5) ? rng.int(20) << 16 : rng.u32(), 8);
        break;
      case 7:
        // CDB bytes.
        if (b.length >= BHS_LENGTH) b[32 + rng.int(16)] = rng.u32() & 0xff;
        break;
      default:
        // Data segment bytes.
        if (b.length > BHS_LENGTH) b[BHS_LENGTH + rng.int(b.length - BHS_LENGTH)] = rng.u32() & 0xff;
    }
  }
  return b;
}

/** Keeps the framing of a mutated PDU sane: DataSegmentLength matches what follows (so it is parsed). */
export function reframe(b: Buffer): Buffer {
  const ahs = b[4]! * 4;
  const dataLen = Math.max(0, b.length - BHS_LENGTH - ahs);
  const pad = (4 - (dataLen & 3)) & 3;
  const out = Buffer.concat([b, Buffer.alloc(pad)]);
  out.writeUIntBE(Math.min(dataLen, 0xffffff), 5, 3);
  return out;
}

/** Splits a byte stream into PDUs by their header lengths (no digests). */
export function splitPdus(stream: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let off = 0;
  while (off + BHS_LENGTH <= stream.length) {
    const ahs = stream[off + 4]! * 4;
    const dsl = stream.readUIntBE(off + 5, 3);
    const len = BHS_LENGTH + ahs + dsl + ((4 - (dsl & 3)) & 3);
    if (off + len > stream.length) break;
    out.push(stream.subarray(off, off + len));
    off += len;
  }
  return out;
}
