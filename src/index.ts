// tsiscsi: the library's public surface. The initiator is at the top level (Session, discover, ...);
// the target, SCSI emulation, backends and the PDU codec are namespaces.
export * from './errors.js';
export * from './initiator/index.js';
export * as pdu from './pdu/index.js';
export * as scsi from './scsi/index.js';
export * as backend from './backend/index.js';
export { TargetServer, type TargetServerOptions, type Portal, type SessionInfo } from './target/server.js';
export { TargetNode, type TargetNodeOptions, type ChapAccount } from './target/target-node.js';
export { buildServer, loadConfigFile, validateConfig, ConfigError, type ServerConfig, type TargetConfig } from './target/config.js';
