// The target's public surface: the server and its targets, the configuration loader, the admin socket
// (server and client), the launcher of a target with worker processes, and the types they take and report. The CLI reaches
// the target only through here (the bin-uses-the-public-api layer rule).

export { TargetServer, type ResolvedServerOptions, type TargetServerOptions } from './server.js';
export type { Portal } from './portal.js';
export { TARGET_EVENT_TYPES, type SessionInfo, type TargetEvent, type TargetEventType } from './events.js';
export type { CloseSummary, ShutdownOptions } from './shutdown.js';
export { TargetNode, type ChapAccount, type LunEventMode, type TargetNodeEvent, type TargetNodeOptions } from './target-node.js';
export type { TaskManagementNotice } from './tmf.js';
export {
  ConfigError,
  DEFAULT_LUN_SPEC,
  DEFAULT_PORTAL,
  DEFAULT_TARGET_IQN,
  MAX_WORKERS,
  buildServer,
  loadConfigFile,
  parseChapFlag,
  parsePortal,
  resolveSecret,
  validateConfig,
  type ChapAccountConfig,
  type SecretSource,
  type ServerConfig,
  type TargetConfig,
} from './config.js';
export { runAdmin, startAdminSocket, type AdminAnswer, type AdminRequest } from './admin.js';
export { adminRequest } from './admin-client.js';
export { WorkerTarget, type WorkerTargetOptions } from './workers/pool.js';
export { resolveWorkers, AUTO_MIN_CORES } from './workers/auto.js';
export type { AdminExecutor } from './workers/admin-routing.js';
export type { WorkerCalls, WorkerCallName } from './workers/messages.js';
