// LBA-range locks. Commands that must see a range of blocks unchanged between two steps (COMPARE
// AND WRITE, SBC-3 COMPARE AND WRITE: "the device server shall ... prevent other commands from
// modifying the LBAs"; ORWRITE; WRITE ATOMIC) hold an exclusive lock on that range across their await
// points; every command that modifies blocks holds a shared one, so an exclusive holder never
// interleaves with a write and writes never wait for each other. Node runs one thing at a time, so
// a lock only matters across an `await`. Granting is FIFO among conflicting requests so a stream of
// small locks cannot starve a large one. With no exclusive lock held or queued, a shared lock costs
// one Set insertion: the WRITE hot path pays nothing else.

import { AbortError } from '../errors.js';

interface Held {
  readonly lba: number;
  readonly end: number;
  readonly shared: boolean;
}

interface Waiter extends Held {
  resolve: (release: () => void) => void;
  reject: (e: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/** Two requests conflict when their ranges overlap and at least one is exclusive. */
function conflict(a: Held, lba: number, end: number, shared: boolean): boolean {
  return a.lba < end && lba < a.end && !(a.shared && shared);
}

/** A set of held LBA ranges, shared or exclusive, with a FIFO queue of waiters. */
export class RangeLock {
  readonly #held = new Set<Held>();
  readonly #waiters: Waiter[] = [];
  /** Exclusive ranges held plus exclusive requests queued: zero means shared requests need no scan. */
  #exclusive = 0;

  /** Number of ranges currently held (shared and exclusive). */
  get held(): number {
    return this.#held.size;
  }

  /** Number of acquisitions waiting. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /**
   * Takes `[lba, lba + count)` exclusively at once if nothing held or queued overlaps it, returning
   * its release function, else null. A zero-length range overlaps nothing.
   */
  tryAcquire(lba: number, count: number): (() => void) | null {
    return this.#try(lba, lba + count, false);
  }

  /** Takes `[lba, lba + count)` shared at once if no exclusive lock holds or awaits an overlapping range. */
  tryAcquireShared(lba: number, count: number): (() => void) | null {
    const end = lba + count;
    // The hot path: no exclusive lock anywhere, so nothing can conflict and no waiter is ahead.
    if (this.#exclusive === 0 && this.#waiters.length === 0) return this.#grant(lba, end, true);
    return this.#try(lba, end, true);
  }

  /**
   * Waits for `[lba, lba + count)` exclusively and resolves with its release function (call it
   * exactly once; later calls are no-ops). Rejects with AbortError if `signal` fires first, and the
   * queued request is withdrawn.
   */
  acquire(lba: number, count: number, signal?: AbortSignal): Promise<() => void> {
    return this.#acquire(lba, count, false, signal);
  }

  /** Like {@link acquire}, for a shared lock: compatible with other shared locks on the same blocks. */
  acquireShared(lba: number, count: number, signal?: AbortSignal): Promise<() => void> {
    return this.#acquire(lba, count, true, signal);
  }

  #acquire(lba: number, count: number, shared: boolean, signal: AbortSignal | undefined): Promise<() => void> {
    if (signal?.aborted === true) return Promise.reject(new AbortError('range lock wait aborted', { cause: signal.reason }));
    const now = shared ? this.tryAcquireShared(lba, count) : this.tryAcquire(lba, count);
    if (now !== null) return Promise.resolve(now);
    return new Promise((resolve, reject) => {
      const w: Waiter = { lba, end: lba + count, shared, resolve, reject, signal, onAbort: undefined };
      if (signal !== undefined) {
        w.onAbort = () => {
          const i = this.#waiters.indexOf(w);
          if (i >= 0) {
            this.#waiters.splice(i, 1);
            if (!w.shared) this.#exclusive--;
          }
          reject(new AbortError('range lock wait aborted', { cause: signal.reason }));
          // A withdrawn waiter may have been what held later ones back.
          this.#drain();
        };
        signal.addEventListener('abort', w.onAbort, { once: true });
      }
      if (!shared) this.#exclusive++;
      this.#waiters.push(w);
    });
  }

  #try(lba: number, end: number, shared: boolean): (() => void) | null {
    if (this.#conflicts(lba, end, shared, this.#waiters.length)) return null;
    if (!shared) this.#exclusive++;
    return this.#grant(lba, end, shared);
  }

  #conflicts(lba: number, end: number, shared: boolean, waitersBefore: number): boolean {
    if (end <= lba) return false;
    for (const h of this.#held) if (conflict(h, lba, end, shared)) return true;
    for (let i = 0; i < waitersBefore; i++) if (conflict(this.#waiters[i]!, lba, end, shared)) return true;
    return false;
  }

  /** Records a granted range; an exclusive one was already counted in #exclusive. */
  #grant(lba: number, end: number, shared: boolean): () => void {
    const h: Held = { lba, end, shared };
    this.#held.add(h);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#held.delete(h);
      if (!shared) this.#exclusive--;
      if (this.#waiters.length !== 0) this.#drain();
    };
  }

  #drain(): void {
    for (let i = 0; i < this.#waiters.length; ) {
      const w = this.#waiters[i]!;
      if (this.#conflicts(w.lba, w.end, w.shared, i)) {
        i++;
        continue;
      }
      this.#waiters.splice(i, 1);
      if (w.signal !== undefined && w.onAbort !== undefined) w.signal.removeEventListener('abort', w.onAbort);
      // An exclusive waiter stays counted in #exclusive: it moves from queued to held.
      w.resolve(this.#grant(w.lba, w.end, w.shared));
    }
  }
}
