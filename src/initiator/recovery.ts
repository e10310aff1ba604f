// Session recovery at ErrorRecoveryLevel 0 (RFC 7143 §6.3.5, §7.1.4.3): when the connection drops, log in
// again with the same ISID and TSIH 0 (session reinstatement) and re-issue what was outstanding, within a
// replacement timeout. Two parts, both without a socket: ReconnectPolicy decides when to try next and when
// to give up; SessionRecovery runs the loop, drives the shell (Session) through RecoveryShell and the core
// through the few calls of RecoveryCore, and reports connection-lost, reconnected and session-lost.
// Lessons: the backoff must reset once the target is back (libiscsi #260, #428), and a peer that accepts
// and hangs up at once must not make us spin (libiscsi #241): a connection counts as "back" only once it
// proved useful (a command completed) or stayed up for `stableAfter`.

import type { Logger } from 'pino';
import { ConnectionError, LoginError } from '../errors.js';
import { realClock, type Clock, type TimerHandle } from '../util/clock.js';
import type { InitiatorCore } from './core/initiator-core.js';
import type { SessionEvent } from './events.js';

/** The backoff and the replacement timeout of a {@link ReconnectPolicy}. */
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
  /** The options it was made with. */
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

  /** Consecutive failures since the target last proved itself back. */
  get failures(): number {
    return this.#failures;
  }

  /** When the session lost its last stable connection, or -1 while connected and stable. */
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

/** How often the policy looks at a live connection (to find it stable). */
const POLICY_TICK_MS = 250;
/** Polling interval while in-flight commands finish before a target-requested logout. */
const DRAIN_POLL_MS = 20;
/** A target-requested logout: the margin kept for the logout itself, and the bounds of its timeout. */
const LOGOUT_MARGIN_MS = 500;
const LOGOUT_TIMEOUT_MAX_MS = 5000;
/** A real-timer interval that keeps the process alive while commands wait for a connection. */
const HOLD_OPEN_MS = 1 << 30;

/** What recovery uses of the core: it fails, holds back and counts commands, and logs out. */
export type RecoveryCore = Pick<InitiatorCore, 'failPending' | 'quiesce' | 'logout' | 'inFlight' | 'connected' | 'closed' | 'stats'>;

/** What recovery asks of the shell (the socket side of the session). */
export interface RecoveryShell {
  /** Logs in on a new connection with the session's ISID and TSIH 0 and attaches it to the core (RFC 7143 §6.3.5). */
  reinstate(): Promise<void>;
  /** The live connection, compared by identity only; null while there is none. */
  readonly connection: object | null;
  /** Closes `connection` and detaches the core from it if it is still the live one; false when it is not. */
  drop(connection: object | null, err: Error): boolean;
  /** True once close() began: recovery stops. */
  readonly closing: boolean;
  /** Reports an event to the session's readers and listeners. */
  emit(e: SessionEvent): void;
  /** Runs `fn` outside every session lock (the async context the session was created in). */
  outside(fn: () => void): void;
}

/** How {@link SessionRecovery} is set up. */
export interface SessionRecoveryOptions extends ReconnectOptions {
  clock: Clock;
  /** `host:port` of the session's portal, for messages. */
  peer: string;
  logger?: Logger | undefined;
}

/**
 * The reconnect loop of one session. Told that the connection failed (or that the target asked to drop
 * it or to log out), it waits out the backoff, reinstates the session through the shell, and fails what
 * waits once the replacement timeout passes; the core re-issues the outstanding commands on the new
 * connection.
 */
export class SessionRecovery {
  /** When to try next and when to give up. */
  readonly policy: ReconnectPolicy;
  readonly #core: RecoveryCore;
  readonly #shell: RecoveryShell;
  readonly #clock: Clock;
  readonly #peer: string;
  readonly #log: Logger | undefined;
  #recovering = false;
  #sessionLost = false;
  #sleep: { timer: TimerHandle; wake: () => void } | null = null;
  #holdOpen: NodeJS.Timeout | null = null;
  #policyTimer: TimerHandle | null = null;
  #logoutInProgress = false;
  #reconnects = 0;
  #lastCompleted = 0;

  constructor(core: RecoveryCore, shell: RecoveryShell, o: SessionRecoveryOptions) {
    this.#core = core;
    this.#shell = shell;
    this.#clock = o.clock;
    this.#peer = o.peer;
    this.#log = o.logger;
    this.policy = new ReconnectPolicy({ minDelay: o.minDelay, maxDelay: o.maxDelay, stableAfter: o.stableAfter, replacementTimeout: o.replacementTimeout, ...(o.random !== undefined && { random: o.random }) });
    this.#policyTimer = this.#clock.setTimeout(this.#policyTick, POLICY_TICK_MS);
  }

  /** Successful reconnections so far. */
  get reconnects(): number {
    return this.#reconnects;
  }

