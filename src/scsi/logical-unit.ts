// A logical unit (SAM-5, logical unit) over a block backend: dispatches each command through the command
// table, keeps the per-I_T-nexus unit attention queues (SAM-5, unit attention conditions), the task set (SAM-5, task attributes),
// SPC-2 and persistent reservations (with APTPL state in a sidecar beside the medium), the copy
// manager's held results, removable-medium state and mode parameters, and turns failures into sense.

import { AbortError, ScsiError } from '../errors.js';
import type { BlockBackend, SidecarStore } from '../backend/types.js';
import {
  buildCommandTable,
  F_MEDIUM,
  F_RESERVATION_EXEMPT,
  F_UA_EXEMPT,
  listCommands,
  type CommandDescriptor,
  type CommandTable,
} from './command.js';
import { ASC, OP, SENSE_KEY, STATUS } from './constants.js';
import { COPY_COMMANDS, CopyResults } from './extended-copy.js';
import {
  DEFAULT_PRODUCT,
  DEFAULT_REVISION,
  DEFAULT_VENDOR,
  deriveNaa,
  deriveSerial,
  parseNaa,
  type LuIdentity,
} from './inquiry.js';
import type { ModeState } from './mode.js';
import { PersistentReservations, type PrEffects } from './persistent-reservations.js';
import { PROVISIONING_COMMANDS } from './provisioning.js';
import { RangeLock } from './range-lock.js';
import { RESERVATION_COMMANDS } from './reservations.js';
import { ATOMIC_COMMANDS } from './sbc-atomic.js';
import { SBC_COMMANDS } from './sbc.js';
import { buildSense, CheckConditionError, invalidFieldInCdb } from './sense.js';
import { DEFAULT_TMFS, SPC_COMMANDS, type SupportedTmfs } from './spc.js';
import { TaskSet } from './task-set.js';
import type { ItNexus, LogicalUnitHandle, ScsiCommand, ScsiResponse, TmfType } from './types.js';

/** What a logical unit keeps per I_T nexus. */
export interface NexusState {
  /** The nexus key, {@link ItNexus.id}. */
  readonly id: string;
  /** Pending unit attention conditions, oldest first, each `asc << 8 | ascq`. */
  readonly ua: number[];
  /** PREVENT ALLOW MEDIUM REMOVAL state of this nexus (SBC-3 PREVENT ALLOW MEDIUM REMOVAL). */
  prevent: boolean;
  /** Tasks of this nexus admitted to the task set and not finished. */
  inflight: number;
  /** The nexus was lost (logout, connection drop, reset) and has not come back. */
  lost: boolean;
}

/**
 * What a logical unit needs from the SCSI target device that owns it: the I_T nexuses a broadcast
 * unit attention must reach and the LUN inventory. A standalone LU is its own host.
 */
export interface LuHost {
  /** Ids of every live I_T nexus of the target (SAM-5, unit attention conditions: UAs go to "every I_T nexus"). */
  nexusIds(): Iterable<string>;
  /** LUNs for REPORT LUNS. */
  luns(): number[];
  /** An I_T nexus was seen (again) by a logical unit. */
  noteNexus(nexus: ItNexus): void;
  /** REPORT LUNS ran on `nexusId`: clear its REPORTED LUNS DATA HAS CHANGED conditions. */
  reportedLuns(nexusId: string): void;
  /** The logical units of the target (EXTENDED COPY finds its source and destination among them). */
  logicalUnits(): Iterable<LogicalUnit>;
  /**
   * Aborts every task of these I_T nexuses on LUN `lun` as ABORT TASK SET from each would (PREEMPT
   * AND ABORT, SPC-4 §5.13.11.2.5); resolves once they have ended. Absent: nobody can abort them.
   */
  abortTasks?(lun: number, nexusIds: readonly string[]): Promise<void>;
}

