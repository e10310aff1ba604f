// The PDU model: one interface per RFC 7143 §11 PDU, a discriminated union on `opcode`.
// Field names follow the RFC in lowerCamelCase. Lengths that the wire derives from the data
// (DataSegmentLength, TotalAHSLength) are not fields: they are computed when encoding.

import type { Opcode } from './constants.js';

/** The 8-byte LUN field, kept raw (SAM-5 §4.6 addressing is decoded in src/scsi/lun). */
export type LunField = bigint;

/** An Additional Header Segment (RFC 7143 §11.2.2) of a type this codec does not interpret. */
export interface RawAhs {
  ahsType: number;
  /** AHS-specific bytes (after the 3-byte header), without padding. */
  data: Buffer;
}

/** NOP-Out (RFC 7143 §11.18). */
export interface NopOutPdu {
  opcode: typeof Opcode.NopOut;
  immediate: boolean;
  lun: LunField;
  itt: number;
  ttt: number;
  cmdSN: number;
  expStatSN: number;
  data: Buffer;
}

/** NOP-In (RFC 7143 §11.19). */
export interface NopInPdu {
  opcode: typeof Opcode.NopIn;
  lun: LunField;
  itt: number;
  ttt: number;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
  data: Buffer;
}

/** SCSI Command (RFC 7143 §11.3). */
export interface ScsiCommandPdu {
  opcode: typeof Opcode.ScsiCommand;
  immediate: boolean;
  final: boolean;
  read: boolean;
  write: boolean;
  /** Task attribute (RFC 7143 §11.3.1.1): 0 untagged, 1 simple, 2 ordered, 3 head of queue, 4 ACA. */
  attr: number;
  lun: LunField;
  itt: number;
  expectedDataTransferLength: number;
  cmdSN: number;
  expStatSN: number;
  /** The whole CDB: 16 bytes from the BHS, longer with an Extended CDB AHS (RFC 7143 §11.3.5). */
  cdb: Buffer;
  /** Bidirectional Read Expected Data Transfer Length AHS (RFC 7143 §11.3.6), if present. */
  bidiReadExpectedDataTransferLength?: number;
  /** Other AHS that arrived (kept so a receiver can refuse what it does not support). */
  ahs?: RawAhs[];
  /** Immediate data. */
  data: Buffer;
}

/** SCSI Response (RFC 7143 §11.4). */
export interface ScsiResponsePdu {
  opcode: typeof Opcode.ScsiResponse;
  bidiReadResidualOverflow: boolean;
  bidiReadResidualUnderflow: boolean;
  residualOverflow: boolean;
  residualUnderflow: boolean;
  /** iSCSI response (RFC 7143 §11.4.3): 0 command completed at target, 1 target failure. */
  response: number;
  /** SCSI status (valid when response is 0). */
  status: number;
  itt: number;
  snackTag: number;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
  expDataSN: number;
  bidiReadResidualCount: number;
  residualCount: number;
  /** Sense data, without the 2-byte SenseLength prefix (RFC 7143 §11.4.7.2); empty if none. */
  sense: Buffer;
  /** Response data after the sense (iSCSI response data, rarely used). */
  responseData: Buffer;
}

/** Task Management Function Request (RFC 7143 §11.5). */
export interface TaskManagementRequestPdu {
  opcode: typeof Opcode.TaskManagementRequest;
  immediate: boolean;
  /** Function code (RFC 7143 §11.5.1, RFC 7144 §4.1). */
  function: number;
  lun: LunField;
  itt: number;
  referencedTaskTag: number;
  cmdSN: number;
  expStatSN: number;
  refCmdSN: number;
  expDataSN: number;
}

/** Task Management Function Response (RFC 7143 §11.6). */
export interface TaskManagementResponsePdu {
  opcode: typeof Opcode.TaskManagementResponse;
  response: number;
  itt: number;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
  /** RFC 7144 §4.2: QUERY ASYNCHRONOUS EVENT answers carry the additional response information. */
  additionalResponseInformation: number;
}

/** Login Request (RFC 7143 §11.12). */
export interface LoginRequestPdu {
  opcode: typeof Opcode.LoginRequest;
  transit: boolean;
  continue: boolean;
  csg: number;
  nsg: number;
  versionMax: number;
  versionMin: number;
  /** The 6-byte ISID as 12 lowercase hex digits. */
  isid: string;
  tsih: number;
  itt: number;
  cid: number;
  cmdSN: number;
  expStatSN: number;
  data: Buffer;
}

