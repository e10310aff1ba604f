// MultipathSession: one logical unit through several URLs (target ports), with the API of Session. It
// checks that the URLs reach one device (the LU designator of the Device Identification VPD page), learns
// each port's ALUA state (REPORT TARGET PORT GROUPS, SPC-4 §5.15, §6.37), sends each command on the best
// path (selector.ts), and when a path fails under a command (connection lost, no answer, a port that
// refuses media access) sends it on another (classify.ts); it re-reads the states on the ALUA unit
// attention and on a timer, and takes a path back once its session reconnected and it passed its checks.

import type { Logger } from 'pino';
import { AbortError, ConnectionError, LoginError } from '../../errors.js';
import { ALUA_STATE, TPGS, aluaStateName, cdbSetTargetPortGroups, encodeSetTargetPortGroups } from '../../scsi/cdb/alua.js';
import type { StandardInquiry } from '../../scsi/cdb/spc.js';
import { CheckedEventEmitter } from '../../util/checked-emitter.js';
import { realClock, type Clock } from '../../util/clock.js';
import { EventChannel, type EventIterator } from '../../util/event-channel.js';
import type { CommandResult } from '../core/result.js';
import { NoPathError, PathIdentityError, UrlError, sessionClosedError } from '../errors.js';
import type { SessionEvent } from '../events.js';
import type { Capacity, SessionOptions } from '../options.js';
import { Session } from '../session.js';
import { formatIscsiUrl, parseIscsiUrl, redact, type IscsiUrl } from '../url.js';
import { aluaStateFromSense, failoverAction, unitAttentionMovesStates } from './classify.js';
import {
  MULTIPATH_DEFAULTS,
  MULTIPATH_EVENT_TYPES,
  MULTIPATH_PATH_DEFAULTS,
  type MultipathCommandOptions,
  type MultipathEvent,
  type MultipathExecuteOptions,
  type MultipathOptions,
  type MultipathReadOptions,
  type MultipathStats,
  type MultipathWriteOptions,
  type PathSession,
  type PathStatus,
} from './options.js';
import { Path, probePath, reportTargetPortGroups, type PathProbe } from './path.js';
import { PathSelector } from './selector.js';

// The commands #run knows, as small integers so that the hot path switches without a closure.
const OP_READ = 0;
const OP_WRITE = 1;
const OP_EXECUTE = 2;
const OP_INQUIRY = 3;
const OP_VPD = 4;
const OP_READ_CAPACITY = 5;
const OP_TEST_UNIT_READY = 6;
const OP_SYNCHRONIZE_CACHE = 7;
const OP_REPORT_LUNS = 8;

/** Commands that change nothing: sent again at once on another path, whatever became of the first try. */
function readsOnly(op: number): boolean {
  return op !== OP_WRITE && op !== OP_EXECUTE && op !== OP_SYNCHRONIZE_CACHE;
}

/** While commands wait for a usable path, how often they look again (and the states are re-read), ms. */
const NO_PATH_POLL_MS = 1000;
/** How often a failed path is looked at while a write waits for its commands to drain, ms. */
const DRAIN_POLL_MS = 50;

/** Every option a command of any kind may carry (what #run hands the path's session). */
type AnyOptions = MultipathReadOptions & MultipathWriteOptions & MultipathExecuteOptions;

interface Waiter {
  done(): void;
}

/**
 * One logical unit through several target ports. Commands go to the best path by ALUA state
 * (Active/Optimized first, round-robin among equals; policy `multibus` spreads over every Active path)
 * and fail over to another path when theirs fails. Events: see {@link MultipathEvent}.
 *
 * @example
 * const m = await MultipathSession.connect(['iscsi://10.0.0.1/iqn.2026-01.example:disk/0', 'iscsi://10.0.0.2/iqn.2026-01.example:disk/0']);
 * const data = await m.read(0, 8);
 * console.log(m.paths().map((p) => `${p.url}: ${p.aluaStateName}`));
 * await m.close();
 */