/** Size limits reported in the Block Limits VPD page (SBC-3 §6.5, Block Limits VPD page) and enforced. */
export interface LogicalUnitLimits {
  /** MAXIMUM TRANSFER LENGTH in blocks for READ, WRITE, VERIFY with BYTCHK=1. */
  maxTransferLength: number;
  /** OPTIMAL TRANSFER LENGTH in blocks. */
  optimalTransferLength: number;
  /** Nominal cache for PRE-FETCH: CONDITION MET up to this many blocks, GOOD beyond. */
  prefetchBlocks: number;
  /** Blocks read per step of a long VERIFY before yielding to the event loop. */
  verifyChunkBlocks: number;
  /** MAXIMUM COMPARE AND WRITE LENGTH, reported once COMPARE AND WRITE is in the command table. */
  maxCompareAndWriteLength: number;
  /** MAXIMUM UNMAP LBA COUNT, reported once UNMAP is in the command table. */
  maxUnmapLbaCount: number;
  /** MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT, likewise. */
  maxUnmapBlockDescriptorCount: number;
  /** MAXIMUM WRITE SAME LENGTH, reported once WRITE SAME is in the command table. */
  maxWriteSameLength: number;
  /** MAXIMUM ATOMIC TRANSFER LENGTH of WRITE ATOMIC(16), at most maxTransferLength. */
  maxAtomicTransferLength: number;
}

/** What the LU can do, derived from its command table and its backend: VPD B0h/B2h tell this truth. */
export interface LuCapabilities {
  readonly unmap: boolean;
  readonly writeSame: boolean;
  readonly writeSameUnmap10: boolean;
  readonly writeSameUnmap16: boolean;
  readonly compareAndWrite: boolean;
  /** LBPME (SBC-3 READ CAPACITY(16)): logical block provisioning management is implemented. */
  readonly lbpme: boolean;
  /** LBPRZ: deallocated blocks read back as zeros (unless the backend says `unmapReadsZeros: false`). */
  readonly lbprz: boolean;
  /** ANC_SUP: UNMAP and WRITE SAME can anchor blocks (mapped, zeroed) as well as deallocate them. */
  readonly anchor: boolean;
  /** WRITE ATOMIC(16) is in the command table: the atomic fields of VPD B0h are reported. */
  readonly writeAtomic: boolean;
  /** EXTENDED COPY is in the command table: 3PC in INQUIRY, VPD 8Fh. */
  readonly thirdPartyCopy: boolean;
}

/** Options of {@link LogicalUnit}. */
export interface LogicalUnitOptions {
  /** The LUN, 0..16383 (single-level peripheral or flat addressing, SAM-5 §4.6). */
  lun: number;
  /** The store of blocks. The LU owns it: {@link LogicalUnit.remove} closes it. */
  backend: BlockBackend;
  /** iSCSI target name: with the LUN it seeds the derived NAA designator and serial number. */
  targetName?: string;
  vendor?: string;
  product?: string;
  revision?: string;
  /** Unit serial number (VPD 80h); derived from the target name and LUN when absent. */
  serial?: string;
  /** Explicit NAA designator as hex (32 digits for NAA 6); derived when absent. */
  naa?: string;
  /** IEEE company ID for the derived NAA 6 designator. */
  ieeeCompanyId?: number;
  /** Refuse every write path with DATA PROTECT even if the backend could write. */
  readOnly?: boolean;
  /** RMB=1: the medium can be ejected with START STOP UNIT LOEJ=1. */
  removable?: boolean;
  /** Default (and initial) WCE of the caching mode page; true unless set. */
  writeCache?: boolean;
  /** Default (and initial) D_SENSE of the control mode page; false unless set. */
  descriptorSense?: boolean;
  /** LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT (READ CAPACITY(16)), 0..15. */
  lbppbe?: number;
  limits?: Partial<LogicalUnitLimits>;
  /** Task management functions reported by REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS. */
  tmfs?: SupportedTmfs;
  /** Commands beyond the standard SPC/SBC set (vendor specific ones). */
  extraCommands?: readonly CommandDescriptor[];
  /**
   * Where persistent reservations with APTPL are kept (SPC-4 §5.13.5); by default the backend's
   * sidecar 'pr' (`PATH.pr.json` beside a file). null: APTPL is not offered (PTPL_C=0).
   */
  prStore?: SidecarStore | null;
  /** Told about unexpected (non-SCSI) errors that ended a command in HARDWARE ERROR. */
  onInternalError?: (e: unknown, cmd: ScsiCommand) => void;
  /** @internal The SCSI target device that owns this LU. */
  host?: LuHost;
}

