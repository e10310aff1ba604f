// A backend wrapper that adds a fixed latency to every I/O (read, write, flush, unmap): for tests
// of timeouts, task management and queue depth against a "slow disk". The wait and the I/O behind
// it are abandoned as soon as the AbortSignal fires: the promise rejects with AbortError at once,
// and an I/O that has not started yet never reaches the inner backend.

import { AbortError } from '../errors.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import { ForwardingBackend } from './forwarding.js';
import type { BlockBackend, WriteOptions, WriteZeroesOptions } from './types.js';

/**
 * Real timers that keep the process alive while they wait: a delayed I/O is work in flight that
 * someone awaits, as the file system call behind it would be (util's realClock unrefs its timers,
 * which are protocol timeouts). The default clock of {@link DelayBackend}.
 */
export const ioClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(t) };
  },
};

/** Adds `delayMs` before every I/O of `inner` (read, write, flush, unmap); the rest is forwarded as is. */
export class DelayBackend extends ForwardingBackend {
  readonly delayMs: number;
  readonly #clock: Clock;

  constructor(inner: BlockBackend, delayMs: number, clock: Clock = ioClock) {
    if (!Number.isFinite(delayMs) || delayMs < 0) throw new RangeError(`delay ${delayMs} ms is not a non-negative number`);
    super(inner);
    this.delayMs = delayMs;
    this.#clock = clock;
  }

  override get kind(): string {
    return `${this.inner.kind}+delay`;
  }

  override read(lba: number, count: number, into: Buffer, signal?: AbortSignal): Promise<void> {
    return this.#delayed(signal, () => this.inner.read(lba, count, into, signal));
  }

  override write(lba: number, data: Buffer, opts?: WriteOptions, signal?: AbortSignal): Promise<void> {
    return this.#delayed(signal, () => this.inner.write(lba, data, opts, signal));
  }

  override flush(signal?: AbortSignal): Promise<void> {
    return this.#delayed(signal, () => this.inner.flush(signal));
  }

  override unmap?(lba: number, count: number, signal?: AbortSignal): Promise<void> {
    return this.#delayed(signal, () => this.inner.unmap!(lba, count, signal));
  }

  override writeZeroes?(lba: number, count: number, opts?: WriteZeroesOptions, signal?: AbortSignal): Promise<void> {
    return this.#delayed(signal, () => this.inner.writeZeroes!(lba, count, opts, signal));
  }

  #delayed<T>(signal: AbortSignal | undefined, op: () => Promise<T>): Promise<T> {
    if (signal?.aborted === true) return Promise.reject(new AbortError('backend I/O aborted', { cause: signal.reason }));
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      let timer: TimerHandle | undefined;
      const onAbort = (): void => {
        if (settled) return;
        settled = true;
        timer?.cancel();
        // The inner I/O, if it started, is abandoned: its outcome is ignored below.
        reject(new AbortError('backend I/O aborted', { cause: signal?.reason }));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const finish = (ok: boolean, v: unknown): void => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        if (ok) resolve(v as T);
        else reject(v);
      };
      timer = this.#clock.setTimeout(() => {
        if (settled) return;
        let p: Promise<T>;
        try {
          p = op();
        } catch (e) {
          finish(false, e);
          return;
        }
        p.then(
          (v) => finish(true, v),
          (e: unknown) => finish(false, e),
        );
      }, this.delayMs);
    });
  }
}
