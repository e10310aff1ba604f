// Time, injected: state machines take a Clock so tests drive timeouts without waiting.

/** A scheduled callback, cancellable. */
export interface TimerHandle {
  cancel(): void;
}

/** Milliseconds now and timers: real time in production, a {@link ManualClock} in tests. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
}

/** The process's clock (Date.now and unref'd setTimeout). */
export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    // Timers never keep the process alive on their own: sockets and servers do.
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};

/** A manual clock for tests: time moves only when `advance` is called. */
export class ManualClock implements Clock {
  #now = 0;
  #timers: { at: number; fn: () => void; live: boolean }[] = [];

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const t = { at: this.#now + ms, fn, live: true };
    this.#timers.push(t);
    return { cancel: () => (t.live = false) };
  }

  /** Moves time forward, firing due timers in order. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      const due = this.#timers.filter((t) => t.live && t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) break;
      due.live = false;
      this.#now = due.at;
      due.fn();
    }
    this.#now = end;
    this.#timers = this.#timers.filter((t) => t.live);
  }

  get pending(): number {
    return this.#timers.filter((t) => t.live).length;
  }
}
