// The initiator's public face, the shell around the socket: `Session.connect(url)` logs in to one LUN of
// a target, then read, write, inquiry, readCapacity, execute and the task management functions run over
// it. Under it: the socket-free InitiatorCore (core/), a Transport per TCP connection (logged in by
// connect.ts), and ErrorRecoveryLevel 0 recovery (recovery.ts), which drives this shell through
// RecoveryShell. Its options and answer types are options.ts; the CDBs of its block commands commands.ts.

import { AsyncResource } from 'node:async_hooks';
import type { Logger } from 'pino';
import { ConnectionError, TsiscsiError } from '../errors.js';
import { TmfFunction, TmfResponse } from '../pdu/constants.js';
import { lunToField } from '../pdu/lun.js';
import type { TargetPdu } from '../pdu/types.js';
import { cdbInquiry, cdbReadCapacity10, cdbReadCapacity16, cdbReportLuns, cdbSynchronizeCache10, cdbTestUnitReady, parseInquiry, parseReportLuns, type StandardInquiry } from '../scsi/cdb/index.js';
import { ASC, SENSE_KEY, ascName } from '../scsi/constants.js';
import type { NegotiatedParams } from '../login/policy.js';
import { CheckedEventEmitter } from '../util/checked-emitter.js';
import { realClock, type Clock } from '../util/clock.js';
import { EventChannel, type EventIterator } from '../util/event-channel.js';
import { blockIoCdb, capacityFrom10, capacityFrom16, checkRange, targetData } from './commands.js';
import { logIn } from './connect.js';
import { InitiatorCore, type CommandRequest } from './core/initiator-core.js';
import type { CommandResult } from './core/result.js';
import type { TaskHandle } from './core/task.js';
import { TagSource } from './core/tmf.js';
import { ResidualError, TaskManagementError, UrlError, sessionClosedError, tmfResponseName } from './errors.js';
import { SESSION_EVENT_TYPES, type SessionEvent } from './events.js';
import {
  resolveSession,
  type Capacity,
  type CommandOptions,
  type ExecuteOptions,
  type PendingAsyncEvent,
  type ReadOptions,
  type ResolvedSession,
  type SessionOptions,
  type SessionStats,
  type TaskManagementAnswer,
  type TaskManagementOptions,
  type WriteOptions,
} from './options.js';
import { SessionRecovery, type RecoveryShell } from './recovery.js';
import type { Transport } from './transport.js';
import { parseIscsiUrl, redact, type IscsiUrl } from './url.js';

/** The core's timer resolution (command deadlines, TMF, keepalive), ms. */
const CORE_TICK_MS = 100;
/** close(): time the target has to answer the Logout Request, then to close its end of the connection, ms. */
const CLOSE_LOGOUT_MS = 2000;
const CLOSE_END_MS = 500;

/**
 * A logged-in session to one LUN. Events (unit attentions, Async Messages, connection changes) come as
 * EventEmitter events named by `type` (and `'event'` for all) and through {@link events}.
 *
 * @example
 * const s = await Session.connect('iscsi://127.0.0.1:3260/iqn.2003-01.org.example:disk/1');
 * const data = await s.read(0, 8);
 * await s.close();
 */
export class Session extends CheckedEventEmitter<SessionEvent> {
  /** Target name. */
  readonly target: string;
  /** LUN within the target. */
  readonly lun: number;
  /** Where the session logs in (redirections are followed per connection). */
  readonly host: string;
  /** TCP port of {@link host}. */
  readonly port: number;
  readonly #r: ResolvedSession;
  readonly #clock: Clock;
  readonly #log: Logger | undefined;
  readonly #core: InitiatorCore;
  readonly #recovery: SessionRecovery;
  readonly #lunField: bigint;
  readonly #events: EventChannel<SessionEvent>;
  readonly #tags = new TagSource();
  /**
   * The async context of the constructor, outside every session lock. Work deferred from inside a
   * critical section (events, logout, reconnection) runs here: a microtask queued inside a section would
   * otherwise inherit its held locks (AsyncLocalStorage), and a socket opened there would run every
   * later callback as if backLock were held.
   */
  readonly #outside = new AsyncResource('tsiscsi.Session');
  #transport: Transport | null = null;
  /** A connection being logged in (closed by close() so a hung login cannot hold the process). */
  #establishing: Transport | null = null;
  #params: NegotiatedParams | null = null;
  #tsih = 0;
  #nextCmdSN: number;
  #blockSize: number | undefined;
  #capacity: Capacity | undefined;
  #geometry: Promise<number> | undefined;
  #closing: Promise<void> | null = null;

