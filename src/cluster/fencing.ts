// The fencing clock of a gateway: how long its lease is valid by its own clock. etcd expires a lease
// no earlier than TTL after it RECEIVED the last keepalive; the gateway counts from when it SENT that
// keepalive, which is earlier, and keeps a margin for the two clocks' rates: so by the time any other
// gateway can take over what this one owned, this one has stopped completing media access.

/** A monotonic millisecond clock and timers (performance.now in production, a manual one in tests). */
export interface MonotonicClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): { cancel(): void };
}

/** performance.now() and unref'd timers. */
export const monotonicClock: MonotonicClock = {
  now: () => performance.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};

/** The margin taken off every validity window: a tenth of the TTL, at least 200 ms. */
export function fencingMargin(ttlMs: number): number {
  return Math.max(200, Math.floor(ttlMs / 10));
}

/** When this gateway's lease stops being valid by its own clock, and who hears of it. */
export class FencingClock {
  readonly #clock: MonotonicClock;
  #validUntil = -Infinity;
  #timer: { cancel(): void } | undefined;
  #wasValid = false;
  readonly #onChange: (valid: boolean) => void;

  /** `onChange` hears every change of validity (a renewal after expiry, an expiry), from a timer or a renewal. */
  constructor(clock: MonotonicClock, onChange: (valid: boolean) => void) {
    this.#clock = clock;
    this.#onChange = onChange;
  }

  /** Whether media access may complete now. */
  valid(): boolean {
    return this.#clock.now() < this.#validUntil;
  }

  /** The end of validity, on the clock's scale (-Infinity before the first renewal). */
  get validUntil(): number {
    return this.#validUntil;
  }

  /**
   * A keepalive sent at `sentAt` came back with `ttlS` seconds left on the lease: valid until
   * sentAt + TTL - margin. A TTL of 0 means the lease is gone: invalid at once.
   */
  renewed(sentAt: number, ttlS: number): void {
    if (ttlS <= 0) {
      this.revoke();
      return;
    }
    const ttlMs = ttlS * 1000;
    const until = sentAt + ttlMs - fencingMargin(ttlMs);
    // Never move back: an answer that overtook a later one says less.
    if (until > this.#validUntil) this.#validUntil = until;
    this.#arm();
  }

  /** The lease is gone (revoked, expired at etcd, the gateway is stopping): invalid from now on. */
  revoke(): void {
    this.#validUntil = -Infinity;
    this.#arm();
  }

  #arm(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    const valid = this.valid();
    if (valid !== this.#wasValid) {
      this.#wasValid = valid;
      this.#onChange(valid);
    }
    if (valid) this.#timer = this.#clock.setTimeout(() => this.#arm(), Math.max(1, this.#validUntil - this.#clock.now()));
  }

  /** Stops the timer (the gateway is closed). */
  close(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }
}
