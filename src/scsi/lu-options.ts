// The options a logical unit is built with, and the task management and reset events the transport
// reports to it (logical-unit.ts).

import type { BlockBackend, SidecarStore } from '../backend/types.js';
import type { AsymmetricAccess } from './alua-access.js';
import type { CommandDescriptor, LogicalUnitLimits, LuHost, SupportedTmfs } from './handler.js';
import type { LuIdentityOptions } from './inquiry.js';
import type { SharedLuState } from './shared-state.js';
import type { ItNexus, ScsiCommand, TmfType } from './types.js';

/** Options of {@link LogicalUnit}; the identity fields (target name, vendor, serial, NAA, ...) are {@link LuIdentityOptions}. */
export interface LogicalUnitOptions extends LuIdentityOptions {
  /** The LUN, 0..16383 (single-level peripheral or flat addressing, SAM-5 §4.6). */
  lun: number;
  /** The store of blocks. The LU owns it: {@link LogicalUnit.remove} closes it. */
  backend: BlockBackend;
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
  /**
   * Asymmetric access (SPC-4 §5.15): INQUIRY reports TPGS, VPD 83h the target port group, REPORT (and,
   * when offered, SET) TARGET PORT GROUPS join the command table, and every command is checked against
   * the state of the local target port group. Absent: TPGS 0, every port equal (as without a cluster).
   */
  alua?: AsymmetricAccess;
  /**
   * Where the reservations, the mode parameters MODE SELECT changes and the removable medium's state
   * live when several device servers share this LU (gateways of a cluster): every change goes through
   * it, and {@link LogicalUnit.applySharedState} brings the result here. APTPL is then offered (the
   * shared store is durable) and no sidecar is used.
   */
  shared?: SharedLuState;
  /**
   * Told about unexpected (non-SCSI) errors that ended a command in HARDWARE ERROR (`cmd` undefined:
   * a shared change made on no command's behalf, the release of a lost nexus's RESERVE or a reset, failed or was late).
   */
  onInternalError?: (e: unknown, cmd: ScsiCommand | undefined) => void;
  /**
   * Told once a reset made on another device server sharing this LU (`shared`) is in force here, by
   * its unit attention (29h/xxh, SAM-5 resets). The LU itself applied it to this device server's
   * I_T nexuses; what the reset does beyond the LU is the transport's: after a TARGET COLD RESET
   * (POWER ON OCCURRED) no session of the target survives, whichever port it reached (RFC 7143 §11.5.1).
   */
  onSharedReset?: (code: number) => void;
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
