// The SCSI layer shared by both ends: constants, sense data, CDB builders and parsers; and, for the
// target, the logical unit emulation and the LUN map of a target.

export type {
  ItNexus,
  LogicalUnitHandle,
  ScsiCommand,
  ScsiResponse,
  TaskAttribute,
  TmfType,
} from './types.js';
export {
  ASC,
  MI,
  OP,
  PR_TYPE,
  PRIN,
  PROUT,
  XCOPY_SA,
  PROTOCOL_ID_ISCSI,
  SAI,
  SENSE_KEY,
  STATUS,
  VERSION_DESCRIPTOR,
  ascName,
  opcodeName,
  senseKeyName,
  statusName,
} from './constants.js';
export {
  CheckConditionError,
  FIXED_SENSE_LENGTH,
  buildDescriptorSense,
  buildFixedSense,
  buildSense,
  illegalRequest,
  invalidFieldInCdb,
  invalidFieldInParameterList,
  parseSense,
  scsiErrorFromStatus,
  type FieldPointer,
  type ParsedSense,
  type SenseInit,
} from './sense.js';
export * from './cdb.js';
export * from './cdb-blocks.js';
export * from './cdb-copy.js';
export * from './cdb-reservations.js';
export * from './cdb-alua.js';
export { RangeLock } from './range-lock.js';
export { TaskSet } from './task-set.js';
export {
  LogicalUnit,
  STANDARD_COMMAND_TABLE,
  type LogicalUnitLimits,
  type LogicalUnitOptions,
  type LuCapabilities,
  type LuHost,
  type LuResetKind,
  type NexusState,
  type TaskManagementEvent,
} from './logical-unit.js';
export { ScsiTargetDevice, type ScsiTargetDeviceOptions, type TargetResetKind, type TaskAborter } from './target-device.js';
export {
  PersistentReservations,
  type PrEffects,
  type PrSnapshot,
  type ProutParameters,
  type Registration,
  type Reservation,
} from './persistent-reservations.js';
export { deriveNaa, deriveSerial, parseNaa, type LuIdentity } from './inquiry.js';
export { DEFAULT_TMFS, type SupportedTmfs } from './spc.js';
export {
  command,
  F_MEDIUM,
  F_RESERVATION_EXEMPT,
  F_UA_EXEMPT,
  F_WRITE,
  type CommandDescriptor,
  type PrAccess,
  type CommandHandler,
  type CommandTable,
} from './command.js';
export type { ModeState } from './mode.js';
