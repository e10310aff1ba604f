// MultipathSession: one logical unit through several URLs (target ports), with the API of Session. It
// checks that the URLs reach one device (the LU designator of the Device Identification VPD page), learns
// each port's ALUA state (REPORT TARGET PORT GROUPS, SPC-4 §5.15, §6.37), sends each command on the best
// path (selector.ts), and when a path fails under a command (connection lost, no answer, a port that
// refuses media access) sends it on another (classify.ts); it re-reads the states on the ALUA unit
// attention and on a timer, and takes a path back once its session reconnected and it passed its checks.

import { AbortError, ConnectionError } from '../../errors.js';
import { aluaStateName } from '../../scsi/cdb/alua.js';
import type { StandardInquiry } from '../../scsi/cdb/spc.js';
import { CheckedEventEmitter } from '../../util/checked-emitter.js';
import { realClock, type Clock } from '../../util/clock.js';
import { EventChannel, type EventIterator } from '../../util/event-channel.js';
import type { CommandResult } from '../core/result.js';
import { NoPathError, UrlError, sessionClosedError } from '../errors.js';
import type { Capacity } from '../options.js';
import { Session } from '../session.js';
import { formatIscsiUrl, parseIscsiUrl, redact, type IscsiUrl } from '../url.js';
import { failoverAction } from './classify.js';
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
import { Path } from './path.js';
import { PathSet } from './path-set.js';
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

/** How often a failed path is looked at while a write waits for its commands to drain, ms. */
const DRAIN_POLL_MS = 50;

/** Every option a command of any kind may carry (what #run hands the path's session). */
type AnyOptions = MultipathReadOptions & MultipathWriteOptions & MultipathExecuteOptions;

/** The options of a command given none: one shared object, not one per command. */
const NO_OPTIONS: AnyOptions = Object.freeze({});

