// The initiator's public face: `Session.connect(url)` logs in to one LUN of a target, then read, write,
// inquiry, readCapacity and execute run SCSI commands over it. Under it: the socket-free InitiatorCore
// (forward/back state, seed 001), a Transport per TCP connection, and ErrorRecoveryLevel 0 recovery
// (reconnect with the same ISID, re-issue what was outstanding) when the connection drops.

import { AsyncResource } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { ConnectionError, IscsiProtocolError, LoginError, TsiscsiError } from '../errors.js';
import { Opcode, TMF_RESPONSE_NAMES, TmfFunction, TmfResponse } from '../pdu/constants.js';
import { lunToField } from '../pdu/lun.js';
import type { TargetPdu } from '../pdu/types.js';
import {
  cdbInquiry,
  cdbRead10,
  cdbRead16,
  cdbReadCapacity10,
  cdbReadCapacity16,
  cdbReportLuns,
  cdbSynchronizeCache10,
  cdbTestUnitReady,
  cdbWrite10,
  cdbWrite16,
  parseInquiry,
  parseReadCapacity10,
  parseReadCapacity16,
  parseReportLuns,
  type StandardInquiry,
} from '../scsi/cdb.js';
import { ASC, SENSE_KEY, ascName } from '../scsi/constants.js';
import type { ChapAlgorithmId, ChapSecret } from '../login/chap.js';
import { realClock, type Clock, type TimerHandle } from '../util/clock.js';
import type { DigestName } from '../login/keys.js';
import type { NegotiatedParams, NegotiationPolicy } from '../login/negotiation.js';
import { ResidualError, TaskManagementError, UrlError } from './errors.js';
import { InitiatorCore, type CommandRequest, type CoreStats } from './core/initiator-core.js';
import type { CommandResult } from './core/result.js';
import { CheckedEventEmitter } from '../util/checked-emitter.js';
import { EventChannel, type EventIterator } from '../util/event-channel.js';
import { SESSION_EVENT_TYPES, type SessionEvent } from './events.js';
import type { LockMode } from './core/locks.js';
import { CHAP_ALGORITHMS_WITHOUT_7, LoginExchange, mayBeChapA7Confusion, type LoginOutcome, type LoginRedirect } from './core/login.js';
import { ReconnectPolicy } from './core/recovery.js';
import type { TaskHandle } from './core/task.js';
import { TagSource } from './core/tmf.js';
import { parseTargetAddress } from './core/text.js';
import { Transport } from './transport.js';
import { parseIscsiUrl, redact, type DigestPreference, type IscsiUrl } from './url.js';

/** CHAP credentials of the initiator, and of the target for mutual CHAP (RFC 7143 §12.1.3). */
export interface ChapOptions {
  user: string;
  secret: ChapSecret;
  /** Mutual CHAP: the target's secret, and the name it must answer with (checked when given). */
  targetUser?: string;
  targetSecret?: ChapSecret;
  /** Accept secrets under 96 bits (RFC 7143 §12.1.3 allows them only on IPsec-protected links). */
  allowShortSecrets?: boolean;
  algorithms?: readonly ChapAlgorithmId[];
}

/** Options of {@link Session.connect}. Every field is optional. */
export interface SessionOptions {
  /** Our iSCSI name; default `iqn.2026-01.dev.tsiscsi:<hostname>`. */
  initiatorName?: string;
  initiatorAlias?: string;
  /** ISID, 12 hex digits; default random (RFC 7143 §11.12.5 type 10b). Kept across reconnections. */
  isid?: string;
  /** CHAP credentials; the URL's user%secret fills them too. */
  chap?: ChapOptions;
  /** Digests to offer, first preferred; default 'none-crc32c' (either, none preferred). */
  headerDigest?: DigestPreference;
  dataDigest?: DigestPreference;
  /** Commands outstanding at once (the task pool). Default 128. */
  queueDepth?: number;
  /** Default command timeout in ms; 0 for none. Default 30000. */
  timeout?: number;
  /** TCP connect timeout. Default 10000 ms. */
  connectTimeout?: number;
  /** Whole-login timeout. Default 15000 ms. */
  loginTimeout?: number;
  /** Time to get a connection back before pending commands fail (ERL 0 recovery). Default 30000 ms. */
  replacementTimeout?: number;
  /** Quiet time before a NOP-Out ping. Default 5000 ms; 0: ping only when commands are outstanding. */
  noopInterval?: number;
  /** Time a ping may go unanswered (with nothing else received) before the connection is dead. Default 10000 ms. */
  noopTimeout?: number;
  /** Time an ABORT TASK or LUN RESET may take before escalating. Default 10000 ms. */
  tmfTimeout?: number;
  /** Reconnection backoff: first delay, cap, and how long a connection must live to reset it. */
  reconnect?: { minDelay?: number; maxDelay?: number; stableAfter?: number };
  /** `split` (frwdLock + backLock, default) or `one` (a single session lock, for comparison). */
  lockMode?: LockMode;
  /** Times a command is sent again after a UNIT ATTENTION. Default 3. */
  unitAttentionRetries?: number;
  /** Operational keys to propose instead of the defaults. */
  policy?: Partial<NegotiationPolicy>;
  /** The LU's block size, when known (skips a READ CAPACITY before the first read or write). */
  blockSize?: number;
  /** Redirections (login status class 1) followed at most. Default 3. */
  maxRedirects?: number;
  /** Cancels the connection attempt. */
  signal?: AbortSignal;
  clock?: Clock;
  logger?: Logger;
  /** The session's first CmdSN (tests). */
  initialCmdSN?: number;
}

