// The initiator session without a socket: commands go in (submit), PDUs come out through a link; PDUs
// from the target come in (receive) and complete commands. Time comes from an injected Clock.
//
// InitiatorCore is where the core's rooms meet: its state (state.ts), the forward path (forward.ts) and
// the backward path (responses.ts), commands sent again (reissue.ts), the window, the task pool, Data-In
// and Data-Out, TMF and keepalive. Forward state is guarded by frwdLock, backward state by backLock, as
// the Linux kernel splits its iSCSI session lock (locks.ts): backLock may be taken inside frwdLock, never
// the reverse; the response path that must send hands the work over and, once it has released backLock,
// takes frwdLock to send it. Sections never await.

import { AbortError, ConnectionError, TimeoutError } from '../../errors.js';
import { LogoutReason, Opcode, TaskAttr, TmfFunction, TmfResponse } from '../../pdu/constants.js';
import type { LogoutResponsePdu, TargetPdu } from '../../pdu/types.js';
import { R2TTable } from '../../r2t/table.js';
import { opcodeName } from '../../scsi/constants.js';
import type { TimerHandle } from '../../util/clock.js';
import type { NegotiatedParams } from '../../login/policy.js';
import { TaskManagementError, sessionClosedError } from '../errors.js';
import { burstLimits, type BurstLimits } from './data-out.js';
import { cancel, enqueue, pump, sendPing, sendTmf } from './forward.js';
import type { SessionLocks } from './locks.js';
import { sendAgainFirst, tasksToReissue } from './reissue.js';
import { handleTargetPdu } from './responses.js';
import type { CommandResult } from './result.js';
import { CoreState, rejectPending, type CoreLink, type CoreOptions } from './state.js';
import { snapshotStats, type CoreCounters, type CoreStats } from './stats.js';
import type { Pending, Task, TaskHandle } from './task.js';
import type { TmfAnswer, TmfEntry } from './tmf.js';

export type { CoreLink, CoreOptions } from './state.js';
export type { CoreStats } from './stats.js';

/** What a successful login gives the core. */
export interface LinkState {
  params: NegotiatedParams;
  /** ExpCmdSN of the final Login Response: the CmdSN of the first command. */
  expCmdSN: number;
  maxCmdSN: number;
  /** StatSN of the final Login Response. */
  statSN: number;
}

/** A command to run. */
export interface CommandRequest {
  /** The LUN field (use lunToField). */
  lun: bigint;
  cdb: Buffer;
  /** Expected Data-In bytes. */
  readLength?: number;
  /** Buffer for the Data-In (at least readLength bytes); otherwise the session provides one. */
  into?: Buffer;
  /** Data-Out bytes. */
  dataOut?: Buffer;
  /** Task attribute (RFC 7143 §11.3.1.1); default SIMPLE. */
  attr?: number;
  /** Milliseconds until the command is aborted with a TimeoutError; 0 or undefined: none. */
  timeout?: number;
  signal?: AbortSignal;
  /** Send again after a UNIT ATTENTION this many times (default: the core's option). */
  unitAttentionRetries?: number;
  /** Names the command for ABORT TASK and QUERY TASK ({@link InitiatorCore.taskManagement}). */
  handle?: TaskHandle;
}

/** R2T descriptors a connection's table holds at most (queue depth × MaxOutstandingR2T, capped). */
const R2T_CAPACITY_MAX = 1 << 16;
/** The longest CDB: a variable-length one (SPC-4), 8 bytes plus an ADDITIONAL CDB LENGTH of at most 252. */
const MAX_SCSI_CDB = 260;

/**
 * The initiator's session state machine, socket-free: {@link submit} commands, {@link receive} target
 * PDUs, {@link attach}/{@link detach} connections. PDUs leave through the attached {@link CoreLink}.
 * Forward state is guarded by frwdLock, backward state by backLock (see {@link SessionLocks}).
 */
export class InitiatorCore {
  readonly #s: CoreState;
  /** frwdLock and backLock (one lock in `one` mode). */
  readonly locks: SessionLocks;
  /** Live counters (see {@link snapshot} for a copy with the lock and window counters). */
  readonly stats: CoreCounters;
  /** The forward path's pump, bound once: handed to frwdLock without a closure per response. */
  readonly #pump: () => void;
  #timer: TimerHandle | null = null;
  #logoutPromise: Promise<LogoutResponsePdu> | null = null;

