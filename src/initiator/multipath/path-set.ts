// The paths of a MultipathSession and everything about them but the commands: opening each URL's
// session and checking it reaches the LU (path.ts), taking paths in and out of service as their
// sessions drop and reconnect, reading the ALUA states (on a unit attention, a refusal, a timer), asking
// a Standby port to become active under explicit ALUA, and letting commands wait for a usable path.

import type { Logger } from 'pino';
import { AbortError, ConnectionError, LoginError } from '../../errors.js';
import { ALUA_STATE, TPGS, aluaStateName, cdbSetTargetPortGroups, encodeSetTargetPortGroups } from '../../scsi/cdb/alua.js';
import type { Clock, TimerHandle } from '../../util/clock.js';
import { NoPathError, PathIdentityError, sessionClosedError } from '../errors.js';
import type { SessionEvent } from '../events.js';
import type { SessionOptions } from '../options.js';
import type { IscsiUrl } from '../url.js';
import { aluaStateFromSense, unitAttentionMovesStates } from './classify.js';
import { MULTIPATH_DEFAULTS, type MultipathEvent, type PathSession } from './options.js';
import { Path, probePath, reportTargetPortGroups, type PathProbe } from './path.js';
import type { PathSelector } from './selector.js';

/** While commands wait for a usable path, how often they look again (and the states are re-read), ms. */
export const NO_PATH_POLL_MS = 1000;

/** What a {@link PathSet} is set up with (MultipathSession resolves it from its options). */
export interface PathSetOptions {
  selector: PathSelector;
  clock: Clock;
  log: Logger | undefined;
  /** Reports an event of the multipath session. */
  emit: (e: MultipathEvent) => void;
  /** Opens a path's session. */
  open: (url: IscsiUrl, options: SessionOptions) => Promise<PathSession>;
  pathOptions: SessionOptions;
  checkInterval: number;
  checkTimeout: number;
  pathRetryInterval: number;
  activateStandby: boolean;
}

interface Waiter {
  done(): void;
}

/** The paths of one multipath session. */
export class PathSet {
  readonly paths: Path[];
  readonly #selector: PathSelector;
  readonly #clock: Clock;
  readonly #log: Logger | undefined;
  readonly #emit: (e: MultipathEvent) => void;
  readonly #open: (url: IscsiUrl, options: SessionOptions) => Promise<PathSession>;
  readonly #pathOptions: SessionOptions;
  readonly #checkInterval: number;
  readonly #checkTimeout: number;
  readonly #pathRetryInterval: number;
  readonly #activate: boolean;
  /** The device every path must reach, set by the first paths opened (the block size once a port told it). */
  #ref: { lu: string | undefined; blockSize: number | undefined } | null = null;
  #timer: TimerHandle | null = null;
  #waiters: Waiter[] = [];
  #refreshing: Promise<void> | null = null;
  #refreshAgain = false;
  #lastActivation = -Infinity;
  /** When a command waiting for a path last asked for the states to be read again. */
  #lastPoll = -Infinity;
  /** Rounds of REPORT TARGET PORT GROUPS. */
  stateReads = 0;
  /** True once close() began. */
  closing = false;

  constructor(paths: Path[], o: PathSetOptions) {
    this.paths = paths;
    this.#selector = o.selector;
    this.#clock = o.clock;
    this.#log = o.log;
    this.#emit = o.emit;
    this.#open = o.open;
    this.#pathOptions = o.pathOptions;
    this.#checkInterval = o.checkInterval;
    this.#checkTimeout = o.checkTimeout;
    this.#pathRetryInterval = o.pathRetryInterval;
    this.#activate = o.activateStandby;
  }

  /** The block size the paths reported (undefined until a port that allows READ CAPACITY told it). */
  get blockSize(): number | undefined {
    return this.#ref?.blockSize;
  }