/** Options of one command. */
export interface CommandOptions {
  signal?: AbortSignal;
  /** Milliseconds; 0 for none. Default: the session's `timeout`. */
  timeout?: number;
  /** Names the command for {@link Session.abortTask} and {@link Session.queryTask}. */
  handle?: TaskHandle;
}

/** Options of a task management call. */
export interface TaskManagementOptions {
  /** The LUN it is about (default: the session's). */
  lun?: number;
  /** Milliseconds the target has to answer (default: the session's `tmfTimeout`); unanswered, the connection is recovered. */
  timeout?: number;
}

/** The target's answer to a task management function (RFC 7143 §11.6.1, RFC 7144). */
export interface TaskManagementAnswer {
  response: number;
  /** The response as RFC 7143 names it ("Function complete", "Task does not exist", ...). */
  responseName: string;
  /** RFC 7144 §4.2 (QUERY ASYNCHRONOUS EVENT): UADE DEPTH, SENSE KEY, ASC and ASCQ. */
  additionalResponseInformation: number;
}

/** A unit attention (or deferred error) pending for this I_T nexus, as QUERY ASYNCHRONOUS EVENT reports it. */
export interface PendingAsyncEvent {
  senseKey: number;
  asc: number;
  ascq: number;
  ascName: string;
  /** How many conditions are pending (UADE DEPTH): one, more than one, or not said. */
  depth: 'one' | 'several' | 'unknown';
}

/** Options of {@link Session.read}. */
export interface ReadOptions extends CommandOptions {
  /** Read into this buffer (at least blocks × blockSize bytes) instead of a new one. */
  into?: Buffer;
  fua?: boolean;
}

/** Options of {@link Session.write}. */
export interface WriteOptions extends CommandOptions {
  /** Force Unit Access: written to the medium before the command completes. */
  fua?: boolean;
}

/** Options of {@link Session.execute}: at most one of dataIn and dataOut. */
export interface ExecuteOptions extends CommandOptions {
  /** Bytes to read (a length, or the buffer to read into). */
  dataIn?: number | Buffer;
  /** Bytes to send. */
  dataOut?: Buffer;
  /** Task attribute (RFC 7143 §11.3.1.1): 0 untagged, 1 simple (default), 2 ordered, 3 head of queue. */
  attr?: number;
  /** Send to another LUN of the same target (default: the session's). */
  lun?: number;
}

/** The size of the LU (READ CAPACITY). */
export interface Capacity {
  blocks: number;
  blockSize: number;
  lastLba: number;
  bytes: number;
  /** Thin provisioning enabled (READ CAPACITY(16) LBPME); undefined after READ CAPACITY(10). */
  thinProvisioning: boolean | undefined;
  /** Logical blocks per physical block, as a power of two (READ CAPACITY(16)). */
  logicalPerPhysicalExponent: number;
}

/** Counters of a session. */
export interface SessionStats extends CoreStats {
  reconnects: number;
  connected: boolean;
  pdusOut: number;
  flushes: number;
}

const DEFAULT_INITIATOR_PREFIX = 'iqn.2026-01.dev.tsiscsi';