/** A task management function as the transport reports it to a logical unit (SAM-5 §7). */
export interface TaskManagementEvent {
  type: TmfType;
  /** The I_T nexus the TMF arrived on. */
  nexus: ItNexus;
  /** Initiator task tags of this LU's tasks the transport aborted (their AbortSignals fire). */
  aborted: readonly number[];
  /**
   * The I_T nexuses (ids) whose tasks on this LU were aborted, the issuing one included. CLEAR TASK SET
   * tells the others with COMMANDS CLEARED BY ANOTHER INITIATOR; absent, the LU counts its own tasks.
   */
  abortedNexuses?: readonly string[];
}

/** The resets and TMF side effects a logical unit applies (SAM-5 resets and §7). */
export type LuResetKind = 'logical-unit-reset' | 'target-warm-reset' | 'target-cold-reset' | 'i-t-nexus-reset' | 'clear-task-set';

/** At most this many unit attentions wait per nexus; SAM-5 lets a device server drop more. */
const UA_QUEUE_MAX = 16;
/** Lost nexuses whose I_T NEXUS LOSS OCCURRED condition is kept for their return. */
const LOST_NEXUS_MAX = 1024;

const OP_NAMES = new Map<number, string>([
  [OP.SERVICE_ACTION_IN_16, 'SERVICE ACTION IN(16)'],
  [OP.MAINTENANCE_IN, 'MAINTENANCE IN'],
  [OP.PERSISTENT_RESERVE_IN, 'PERSISTENT RESERVE IN'],
  [OP.PERSISTENT_RESERVE_OUT, 'PERSISTENT RESERVE OUT'],
  [OP.EXTENDED_COPY, 'EXTENDED COPY'],
  [OP.RECEIVE_COPY_RESULTS, 'RECEIVE COPY RESULTS'],
]);

/** Every standard command: SPC-4 primary and reservation commands, SBC-3 block and provisioning commands, the copy manager. */
const STANDARD_COMMANDS: readonly CommandDescriptor[] = [
  ...SPC_COMMANDS,
  ...RESERVATION_COMMANDS,
  ...SBC_COMMANDS,
  ...PROVISIONING_COMMANDS,
  ...ATOMIC_COMMANDS,
  ...COPY_COMMANDS,
];

/** The standard command table (SPC-4 + SBC-3) shared by every LU that adds nothing to it. */
export const STANDARD_COMMAND_TABLE: CommandTable = buildCommandTable(STANDARD_COMMANDS, OP_NAMES);

/** LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT for a backend's physical block size (0 when it gives none). */
function exponentOf(physical: number | undefined, logical: number): number {
  if (physical === undefined || physical <= logical || physical % logical !== 0) return 0;
  const e = Math.log2(physical / logical);
  return Number.isInteger(e) && e <= 15 ? e : 0;
}

function abortError(signal: AbortSignal): AbortError {
  return new AbortError('SCSI command aborted', { cause: signal.reason });
}

function isAbort(e: unknown): boolean {
  return e instanceof Error && e.name === 'AbortError';
}

function has(table: CommandTable, opcode: number, sa?: number): boolean {
  const e = table[opcode];
  if (e === undefined) return false;
  if ('serviceActions' in e) return sa !== undefined && e.serviceActions[sa] !== undefined;
  return true;
}

/**
 * One logical unit of a SCSI target device: the emulation the iSCSI transport hands commands to.
 * Commands run concurrently; READ and WRITE cost one Map lookup, a few comparisons and the backend
 * call beyond their data buffer.
 */