export class MultipathSession extends CheckedEventEmitter<MultipathEvent> {
  readonly #paths: Path[];
  readonly #selector: PathSelector;
  readonly #clock: Clock;
  readonly #log: Logger | undefined;
  readonly #events: EventChannel<MultipathEvent>;
  readonly #pathOptions: SessionOptions;
  readonly #open: (url: IscsiUrl, options: SessionOptions) => Promise<PathSession>;
  readonly #failoverTimeout: number;
  readonly #checkInterval: number;
  readonly #checkTimeout: number;
  readonly #retryDelay: number;
  readonly #pathRetryInterval: number;
  readonly #activate: boolean;
  /** The device every path must reach, set by the first paths opened (the block size once a port told it). */
  #ref: { lu: string | undefined; blockSize: number | undefined } | null = null;
  #capacity: Capacity | undefined;
  #closing: Promise<void> | null = null;
  #timer: { cancel(): void } | null = null;
  #waiters: Waiter[] = [];
  #refreshing: Promise<void> | null = null;
  #refreshAgain = false;
  #lastActivation = -Infinity;
  /** When a command waiting for a path last asked for the states to be read again. */
  #lastPoll = -Infinity;
  #commands = 0;
  #retries = 0;
  #noPath = 0;
  #stateReads = 0;

