// LBA-range locks: commands that must see a range of blocks unchanged between two steps (COMPARE
// AND WRITE, SBC-3 COMPARE AND WRITE: "the device server shall ... prevent other commands from modifying the
// LBAs") hold a lock on that range across their await points. Node runs one thing at a time, so a
// lock only matters across an `await`; granting is FIFO among overlapping ranges so a stream of
// small locks cannot starve a large one.

import { AbortError } from '../errors.js';

interface Held {
  readonly lba: number;
  readonly end: number;
}

interface Waiter extends Held {
  resolve: (release: () => void) => void;
  reject: (e: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

function overlaps(a: Held, lba: number, end: number): boolean {
  return a.lba < end && lba < a.end;
}

/** A set of held LBA ranges with a FIFO queue of waiters. */
export class RangeLock {
  readonly #held: Held[] = [];
  readonly #waiters: Waiter[] = [];

  /** Number of ranges currently held. */
  get held(): number {
    return this.#held.length;
  }

  /** Number of acquisitions waiting. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /**
   * Takes `[lba, lba + count)` at once if nothing held or queued overlaps it, returning its release
   * function, else null. A zero-length range overlaps nothing.
   */
  tryAcquire(lba: number, count: number): (() => void) | null {
    const end = lba + count;
    if (this.#conflicts(lba, end, this.#waiters.length)) return null;
    return this.#grant(lba, end);
  }

  /**
   * Waits for `[lba, lba + count)` and resolves with its release function (call it exactly once;
   * later calls are no-ops). Rejects with AbortError if `signal` fires first, and the queued request
   * is withdrawn.
   */
  acquire(lba: number, count: number, signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted === true) return Promise.reject(new AbortError('range lock wait aborted', { cause: signal.reason }));
    const now = this.tryAcquire(lba, count);
    if (now !== null) return Promise.resolve(now);
    return new Promise((resolve, reject) => {
      const w: Waiter = { lba, end: lba + count, resolve, reject, signal, onAbort: undefined };
      if (signal !== undefined) {
        w.onAbort = () => {
          const i = this.#waiters.indexOf(w);
          if (i >= 0) this.#waiters.splice(i, 1);
          reject(new AbortError('range lock wait aborted', { cause: signal.reason }));
          // A withdrawn waiter may have been what held later ones back.
          this.#drain();
        };
        signal.addEventListener('abort', w.onAbort, { once: true });
      }
      this.#waiters.push(w);
    });
  }

  #conflicts(lba: number, end: number, waitersBefore: number): boolean {
    if (end <= lba) return false;
    for (const h of this.#held) if (overlaps(h, lba, end)) return true;
    for (let i = 0; i < waitersBefore; i++) if (overlaps(this.#waiters[i]!, lba, end)) return true;
    return false;
  }

  #grant(lba: number, end: number): () => void {
    const h: Held = { lba, end };
    this.#held.push(h);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const i = this.#held.indexOf(h);
      if (i >= 0) this.#held.splice(i, 1);
      this.#drain();
    };
  }

  #drain(): void {
    for (let i = 0; i < this.#waiters.length; ) {
      const w = this.#waiters[i]!;
      if (this.#conflicts(w.lba, w.end, i)) {
        i++;
        continue;
      }
      this.#waiters.splice(i, 1);
      if (w.signal !== undefined && w.onAbort !== undefined) w.signal.removeEventListener('abort', w.onAbort);
      w.resolve(this.#grant(w.lba, w.end));
    }
  }
}