export class LogicalUnit implements LogicalUnitHandle {
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
  /** @internal The I_T nexus holding the SPC-2 reservation (RESERVE(6)), by id. */
  reservationHolder: string | null = null;
  /** Persistent reservations (SPC-4 §5.13); change them only through {@link changePersistentReservations}. */
  readonly pr = new PersistentReservations();
  /** @internal EXTENDED COPY results held per I_T nexus for RECEIVE COPY RESULTS. */
  readonly copyResults = new CopyResults();
  /** Whether a removable medium is loaded (always true for a non-removable one). */
  mediumPresent = true;

  readonly #readOnly: boolean;
  readonly #nexuses = new Map<string, NexusState>();
  readonly #lost: string[] = [];
  readonly #tasks = new TaskSet();
  readonly #onInternalError: ((e: unknown, cmd: ScsiCommand) => void) | undefined;
  readonly #prStore: SidecarStore | undefined;
  /** PERSISTENT RESERVE OUT commands run one at a time: each may await its APTPL save. */
  #prChain: Promise<void> = Promise.resolve();
  #preventCount = 0;
  #removed = false;
  #removing: Promise<void> | null = null;

  constructor(opts: LogicalUnitOptions) {
    if (!Number.isInteger(opts.lun) || opts.lun < 0 || opts.lun > 0x3fff) {
      throw new RangeError(`LUN ${opts.lun} is outside 0..16383 (SAM-5 §4.6, flat space addressing flat space addressing)`);
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
    const targetName = opts.targetName ?? 'iqn.2024-01.io.tsiscsi:target';
    this.identity = {
      vendor: opts.vendor ?? DEFAULT_VENDOR,
      product: opts.product ?? DEFAULT_PRODUCT,
      revision: opts.revision ?? DEFAULT_REVISION,
      serial: opts.serial ?? deriveSerial(targetName, opts.lun),
      naa: opts.naa !== undefined ? parseNaa(opts.naa) : deriveNaa(targetName, opts.lun, opts.ieeeCompanyId),
    };
    const bs = backend.blockSize;
    const given = Object.fromEntries(Object.entries(opts.limits ?? {}).filter(([, v]) => v !== undefined)) as Partial<LogicalUnitLimits>;
    // Defaults in bytes, whatever the block size: 8 MiB per transfer, 1 MiB optimal and per verify step.
    const maxTransferLength = given.maxTransferLength ?? Math.max(1, Math.floor((8 << 20) / bs));
    this.limits = {
      maxTransferLength,
      optimalTransferLength: Math.min(maxTransferLength, Math.max(1, Math.floor((1 << 20) / bs))),
      prefetchBlocks: maxTransferLength,
      verifyChunkBlocks: Math.max(1, Math.floor((1 << 20) / bs)),
      maxCompareAndWriteLength: 1,
      maxUnmapLbaCount: Math.max(1, Math.floor((64 << 20) / bs)),
      maxUnmapBlockDescriptorCount: 256,
      // 32 MiB, and below 65536 blocks: a WRITE SAME that long needs no 4-byte NUMBER OF BLOCKS.
      maxWriteSameLength: Math.max(1, Math.min(0xffff, Math.floor((32 << 20) / bs))),
      maxAtomicTransferLength: Math.min(maxTransferLength, Math.max(1, Math.floor((1 << 20) / bs))),
      ...given,
    };
    for (const [k, v] of Object.entries(this.limits)) {
      if (!Number.isSafeInteger(v) || v < 1 || v > 0xffffffff) throw new RangeError(`limit ${k}=${v} is not an integer in 1..2^32-1`);
    }
    if (this.limits.maxAtomicTransferLength > this.limits.maxTransferLength) {
      throw new RangeError('maxAtomicTransferLength exceeds maxTransferLength (SBC-4 Block Limits VPD page)');
    }
    if (this.limits.maxCompareAndWriteLength > 0xff) {
      throw new RangeError('maxCompareAndWriteLength exceeds 255, the NUMBER OF LOGICAL BLOCKS field (SBC-3 §5.2)');
    }
    this.tmfs = opts.tmfs ?? DEFAULT_TMFS;
    this.commands =
      opts.extraCommands === undefined || opts.extraCommands.length === 0
        ? STANDARD_COMMAND_TABLE
        : buildCommandTable([...STANDARD_COMMANDS, ...opts.extraCommands], OP_NAMES);
    this.commandList = listCommands(this.commands);
    const canUnmap = typeof backend.unmap === 'function';
    const unmap = canUnmap && has(this.commands, OP.UNMAP);
    const ws16 = has(this.commands, OP.WRITE_SAME_16);
    const ws10 = has(this.commands, OP.WRITE_SAME_10);
    const lbpme = unmap || (canUnmap && (ws16 || ws10));
    this.capabilities = {
      unmap,
      writeSame: ws16 || ws10,
      writeSameUnmap16: canUnmap && ws16,
      writeSameUnmap10: canUnmap && ws10,
      compareAndWrite: has(this.commands, OP.COMPARE_AND_WRITE),
      lbpme,
      // A backend whose deallocation does not promise zeros (NBD TRIM) reports LBPRZ 0 (SBC-3 §4.7.3.4).
      lbprz: lbpme && backend.unmapReadsZeros !== false,
      anchor: lbpme,
      writeAtomic: has(this.commands, OP.WRITE_ATOMIC_16),
      thirdPartyCopy: has(this.commands, OP.EXTENDED_COPY, 0x00),
    };
    this.defaultMode = Object.freeze({ wce: opts.writeCache ?? true, dSense: opts.descriptorSense ?? false, swp: false });
    this.mode = { ...this.defaultMode };
    this.#onInternalError = opts.onInternalError;
    this.host = opts.host ?? this.#ownHost();
    // A read-only medium keeps nothing beside it either: APTPL is then not offered.
    this.#prStore = opts.prStore === null ? undefined : (opts.prStore ?? (backend.readOnly ? undefined : backend.sidecar?.('pr')));
    // APTPL (SPC-4 §5.13.5): what was persisted comes back before the first command. A document that
    // cannot be read is an error at start-up, not a silent loss of reservations.
    const saved = this.#prStore?.load();
    if (saved !== null && saved !== undefined) this.pr.restore(saved);
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
    return this.#prStore !== undefined;
  }

  /** Some I_T nexus has prevented medium removal (SBC-3 PREVENT ALLOW MEDIUM REMOVAL). */
  get removalPrevented(): boolean {
    return this.#preventCount !== 0;
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
    const nexus = this.#nexusState(cmd.nexus);
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
      return this.#check(SENSE_KEY.UNIT_ATTENTION, this.takeUnitAttention(nexus) as number);
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
    return {
      status: STATUS.CHECK_CONDITION,
      sense: buildSense({ key, asc: ascAscq >> 8, ascq: ascAscq & 0xff }, this.mode.dSense),
    };
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
  // I_T nexus state and unit attentions

  #nexusState(nexus: ItNexus): NexusState {
    let st = this.#nexuses.get(nexus.id);
    if (st === undefined) {
      st = this.#stateById(nexus.id);
      this.host.noteNexus(nexus);
    } else if (st.lost) {
      st.lost = false;
      const i = this.#lost.indexOf(st.id);
      if (i >= 0) this.#lost.splice(i, 1);
      this.host.noteNexus(nexus);
    }
    return st;
  }

  #stateById(id: string): NexusState {
    let st = this.#nexuses.get(id);
    if (st === undefined) {
      st = { id, ua: [], prevent: false, inflight: 0, lost: false };
      this.#nexuses.set(id, st);
    }
    return st;
  }

