// What MultipathSession takes and reports: its options and their defaults (the per-path session's
// fast-failure defaults among them), its events, the status of each path, and the few calls it makes
// on a path's session (so that tests can stand a scripted session in for a real one).

import type { StandardInquiry } from '../../scsi/cdb/spc.js';
import type { CommandResult } from '../core/result.js';
import type { SessionEvent } from '../events.js';
import type { Capacity, CommandOptions, ExecuteOptions, ReadOptions, SessionOptions, WriteOptions } from '../options.js';
import type { IscsiUrl } from '../url.js';
import type { PathPolicy } from './selector.js';

/**
 * Options of {@link MultipathSession.connect}: those of a Session (applied to every path), plus how
 * paths are chosen and how long a command may spend failing over. Each path has its own random ISID.
 */
export interface MultipathOptions extends Omit<SessionOptions, 'isid' | 'initialCmdSN'> {
  /** `alua` (default): only the best ALUA state carries I/O; `multibus`: every Active path does. */
  pathPolicy?: PathPolicy;
  /**
   * How long a command may keep failing over (retrying on other paths, waiting for a usable one) after
   * its first failure before it fails with NoPathError, ms. Default 30000; Infinity queues for ever
   * (dm-multipath's queue_if_no_path); 0 fails at once when no other path is usable.
   */
  failoverTimeout?: number;
  /** How often the ALUA states are read again and failed paths checked, ms. Default 5000 (dm-multipath's polling_interval). */
  checkInterval?: number;
  /** Time a path's check commands (INQUIRY, REPORT TARGET PORT GROUPS) may take, ms. Default 5000. */
  checkTimeout?: number;
  /** Pause before a command is sent again after BUSY or on the path it just failed on, ms. Default 100. */
  retryDelay?: number;
  /** First delay between attempts to open a path that could not be opened (doubling to 10 s), ms. Default 1000. */
  pathRetryInterval?: number;
  /**
   * With explicit ALUA (INQUIRY TPGS bit 1) and no Active path, ask a Standby port's group to become
   * Active/Optimized with SET TARGET PORT GROUPS (SPC-4 §6.45), as Linux's scsi_dh_alua does. Default true.
   */
  activateStandby?: boolean;
  /** Opens a path's session (tests stand a scripted one in). Default: Session.connect. */
  openPath?: (url: IscsiUrl, options: SessionOptions) => Promise<PathSession>;
}

/**
 * What each path's Session gets unless the options say otherwise: failures detected in seconds, not in
 * the tens of seconds a lone session may wait for its target to come back (dm-multipath with open-iscsi
 * recommends the same: short noop_out interval and timeout, a short replacement_timeout, fast_io_fail_tmo).
 * A path whose connection drops hands its commands to another path at once; these bound how long a
 * silent (hung, partitioned) port holds them: a NOP-Out after 1 s of quiet, the connection declared dead
 * 3 s later.
 */
export const MULTIPATH_PATH_DEFAULTS = {
  noopInterval: 1000,
  noopTimeout: 3000,
  connectTimeout: 3000,
  loginTimeout: 5000,
  replacementTimeout: 5000,
  reconnect: { minDelay: 100, maxDelay: 2000, stableAfter: 2000 },
} as const;

/** The defaults of {@link MultipathOptions}, ms where they are times. */
export const MULTIPATH_DEFAULTS = {
  pathPolicy: 'alua' as PathPolicy,
  failoverTimeout: 30000,
  checkInterval: 5000,
  checkTimeout: 5000,
  retryDelay: 100,
  pathRetryInterval: 1000,
  pathRetryMax: 10000,
  activateStandby: true,
} as const;

/** Options of a multipath command: a Session command's, without the TaskHandle (a command may move between sessions). */
export type MultipathCommandOptions = Omit<CommandOptions, 'handle'>;
export type MultipathReadOptions = Omit<ReadOptions, 'handle'>;
export type MultipathWriteOptions = Omit<WriteOptions, 'handle'>;
/** Options of {@link MultipathSession.execute}; `path` sends it on that path only, without failover. */
export type MultipathExecuteOptions = Omit<ExecuteOptions, 'handle'> & { path?: number };

