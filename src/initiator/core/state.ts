// The state of one initiator session core, grouped by the lock that guards it, and the few operations
// both paths use on it: answer a caller, return a task to the pool, forget a task's R2T bursts, mark the
// connection broken. The forward path is forward.ts, the backward path responses.ts; InitiatorCore
// (initiator-core.ts) owns one CoreState and is where they meet.
//
// The locks follow the Linux kernel's split of the iSCSI session lock (frwd_lock, back_lock): the submit
// path and the response path each guard their own state, so neither waits for the other (locks.ts).

import type { LogoutResponsePdu, InitiatorPdu } from '../../pdu/types.js';
import type { R2TDescriptor, R2TTable } from '../../r2t/table.js';
import type { Clock } from '../../util/clock.js';
import type { SessionEvent } from '../events.js';
import type { BurstLimits } from './data-out.js';
import { Keepalive, type KeepaliveOptions } from './keepalive.js';
import { SessionLocks, type LockMode } from './locks.js';
import type { CommandResult } from './result.js';
import { newCounters, type CoreCounters } from './stats.js';
import { TaskPool, type Pending, type Task } from './task.js';
import { TagSource, TmfTracker } from './tmf.js';
import { CommandWindow } from './window.js';

/** Where the core sends PDUs: the connection's writer (or a test's array). */
export interface CoreLink {
  send(pdu: InitiatorPdu): void;
  /** True while the socket holds more than it should: commands wait (they keep their CmdSN order). */
  readonly congested: boolean;
}

/** How an {@link InitiatorCore} is set up. */
export interface CoreOptions {
  /** Task pool size: commands that can be outstanding at once. */
  queueDepth: number;
  lockMode: LockMode;
  clock: Clock;
  /** Timer resolution for command deadlines, TMF and keepalive, in ms. */
  tickMs: number;
  keepalive: KeepaliveOptions;
  /** Time an ABORT TASK or LUN RESET may take before escalating. */
  tmfTimeout: number;
  unitAttentionRetries: number;
  /** The connection is unusable (protocol violation, dead peer): the owner closes it and recovers. */
  onLinkFailure: (err: Error) => void;
  onEvent: (e: SessionEvent) => void;
}

/**
 * Work the backward path found but may not do itself, because it must send (it never sends under
 * backLock): the forward path picks it up once backLock is released.
 */
export type Handoff =
  | { kind: 'nop-reply'; ttt: number; lun: bigint }
  | { kind: 'retry'; task: Task; itt: number }
  | { kind: 'abort'; task: Task; itt: number }
  | { kind: 'lun-reset'; lun: bigint };

/** The caller of an outstanding Logout Request. */
export interface LogoutWaiter {
  itt: number;
  resolve: (r: LogoutResponsePdu) => void;
  reject: (e: Error) => void;
}

/** Everything one core knows. Fields are grouped by the lock that guards them. */
export class CoreState {
  readonly o: CoreOptions;
  readonly clock: Clock;
  readonly locks: SessionLocks;
  readonly pool: TaskPool;
  readonly window = new CommandWindow();
  /** Tags of non-command PDUs: TMF, NOP-Out pings, Logout. */
  readonly tags = new TagSource();
  readonly tmf: TmfTracker;
  readonly keepalive: Keepalive;
  readonly stats: CoreCounters = newCounters();
  // ---- forward state (frwdLock) ----
  txQueue: Task[] = [];
  waiters: Pending[] = [];
  link: CoreLink | null = null;
  quiesced = false;
  // ---- backward state (backLock) ----
  expStatSN = 0;
  handoff: Handoff[] = [];
  handoffSpare: Handoff[] = [];
  /** R2T descriptors queued (pool → queue) whose burst the forward path has yet to send. */
  r2tReady: R2TDescriptor[] = [];
  r2tSpare: R2TDescriptor[] = [];
  /** A violation found under backLock, reported to the owner once the section is over. */
  linkError: Error | null = null;
  logoutWaiter: LogoutWaiter | null = null;
  // ---- either, set on attach/detach with both locks ----
  limits: BurstLimits | null = null;
  r2t: R2TTable | null = null;
  /** The link failed and the owner was told; PDUs still arriving on it are dropped. */
  linkDown = true;
  /** Set after the replacement timeout: new commands fail at once until a connection is back. */
  failure: Error | null = null;
  closed = false;
  /** Submission counter: the order re-issued commands go out in. */
  order = 0;

  constructor(o: CoreOptions, onLockError: (e: unknown) => void) {
    this.o = o;
    this.clock = o.clock;
    this.locks = new SessionLocks(o.lockMode, onLockError);
    this.pool = new TaskPool(o.queueDepth);
    this.tmf = new TmfTracker(this.tags);
    this.keepalive = new Keepalive(o.keepalive);
  }
}

/** Marks `p` answered and detaches it from its task and signal; false when it was already answered. */
function settle(p: Pending): boolean {
  if (p.settled) return false;
  p.settled = true;
  p.task = null;
  if (p.onAbort !== null) p.signal!.removeEventListener('abort', p.onAbort);
  return true;
}

/** Answers the caller of `p` with its result (once: `settled` guards it). */
export function resolvePending(p: Pending, r: CommandResult): void {
  if (settle(p)) p.resolve(r);
}

/** Answers the caller of `p` with an error (once: `settled` guards it). */
export function rejectPending(p: Pending, err: Error): void {
  if (settle(p)) p.reject(err);
}

/** Returns the task to the pool and answers its caller (exactly once: Pending.settled guards it). */
export function finish(s: CoreState, t: Task, r: CommandResult | null, err: Error | null): void {
  const p = t.pending!;
  dropBursts(s, t);
  s.pool.put(t);
  if (err !== null) {
    s.stats.failed++;
    rejectPending(p, err);
  } else {
    s.stats.completed++;
    resolvePending(p, r!);
  }
}

/** Retires a task's R2T descriptors (queue → pool, "task aborted" or done) and forgets unsent bursts. */
export function dropBursts(s: CoreState, t: Task): void {
  const ready = s.r2tReady;
  if (t.outstandingR2T === 0 && ready.length === 0) return;
  if (ready.length > 0) {
    let j = 0;
    for (let i = 0; i < ready.length; i++) {
      const d = ready[i]!;
      if (d.itt !== t.itt) ready[j++] = d;
    }
    ready.length = j;
  }
  s.r2t?.retireTask(t.itt);
  t.outstandingR2T = 0;
}

/** The target broke a rule that no single command answers for: the connection goes (backLock held). */
export function linkViolation(s: CoreState, err: Error): void {
  if (s.linkError === null) s.linkError = err;
  s.linkDown = true;
}
