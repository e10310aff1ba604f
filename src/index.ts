// tsiscsi: the library's public surface. Both ends are at the top level: the initiator (Session,
// discover, ...) and the target (TargetServer, TargetNode, the config loader, the admin socket; the
// rest of the target's surface is in src/target/index.ts). SCSI emulation, backends and the PDU codec
// are namespaces.
export * from './errors.js';
export * from './initiator/index.js';
export * as pdu from './pdu/index.js';
export * as scsi from './scsi/index.js';
export * as backend from './backend/index.js';
export {
  TargetServer,
  TargetNode,
  TARGET_EVENT_TYPES,
  buildServer,
  loadConfigFile,
  validateConfig,
  startAdminSocket,
  adminRequest,
  ConfigError,
  type TargetServerOptions,
  type TargetNodeOptions,
  type TargetEvent,
  type TargetEventType,
  type TargetNodeEvent,
  type TaskManagementNotice,
  type CloseSummary,
  type ShutdownOptions,
  type SessionInfo,
  type Portal,
  type ChapAccount,
  type LunEventMode,
  type ServerConfig,
  type TargetConfig,
  type AdminRequest,
  type AdminAnswer,
} from './target/index.js';
