// RFC 7143 wire constants: opcodes, flags, status and reason codes, in one place.

/** BHS length (RFC 7143 §11.2). */
export const BHS_LENGTH = 48;
/** Length of a CRC32C digest on the wire. */
export const DIGEST_LENGTH = 4;
/** Largest value the 24-bit DataSegmentLength field can hold. */
export const MAX_DATA_SEGMENT_LENGTH = 0xffffff;
/** The reserved ITT/TTT value (RFC 7143 §11.2.1.8, §11.18.4). */
export const RESERVED_TAG = 0xffffffff;

/** Opcodes (RFC 7143 §11.2.1.2). Initiator opcodes are 0x00-0x1f, target opcodes 0x20-0x3f. */
export const Opcode = {
  NopOut: 0x00,
  ScsiCommand: 0x01,
  TaskManagementRequest: 0x02,
  LoginRequest: 0x03,
  TextRequest: 0x04,
  DataOut: 0x05,
  LogoutRequest: 0x06,
  SnackRequest: 0x10,
  NopIn: 0x20,
  ScsiResponse: 0x21,
  TaskManagementResponse: 0x22,
  LoginResponse: 0x23,
  TextResponse: 0x24,
  DataIn: 0x25,
  LogoutResponse: 0x26,
  R2T: 0x31,
  AsyncMessage: 0x32,
  Reject: 0x3f,
} as const;
/** One of the {@link Opcode} values. */
export type OpcodeValue = (typeof Opcode)[keyof typeof Opcode];

/** Human names as RFC 7143 §11 titles them (used by `tsiscsi dump` and logs). */
export const OPCODE_NAMES: Readonly<Record<number, string>> = {
  [Opcode.NopOut]: 'NOP-Out',
  [Opcode.ScsiCommand]: 'SCSI Command',
  [Opcode.TaskManagementRequest]: 'Task Management Function Request',
  [Opcode.LoginRequest]: 'Login Request',
  [Opcode.TextRequest]: 'Text Request',
  [Opcode.DataOut]: 'SCSI Data-Out',
  [Opcode.LogoutRequest]: 'Logout Request',
  [Opcode.SnackRequest]: 'SNACK Request',
  [Opcode.NopIn]: 'NOP-In',
  [Opcode.ScsiResponse]: 'SCSI Response',
  [Opcode.TaskManagementResponse]: 'Task Management Function Response',
  [Opcode.LoginResponse]: 'Login Response',
  [Opcode.TextResponse]: 'Text Response',
  [Opcode.DataIn]: 'SCSI Data-In',
  [Opcode.LogoutResponse]: 'Logout Response',
  [Opcode.R2T]: 'Ready To Transfer',
  [Opcode.AsyncMessage]: 'Asynchronous Message',
  [Opcode.Reject]: 'Reject',
};

/** Byte 0 bit 6: immediate delivery (initiator PDUs only, RFC 7143 §11.2.1.2). */
export const FLAG_IMMEDIATE = 0x40;
/** Byte 1 bit 7: Final. */
export const FLAG_FINAL = 0x80;

/** SCSI Command flags (byte 1, RFC 7143 §11.3): R, the command reads (expects Data-In). */
export const CMD_FLAG_READ = 0x40;
/** W: the command writes (expects Data-Out). */
export const CMD_FLAG_WRITE = 0x20;
/** ATTR: the task attribute, the low 3 bits (RFC 7143 §11.3.1.1). */
export const CMD_ATTR_MASK = 0x07;

/** ATTR field values (RFC 7143 §11.3.1.1). */
export const TaskAttr = {
  Untagged: 0,
  Simple: 1,
  Ordered: 2,
  HeadOfQueue: 3,
  Aca: 4,
} as const;

/** SCSI Response flags (byte 1, RFC 7143 §11.4.1): o, bidirectional read residual overflow. */
export const RSP_FLAG_BIDI_OVERFLOW = 0x10;
/** u: bidirectional read residual underflow. */
export const RSP_FLAG_BIDI_UNDERFLOW = 0x08;
/** O: residual overflow. */
export const RSP_FLAG_OVERFLOW = 0x04;
/** U: residual underflow. */
export const RSP_FLAG_UNDERFLOW = 0x02;

