// The task set of one logical unit (SAM-5, task attributes): which enabled tasks may run. SIMPLE tasks run
// concurrently; an ORDERED task waits for every older task and holds back every newer one
// (SAM-5, ORDERED task attribute); a HEAD OF QUEUE task runs at once (SAM-5, HEAD OF QUEUE task attribute). The common case (a SIMPLE
// task with nothing ORDERED around) is two comparisons and an increment, without allocation.

import { AbortError } from '../errors.js';
import type { TaskAttribute } from './types.js';

interface Entry {
  ordered: boolean;
  resolve: () => void;
  reject: (e: unknown) => void;
  signal: AbortSignal;
  onAbort: () => void;
}

/** Admission control for the tasks of one logical unit. */
export class TaskSet {
  #running = 0;
  #orderedRunning = 0;
  readonly #queue: Entry[] = [];
  #idle: (() => void)[] = [];

  /** Tasks admitted and not yet finished. */
  get running(): number {
    return this.#running;
  }

  /** Tasks waiting for an ORDERED task (or for the tasks before one) to finish. */
  get queued(): number {
    return this.#queue.length;
  }

  /**
   * Admits a task at once when its attribute allows, counting it as running. Untagged and ACA
   * tasks are treated as SIMPLE (this LU never establishes ACA: NACA is not supported).
   */
  tryEnter(attr: TaskAttribute): boolean {
    if (attr === 'head-of-queue') {
      this.#running++;
      return true;
    }
    if (this.#queue.length !== 0) return false;
    if (attr === 'ordered') {
      if (this.#running !== 0) return false;
      this.#running++;
      this.#orderedRunning++;
      return true;
    }
    if (this.#orderedRunning !== 0) return false;
    this.#running++;
    return true;
  }

  /**
   * Queues a task that {@link tryEnter} refused; resolves when it is admitted (and counted as
   * running), rejects with AbortError if `signal` fires while it waits.
   */
  wait(attr: TaskAttribute, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(new AbortError('task aborted while queued', { cause: signal.reason }));
    return new Promise<void>((resolve, reject) => {
      const e: Entry = {
        ordered: attr === 'ordered',
        resolve,
        reject,
        signal,
        onAbort: () => {
          const i = this.#queue.indexOf(e);
          if (i >= 0) this.#queue.splice(i, 1);
          reject(new AbortError('task aborted while queued', { cause: signal.reason }));
          this.#settle();
        },
      };
      signal.addEventListener('abort', e.onAbort, { once: true });
      this.#queue.push(e);
    });
  }

  /** Ends a task admitted by {@link tryEnter} or {@link wait}. */
  exit(attr: TaskAttribute): void {
    this.#running--;
    if (attr === 'ordered') this.#orderedRunning--;
    this.#settle();
  }

  #settle(): void {
    if (this.#queue.length !== 0) this.#drain();
    if (this.#running === 0 && this.#queue.length === 0 && this.#idle.length !== 0) {
      const idle = this.#idle;
      this.#idle = [];
      for (const f of idle) f();
    }
  }

  /** Resolves once no task is running or queued (for LU removal: flush what is in flight). */
  whenIdle(): Promise<void> {
    if (this.#running === 0 && this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #drain(): void {
    while (this.#queue.length !== 0) {
      const e = this.#queue[0]!;
      if (e.ordered) {
        if (this.#running !== 0) return;
        this.#queue.shift();
        this.#running++;
        this.#orderedRunning++;
        e.signal.removeEventListener('abort', e.onAbort);
        e.resolve();
        return; // an ORDERED task holds back everything behind it
      }
      if (this.#orderedRunning !== 0) return;
      this.#queue.shift();
      this.#running++;
      e.signal.removeEventListener('abort', e.onAbort);
      e.resolve();
    }
  }
}
