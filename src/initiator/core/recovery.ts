// Session recovery at ErrorRecoveryLevel 0 (RFC 7143 §6.3.5, §7.1.4.3): when the connection drops, log in
// again with the same ISID and TSIH 0 (session reinstatement) and re-issue what was outstanding, within a
// replacement timeout. This module is the policy, without I/O: when to try next, and when to give up.
// Lessons: the backoff must reset once the target is back (libiscsi #260, #428), and a peer that accepts
// and hangs up at once must not make us spin (libiscsi #241): a connection counts as "back" only once it
// proved useful (a command completed) or stayed up for `stableAfter`.

export interface ReconnectOptions {
  /** Delay before the second attempt; doubled per failure. */
  minDelay: number;
  /** Cap of the delay. */
  maxDelay: number;
  /** How long a new connection must live (without a completed command) to count as recovered. */
  stableAfter: number;
  /** Replacement timeout: time without a usable connection after which pending commands fail. */
  replacementTimeout: number;
  /** Random source in [0, 1) for jitter (tests pass a constant). */
  random?: () => number;
}

/** When to try reconnecting and when to give up (see the file comment for the lessons it encodes). */
export class ReconnectPolicy {
  readonly options: ReconnectOptions;
  /** Consecutive failures (failed attempts, and connections that dropped before becoming stable). */
  #failures = 0;
  #connectedAt = -1;
  #stable = true;
  /** When the session lost its last stable connection, or -1 while connected and stable. */
  #downSince = -1;

  constructor(options: ReconnectOptions) {
    this.options = options;
  }

  get failures(): number {
    return this.#failures;
  }

  get downSince(): number {
    return this.#downSince;
  }

  /** The connection dropped at `now`. */
  lost(now: number): void {
    if (this.#connectedAt >= 0 && !this.#stable) this.#failures++;
    this.#connectedAt = -1;
    if (this.#downSince < 0) this.#downSince = now;
  }

  /** An attempt to connect or log in failed. */
  attemptFailed(): void {
    this.#failures++;
  }

  /** Login succeeded at `now`; not yet proven stable. */
  connected(now: number): void {
    this.#connectedAt = now;
    this.#stable = false;
  }

  /** Proof the target is back (a command completed, or the connection lived `stableAfter`): backoff resets. */
  markStable(): void {
    if (this.#connectedAt < 0 || this.#stable) return;
    this.#stable = true;
    this.#failures = 0;
    this.#downSince = -1;
  }

  /** Call on a timer tick: marks the connection stable once it lived long enough. */
  tick(now: number): void {
    if (this.#connectedAt >= 0 && !this.#stable && now - this.#connectedAt >= this.options.stableAfter) this.markStable();
  }

  /** The delay before the next attempt: none after a stable connection, then doubling up to the cap. */
  nextDelay(): number {
    if (this.#failures === 0) return 0;
    const o = this.options;
    const base = Math.min(o.maxDelay, o.minDelay * 2 ** Math.min(this.#failures - 1, 30));
    const jitter = o.random === undefined ? 1 : 0.75 + 0.5 * o.random();
    return Math.min(o.maxDelay, Math.round(base * jitter));
  }

  /** True once the session has been without a stable connection for the replacement timeout. */
  expired(now: number): boolean {
    return this.#downSince >= 0 && now - this.#downSince >= this.options.replacementTimeout;
  }
}