/** Data-In flags (byte 1, RFC 7143 §11.7.1): A, the target asks for a DataACK SNACK. */
export const DATAIN_FLAG_ACK = 0x40;
/** O: residual overflow (with S). */
export const DATAIN_FLAG_OVERFLOW = 0x04;
/** U: residual underflow (with S). */
export const DATAIN_FLAG_UNDERFLOW = 0x02;
/** S: the PDU carries the command's status. */
export const DATAIN_FLAG_STATUS = 0x01;

/** iSCSI Response field of the SCSI Response (RFC 7143 §11.4.3). */
export const IscsiResponse = {
  CommandCompleted: 0x00,
  TargetFailure: 0x01,
} as const;

/** Login flags (byte 1, RFC 7143 §11.12.1): T, the initiator asks to move to the next stage. */
export const LOGIN_FLAG_TRANSIT = 0x80;
/** C: the text continues in the next Login PDU. */
export const LOGIN_FLAG_CONTINUE = 0x40;
/** Text flags (byte 1, RFC 7143 §11.10.2): C, the text continues in the next Text PDU. */
export const TEXT_FLAG_CONTINUE = 0x40;
/** CSG: the current login stage, bits 3-2 (RFC 7143 §11.12.3). */
export const LOGIN_CSG_MASK = 0x0c;
/** NSG: the next login stage, bits 1-0. */
export const LOGIN_NSG_MASK = 0x03;

/** Login stages (RFC 7143 §11.12.3). */
export const Stage = {
  Security: 0,
  Operational: 1,
  FullFeature: 3,
} as const;

/** Login status classes and details (RFC 7143 §11.13.5), as (class << 8) | detail. */
export const LoginStatus = {
  Success: 0x0000,
  TargetMovedTemporarily: 0x0101,
  TargetMovedPermanently: 0x0102,
  InitiatorError: 0x0200,
  AuthenticationFailure: 0x0201,
  AuthorizationFailure: 0x0202,
  NotFound: 0x0203,
  TargetRemoved: 0x0204,
  UnsupportedVersion: 0x0205,
  TooManyConnections: 0x0206,
  MissingParameter: 0x0207,
  CantIncludeInSession: 0x0208,
  SessionTypeNotSupported: 0x0209,
  SessionDoesNotExist: 0x020a,
  InvalidDuringLogin: 0x020b,
  TargetError: 0x0300,
  ServiceUnavailable: 0x0301,
  OutOfResources: 0x0302,
} as const;

/** Names of the {@link LoginStatus} values, as RFC 7143 §11.13.5 words them. */
export const LOGIN_STATUS_NAMES: Readonly<Record<number, string>> = {
  0x0000: 'Success',
  0x0101: 'Target moved temporarily',
  0x0102: 'Target moved permanently',
  0x0200: 'Initiator error',
  0x0201: 'Authentication failure',
  0x0202: 'Authorization failure',
  0x0203: 'Not found',
  0x0204: 'Target removed',
  0x0205: 'Unsupported version',
  0x0206: 'Too many connections',
  0x0207: 'Missing parameter',
  0x0208: "Can't include in session",
  0x0209: 'Session type not supported',
  0x020a: 'Session does not exist',
  0x020b: 'Invalid during login',
  0x0300: 'Target error',
  0x0301: 'Service unavailable',
  0x0302: 'Out of resources',
};

/** Reject reasons (RFC 7143 §11.17.1). */
export const RejectReason = {
  DataDigestError: 0x02,
  SnackReject: 0x03,
  ProtocolError: 0x04,
  CommandNotSupported: 0x05,
  ImmediateCommandReject: 0x06,
  TaskInProgress: 0x07,
  InvalidDataAck: 0x08,
  InvalidPduField: 0x09,
  LongOperationReject: 0x0a,
  NegotiationReset: 0x0b,
  WaitingForLogout: 0x0c,
} as const;

