// The NBD transmission phase on the wire: request headers, and the reply stream parsed by a small
// state machine fed socket chunks in any chunking (proto.md "Transmission phase"). A READ's data is
// copied from the chunk straight into the caller's buffer, never gathered first; a reply whose request
// was abandoned (aborted) is read and dropped. Every length is checked against the request or a fixed
// bound before a byte of its payload is taken.

import {
  NBD_CMD,
  NBD_MAX_STRING,
  NBD_REPLY_FLAG_DONE,
  NBD_REPLY_TYPE,
  NBD_REPLY_TYPE_ERROR_BIT,
  NBD_REQUEST_LENGTH,
  NBD_REQUEST_MAGIC,
  NBD_SIMPLE_REPLY_LENGTH,
  NBD_SIMPLE_REPLY_MAGIC,
  NBD_STRUCTURED_REPLY_LENGTH,
  NBD_STRUCTURED_REPLY_MAGIC,
} from './constants.js';
import { NbdProtocolError } from './errors.js';

const TWO_32 = 0x100000000;

/**
 * Writes a request header at `at` (proto.md "Request message"): magic, command flags, type, the
 * 64-bit cookie as two 32-bit halves, the offset (below 2^53) and the length.
 */
export function encodeRequest(b: Buffer, at: number, flags: number, type: number, cookieHi: number, cookieLo: number, offset: number, length: number): void {
  b.writeUInt32BE(NBD_REQUEST_MAGIC, at);
  b.writeUInt16BE(flags, at + 4);
  b.writeUInt16BE(type, at + 6);
  b.writeUInt32BE(cookieHi, at + 8);
  b.writeUInt32BE(cookieLo, at + 12);
  b.writeUInt32BE(Math.floor(offset / TWO_32), at + 16);
  b.writeUInt32BE(offset >>> 0, at + 20);
  b.writeUInt32BE(length, at + 24);
}

/** A request header in a fresh buffer (tests, and the rare request without a hot path). */
export function requestHeader(flags: number, type: number, cookieHi: number, cookieLo: number, offset: number, length: number): Buffer {
  const b = Buffer.allocUnsafe(NBD_REQUEST_LENGTH);
  encodeRequest(b, 0, flags, type, cookieHi, cookieLo, offset, length);
  return b;
}

/** The request a reply answers, as the parser needs it. */
export interface ReplyTarget {
  /** NBD_CMD_* of the request. */
  readonly type: number;
  /** Export offset and length of the request. */
  readonly offset: number;
  readonly length: number;
  /** Where a READ's data goes (from `intoOffset`); null once the request was abandoned: data is dropped. */
  into: Buffer | null;
  readonly intoOffset: number;
  /** Bytes of a READ the structured reply has covered so far (data and holes). */
  covered: number;
  /** The first error a structured reply reported (0: none) and its message. */
  replyError: number;
  replyMessage: string;
}

/** Where the parser delivers what it parsed. */
export interface ReplySink<T extends ReplyTarget> {
  /** The outstanding request with this cookie, or undefined (the reply is then a protocol error). */
  lookup(cookieHi: number, cookieLo: number): T | undefined;
  /** The last reply to `target` arrived: `error` is its NBD error value (0: success). */
  onReply(target: T, error: number, message: string): void;
  /** The stream broke the protocol; the parser takes no more input. */
  onError(error: NbdProtocolError): void;
}

/** Parser states: small integers, so the switch stays a jump table. */
const S = { Header: 0, SimpleData: 1, ChunkOffset: 2, ChunkData: 3, ChunkPayload: 4, Failed: 5 } as const;
type State = (typeof S)[keyof typeof S];

/** The largest non-data chunk payload: an error with the longest message proto.md allows, and its offset. */
const MAX_CHUNK_PAYLOAD = 4 + 2 + NBD_MAX_STRING + 8;

/** The reply stream of one connection. */
export class ReplyParser<T extends ReplyTarget> {
  readonly #sink: ReplySink<T>;
  readonly #header = Buffer.allocUnsafe(NBD_STRUCTURED_REPLY_LENGTH);
  readonly #payload = Buffer.allocUnsafe(MAX_CHUNK_PAYLOAD);
  #state: State = S.Header;
  /** Bytes of the header or payload collected so far, and how many are needed. */
  #have = 0;
  #need = 4;
  #target: T | null = null;
  /** Bytes of data still to come in this reply or chunk, and where the next one goes in the request. */
  #left = 0;
  #pos = 0;
  #chunkFlags = 0;
  #chunkType = 0;
  readonly #structured: boolean;

