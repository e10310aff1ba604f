// The contract between the iSCSI transport (src/target) and SCSI emulation (src/scsi).
// The SCSI layer never sees a PDU; the transport never interprets a CDB beyond its length.

import type { BackendTmfType } from '../backend/types.js';

/** One I_T nexus (SAM-5 §4.7): an initiator port talking to a target port. */
export interface ItNexus {
  /** Stable key for the nexus: `${initiatorPortName}|${targetPortName}`. */
  readonly id: string;
  /** iSCSI InitiatorName (RFC 7143 §13.6). */
  readonly initiatorName: string;
  /** The 6-byte ISID as 12 lowercase hex digits. */
  readonly isid: string;
  /** SCSI initiator port name (RFC 7143 §4.4.2): `${initiatorName},i,0x${isid}`. */
  readonly initiatorPortName: string;
  /** iSCSI TargetName. */
  readonly targetName: string;
  /** Target portal group tag: the target port is `${targetName},t,0x${tpgt hex4}`. */
  readonly tpgt: number;
  /** SCSI target port name: `${targetName},t,0x${tpgt as 4 hex digits}`. */
  readonly targetPortName: string;
  /** Relative target port identifier (VPD 0x83), 1-based. */
  readonly relativeTargetPortId: number;
}

/** Task attribute of a command (SAM-5, task attributes); 'untagged' and 'aca' are treated as SIMPLE. */
export type TaskAttribute = 'untagged' | 'simple' | 'ordered' | 'head-of-queue' | 'aca';

/** A SCSI command as the transport hands it over, with all of its Data-Out already gathered. */
export interface ScsiCommand {
  readonly nexus: ItNexus;
  /** The LUN number (SAM-5 §4.6 single-level, peripheral or flat addressing, decoded). */
  readonly lun: number;
  /** The CDB (6..260 bytes; extended CDBs come from the AHS). */
  readonly cdb: Buffer;
  readonly taskAttribute: TaskAttribute;
  /** Initiator task tag, for task management and for naming the task in logs. */
  readonly taskTag: number;
  /**
   * The Data-Out the initiator sent (ExpectedDataTransferLength bytes at most), or null when the
   * command carries none. When the CDB asks for more than this, the SCSI layer must treat the
   * shortfall as the transport's overflow (RFC 7143 §11.4.5.1): it gets only these bytes.
   */
  readonly dataOut: Buffer | null;
  /** ExpectedDataTransferLength for Data-In (0 when the command is not a read). */
  readonly dataInLength: number;
  /** Fires when the task is aborted by a TMF, a reset, or the nexus going away. */
  readonly signal: AbortSignal;
}

/** What the SCSI layer answers. The transport computes residuals from `data` and the EDTL. */
export interface ScsiResponse {
  /** SAM status (0x00 GOOD, 0x02 CHECK CONDITION, 0x08 BUSY, 0x18 RESERVATION CONFLICT, ...). */
  status: number;
  /** Sense data (fixed or descriptor format) when status is CHECK CONDITION. */
  sense?: Buffer;
  /**
   * Data-In bytes. Its length is what the command would transfer if nothing limited it (for a read,
   * blocks x block size; for INQUIRY, min(allocation length, available)). The transport sends at most
   * the EDTL and reports an overflow residual for the rest.
   */
  data?: Buffer;
  /**
   * For a command that takes Data-Out: its SCSI-Presented Data Transfer Length (RFC 7143
   * §11.4.5.1), i.e. the bytes its CDB asks the initiator to send (TRANSFER LENGTH x block size for
   * a WRITE, PARAMETER LIST LENGTH for MODE SELECT). Present on every response, GOOD or not, once the
   * CDB was recognised. The transport reports the residual against the EDTL from it: overflow by
   * `dataOutLength - EDTL` when the initiator offered less, underflow by `EDTL - dataOutLength` when
   * it offered more. Absent for commands without Data-Out, whose SPDTL is `data?.length ?? 0`.
   *
   * When the Data-Out is short, the SCSI layer acts on the whole blocks received and refuses a
   * trailing partial block (ILLEGAL REQUEST, INVALID FIELD IN COMMAND INFORMATION UNIT) without
   * writing anything; see `dataOutBlocks` in block-io.ts for the reasoning.
   */
  dataOutLength?: number;
}

/**
 * Task management as the SCSI layer sees it (SAM-5 §7): the functions RFC 7143 §11.5 carries. The
 * union is stated once, in the backend layer below (a backend hears of the same functions), so a
 * logical unit passes its value straight through.
 */
export type TmfType = BackendTmfType;

/** One logical unit as the transport sees it. */
export interface LogicalUnitHandle {
  readonly lun: number;
  execute(cmd: ScsiCommand): Promise<ScsiResponse>;
}