  constructor(options: CoreOptions) {
    const s = new CoreState(options, (e) => this.#internalError(e));
    this.#s = s;
    this.locks = s.locks;
    this.stats = s.stats;
    this.#pump = () => pump(s);
    this.#timer = s.clock.setTimeout(this.#tick, options.tickMs);
  }

  // =====================================================================================
  // Public surface

  /** True while a connection is attached and usable. */
  get connected(): boolean {
    return this.#s.link !== null && !this.#s.linkDown;
  }

  /** True once {@link close} ran. */
  get closed(): boolean {
    return this.#s.closed;
  }

  /** Tasks not in the pool (queued, active or aborting). */
  get busy(): number {
    const pool = this.#s.pool;
    return pool.size - pool.free;
  }

  /** Tasks whose command is on the wire (active or being aborted). */
  get inFlight(): number {
    let n = 0;
    for (const t of this.#s.pool.tasks) if (t.state === 'active' || t.state === 'aborting') n++;
    return n;
  }

  /** Commands that can be outstanding at once (the task pool's size). */
  get queueDepth(): number {
    return this.#s.pool.size;
  }

  /** The window as the core sees it (for tests and stats). */
  get window(): { cmdSN: number; expCmdSN: number; maxCmdSN: number } {
    const w = this.#s.window;
    return { cmdSN: w.cmdSN, expCmdSN: w.expCmdSN, maxCmdSN: w.maxCmdSN };
  }

  /** The StatSN the next status-carrying PDU should have (RFC 7143 §4.2.2.2). */
  get expStatSN(): number {
    return this.#s.expStatSN;
  }

  /** Negotiated output limits of the current connection, or null while detached. */
  get limits(): BurstLimits | null {
    return this.#s.limits;
  }

  /** A copy of the counters, with the window's and the locks' own. */
  snapshot(): CoreStats {
    const s = this.#s;
    return snapshotStats(s.stats, s.window.ignored, s.locks.stats());
  }

  /** Runs a command; resolves with its result (GOOD or CONDITION MET), rejects with a typed error. */
  submit(req: CommandRequest): Promise<CommandResult> {
    const s = this.#s;
    if (s.closed) return Promise.reject(sessionClosedError());
    if (s.failure !== null) return Promise.reject(s.failure);
    const readLength = req.readLength ?? 0;
    const dataOut = req.dataOut ?? null;
    if (!Number.isInteger(readLength) || readLength < 0 || readLength > 0xffffffff) return Promise.reject(new RangeError(`readLength ${readLength} is not a length`));
    if (readLength > 0 && dataOut !== null && dataOut.length > 0) return Promise.reject(new RangeError('bidirectional commands are not supported'));
    if (req.into !== undefined && req.into.length < readLength) return Promise.reject(new RangeError(`into holds ${req.into.length} bytes, less than readLength ${readLength}`));
    if (req.cdb.length < 1 || req.cdb.length > MAX_SCSI_CDB) return Promise.reject(new RangeError(`a CDB of ${req.cdb.length} bytes`));
    const signal = req.signal ?? null;
    if (req.handle !== undefined && req.handle.pending !== null) return Promise.reject(new RangeError('this TaskHandle already names another command'));
    if (signal?.aborted) return Promise.reject(abortError(signal));
    return new Promise<CommandResult>((resolve, reject) => {
      const timeout = req.timeout ?? 0;
      const p: Pending = {
        lun: req.lun,
        cdb: req.cdb,
        readLength,
        into: req.into ?? null,
        dataOut,
        attr: req.attr ?? TaskAttr.Simple,
        timeout,
        deadline: timeout > 0 ? s.clock.now() + timeout : Infinity,
        signal,
        onAbort: null,
        uaRetries: req.unitAttentionRetries ?? s.o.unitAttentionRetries,
        order: s.order++,
        task: null,
        settled: false,
        resolve,
        reject,
      };
      if (req.handle !== undefined) req.handle.pending = p;
      if (signal !== null) {
        p.onAbort = () => cancel(s, p, abortError(signal));
        signal.addEventListener('abort', p.onAbort, { once: true });
      }
      s.stats.submitted++;
      s.locks.forward(() => enqueue(s, p));
    });
  }

  /** A PDU from the target (the transport calls this for each decoded PDU, in order). */
  receive(pdu: TargetPdu): void {
    const s = this.#s;
    if (s.linkDown || s.closed) return;
    s.keepalive.heard(s.clock.now());
    s.stats.pdusIn++;
    s.locks.backward(() => handleTargetPdu(s, pdu));
    this.#afterBackward();
  }

  /** A new connection is logged in: numbering restarts from its login, queued commands go out. */
  attach(link: CoreLink, ls: LinkState): void {
    const s = this.#s;
    if (s.closed) return;
    s.locks.forward(() => {
      s.locks.backInsideForward(() => {
        s.window.reset(ls.expCmdSN, ls.expCmdSN, ls.maxCmdSN);
        s.expStatSN = (ls.statSN + 1) >>> 0;
        const limits = burstLimits(ls.params);
        const capacity = Math.min(R2T_CAPACITY_MAX, s.pool.size * limits.maxOutstandingR2T);
        if (s.r2t === null || s.r2t.capacity !== capacity) s.r2t = new R2TTable(capacity);
        s.limits = limits;
        s.keepalive.reset(s.clock.now());
        s.linkError = null;
      });
      s.link = link;
      s.linkDown = false;
      s.failure = null;
      s.quiesced = false;
      pump(s);
    });
  }

  /**
   * The connection is gone. Commands that were on it go back to the queue, first-submitted first, to be
   * sent again on the next connection (ErrorRecoveryLevel 0: the reinstated session knows nothing of them,
   * RFC 7143 §6.3.5). Commands being aborted are finished: their callers were answered already.
   */
  detach(reason: Error): void {
    const s = this.#s;
    if (s.link === null && s.linkDown) return;
    s.locks.forward(() => {
      let requeue: Task[] = [];
      s.locks.backInsideForward(() => {
        requeue = tasksToReissue(s);
        s.handoff.length = 0;
        s.r2tReady.length = 0;
        s.r2t = null;
        s.tmf.clear(reason);
        const lw = s.logoutWaiter;
        s.logoutWaiter = null;
        lw?.reject(reason);
      });
      sendAgainFirst(s, requeue);
      s.link = null;
      s.linkDown = true;
    });
  }

  /** Fails every command waiting for a connection (replacement timeout); new ones fail at once until attach. */
  failPending(err: Error): void {
    const s = this.#s;
    s.locks.forward(() => {
      s.failure = err;
      const queued = s.txQueue;
      s.txQueue = [];
      const waiters = s.waiters;
      s.waiters = [];
      s.locks.backInsideForward(() => {
        for (const t of queued) {
          const p = t.pending;
          s.pool.put(t);
          if (p !== null) rejectPending(p, err);
        }
      });
      for (const p of waiters) rejectPending(p, err);
    });
  }

  /** Stops the timer and fails everything still pending. Idempotent. */
  close(err: Error = sessionClosedError()): void {
    const s = this.#s;
    if (s.closed) return;
    if (s.link !== null) this.detach(err);
    this.failPending(err);
    s.closed = true;
    this.#timer?.cancel();
    this.#timer = null;
  }

  /** Holds new commands back (a logout is coming); `false` lets them go again. */
  quiesce(on: boolean): void {
    const s = this.#s;
    s.locks.forward(() => {
      s.quiesced = on;
      if (!on) pump(s);
    });
  }

  /**
   * Sends a Logout Request (close the session, RFC 7143 §11.14) and waits for the response. A logout
   * asked for while one is outstanding (close() during a target-requested logout) shares its answer:
   * a second request would take the only waiter slot and leave the first caller waiting for ever.
   */
  logout(timeoutMs: number, reason: number = LogoutReason.CloseSession): Promise<LogoutResponsePdu> {
    if (this.#s.logoutWaiter !== null && this.#logoutPromise !== null) return this.#logoutPromise;
    const p = this.#sendLogout(timeoutMs, reason);
    this.#logoutPromise = p;
    const clear = (): void => {
      if (this.#logoutPromise === p) this.#logoutPromise = null;
    };
    p.then(clear, clear);
    return p;
  }

  #sendLogout(timeoutMs: number, reason: number): Promise<LogoutResponsePdu> {
    const s = this.#s;
    return new Promise((resolve, reject) => {
      s.locks.forward(() => {
        const link = s.link;
        if (link === null || s.linkDown) return reject(new ConnectionError('ERR_NOT_CONNECTED', 'not connected'));
        const itt = s.tags.next();
        const timer = s.clock.setTimeout(() => {
          if (s.logoutWaiter?.itt === itt) s.logoutWaiter = null;
          reject(new TimeoutError(`no Logout Response within ${timeoutMs} ms`));
        }, timeoutMs);
        s.locks.backInsideForward(() => {
          s.logoutWaiter = {
            itt,
            resolve: (r) => {
              timer.cancel();
              resolve(r);
            },
            reject: (e) => {
              timer.cancel();
              reject(e);
            },
          };
        });
        // Immediate: a closed window must not keep the logout back (RFC 7143 §11.14).
        link.send({ opcode: Opcode.LogoutRequest, immediate: true, reasonCode: reason, itt, cid: 0, cmdSN: s.window.cmdSN, expStatSN: s.expStatSN });
      });
    });
  }

  /** Sends a LOGICAL UNIT RESET and waits for its response (resolves with the TMF response code). */
  async lunReset(lun: bigint, timeoutMs: number): Promise<number> {
    const a = await this.taskManagement(TmfFunction.LogicalUnitReset, lun, { timeoutMs });
    if (a.response !== TmfResponse.FunctionComplete) throw new TaskManagementError(TmfFunction.LogicalUnitReset, a.response);
    return a.response;
  }

  /**
   * Sends task management function `fn` (RFC 7143 §11.5.1, RFC 7144 §4.1) for `lun` and resolves with
   * the target's answer, whatever it is; rejects only when there is none (not connected, Reject,
   * timeout: an unanswered TMF means the connection is not to be trusted and it is recovered).
   * ABORT TASK and QUERY TASK name their command by `ref`:
   * - a command never sent (or settled) is answered here without asking the target, which knows
   *   nothing of it: ABORT TASK drops it ("Function complete") or finds it over ("Task does not
   *   exist"); QUERY TASK answers "Function complete" (no such task);
   * - ABORT TASK on a command on the wire rejects it at once with AbortError, as its AbortSignal would.
   * Once answered "Function complete", the affected commands sent before the TMF are settled here:
   * ABORT TASK SET and CLEAR TASK SET reject this session's commands on the LUN with AbortError; LOGICAL
   * UNIT RESET, TARGET WARM RESET and I_T NEXUS RESET send them again (they were collateral damage), as
   * TARGET COLD RESET does through session recovery once the target drops the connection.
   */
  taskManagement(fn: number, lun: bigint, opts: { ref?: TaskHandle; timeoutMs: number }): Promise<TmfAnswer> {
    const s = this.#s;
    const local = (response: number): Promise<TmfAnswer> => Promise.resolve({ response, additionalResponseInformation: 0 });
    if (fn === TmfFunction.AbortTask || fn === TmfFunction.QueryTask || fn === TmfFunction.TaskReassign) {
      const p = opts.ref?.pending ?? null;
      if (opts.ref === undefined) return Promise.reject(new RangeError(`${fn === TmfFunction.AbortTask ? 'ABORT TASK' : fn === TmfFunction.QueryTask ? 'QUERY TASK' : 'TASK REASSIGN'} needs the TaskHandle of a command`));
      if (p === null) return Promise.reject(new RangeError('the TaskHandle names no command yet'));
      // A settled command's slot may already serve another: its ITT must not be named again.
      if (p.settled) return local(fn === TmfFunction.QueryTask ? TmfResponse.FunctionComplete : TmfResponse.TaskDoesNotExist);
      const t = p.task;
      if (fn !== TmfFunction.AbortTask && (t === null || t.state !== 'active')) return local(TmfResponse.FunctionComplete);
      if (fn === TmfFunction.AbortTask) {
        return new Promise((resolve, reject) => {
          cancel(s, p, new AbortError('the command was aborted (abortTask)'), { timeoutMs: opts.timeoutMs, done: (a) => (a instanceof Error ? reject(a) : resolve(a)) });
        });
      }
    }
    return new Promise((resolve, reject) => {
      s.locks.forward(() => {
        if (s.link === null || s.linkDown) return reject(new ConnectionError('ERR_NOT_CONNECTED', 'not connected'));
        const t = opts.ref?.pending?.task ?? null;
        sendTmf(s, fn, lun, t, s.clock.now() + opts.timeoutMs, (a) => (a instanceof Error ? reject(a) : resolve(a)), opts.timeoutMs);
      });
    });
  }

  /** Runs the forward path now (the socket drained: commands held back may go). */
  kick(): void {
    this.#s.locks.forward(this.#pump);
  }

  /** Sends a NOP-Out ping now (tests; the timer does it on its own). */
  ping(): void {
    const s = this.#s;
    s.locks.forward(() => sendPing(s));
  }

  // =====================================================================================
  // Where the paths meet: after a backward section, on the timer, on failure

  /** After a backward section: report a violation it found, or let the forward path send what it handed over. */
  #afterBackward(): void {
    const s = this.#s;
    const err = s.linkError;
    if (err !== null) {
      s.linkError = null;
      s.o.onEvent({ type: 'protocol-error', error: err });
      s.o.onLinkFailure(err);
      return;
    }
    // A hint read without frwdLock (Node runs one thread; the forward section checks again).
    if (s.handoff.length > 0 || s.r2tReady.length > 0 || (s.txQueue.length > 0 && s.window.open) || (s.waiters.length > 0 && s.pool.free > 0)) {
      s.locks.forward(this.#pump);
    }
  }

  readonly #tick = (): void => {
    const s = this.#s;
    if (s.closed) return;
    this.#timer = s.clock.setTimeout(this.#tick, s.o.tickMs);
    const now = s.clock.now();
    let expired: Pending[] | undefined;
    for (const t of s.pool.tasks) {
      const p = t.pending;
      if (p !== null && !p.settled && p.deadline <= now) (expired ??= []).push(p);
    }
    for (const p of s.waiters) if (!p.settled && p.deadline <= now) (expired ??= []).push(p);
    if (expired !== undefined) {
      for (const p of expired) {
        const what = `${opcodeName(p.cdb[0]!)} timed out after ${p.timeout} ms`;
        cancel(s, p, (onTheWire) => new TimeoutError(onTheWire ? `${what} and was aborted (ABORT TASK sent to the target)` : `${what} before it was sent, and was dropped`));
      }
    }
    for (const e of s.tmf.expired(now)) this.#escalate(e);
    if (s.link !== null && !s.linkDown) {
      const stalled = s.txQueue.length > 0 && !s.window.open;
      const action = s.keepalive.tick(now, stalled, this.busy > 0);
      if (action === 'ping') s.locks.forward(() => sendPing(s));
      else if (action === 'dead') {
        s.linkDown = true;
        s.o.onLinkFailure(new ConnectionError('ERR_NOP_TIMEOUT', `the target sent nothing for ${s.o.keepalive.timeout} ms after a NOP-Out ping`));
      }
    }
  };

  /** An unanswered TMF: ABORT TASK escalates to LUN RESET, any other to connection recovery. */
  #escalate(e: TmfEntry): void {
    const s = this.#s;
    e.done?.(new TimeoutError(`no answer to the task management request within ${e.timeoutMs} ms`));
    if (e.function === TmfFunction.AbortTask) {
      s.locks.forward(() => {
        if (!s.tmf.resetPending(e.lun)) sendTmf(s, TmfFunction.LogicalUnitReset, e.lun, null, s.clock.now() + s.o.tmfTimeout, null);
      });
    } else if (s.link !== null && !s.linkDown) {
      s.linkDown = true;
      s.o.onLinkFailure(new ConnectionError('ERR_TMF_TIMEOUT', `the target did not answer a task management request within ${s.o.tmfTimeout} ms`));
    }
  }

  #internalError(e: unknown): void {
    // A deferred section threw: a bug. Make it visible and recover the connection rather than hang.
    const s = this.#s;
    const err = e instanceof Error ? e : new Error(String(e));
    s.o.onEvent({ type: 'protocol-error', error: err });
    if (s.link !== null && !s.linkDown) {
      s.linkDown = true;
      s.o.onLinkFailure(err);
    }
  }
}

function abortError(signal: AbortSignal): AbortError {
  const reason: unknown = signal.reason;
  if (reason instanceof AbortError) return reason;
  return new AbortError('the command was aborted', reason === undefined ? undefined : { cause: reason });
}
