// `tsiscsi dump`: reads the raw bytes of one direction of an iSCSI TCP connection and writes one JSON
// object per PDU. Digest mismatches are printed with an `error` and counted.

import type { Readable, Writable } from 'node:stream';
import { IscsiProtocolError } from '../errors.js';
import { decodePdu, opcodeOf, type Direction } from '../pdu/codec.js';
import { describePdu, type JsonValue, type TextKeyDecoder } from '../pdu/describe.js';
import { Framer, type Frame } from '../pdu/framer.js';
import { Opcode, LOGIN_FLAG_TRANSIT, LOGIN_NSG_MASK, Stage, MAX_DATA_SEGMENT_LENGTH } from '../pdu/constants.js';

/** How to read the stream: the digests the connection negotiated, and which side sent it. */
export interface DumpOptions {
  /** PDUs carry a CRC32C header digest (HeaderDigest=CRC32C, RFC 7143 §13.1). */
  headerDigest?: boolean;
  /** PDUs carry a CRC32C data digest (DataDigest=CRC32C, RFC 7143 §13.1). */
  dataDigest?: boolean;
  /** Which side sent the bytes; guessed from the first opcode when omitted. */
  direction?: Direction;
  /**
   * Turn digests on only after the login phase ends (as on a real connection). Default true. A stream
   * whose first PDU is not a Login PDU started after login (a capture cut in full feature phase): its
   * digests apply from that first PDU either way.
   */
  digestsAfterLogin?: boolean;
  decodeText?: TextKeyDecoder;
}

/** What a dump saw. */
export interface DumpResult {
  /** PDUs decoded (with or without error). */
  pdus: number;
  /** PDUs and stream faults reported with an `error`. */
  errors: number;
}

/** Parses a whole byte stream, calling `emit` with one JSON object per PDU or error. */
export class StreamDumper {
  readonly #framer: Framer;
  readonly #emit: (o: Record<string, JsonValue>) => void;
  readonly #opts: DumpOptions;
  #direction: Direction | undefined;
  #inLogin = true;
  /** Whether the first byte (the first PDU's opcode) has been seen. */
  #started = false;
  /** PDUs seen so far. */
  pdus = 0;
  /** Errors reported so far. */
  errors = 0;

  constructor(emit: (o: Record<string, JsonValue>) => void, opts: DumpOptions = {}) {
    this.#emit = emit;
    this.#opts = opts;
    this.#direction = opts.direction;
    const afterLogin = opts.digestsAfterLogin ?? true;
    this.#framer = new Framer(
      { onFrame: (f) => this.#onFrame(f), onError: (e) => this.#onError(e) },
      {
        // A dump reads whatever the peers agreed on: accept the largest segment and AHS the fields can
        // hold (TotalAHSLength counts 4-byte words in one byte: 255 * 4, RFC 7143 §11.2.1.4).
        maxRecvDataSegmentLength: MAX_DATA_SEGMENT_LENGTH,
        maxAhsLength: 255 * 4,
        headerDigest: afterLogin ? false : !!opts.headerDigest,
        dataDigest: afterLogin ? false : !!opts.dataDigest,
      },
    );
    if (!afterLogin) this.#inLogin = false;
  }

  /** Feeds the next bytes of the stream (any split). */
  push(chunk: Buffer): void {
    if (!this.#started && chunk.length > 0) {
      this.#started = true;
      // RFC 7143 §13.1: digests start right after login. A stream that does not open with a Login PDU
      // was cut after it, so whatever digests the connection negotiated are already on.
      const opcode = chunk[0]! & 0x3f;
      if (this.#inLogin && opcode !== Opcode.LoginRequest && opcode !== Opcode.LoginResponse) {
        this.#inLogin = false;
        this.#framer.setDigests(!!this.#opts.headerDigest, !!this.#opts.dataDigest);
      }
    }
    this.#framer.push(chunk);
  }

  /** Reports bytes left over at the end of the stream (a truncated PDU). */
  end(): void {
    if (this.#framer.buffered > 0 && !this.#framer.failed) {
      this.errors++;
      this.#emit({ error: `stream ends inside a PDU (${this.#framer.buffered} bytes left over)`, code: 'ERR_TRUNCATED' });
    }
  }

  #onFrame(f: Frame): void {
    const opcode = opcodeOf(f.bhs);
    this.#direction ??= opcode >= 0x20 ? 'target' : 'initiator';
    this.pdus++;
    try {
      const pdu = decodePdu(this.#direction, f.bhs, f.ahs, f.data);
      this.#emit(describePdu(pdu, f, this.#opts.decodeText));
      // Digests start with the first PDU after the login phase (RFC 7143 §13.1): on the initiator's side
      // after the Login Request with T=1 and NSG=3, on the target's after the Login Response that does so.
      if (
        this.#inLogin &&
        (opcode === Opcode.LoginRequest || opcode === Opcode.LoginResponse) &&
        (f.bhs[1]! & LOGIN_FLAG_TRANSIT) !== 0 &&
        (f.bhs[1]! & LOGIN_NSG_MASK) === Stage.FullFeature &&
        !(opcode === Opcode.LoginResponse && f.bhs[36] !== 0)
      ) {
        this.#inLogin = false;
        this.#framer.setDigests(!!this.#opts.headerDigest, !!this.#opts.dataDigest);
      }
    } catch (e) {
      if (!(e instanceof IscsiProtocolError)) throw e;
      this.errors++;
      this.#emit({ opcode, error: e.message, code: e.code, bhs: f.bhs.toString('hex') });
    }
  }

  #onError(e: IscsiProtocolError): void {
    this.errors++;
    const o: Record<string, JsonValue> = { error: e.message, code: e.code };
    if (e.header !== undefined) {
      o.opcode = opcodeOf(e.header);
      o.bhs = e.header.toString('hex');
    }
    this.#emit(o);
  }
}

/** Dumps a readable stream to a writable one, one JSON line per PDU. */
export async function dumpStream(input: Readable, output: Writable, opts: DumpOptions = {}): Promise<DumpResult> {
  const d = new StreamDumper((o) => output.write(JSON.stringify(o) + '\n'), opts);
  for await (const chunk of input) d.push(chunk as Buffer);
  d.end();
  return { pdus: d.pdus, errors: d.errors };
}