  /** A connection logged in and was attached (the first or a later one): the policy watches it prove itself. */
  connected(): void {
    this.policy.connected(this.#clock.now());
    this.#lastCompleted = this.#core.stats.completed;
  }

  /**
   * The connection `connection` failed, or the target announced it drops it: unless it is already gone,
   * it is closed, its commands are queued again, and reconnection starts after `delayMs` (the target's
   * Time2Wait, RFC 7143 §11.9.1).
   */
  connectionFailed(connection: object | null, err: Error, delayMs = 0): void {
    if (!this.#shell.drop(connection, err)) return;
    if (this.#shell.closing) return;
    this.#log?.debug({ err: err.message }, 'connection lost');
    this.#shell.emit({ type: 'connection-lost', reason: err.message, error: err });
    this.policy.lost(this.#clock.now());
    this.#shell.outside(() => void this.#recover(delayMs));
  }

  /** RFC 7143 §11.9.1 AsyncEvent 1: let what is in flight finish (within the time given), log out, come back. */
  async logoutRequested(within: number): Promise<void> {
    const shell = this.#shell;
    const core = this.#core;
    if (this.#logoutInProgress || shell.closing) return;
    const tr = shell.connection;
    if (tr === null) return;
    this.#logoutInProgress = true;
    try {
      core.quiesce(true);
      const deadline = this.#clock.now() + Math.max(0, within - LOGOUT_MARGIN_MS);
      while (core.inFlight > 0 && this.#clock.now() < deadline && shell.connection === tr && !shell.closing) await this.#sleepFor(DRAIN_POLL_MS);
      // close() woke us: it logs out (RFC 7143 §11.14) and ends the connection itself; a second logout
      // from here would race it on the same connection.
      if (shell.closing) return;
      let time2Wait = 0;
      if (shell.connection === tr) {
        try {
          time2Wait = (await core.logout(Math.max(LOGOUT_MARGIN_MS, Math.min(LOGOUT_TIMEOUT_MAX_MS, deadline - this.#clock.now() + LOGOUT_MARGIN_MS)))).time2Wait;
        } catch {
          // The target may drop the connection first; recovery handles it.
        }
      }
      this.connectionFailed(tr, new ConnectionError('ERR_LOGGED_OUT', "logged out at the target's request"), time2Wait * 1000);
    } finally {
      this.#logoutInProgress = false;
    }
  }

  /** Ends a wait of the loop at once (close() wants it to notice). */
  wake(): void {
    this.#sleep?.wake();
  }

  /** Stops the timers (the session is closed). */
  stop(): void {
    this.#policyTimer?.cancel();
    this.#policyTimer = null;
    if (this.#holdOpen !== null) clearInterval(this.#holdOpen);
    this.#holdOpen = null;
  }

  async #recover(initialDelay: number): Promise<void> {
    const shell = this.#shell;
    const policy = this.policy;
    if (this.#recovering || shell.closing) return;
    this.#recovering = true;
    // Real timers are unref'd; while commands wait for a new connection, keep the process alive.
    if (this.#clock === realClock) this.#holdOpen = setInterval(() => {}, HOLD_OPEN_MS);
    let lastError: Error | undefined;
    let attempt = 0;
    /** Time still to wait before the next attempt, when a wait was cut short to fail pending commands. */
    let remaining = -1;
    try {
      while (!shell.closing) {
        const now = this.#clock.now();
        if (!this.#sessionLost && policy.expired(now)) {
          this.#sessionLost = true;
          const e = new ConnectionError(
            'ERR_SESSION_LOST',
            `no connection to ${this.#peer} within the ${policy.options.replacementTimeout} ms replacement timeout${lastError !== undefined ? ` (last error: ${lastError.message})` : ''}`,
            lastError === undefined ? undefined : { cause: lastError },
          );
          this.#core.failPending(e);
          shell.emit({ type: 'session-lost', error: e });
        }
        const wait = remaining >= 0 ? remaining : attempt === 0 ? Math.max(initialDelay, policy.nextDelay()) : policy.nextDelay();
        remaining = -1;
        if (wait > 0) {
          // Wake at the replacement timeout, if it comes first, to fail what waits; then wait the rest.
          const untilExpiry = this.#sessionLost ? Infinity : policy.downSince + policy.options.replacementTimeout - now;
          if (untilExpiry > 0 && untilExpiry < wait) {
            await this.#sleepFor(untilExpiry);
            remaining = wait - untilExpiry;
            continue;
          }
          await this.#sleepFor(wait);
          if (shell.closing) return;
        }
        attempt++;
        try {
          await shell.reinstate();
          this.#reconnects++;
          this.#sessionLost = false;
          shell.emit({ type: 'reconnected', attempt, downMs: policy.downSince >= 0 ? this.#clock.now() - policy.downSince : 0 });
          return;
        } catch (e) {
          lastError = e instanceof Error ? e : new Error(String(e));
          policy.attemptFailed();
          this.#log?.debug({ err: lastError.message, attempt }, 'reconnection failed');
          if (lastError instanceof LoginError && lastError.statusClass === 2) {
            // An initiator error (authentication, authorization, no such target) will not heal by retrying.
            this.#sessionLost = true;
            this.#core.failPending(lastError);
            shell.emit({ type: 'session-lost', error: lastError });
            return;
          }
        }
      }
    } finally {
      this.#recovering = false;
      if (this.#holdOpen !== null) clearInterval(this.#holdOpen);
      this.#holdOpen = null;
    }
  }

  #sleepFor(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = this.#clock.setTimeout(() => {
        this.#sleep = null;
        resolve();
      }, ms);
      this.#sleep = {
        timer,
        wake: () => {
          timer.cancel();
          this.#sleep = null;
          resolve();
        },
      };
    });
  }

  readonly #policyTick = (): void => {
    if (this.#shell.closing && this.#core.closed) return;
    this.#policyTimer = this.#clock.setTimeout(this.#policyTick, POLICY_TICK_MS);
    const now = this.#clock.now();
    if (this.#core.connected) {
      // A completed command proves the target back (backoff resets); so does a connection that lived on.
      if (this.#core.stats.completed !== this.#lastCompleted) {
        this.#lastCompleted = this.#core.stats.completed;
        this.policy.markStable();
      }
      this.policy.tick(now);
    }
  };
}
