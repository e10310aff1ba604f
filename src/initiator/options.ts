// What Session takes and gives: the options of connect and of each command, the answers of READ
// CAPACITY and task management, the counters; the defaults; and how a URL and options resolve into
// what every connection of the session logs in with.

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { ChapAlgorithmId, ChapSecret } from '../login/chap.js';
import type { DigestName } from '../login/keys.js';
import type { NegotiationPolicy } from '../login/policy.js';
import type { Clock } from '../util/clock.js';
import type { KeepaliveOptions } from './core/keepalive.js';
import type { LockMode } from './core/locks.js';
import type { CoreStats } from './core/stats.js';
import type { TaskHandle } from './core/task.js';
import { UrlError } from './errors.js';
import type { ReconnectOptions } from './recovery.js';
import type { DigestPreference, IscsiUrl } from './url.js';

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

/** The defaults of {@link SessionOptions}, in ms where they are times. */
export const SESSION_DEFAULTS = {
  queueDepth: 128,
  timeout: 30000,
  connectTimeout: 10000,
  loginTimeout: 15000,
  replacementTimeout: 30000,
  noopInterval: 5000,
  noopTimeout: 10000,
  tmfTimeout: 10000,
  reconnect: { minDelay: 100, maxDelay: 5000, stableAfter: 2000 },
  unitAttentionRetries: 3,
  maxRedirects: 3,
  /** Our MaxRecvDataSegmentLength until one is negotiated (RFC 7143 §13.12). */
  maxRecvDataSegmentLength: 262144,
} as const;

/** Quiet time with commands held back by a closed window before a NOP-Out asks for MaxCmdSN, ms. */
const WINDOW_STALL_MS = 1000;

/** What Session.connect needs after the URL and options are merged. */
export interface ResolvedSession {
  url: IscsiUrl;
  target: string;
  lun: number;
  initiatorName: string;
  initiatorAlias: string | undefined;
  isid: string;
  /** A copy of the options' (the CHAP algorithms may be narrowed for a target). */
  chap: ChapOptions | undefined;
  policy: Partial<NegotiationPolicy>;
  connectTimeout: number;
  loginTimeout: number;
  timeout: number;
  tmfTimeout: number;
  maxRedirects: number;
  maxRecv: number;
  queueDepth: number;
  lockMode: LockMode;
  keepalive: KeepaliveOptions;
  unitAttentionRetries: number;
  reconnect: ReconnectOptions;
}

/**
 * Merges a URL that names a target and LUN with the options (the options win; CHAP comes from the URL
 * when the options have none).
 * @throws UrlError (a CHAP user without a secret), RangeError (a malformed ISID)
 */
export function resolveSession(u: IscsiUrl, o: SessionOptions): ResolvedSession {
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
    initiatorAlias: o.initiatorAlias,
    isid: isid.toLowerCase(),
    chap,
    policy,
    connectTimeout: o.connectTimeout ?? SESSION_DEFAULTS.connectTimeout,
    loginTimeout: o.loginTimeout ?? SESSION_DEFAULTS.loginTimeout,
    timeout: o.timeout ?? SESSION_DEFAULTS.timeout,
    tmfTimeout: o.tmfTimeout ?? SESSION_DEFAULTS.tmfTimeout,
    maxRedirects: o.maxRedirects ?? SESSION_DEFAULTS.maxRedirects,
    maxRecv: o.policy?.maxRecvDataSegmentLength ?? SESSION_DEFAULTS.maxRecvDataSegmentLength,
    queueDepth: o.queueDepth ?? SESSION_DEFAULTS.queueDepth,
    lockMode: o.lockMode ?? 'split',
    keepalive: { interval: o.noopInterval ?? SESSION_DEFAULTS.noopInterval, timeout: o.noopTimeout ?? SESSION_DEFAULTS.noopTimeout, windowStall: WINDOW_STALL_MS },
    unitAttentionRetries: o.unitAttentionRetries ?? SESSION_DEFAULTS.unitAttentionRetries,
    reconnect: {
      minDelay: o.reconnect?.minDelay ?? SESSION_DEFAULTS.reconnect.minDelay,
      maxDelay: o.reconnect?.maxDelay ?? SESSION_DEFAULTS.reconnect.maxDelay,
      stableAfter: o.reconnect?.stableAfter ?? SESSION_DEFAULTS.reconnect.stableAfter,
      replacementTimeout: o.replacementTimeout ?? SESSION_DEFAULTS.replacementTimeout,
      random: Math.random,
    },
  };
}
