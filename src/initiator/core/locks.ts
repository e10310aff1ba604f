// The two session locks, split as the Linux kernel splits its iSCSI session lock (frwd_lock, back_lock):
// frwdLock guards the submit path's state (CmdSN, the queued CmdSN, taking a task from the pool), backLock
// the response path's (ExpCmdSN, MaxCmdSN, returning a task), so that completions never wait for a
// submitter nor a submitter for completions.
// backLock may be taken inside frwdLock, never the reverse: AsyncMutex ranks check it and throw
// LockOrderError. In 'one' mode both paths share one mutex (the benchmark's baseline).

import { AsyncMutex } from '../../util/mutex.js';

/** Lock ranks: frwd before back; the R2T guards (ranks 10, 11) are leaves under either. */
export const FRWD_RANK = 1;
/** See {@link FRWD_RANK}. */
export const BACK_RANK = 2;

/** `split`: frwdLock and backLock. `one`: a single session lock, for comparison. */
export type LockMode = 'split' | 'one';

/** Lock counters, for `tsiscsi bench` and `Session.stats()`. */
export interface LockStats {
  name: string;
  acquisitions: number;
  /** Acquisitions that found the lock held across an await and had to wait. */
  contended: number;
  /** Time held in synchronous sections, total and longest (ns); 0 unless AsyncMutex.timing is on. */
  holdNs: number;
  maxHoldNs: number;
}

/**
 * The session's locks. Critical sections are synchronous in the common case: `forward`/`backward` run
 * `fn` at once when the lock is free, and queue it (FIFO, after whoever holds the lock across an await)
 * when it is not, so the order of sections on one path is kept either way.
 */
export class SessionLocks {
  readonly mode: LockMode;
  /** frwdLock: the submit path's. */
  readonly frwd: AsyncMutex;
  /** backLock: the response path's (the same mutex as frwd in `one` mode). */
  readonly back: AsyncMutex;
  readonly #onError: (e: unknown) => void;

  constructor(mode: LockMode, onError: (e: unknown) => void) {
    this.mode = mode;
    this.frwd = new AsyncMutex(mode === 'one' ? 'sessionLock' : 'frwdLock', FRWD_RANK);
    this.back = mode === 'one' ? this.frwd : new AsyncMutex('backLock', BACK_RANK);
    this.#onError = onError;
  }

  /** Runs a forward (submit path) section. */
  forward(fn: () => void): void {
    if (!this.frwd.tryRunSync(fn)) this.frwd.runExclusive(fn).catch(this.#onError);
  }

  /** Runs a backward (response path) section. Must not be called inside a forward section: use {@link backInsideForward}. */
  backward(fn: () => void): void {
    if (!this.back.tryRunSync(fn)) this.back.runExclusive(fn).catch(this.#onError);
  }

  /**
   * Runs `fn` holding backLock while frwdLock is held (the allowed nesting). In one-lock mode the
   * single lock is already held and `fn` just runs. Throws if frwdLock is not held by this context.
   */
  backInsideForward(fn: () => void): void {
    const held = AsyncMutex.held();
    if (!held.includes(this.frwd)) throw new Error(`backInsideForward called without ${this.frwd.name}`);
    if (this.mode === 'one') {
      fn();
      return;
    }
    // Inside a synchronous forward section nobody else can hold backLock across an await... unless a
    // backward section awaits, which this code never does; if it did, tryRunSync reports it.
    if (!this.back.tryRunSync(fn)) throw new Error('backLock is held across an await while frwdLock waits for it');
  }

  /** The counters of each distinct lock. */
  stats(): LockStats[] {
    const s = (m: AsyncMutex): LockStats => ({
      name: m.name,
      acquisitions: m.acquisitions,
      contended: m.contended,
      holdNs: m.holdNs,
      maxHoldNs: m.maxHoldNs,
    });
    return this.mode === 'one' ? [s(this.frwd)] : [s(this.frwd), s(this.back)];
  }
}
