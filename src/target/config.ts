// Target configuration: one schema (config/schema.ts) gives the types, the validation with path-precise
// messages (config/validate.ts) and the published JSON Schema; config/build.ts turns a valid config into
// a running TargetServer; config/store.ts keeps the running config and writes admin changes back.

export {
  MAX_WORKERS,
  ServerConfigSchema,
  configJsonSchema,
  metricsListenText,
  type ChapAccountConfig,
  type LunEntryConfig,
  type MetricsConfig,
  type SecretSource,
  type ServerConfig,
  type TargetConfig,
} from './config/schema.js';
export { ConfigError, lunEntries, validateConfig } from './config/validate.js';
export {
  DEFAULT_LUN_SPEC,
  DEFAULT_PORTAL,
  DEFAULT_TARGET_IQN,
  buildServer,
  chapAccount,
  loadConfigFile,
  openLun,
  parseChapFlag,
  parsePortal,
  readConfigFile,
  resolveSecret,
} from './config/build.js';
