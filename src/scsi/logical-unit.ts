// A logical unit (SAM-5, logical unit) over a block backend: dispatches each command through the command
// table after the SAM-5 checks (unit attention, CDB fields, reservations, medium), runs it in the task
// set (SAM-5, task attributes), turns failures into sense, and owns the state its handlers change
// (LuContext, handler.ts): unit attentions (unit-attention.ts), SPC-2 and persistent reservations
// (APTPL state in a sidecar beside the medium), held copy results, removable-medium state and mode
// parameters, with the resets and TMFs that change them.

import { ScsiError } from '../errors.js';
import type { BlockBackend } from '../backend/types.js';
import { MAX_LUN } from '../pdu/lun.js';
import type { AsymmetricAccess } from './alua-access.js';
import { ALUA_COMMANDS, aluaRefusal } from './alua.js';
import { abortError, isAbort } from './block-io.js';
import { capabilitiesOf, exponentOf, resolveLimits } from './capabilities.js';
import { buildCommandTable, F_MEDIUM, F_RESERVATION_EXEMPT, F_UA_EXEMPT, F_WRITE, listCommands } from './command.js';
import { ASC, SENSE_KEY, STATUS } from './constants.js';
import { CopyResults } from './copy-results.js';
import type {
  CommandDescriptor,
  CommandTable,
  LogicalUnitLimits,
  LuCapabilities,
  LuContext,
  LuHost,
  ModeState,
  NexusState,
  SupportedTmfs,
} from './handler.js';
import { luIdentity, type LuIdentity } from './inquiry.js';
import type { PersistentReservations } from './persistent-reservations.js';
import { RangeLock } from './range-lock.js';
import { LuMedium } from './lu-medium.js';
import { LuReservations } from './lu-reservations.js';
import type { ReservationChange, SharedEffects, SharedSnapshot } from './shared-state.js';
import { CheckConditionError, invalidFieldInCdb, senseData } from './sense.js';
import { DEFAULT_TMFS } from './spc.js';
import { OP_NAMES, STANDARD_COMMAND_TABLE, STANDARD_COMMANDS } from './standard-commands.js';
import { TaskSet } from './task-set.js';
import type { ItNexus, LogicalUnitHandle, ScsiCommand, ScsiResponse } from './types.js';
import { UnitAttentions } from './unit-attention.js';

import type { LogicalUnitOptions, LuResetKind, TaskManagementEvent } from './lu-options.js';

export type { LogicalUnitOptions, LuResetKind, TaskManagementEvent };

/**
 * One logical unit of a SCSI target device: the emulation the iSCSI transport hands commands to.
 * Commands run concurrently; READ and WRITE cost one Map lookup, a few comparisons and the backend
 * call beyond their data buffer.
 */
export class LogicalUnit implements LogicalUnitHandle, LuContext {
  /** The LUN this LU answers at. */
  readonly lun: number;
  /** The store of blocks; owned by the LU and closed by {@link remove}. */
  readonly backend: BlockBackend;
  /** Vendor, product, revision, serial number and NAA designator (INQUIRY, VPD 80h/83h). */
  readonly identity: LuIdentity;
  /** RMB: the medium can be ejected and loaded with START STOP UNIT. */
  readonly removable: boolean;
  /** LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT reported by READ CAPACITY(16). */
  readonly lbppbe: number;
  /** Transfer and range limits (Block Limits VPD page), enforced by the commands. */
  readonly limits: Readonly<LogicalUnitLimits>;
  /** Task management functions REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS reports. */
  readonly tmfs: SupportedTmfs;
  /** @internal Dispatch table, by operation code then service action. */
  readonly commands: CommandTable;
  /** @internal Every supported command, in the order REPORT SUPPORTED OPERATION CODES lists them. */
  readonly commandList: readonly CommandDescriptor[];
  /** Provisioning and optional-command facts derived from the command table and the backend. */
  readonly capabilities: LuCapabilities;
  /** Current mode parameters (SPC-4, mode parameters); changed by MODE SELECT, restored by resets. */
  readonly mode: ModeState;
  /** Default mode parameters: the PC=10b values, and what a reset returns to (SAM-5, logical unit reset). */
  readonly defaultMode: Readonly<ModeState>;
  /** LBA range locks for commands that read then write (COMPARE AND WRITE, SBC-3 COMPARE AND WRITE). */
  readonly rangeLock = new RangeLock();
  /** @internal The target device (or this LU itself) that knows the nexuses and the LUNs. */
  readonly host: LuHost;
  /** The I_T nexus holding the SPC-2 reservation (RESERVE(6)), by id; changed through {@link changeReservations}. */
  get reservationHolder(): string | null {
    return this.#res.spc2Holder;
  }
  /** Persistent reservations (SPC-4 §5.13); change them only through {@link changeReservations}. */
  get pr(): PersistentReservations {
    return this.#res.pr;
  }
  /** @internal EXTENDED COPY results held per I_T nexus for RECEIVE COPY RESULTS. */
  readonly copyResults = new CopyResults();
  /** Whether a removable medium is loaded (always true for a non-removable one); changed through START STOP UNIT. */
  mediumPresent = true;
  /** Asymmetric access (SPC-4 §5.15), or undefined: TPGS 0. */
  readonly alua: AsymmetricAccess | undefined;