  /** Stops the timer, wakes waiting commands and closes every path's session. */
  async close(): Promise<void> {
    this.closing = true;
    this.#timer?.cancel();
    this.#timer = null;
    this.wake();
    await Promise.all(this.paths.map((p) => p.session?.close()));
    for (const p of this.paths) {
      p.status = 'closed';
      p.epoch++;
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.#clock.setTimeout(resolve, ms));
  }

  /** A command found no path: read the states again, at most once per poll interval (every waiting command comes by). */
  poll(): void {
    const now = this.#clock.now();
    if (now - this.#lastPoll < NO_PATH_POLL_MS) return;
    this.#lastPoll = now;
    this.scheduleRefresh();
  }

  /** Reads the states again soon; now if no read is under way, else once it ends. */
  requestRefresh(): Promise<void> {
    this.#refreshAgain = true;
    return this.refresh();
  }

  /** Resolves when a path may carry commands, or after a poll interval (the caller looks again); rejects when `signal` aborts. */
  waitForPath(deadline: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted === true) return reject(abortErrorOf(signal));
      const onAbort = (): void => {
        w.done();
        reject(abortErrorOf(signal!));
      };
      const timer = this.#clock.setTimeout(() => w.done(), Math.max(0, Math.min(deadline - this.#clock.now(), NO_PATH_POLL_MS)));
      const w: Waiter = {
        done: () => {
          timer.cancel();
          signal?.removeEventListener('abort', onAbort);
          const i = this.#waiters.indexOf(w);
          if (i >= 0) this.#waiters.splice(i, 1);
          resolve();
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(w);
    });
  }

  /** Wakes every command waiting for a path. */
  wake(): void {
    const ws = this.#waiters;
    this.#waiters = [];
    for (const w of ws) w.done();
  }

  /**
   * Opens every path, checks the opened ones reach one device, reads their states and takes them in;
   * paths that did not open are retried in the background. Starts the check timer.
   * @throws NoPathError (none opened), PathIdentityError (they reach different devices)
   */
  async openAll(signal: AbortSignal | undefined): Promise<void> {
    const probes = await Promise.all(this.paths.map((p) => this.#openPath(p, signal).catch(() => undefined)));
    const opened = this.paths.filter((_, i) => probes[i] !== undefined);
    if (opened.length === 0) {
      const why = this.paths.map((p) => `${p.label}: ${p.lastError?.message ?? 'not opened'}`).join('; ');
      throw new NoPathError(`no path to the LU could be opened (${why})`, this.paths.map((p) => p.lastError), { cause: this.paths[0]!.lastError, atConnect: true });
    }
    const first = probes.find((x) => x !== undefined)!;
    this.#ref = { lu: first.lu, blockSize: probes.find((x) => x?.blockSize !== undefined)?.blockSize };
    for (const p of opened) {
      const err = this.#identityError(p, probes[p.index]!);
      if (err !== undefined) throw err;
    }
    await Promise.all(opened.map((p) => this.#admit(p, p.session!, p.epoch, probes[p.index]!)));
    for (const p of this.paths) if (p.session === null) void this.#reopen(p);
    this.#timer = this.#clock.setTimeout(this.#tick, this.#checkInterval);
  }

  /** Opens a path's session and probes it; on failure the path has no session and `lastError` says why. */
  async #openPath(p: Path, signal?: AbortSignal): Promise<PathProbe> {
    p.status = 'connecting';
    let s: PathSession;
    try {
      s = await this.#open(p.url, signal === undefined ? this.#pathOptions : { ...this.#pathOptions, signal });
    } catch (e) {
      p.lastError = e as Error;
      throw e;
    }
    if (this.closing) {
      await s.close();
      throw sessionClosedError();
    }
    p.session = s;
    p.epoch++;
    p.status = 'checking';
    s.on('event', (e: SessionEvent) => this.#onPathEvent(p, s, e));
    try {
      return await probePath(s, this.#checkTimeout);
    } catch (e) {
      p.lastError = e as Error;
      if (p.session === s) p.session = null;
      p.status = 'connecting';
      await s.close();
      throw e;
    }
  }

  /** Retries opening a path that has no session, with a doubling delay, until it opens or the session closes. */
  async #reopen(p: Path): Promise<void> {
    let delay = this.#pathRetryInterval;
    while (!this.closing && p.session === null && p.status !== 'refused') {
      await this.#sleep(delay);
      if (this.closing || p.session !== null) return;
      let probe: PathProbe;
      try {
        probe = await this.#openPath(p);
      } catch {
        delay = Math.min(MULTIPATH_DEFAULTS.pathRetryMax, delay * 2);
        continue;
      }
      const err = this.#identityError(p, probe);
      if (err !== undefined) return this.#refuse(p, err);
      await this.#admit(p, p.session!, p.epoch, probe);
      return;
    }
  }

  /** Undefined when `probe` shows the path reaches the device of the others; the reason otherwise. */
  #identityError(p: Path, probe: PathProbe): PathIdentityError | undefined {
    const ref = this.#ref;
    if (ref === null) return undefined;
    if (probe.lu === undefined && this.paths.length > 1) {
      return new PathIdentityError(p.index, p.label, `${p.label} reports no logical unit designator (NAA, EUI-64 or SCSI name string) in its Device Identification VPD page (SPC-4 §7.8.6): it cannot be shown to reach the device of the other paths`);
    }
    if (probe.lu !== ref.lu) return new PathIdentityError(p.index, p.label, `${p.label} reaches another logical unit (designator ${probe.lu}) than the other paths (${ref.lu}): not a path of this device`);
    if (probe.blockSize !== undefined && ref.blockSize !== undefined && probe.blockSize !== ref.blockSize) {
      return new PathIdentityError(p.index, p.label, `${p.label} reports ${probe.blockSize}-byte blocks where the other paths report ${ref.blockSize}`);
    }
    ref.blockSize ??= probe.blockSize;
    return undefined;
  }

  #refuse(p: Path, err: PathIdentityError): void {
    this.#log?.warn({ path: p.label, err: err.message }, 'path refused');
    p.status = 'refused';
    p.lastError = err;
    p.epoch++;
    const s = p.session;
    p.session = null;
    void s?.close();
    this.#emit({ type: 'path-refused', path: p.index, url: p.label, error: err });
  }

  /** Takes a path whose probe passed into service: its ALUA state read, then `up`. */
  async #admit(p: Path, s: PathSession, epoch: number, probe: PathProbe): Promise<void> {
    p.learn(probe);
    if (probe.tpgs !== TPGS.NONE) await this.#readState(p, s, epoch);
    if (p.session !== s || p.epoch !== epoch || this.closing || !s.connected) return;
    p.status = 'up';
    this.#log?.info({ path: p.label, state: aluaStateName(p.aluaState) }, 'path up');
    this.#emit({ type: 'path-up', path: p.index, url: p.label, aluaStateName: aluaStateName(p.aluaState) });
    this.wake();
  }

  /** A path's session is logged in again (or a failed path drained): check it before it carries commands. */
  async #recheck(p: Path, s: PathSession): Promise<void> {
    const epoch = ++p.epoch;
    p.status = 'checking';
    let probe: PathProbe;
    try {
      probe = await probePath(s, this.#checkTimeout);
    } catch (e) {
      if (p.session === s && p.epoch === epoch) {
        p.lastError = e as Error;
        // Still connected: look again at the next check; otherwise the next reconnection does.
        p.status = s.connected ? 'failed' : 'down';
      }
      return;
    }
    if (p.session !== s || p.epoch !== epoch) return;
    const err = this.#identityError(p, probe);
    if (err !== undefined) return this.#refuse(p, err);
    await this.#admit(p, s, epoch, probe);
  }

  #onPathEvent(p: Path, s: PathSession, e: SessionEvent): void {
    if (p.session !== s || this.closing) return;
    this.#emit({ type: 'path-event', path: p.index, url: p.label, event: e });
    switch (e.type) {
      case 'connection-lost': {
        const was = p.status;
        p.epoch++;
        p.downs++;
        p.lastError = e.error;
        p.status = 'down';
        // The session would send its commands again once it reconnects: they go to another path now.
        s.failQueued(new ConnectionError('ERR_PATH_DOWN', `path ${p.label} lost its connection (${e.reason})`, { cause: e.error }));
        if (was === 'up' || was === 'failed') {
          this.#log?.info({ path: p.label, reason: e.reason }, 'path down');
          this.#emit({ type: 'path-down', path: p.index, url: p.label, reason: e.reason, error: e.error });
        }
        break;
      }
      case 'reconnected':
        void this.#recheck(p, s);
        break;
      case 'unit-attention':
        if (unitAttentionMovesStates(e.asc, e.ascq)) this.scheduleRefresh();
        break;
      case 'session-lost':
        // An initiator error at login (authentication, no such target): the session stopped trying.
        if (e.error instanceof LoginError && e.error.statusClass === 2) this.#abandon(p, s, e.error);
        break;
      case 'closed':
        this.#abandon(p, s, e.error);
        break;
      default:
        break;
    }
  }

  /** The path's session gave up: open a new one in the background. */
  #abandon(p: Path, s: PathSession, err: Error): void {
    p.session = null;
    p.epoch++;
    p.lastError = err;
    p.status = 'connecting';
    void s.close();
    void this.#reopen(p);
  }