/**
 * One logical unit through several target ports. Commands go to the best path by ALUA state
 * (Active/Optimized first, round-robin among equals; pathPolicy `multibus` spreads over every Active path)
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
  readonly #set: PathSet;
  readonly #selector: PathSelector;
  readonly #clock: Clock;
  readonly #events: EventChannel<MultipathEvent>;
  readonly #failoverTimeout: number;
  readonly #retryDelay: number;
  #capacity: Capacity | undefined;
  #closing: Promise<void> | null = null;
  #commands = 0;
  #retries = 0;
  #noPath = 0;

  private constructor(urls: IscsiUrl[], o: MultipathOptions) {
    super(MULTIPATH_EVENT_TYPES);
    this.#paths = urls.map((u, i) => new Path(i, u, formatIscsiUrl({ host: u.host, port: u.port, target: u.target, lun: u.lun })));
    this.#selector = new PathSelector(o.pathPolicy ?? MULTIPATH_DEFAULTS.pathPolicy);
    this.#clock = o.clock ?? realClock;
    this.#events = new EventChannel<MultipathEvent>((e) =>
      queueMicrotask(() => {
        this.emit(e.type, e);
        this.emit('event', e);
      }),
    );
    this.#failoverTimeout = o.failoverTimeout ?? MULTIPATH_DEFAULTS.failoverTimeout;
    this.#retryDelay = o.retryDelay ?? MULTIPATH_DEFAULTS.retryDelay;
    const { pathPolicy: _p, failoverTimeout: _f, checkInterval: _c, checkTimeout: _t, retryDelay: _r, pathRetryInterval: _i, activateStandby: _a, openPath: _o, signal: _s, ...session } = o;
    this.#set = new PathSet(this.#paths, {
      selector: this.#selector,
      clock: this.#clock,
      log: o.logger?.child({ multipath: true }),
      emit: (e) => this.#events.emit(e),
      open: o.openPath ?? ((url, so) => Session.connect(url, so)),
      pathOptions: { ...MULTIPATH_PATH_DEFAULTS, ...session, reconnect: { ...MULTIPATH_PATH_DEFAULTS.reconnect, ...session.reconnect } },
      checkInterval: o.checkInterval ?? MULTIPATH_DEFAULTS.checkInterval,
      checkTimeout: o.checkTimeout ?? MULTIPATH_DEFAULTS.checkTimeout,
      pathRetryInterval: o.pathRetryInterval ?? MULTIPATH_DEFAULTS.pathRetryInterval,
      activateStandby: o.activateStandby ?? MULTIPATH_DEFAULTS.activateStandby,
    });
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
      await m.#set.openAll(options.signal);
    } catch (e) {
      await m.close();
      throw e;
    }
    return m;
  }

  // =====================================================================================
  // Commands: Session's, each sent on the best path and failed over

  /** Reads `blocks` blocks from `lba` (see Session.read). */
  read(lba: number, blocks: number, options: MultipathReadOptions = NO_OPTIONS): Promise<Buffer> {
    return this.#run(OP_READ, lba, blocks, undefined, options) as Promise<Buffer>;
  }

  /** Writes `data` (a whole number of blocks) at `lba` (see Session.write). */
  write(lba: number, data: Buffer, options: MultipathWriteOptions = NO_OPTIONS): Promise<void> {
    return this.#run(OP_WRITE, lba, 0, data, options) as Promise<void>;
  }

  /**
   * Runs any CDB (see Session.execute). It fails over like the others, so a command that is not
   * idempotent may run twice when a path fails under it (as with dm-multipath); `path` pins it to one
   * path, without failover (e.g. a PERSISTENT RESERVE OUT that registers each I_T nexus).
   */
  execute(cdb: Buffer, options: MultipathExecuteOptions = NO_OPTIONS): Promise<CommandResult> {
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
  inquiry(options: MultipathCommandOptions = NO_OPTIONS): Promise<StandardInquiry> {
    return this.#run(OP_INQUIRY, 0, 0, undefined, options) as Promise<StandardInquiry>;
  }

  /** A VPD page (SPC-4 §7.8), raw. Port designators of page 83h differ by path. */
  inquiryVpd(page: number, options: MultipathCommandOptions = NO_OPTIONS): Promise<Buffer> {
    return this.#run(OP_VPD, page, 0, undefined, options) as Promise<Buffer>;
  }

  /** READ CAPACITY (see Session.readCapacity). */
  async readCapacity(options: MultipathCommandOptions = NO_OPTIONS): Promise<Capacity> {
    const c = (await this.#run(OP_READ_CAPACITY, 0, 0, undefined, options)) as Capacity;
    this.#capacity = c;
    return c;
  }

  /** TEST UNIT READY (SPC-4 §6.47). */
  testUnitReady(options: MultipathCommandOptions = NO_OPTIONS): Promise<void> {
    return this.#run(OP_TEST_UNIT_READY, 0, 0, undefined, options) as Promise<void>;
  }

  /** SYNCHRONIZE CACHE(10) of the whole LU. */
  synchronizeCache(options: MultipathCommandOptions = NO_OPTIONS): Promise<void> {
    return this.#run(OP_SYNCHRONIZE_CACHE, 0, 0, undefined, options) as Promise<void>;
  }

  /** The LUNs of the target (REPORT LUNS, SPC-4 §6.33). */
  reportLuns(options: MultipathCommandOptions = NO_OPTIONS): Promise<number[]> {
    return this.#run(OP_REPORT_LUNS, 0, 0, undefined, options) as Promise<number[]>;
  }

  /** The block size every path reported. */
  get blockSize(): number | undefined {
    return this.#set.blockSize;
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
    return { commands: this.#commands, retries: this.#retries, noPath: this.#noPath, stateReads: this.#set.stateReads, paths: this.paths() };
  }

  /** Reads the ALUA state of every path now (it also happens on its own; see the options). */
  refreshStates(): Promise<void> {
    return this.#set.requestRefresh();
  }

  /** Events from now on, until the session closes (see Session.events for the queueing rules). */
  events(): EventIterator<MultipathEvent> {
    return this.#events.subscribe();
  }

  /** Logs every path out and closes. Idempotent; commands still waiting fail with ERR_SESSION_CLOSED. */
  close(): Promise<void> {
    if (this.#closing !== null) return this.#closing;
    this.#closing = (async () => {
      await this.#set.close();
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
          this.#set.poll();
          await this.#set.waitForPath(deadline, o.signal);
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
        if (action === 'alua') this.#set.portRefused(p, e);
        else if (p.session === s && s.connected && p.epoch === epoch) {
          // A timeout or a protocol error on a live connection: the command may still run there. A
          // write goes elsewhere only once that path's commands are answered or its connection is gone:
          // otherwise the old one could land after a newer write of the same blocks (SAM-5 §5.6: the
          // initiator knows a command is ended only once its abort completed).
          this.#set.pathFailed(p, e as Error);
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
}

function abortErrorOf(signal: AbortSignal): AbortError {
  const reason: unknown = signal.reason;
  if (reason instanceof AbortError) return reason;
  return new AbortError('the command was aborted', reason === undefined ? undefined : { cause: reason });
}
