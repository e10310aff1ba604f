// The initiator session without a socket: commands go in (submit), PDUs come out through a link; PDUs
// from the target come in (receive) and complete commands. Time comes from an injected Clock.
//
// Seed 001 is the structure. Forward path (frwdLock): take a task from the pool, queue it, give it a
// CmdSN and send it; send Data-Out bursts, NOP-Out answers, TMFs. Backward path (backLock): ExpCmdSN,
// MaxCmdSN and ExpStatSN from every response, Data-In and status into the task, the task back into the
// pool. backLock may be taken inside frwdLock (never the reverse); the response path that must send hands
// the work over and, once it has released backLock, takes frwdLock to send it. Sections never await.

import { AbortError, ConnectionError, IscsiProtocolError, TimeoutError } from '../../errors.js';
import { AsyncEvent, LogoutReason, Opcode, RESERVED_TAG, TmfFunction, TmfResponse } from '../../pdu/constants.js';
import { lunFromField } from '../../pdu/lun.js';
import type {
  AsyncMessagePdu,
  DataInPdu,
  InitiatorPdu,
  LogoutResponsePdu,
  NopInPdu,
  R2TPdu,
  RejectPdu,
  ScsiResponsePdu,
  TargetPdu,
  TaskManagementResponsePdu,
} from '../../pdu/types.js';
import { R2TTable, type R2TDescriptor } from '../../r2t/table.js';
import { SENSE_KEY, STATUS, ascName, opcodeName } from '../../scsi/constants.js';
import { parseSense, scsiErrorFromStatus } from '../../scsi/sense.js';
import type { Clock, TimerHandle } from '../../util/clock.js';
import type { NegotiatedParams } from '../../login/policy.js';
import { snLt, snLte } from '../../util/serial.js';
import { CommandRejectedError, TargetFailureError, TaskManagementError } from '../errors.js';
import { acceptDataIn, checkReadComplete, resultFromDataIn, resultFromResponse, type CommandResult } from './data-in.js';
import { acceptR2T, burstLimits, sendBurst, sendUnsolicited, unsolicitedPlan, type BurstLimits } from './data-out.js';
import type { SessionEvent } from '../events.js';
import { Keepalive, type KeepaliveOptions } from './keepalive.js';
import { SessionLocks, type LockMode, type LockStats } from './locks.js';
import { TaskPool, type Pending, type Task, type TaskHandle } from './task.js';
import { TagSource, TmfTracker, type TmfAnswer, type TmfEntry } from './tmf.js';
import { CommandWindow } from './window.js';

/** Where the core sends PDUs: the connection's writer (or a test's array). */
export interface CoreLink {
  send(pdu: InitiatorPdu): void;
  /** True while the socket holds more than it should: commands wait (they keep their CmdSN order). */
  readonly congested: boolean;
}

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

/** Counters of a core. */
export interface CoreStats {
  submitted: number;
  completed: number;
  failed: number;
  reissued: number;
  bytesIn: number;
  bytesOut: number;
  pdusIn: number;
  aborts: number;
  lunResets: number;
  pings: number;
  windowIgnored: number;
  locks: LockStats[];
}

type Handoff =
  | { kind: 'nop-reply'; ttt: number; lun: bigint }
  | { kind: 'retry'; task: Task; itt: number }
  | { kind: 'abort'; task: Task; itt: number }
  | { kind: 'lun-reset'; lun: bigint };

const EMPTY: Buffer = Buffer.alloc(0);
const R2T_CAPACITY_MAX = 1 << 16;

function closedError(): ConnectionError {
  return new ConnectionError('ERR_SESSION_CLOSED', 'the session is closed');
}

/**
 * The initiator's session state machine, socket-free: {@link submit} commands, {@link receive} target
 * PDUs, {@link attach}/{@link detach} connections. PDUs leave through the attached {@link CoreLink}.
 * Forward state is guarded by frwdLock, backward state by backLock (seed 001; see {@link SessionLocks}).
 */
export class InitiatorCore {
  readonly #o: CoreOptions;
  readonly #clock: Clock;
  readonly locks: SessionLocks;
  readonly #pool: TaskPool;
  readonly #window = new CommandWindow();
  readonly #tags = new TagSource();
  readonly #tmf: TmfTracker;
  readonly #keepalive: Keepalive;
  // ---- forward state (frwdLock) ----
  #txQueue: Task[] = [];
  #waiters: Pending[] = [];
  #link: CoreLink | null = null;
  #quiesced = false;
  // ---- backward state (backLock) ----
  #expStatSN = 0;
  #handoff: Handoff[] = [];
  #handoffSpare: Handoff[] = [];
  /** R2T descriptors queued (pool → queue) whose burst the forward path has yet to send. */
  #r2tReady: R2TDescriptor[] = [];
  #r2tSpare: R2TDescriptor[] = [];
  #linkError: Error | null = null;
  #logoutWaiter: { itt: number; resolve: (r: LogoutResponsePdu) => void; reject: (e: Error) => void } | null = null;
  // ---- either, set on attach/detach with both locks ----
  #limits: BurstLimits | null = null;
  #r2t: R2TTable | null = null;
  /** The link failed and the owner was told; PDUs still arriving on it are dropped. */
  #linkDown = true;
  /** Set after the replacement timeout: new commands fail at once until a connection is back. */
  #failure: Error | null = null;
  #closed = false;
  #order = 0;
  #timer: TimerHandle | null = null;
  readonly stats = { submitted: 0, completed: 0, failed: 0, reissued: 0, bytesIn: 0, bytesOut: 0, pdusIn: 0, aborts: 0, lunResets: 0, pings: 0 };