/** Login Response (RFC 7143 §11.13). */
export interface LoginResponsePdu {
  opcode: typeof Opcode.LoginResponse;
  transit: boolean;
  continue: boolean;
  csg: number;
  nsg: number;
  versionMax: number;
  versionActive: number;
  isid: string;
  tsih: number;
  itt: number;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
  statusClass: number;
  statusDetail: number;
  data: Buffer;
}

/** Text Request (RFC 7143 §11.10). */
export interface TextRequestPdu {
  opcode: typeof Opcode.TextRequest;
  immediate: boolean;
  final: boolean;
  continue: boolean;
  lun: LunField;
  itt: number;
  ttt: number;
  cmdSN: number;
  expStatSN: number;
  data: Buffer;
}

/** Text Response (RFC 7143 §11.11). */
export interface TextResponsePdu {
  opcode: typeof Opcode.TextResponse;
  final: boolean;
  continue: boolean;
  lun: LunField;
  itt: number;
  ttt: number;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
  data: Buffer;
}

/** SCSI Data-Out (RFC 7143 §11.7). */
export interface DataOutPdu {
  opcode: typeof Opcode.DataOut;
  final: boolean;
  lun: LunField;
  itt: number;
  ttt: number;
  expStatSN: number;
  dataSN: number;
  bufferOffset: number;
  data: Buffer;
}

/** SCSI Data-In (RFC 7143 §11.7). */
export interface DataInPdu {
  opcode: typeof Opcode.DataIn;
  final: boolean;
  acknowledge: boolean;
  residualOverflow: boolean;
  residualUnderflow: boolean;
  /** S bit: this PDU carries the command's status (RFC 7143 §11.7.5). */
  statusPresent: boolean;
  /** SCSI status, meaningful when statusPresent. */
  status: number;
  lun: LunField;
  itt: number;
  ttt: number;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
  dataSN: number;
  bufferOffset: number;
  residualCount: number;
  data: Buffer;
}

/** Logout Request (RFC 7143 §11.14). */
export interface LogoutRequestPdu {
  opcode: typeof Opcode.LogoutRequest;
  immediate: boolean;
  reasonCode: number;
  itt: number;
  cid: number;
  cmdSN: number;
  expStatSN: number;
}

/** Logout Response (RFC 7143 §11.15). */
export interface LogoutResponsePdu {
  opcode: typeof Opcode.LogoutResponse;
  response: number;
  itt: number;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
  time2Wait: number;
  time2Retain: number;
}

/** Ready To Transfer (RFC 7143 §11.8). */
export interface R2TPdu {
  opcode: typeof Opcode.R2T;
  lun: LunField;
  itt: number;
  ttt: number;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
  r2tSN: number;
  bufferOffset: number;
  desiredDataTransferLength: number;
}

/** SNACK Request (RFC 7143 §11.16). */
export interface SnackRequestPdu {
  opcode: typeof Opcode.SnackRequest;
  type: number;
  lun: LunField;
  itt: number;
  ttt: number;
  expStatSN: number;
  begRun: number;
  runLength: number;
}

/** Asynchronous Message (RFC 7143 §11.9). */
export interface AsyncMessagePdu {
  opcode: typeof Opcode.AsyncMessage;
  lun: LunField;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
  asyncEvent: number;
  asyncVCode: number;
  parameter1: number;
  parameter2: number;
  parameter3: number;
  /** For a SCSI async event: the sense data (without the 2-byte length); else empty. */
  sense: Buffer;
  /** iSCSI event data after the sense. */
  eventData: Buffer;
}

/** Reject (RFC 7143 §11.17). */
export interface RejectPdu {
  opcode: typeof Opcode.Reject;
  reason: number;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
  dataSN: number;
  /** The complete header (BHS) of the rejected PDU. */
  data: Buffer;
}

/** Every PDU an initiator sends (opcodes 0x00-0x1f, RFC 7143 §11.2.1.2). */
export type InitiatorPdu =
  | NopOutPdu
  | ScsiCommandPdu
  | TaskManagementRequestPdu
  | LoginRequestPdu
  | TextRequestPdu
  | DataOutPdu
  | LogoutRequestPdu
  | SnackRequestPdu;

/** Every PDU a target sends (opcodes 0x20-0x3f). */
export type TargetPdu =
  | NopInPdu
  | ScsiResponsePdu
  | TaskManagementResponsePdu
  | LoginResponsePdu
  | TextResponsePdu
  | DataInPdu
  | LogoutResponsePdu
  | R2TPdu
  | AsyncMessagePdu
  | RejectPdu;

/** Any PDU: a discriminated union on `opcode`. */
export type Pdu = InitiatorPdu | TargetPdu;

/** Looks up the PDU interface for an opcode value. */
export type PduOf<O extends number> = Extract<Pdu, { opcode: O }>;