/** Where a path stands. */
export type PathStatusName =
  /** Being opened (first login, or again after its session gave up). */
  | 'connecting'
  /** Logged in again: its identity and ALUA state are being checked before it carries commands. */
  | 'checking'
  /** Carries commands (if its ALUA state allows). */
  | 'up'
  /** Its connection is down; its session reconnects on its own. */
  | 'down'
  /** A command timed out or broke the protocol on it: no commands until its commands drained and a check passed. */
  | 'failed'
  /** It reaches another device (or cannot prove which): never used. */
  | 'refused'
  | 'closed';

/** A path as {@link MultipathSession.paths} reports it. */
export interface PathStatus {
  index: number;
  /** The URL, its secrets redacted. */
  url: string;
  status: PathStatusName;
  /** The asymmetric access state of its target port group and its name ('active/optimized', ...). */
  aluaState: number;
  aluaStateName: string;
  pref: boolean;
  /** May carry a command now (up, and in a state that allows media access). */
  usable: boolean;
  targetPortGroup: number | undefined;
  relativeTargetPort: number | undefined;
  /** Commands completed through it. */
  commands: number;
  /** Commands that failed on it and were sent on another path. */
  failovers: number;
  /** Commands on it now. */
  outstanding: number;
  /** Times it went down. */
  downs: number;
  /** Its last error, if any. */
  lastError: string | undefined;
}

/** Counters of a multipath session. */
export interface MultipathStats {
  /** Commands completed (whichever path). */
  commands: number;
  /** Commands sent again after a failure (on another path or, after BUSY, the same). */
  retries: number;
  /** Commands that failed with NoPathError. */
  noPath: number;
  /** ALUA state reads (REPORT TARGET PORT GROUPS rounds). */
  stateReads: number;
  paths: PathStatus[];
}

/** Something a multipath session reports. */
export type MultipathEvent =
  | { type: 'path-up'; path: number; url: string; aluaStateName: string }
  | { type: 'path-down'; path: number; url: string; reason: string; error: Error }
  | { type: 'path-failed'; path: number; url: string; error: Error }
  | { type: 'path-refused'; path: number; url: string; error: Error }
  | { type: 'alua-state'; path: number; url: string; aluaState: number; aluaStateName: string; previous: string }
  /** Every event of a path's session (unit attentions, reconnections, ...), with the path it came from. */
  | { type: 'path-event'; path: number; url: string; event: SessionEvent }
  /** The session is closed: the last event. */
  | { type: 'closed'; error: Error };

export type MultipathEventType = MultipathEvent['type'];

/** Every {@link MultipathEventType}. */
export const MULTIPATH_EVENT_TYPES: ReadonlySet<string> = new Set<MultipathEventType>(['path-up', 'path-down', 'path-failed', 'path-refused', 'alua-state', 'path-event', 'closed']);

/** The calls a {@link MultipathSession} makes on a path's session; Session has them all. */
export interface PathSession {
  readonly connected: boolean;
  /** Commands outstanding (queued, in flight, or being aborted). */
  readonly busy: number;
  read(lba: number, blocks: number, options?: ReadOptions): Promise<Buffer>;
  write(lba: number, data: Buffer, options?: WriteOptions): Promise<void>;
  execute(cdb: Buffer, options?: ExecuteOptions): Promise<CommandResult>;
  inquiry(options?: CommandOptions): Promise<StandardInquiry>;
  inquiryVpd(page: number, options?: CommandOptions): Promise<Buffer>;
  readCapacity(options?: CommandOptions): Promise<Capacity>;
  testUnitReady(options?: CommandOptions): Promise<void>;
  synchronizeCache(options?: CommandOptions): Promise<void>;
  reportLuns(options?: CommandOptions): Promise<number[]>;
  /** Fails the commands waiting for a connection now (see Session.failQueued). */
  failQueued(error: Error): void;
  on(event: 'event', listener: (e: SessionEvent) => void): unknown;
  close(): Promise<void>;
}
