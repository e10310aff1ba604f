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
  ServerConfigSchema,
  buildServer,
  configJsonSchema,
  loadConfigFile,
  lunEntries,
  metricsListenText,
  parseChapFlag,
  parsePortal,
  readConfigFile,
  resolveSecret,
  validateConfig,
  type ChapAccountConfig,
  type LunEntryConfig,
  type MetricsConfig,
  type SecretSource,
  type ServerConfig,
  type TargetConfig,
} from './config.js';
export { RunningConfig, CONFIG_FILE_MODE, specWithSize, type ConfigChange, type SaveResult } from './config/store.js';
export {
  ADMIN_COMMANDS,
  AdminError,
  adminCommandMutates,
  checkAdminRequest,
  executeVerb,
  recordOutcome,
  runAdmin,
  type AdminAnswer,
  type AdminCommandName,
  type AdminContext,
  type AdminRequest,
  type VerbAnswer,
} from './admin/commands.js';
export type { Verb, VerbOutcome } from './admin/verb.js';
export { ADMIN_LIMITS, AdminSocketError, startAdminSocket, type AdminExecutor, type AdminSocket, type AdminSocketOptions } from './admin/socket.js';
export { AdminClient, adminRequest } from './admin/client.js';
export { ExportPolicy, ExportRefused } from './admin/paths.js';
export { peerCredentials, type PeerCredentials } from './admin/peer.js';
export { CHANNEL_NAMES, type CommandEndMessage, type CommandStartMessage, type LoginFailedMessage, type SessionDownMessage, type SessionUpMessage, type TmfMessage } from './stats/channels.js';
export { LATENCY_BUCKETS, bucketUpperUs, latencyBucket } from './stats/counters.js';
export { mergeSnapshots, type LatencySnapshot, type LunSnapshot, type SessionSnapshot, type StatsSnapshot, type TargetSnapshot } from './stats/snapshot.js';
export { TargetMetrics } from './stats/metrics.js';
export { quantileUs, ratesBetween, type LunRate, type Percentiles, type RatesFrame, type SessionRate } from './stats/rates.js';
export { METRICS_LIMITS, startMetricsServer, type MetricsServer, type MetricsServerOptions } from './stats/metrics-server.js';
export { WorkerTarget, type WorkerTargetOptions } from './workers/pool.js';
export { resolveWorkers, AUTO_MIN_CORES } from './workers/auto.js';
export type { WorkerCalls, WorkerCallName } from './workers/messages.js';