  private constructor(urls: IscsiUrl[], o: MultipathOptions) {
    super(MULTIPATH_EVENT_TYPES);
    this.#paths = urls.map((u, i) => new Path(i, u, formatIscsiUrl({ host: u.host, port: u.port, target: u.target, lun: u.lun })));
    this.#selector = new PathSelector(o.pathPolicy ?? MULTIPATH_DEFAULTS.pathPolicy);
    this.#clock = o.clock ?? realClock;
    this.#log = o.logger?.child({ multipath: true });
    this.#events = new EventChannel<MultipathEvent>((e) =>
      queueMicrotask(() => {
        this.emit(e.type, e);
        this.emit('event', e);
      }),
    );
    this.#failoverTimeout = o.failoverTimeout ?? MULTIPATH_DEFAULTS.failoverTimeout;
    this.#checkInterval = o.checkInterval ?? MULTIPATH_DEFAULTS.checkInterval;
    this.#checkTimeout = o.checkTimeout ?? MULTIPATH_DEFAULTS.checkTimeout;
    this.#retryDelay = o.retryDelay ?? MULTIPATH_DEFAULTS.retryDelay;
    this.#pathRetryInterval = o.pathRetryInterval ?? MULTIPATH_DEFAULTS.pathRetryInterval;
    this.#activate = o.activateStandby ?? MULTIPATH_DEFAULTS.activateStandby;
    this.#open = o.openPath ?? ((url, so) => Session.connect(url, so));
    const { pathPolicy: _p, failoverTimeout: _f, checkInterval: _c, checkTimeout: _t, retryDelay: _r, pathRetryInterval: _i, activateStandby: _a, openPath: _o, signal: _s, ...session } = o;
    this.#pathOptions = { ...MULTIPATH_PATH_DEFAULTS, ...session, reconnect: { ...MULTIPATH_PATH_DEFAULTS.reconnect, ...session.reconnect } };
  }

  /**
   * Logs in through every URL (each an `iscsi://host[:port]/target-iqn/lun` of the same LU), checks that
   * they reach one device, and reads the ALUA states. Paths that cannot be opened now are retried in the
   * background; at least one must open.
   * @throws UrlError, PathIdentityError (the URLs reach different devices), NoPathError (no path opened:
   *   `errors` holds each one's reason)
   */
  static async connect(urls: readonly (string | IscsiUrl)[], options: MultipathOptions = {}): Promise<MultipathSession> {
    if (urls.length === 0) throw new UrlError('a multipath session needs at least one URL');
    const parsed = urls.map((u) => {
      const p = typeof u === 'string' ? parseIscsiUrl(u) : u;
      if (p.target === undefined || p.lun === undefined) throw new UrlError(`${typeof u === 'string' ? redact(u) : 'a URL'} names no target and LUN: expected iscsi://host[:port]/target-iqn/lun`);
      return p;
    });
    const m = new MultipathSession(parsed, options);
    try {
      await m.#openAll(options.signal);
    } catch (e) {
      await m.close();
      throw e;
    }
    return m;
  }

  // =====================================================================================
  // Commands: Session's, each sent on the best path and failed over

  /** Reads `blocks` blocks from `lba` (see Session.read). */
  read(lba: number, blocks: number, options: MultipathReadOptions = {}): Promise<Buffer> {
    return this.#run(OP_READ, lba, blocks, undefined, options) as Promise<Buffer>;
  }

  /** Writes `data` (a whole number of blocks) at `lba` (see Session.write). */
  write(lba: number, data: Buffer, options: MultipathWriteOptions = {}): Promise<void> {
    return this.#run(OP_WRITE, lba, 0, data, options) as Promise<void>;
  }

  /**
   * Runs any CDB (see Session.execute). It fails over like the others, so a command that is not
   * idempotent may run twice when a path fails under it (as with dm-multipath); `path` pins it to one
   * path, without failover (e.g. a PERSISTENT RESERVE OUT that registers each I_T nexus).
   */
  execute(cdb: Buffer, options: MultipathExecuteOptions = {}): Promise<CommandResult> {
    if (options.path !== undefined) {
      const p = this.#paths[options.path];
      if (p === undefined) return Promise.reject(new RangeError(`path ${options.path}: there are ${this.#paths.length} paths`));
      if (p.session === null) return Promise.reject(new ConnectionError('ERR_PATH_DOWN', `path ${p.label} has no session (${p.status})`));
      const { path: _p, ...rest } = options;
      return p.session.execute(cdb, rest);
    }
    return this.#run(OP_EXECUTE, 0, 0, cdb, options) as Promise<CommandResult>;
  }

  /** Standard INQUIRY data (SPC-4 §6.6). */
  inquiry(options: MultipathCommandOptions = {}): Promise<StandardInquiry> {
    return this.#run(OP_INQUIRY, 0, 0, undefined, options) as Promise<StandardInquiry>;
  }

  /** A VPD page (SPC-4 §7.8), raw. Port designators of page 83h differ by path. */
  inquiryVpd(page: number, options: MultipathCommandOptions = {}): Promise<Buffer> {
    return this.#run(OP_VPD, page, 0, undefined, options) as Promise<Buffer>;
  }

  /** READ CAPACITY (see Session.readCapacity). */
  async readCapacity(options: MultipathCommandOptions = {}): Promise<Capacity> {
    const c = (await this.#run(OP_READ_CAPACITY, 0, 0, undefined, options)) as Capacity;
    this.#capacity = c;
    return c;
  }

  /** TEST UNIT READY (SPC-4 §6.47). */
  testUnitReady(options: MultipathCommandOptions = {}): Promise<void> {
    return this.#run(OP_TEST_UNIT_READY, 0, 0, undefined, options) as Promise<void>;
  }

  /** SYNCHRONIZE CACHE(10) of the whole LU. */
  synchronizeCache(options: MultipathCommandOptions = {}): Promise<void> {
    return this.#run(OP_SYNCHRONIZE_CACHE, 0, 0, undefined, options) as Promise<void>;
  }

  /** The LUNs of the target (REPORT LUNS, SPC-4 §6.33). */
  reportLuns(options: MultipathCommandOptions = {}): Promise<number[]> {
    return this.#run(OP_REPORT_LUNS, 0, 0, undefined, options) as Promise<number[]>;
  }

  /** The block size every path reported. */
  get blockSize(): number | undefined {
    return this.#ref?.blockSize;
  }

  /** The last READ CAPACITY result. */
  get capacity(): Capacity | undefined {
    return this.#capacity;
  }

  /** True while some path may carry a command. */
  get connected(): boolean {
    return this.#selector.any(this.#paths);
  }

  /** Each path: where it stands, its ALUA state, its counters. */
  paths(): PathStatus[] {
    return this.#paths.map((p) => p.snapshot());
  }

  /** The session's counters and each path's. */
  stats(): MultipathStats {
    return { commands: this.#commands, retries: this.#retries, noPath: this.#noPath, stateReads: this.#stateReads, paths: this.paths() };
  }

  /** Reads the ALUA state of every path now (it also happens on its own; see the options). */
  refreshStates(): Promise<void> {
    this.#refreshAgain = true;
    return this.#refresh();
  }

  /** Events from now on, until the session closes (see Session.events for the queueing rules). */
  events(): EventIterator<MultipathEvent> {
    return this.#events.subscribe();
  }

  /** Logs every path out and closes. Idempotent; commands still waiting fail with ERR_SESSION_CLOSED. */
  close(): Promise<void> {
    if (this.#closing !== null) return this.#closing;
    this.#closing = (async () => {
      this.#timer?.cancel();
      this.#timer = null;
      this.#wake();
      await Promise.all(this.#paths.map((p) => p.session?.close()));
      for (const p of this.#paths) {
        p.status = 'closed';
        p.epoch++;
      }
      this.#events.emit({ type: 'closed', error: sessionClosedError() });
      this.#events.close();
    })();
    return this.#closing;
  }

  // =====================================================================================
  // The command loop

  async #run(op: number, a: number, b: number, buf: Buffer | undefined, o: AnyOptions): Promise<unknown> {
    let avoid: Path | null = null;
    /** When this command stops failing over: set at its first failure (or first wait for a path). */
    let deadline = -1;
    let lastError: unknown;
    for (;;) {
      if (this.#closing !== null) throw sessionClosedError();
      const p: Path | null = this.#selector.select(this.#paths, avoid);
      if (p === null || p === avoid) {
        // Nothing else to take: wait for a path (or pause before the same one again), within the deadline.
        if (deadline < 0) deadline = this.#clock.now() + this.#failoverTimeout;
        if (this.#clock.now() >= deadline) throw this.#noPathError(lastError);
        if (p === null) {
          // Read the states again (at most once per poll: every waiting command comes by here).
          const now = this.#clock.now();
          if (now - this.#lastPoll >= NO_PATH_POLL_MS) {
            this.#lastPoll = now;
            this.#scheduleRefresh();
          }
          await this.#waitForPath(deadline, o.signal);
          avoid = null;
          continue;
        }
        await this.#pause(this.#retryDelay, o.signal);
        avoid = null;
        if (!p.usable) continue;
      }
      const s = p.session!;
      const epoch = p.epoch;
      p.outstanding++;
      try {
        const r = await this.#attempt(s, op, a, b, buf, o);
        p.commands++;
        this.#commands++;
        return r;
      } catch (e) {
        if (this.#closing !== null) throw sessionClosedError();
        const action = failoverAction(e);
        if (action === 'fail' || o.signal?.aborted === true) throw e;
        lastError = e;
        p.lastError = e as Error;
        this.#retries++;
        if (action === 'retry') {
          if (deadline < 0) deadline = this.#clock.now() + this.#failoverTimeout;
          if (this.#clock.now() >= deadline) throw e;
          await this.#pause(this.#retryDelay, o.signal);
          avoid = null;
          continue;
        }
        p.failovers++;
        if (deadline < 0) deadline = this.#clock.now() + this.#failoverTimeout;
        if (action === 'alua') this.#portRefused(p, e);
        else if (p.session === s && s.connected && p.epoch === epoch) {
          // A timeout or a protocol error on a live connection: the command may still run there. A
          // write goes elsewhere only once that path's commands are answered or its connection is gone:
          // otherwise the old one could land after a newer write of the same blocks (SAM-5 §5.6: the
          // initiator knows a command is ended only once its abort completed).
          this.#pathFailed(p, e as Error);
          if (!readsOnly(op)) await this.#drained(p, s, epoch, deadline, e);
        }
        avoid = p;
      } finally {
        p.outstanding--;
      }
    }
  }

  #attempt(s: PathSession, op: number, a: number, b: number, buf: Buffer | undefined, o: AnyOptions): Promise<unknown> {
    switch (op) {
      case OP_READ:
        return s.read(a, b, o);
      case OP_WRITE:
        return s.write(a, buf!, o);
      case OP_EXECUTE:
        return s.execute(buf!, o);
      case OP_INQUIRY:
        return s.inquiry(o);
      case OP_VPD:
        return s.inquiryVpd(a, o);
      case OP_READ_CAPACITY:
        return s.readCapacity(o);
      case OP_TEST_UNIT_READY:
        return s.testUnitReady(o);
      case OP_SYNCHRONIZE_CACHE:
        return s.synchronizeCache(o);
      default:
        return s.reportLuns(o);
    }
  }

  #noPathError(lastError: unknown): NoPathError {
    this.#noPath++;
    const why = this.#paths.map((p) => `${p.label}: ${p.status}${p.status === 'up' ? ` (${aluaStateName(p.aluaState)})` : ''}${p.lastError !== undefined ? `, last error: ${p.lastError.message}` : ''}`).join('; ');
    const within = Number.isFinite(this.#failoverTimeout) ? ` within ${this.#failoverTimeout} ms` : '';
    return new NoPathError(`no usable path to the LU${within} (${why})`, this.#paths.map((p) => p.lastError), lastError === undefined ? undefined : { cause: lastError });
  }

  /** Resolves when a path may carry commands, or after a poll interval (the caller looks again); rejects when `signal` aborts. */
  #waitForPath(deadline: number, signal: AbortSignal | undefined): Promise<void> {
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
  #wake(): void {
    const ws = this.#waiters;
    this.#waiters = [];
    for (const w of ws) w.done();
  }

  #pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted === true) return reject(abortErrorOf(signal));
      this.#clock.setTimeout(() => (signal?.aborted === true ? reject(abortErrorOf(signal)) : resolve()), ms);
    });
  }

  /** Waits until `p`'s session has no command left, or lost its connection (see #run). */
  async #drained(p: Path, s: PathSession, epoch: number, deadline: number, cause: unknown): Promise<void> {
    while (p.session === s && p.epoch === epoch && s.connected && s.busy > 0) {
      if (this.#closing !== null) throw sessionClosedError();
      if (this.#clock.now() >= deadline) {
        this.#noPath++;
        throw new NoPathError(`${p.label} still has commands outstanding ${this.#failoverTimeout} ms after this one failed there: it cannot be sent on another path without risking that the first one lands after it`, this.#paths.map((x) => x.lastError), { cause });
      }
      await this.#pause(DRAIN_POLL_MS, undefined);
    }
  }

  // =====================================================================================
  // Paths: opening, checks, state changes

  async #openAll(signal: AbortSignal | undefined): Promise<void> {
    const probes = await Promise.all(this.#paths.map((p) => this.#openPath(p, signal).catch(() => undefined)));
    const opened = this.#paths.filter((_, i) => probes[i] !== undefined);
    if (opened.length === 0) {
      const why = this.#paths.map((p) => `${p.label}: ${p.lastError?.message ?? 'not opened'}`).join('; ');
      throw new NoPathError(`no path to the LU could be opened (${why})`, this.#paths.map((p) => p.lastError), { cause: this.#paths[0]!.lastError, atConnect: true });
    }
    const first = probes.find((x) => x !== undefined)!;
    this.#ref = { lu: first.lu, blockSize: probes.find((x) => x?.blockSize !== undefined)?.blockSize };
    this.#capacity = undefined;
    for (const p of opened) {
      const err = this.#identityError(p, probes[p.index]!);
      if (err !== undefined) throw err;
    }
    await Promise.all(opened.map((p) => this.#admit(p, p.session!, p.epoch, probes[p.index]!)));
    for (const p of this.#paths) if (p.session === null) void this.#reopen(p);
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
    if (this.#closing !== null) {
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
    while (this.#closing === null && p.session === null && p.status !== 'refused') {
      await this.#pause(delay, undefined);
      if (this.#closing !== null || p.session !== null) return;
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

  /** Null when `probe` shows the path reaches the device of the others; the reason otherwise. */
  #identityError(p: Path, probe: PathProbe): PathIdentityError | undefined {
    const ref = this.#ref;
    if (ref === null) return undefined;
    if (probe.lu === undefined && this.#paths.length > 1) {
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
    this.#events.emit({ type: 'path-refused', path: p.index, url: p.label, error: err });
  }

  /** Takes a path whose probe passed into service: its ALUA state read, then `up`. */
  async #admit(p: Path, s: PathSession, epoch: number, probe: PathProbe): Promise<void> {
    p.learn(probe);
    if (probe.tpgs !== TPGS.NONE) await this.#readState(p, s, epoch);
    if (p.session !== s || p.epoch !== epoch || this.#closing !== null || !s.connected) return;
    p.status = 'up';
    this.#log?.info({ path: p.label, state: aluaStateName(p.aluaState) }, 'path up');
    this.#events.emit({ type: 'path-up', path: p.index, url: p.label, aluaStateName: aluaStateName(p.aluaState) });
    this.#wake();
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
    if (p.session !== s || this.#closing !== null) return;
    this.#events.emit({ type: 'path-event', path: p.index, url: p.label, event: e });
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
          this.#events.emit({ type: 'path-down', path: p.index, url: p.label, reason: e.reason, error: e.error });
        }
        break;
      }
      case 'reconnected':
        void this.#recheck(p, s);
        break;
      case 'unit-attention':
        if (unitAttentionMovesStates(e.asc, e.ascq)) this.#scheduleRefresh();
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
  #pathFailed(p: Path, err: Error): void {
    if (p.status !== 'up') return;
    p.status = 'failed';
    this.#log?.info({ path: p.label, err: err.message }, 'path failed');
    this.#events.emit({ type: 'path-failed', path: p.index, url: p.label, error: err });
  }

  /** The port answered that it refuses media access in its state: take the state it told, and read them all again. */
  #portRefused(p: Path, e: unknown): void {
    const sense = e as { senseKey?: number; asc?: number; ascq?: number };
    const st = aluaStateFromSense(sense.senseKey, sense.asc, sense.ascq);
    if (st >= 0 && st !== p.aluaState) this.#stateChanged(p, st);
    this.#scheduleRefresh();
  }

  #stateChanged(p: Path, state: number): void {
    const previous = aluaStateName(p.aluaState);
    p.aluaState = state;
    this.#log?.info({ path: p.label, state: aluaStateName(state), previous }, 'ALUA state changed');
    this.#events.emit({ type: 'alua-state', path: p.index, url: p.label, aluaState: state, aluaStateName: aluaStateName(state), previous });
  }

  readonly #tick = (): void => {
    if (this.#closing !== null) return;
    // A port on its way in or out (Transitioning, Unavailable: a gateway joining or fenced) is looked at
    // every second: it sends nothing on its own, and its unit attention reaches only a command.
    const changing = this.#paths.some((p) => p.status === 'up' && p.tpgs !== TPGS.NONE && (p.aluaState === ALUA_STATE.TRANSITIONING || p.aluaState === ALUA_STATE.UNAVAILABLE));
    this.#timer = this.#clock.setTimeout(this.#tick, changing ? Math.min(NO_PATH_POLL_MS, this.#checkInterval) : this.#checkInterval);
    if (this.#paths.some((p) => p.tpgs !== TPGS.NONE)) this.#scheduleRefresh();
    for (const p of this.#paths) {
      const s = p.session;
      if (p.status === 'failed' && s !== null && s.connected && s.busy === 0) void this.#recheck(p, s);
    }
  };

  #scheduleRefresh(): void {
    if (this.#closing !== null) return;
    if (this.#refreshing !== null) {
      this.#refreshAgain = true;
      return;
    }
    void this.#refresh();
  }

  /** Reads the states of the paths that are up (again while asked meanwhile), then wakes waiting commands. */
  #refresh(): Promise<void> {
    if (this.#refreshing !== null) return this.#refreshing;
    const run = async (): Promise<void> => {
      try {
        do {
          this.#refreshAgain = false;
          this.#stateReads++;
          await Promise.all(this.#paths.filter((p) => p.status === 'up' && p.tpgs !== TPGS.NONE).map((p) => this.#readState(p, p.session!, p.epoch)));
          await this.#activateStandby();
        } while (this.#refreshAgain && this.#closing === null);
      } finally {
        this.#refreshing = null;
        if (this.#selector.any(this.#paths)) this.#wake();
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
    if (!this.#activate || this.#selector.any(this.#paths)) return;
    const p = this.#paths.find((x) => x.usable && x.aluaState === ALUA_STATE.STANDBY && (x.tpgs & TPGS.EXPLICIT) !== 0 && x.targetPortGroup !== undefined);
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