/** The default initiator name: `iqn.2026-01.dev.tsiscsi:<hostname>`. */
export function defaultInitiatorName(): string {
  const h = hostname().toLowerCase().replace(/[^a-z0-9.-]/g, '-') || 'host';
  return `${DEFAULT_INITIATOR_PREFIX}:${h}`;
}

/** A random ISID (RFC 7143 §11.12.5: T = 10b random, A reserved 0, B and C random, D a qualifier). */
export function randomIsid(): string {
  const b = randomBytes(6);
  b[0] = 0x80;
  return b.toString('hex');
}

function digestList(p: DigestPreference | undefined): DigestName[] {
  switch (p ?? 'none-crc32c') {
    case 'none':
      return ['None'];
    case 'crc32c':
      return ['CRC32C'];
    case 'crc32c-none':
      return ['CRC32C', 'None'];
    default:
      return ['None', 'CRC32C'];
  }
}

/** What Session.connect needs after the URL and options are merged. */
interface Resolved {
  url: IscsiUrl;
  target: string;
  lun: number;
  initiatorName: string;
  isid: string;
  chap: ChapOptions | undefined;
  policy: Partial<NegotiationPolicy>;
  connectTimeout: number;
  loginTimeout: number;
  timeout: number;
  maxRedirects: number;
  maxRecv: number;
}

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
  readonly port: number;
  readonly #r: Resolved;
  readonly #o: SessionOptions;
  readonly #clock: Clock;
  readonly #log: Logger | undefined;
  readonly #core: InitiatorCore;
  readonly #lunField: bigint;
  readonly #events: EventChannel<SessionEvent>;
  readonly #policy: ReconnectPolicy;
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
  #recovering = false;
  #sessionLost = false;
  #closing: Promise<void> | null = null;
  #sleep: { timer: TimerHandle; wake: () => void } | null = null;
  #holdOpen: NodeJS.Timeout | null = null;
  #policyTimer: TimerHandle | null = null;
  #logoutInProgress = false;
  #reconnects = 0;
  #lastCompleted = 0;

  private constructor(r: Resolved, o: SessionOptions) {
    super(SESSION_EVENT_TYPES);
    this.#r = r;
    this.#o = o;
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
    const rc = o.reconnect ?? {};
    this.#policy = new ReconnectPolicy({
      minDelay: rc.minDelay ?? 100,
      maxDelay: rc.maxDelay ?? 5000,
      stableAfter: rc.stableAfter ?? 2000,
      replacementTimeout: o.replacementTimeout ?? 30000,
      random: Math.random,
    });
    this.#core = new InitiatorCore({
      queueDepth: o.queueDepth ?? 128,
      lockMode: o.lockMode ?? 'split',
      clock: this.#clock,
      tickMs: 100,
      keepalive: { interval: o.noopInterval ?? 5000, timeout: o.noopTimeout ?? 10000, windowStall: 1000 },
      tmfTimeout: o.tmfTimeout ?? 10000,
      unitAttentionRetries: o.unitAttentionRetries ?? 3,
      onLinkFailure: (err) => this.#linkFailed(this.#transport, err),
      onEvent: (e) => this.#onCoreEvent(e),
    });
    this.#policyTimer = this.#clock.setTimeout(this.#policyTick, 250);
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
    const r = resolve(u, options);
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
    const rw = { fua: options.fua === true };
    const cdb = lba + blocks <= 0x100000000 && blocks <= 0xffff ? cdbRead10(lba, blocks, rw) : cdbRead16(lba, blocks, rw);
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
    const rw = { fua: options.fua === true };
    const cdb = lba + blocks <= 0x100000000 && blocks <= 0xffff ? cdbWrite10(lba, blocks, rw) : cdbWrite16(lba, blocks, rw);
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
      const r = await this.execute(cdbReadCapacity16({ alloc: 32 }), { ...options, dataIn: 32 });
      const c = targetData(() => parseReadCapacity16(r.data));
      cap = { blocks: c.blocks, blockSize: c.blockLength, lastLba: c.lastLba, bytes: c.blocks * c.blockLength, thinProvisioning: c.lbpme, logicalPerPhysicalExponent: c.lbppbe };
    } catch (e) {
      if (!(TsiscsiError.is(e) && (e as { senseKey?: number }).senseKey === SENSE_KEY.ILLEGAL_REQUEST)) throw e;
      const r = await this.execute(cdbReadCapacity10(), { ...options, dataIn: 8 });
      const c = targetData(() => parseReadCapacity10(r.data));
      const blocks = c.blocks ?? c.lastLba + 1;
      cap = { blocks, blockSize: c.blockLength, lastLba: c.lastLba, bytes: blocks * c.blockLength, thinProvisioning: undefined, logicalPerPhysicalExponent: 0 };
    }
    // A block size beyond 1 MiB is no disk's: taken as given it would size every later buffer (issue 9 fuzzer).
    if (!Number.isInteger(cap.blockSize) || cap.blockSize < 1 || cap.blockSize > MAX_BLOCK_SIZE) {
      throw new IscsiProtocolError('ERR_BLOCK_SIZE', `the LU reports a block size of ${cap.blockSize}`, { rule: 'SBC-3 READ CAPACITY', action: 'reject' });
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
      timeoutMs: options.timeout ?? this.#o.tmfTimeout ?? 10000,
      ...(options.handle !== undefined && { ref: options.handle }),
    });
    return { ...a, responseName: TMF_RESPONSE_NAMES[a.response] ?? `response ${a.response}` };
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

  get isid(): string {
    return this.#r.isid;
  }

  get connected(): boolean {
    return this.#core.connected;
  }

  /** Commands outstanding (queued or in flight). */
  get busy(): number {
    return this.#core.busy;
  }

  stats(): SessionStats {
    const w = this.#transport?.writer;
    return { ...this.#core.snapshot(), reconnects: this.#reconnects, connected: this.connected, pdusOut: w?.pdus ?? 0, flushes: w?.flushes ?? 0 };
  }

  /**
   * Session events, from now on, until the session closes. Never blocks while one is queued; a reader
   * that falls 1024 events behind loses the oldest (counted in `dropped`).
   */
  events(): EventIterator<SessionEvent> {
    return this.#events.subscribe();
  }


  /**
   * Logs out (RFC 7143 §11.14) and closes. Pending commands fail with ConnectionError ERR_SESSION_CLOSED.
   * Idempotent: every call returns the same promise.
   */
  close(): Promise<void> {
    if (this.#closing !== null) return this.#closing;
    this.#closing = (async () => {
      this.#wake();
      const tr = this.#transport;
      if (tr !== null && this.#core.connected && !tr.failed) {
        try {
          await this.#core.logout(2000);
        } catch {
          // Closing anyway: the target drops the session when the connection goes.
        }
        await tr.end(500);
      }
      this.#shutdown(new ConnectionError('ERR_SESSION_CLOSED', 'the session is closed'));
    })();
    return this.#closing;
  }

  // =====================================================================================
  // Connection management

  async #establish(signal?: AbortSignal): Promise<void> {
    const r = this.#r;
    let host = r.url.host;
    let port = r.url.port;
    for (let redirects = 0; ; redirects++) {
      const tr = await Transport.connect(host, port, { connectTimeout: r.connectTimeout, signal, maxRecvDataSegmentLength: r.maxRecv });
      let outcome: LoginOutcome | LoginRedirect;
      this.#establishing = tr;
      let ex: LoginExchange | undefined;
      try {
        if (this.#closing !== null) throw new ConnectionError('ERR_SESSION_CLOSED', 'the session is closed');
        ex = this.#exchange();
        outcome = await this.#login(tr, ex);
      } catch (e) {
        tr.destroy();
        if (ex !== undefined && r.chap !== undefined && r.chap.algorithms === undefined && mayBeChapA7Confusion(ex, e)) {
          // tgt calls SHA-1 "7": log in again without SHA-256 on offer, and keep it so for reconnections.
          this.#log?.debug('the target chose CHAP_A=7 and refused the SHA-256 response; retrying with SHA-1 and MD5');
          r.chap.algorithms = CHAP_ALGORITHMS_WITHOUT_7;
          redirects--;
          continue;
        }
        throw e;
      } finally {
        this.#establishing = null;
      }
      if ('address' in outcome) {
        tr.destroy();
        const a = parseTargetAddress(outcome.address);
        if (a === undefined) throw new IscsiProtocolError('ERR_LOGIN_REDIRECT', `redirected to ${JSON.stringify(outcome.address)}, which is not host[:port]`, { rule: 'RFC 7143 §13.8', action: 'drop' });
        if (redirects >= r.maxRedirects) throw new ConnectionError('ERR_TOO_MANY_REDIRECTS', `more than ${r.maxRedirects} login redirections`);
        this.#log?.debug({ to: outcome.address, permanent: outcome.permanent }, 'login redirected');
        host = a.host;
        port = a.port;
        continue;
      }
      if (this.#closing !== null) {
        tr.destroy();
        throw new ConnectionError('ERR_SESSION_CLOSED', 'the session is closed');
      }
      const p = outcome.params;
      tr.setDigests(p.connection.headerDigest === 'CRC32C', p.connection.dataDigest === 'CRC32C');
      tr.setMaxRecvDataSegmentLength(p.connection.maxRecvDataSegmentLength);
      this.#params = p;
      this.#tsih = outcome.tsih;
      this.#transport = tr;
      this.#nextCmdSN = outcome.expCmdSN;
      tr.listen(
        (pdu: TargetPdu) => this.#core.receive(pdu),
        (err) => this.#linkFailed(tr, err),
        () => this.#core.kick(),
      );
      if (this.#transport !== tr) return; // failed while listening started: recovery is under way
      this.#core.attach(tr, { params: p, expCmdSN: outcome.expCmdSN, maxCmdSN: outcome.maxCmdSN, statSN: outcome.statSN });
      this.#policy.connected(this.#clock.now());
      this.#lastCompleted = this.#core.stats.completed;
      this.#log?.debug({ tsih: outcome.tsih, peer: tr.peer }, 'logged in');
      return;
    }
  }

  #exchange(): LoginExchange {
    const r = this.#r;
    const chap = r.chap;
    return new LoginExchange({
      initiatorName: r.initiatorName,
      ...(this.#o.initiatorAlias !== undefined && { initiatorAlias: this.#o.initiatorAlias }),
      targetName: r.target,
      sessionType: 'Normal',
      policy: r.policy,
      ...(chap !== undefined && {
        chap: {
          name: chap.user,
          secret: chap.secret,
          ...(chap.algorithms !== undefined && { algorithms: chap.algorithms }),
          ...(chap.allowShortSecrets === true && { allowShortSecrets: true }),
          ...(chap.targetSecret !== undefined && { mutual: { secret: chap.targetSecret, ...(chap.targetUser !== undefined && { name: chap.targetUser }) } }),
        },
      }),
      isid: r.isid,
      // ErrorRecoveryLevel 0 recovery is session reinstatement: same ISID, TSIH 0 (RFC 7143 §6.3.5).
      tsih: 0,
      cmdSN: this.#nextCmdSN,
      itt: this.#tags.next(),
    });
  }

  async #login(tr: Transport, ex: LoginExchange): Promise<LoginOutcome | LoginRedirect> {
    const r = this.#r;
    const deadline = Date.now() + r.loginTimeout;
    tr.send(ex.start());
    for (;;) {
      const left = deadline - Date.now();
      const pdu = await tr.receive(Math.max(1, left), 'Login Response');
      if (pdu.opcode !== Opcode.LoginResponse) {
        throw new IscsiProtocolError('ERR_LOGIN_PDU', `a ${pdu.opcode.toString(16)} PDU during login`, { rule: 'RFC 7143 §6.3', action: 'drop' });
      }
      const step = ex.receive(pdu);
      if ('send' in step) tr.send(step.send);
      else if ('done' in step) return step.done;
      else return step.redirect;
    }
  }

  /** The connection `tr` failed: re-queue its commands and start recovery (once per connection). */
  #linkFailed(tr: Transport | null, err: Error): void {
    if (tr === null || tr !== this.#transport) return;
    this.#transport = null;
    tr.destroy();
    this.#core.detach(err);
    if (this.#closing !== null) return;
    this.#log?.debug({ err: err.message }, 'connection lost');
    this.#events.emit({ type: 'connection-lost', reason: err.message, error: err });
    this.#policy.lost(this.#clock.now());
    this.#startRecovery(0);
  }

  #startRecovery(delay: number): void {
    this.#outside.runInAsyncScope(() => void this.#recover(delay));
  }

  async #recover(initialDelay: number): Promise<void> {
    if (this.#recovering || this.#closing !== null) return;
    this.#recovering = true;
    // Real timers are unref'd; while commands wait for a new connection, keep the process alive.
    if (this.#clock === realClock) this.#holdOpen = setInterval(() => {}, 1 << 30);
    let lastError: Error | undefined;
    let attempt = 0;
    /** Time still to wait before the next attempt, when a wait was cut short to fail pending commands. */
    let remaining = -1;
    try {
      while (this.#closing === null) {
        const now = this.#clock.now();
        if (!this.#sessionLost && this.#policy.expired(now)) {
          this.#sessionLost = true;
          const e = new ConnectionError(
            'ERR_SESSION_LOST',
            `no connection to ${this.host}:${this.port} within the ${this.#policy.options.replacementTimeout} ms replacement timeout${lastError !== undefined ? ` (last error: ${lastError.message})` : ''}`,
            lastError === undefined ? undefined : { cause: lastError },
          );
          this.#core.failPending(e);
          this.#events.emit({ type: 'session-lost', error: e });
        }
        const wait = remaining >= 0 ? remaining : attempt === 0 ? Math.max(initialDelay, this.#policy.nextDelay()) : this.#policy.nextDelay();
        remaining = -1;
        if (wait > 0) {
          // Wake at the replacement timeout, if it comes first, to fail what waits; then wait the rest.
          const untilExpiry = this.#sessionLost ? Infinity : this.#policy.downSince + this.#policy.options.replacementTimeout - now;
          if (untilExpiry > 0 && untilExpiry < wait) {
            await this.#sleepFor(untilExpiry);
            remaining = wait - untilExpiry;
            continue;
          }
          await this.#sleepFor(wait);
          if (this.#closing !== null) return;
        }
        attempt++;
        try {
          await this.#establish();
          this.#reconnects++;
          this.#sessionLost = false;
          this.#events.emit({ type: 'reconnected', attempt, downMs: this.#policy.downSince >= 0 ? this.#clock.now() - this.#policy.downSince : 0 });
          return;
        } catch (e) {
          lastError = e instanceof Error ? e : new Error(String(e));
          this.#policy.attemptFailed();
          this.#log?.debug({ err: lastError.message, attempt }, 'reconnection failed');
          if (lastError instanceof LoginError && lastError.statusClass === 2) {
            // An initiator error (authentication, authorization, no such target) will not heal by retrying.
            this.#sessionLost = true;
            this.#core.failPending(lastError);
            this.#events.emit({ type: 'session-lost', error: lastError });
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

  #wake(): void {
    this.#sleep?.wake();
  }

  readonly #policyTick = (): void => {
    if (this.#closing !== null && this.#core.closed) return;
    this.#policyTimer = this.#clock.setTimeout(this.#policyTick, 250);
    const now = this.#clock.now();
    if (this.#core.connected) {
      // A completed command proves the target back (backoff resets); so does a connection that lived on.
      if (this.#core.stats.completed !== this.#lastCompleted) {
        this.#lastCompleted = this.#core.stats.completed;
        this.#policy.markStable();
      }
      this.#policy.tick(now);
    }
  };

  #onCoreEvent(e: SessionEvent): void {
    this.#events.emit(e);
    switch (e.type) {
      case 'unit-attention':
        // SBC-3: READ CAPACITY tells the new size; the cached one is stale (the block size stays).
        if (((e.asc << 8) | e.ascq) === ASC.CAPACITY_DATA_HAS_CHANGED && (e.lun === undefined || e.lun === this.lun)) this.#capacity = undefined;
        break;
      case 'logout-requested':
        this.#later(() => void this.#logoutAndReconnect(e.within));
        break;
      case 'connection-drop-requested':
      case 'session-drop-requested': {
        const tr = this.#transport;
        const err = new ConnectionError('ERR_TARGET_DROP', `the target announced it drops the ${e.type === 'session-drop-requested' ? 'session' : 'connection'}`);
        this.#later(() => {
          if (tr !== this.#transport || tr === null) return;
          this.#transport = null;
          tr.destroy();
          this.#core.detach(err);
          if (this.#closing !== null) return;
          this.#events.emit({ type: 'connection-lost', reason: err.message, error: err });
          this.#policy.lost(this.#clock.now());
          this.#startRecovery(e.time2Wait * 1000);
        });
        break;
      }
      default:
        break;
    }
  }

  /** RFC 7143 §11.9.1 AsyncEvent 1: let what is in flight finish (within the time given), log out, come back. */
  async #logoutAndReconnect(within: number): Promise<void> {
    if (this.#logoutInProgress || this.#closing !== null) return;
    const tr = this.#transport;
    if (tr === null) return;
    this.#logoutInProgress = true;
    try {
      this.#core.quiesce(true);
      const deadline = this.#clock.now() + Math.max(0, within - 500);
      while (this.#core.inFlight > 0 && this.#clock.now() < deadline && this.#transport === tr && this.#closing === null) await this.#sleepFor(20);
      // close() woke us: it logs out itself (initiator fuzzer, seed 20264498).
      if (this.#closing !== null) return;
      let time2Wait = 0;
      if (this.#transport === tr) {
        try {
          time2Wait = (await this.#core.logout(Math.max(500, Math.min(5000, deadline - this.#clock.now() + 500)))).time2Wait;
        } catch {
          // The target may drop the connection first; recovery handles it.
        }
      }
      if (this.#transport !== tr) return;
      this.#transport = null;
      tr.destroy();
      const err = new ConnectionError('ERR_LOGGED_OUT', 'logged out at the target\'s request');
      this.#core.detach(err);
      if (this.#closing !== null) return;
      this.#events.emit({ type: 'connection-lost', reason: err.message, error: err });
      this.#policy.lost(this.#clock.now());
      this.#startRecovery(time2Wait * 1000);
    } finally {
      this.#logoutInProgress = false;
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
    this.#wake();
    this.#establishing?.destroy(err);
    const tr = this.#transport;
    this.#transport = null;
    tr?.destroy();
    this.#core.close(err);
    this.#policyTimer?.cancel();
    this.#policyTimer = null;
    if (this.#holdOpen !== null) clearInterval(this.#holdOpen);
    this.#holdOpen = null;
    // The last event: readers see it, then their iteration ends.
    this.#events.emit({ type: 'closed', error: err });
    this.#events.close();
  }
}

/** Largest logical block size believed from READ CAPACITY (SBC-3 allows 32 bits; disks use 512..64 KiB). */
const MAX_BLOCK_SIZE = 1 << 20;

/**
 * Parses data the target returned: data too short or out of range for its format is the target's fault,
 * reported as a typed IscsiProtocolError (ERR_TARGET_DATA), not as the parser's RangeError.
 */
function targetData<T>(parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    throw new IscsiProtocolError('ERR_TARGET_DATA', `the target returned malformed data: ${e.message}`, { rule: 'SPC-4/SBC-3 parameter data', action: 'reject', cause: e });
  }
}

function checkRange(lba: number, blocks: number): void {
  if (!Number.isSafeInteger(lba) || lba < 0) throw new RangeError(`LBA ${lba} is not a non-negative integer`);
  if (!Number.isInteger(blocks) || blocks < 1 || blocks > 0xffffffff) throw new RangeError(`block count ${blocks} must be an integer from 1 to 2^32-1`);
}

function resolve(u: IscsiUrl, o: SessionOptions): Resolved {
  // A copy: the CHAP algorithms may be narrowed for a target (see CHAP_ALGORITHMS_WITHOUT_7).
  let chap = o.chap === undefined ? undefined : { ...o.chap };
  if (chap === undefined && u.user !== undefined) {
    if (u.secret === undefined) throw new UrlError(`the URL names CHAP user ${JSON.stringify(u.user)} but no secret (iscsi://user%secret@host/...)`);
    chap = { user: u.user, secret: u.secret };
    if (u.targetSecret !== undefined) {
      chap.targetSecret = u.targetSecret;
      if (u.targetUser !== undefined) chap.targetUser = u.targetUser;
    }
  }
  const policy: Partial<NegotiationPolicy> = {
    headerDigest: digestList(o.headerDigest ?? u.headerDigest),
    dataDigest: digestList(o.dataDigest ?? u.dataDigest),
    // Several R2Ts per write in flight when the target allows (RFC 7143 §13.17: the lower value wins).
    maxOutstandingR2T: 8,
    ...o.policy,
  };
  const isid = o.isid ?? randomIsid();
  if (!/^[0-9a-fA-F]{12}$/.test(isid)) throw new RangeError(`ISID ${JSON.stringify(isid)} must be 12 hex digits`);
  return {
    url: u,
    target: u.target!,
    lun: u.lun!,
    initiatorName: o.initiatorName ?? defaultInitiatorName(),
    isid: isid.toLowerCase(),
    chap,
    policy,
    connectTimeout: o.connectTimeout ?? 10000,
    loginTimeout: o.loginTimeout ?? 15000,
    timeout: o.timeout ?? 30000,
    maxRedirects: o.maxRedirects ?? 3,
    maxRecv: o.policy?.maxRecvDataSegmentLength ?? 262144,
  };
}
