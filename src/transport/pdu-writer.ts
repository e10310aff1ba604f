// The sending half of a connection, shared by both ends: PDUs are encoded into iovecs and queued, and
// everything queued in one event-loop turn goes out in one corked write (a single writev), which is
// what makes a Node end fast (DEVELOPERS.md: 95K req/s corked one by one, 266K batched per turn).

import { encodePdu, type DigestSettings } from '../pdu/codec.js';
import type { Pdu } from '../pdu/types.js';

/** What the writer needs of a socket (net.Socket satisfies it). */
export interface WritableSocket {
  cork(): void;
  uncork(): void;
  write(chunk: Buffer): boolean;
  readonly writableLength: number;
  readonly destroyed: boolean;
  once(event: 'drain', listener: () => void): unknown;
}

export interface PduWriterOptions {
  /** Bytes queued in the socket above which `congested` turns true (the reader should pause). */
  highWaterMark?: number;
  /** Called when the socket drains below the mark again. */
  onDrain?: () => void;
}

export class PduWriter {
  readonly #socket: WritableSocket;
  #queue: Buffer[] = [];
  #scheduled = false;
  #closed = false;
  #digests: DigestSettings = { header: false, data: false };
  readonly #highWaterMark: number;
  readonly #onDrain: (() => void) | undefined;
  #waitingDrain = false;
  /** PDUs and bytes sent, for counters. */
  pdus = 0;
  bytes = 0;
  flushes = 0;

  constructor(socket: WritableSocket, opts: PduWriterOptions = {}) {
    this.#socket = socket;
    this.#highWaterMark = opts.highWaterMark ?? 4 * 1024 * 1024;
    this.#onDrain = opts.onDrain;
  }

  /** Digests for PDUs queued from now on (RFC 7143 §13.1: they start after the login phase). */
  setDigests(d: DigestSettings): void {
    this.#digests = { header: d.header, data: d.data };
  }

  /** Queues one PDU; it is sent with everything else queued this turn. */
  send(pdu: Pdu): void {
    if (this.#closed) return;
    const iov = encodePdu(pdu, this.#digests);
    for (const b of iov) {
      this.#queue.push(b);
      this.bytes += b.length;
    }
    this.pdus++;
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#flush);
    }
  }

  /** Sends what is queued now, without waiting for the end of the turn. */
  flushNow(): void {
    this.#flush();
  }

  /** True while the socket holds more than the high-water mark: stop producing, wait for drain. */
  get congested(): boolean {
    return this.#socket.writableLength > this.#highWaterMark;
  }

  /** Drops whatever is queued and refuses further PDUs (the connection is going away). */
  close(): void {
    this.#closed = true;
    this.#queue = [];
  }

  readonly #flush = (): void => {
    this.#scheduled = false;
    if (this.#queue.length === 0) return;
    const q = this.#queue;
    this.#queue = [];
    if (this.#closed || this.#socket.destroyed) return;
    this.flushes++;
    const s = this.#socket;
    s.cork();
    for (const b of q) s.write(b);
    s.uncork();
    if (this.#onDrain !== undefined && !this.#waitingDrain && this.congested) {
      this.#waitingDrain = true;
      s.once('drain', () => {
        this.#waitingDrain = false;
        this.#onDrain!();
      });
    }
  };
}
