// The SCSI layer shared by both ends: constants, sense data, CDB builders and parsers; and, for the
// target, the logical unit emulation and the SCSI target device holding a target's logical units.

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
export * from './cdb/index.js';
export { RangeLock } from './range-lock.js';
export { TaskSet } from './task-set.js';
export { LogicalUnit, type LogicalUnitOptions, type LuResetKind, type TaskManagementEvent } from './logical-unit.js';
export { STANDARD_COMMAND_TABLE } from './standard-commands.js';
export type {
  CommandDescriptor,
  CommandHandler,
  CommandTable,
  LogicalUnitLimits,
  LuCapabilities,
  LuContext,
  LuHost,
  ModeState,
  NexusState,
  SupportedTmfs,
} from './handler.js';
export { ScsiTargetDevice, type ScsiTargetDeviceOptions, type TargetResetKind, type TaskAborter } from './target-device.js';
export {
  PersistentReservations,
  type PrAccess,
  type PrEffects,
  type PrSnapshot,
  type ProutParameters,
  type Registration,
  type Reservation,
} from './persistent-reservations.js';
export { deriveNaa, deriveSerial, parseNaa, type LuIdentity } from './inquiry.js';
export { DEFAULT_TMFS } from './spc.js';
export {
  command,
  F_ALUA_ANY,
  F_ALUA_STANDBY,
  F_ALUA_TRANSITIONING,
  F_ALUA_UNAVAILABLE,
  F_MEDIUM,
  F_RESERVATION_EXEMPT,
  F_UA_EXEMPT,
  F_WRITE,
} from './command.js';
export type { AsymmetricAccess, TargetPortGroupRequest } from './alua-access.js';
export { ALUA_COMMANDS, aluaRefusal, isActiveState, notAccessibleAsc } from './alua.js';
