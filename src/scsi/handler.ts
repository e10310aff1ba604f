// What a command handler sees: LuContext, the part of a logical unit the SPC/SBC handlers use (its
// backend, limits, mode parameters, reservations, unit attentions, ...), the per-I_T-nexus state it is
// handed, the target device around it (LuHost), and the shape of the dispatch table. The handlers
// depend on this and not on the LogicalUnit class, which implements it and imports their tables.

import type { BlockBackend } from '../backend/types.js';
import type { AsymmetricAccess } from './alua-access.js';
import type { CopyResults } from './copy-results.js';
import type { LuIdentity } from './inquiry.js';
import type { PersistentReservations, PrAccess, ReservationChange } from './persistent-reservations.js';
import type { RangeLock } from './range-lock.js';
import type { ItNexus, ScsiCommand, ScsiResponse } from './types.js';

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
  logicalUnits(): Iterable<LuContext>;
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

/** The mode parameters this LU lets an initiator change (SPC-4 §7.5, SBC-3 §6.4). */
export interface ModeState {
  /** Caching page WCE: writes may sit in a volatile cache; off makes every write FUA (SBC-3 §6.4, Caching mode page). */
  wce: boolean;
  /** Control page D_SENSE: report sense data in descriptor format (SPC-4, Control mode page). */
  dSense: boolean;
  /** Control page SWP: software write protect, the medium refuses writes (SPC-4, Control mode page). */
  swp: boolean;
}

/** Task management functions a transport may report as supported (SPC-4 §6.36). */
export interface SupportedTmfs {
  abortTask?: boolean;
  abortTaskSet?: boolean;
  clearAca?: boolean;
  clearTaskSet?: boolean;
  logicalUnitReset?: boolean;
  queryTask?: boolean;
  targetReset?: boolean;
  wakeup?: boolean;
  queryUnitAttention?: boolean;
  queryTaskSet?: boolean;
  itNexusReset?: boolean;
}

/**
 * The logical unit as its command handlers see it. Handlers read its configuration and state and
 * change the state only through what is writable here.
 */
export interface LuContext {
  /** The store of blocks. */
  readonly backend: BlockBackend;
  /** Logical block size in bytes. */
  readonly blockSize: number;
  /** Capacity in logical blocks. */
  readonly blocks: number;
  /** LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT reported by READ CAPACITY(16). */
  readonly lbppbe: number;
  /** Transfer and range limits (Block Limits VPD page), enforced by the commands. */
  readonly limits: Readonly<LogicalUnitLimits>;
  /** Provisioning and optional-command facts derived from the command table and the backend. */
  readonly capabilities: LuCapabilities;
  /** Vendor, product, revision, serial number and NAA designator (INQUIRY, VPD 80h/83h). */
  readonly identity: LuIdentity;
  /** Task management functions REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS reports. */
  readonly tmfs: SupportedTmfs;
  /** Dispatch table, by operation code then service action. */
  readonly commands: CommandTable;
  /** Every supported command, in the order REPORT SUPPORTED OPERATION CODES lists them. */
  readonly commandList: readonly CommandDescriptor[];
  /** The target device (or the LU itself) that knows the nexuses and the LUNs. */
  readonly host: LuHost;
  /** Whether the LU has been removed from its target device. */
  readonly removed: boolean;

  /** RMB: the medium can be ejected and loaded with START STOP UNIT. */
  readonly removable: boolean;
  /** Whether a removable medium is loaded (always true for a non-removable one). */
  readonly mediumPresent: boolean;
  /** Some I_T nexus has prevented medium removal (SBC-3 PREVENT ALLOW MEDIUM REMOVAL). */
  readonly removalPrevented: boolean;
  /**
   * PREVENT ALLOW MEDIUM REMOVAL for one nexus. A promise when the LU is shared by several device
   * servers (the PREVENT is in force through every port once it resolves); undefined otherwise.
   */
  setPrevent(nexus: NexusState, prevent: boolean): Promise<void> | undefined;
  /**
   * START STOP UNIT LOEJ: loads (`true`) or ejects a removable medium; throws (or rejects) MEDIUM
   * REMOVAL PREVENTED while any I_T nexus prevents removal. A promise when the LU is shared.
   */
  loadMedium(load: boolean): Promise<void> | undefined;