  constructor(options: CoreOptions) {
    this.#o = options;
    this.#clock = options.clock;
    this.locks = new SessionLocks(options.lockMode, (e) => this.#internalError(e));
    this.#pool = new TaskPool(options.queueDepth);
    this.#tmf = new TmfTracker(this.#tags);
    this.#keepalive = new Keepalive(options.keepalive);
    this.#timer = this.#clock.setTimeout(this.#tick, options.tickMs);
  }

  // =====================================================================================
  // Public surface

  /** True while a connection is attached and usable. */
  get connected(): boolean {
    return this.#link !== null && !this.#linkDown;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Tasks not in the pool (queued, active or aborting). */
  get busy(): number {
    return this.#pool.size - this.#pool.free;
  }

  /** Tasks whose command is on the wire (active or being aborted). */
  get inFlight(): number {
    let n = 0;
    for (const t of this.#pool.tasks) if (t.state === 'active' || t.state === 'aborting') n++;
    return n;
  }

  get queueDepth(): number {
    return this.#pool.size;
  }

  /** The window as the core sees it (for tests and stats). */
  get window(): { cmdSN: number; expCmdSN: number; maxCmdSN: number } {
    const w = this.#window;
    return { cmdSN: w.cmdSN, expCmdSN: w.expCmdSN, maxCmdSN: w.maxCmdSN };
  }

  get expStatSN(): number {
    return this.#expStatSN;
  }

  /** Negotiated output limits of the current connection, or null while detached. */
  get limits(): BurstLimits | null {
    return this.#limits;
  }

  snapshot(): CoreStats {
    return { ...this.stats, windowIgnored: this.#window.ignored, locks: this.locks.stats() };
  }

  /** Runs a command; resolves with its result (GOOD or CONDITION MET), rejects with a typed error. */
  submit(req: CommandRequest): Promise<CommandResult> {
    if (this.#closed) return Promise.reject(closedError());
    if (this.#failure !== null) return Promise.reject(this.#failure);
    const readLength = req.readLength ?? 0;
    const dataOut = req.dataOut ?? null;
    if (!Number.isInteger(readLength) || readLength < 0 || readLength > 0xffffffff) return Promise.reject(new RangeError(`readLength ${readLength} is not a length`));
    if (readLength > 0 && dataOut !== null && dataOut.length > 0) return Promise.reject(new RangeError('bidirectional commands are not supported'));
    if (req.into !== undefined && req.into.length < readLength) return Promise.reject(new RangeError(`into holds ${req.into.length} bytes, less than readLength ${readLength}`));
    if (req.cdb.length < 1 || req.cdb.length > 260) return Promise.reject(new RangeError(`a CDB of ${req.cdb.length} bytes`));
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
        attr: req.attr ?? 1,
        timeout,
        deadline: timeout > 0 ? this.#clock.now() + timeout : Infinity,
        signal,
        onAbort: null,
        uaRetries: req.unitAttentionRetries ?? this.#o.unitAttentionRetries,
        order: this.#order++,
        task: null,
        settled: false,
        resolve,
        reject,
      };
      if (req.handle !== undefined) req.handle.pending = p;
      if (signal !== null) {
        p.onAbort = () => this.#cancel(p, abortError(signal));
        signal.addEventListener('abort', p.onAbort, { once: true });
      }
      this.stats.submitted++;
      this.locks.forward(() => this.#enqueue(p));
    });
  }

  /** A PDU from the target (the transport calls this for each decoded PDU, in order). */
  receive(pdu: TargetPdu): void {
    if (this.#linkDown || this.#closed) return;
    this.#keepalive.heard(this.#clock.now());
    this.stats.pdusIn++;
    this.locks.backward(() => this.#handle(pdu));
    this.#afterBackward();
  }

  /** A new connection is logged in: numbering restarts from its login, queued commands go out. */
  attach(link: CoreLink, s: LinkState): void {
    if (this.#closed) return;
    this.locks.forward(() => {
      this.locks.backInsideForward(() => {
        this.#window.reset(s.expCmdSN, s.expCmdSN, s.maxCmdSN);
        this.#expStatSN = (s.statSN + 1) >>> 0;
        const limits = burstLimits(s.params);
        const capacity = Math.min(R2T_CAPACITY_MAX, this.#pool.size * limits.maxOutstandingR2T);
        if (this.#r2t === null || this.#r2t.capacity !== capacity) this.#r2t = new R2TTable(capacity);
        this.#limits = limits;
        this.#keepalive.reset(this.#clock.now());
        this.#linkError = null;
      });
      this.#link = link;
      this.#linkDown = false;
      this.#failure = null;
      this.#quiesced = false;
      this.#pump();
    });
  }

  /**
   * The connection is gone. Commands that were on it go back to the queue, first-submitted first, to be
   * sent again on the next connection (ErrorRecoveryLevel 0: the reinstated session knows nothing of them,
   * RFC 7143 §6.3.5). Commands being aborted are finished: their callers were answered already.
   */
  detach(reason: Error): void {
    if (this.#link === null && this.#linkDown) return;
    this.locks.forward(() => {
      const requeue: Task[] = [];
      this.locks.backInsideForward(() => {
        for (const t of this.#pool.tasks) {
          if (t.state === 'active') {
            t.resetProtocolState();
            t.state = 'queued';
            requeue.push(t);
          } else if (t.state === 'aborting') {
            this.#pool.put(t);
          }
        }
        for (const h of this.#handoff) {
          if (h.kind === 'retry' && h.task.state === 'queued' && h.task.itt === h.itt) requeue.push(h.task);
        }
        this.#handoff.length = 0;
        this.#r2tReady.length = 0;
        this.#r2t = null;
        this.#tmf.clear(reason);
        const lw = this.#logoutWaiter;
        this.#logoutWaiter = null;
        lw?.reject(reason);
      });
      this.stats.reissued += requeue.length;
      requeue.sort((a, b) => a.pending!.order - b.pending!.order);
      this.#txQueue = requeue.concat(this.#txQueue);
      this.#link = null;
      this.#linkDown = true;
    });
  }

  /** Fails every command waiting for a connection (replacement timeout); new ones fail at once until attach. */
  failPending(err: Error): void {
    this.locks.forward(() => {
      this.#failure = err;
      const queued = this.#txQueue;
      this.#txQueue = [];
      const waiters = this.#waiters;
      this.#waiters = [];
      this.locks.backInsideForward(() => {
        for (const t of queued) {
          const p = t.pending;
          this.#pool.put(t);
          if (p !== null) this.#reject(p, err);
        }
      });
      for (const p of waiters) this.#reject(p, err);
    });
  }

  /** Stops the timer and fails everything still pending. Idempotent. */
  close(err: Error = closedError()): void {
    if (this.#closed) return;
    if (this.#link !== null) this.detach(err);
    this.failPending(err);
    this.#closed = true;
    this.#timer?.cancel();
    this.#timer = null;
  }

  /** Holds new commands back (a logout is coming); `false` lets them go again. */
  quiesce(on: boolean): void {
    this.locks.forward(() => {
      this.#quiesced = on;
      if (!on) this.#pump();
    });
  }

  /**
   * Sends a Logout Request (close the session, RFC 7143 §11.14) and waits for the response. A logout
   * asked for while one is outstanding (close() during a target-requested logout) shares its answer:
   * a second request would take the only waiter slot and leave the first caller waiting for ever.
   */
  logout(timeoutMs: number, reason: number = LogoutReason.CloseSession): Promise<LogoutResponsePdu> {
    if (this.#logoutWaiter !== null && this.#logoutPromise !== null) return this.#logoutPromise;
    const p = this.#sendLogout(timeoutMs, reason);
    this.#logoutPromise = p;
    const clear = (): void => {
      if (this.#logoutPromise === p) this.#logoutPromise = null;
    };
    p.then(clear, clear);
    return p;
  }

  #logoutPromise: Promise<LogoutResponsePdu> | null = null;

  #sendLogout(timeoutMs: number, reason: number): Promise<LogoutResponsePdu> {
    return new Promise((resolve, reject) => {
      this.locks.forward(() => {
        const link = this.#link;
        if (link === null || this.#linkDown) return reject(new ConnectionError('ERR_NOT_CONNECTED', 'not connected'));
        const itt = this.#tags.next();
        const timer = this.#clock.setTimeout(() => {
          if (this.#logoutWaiter?.itt === itt) this.#logoutWaiter = null;
          reject(new TimeoutError(`no Logout Response within ${timeoutMs} ms`));
        }, timeoutMs);
        this.locks.backInsideForward(() => {
          this.#logoutWaiter = {
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
        link.send({ opcode: Opcode.LogoutRequest, immediate: true, reasonCode: reason, itt, cid: 0, cmdSN: this.#window.cmdSN, expStatSN: this.#expStatSN });
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
          this.#cancel(p, new AbortError('the command was aborted (abortTask)'), { timeoutMs: opts.timeoutMs, done: (a) => (a instanceof Error ? reject(a) : resolve(a)) });
        });
      }
    }
    return new Promise((resolve, reject) => {
      this.locks.forward(() => {
        if (this.#link === null || this.#linkDown) return reject(new ConnectionError('ERR_NOT_CONNECTED', 'not connected'));
        const t = opts.ref?.pending?.task ?? null;
        this.#sendTmf(fn, lun, t, this.#clock.now() + opts.timeoutMs, (a) => (a instanceof Error ? reject(a) : resolve(a)), opts.timeoutMs);
      });
    });
  }

  /** Runs the forward path now (the socket drained: commands held back may go). */
  kick(): void {
    this.locks.forward(this.#pump);
  }

  /** Sends a NOP-Out ping now (tests; the timer does it on its own). */
  ping(): void {
    this.locks.forward(() => this.#sendPing());
  }

  // =====================================================================================
  // Forward path (frwdLock held)

  #enqueue(p: Pending): void {
    if (p.settled) return;
    if (this.#waiters.length === 0) {
      const t = this.#pool.take();
      if (t !== undefined) {
        this.#bind(t, p);
        this.#queue(t);
        return;
      }
    }
    this.#waiters.push(p);
  }

  #bind(t: Task, p: Pending): void {
    t.pending = p;
    p.task = t;
  }

  #queue(t: Task): void {
    if (this.#txQueue.length === 0 && this.#canTransmit()) this.#transmit(t);
    else this.#txQueue.push(t);
  }

  #canTransmit(): boolean {
    const link = this.#link;
    return link !== null && !this.#linkDown && !this.#quiesced && this.#window.open && !link.congested;
  }

  #transmit(t: Task): void {
    const p = t.pending!;
    const link = this.#link!;
    const limits = this.#limits!;
    t.cmdSN = this.#window.take();
    t.state = 'active';
    const out = p.dataOut;
    let immediate = EMPTY;
    let unsolicited = 0;
    if (out !== null && out.length > 0) {
      const plan = unsolicitedPlan(out.length, limits);
      immediate = plan.immediate > 0 ? out.subarray(0, plan.immediate) : EMPTY;
      unsolicited = plan.total;
      t.unsolicited = plan.total;
      this.stats.bytesOut += out.length;
    }
    const expStatSN = this.#expStatSN;
    link.send({
      opcode: Opcode.ScsiCommand,
      immediate: false,
      // RFC 7143 §11.3.1: F is 0 only when unsolicited Data-Out PDUs follow.
      final: unsolicited <= immediate.length,
      read: p.readLength > 0,
      write: out !== null && out.length > 0,
      attr: p.attr,
      lun: p.lun,
      itt: t.itt,
      expectedDataTransferLength: out !== null ? out.length : p.readLength,
      cmdSN: t.cmdSN,
      expStatSN,
      cdb: p.cdb,
      data: immediate,
    });
    if (unsolicited > immediate.length) sendUnsolicited(t, out!, immediate.length, unsolicited, limits, expStatSN, link.send.bind(link));
  }

  /** Everything the forward path may have to do: handed-over work, queued commands, waiting submitters. */
  readonly #pump = (): void => {
    const link = this.#link;
    if (link !== null && !this.#linkDown && (this.#handoff.length > 0 || this.#r2tReady.length > 0)) this.#drainHandoff(link);
    while (this.#txQueue.length > 0 && this.#canTransmit()) this.#transmit(this.#txQueue.shift()!);
    while (this.#waiters.length > 0 && this.#pool.free > 0) {
      const p = this.#waiters.shift()!;
      if (p.settled) continue;
      this.#bind(this.#pool.take()!, p);
      this.#queue(p.task!);
    }
  };

  #drainHandoff(link: CoreLink): void {
    let items: Handoff[] = this.#handoffSpare;
    let bursts: R2TDescriptor[] = this.#r2tSpare;
    this.locks.backInsideForward(() => {
      items = this.#handoff;
      this.#handoff = this.#handoffSpare;
      this.#handoffSpare = items;
      bursts = this.#r2tReady;
      this.#r2tReady = this.#r2tSpare;
      this.#r2tSpare = bursts;
    });
    let retries: Task[] | undefined;
    for (const h of items) {
      switch (h.kind) {
        case 'nop-reply':
          // RFC 7143 §11.18: answer a target's ping with its TTT, ITT reserved, as an immediate PDU.
          link.send({ opcode: Opcode.NopOut, immediate: true, lun: h.lun, itt: RESERVED_TAG, ttt: h.ttt, cmdSN: this.#window.cmdSN, expStatSN: this.#expStatSN, data: EMPTY });
          break;
        case 'retry':
          // The ITT check: the slot was not finished and taken again meanwhile.
          if (h.task.state === 'queued' && h.task.itt === h.itt && h.task.pending !== null) (retries ??= []).push(h.task);
          break;
        case 'abort':
          if (h.task.state === 'aborting' && h.task.itt === h.itt && h.task.abortTag === 0) this.#sendAbort(h.task);
          break;
        case 'lun-reset':
          if (!this.#tmf.resetPending(h.lun)) this.#sendTmf(TmfFunction.LogicalUnitReset, h.lun, null, this.#clock.now() + this.#o.tmfTimeout, null);
          break;
      }
    }
    items.length = 0;
    if (retries !== undefined) {
      // Sent again before anything queued after them, in their first order.
      this.stats.reissued += retries.length;
      retries.sort((a, b) => a.pending!.order - b.pending!.order);
      this.#txQueue = retries.concat(this.#txQueue);
    }
    if (bursts.length === 0) return;
    const limits = this.#limits!;
    const send = link.send.bind(link);
    for (const d of bursts) {
      const t = d.owner as Task | null;
      if (t !== null && t.state === 'active' && t.itt === d.itt) sendBurst(t, d, t.pending!.dataOut!, limits, this.#expStatSN, send);
    }
    // Queue → pool once the burst is sent (seed 001: under queue2pool, on the response side's lock).
    this.locks.backInsideForward(() => {
      for (const d of bursts) {
        const t = d.owner as Task | null;
        if (t !== null && t.itt === d.itt && t.outstandingR2T > 0) t.outstandingR2T--;
        this.#r2t?.retire(d);
      }
    });
    bursts.length = 0;
  }

  #sendTmf(fn: number, lun: bigint, ref: Task | null, deadline: number, done: TmfEntry['done'], timeoutMs = this.#o.tmfTimeout): TmfEntry | undefined {
    const link = this.#link;
    if (link === null || this.#linkDown) {
      done?.(new ConnectionError('ERR_NOT_CONNECTED', 'not connected'));
      return undefined;
    }
    const { entry, pdu } = this.#tmf.request(fn, lun, ref === null ? null : { itt: ref.itt, cmdSN: ref.cmdSN }, this.#window.cmdSN, this.#expStatSN, deadline, done, timeoutMs);
    if (fn === TmfFunction.AbortTask) this.stats.aborts++;
    else if (fn === TmfFunction.LogicalUnitReset) this.stats.lunResets++;
    link.send(pdu);
    return entry;
  }

  #sendAbort(t: Task, done: TmfEntry['done'] = null, timeoutMs = this.#o.tmfTimeout): void {
    const e = this.#sendTmf(TmfFunction.AbortTask, t.pending?.lun ?? 0n, t, this.#clock.now() + timeoutMs, done, timeoutMs);
    if (e !== undefined) t.abortTag = e.itt;
  }

  #sendPing(): void {
    const link = this.#link;
    if (link === null || this.#linkDown) return;
    const itt = this.#tags.next();
    this.#keepalive.pinged(itt, this.#clock.now());
    this.stats.pings++;
    // RFC 7143 §11.18: a ping with a valid ITT asks for a NOP-In; immediate, so a closed window cannot hold it.
    link.send({ opcode: Opcode.NopOut, immediate: true, lun: 0n, itt, ttt: RESERVED_TAG, cmdSN: this.#window.cmdSN, expStatSN: this.#expStatSN, data: EMPTY });
  }

  /**
   * The caller gave up on `p` (AbortSignal, timeout, abortTask): answer it now, clean up behind. `abort`
   * hears the target's answer to the ABORT TASK this sends, if it sends one.
   */
  #cancel(p: Pending, error: Error | ((onTheWire: boolean) => Error), abort?: { timeoutMs: number; done: NonNullable<TmfEntry['done']> }): void {
    const errorFor = (onTheWire: boolean): Error => (typeof error === 'function' ? error(onTheWire) : error);
    // Whatever path is taken, an explicit abortTask hears how it ended.
    const answered = (response: number): void => abort?.done({ response, additionalResponseInformation: 0 });
    if (p.settled) return answered(TmfResponse.TaskDoesNotExist);
    this.locks.forward(() => {
      if (p.settled) return answered(TmfResponse.TaskDoesNotExist);
      const t = p.task;
      if (t === null) {
        const i = this.#waiters.indexOf(p);
        if (i >= 0) this.#waiters.splice(i, 1);
        this.#reject(p, errorFor(false));
        return answered(TmfResponse.FunctionComplete);
      }
      if (t.state === 'queued') {
        const i = this.#txQueue.indexOf(t);
        if (i >= 0) this.#txQueue.splice(i, 1);
        // Never sent (or not since the last reconnect): nothing to abort at the target.
        this.locks.backInsideForward(() => {
          this.#dropBursts(t);
          this.#pool.put(t);
        });
        this.#reject(p, errorFor(false));
        this.#pump();
        return answered(TmfResponse.FunctionComplete);
      }
      if (t.state === 'active') {
        this.locks.backInsideForward(() => {
          t.state = 'aborting';
          this.#dropBursts(t);
        });
        this.#reject(p, errorFor(true));
        // The slot stays out of the pool until the target confirms the abort (RFC 7143 §11.5.1).
        if (this.#link !== null && !this.#linkDown) this.#sendAbort(t, abort?.done ?? null, abort?.timeoutMs);
        // The connection is being replaced: the reinstated session will not have the task (RFC 7143 §6.3.5).
        else answered(TmfResponse.FunctionComplete);
        return;
      }
      answered(TmfResponse.TaskDoesNotExist);
    });
  }

  // =====================================================================================
  // Backward path (backLock held)

  #handle(pdu: TargetPdu): void {
    switch (pdu.opcode) {
      case Opcode.DataIn:
        return this.#onDataIn(pdu);
      case Opcode.ScsiResponse:
        return this.#onResponse(pdu);
      case Opcode.R2T:
        return this.#onR2T(pdu);
      case Opcode.NopIn:
        return this.#onNopIn(pdu);
      case Opcode.TaskManagementResponse:
        return this.#onTmfResponse(pdu);
      case Opcode.AsyncMessage:
        return this.#onAsync(pdu);
      case Opcode.Reject:
        return this.#onReject(pdu);
      case Opcode.LogoutResponse:
        return this.#onLogoutResponse(pdu);
      default:
        // Login and Text Responses have no place in a Normal session's Full Feature Phase here.
        return this.#violation(new IscsiProtocolError('ERR_UNEXPECTED_PDU', `unexpected ${pdu.opcode === Opcode.LoginResponse ? 'Login' : 'Text'} Response in Full Feature Phase`, { rule: 'RFC 7143 §6.3', action: 'drop' }));
    }
  }

  #sn(expCmdSN: number, maxCmdSN: number): void {
    this.#window.update(expCmdSN, maxCmdSN);
  }

  /** A PDU that carries status advances ExpStatSN (RFC 7143 §4.2.2.2). */
  #statSN(statSN: number): void {
    if (snLte(this.#expStatSN, statSN)) this.#expStatSN = (statSN + 1) >>> 0;
  }

  #lookup(itt: number, what: string): Task | undefined {
    const t = this.#pool.byItt(itt);
    if (t === undefined) {
      this.#violation(new IscsiProtocolError('ERR_UNKNOWN_ITT', `${what} for ITT 0x${itt.toString(16)}, which no command has`, { rule: 'RFC 7143 §11.2.1.8', action: 'drop' }));
      return undefined;
    }
    return t;
  }

  #onDataIn(pdu: DataInPdu): void {
    this.#sn(pdu.expCmdSN, pdu.maxCmdSN);
    const t = this.#lookup(pdu.itt, 'Data-In');
    if (t === undefined) return;
    if (t.state === 'aborting') return;
    if (t.state !== 'active') return this.#violation(new IscsiProtocolError('ERR_UNEXPECTED_PDU', `Data-In for ITT 0x${pdu.itt.toString(16)}, a command not sent`, { rule: 'RFC 7143 §11.7', action: 'drop' }));
    try {
      acceptDataIn(t, pdu);
    } catch (e) {
      return this.#taskViolation(t, e as Error);
    }
    this.stats.bytesIn += pdu.data.length;
    if (pdu.statusPresent) {
      this.#statSN(pdu.statSN);
      this.#complete(t, resultFromDataIn(t, pdu), 0);
    }
  }

  #onResponse(pdu: ScsiResponsePdu): void {
    this.#sn(pdu.expCmdSN, pdu.maxCmdSN);
    this.#statSN(pdu.statSN);
    const t = this.#lookup(pdu.itt, 'SCSI Response');
    if (t === undefined) return;
    if (t.state === 'aborting') return;
    if (t.state !== 'active') return this.#violation(new IscsiProtocolError('ERR_UNEXPECTED_PDU', `SCSI Response for ITT 0x${pdu.itt.toString(16)}, a command not sent`, { rule: 'RFC 7143 §11.4', action: 'drop' }));
    this.#complete(t, resultFromResponse(t, pdu), pdu.response);
  }

  #onR2T(pdu: R2TPdu): void {
    this.#sn(pdu.expCmdSN, pdu.maxCmdSN);
    const t = this.#lookup(pdu.itt, 'R2T');
    if (t === undefined) return;
    if (t.state === 'aborting') return;
    if (t.state !== 'active') return this.#violation(new IscsiProtocolError('ERR_UNEXPECTED_PDU', `R2T for ITT 0x${pdu.itt.toString(16)}, a command not sent`, { rule: 'RFC 7143 §11.8', action: 'drop' }));
    let d: R2TDescriptor;
    try {
      d = acceptR2T(t, pdu, this.#limits!, this.#r2t!);
    } catch (e) {
      return this.#taskViolation(t, e as Error);
    }
    // The burst is sent by the forward path, after backLock is released (seed 001).
    this.#r2tReady.push(d);
  }

  #onNopIn(pdu: NopInPdu): void {
    this.#sn(pdu.expCmdSN, pdu.maxCmdSN);
    if (pdu.itt !== RESERVED_TAG) {
      // An answer to our ping carries a StatSN of its own (RFC 7143 §11.19.1).
      this.#statSN(pdu.statSN);
      if (!this.#keepalive.answered(pdu.itt) && pdu.itt < 0x80000000) {
        return this.#violation(new IscsiProtocolError('ERR_UNKNOWN_ITT', `NOP-In for ITT 0x${pdu.itt.toString(16)}, which no ping had`, { rule: 'RFC 7143 §11.19', action: 'drop' }));
      }
    }
    if (pdu.ttt !== RESERVED_TAG) this.#handoff.push({ kind: 'nop-reply', ttt: pdu.ttt, lun: pdu.lun });
  }

  #onTmfResponse(pdu: TaskManagementResponsePdu): void {
    this.#sn(pdu.expCmdSN, pdu.maxCmdSN);
    this.#statSN(pdu.statSN);
    const e = this.#tmf.take(pdu.itt);
    if (e === undefined) {
      // A late answer to a TMF that expired and was escalated: nothing left to do.
      if (pdu.itt >= 0x80000000) return;
      return this.#violation(new IscsiProtocolError('ERR_UNKNOWN_ITT', `Task Management Response for ITT 0x${pdu.itt.toString(16)}, which no TMF had`, { rule: 'RFC 7143 §11.6', action: 'drop' }));
    }
    if (e.function === TmfFunction.AbortTask) {
      const t = this.#pool.byItt(e.referencedTaskTag);
      // RFC 7143 §11.6.1: "Function complete" or "Task does not exist": either way the task is over.
      if (pdu.response === TmfResponse.FunctionComplete || pdu.response === TmfResponse.TaskDoesNotExist) {
        if (t !== undefined && t.state === 'aborting') {
          this.#dropBursts(t);
          this.#pool.put(t);
        }
      } else if (t !== undefined && t.state === 'aborting') {
        // The target will not abort it: reset the LU instead.
        this.#handoff.push({ kind: 'lun-reset', lun: e.lun });
      }
    } else if (pdu.response === TmfResponse.FunctionComplete) {
      switch (e.function) {
        case TmfFunction.LogicalUnitReset:
          this.#afterTaskSetCleared(e.lun, e.cmdSN, null);
          break;
        case TmfFunction.TargetWarmReset:
        case TmfFunction.ItNexusReset:
          this.#afterTaskSetCleared(null, e.cmdSN, null);
          break;
        case TmfFunction.AbortTaskSet:
          this.#afterTaskSetCleared(e.lun, e.cmdSN, 'ABORT TASK SET');
          break;
        case TmfFunction.ClearTaskSet:
          this.#afterTaskSetCleared(e.lun, e.cmdSN, 'CLEAR TASK SET');
          break;
        default:
          break;
      }
    } else if (e.function === TmfFunction.LogicalUnitReset && e.done === null) {
      this.#violation(new ConnectionError('ERR_TMF_FAILED', `LOGICAL UNIT RESET answered ${pdu.response}: recovering the session`));
    }
    e.done?.({ response: pdu.response, additionalResponseInformation: pdu.additionalResponseInformation });
  }

  /**
   * A TMF answered "Function complete" ended, at the target, this session's tasks on `lun` (every LUN
   * when null) that it had received before the TMF: those with a CmdSN below the TMF's (SAM-5 §7;
   * commands sent after it were not touched). Tasks being aborted are finished; the others are sent
   * again after a reset (`abortedBy` null: they were collateral damage), or rejected with AbortError
   * after ABORT TASK SET / CLEAR TASK SET, which asked for exactly that.
   */
  #afterTaskSetCleared(lun: bigint | null, before: number, abortedBy: string | null): void {
    for (const t of this.#pool.tasks) {
      if (t.pending === null || (lun !== null && t.pending.lun !== lun)) continue;
      if ((t.state !== 'aborting' && t.state !== 'active') || !snLt(t.cmdSN, before)) continue;
      if (t.state === 'aborting') {
        this.#dropBursts(t);
        this.#pool.put(t);
      } else if (abortedBy !== null) {
        this.#finish(t, null, new AbortError(`the command was aborted by ${abortedBy}`));
      } else {
        this.#dropBursts(t);
        t.resetProtocolState();
        t.state = 'queued';
        this.#handoff.push({ kind: 'retry', task: t, itt: t.itt });
      }
    }
  }

  #onAsync(pdu: AsyncMessagePdu): void {
    this.#sn(pdu.expCmdSN, pdu.maxCmdSN);
    this.#statSN(pdu.statSN);
    const lun = lunFromField(pdu.lun);
    switch (pdu.asyncEvent) {
      case AsyncEvent.ScsiAsyncEvent: {
        let sense;
        try {
          sense = pdu.sense.length > 0 ? parseSense(pdu.sense) : undefined;
        } catch {
          sense = undefined;
        }
        if (sense !== undefined && sense.senseKey === SENSE_KEY.UNIT_ATTENTION) {
          this.#o.onEvent({ type: 'unit-attention', lun, senseKey: sense.senseKey, asc: sense.asc, ascq: sense.ascq, ascName: ascName(sense.asc, sense.ascq), sense: Buffer.from(pdu.sense) });
        } else {
          this.#o.onEvent({ type: 'scsi-async-event', lun, sense, raw: Buffer.from(pdu.sense) });
        }
        return;
      }
      case AsyncEvent.LogoutRequest:
        // RFC 7143 §11.9.1: log out within Parameter3 seconds.
        return this.#o.onEvent({ type: 'logout-requested', within: pdu.parameter3 * 1000, time2Wait: 0, time2Retain: 0 });
      case AsyncEvent.ConnectionDrop:
        return this.#o.onEvent({ type: 'connection-drop-requested', cid: pdu.parameter1, time2Wait: pdu.parameter2, time2Retain: pdu.parameter3 });
      case AsyncEvent.SessionDrop:
        return this.#o.onEvent({ type: 'session-drop-requested', time2Wait: pdu.parameter2, time2Retain: pdu.parameter3 });
      case AsyncEvent.Renegotiate:
        return this.#o.onEvent({ type: 'renegotiate-requested', within: pdu.parameter3 * 1000 });
      default:
        return this.#o.onEvent({ type: 'vendor-async-event', code: pdu.asyncVCode, data: Buffer.from(pdu.eventData) });
    }
  }

  #onReject(pdu: RejectPdu): void {
    this.#sn(pdu.expCmdSN, pdu.maxCmdSN);
    this.#statSN(pdu.statSN);
    if (pdu.data.length < 48) {
      return this.#violation(new IscsiProtocolError('ERR_REJECT_HEADER', `Reject carries ${pdu.data.length} bytes, not the rejected 48-byte header`, { rule: 'RFC 7143 §11.17', action: 'drop' }));
    }
    const opcode = pdu.data[0]! & 0x3f;
    const itt = pdu.data.readUInt32BE(16);
    this.#o.onEvent({ type: 'protocol-error', error: new CommandRejectedError(pdu.reason) });
    if (opcode === Opcode.ScsiCommand || opcode === Opcode.DataOut) {
      const t = this.#pool.byItt(itt);
      if (t !== undefined && t.state === 'active') {
        // RFC 7143 §11.17.1: a rejected command is over at the target.
        this.#finish(t, null, new CommandRejectedError(pdu.reason));
      } else if (t !== undefined && t.state === 'aborting') {
        this.#dropBursts(t);
        this.#pool.put(t);
      }
    } else if (opcode === Opcode.TaskManagementRequest) {
      const e = this.#tmf.take(itt);
      if (e !== undefined) {
        e.done?.(new CommandRejectedError(pdu.reason));
        if (e.function === TmfFunction.AbortTask) this.#handoff.push({ kind: 'lun-reset', lun: e.lun });
        else if (e.done === null) this.#violation(new ConnectionError('ERR_TMF_FAILED', 'LOGICAL UNIT RESET was rejected: recovering the session'));
      }
    } else if (opcode === Opcode.LogoutRequest && this.#logoutWaiter?.itt === itt) {
      const w = this.#logoutWaiter;
      this.#logoutWaiter = null;
      w.reject(new CommandRejectedError(pdu.reason));
    }
  }

  #onLogoutResponse(pdu: LogoutResponsePdu): void {
    this.#sn(pdu.expCmdSN, pdu.maxCmdSN);
    this.#statSN(pdu.statSN);
    const w = this.#logoutWaiter;
    if (w === null || w.itt !== pdu.itt) {
      return this.#violation(new IscsiProtocolError('ERR_UNKNOWN_ITT', `Logout Response for ITT 0x${pdu.itt.toString(16)}, which no logout had`, { rule: 'RFC 7143 §11.15', action: 'drop' }));
    }
    this.#logoutWaiter = null;
    w.resolve(pdu);
  }

  /** A command ended at the target: status, sense and residuals decide how its caller is answered. */
  #complete(t: Task, r: CommandResult | null, response: number): void {
    const p = t.pending!;
    if (r === null) return this.#finish(t, null, new TargetFailureError(response));
    const status = r.status;
    if (status === STATUS.GOOD || status === STATUS.CONDITION_MET) {
      const missing = checkReadComplete(t, r);
      if (missing !== undefined) return this.#finish(t, null, missing);
      return this.#finish(t, r, null);
    }
    if (status === STATUS.CHECK_CONDITION && r.sense.length > 0) {
      let key = -1;
      let asc = 0;
      let ascq = 0;
      try {
        const s = parseSense(r.sense);
        key = s.senseKey;
        asc = s.asc;
        ascq = s.ascq;
      } catch {
        // Unparseable sense: reported raw by scsiErrorFromStatus.
      }
      if (key === SENSE_KEY.UNIT_ATTENTION) {
        this.#o.onEvent({ type: 'unit-attention', lun: lunFromField(p.lun), senseKey: key, asc, ascq, ascName: ascName(asc, ascq), sense: Buffer.from(r.sense) });
        if (p.uaRetries > 0) {
          // The unit attention was for this I_T nexus, not about this command: send it again.
          p.uaRetries--;
          this.#dropBursts(t);
          t.resetProtocolState();
          t.state = 'queued';
          this.#handoff.push({ kind: 'retry', task: t, itt: t.itt });
          return;
        }
      }
    }
    this.#finish(t, null, scsiErrorFromStatus(status, Buffer.from(r.sense)));
  }

  /** Returns the task to the pool and answers its caller (exactly once: Pending.settled guards it). */
  #finish(t: Task, r: CommandResult | null, err: Error | null): void {
    const p = t.pending!;
    this.#dropBursts(t);
    this.#pool.put(t);
    if (err !== null) {
      this.stats.failed++;
      this.#reject(p, err);
    } else {
      this.stats.completed++;
      this.#resolve(p, r!);
    }
  }

  /** Retires a task's R2T descriptors (queue → pool, "task aborted" or done) and forgets unsent bursts. */
  #dropBursts(t: Task): void {
    if (t.outstandingR2T === 0 && this.#r2tReady.length === 0) return;
    if (this.#r2tReady.length > 0) {
      let j = 0;
      for (let i = 0; i < this.#r2tReady.length; i++) {
        const d = this.#r2tReady[i]!;
        if (d.itt !== t.itt) this.#r2tReady[j++] = d;
      }
      this.#r2tReady.length = j;
    }
    this.#r2t?.retireTask(t.itt);
    t.outstandingR2T = 0;
  }

  /** The target broke a rule on one command: fail it with the violation and abort it. */
  #taskViolation(t: Task, err: Error): void {
    const p = t.pending!;
    this.#o.onEvent({ type: 'protocol-error', error: err });
    t.state = 'aborting';
    this.#dropBursts(t);
    this.#reject(p, err);
    this.#handoff.push({ kind: 'abort', task: t, itt: t.itt });
  }

  /** The target broke a rule that no single command answers for: the connection goes. */
  #violation(err: Error): void {
    if (this.#linkError === null) this.#linkError = err;
    this.#linkDown = true;
  }

  #afterBackward(): void {
    const err = this.#linkError;
    if (err !== null) {
      this.#linkError = null;
      this.#o.onEvent({ type: 'protocol-error', error: err });
      this.#o.onLinkFailure(err);
      return;
    }
    // A hint read without frwdLock (Node runs one thread; the forward section checks again).
    if (this.#handoff.length > 0 || this.#r2tReady.length > 0 || (this.#txQueue.length > 0 && this.#window.open) || (this.#waiters.length > 0 && this.#pool.free > 0)) {
      this.locks.forward(this.#pump);
    }
  }

  // =====================================================================================
  // Answers, timers

  #resolve(p: Pending, r: CommandResult): void {
    if (p.settled) return;
    p.settled = true;
    p.task = null;
    if (p.onAbort !== null) p.signal!.removeEventListener('abort', p.onAbort);
    p.resolve(r);
  }

  #reject(p: Pending, err: Error): void {
    if (p.settled) return;
    p.settled = true;
    p.task = null;
    if (p.onAbort !== null) p.signal!.removeEventListener('abort', p.onAbort);
    p.reject(err);
  }

  readonly #tick = (): void => {
    if (this.#closed) return;
    this.#timer = this.#clock.setTimeout(this.#tick, this.#o.tickMs);
    const now = this.#clock.now();
    let expired: Pending[] | undefined;
    for (const t of this.#pool.tasks) {
      const p = t.pending;
      if (p !== null && !p.settled && p.deadline <= now) (expired ??= []).push(p);
    }
    for (const p of this.#waiters) if (!p.settled && p.deadline <= now) (expired ??= []).push(p);
    if (expired !== undefined) {
      for (const p of expired) {
        const what = `${opcodeName(p.cdb[0]!)} timed out after ${p.timeout} ms`;
        this.#cancel(p, (onTheWire) => new TimeoutError(onTheWire ? `${what} and was aborted (ABORT TASK sent to the target)` : `${what} before it was sent, and was dropped`));
      }
    }
    for (const e of this.#tmf.expired(now)) this.#escalate(e);
    if (this.#link !== null && !this.#linkDown) {
      const stalled = this.#txQueue.length > 0 && !this.#window.open;
      const action = this.#keepalive.tick(now, stalled, this.busy > 0);
      if (action === 'ping') this.locks.forward(() => this.#sendPing());
      else if (action === 'dead') {
        this.#linkDown = true;
        this.#o.onLinkFailure(new ConnectionError('ERR_NOP_TIMEOUT', `the target sent nothing for ${this.#o.keepalive.timeout} ms after a NOP-Out ping`));
      }
    }
  };

  /** An unanswered TMF: ABORT TASK escalates to LUN RESET, any other to connection recovery. */
  #escalate(e: TmfEntry): void {
    e.done?.(new TimeoutError(`no answer to the task management request within ${e.timeoutMs} ms`));
    if (e.function === TmfFunction.AbortTask) {
      this.locks.forward(() => {
        if (!this.#tmf.resetPending(e.lun)) this.#sendTmf(TmfFunction.LogicalUnitReset, e.lun, null, this.#clock.now() + this.#o.tmfTimeout, null);
      });
    } else if (this.#link !== null && !this.#linkDown) {
      this.#linkDown = true;
      this.#o.onLinkFailure(new ConnectionError('ERR_TMF_TIMEOUT', `the target did not answer a task management request within ${this.#o.tmfTimeout} ms`));
    }
  }

  #internalError(e: unknown): void {
    // A deferred section threw: a bug. Make it visible and recover the connection rather than hang.
    const err = e instanceof Error ? e : new Error(String(e));
    this.#o.onEvent({ type: 'protocol-error', error: err });
    if (this.#link !== null && !this.#linkDown) {
      this.#linkDown = true;
      this.#o.onLinkFailure(err);
    }
  }
}

function abortError(signal: AbortSignal): AbortError {
  const reason: unknown = signal.reason;
  if (reason instanceof AbortError) return reason;
  return new AbortError('the command was aborted', reason === undefined ? undefined : { cause: reason });
}