  #queue(st: NexusState, code: number): void {
    if (st.lost || st.ua.includes(code) || st.ua.length >= UA_QUEUE_MAX) return;
    st.ua.push(code);
  }

  /**
   * Establishes a unit attention condition (`asc << 8 | ascq`, sense key UNIT ATTENTION) for every
   * live I_T nexus of the target except `exceptNexusId`.
   */
  establishUnitAttention(code: number, exceptNexusId?: string): void {
    for (const id of this.host.nexusIds()) {
      if (id !== exceptNexusId) this.#queue(this.#stateById(id), code);
    }
  }

  /** Establishes a unit attention condition for one I_T nexus. */
  establishUnitAttentionFor(nexusId: string, code: number): void {
    this.#queue(this.#stateById(nexusId), code);
  }

  /** The pending unit attentions of a nexus, oldest first (`asc << 8 | ascq`). */
  pendingUnitAttentions(nexusId: string): readonly number[] {
    return this.#nexuses.get(nexusId)?.ua ?? [];
  }

  /**
   * @internal Removes and returns the oldest pending unit attention, as it is reported (CHECK
   * CONDITION or REQUEST SENSE). REPORTED LUNS DATA HAS CHANGED is a condition of the target device,
   * not of one LU: once reported through any LU over an I_T nexus it is cleared on every LU for that
   * nexus (SAM-5 unit attention conditions; SPC-4 Extended INQUIRY Data VPD page, LUICLR "shall be set
   * to one"), so an initiator sees it once per inventory change, not once per LU it talks to.
   */
  takeUnitAttention(nexus: NexusState): number | undefined {
    const ua = nexus.ua.shift();
    if (ua === ASC.REPORTED_LUNS_DATA_HAS_CHANGED) this.host.reportedLuns(nexus.id);
    return ua;
  }

  /** @internal Drops pending conditions with this code for one nexus. */
  clearUnitAttention(nexusId: string, code: number): void {
    const st = this.#nexuses.get(nexusId);
    if (st === undefined) return;
    for (let i = st.ua.indexOf(code); i >= 0; i = st.ua.indexOf(code)) st.ua.splice(i, 1);
  }

  /** @internal PREVENT ALLOW MEDIUM REMOVAL for one nexus. */
  setPrevent(nexus: NexusState, prevent: boolean): void {
    if (nexus.prevent === prevent) return;
    nexus.prevent = prevent;
    this.#preventCount += prevent ? 1 : -1;
  }

  /** Live nexus ids of a standalone LU. */
  *#liveNexusIds(): Iterable<string> {
    for (const st of this.#nexuses.values()) if (!st.lost) yield st.id;
  }

  #ownHost(): LuHost {
    return {
      nexusIds: () => this.#liveNexusIds(),
      luns: () => [this.lun],
      noteNexus: () => {},
      reportedLuns: (id) => this.clearUnitAttention(id, ASC.REPORTED_LUNS_DATA_HAS_CHANGED),
      logicalUnits: () => [this],
    };
  }

  // -------------------------------------------------------------------------------------------
  // Persistent reservations

  /**
   * Applies one PERSISTENT RESERVE OUT service action (`change` mutates {@link pr} and returns its
   * effects), one at a time per LU: persists the new state when APTPL asks for it (undoing the
   * change and failing the command if that fails), then establishes the unit attentions, then
   * aborts the tasks of preempted nexuses (PREEMPT AND ABORT) through the host.
   */
  changePersistentReservations(change: () => PrEffects): Promise<void> {
    const run = this.#prChain.then(async () => {
      const before = this.pr.clone();
      const fx = change();
      if (fx.changed && this.#prStore !== undefined && (this.pr.aptpl || before.aptpl)) {
        try {
          // APTPL set: the state survives a power loss. Cleared: nothing may come back after one.
          if (this.pr.aptpl) await this.#prStore.save(this.pr.snapshot());
          else await this.#prStore.remove();
        } catch (e) {
          this.pr.assign(before);
          throw new CheckConditionError(SENSE_KEY.HARDWARE_ERROR, ASC.INSUFFICIENT_REGISTRATION_RESOURCES, {
            message: `cannot persist reservations in ${this.#prStore.location}: ${e instanceof Error ? e.message : String(e)}`,
          });
        }
      }
      for (const [id, code] of fx.ua) this.establishUnitAttentionFor(id, code);
      if (fx.abort.length !== 0) await this.host.abortTasks?.(this.lun, fx.abort);
    });
    this.#prChain = run.catch(() => {});
    return run;
  }

  /**
   * The I_T nexus is gone (logout, connection loss without recovery, session reinstatement): its
   * SPC-2 reservation and PREVENT are released and, when it comes back, its first command sees
   * I_T NEXUS LOSS OCCURRED (SAM-5, I_T nexus loss). The transport calls this; aborting the nexus's tasks
   * is done through their signals.
   */
  nexusLost(nexus: ItNexus | string): void {
    const id = typeof nexus === 'string' ? nexus : nexus.id;
    const st = this.#stateById(id);
    if (this.reservationHolder === id) this.reservationHolder = null;
    // Persistent reservations outlive the nexus (SPC-4 §5.13.1); held copy results do not.
    this.copyResults.discard(id);
    this.setPrevent(st, false);
    st.ua.length = 0;
    st.ua.push(ASC.I_T_NEXUS_LOSS_OCCURRED);
    if (!st.lost) {
      st.lost = true;
      this.#lost.push(id);
      if (this.#lost.length > LOST_NEXUS_MAX) {
        const old = this.#lost.shift() as string;
        const o = this.#nexuses.get(old);
        if (o !== undefined && o.lost && o.inflight === 0) this.#nexuses.delete(old);
      }
    }
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
        this.#hardReset(ASC.BUS_DEVICE_RESET_FUNCTION_OCCURRED);
        return;
      case 'target-warm-reset':
        this.#hardReset(ASC.POWER_ON_RESET_OR_BUS_DEVICE_RESET_OCCURRED);
        return;
      case 'target-cold-reset':
        if (!this.pr.aptpl) this.pr.assign(new PersistentReservations());
        this.#hardReset(ASC.POWER_ON_OCCURRED);
        return;
      case 'i-t-nexus-reset':
        if (nexusId === undefined) throw new TypeError('an I_T nexus reset needs the nexus');
        this.nexusLost(nexusId);
        return;
      case 'clear-task-set':
        if (cleared !== undefined) {
          for (const id of new Set(cleared)) if (id !== nexusId) this.#queue(this.#stateById(id), ASC.COMMANDS_CLEARED_BY_ANOTHER_INITIATOR);
          return;
        }
        for (const st of this.#nexuses.values()) {
          if (st.id !== nexusId && st.inflight !== 0) this.#queue(st, ASC.COMMANDS_CLEARED_BY_ANOTHER_INITIATOR);
        }
        return;
    }
  }

  #hardReset(code: number): void {
    // SAM-5, logical unit reset: SPC-2 reservations released, mode parameters back to their defaults (nothing is
    // saved), and a unit attention for every I_T nexus that takes precedence over older ones.
    // Persistent reservations are not affected by a reset (SPC-4 §5.13.1).
    this.reservationHolder = null;
    this.copyResults.discard();
    for (const st of this.#nexuses.values()) this.setPrevent(st, false);
    Object.assign(this.mode, this.defaultMode);
    for (const id of this.host.nexusIds()) {
      const st = this.#stateById(id);
      for (let i = st.ua.length - 1; i >= 0; i--) if (st.ua[i]! >> 8 === 0x29) st.ua.splice(i, 1);
      st.ua.unshift(code);
      if (st.ua.length > UA_QUEUE_MAX) st.ua.length = UA_QUEUE_MAX;
    }
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
    if (opts.unitAttention !== false) this.establishUnitAttention(ASC.CAPACITY_DATA_HAS_CHANGED);
  }

  /**
   * Removes the LU in three steps (seed 003), each done once whatever the number of calls:
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
          this.#nexuses.clear();
          this.#lost.length = 0;
          this.reservationHolder = null;
          this.copyResults.discard();
          this.#preventCount = 0;
          onStep?.('reset');
        }
      })();
    }
    return this.#removing;
  }
}