  /** Current mode parameters; change them through {@link changeMode}. */
  readonly mode: ModeState;
  /**
   * MODE SELECT set these parameters on nexus `nexusId`: MODE PARAMETERS CHANGED for every other
   * I_T nexus when that changed them (SPC-4 §6.9). A promise when the LU is shared.
   */
  changeMode(update: Partial<ModeState>, nexusId: string): Promise<void> | undefined;
  /** Default mode parameters: the PC=10b values. */
  readonly defaultMode: Readonly<ModeState>;
  /** Writes are refused: read-only, or software write protect (SWP) set in the control page. */
  readonly writeProtected: boolean;
  /** Throws DATA PROTECT when writes are refused (SBC-3 write protection; SWP of the SPC-4 Control mode page). */
  checkWritable(): void;
  /** LBA range locks for commands that read then write, and the shared locks of every write. */
  readonly rangeLock: RangeLock;

  /** Removes and returns the oldest pending unit attention of a nexus, as it is reported. */
  takeUnitAttention(nexus: NexusState): number | undefined;
  /** Establishes a unit attention (`asc << 8 | ascq`) for every live I_T nexus but `exceptNexusId`. */
  establishUnitAttention(code: number, exceptNexusId?: string): void;

  /** The I_T nexus holding the SPC-2 reservation (RESERVE(6)), by id; change it only through {@link changeReservations}. */
  readonly reservationHolder: string | null;
  /** Persistent reservations (SPC-4 §5.13); change them only through {@link changePersistentReservations}. */
  readonly pr: PersistentReservations;
  /** APTPL can be honoured: the medium has a sidecar to keep persistent reservations in (PTPL_C). */
  readonly prPersistCapable: boolean;
  /**
   * Applies one change of the reservations (a PERSISTENT RESERVE OUT service action, RESERVE,
   * RELEASE), one at a time per LU, with its effects; through the shared state when the LU has one.
   */
  changeReservations(change: ReservationChange): Promise<void>;

  /** EXTENDED COPY results held per I_T nexus for RECEIVE COPY RESULTS. */
  readonly copyResults: CopyResults;

  /** Asymmetric access (SPC-4 §5.15), when the LU is reached through target port groups in several states. */
  readonly alua: AsymmetricAccess | undefined;
}

/** Handles one command; throws a CheckConditionError to end it in CHECK CONDITION. */
export type CommandHandler = (lu: LuContext, cmd: ScsiCommand, nexus: NexusState) => Promise<ScsiResponse> | ScsiResponse;

/** One supported command (an operation code, or an operation code and service action). */
export interface CommandDescriptor {
  /** T10 name, e.g. 'READ(10)' or 'REPORT SUPPORTED OPERATION CODES'. */
  readonly name: string;
  readonly opcode: number;
  /** The service action, for operation codes that have them (SPC-4, service actions). */
  readonly serviceAction: number | undefined;
  readonly cdbLength: number;
  /** CDB USAGE DATA (SPC-4 §6.35, one-command format): byte 0 the opcode, then a one for every bit evaluated. */
  readonly usage: Uint8Array;
  /** F_UA_EXEMPT, F_RESERVATION_EXEMPT, F_MEDIUM, F_WRITE (command.ts); F_ALUA_* (alua.ts). */
  readonly flags: number;
  readonly handler: CommandHandler;
  /**
   * SPDTL of the command's Data-Out (RFC 7143 §11.4.5.1) from its CDB, for commands that take
   * Data-Out; reported with every response so the transport can compute residuals.
   */
  readonly dataOut: ((cdb: Buffer, blockSize: number) => number) | undefined;
  /** Recommended command timeout in seconds, for the RCTD timeouts descriptor (SPC-4 §6.35). */
  readonly timeout: number;
  /** Its class against a persistent reservation held by another I_T nexus; a function when the CDB decides. */
  readonly pr: PrAccess | ((cdb: Buffer) => PrAccess);
}

/** The second dispatch level for an operation code with service actions. */
export interface ServiceActionTable {
  readonly name: string;
  readonly opcode: number;
  /** Indexed by the 5-bit SERVICE ACTION field (CDB byte 1, bits 4..0). */
  readonly serviceActions: (CommandDescriptor | undefined)[];
}

/** Entries indexed by operation code. */
export type CommandTable = readonly (CommandDescriptor | ServiceActionTable | undefined)[];
