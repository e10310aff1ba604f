// The framer: a state machine fed TCP bytes in any chunking (down to one byte at a time) that emits
// whole PDUs (BHS, AHS, data segment) with digests checked. It never owns a socket. It keeps the
// received chunks in a list and slices only what a PDU needs, copying only a part that straddles chunks.

import { DigestError, IscsiProtocolError } from '../errors.js';
import { BHS_LENGTH, DIGEST_LENGTH, MAX_DATA_SEGMENT_LENGTH, RejectReason } from './constants.js';
import { crc32c } from './crc32c.js';
import { pad4 } from './bhs.js';

/** One PDU as it came off the wire, not yet decoded. */
export interface Frame {
  /** The 48-byte BHS. */
  bhs: Buffer;
  /** The AHS bytes, or null when TotalAHSLength is 0. */
  ahs: Buffer | null;
  /** The data segment without padding or digest. */
  data: Buffer;
  /** Bytes this PDU took on the wire (header, AHS, digests, data, padding). */
  wireLength: number;
}

/** Limits and digests of a {@link Framer}. */
export interface FramerOptions {
  /**
   * Our MaxRecvDataSegmentLength (RFC 7143 §13.12): a longer data segment is refused. The login phase
   * uses the default of 8192 (RFC 7143 §13.12).
   */
  maxRecvDataSegmentLength?: number;
  /** Largest AHS accepted, in bytes (the field allows 1020). */
  maxAhsLength?: number;
  headerDigest?: boolean;
  dataDigest?: boolean;
}

/** Where a {@link Framer} delivers what it frames. */
export interface FrameSink {
  onFrame(frame: Frame): void;
  /**
   * A PDU was refused. With action 'reject' the framer has skipped that PDU and goes on with the next;
   * with 'drop' the stream is lost and the framer accepts no more input.
   */
  onError(error: IscsiProtocolError): void;
}

type State = 'bhs' | 'header-rest' | 'data' | 'skip' | 'failed';

/** MaxRecvDataSegmentLength in force until one is declared (RFC 7143 §13.12 default). */
export const DEFAULT_MAX_RECV_DATA_SEGMENT_LENGTH = 8192;
/** Largest AHS accepted by default, in bytes; TotalAHSLength allows up to 1020 (RFC 7143 §11.2.1.4). */
export const DEFAULT_MAX_AHS_LENGTH = 512;

/** Cuts a TCP byte stream into PDUs (see the top of this file); feed it with `push`. */
export class Framer {
  #chunks: Buffer[] = [];
  #head = 0; // index of the first unconsumed chunk
  #offset = 0; // offset into #chunks[#head]
  #available = 0;
  #state: State = 'bhs';
  #bhs: Buffer = Buffer.alloc(0);
  #ahs: Buffer | null = null;
  #need = BHS_LENGTH;
  #dsl = 0;
  #skipLeft = 0;
  #paused = false;
  #inPush = false;
  #maxRecv: number;
  #maxAhs: number;
  #headerDigest: boolean;
  #dataDigest: boolean;
  readonly #sink: FrameSink;