  private constructor(r: ResolvedSession, o: SessionOptions) {
    super(SESSION_EVENT_TYPES);
    this.#r = r;
    this.target = r.target;
    this.lun = r.lun;
    this.host = r.url.host;
    this.port = r.url.port;
    this.#clock = o.clock ?? realClock;
    this.#log = o.logger;
    this.#lunField = lunToField(r.lun);
    this.#blockSize = o.blockSize;
    this.#nextCmdSN = o.initialCmdSN ?? 1;
    this.#events = new EventChannel<SessionEvent>((e) => this.#deliver(e));
    this.#core = new InitiatorCore({
      queueDepth: r.queueDepth,
      lockMode: r.lockMode,
      clock: this.#clock,
      tickMs: CORE_TICK_MS,
      keepalive: r.keepalive,
      tmfTimeout: r.tmfTimeout,
      unitAttentionRetries: r.unitAttentionRetries,
      onLinkFailure: (err) => this.#recovery.connectionFailed(this.#transport, err),
      onEvent: (e) => this.#onCoreEvent(e),
    });
    this.#recovery = new SessionRecovery(this.#core, this.#shell(), { ...r.reconnect, clock: this.#clock, peer: `${this.host}:${this.port}`, logger: o.logger });
  }

  /**
   * Logs in to `iscsi://[user[%secret]@]host[:port]/target-iqn/lun`.
   * @throws UrlError, ConnectionError (cannot connect), LoginError (the target refused: its status
   *   class and detail name why), IscsiProtocolError (the target broke the protocol), TimeoutError.
   */
  static async connect(url: string | IscsiUrl, options: SessionOptions = {}): Promise<Session> {
    const u = typeof url === 'string' ? parseIscsiUrl(url) : url;
    if (u.target === undefined || u.lun === undefined) {
      throw new UrlError(`${typeof url === 'string' ? redact(url) : 'the URL'} names no target and LUN: expected iscsi://host[:port]/target-iqn/lun`);
    }
    const r = resolveSession(u, options);
    const s = new Session(r, options);
    try {
      await s.#establish(options.signal);
    } catch (e) {
      s.#shutdown(e instanceof Error ? e : new Error(String(e)));
      throw e;
    }
    return s;
  }

  // =====================================================================================
  // Commands

  /**
   * Reads `blocks` blocks from `lba`. Resolves with exactly blocks × blockSize bytes. Without `into`, a
   * read that came in one PDU is handed over without a copy: the Buffer shares memory with the
   * connection's receive arena (256 KiB), so `Buffer.from()` it before keeping it for long.
   */
  async read(lba: number, blocks: number, options: ReadOptions = {}): Promise<Buffer> {
    const bs = this.#blockSize ?? (await this.#ensureBlockSize());
    checkRange(lba, blocks);
    const length = blocks * bs;
    const cdb = blockIoCdb(false, lba, blocks, options.fua === true);
    const req: CommandRequest = { lun: this.#lunField, cdb, readLength: length, timeout: options.timeout ?? this.#r.timeout };
    if (options.into !== undefined) req.into = options.into;
    if (options.signal !== undefined) req.signal = options.signal;
    if (options.handle !== undefined) req.handle = options.handle;
    const r = await this.#core.submit(req);
    if (r.underflow || r.overflow || r.data.length !== length) {
      throw new ResidualError({ overflow: r.overflow, underflow: r.underflow || r.data.length < length, residualCount: r.residualCount || length - r.data.length, data: r.data, expected: length });
    }
    return r.data;
  }

  /** Writes `data` (a whole number of blocks) at `lba`. */
  async write(lba: number, data: Buffer, options: WriteOptions = {}): Promise<void> {
    const bs = this.#blockSize ?? (await this.#ensureBlockSize());
    if (data.length === 0 || data.length % bs !== 0) throw new RangeError(`write of ${data.length} bytes: must be a positive multiple of the ${bs}-byte block size`);
    const blocks = data.length / bs;
    checkRange(lba, blocks);
    const cdb = blockIoCdb(true, lba, blocks, options.fua === true);
    const req: CommandRequest = { lun: this.#lunField, cdb, dataOut: data, timeout: options.timeout ?? this.#r.timeout };
    if (options.signal !== undefined) req.signal = options.signal;
    if (options.handle !== undefined) req.handle = options.handle;
    const r = await this.#core.submit(req);
    if (r.underflow || r.overflow) {
      throw new ResidualError({ overflow: r.overflow, underflow: r.underflow, residualCount: r.residualCount, data: r.data, expected: data.length });
    }
  }

  /** Runs any CDB. Resolves for GOOD/CONDITION MET; rejects with ScsiError (status, sense key, ASC/ASCQ) otherwise. */
  execute(cdb: Buffer, options: ExecuteOptions = {}): Promise<CommandResult> {
    if (options.dataIn !== undefined && options.dataOut !== undefined) return Promise.reject(new RangeError('give dataIn or dataOut, not both'));
    let lun = this.#lunField;
    try {
      if (options.lun !== undefined) lun = lunToField(options.lun);
    } catch (e) {
      return Promise.reject(e);
    }
    const req: CommandRequest = { lun, cdb, timeout: options.timeout ?? this.#r.timeout };
    if (typeof options.dataIn === 'number') req.readLength = options.dataIn;
    else if (options.dataIn !== undefined) {
      req.readLength = options.dataIn.length;
      req.into = options.dataIn;
    }
    if (options.dataOut !== undefined) req.dataOut = options.dataOut;
    if (options.attr !== undefined) req.attr = options.attr;
    if (options.signal !== undefined) req.signal = options.signal;
    if (options.handle !== undefined) req.handle = options.handle;
    return this.#core.submit(req);
  }

  /** Standard INQUIRY data (SPC-4 §6.6). */
  async inquiry(options: CommandOptions = {}): Promise<StandardInquiry> {
    const r = await this.execute(cdbInquiry({ alloc: 255 }), { ...options, dataIn: 255 });
    return targetData(() => parseInquiry(r.data));
  }

  /** A VPD page (SPC-4 §7.8), raw. */
  async inquiryVpd(page: number, options: CommandOptions = {}): Promise<Buffer> {
    const r = await this.execute(cdbInquiry({ evpd: true, page, alloc: 4096 }), { ...options, dataIn: 4096 });
    return r.data;
  }

  /** READ CAPACITY(16), falling back to READ CAPACITY(10) where it is not supported. Caches the block size. */
  async readCapacity(options: CommandOptions = {}): Promise<Capacity> {
    let cap: Capacity;
    try {
      cap = capacityFrom16((await this.execute(cdbReadCapacity16({ alloc: 32 }), { ...options, dataIn: 32 })).data);
    } catch (e) {
      // Not supported (ILLEGAL REQUEST): READ CAPACITY(10) it is.
      if (!(TsiscsiError.is(e) && (e as { senseKey?: number }).senseKey === SENSE_KEY.ILLEGAL_REQUEST)) throw e;
      cap = capacityFrom10((await this.execute(cdbReadCapacity10(), { ...options, dataIn: 8 })).data);
    }
    this.#capacity = cap;
    this.#blockSize = cap.blockSize;
    return cap;
  }

  /** The LUNs of the target (REPORT LUNS, SPC-4 §6.33). */
  async reportLuns(options: CommandOptions = {}): Promise<number[]> {
    let alloc = 4096;
    for (;;) {
      const r = await this.execute(cdbReportLuns({ alloc }), { ...options, dataIn: alloc });
      const need = r.data.length >= 4 ? 8 + r.data.readUInt32BE(0) : 0;
      if (need <= alloc || alloc >= 1 << 20) return targetData(() => parseReportLuns(r.data));
      alloc = Math.min(1 << 20, need);
    }
  }

  /** TEST UNIT READY (SPC-4 §6.47). */
  async testUnitReady(options: CommandOptions = {}): Promise<void> {
    await this.execute(cdbTestUnitReady(), options);
  }

  /** SYNCHRONIZE CACHE(10) of the whole LU. */
  async synchronizeCache(options: CommandOptions = {}): Promise<void> {
    await this.execute(cdbSynchronizeCache10(), options);
  }

  // =====================================================================================
  // Task management (RFC 7143 §11.5, RFC 7144). Each waits for the target's answer; a function answered
  // otherwise than expected rejects with TaskManagementError (its `response` says how), an unanswered one
  // with TimeoutError, and the connection is then recovered (an ABORT TASK escalates to LUN RESET first).

  /**
   * Sends any task management function and resolves with the target's answer, whatever it is. `handle`
   * names the command for ABORT TASK, QUERY TASK and TASK REASSIGN (which needs ErrorRecoveryLevel 2:
   * at the level this session negotiates, 0, the answer is "Task allegiance reassignment not supported").
   */
  async taskManagement(fn: number, options: TaskManagementOptions & { handle?: TaskHandle } = {}): Promise<TaskManagementAnswer> {
    const a = await this.#core.taskManagement(fn, this.#tmfLun(options), {
      timeoutMs: options.timeout ?? this.#r.tmfTimeout,
      ...(options.handle !== undefined && { ref: options.handle }),
    });
    return { ...a, responseName: tmfResponseName(a.response) };
  }

  /**
   * ABORT TASK for the command `handle` names: the command rejects at once with AbortError (as its
   * AbortSignal would); resolves once the target confirmed ("Function complete" or "Task does not
   * exist"). A command never sent is just dropped.
   */
  async abortTask(handle: TaskHandle, options: Omit<TaskManagementOptions, 'lun'> = {}): Promise<void> {
    const a = await this.taskManagement(TmfFunction.AbortTask, { ...options, handle });
    if (a.response !== TmfResponse.FunctionComplete && a.response !== TmfResponse.TaskDoesNotExist) throw new TaskManagementError(TmfFunction.AbortTask, a.response);
  }

  /** QUERY TASK (RFC 7144): whether the target still has the command `handle` names in its task set. */
  async queryTask(handle: TaskHandle, options: Omit<TaskManagementOptions, 'lun'> = {}): Promise<boolean> {
    return this.#query(TmfFunction.QueryTask, { ...options, handle });
  }

  /** QUERY TASK SET (RFC 7144): whether the target has any command of this session on the LUN. */
  async queryTaskSet(options: TaskManagementOptions = {}): Promise<boolean> {
    return this.#query(TmfFunction.QueryTaskSet, options);
  }

  /**
   * QUERY ASYNCHRONOUS EVENT (RFC 7144): the oldest unit attention (or deferred error) pending for this
   * session on the LUN, without clearing it; undefined when none is.
   */
  async queryAsyncEvent(options: TaskManagementOptions = {}): Promise<PendingAsyncEvent | undefined> {
    const a = await this.taskManagement(TmfFunction.QueryAsyncEvent, options);
    if (a.response === TmfResponse.FunctionComplete) return undefined;
    if (a.response !== TmfResponse.FunctionSucceeded) throw new TaskManagementError(TmfFunction.QueryAsyncEvent, a.response);
    const info = a.additionalResponseInformation;
    const asc = (info >> 8) & 0xff;
    const ascq = info & 0xff;
    const depth = (info >> 20) & 0x3;
    return { senseKey: (info >> 16) & 0x0f, asc, ascq, ascName: ascName(asc, ascq), depth: depth === 1 ? 'one' : depth === 2 ? 'several' : 'unknown' };
  }

  /** ABORT TASK SET: the target ends every command of this session on the LUN; they reject with AbortError. */
  async abortTaskSet(options: TaskManagementOptions = {}): Promise<void> {
    await this.#complete(TmfFunction.AbortTaskSet, options);
  }

  /**
   * CLEAR TASK SET: the target ends every command on the LUN, other initiators' included (they hear
   * COMMANDS CLEARED BY ANOTHER INITIATOR); this session's reject with AbortError.
   */
  async clearTaskSet(options: TaskManagementOptions = {}): Promise<void> {
    await this.#complete(TmfFunction.ClearTaskSet, options);
  }

  /** CLEAR ACA (SAM-5): clears an auto contingent allegiance on the LUN. */
  async clearAca(options: TaskManagementOptions = {}): Promise<void> {
    await this.#complete(TmfFunction.ClearAca, options);
  }

  /**
   * LOGICAL UNIT RESET (RFC 7143 §11.5.1): every command on the LU ends at the target; this session's
   * are sent again. Takes the timeout in ms, or options.
   */
  async lunReset(options: number | TaskManagementOptions = {}): Promise<void> {
    await this.#complete(TmfFunction.LogicalUnitReset, typeof options === 'number' ? { timeout: options } : options);
  }

  /** TARGET WARM RESET: every LU of the target is reset; this session's commands are sent again. */
  async targetWarmReset(options: Omit<TaskManagementOptions, 'lun'> = {}): Promise<void> {
    await this.#complete(TmfFunction.TargetWarmReset, options);
  }

  /**
   * TARGET COLD RESET: a warm reset that the target treats as a power on, after which it drops every
   * connection (RFC 7143 §11.5.1); this session then recovers and sends its commands again.
   */
  async targetColdReset(options: Omit<TaskManagementOptions, 'lun'> = {}): Promise<void> {
    await this.#complete(TmfFunction.TargetColdReset, options);
  }

  /** I_T NEXUS RESET (RFC 7144): the target ends every command of this session, on every LU; they are sent again. */
  async itNexusReset(options: Omit<TaskManagementOptions, 'lun'> = {}): Promise<void> {
    await this.#complete(TmfFunction.ItNexusReset, options);
  }

  async #complete(fn: number, options: TaskManagementOptions): Promise<void> {
    const a = await this.taskManagement(fn, options);
    if (a.response !== TmfResponse.FunctionComplete) throw new TaskManagementError(fn, a.response);
  }

  async #query(fn: number, options: TaskManagementOptions & { handle?: TaskHandle }): Promise<boolean> {
    const a = await this.taskManagement(fn, options);
    if (a.response === TmfResponse.FunctionSucceeded) return true;
    if (a.response === TmfResponse.FunctionComplete) return false;
    throw new TaskManagementError(fn, a.response);
  }

  #tmfLun(options: TaskManagementOptions): bigint {
    return options.lun === undefined ? this.#lunField : lunToField(options.lun);
  }

  /** The block size, if known (after readCapacity, or given in the options). */
  get blockSize(): number | undefined {
    return this.#blockSize;
  }

  /** The last READ CAPACITY result. */
  get capacity(): Capacity | undefined {
    return this.#capacity;
  }

  /** The values negotiated on the current (or last) connection. */
  get params(): NegotiatedParams | null {
    return this.#params;
  }

  /** The TSIH the target gave the current session. */
  get tsih(): number {
    return this.#tsih;
  }

  /** The ISID, 12 hex digits, kept across reconnections (RFC 7143 §11.12.5). */
  get isid(): string {
    return this.#r.isid;
  }

  /** True while a connection is logged in and usable. */
  get connected(): boolean {
    return this.#core.connected;
  }

  /** Commands outstanding (queued or in flight). */
  get busy(): number {
    return this.#core.busy;
  }

  /** The counters of the core, the connection's writer and recovery. */
  stats(): SessionStats {
    const w = this.#transport?.writer;
    return { ...this.#core.snapshot(), reconnects: this.#recovery.reconnects, connected: this.connected, pdusOut: w?.pdus ?? 0, flushes: w?.flushes ?? 0 };
  }

  /**
   * Session events, from now on, until the session closes. Never blocks while one is queued; a reader
   * that falls 1024 events behind loses the oldest (counted in `dropped`).
   */
  events(): EventIterator<SessionEvent> {
    return this.#events.subscribe();
  }

  /**
   * While the session has no connection, fails now with `error` every command waiting for one (instead
   * of re-issuing them on the reconnection, or failing them at the replacement timeout), and every
   * command submitted until a connection is back. A multipath initiator sends them on another path: at
   * ErrorRecoveryLevel 0 the reinstated session will not have them (RFC 7143 §6.3.5), so each runs on
   * one path only. Does nothing while connected.
   */
  failQueued(error: Error): void {
    if (this.#core.connected || this.#closing !== null) return;
    this.#core.failPending(error);
  }

  /**
   * Logs out (RFC 7143 §11.14) and closes. Pending commands fail with ConnectionError ERR_SESSION_CLOSED.
   * Idempotent: every call returns the same promise.
   */
  close(): Promise<void> {
    if (this.#closing !== null) return this.#closing;
    this.#closing = (async () => {
      this.#recovery.wake();
      const tr = this.#transport;
      if (tr !== null && this.#core.connected && !tr.failed) {
        try {
          await this.#core.logout(CLOSE_LOGOUT_MS);
        } catch {
          // Closing anyway: the target drops the session when the connection goes.
        }
        await tr.end(CLOSE_END_MS);
      }
      this.#shutdown(sessionClosedError());
    })();
    return this.#closing;
  }

  // =====================================================================================
  // Connection management

  /** Logs in a new connection (the first, or a reinstatement) and attaches it to the core. */
  async #establish(signal?: AbortSignal): Promise<void> {
    const { transport: tr, outcome } = await logIn(this.#r, {
      cmdSN: this.#nextCmdSN,
      tags: this.#tags,
      signal,
      logger: this.#log,
      closing: () => this.#closing !== null,
      establishing: (t) => {
        this.#establishing = t;
      },
    });
    const p = outcome.params;
    tr.setDigests(p.connection.headerDigest === 'CRC32C', p.connection.dataDigest === 'CRC32C');
    tr.setMaxRecvDataSegmentLength(p.connection.maxRecvDataSegmentLength);
    this.#params = p;
    this.#tsih = outcome.tsih;
    this.#transport = tr;
    this.#nextCmdSN = outcome.expCmdSN;
    tr.listen(
      (pdu: TargetPdu) => this.#core.receive(pdu),
      (err) => this.#recovery.connectionFailed(tr, err),
      () => this.#core.kick(),
    );
    if (this.#transport !== tr) return; // failed while listening started: recovery is under way
    this.#core.attach(tr, { params: p, expCmdSN: outcome.expCmdSN, maxCmdSN: outcome.maxCmdSN, statSN: outcome.statSN });
    this.#recovery.connected();
    this.#log?.debug({ tsih: outcome.tsih, peer: tr.peer }, 'logged in');
  }

  /** The shell as recovery drives it. */
  #shell(): RecoveryShell {
    const self = this;
    return {
      reinstate: () => this.#establish(),
      get connection() {
        return self.#transport;
      },
      drop: (connection, err) => {
        const tr = this.#transport;
        if (tr === null || connection !== tr) return false;
        this.#transport = null;
        tr.destroy();
        this.#core.detach(err);
        return true;
      },
      get closing() {
        return self.#closing !== null;
      },
      emit: (e) => this.#events.emit(e),
      outside: (fn) => this.#outside.runInAsyncScope(fn),
    };
  }

  #onCoreEvent(e: SessionEvent): void {
    this.#events.emit(e);
    switch (e.type) {
      case 'unit-attention':
        // SBC-3: READ CAPACITY tells the new size; the cached one is stale (the block size stays).
        if (((e.asc << 8) | e.ascq) === ASC.CAPACITY_DATA_HAS_CHANGED && (e.lun === undefined || e.lun === this.lun)) this.#capacity = undefined;
        break;
      case 'logout-requested':
        this.#later(() => void this.#recovery.logoutRequested(e.within));
        break;
      case 'connection-drop-requested':
      case 'session-drop-requested': {
        const tr = this.#transport;
        const err = new ConnectionError('ERR_TARGET_DROP', `the target announced it drops the ${e.type === 'session-drop-requested' ? 'session' : 'connection'}`);
        // RFC 7143 §11.9.1: reconnect after Time2Wait seconds.
        this.#later(() => this.#recovery.connectionFailed(tr, err, e.time2Wait * 1000));
        break;
      }
      default:
        break;
    }
  }

  #deliver(e: SessionEvent): void {
    // Listeners run outside the session's critical sections (a throwing listener cannot tear its state).
    this.#later(() => {
      this.emit(e.type, e);
      this.emit('event', e);
    });
  }

  /** Runs `fn` soon, outside every session lock (see #outside). */
  #later(fn: () => void): void {
    queueMicrotask(() => this.#outside.runInAsyncScope(fn));
  }

  #ensureBlockSize(): Promise<number> {
    this.#geometry ??= this.readCapacity().then(
      (c) => c.blockSize,
      (e: unknown) => {
        this.#geometry = undefined;
        throw e;
      },
    );
    return this.#geometry;
  }

  #shutdown(err: Error): void {
    this.#recovery.wake();
    this.#establishing?.destroy(err);
    const tr = this.#transport;
    this.#transport = null;
    tr?.destroy();
    this.#core.close(err);
    this.#recovery.stop();
    // The last event: readers see it, then their iteration ends.
    this.#events.emit({ type: 'closed', error: err });
    this.#events.close();
  }
}
