// The write side of a socket for PduWriter: the buffers of one event-loop turn gathered, a small turn
// copied into one buffer and written once, a big one written as one writev. Either end may put it
// between its PduWriter and its net.Socket (the initiator does).

import type { WritableSocket } from './pdu-writer.js';

/** A turn's PDUs up to this many bytes are copied into one buffer and leave in one plain write. */
const COALESCE_MAX = 16 * 1024;

/**
 * What PduWriter writes to. Between cork() and uncork() the buffers of a turn are gathered; small turns
 * (every PDU of a read load: 48-byte headers) are copied into one buffer and written once, which costs
 * one system call and none of the per-chunk stream bookkeeping of a writev; big ones go out as a writev.
 * Wraps any WritableSocket (a net.Socket in use).
 */
export class CoalescingSocket implements WritableSocket {
  readonly #s: WritableSocket;
  #parts: Buffer[] = [];
  #bytes = 0;
  #corked = 0;

  constructor(s: WritableSocket) {
    this.#s = s;
  }

  /** Starts gathering (nests: only the outermost uncork writes). */
  cork(): void {
    this.#corked++;
  }

  /** Gathers `b` while corked; writes it through otherwise. */
  write(b: Buffer): boolean {
    if (this.#corked === 0) return this.#s.write(b);
    this.#parts.push(b);
    this.#bytes += b.length;
    return true;
  }

  /** Ends a cork; the outermost one writes what was gathered (one write, or one writev when big). */
  uncork(): void {
    if (this.#corked === 0 || --this.#corked > 0) return;
    const parts = this.#parts;
    const bytes = this.#bytes;
    if (parts.length === 0) return;
    this.#parts = [];
    this.#bytes = 0;
    const s = this.#s;
    if (parts.length === 1) {
      s.write(parts[0]!);
    } else if (bytes <= COALESCE_MAX) {
      const one = Buffer.allocUnsafe(bytes);
      let o = 0;
      for (const p of parts) o += p.copy(one, o);
      s.write(one);
    } else {
      s.cork();
      for (const p of parts) s.write(p);
      s.uncork();
    }
  }

  /** Bytes queued in the socket plus those gathered and not yet written. */
  get writableLength(): number {
    return this.#s.writableLength + this.#bytes;
  }

  get destroyed(): boolean {
    return this.#s.destroyed;
  }

  once(event: 'drain', listener: () => void): unknown {
    return this.#s.once(event, listener);
  }
}