/** Names of the Reject reasons, as RFC 7143 §11.17.1 words them. */
export const REJECT_REASON_NAMES: Readonly<Record<number, string>> = {
  0x01: 'Reserved',
  0x02: 'Data (payload) digest error',
  0x03: 'SNACK Reject',
  0x04: 'Protocol Error',
  0x05: 'Command not supported',
  0x06: 'Immediate command reject - too many immediate commands',
  0x07: 'Task in progress',
  0x08: 'Invalid data ack',
  0x09: 'Invalid PDU field',
  0x0a: 'Long op reject - cannot generate Target Transfer Tag, out of resources',
  0x0b: 'Deprecated (Negotiation Reset)',
  0x0c: 'Waiting for Logout',
};

/** Task management functions (RFC 7143 §11.5.1, RFC 7144 §4.1). */
export const TmfFunction = {
  AbortTask: 1,
  AbortTaskSet: 2,
  ClearAca: 3,
  ClearTaskSet: 4,
  LogicalUnitReset: 5,
  TargetWarmReset: 6,
  TargetColdReset: 7,
  TaskReassign: 8,
  QueryTask: 9,
  QueryTaskSet: 10,
  ItNexusReset: 11,
  QueryAsyncEvent: 12,
} as const;

/** Names of the task management functions, as SAM-5 and RFC 7143 §11.5.1 spell them. */
export const TMF_FUNCTION_NAMES: Readonly<Record<number, string>> = {
  1: 'ABORT TASK',
  2: 'ABORT TASK SET',
  3: 'CLEAR ACA',
  4: 'CLEAR TASK SET',
  5: 'LOGICAL UNIT RESET',
  6: 'TARGET WARM RESET',
  7: 'TARGET COLD RESET',
  8: 'TASK REASSIGN',
  9: 'QUERY TASK',
  10: 'QUERY TASK SET',
  11: 'I_T NEXUS RESET',
  12: 'QUERY ASYNCHRONOUS EVENT',
};

/** Task management responses (RFC 7143 §11.6.1, RFC 7144 §4.2). */
export const TmfResponse = {
  FunctionComplete: 0,
  TaskDoesNotExist: 1,
  LunDoesNotExist: 2,
  TaskStillAllegiant: 3,
  TaskAllegianceReassignmentNotSupported: 4,
  FunctionNotSupported: 5,
  FunctionAuthorizationFailed: 6,
  FunctionSucceeded: 7,
  FunctionRejected: 255,
} as const;

/** Names of the task management responses (RFC 7143 §11.6.1). */
export const TMF_RESPONSE_NAMES: Readonly<Record<number, string>> = {
  0: 'Function complete',
  1: 'Task does not exist',
  2: 'LUN does not exist',
  3: 'Task still allegiant',
  4: 'Task allegiance reassignment not supported',
  5: 'Task management function not supported',
  6: 'Function authorization failed',
  7: 'Function succeeded',
  255: 'Function rejected',
};

/** Logout reason codes (RFC 7143 §11.14.1). */
export const LogoutReason = {
  CloseSession: 0,
  CloseConnection: 1,
  RemoveConnectionForRecovery: 2,
} as const;

/** Logout response codes (RFC 7143 §11.15.1). */
export const LogoutResponseCode = {
  Success: 0,
  CidNotFound: 1,
  RecoveryNotSupported: 2,
  CleanupFailed: 3,
} as const;

/** SNACK types (RFC 7143 §11.16.1). */
export const SnackType = {
  DataR2T: 0,
  Status: 1,
  DataAck: 2,
  RDataSnack: 3,
} as const;

/** Asynchronous events (RFC 7143 §11.9.1). */
export const AsyncEvent = {
  ScsiAsyncEvent: 0,
  LogoutRequest: 1,
  ConnectionDrop: 2,
  SessionDrop: 3,
  Renegotiate: 4,
  VendorSpecific: 255,
} as const;

/** Names of the asynchronous events (RFC 7143 §11.9.1). */
export const ASYNC_EVENT_NAMES: Readonly<Record<number, string>> = {
  0: 'SCSI Asynchronous Event',
  1: 'Logout requested',
  2: 'Connection drop',
  3: 'Session drop',
  4: 'Renegotiate',
  255: 'Vendor specific',
};

/** iSCSI version numbers carried in Login PDUs (RFC 7143 §11.12.4). */
export const ISCSI_VERSION = 0x00;
