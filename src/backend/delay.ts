// A backend wrapper that adds a fixed latency to every I/O (read, write, flush, unmap): for tests
// of timeouts, task management and queue depth against a "slow disk". The wait and the I/O behind
// it are abandoned as soon as the AbortSignal fires: the promise rejects with AbortError at once,
// and an I/O that has not started yet never reaches the inner backend.

import { AbortError } from '../errors.js';
import type { BackendTaskManagement, BlockBackend, ExtentStatus, SidecarStore, WriteOptions } from './types.js';

/** The timer functions the wrapper uses; inject a fake one in tests. */
export interface Clock {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The real timers. */
export const systemClock: Clock = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/** Adds `delayMs` before every I/O of `inner`. */
export class DelayBackend implements BlockBackend {
  readonly inner: BlockBackend;
  readonly delayMs: number;
  readonly #clock: Clock;
  readonly unmap?: (lba: number, count: number, signal?: AbortSignal) => Promise<void>;
  readonly isMapped?: (lba: number, count: number) => Promise<boolean>;
  readonly extentStatus?: (lba: number, maxBlocks: number) => Promise<ExtentStatus>;
  readonly sidecar?: (name: string) => SidecarStore;
  readonly resize?: (blocks: number) => Promise<void>;
  readonly onTaskManagement?: (event: BackendTaskManagement) => void;

  constructor(inner: BlockBackend, delayMs: number, clock: Clock = systemClock) {
    if (!Number.isFinite(delayMs) || delayMs < 0) throw new RangeError(`delay ${delayMs} ms is not a non-negative number`);
    this.inner = inner;
    this.delayMs = delayMs;
    this.#clock = clock;
    // Optional capabilities exist exactly when the inner backend has them.
    if (inner.unmap !== undefined) {
      const unmap = inner.unmap.bind(inner);
      this.unmap = (lba, count, signal) => this.#delayed(signal, () => unmap(lba, count, signal));
    }
    if (inner.isMapped !== undefined) this.isMapped = inner.isMapped.bind(inner);
    if (inner.extentStatus !== undefined) this.extentStatus = inner.extentStatus.bind(inner);
    if (inner.sidecar !== undefined) this.sidecar = inner.sidecar.bind(inner);
    if (inner.resize !== undefined) this.resize = inner.resize.bind(inner);
    if (inner.onTaskManagement !== undefined) this.onTaskManagement = inner.onTaskManagement.bind(inner);
  }

  get kind(): string {
    return `${this.inner.kind}+delay`;
  }
  get blockSize(): number {
    return this.inner.blockSize;
  }
  get blocks(): number {
    return this.inner.blocks;
  }
  get readOnly(): boolean {
    return this.inner.readOnly;
  }
  get removable(): boolean {
    return this.inner.removable === true;
  }
  get physicalBlockSize(): number | undefined {
    return this.inner.physicalBlockSize;
  }

  read(lba: number, count: number, into: Buffer, signal?: AbortSignal): Promise<void> {
    return this.#delayed(signal, () => this.inner.read(lba, count, into, signal));
  }

  write(lba: number, data: Buffer, opts?: WriteOptions, signal?: AbortSignal): Promise<void> {
    return this.#delayed(signal, () => this.inner.write(lba, data, opts, signal));
  }

  flush(signal?: AbortSignal): Promise<void> {
    return this.#delayed(signal, () => this.inner.flush(signal));
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  #delayed<T>(signal: AbortSignal | undefined, op: () => Promise<T>): Promise<T> {
    if (signal?.aborted === true) return Promise.reject(new AbortError('backend I/O aborted', { cause: signal.reason }));
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      let timer: unknown;
      const onAbort = (): void => {
        if (settled) return;
        settled = true;
        this.#clock.clearTimeout(timer);
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