  constructor(sink: FrameSink, options: FramerOptions = {}) {
    this.#sink = sink;
    this.#maxRecv = options.maxRecvDataSegmentLength ?? DEFAULT_MAX_RECV_DATA_SEGMENT_LENGTH;
    this.#maxAhs = options.maxAhsLength ?? DEFAULT_MAX_AHS_LENGTH;
    this.#headerDigest = options.headerDigest ?? false;
    this.#dataDigest = options.dataDigest ?? false;
    checkLimit(this.#maxRecv);
  }

  /**
   * Switches digests on or off. Takes effect from the next PDU whose header has not been read yet,
   * so a caller may switch inside onFrame for the PDU that ends login (RFC 7143 §13.1).
   */
  setDigests(headerDigest: boolean, dataDigest: boolean): void {
    this.#headerDigest = headerDigest;
    this.#dataDigest = dataDigest;
  }

  /** Changes the largest data segment accepted, from the next PDU on. */
  setMaxRecvDataSegmentLength(n: number): void {
    checkLimit(n);
    this.#maxRecv = n;
  }

  get maxRecvDataSegmentLength(): number {
    return this.#maxRecv;
  }

  /** Bytes received and not yet consumed (bounded by one PDU plus one TCP chunk). */
  get buffered(): number {
    return this.#available;
  }

  get failed(): boolean {
    return this.#state === 'failed';
  }

  /** Stops delivering frames until resume(); bytes pushed meanwhile are kept. */
  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    if (!this.#inPush) this.#run();
  }

  get paused(): boolean {
    return this.#paused;
  }

  /** Feeds bytes from the stream. Frames and errors are delivered synchronously to the sink. */
  push(chunk: Buffer): void {
    if (this.#state === 'failed' || chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#available += chunk.length;
    if (!this.#paused && !this.#inPush) this.#run();
  }

  #run(): void {
    this.#inPush = true;
    try {
      while (!this.#paused && this.#state !== 'failed') {
        if (this.#state === 'skip') {
          const n = Math.min(this.#skipLeft, this.#available);
          this.#discard(n);
          this.#skipLeft -= n;
          if (this.#skipLeft > 0) break;
          this.#state = 'bhs';
          this.#need = BHS_LENGTH;
          continue;
        }
        if (this.#available < this.#need) break;
        switch (this.#state) {
          case 'bhs':
            this.#onBhs(this.#take(BHS_LENGTH));
            break;
          case 'header-rest':
            this.#onHeaderRest(this.#take(this.#need));
            break;
          case 'data':
            this.#onData(this.#take(this.#need));
            break;
        }
      }
    } finally {
      this.#inPush = false;
    }
    this.#compact();
  }

  #onBhs(bhs: Buffer): void {
    this.#bhs = bhs;
    this.#ahs = null;
    const ahsLen = bhs[4]! * 4;
    this.#dsl = (bhs[5]! << 16) | (bhs[6]! << 8) | bhs[7]!;
    const rest = ahsLen + (this.#headerDigest ? DIGEST_LENGTH : 0);
    if (rest === 0) {
      this.#afterHeader();
    } else {
      this.#state = 'header-rest';
      this.#need = rest;
    }
  }

  #onHeaderRest(rest: Buffer): void {
    const ahsLen = this.#bhs[4]! * 4;
    if (this.#headerDigest) {
      let crc = crc32c(this.#bhs);
      if (ahsLen > 0) crc = crc32c(rest, crc, 0, ahsLen);
      const got = rest.readUInt32LE(ahsLen);
      if (got !== crc) {
        this.#fail(new DigestError('header', crc, got, copyHeader(this.#bhs)));
        return;
      }
    }
    if (ahsLen > 0) this.#ahs = rest.subarray(0, ahsLen);
    this.#afterHeader();
  }

  // The header is trusted from here (digest checked): apply the limits before buffering any payload.
  #afterHeader(): void {
    const ahsLen = this.#bhs[4]! * 4;
    const padded = this.#dsl + pad4(this.#dsl) + (this.#dsl > 0 && this.#dataDigest ? DIGEST_LENGTH : 0);
    if (ahsLen > this.#maxAhs) {
      this.#refuseAndSkip(
        new IscsiProtocolError('ERR_AHS_TOO_LONG', `AHS of ${ahsLen} bytes exceeds the limit of ${this.#maxAhs}`, {
          rule: 'RFC 7143 §11.2.1.4',
          action: 'reject',
          rejectReason: RejectReason.ProtocolError,
          header: copyHeader(this.#bhs),
        }),
        padded,
      );
      return;
    }
    if (this.#dsl > this.#maxRecv) {
      this.#refuseAndSkip(
        new IscsiProtocolError(
          'ERR_DATA_SEGMENT_TOO_LONG',
          `DataSegmentLength ${this.#dsl} exceeds MaxRecvDataSegmentLength ${this.#maxRecv}`,
          { rule: 'RFC 7143 §13.12', action: 'reject', rejectReason: RejectReason.ProtocolError, header: copyHeader(this.#bhs) },
        ),
        padded,
      );
      return;
    }
    if (this.#dsl === 0) {
      this.#emit(EMPTY_DATA, BHS_LENGTH + ahsLen + (this.#headerDigest ? DIGEST_LENGTH : 0));
      return;
    }
    this.#state = 'data';
    this.#need = padded;
  }

  #onData(seg: Buffer): void {
    const dsl = this.#dsl;
    const padded = dsl + pad4(dsl);
    if (this.#dataDigest) {
      const crc = crc32c(seg, 0, 0, padded);
      const got = seg.readUInt32LE(padded);
      if (got !== crc) {
        // The framing is intact (the header was trusted), so only this PDU is lost.
        this.#state = 'bhs';
        this.#need = BHS_LENGTH;
        this.#sink.onError(new DigestError('data', crc, got, copyHeader(this.#bhs)));
        return;
      }
    }
    const ahsLen = this.#bhs[4]! * 4;
    this.#emit(seg.subarray(0, dsl), BHS_LENGTH + ahsLen + (this.#headerDigest ? DIGEST_LENGTH : 0) + seg.length);
  }

  #emit(data: Buffer, wireLength: number): void {
    this.#state = 'bhs';
    this.#need = BHS_LENGTH;
    this.#sink.onFrame({ bhs: this.#bhs, ahs: this.#ahs, data, wireLength });
  }

  #refuseAndSkip(err: IscsiProtocolError, skip: number): void {
    this.#state = 'skip';
    this.#skipLeft = skip;
    this.#sink.onError(err);
  }

  #fail(err: IscsiProtocolError): void {
    this.#state = 'failed';
    this.#chunks = [];
    this.#head = 0;
    this.#offset = 0;
    this.#available = 0;
    this.#sink.onError(err);
  }

  /** Takes n contiguous bytes: a view when they sit in one chunk, else a copy. */
  #take(n: number): Buffer {
    const first = this.#chunks[this.#head]!;
    const inFirst = first.length - this.#offset;
    let out: Buffer;
    if (inFirst >= n) {
      out = first.subarray(this.#offset, this.#offset + n);
      this.#offset += n;
      if (this.#offset === first.length) {
        this.#head++;
        this.#offset = 0;
      }
    } else {
      out = Buffer.allocUnsafe(n);
      let filled = 0;
      while (filled < n) {
        const c = this.#chunks[this.#head]!;
        const k = Math.min(c.length - this.#offset, n - filled);
        c.copy(out, filled, this.#offset, this.#offset + k);
        filled += k;
        this.#offset += k;
        if (this.#offset === c.length) {
          this.#head++;
          this.#offset = 0;
        }
      }
    }
    this.#available -= n;
    return out;
  }

  #discard(n: number): void {
    this.#available -= n;
    while (n > 0) {
      const c = this.#chunks[this.#head]!;
      const k = Math.min(c.length - this.#offset, n);
      n -= k;
      this.#offset += k;
      if (this.#offset === c.length) {
        this.#head++;
        this.#offset = 0;
      }
    }
  }

  #compact(): void {
    if (this.#head === 0) return;
    if (this.#head >= this.#chunks.length) {
      this.#chunks = [];
    } else {
      this.#chunks = this.#chunks.slice(this.#head);
    }
    this.#head = 0;
  }
}

const EMPTY_DATA: Buffer = Buffer.alloc(0);

function copyHeader(bhs: Buffer): Buffer {
  return Buffer.from(bhs.subarray(0, BHS_LENGTH));
}

function checkLimit(n: number): void {
  // RFC 7143 §13.12: MaxRecvDataSegmentLength is 512 to 2^24-1.
  if (!Number.isInteger(n) || n < 512 || n > MAX_DATA_SEGMENT_LENGTH) {
    throw new RangeError(`MaxRecvDataSegmentLength ${n} is outside 512..16777215`);
  }
}