  /** `structured`: structured replies were negotiated, so the server may send them. */
  constructor(sink: ReplySink<T>, structured: boolean) {
    this.#sink = sink;
    this.#structured = structured;
  }

  get failed(): boolean {
    return this.#state === S.Failed;
  }

  /** Feeds bytes received from the server. Replies and errors are delivered synchronously. */
  push(chunk: Buffer): void {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      switch (this.#state) {
        case S.Header: {
          const take = Math.min(this.#need - this.#have, n - i);
          chunk.copy(this.#header, this.#have, i, i + take);
          this.#have += take;
          i += take;
          if (this.#have < this.#need) break;
          if (this.#need === 4) {
            const magic = this.#header.readUInt32BE(0);
            if (magic === NBD_SIMPLE_REPLY_MAGIC) this.#need = NBD_SIMPLE_REPLY_LENGTH;
            else if (magic === NBD_STRUCTURED_REPLY_MAGIC && this.#structured) this.#need = NBD_STRUCTURED_REPLY_LENGTH;
            else return this.#fail(`reply magic 0x${magic.toString(16)}`, '"Reply message"');
            break;
          }
          if (this.#need === NBD_SIMPLE_REPLY_LENGTH) this.#simpleHeader();
          else this.#chunkHeader();
          break;
        }
        case S.SimpleData:
        case S.ChunkData: {
          const take = Math.min(this.#left, n - i);
          const t = this.#target!;
          if (t.into !== null) chunk.copy(t.into, t.intoOffset + this.#pos, i, i + take);
          this.#pos += take;
          this.#left -= take;
          i += take;
          if (this.#left === 0) {
            if (this.#state === S.SimpleData) this.#finish(t, 0, '');
            else this.#chunkDone(t);
          }
          break;
        }
        case S.ChunkOffset:
        case S.ChunkPayload: {
          const take = Math.min(this.#need - this.#have, n - i);
          chunk.copy(this.#payload, this.#have, i, i + take);
          this.#have += take;
          i += take;
          if (this.#have === this.#need) {
            if (this.#state === S.ChunkOffset) this.#dataOffset();
            else this.#chunkPayload();
          }
          break;
        }
        case S.Failed:
          return;
      }
    }
  }

  #expectHeader(): void {
    this.#state = S.Header;
    this.#have = 0;
    this.#need = 4;
    this.#target = null;
  }

  #fail(what: string, rule: string): void {
    this.#state = S.Failed;
    this.#sink.onError(new NbdProtocolError('ERR_NBD_REPLY', `the server sent ${what}`, rule));
  }

  #lookup(): T | undefined {
    const t = this.#sink.lookup(this.#header.readUInt32BE(8), this.#header.readUInt32BE(12));
    if (t === undefined) {
      const hi = this.#header.readUInt32BE(8).toString(16);
      const lo = this.#header.readUInt32BE(12).toString(16).padStart(8, '0');
      this.#fail(`a reply to cookie 0x${hi}${lo}, which names no request in flight`, '"Reply message"');
    }
    return t;
  }

  #simpleHeader(): void {
    const t = this.#lookup();
    if (t === undefined) return;
    const error = this.#header.readUInt32BE(4);
    // proto.md "Simple reply message": a READ's data follows only when the error is zero. With
    // structured replies agreed, a READ's answer must be structured (its data may be split).
    if (t.type === NBD_CMD.READ && error === 0) {
      if (this.#structured) return this.#fail('a simple reply with data to a READ after structured replies were agreed', '"Structured reply chunk message"');
      this.#target = t;
      this.#left = t.length;
      this.#pos = 0;
      this.#state = S.SimpleData;
      if (t.length === 0) this.#finish(t, 0, '');
      return;
    }
    this.#finish(t, error, '');
  }

  #chunkHeader(): void {
    const t = this.#lookup();
    if (t === undefined) return;
    this.#target = t;
    this.#chunkFlags = this.#header.readUInt16BE(4);
    this.#chunkType = this.#header.readUInt16BE(6);
    const length = this.#header.readUInt32BE(16);
    const type = this.#chunkType;
    this.#have = 0;
    if (type === NBD_REPLY_TYPE.OFFSET_DATA) {
      // proto.md "NBD_REPLY_TYPE_OFFSET_DATA": an offset and at least one byte, only in reply to READ.
      if (t.type !== NBD_CMD.READ || length < 9) return this.#fail(`an OFFSET_DATA chunk of ${length} bytes to command ${t.type}`, '"NBD_REPLY_TYPE_OFFSET_DATA"');
      this.#left = length - 8;
      this.#need = 8;
      this.#state = S.ChunkOffset;
      return;
    }
    if (type === NBD_REPLY_TYPE.NONE) {
      if (length !== 0 || (this.#chunkFlags & NBD_REPLY_FLAG_DONE) === 0) return this.#fail('a NONE chunk with a payload or without DONE', '"NBD_REPLY_TYPE_NONE"');
      this.#chunkDone(t);
      return;
    }
    const isError = (type & NBD_REPLY_TYPE_ERROR_BIT) !== 0;
    if (type === NBD_REPLY_TYPE.OFFSET_HOLE) {
      if (t.type !== NBD_CMD.READ || length !== 12) return this.#fail(`an OFFSET_HOLE chunk of ${length} bytes to command ${t.type}`, '"NBD_REPLY_TYPE_OFFSET_HOLE"');
    } else if (isError) {
      if (length < 6 || length > MAX_CHUNK_PAYLOAD) return this.#fail(`an error chunk of ${length} bytes`, '"NBD_REPLY_TYPE_ERROR"');
    } else {
      // BLOCK_STATUS answers NBD_CMD_BLOCK_STATUS, which this client never sends; other types are unknown.
      return this.#fail(`a chunk of type ${type}, which no request of this client can get`, '"Structured reply types"');
    }
    this.#need = length;
    this.#state = S.ChunkPayload;
  }

  /** OFFSET_DATA's offset is in: check the range against the request, then copy the data in place. */
  #dataOffset(): void {
    const t = this.#target!;
    const off = this.#payload.readUInt32BE(0) * TWO_32 + this.#payload.readUInt32BE(4);
    const rel = off - t.offset;
    if (rel < 0 || rel + this.#left > t.length) return this.#fail(`data at offset ${off} (+${this.#left}) outside the READ of ${t.length} at ${t.offset}`, '"NBD_REPLY_TYPE_OFFSET_DATA"');
    t.covered += this.#left;
    this.#pos = rel;
    this.#state = S.ChunkData;
  }

  #chunkPayload(): void {
    const t = this.#target!;
    const p = this.#payload;
    if (this.#chunkType === NBD_REPLY_TYPE.OFFSET_HOLE) {
      const off = p.readUInt32BE(0) * TWO_32 + p.readUInt32BE(4);
      const size = p.readUInt32BE(8);
      const rel = off - t.offset;
      if (size === 0 || rel < 0 || rel + size > t.length) return this.#fail(`a hole at ${off} (+${size}) outside the READ of ${t.length} at ${t.offset}`, '"NBD_REPLY_TYPE_OFFSET_HOLE"');
      // A hole reads as zeros: fill the caller's buffer, unless the request was abandoned.
      if (t.into !== null) t.into.fill(0, t.intoOffset + rel, t.intoOffset + rel + size);
      t.covered += size;
    } else {
      // An error chunk (known or not, proto.md lets a client treat any type with bit 15 alike):
      // error value, message length, message [, offset].
      const error = p.readUInt32BE(0);
      const msgLen = p.readUInt16BE(4);
      if (6 + msgLen > this.#need || error === 0) return this.#fail(`an error chunk with error ${error} and a ${msgLen}-byte message in ${this.#need} bytes`, '"NBD_REPLY_TYPE_ERROR"');
      if (t.replyError === 0) {
        t.replyError = error;
        t.replyMessage = p.toString('utf8', 6, 6 + msgLen);
      }
    }
    this.#chunkDone(t);
  }

  /** One chunk is done: with DONE the reply is complete. */
  #chunkDone(t: T): void {
    if ((this.#chunkFlags & NBD_REPLY_FLAG_DONE) === 0) {
      this.#expectHeader();
      return;
    }
    const error = t.replyError;
    // proto.md "Structured reply chunk message": a successful READ covers its whole range.
    if (error === 0 && t.type === NBD_CMD.READ && t.covered !== t.length) {
      return this.#fail(`a READ of ${t.length} bytes answered with ${t.covered}`, '"NBD_REPLY_TYPE_OFFSET_DATA"');
    }
    this.#finish(t, error, t.replyMessage);
  }

  #finish(t: T, error: number, message: string): void {
    this.#expectHeader();
    this.#sink.onReply(t, error, message);
  }
}