  readonly #readOnly: boolean;
  /** The I_T nexuses seen and their unit attention conditions. */
  readonly #ua: UnitAttentions;
  readonly #tasks = new TaskSet();
  readonly #onInternalError: ((e: unknown, cmd: ScsiCommand | undefined) => void) | undefined;
  readonly #onSharedReset: ((code: number) => void) | undefined;
  /** Persistent and SPC-2 reservations, local or shared (lu-reservations.ts). */
  readonly #res: LuReservations;
  /** The medium, PREVENT and mode parameters, local or shared (lu-medium.ts). */
  readonly #medium: LuMedium;
  #removed = false;
  #removing: Promise<void> | null = null;

  constructor(opts: LogicalUnitOptions) {
    if (!Number.isInteger(opts.lun) || opts.lun < 0 || opts.lun > MAX_LUN) {
      throw new RangeError(`LUN ${opts.lun} is outside 0..${MAX_LUN} (SAM-5 §4.6, flat space addressing)`);
    }
    const backend = opts.backend;
    if (backend.blockSize <= 0 || backend.blocks <= 0) {
      throw new RangeError(`backend ${backend.kind} has no capacity (${backend.blocks} blocks of ${backend.blockSize} bytes)`);
    }
    this.lun = opts.lun;
    this.backend = backend;
    this.removable = opts.removable ?? backend.removable === true;
    this.#readOnly = opts.readOnly === true || backend.readOnly;
    this.lbppbe = opts.lbppbe ?? exponentOf(backend.physicalBlockSize, backend.blockSize);
    if (!Number.isInteger(this.lbppbe) || this.lbppbe < 0 || this.lbppbe > 15) {
      throw new RangeError(`LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT ${this.lbppbe} is outside 0..15 (SBC-3 READ CAPACITY(16))`);
    }
    this.identity = luIdentity(opts.lun, opts);
    this.limits = resolveLimits(opts.limits, backend.blockSize);
    this.tmfs = opts.tmfs ?? DEFAULT_TMFS;
    this.alua = opts.alua;
    const extra = [...(opts.alua !== undefined ? ALUA_COMMANDS : []), ...(opts.extraCommands ?? [])];
    this.commands = extra.length === 0 ? STANDARD_COMMAND_TABLE : buildCommandTable([...STANDARD_COMMANDS, ...extra], OP_NAMES);
    this.commandList = listCommands(this.commands);
    this.capabilities = capabilitiesOf(this.commands, backend);
    this.defaultMode = Object.freeze({ wce: opts.writeCache ?? true, dSense: opts.descriptorSense ?? false, swp: false });
    this.mode = { ...this.defaultMode };
    this.#onInternalError = opts.onInternalError;
    this.#onSharedReset = opts.onSharedReset;
    this.host = opts.host ?? this.#ownHost();
    this.#ua = new UnitAttentions(this.host);
    this.#res = new LuReservations({
      // A read-only medium keeps nothing beside it either: APTPL is then not offered.
      store: opts.shared !== undefined || opts.prStore === null ? undefined : (opts.prStore ?? (backend.readOnly ? undefined : backend.sidecar?.('pr'))),
      shared: opts.shared,
      establish: (id, code) => this.#ua.establishFor(id, code),
      establishAll: (code, except) => this.#ua.establish(code, except ?? undefined),
      abort: (ids) => this.host.abortTasks?.(this.lun, ids) ?? Promise.resolve(),
      onError: (e) => this.#onInternalError?.(e, undefined),
    });
    // APTPL (SPC-4 §5.13.5): what was persisted comes back before the first command. A document that
    // cannot be read is an error at start-up, not a silent loss of reservations.
    this.#res.load();
    this.#medium = new LuMedium({
      holder: this,
      removable: this.removable,
      defaults: this.defaultMode,
      commit: opts.shared === undefined ? undefined : (change) => this.#res.commitShared(change),
      establish: (code, except) => this.#ua.establish(code, except),
    });
  }

  /** Logical block size in bytes. */
  get blockSize(): number {
    return this.backend.blockSize;
  }

  /** Capacity in logical blocks (follows {@link resize}). */
  get blocks(): number {
    return this.backend.blocks;
  }

  /** The LU refuses writes whatever the mode pages say (option or read-only backend). */
  get readOnly(): boolean {
    return this.#readOnly;
  }

  /** Writes are refused: read-only, or software write protect (SWP) set in the control page. */
  get writeProtected(): boolean {
    return this.#readOnly || this.mode.swp;
  }

  /** APTPL can be honoured: the medium has a sidecar to keep persistent reservations in (PTPL_C). */
  get prPersistCapable(): boolean {
    return this.#res.persistCapable;
  }

  /** Some I_T nexus has prevented medium removal (SBC-3 PREVENT ALLOW MEDIUM REMOVAL). */
  get removalPrevented(): boolean {
    return this.#medium.removalPrevented;
  }

  /** Tasks admitted and not finished, plus those queued behind an ORDERED task. */
  get inFlight(): number {
    return this.#tasks.running + this.#tasks.queued;
  }

  /** Whether {@link remove} has been called. */
  get removed(): boolean {
    return this.#removed;
  }

  /**
   * Executes one command. Resolves with the SCSI status (and sense or Data-In); rejects only with
   * AbortError, when `cmd.signal` fires before the command completes.
   */
  execute(cmd: ScsiCommand): Promise<ScsiResponse> {
    if (cmd.signal.aborted) return Promise.reject(abortError(cmd.signal));
    const entry = this.commands[cmd.cdb[0]!];
    let d: CommandDescriptor | undefined;
    if (entry !== undefined) d = 'serviceActions' in entry ? entry.serviceActions[cmd.cdb[1]! & 0x1f] : entry;
    return this.#run(entry !== undefined, d, cmd);
  }

  async #run(known: boolean, d: CommandDescriptor | undefined, cmd: ScsiCommand): Promise<ScsiResponse> {
    const nexus = this.#ua.enter(cmd.nexus);
    let res: ScsiResponse;
    let admitted = false;
    try {
      const early = this.#precheck(known, d, cmd, nexus);
      if (early !== undefined) {
        res = early;
      } else {
        // #precheck returns a response whenever d is undefined.
        const desc = d as CommandDescriptor;
        if (!this.#tasks.tryEnter(cmd.taskAttribute)) await this.#tasks.wait(cmd.taskAttribute, cmd.signal);
        admitted = true;
        nexus.inflight++;
        res = await desc.handler(this, cmd, nexus);
        // SPC-4 §5.15.2.4: a write that ends after the port left the active states (a gateway fenced
        // while the backend wrote) is not reported done: the initiator retries it through another port.
        if (this.alua !== undefined && (desc.flags & F_WRITE) !== 0 && res.status === STATUS.GOOD) {
          const refused = aluaRefusal(this.alua.state(), desc.flags);
          if (refused !== 0) res = this.#check(SENSE_KEY.NOT_READY, refused);
        }
      }
    } catch (e) {
      if (cmd.signal.aborted || isAbort(e)) throw abortError(cmd.signal);
      res = this.#errorResponse(e, cmd);
    } finally {
      if (admitted) {
        this.#tasks.exit(cmd.taskAttribute);
        nexus.inflight--;
      }
    }
    if (cmd.signal.aborted) throw abortError(cmd.signal);
    if (d !== undefined && d.dataOut !== undefined && cmd.cdb.length >= d.cdbLength) {
      res.dataOutLength = d.dataOut(cmd.cdb, this.blockSize);
    }
    return res;
  }

  /** Checks in SAM-5 order: unit attention, command support, CDB fields, reservation, medium. */
  #precheck(known: boolean, d: CommandDescriptor | undefined, cmd: ScsiCommand, nexus: NexusState): ScsiResponse | undefined {
    if (this.#removed) return this.#check(SENSE_KEY.ILLEGAL_REQUEST, ASC.LOGICAL_UNIT_NOT_SUPPORTED);
    // SAM-5, unit attention conditions: every command but INQUIRY, REPORT LUNS and REQUEST SENSE reports (and so
    // clears) the oldest pending unit attention instead of running.
    if (nexus.ua.length !== 0 && (d === undefined || (d.flags & F_UA_EXEMPT) === 0)) {
      return this.#check(SENSE_KEY.UNIT_ATTENTION, this.#ua.take(nexus) as number);
    }
    if (d === undefined) {
      // SPC-4 §4.5, sense keys / libiscsi: an unknown service action of a known opcode is INVALID FIELD IN
      // CDB pointing at the SERVICE ACTION field (byte 1, bits 4..0).
      if (known) throw invalidFieldInCdb(1, 4);
      return this.#check(SENSE_KEY.ILLEGAL_REQUEST, ASC.INVALID_COMMAND_OPERATION_CODE);
    }
    const cdb = cmd.cdb;
    if (cdb.length < d.cdbLength) {
      // The transport delivered fewer CDB bytes than the operation code defines.
      return this.#check(SENSE_KEY.ILLEGAL_REQUEST, ASC.INVALID_FIELD_IN_CDB);
    }
    // Reserved bits and unsupported fields (SPC-4, reserved fields): any bit outside the CDB usage data.
    const usage = d.usage;
    for (let i = 1; i < d.cdbLength; i++) {
      const bad = cdb[i]! & ~usage[i]!;
      if (bad !== 0) throw invalidFieldInCdb(i, 31 - Math.clz32(bad));
    }
    // SPC-4 §5.15.2.4: outside the active states only the commands the state lists run; the others end
    // in NOT READY, LOGICAL UNIT NOT ACCESSIBLE with the state as the qualifier.
    if (this.alua !== undefined) {
      const refused = aluaRefusal(this.alua.state(), d.flags);
      if (refused !== 0) return this.#check(SENSE_KEY.NOT_READY, refused);
    }
    // SPC-2, reservations: a LU reserved by another I_T nexus refuses all but a few commands.
    if (this.reservationHolder !== null && this.reservationHolder !== nexus.id && (d.flags & F_RESERVATION_EXEMPT) === 0) {
      return { status: STATUS.RESERVATION_CONFLICT };
    }
    // SPC-4 §5.13.1: a persistent reservation held by another I_T nexus, by the command's class.
    if (this.pr.reservation !== null) {
      const access = typeof d.pr === 'function' ? d.pr(cdb) : d.pr;
      if (!this.pr.allows(nexus.id, access)) return { status: STATUS.RESERVATION_CONFLICT };
    }
    if ((d.flags & F_MEDIUM) !== 0 && !this.mediumPresent) {
      return this.#check(SENSE_KEY.NOT_READY, ASC.MEDIUM_NOT_PRESENT);
    }
    return undefined;
  }

  #check(key: number, ascAscq: number): ScsiResponse {
    return { status: STATUS.CHECK_CONDITION, sense: senseData(key, ascAscq, this.mode.dSense) };
  }

  #errorResponse(e: unknown, cmd: ScsiCommand): ScsiResponse {
    if (e instanceof CheckConditionError) return { status: STATUS.CHECK_CONDITION, sense: e.toSense(this.mode.dSense) };
    if (e instanceof ScsiError && e.status !== STATUS.CHECK_CONDITION) return { status: e.status };
    // Anything else is a bug or an unexpected failure: HARDWARE ERROR, INTERNAL TARGET FAILURE.
    this.#onInternalError?.(e, cmd);
    return this.#check(SENSE_KEY.HARDWARE_ERROR, ASC.INTERNAL_TARGET_FAILURE);
  }

  /** @internal Throws DATA PROTECT when writes are refused (SBC-3 write protection; SWP of the SPC-4 Control mode page). */
  checkWritable(): void {
    if (this.#readOnly) throw new CheckConditionError(SENSE_KEY.DATA_PROTECT, ASC.WRITE_PROTECTED);
    if (this.mode.swp) throw new CheckConditionError(SENSE_KEY.DATA_PROTECT, ASC.LU_SOFTWARE_WRITE_PROTECTED);
  }

  // -------------------------------------------------------------------------------------------
  // Unit attentions (unit-attention.ts) and PREVENT ALLOW MEDIUM REMOVAL per I_T nexus

  /**
   * Establishes a unit attention condition (`asc << 8 | ascq`, sense key UNIT ATTENTION) for every
   * live I_T nexus of the target except `exceptNexusId`.
   */
  establishUnitAttention(code: number, exceptNexusId?: string): void {
    this.#ua.establish(code, exceptNexusId);
  }

  /** Establishes a unit attention condition for one I_T nexus. */
  establishUnitAttentionFor(nexusId: string, code: number): void {
    this.#ua.establishFor(nexusId, code);
  }

  /** The pending unit attentions of a nexus, oldest first (`asc << 8 | ascq`). */
  pendingUnitAttentions(nexusId: string): readonly number[] {
    return this.#ua.pending(nexusId);
  }

  /**
   * @internal Removes and returns the oldest pending unit attention, as it is reported (CHECK
   * CONDITION or REQUEST SENSE); see {@link UnitAttentions.take} for REPORTED LUNS DATA HAS CHANGED.
   */
  takeUnitAttention(nexus: NexusState): number | undefined {
    return this.#ua.take(nexus);
  }

  /** @internal Drops pending conditions with this code for one nexus. */
  clearUnitAttention(nexusId: string, code: number): void {
    this.#ua.clear(nexusId, code);
  }

  /** @internal PREVENT ALLOW MEDIUM REMOVAL for one nexus; a promise when the LU is shared. */
  setPrevent(nexus: NexusState, prevent: boolean): Promise<void> | undefined {
    return this.#medium.setPrevent(nexus, prevent);
  }

  /** @internal START STOP UNIT LOEJ: loads or ejects a removable medium unless removal is prevented. */
  loadMedium(load: boolean): Promise<void> | undefined {
    return this.#medium.load(load);
  }

  /** @internal MODE SELECT: sets mode parameters; MODE PARAMETERS CHANGED for every other nexus when they changed. */
  changeMode(update: Partial<ModeState>, nexusId: string): Promise<void> | undefined {
    return this.#medium.changeMode(update, nexusId);
  }

  #ownHost(): LuHost {
    return {
      nexusIds: () => this.#ua.liveIds(),
      luns: () => [this.lun],
      noteNexus: () => {},
      reportedLuns: (id) => this.#ua.clear(id, ASC.REPORTED_LUNS_DATA_HAS_CHANGED),
      logicalUnits: () => [this],
    };
  }

  // -------------------------------------------------------------------------------------------
  // Persistent reservations

  /**
   * Applies one change of the reservations (`change` mutates the state it is given and returns its
   * effects), one at a time per LU, locally or through the shared state (see {@link LuReservations.change}).
   */
  changeReservations(change: ReservationChange): Promise<void> {
    return this.#res.change(change);
  }

  /**
   * Takes the shared state as its keeper has it (a cluster's watch): reservations, mode parameters,
   * the medium; then applies the effects of the change that produced it to this device server's own
   * I_T nexuses: their unit attentions, a reset made on another device server, and the abort of their
   * tasks (PREEMPT AND ABORT). Resolves once the aborted tasks have ended.
   */
  applySharedState(state: SharedSnapshot, effects: SharedEffects | null): Promise<void> {
    this.#medium.applyShared(state);
    const reset = effects?.reset;
    if (reset !== undefined) this.#hardReset(reset, false);
    const applied = this.#res.applyShared(state, effects);
    if (reset !== undefined) this.#onSharedReset?.(reset);
    return applied;
  }

  /**
   * What the loss of I_T nexus `nexus` changes in the state other device servers share (its SPC-2
   * reservation, its PREVENT): committed at once, the promise resolving once every device server
   * applied it (bounded, never rejecting). Undefined when the LU is not shared: then {@link nexusLost}
   * does it all. The transport calls this before it answers a logout, so that the initiator, once
   * told the nexus is gone, finds it gone through every port.
   */
  releaseNexus(nexus: ItNexus | string): Promise<void> | undefined {
    return this.#res.shared ? this.#res.releaseNexus(typeof nexus === 'string' ? nexus : nexus.id) : undefined;
  }

  /**
   * The I_T nexus is gone (logout, connection loss without recovery, session reinstatement): its
   * SPC-2 reservation and PREVENT are released and, when it comes back, its first command sees
   * I_T NEXUS LOSS OCCURRED (SAM-5, I_T nexus loss). The transport calls this; aborting the nexus's tasks
   * is done through their signals.
   */
  nexusLost(nexus: ItNexus | string): void {
    const id = typeof nexus === 'string' ? nexus : nexus.id;
    const st = this.#ua.state(id);
    void this.#res.releaseNexus(id);
    // Persistent reservations outlive the nexus (SPC-4 §5.13.1); held copy results do not.
    this.copyResults.discard(id);
    this.#medium.nexusLost(st);
    this.#ua.lose(st);
  }

  /**
   * A task management function (ARCHITECTURE.md, "Task management"): the transport calls this after
   * marking the affected tasks aborted and before waiting for them. The backend hears of it first
   * (`onTaskManagement`), then the LU applies the TMF's side effects through {@link reset}:
   * LOGICAL UNIT RESET, TARGET WARM/COLD RESET, I_T NEXUS RESET and CLEAR TASK SET have some; ABORT
   * TASK, ABORT TASK SET and CLEAR ACA only abort tasks, which their signals already do.
   */
  taskManagement(ev: TaskManagementEvent): void {
    this.backend.onTaskManagement?.({ type: ev.type, lun: this.lun, aborted: ev.aborted });
    switch (ev.type) {
      case 'logical-unit-reset':
      case 'target-warm-reset':
      case 'target-cold-reset':
        this.reset(ev.type);
        return;
      case 'i-t-nexus-reset':
        this.reset(ev.type, ev.nexus);
        return;
      case 'clear-task-set':
        this.reset(ev.type, ev.nexus, ev.abortedNexuses);
        return;
      case 'abort-task':
      case 'abort-task-set':
      case 'clear-aca':
        return;
    }
  }

  /**
   * Applies a reset (SAM-5, resets) or the unit attention side of a TMF:
   * - 'logical-unit-reset': BUS DEVICE RESET FUNCTION OCCURRED (29h/03h) to every nexus;
   * - 'target-warm-reset': a hard reset, POWER ON, RESET, OR BUS DEVICE RESET OCCURRED (29h/00h), the
   *   code SAM-5 gives a hard reset when the transport names no other (RFC 7143 names none);
   * - 'target-cold-reset': RFC 7143 §11.5.1 makes it a power on event: POWER ON OCCURRED (29h/01h), and
   *   persistent reservations survive only if APTPL kept them (SPC-4 §5.13.5: without it, registrations
   *   and the reservation do not outlive a power loss);
   * - all three release the SPC-2 reservation, PREVENT state and mode parameters to their defaults;
   * - 'i-t-nexus-reset': {@link nexusLost} for `nexus`;
   * - 'clear-task-set': COMMANDS CLEARED BY ANOTHER INITIATOR (2Fh/00h) to every other nexus that
   *   had tasks in the task set (SAM-5 §7, CLEAR TASK SET; the task set is shared, TST=000b): those in
   *   `cleared` when the transport says whose tasks it aborted (tasks still receiving Data-Out count),
   *   else those with tasks running here.
   * Aborting the affected tasks is the transport's job, through each task's AbortSignal.
   */
  reset(kind: LuResetKind, nexus?: ItNexus | string, cleared?: readonly string[]): void {
    const nexusId = typeof nexus === 'string' ? nexus : nexus?.id;
    switch (kind) {
      case 'logical-unit-reset':
        this.#hardReset(ASC.BUS_DEVICE_RESET_FUNCTION_OCCURRED, true);
        return;
      case 'target-warm-reset':
        this.#hardReset(ASC.POWER_ON_RESET_OR_BUS_DEVICE_RESET_OCCURRED, true);
        return;
      case 'target-cold-reset':
        this.#hardReset(ASC.POWER_ON_OCCURRED, true, true);
        return;
      case 'i-t-nexus-reset':
        if (nexusId === undefined) throw new TypeError('an I_T nexus reset needs the nexus');
        this.nexusLost(nexusId);
        return;
      case 'clear-task-set':
        this.#ua.commandsCleared(nexusId, cleared);
        return;
    }
  }

  /**
   * Resolves once the effects of the last reset or I_T nexus loss here reached every other device
   * server sharing the LU (immediately without one): the transport answers the task management
   * function after it.
   */
  settled(): Promise<void> {
    return this.#res.settled();
  }

  /**
   * `here`: the reset happened on this device server, and the others sharing the LU apply it too (a
   * reset from one of them arrives through {@link applySharedState}).
   */
  #hardReset(code: number, here: boolean, powerLoss = false): void {
    // SAM-5, logical unit reset: SPC-2 reservations released, mode parameters back to their defaults (nothing is
    // saved), and a unit attention for every I_T nexus that takes precedence over older ones.
    // Persistent reservations are not affected by a reset (SPC-4 §5.13.1), but by a power loss without APTPL.
    this.#res.reset(here ? code : undefined, powerLoss);
    this.copyResults.discard();
    this.#medium.reset(this.#ua.all());
    this.#ua.reset(code);
  }

  /**
   * Changes the capacity through the backend, then reports CAPACITY DATA HAS CHANGED (2Ah/09h,
   * SBC-3, capacity changes) to every nexus; READ CAPACITY and the block descriptor report the new size.
   * `unitAttention: false` leaves the unit attention out, for a transport that reports the change
   * another way (an iSCSI SCSI Asynchronous Event, see the target's `lunEvents`).
   */
  async resize(blocks: number, opts: { unitAttention?: boolean } = {}): Promise<void> {
    if (!Number.isSafeInteger(blocks) || blocks < 1 || !Number.isSafeInteger(blocks * this.blockSize)) {
      throw new RangeError(`cannot resize to ${blocks} blocks of ${this.blockSize} bytes`);
    }
    if (typeof this.backend.resize !== 'function') {
      throw new TypeError(`the ${this.backend.kind} backend cannot be resized`);
    }
    await this.backend.resize(blocks);
    if (opts.unitAttention !== false) this.#ua.establish(ASC.CAPACITY_DATA_HAS_CHANGED);
  }

  /**
   * Removes the LU in three steps, each done once whatever the number of calls:
   * 1. new commands are refused with LOGICAL UNIT NOT SUPPORTED, and the ones in flight (running or
   *    queued in the task set) run to completion: every response reaches the command that asked;
   * 2. the owner cleans up: the backend is closed, after which nothing calls it again;
   * 3. the LU's own state is reset and let go: unit attentions, nexus table, SPC-2 reservation, held
   *    copy results.
   * `onStep` hears of each step as it ends (events, tests). Resolves after step 3; a backend that
   * fails to close rejects it, with steps 1 and 3 done all the same.
   */
  remove(onStep?: (step: 'flushed' | 'cleaned-up' | 'reset') => void): Promise<void> {
    if (this.#removing === null) {
      this.#removed = true;
      this.#removing = (async () => {
        await this.#tasks.whenIdle();
        onStep?.('flushed');
        try {
          await this.backend.close();
          onStep?.('cleaned-up');
        } finally {
          this.#ua.forget();
          this.#res.dropSpc2();
          this.copyResults.discard();
          this.#medium.forget();
          onStep?.('reset');
        }
      })();
    }
    return this.#removing;
  }
}