  /** A command timed out or broke the protocol on a live path: no more commands there until it passes a check. */
  pathFailed(p: Path, err: Error): void {
    if (p.status !== 'up') return;
    p.status = 'failed';
    this.#log?.info({ path: p.label, err: err.message }, 'path failed');
    this.#emit({ type: 'path-failed', path: p.index, url: p.label, error: err });
  }

  /** The port answered that it refuses media access in its state: take the state it told, and read them all again. */
  portRefused(p: Path, e: unknown): void {
    const sense = e as { senseKey?: number; asc?: number; ascq?: number };
    const st = aluaStateFromSense(sense.senseKey, sense.asc, sense.ascq);
    if (st >= 0 && st !== p.aluaState) this.#stateChanged(p, st);
    this.scheduleRefresh();
  }

  #stateChanged(p: Path, state: number): void {
    const previous = aluaStateName(p.aluaState);
    p.aluaState = state;
    this.#log?.info({ path: p.label, state: aluaStateName(state), previous }, 'ALUA state changed');
    this.#emit({ type: 'alua-state', path: p.index, url: p.label, aluaState: state, aluaStateName: aluaStateName(state), previous });
  }

  readonly #tick = (): void => {
    if (this.closing) return;
    // A port on its way in or out (Transitioning, Unavailable: a gateway joining or fenced) is looked at
    // every second: it sends nothing on its own, and its unit attention reaches only a command.
    const changing = this.paths.some((p) => p.status === 'up' && p.tpgs !== TPGS.NONE && (p.aluaState === ALUA_STATE.TRANSITIONING || p.aluaState === ALUA_STATE.UNAVAILABLE));
    this.#timer = this.#clock.setTimeout(this.#tick, changing ? Math.min(NO_PATH_POLL_MS, this.#checkInterval) : this.#checkInterval);
    if (this.paths.some((p) => p.tpgs !== TPGS.NONE)) this.scheduleRefresh();
    for (const p of this.paths) {
      const s = p.session;
      if (p.status === 'failed' && s !== null && s.connected && s.busy === 0) void this.#recheck(p, s);
    }
  };

  scheduleRefresh(): void {
    if (this.closing) return;
    if (this.#refreshing !== null) {
      this.#refreshAgain = true;
      return;
    }
    void this.refresh();
  }

  /** Reads the states of the paths that are up (again while asked meanwhile), then wakes waiting commands. */
  refresh(): Promise<void> {
    if (this.#refreshing !== null) return this.#refreshing;
    const run = async (): Promise<void> => {
      try {
        do {
          this.#refreshAgain = false;
          this.stateReads++;
          await Promise.all(this.paths.filter((p) => p.status === 'up' && p.tpgs !== TPGS.NONE).map((p) => this.#readState(p, p.session!, p.epoch)));
          await this.#activateStandby();
        } while (this.#refreshAgain && !this.closing);
      } finally {
        this.#refreshing = null;
        if (this.#selector.any(this.paths)) this.wake();
      }
    };
    this.#refreshing = run();
    return this.#refreshing;
  }

  /** REPORT TARGET PORT GROUPS through `p`: its own group's state, as its own port reports it. */
  async #readState(p: Path, s: PathSession, epoch: number): Promise<void> {
    let rtpg;
    try {
      rtpg = await reportTargetPortGroups(s, this.#checkTimeout);
    } catch (e) {
      if (p.session === s && p.epoch === epoch) p.lastError = e as Error;
      this.#log?.debug({ path: p.label, err: (e as Error).message }, 'REPORT TARGET PORT GROUPS failed');
      return;
    }
    if (p.session !== s || p.epoch !== epoch) return;
    const g = p.groupIn(rtpg);
    if (g === undefined) {
      this.#log?.warn({ path: p.label, tpg: p.targetPortGroup, rtpi: p.relativeTargetPort }, 'REPORT TARGET PORT GROUPS lists no group for this port');
      return;
    }
    p.targetPortGroup ??= g.tpg;
    p.pref = g.pref;
    if (g.state !== p.aluaState) this.#stateChanged(p, g.state);
  }

  /**
   * With no Active path but a Standby one whose LU supports explicit ALUA, asks that port's group to
   * become Active/Optimized (SET TARGET PORT GROUPS, SPC-4 §6.45), at most once per check interval.
   */
  async #activateStandby(): Promise<void> {
    if (!this.#activate || this.#selector.any(this.paths)) return;
    const p = this.paths.find((x) => x.usable && x.aluaState === ALUA_STATE.STANDBY && (x.tpgs & TPGS.EXPLICIT) !== 0 && x.targetPortGroup !== undefined);
    const now = this.#clock.now();
    if (p === undefined || now - this.#lastActivation < this.#checkInterval) return;
    this.#lastActivation = now;
    const data = encodeSetTargetPortGroups([{ tpg: p.targetPortGroup!, state: ALUA_STATE.ACTIVE_OPTIMIZED }]);
    try {
      await p.session!.execute(cdbSetTargetPortGroups(data.length), { dataOut: data, timeout: this.#checkTimeout });
      this.#log?.info({ path: p.label, tpg: p.targetPortGroup }, 'asked a standby target port group to become active/optimized');
      this.#refreshAgain = true;
    } catch (e) {
      this.#log?.info({ path: p.label, err: (e as Error).message }, 'SET TARGET PORT GROUPS failed');
    }
  }
}

function abortErrorOf(signal: AbortSignal): AbortError {
  const reason: unknown = signal.reason;
  if (reason instanceof AbortError) return reason;
  return new AbortError('the command was aborted', reason === undefined ? undefined : { cause: reason });
}
