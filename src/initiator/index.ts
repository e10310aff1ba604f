// The initiator's public surface: Session (connect, read, write, inquiry, readCapacity, execute, close),
// MultipathSession (the same over several paths of one LU), discover(), the bench engine, URL parsing, the errors a caller tells apart, and the socket-free core
// (InitiatorCore, LoginExchange, TextExchange, ReconnectPolicy) for those who drive it themselves.

export { Session } from './session.js';
export {
  SESSION_DEFAULTS,
  defaultInitiatorName,
  randomIsid,
  type Capacity,
  type ChapOptions,
  type CommandOptions,
  type ExecuteOptions,
  type PendingAsyncEvent,
  type ReadOptions,
  type TaskManagementAnswer,
  type TaskManagementOptions,
  type SessionOptions,
  type SessionStats,
  type WriteOptions,
} from './options.js';
export { discover, type DiscoverOptions, type DiscoveredTarget } from './discover.js';
export { parseIscsiUrl, formatIscsiUrl, redact as redactIscsiUrl, type IscsiUrl, type DigestPreference } from './url.js';
export { CommandRejectedError, NoPathError, PathIdentityError, ResidualError, TargetFailureError, TaskManagementError, UrlError } from './errors.js';
export { MultipathSession } from './multipath/multipath-session.js';
export {
  MULTIPATH_DEFAULTS,
  MULTIPATH_EVENT_TYPES,
  MULTIPATH_PATH_DEFAULTS,
  type MultipathCommandOptions,
  type MultipathEvent,
  type MultipathEventType,
  type MultipathExecuteOptions,
  type MultipathOptions,
  type MultipathReadOptions,
  type MultipathStats,
  type MultipathWriteOptions,
  type PathSession,
  type PathStatus,
  type PathStatusName,
} from './multipath/options.js';
export { PathSelector, pathRank, type PathPolicy, type SelectablePath } from './multipath/selector.js';
export { failoverAction, unitAttentionMovesStates, type FailoverAction } from './multipath/classify.js';
// Thrown by Session.connect and discover for CHAP options they refuse (a secret too short, RFC 7143 §12.1.3).
export { ChapConfigError } from '../login/chap.js';
export { BENCH_PATTERNS, runBench, parseSize, type BenchOptions, type BenchResult, type BenchPattern, type BenchProgress } from './bench.js';
export type { CommandResult } from './core/result.js';
export { SESSION_EVENT_TYPES, type SessionEvent, type SessionEventType } from './events.js';
export type { EventIterator } from '../util/event-channel.js';
export { TaskHandle } from './core/task.js';
export type { LockMode, LockStats } from './core/locks.js';
export { InitiatorCore, type CoreLink, type CoreOptions, type CommandRequest, type LinkState, type CoreStats } from './core/initiator-core.js';
export { LoginExchange, loginStatusError, type LoginExchangeOptions, type LoginOutcome, type LoginStep } from './core/login.js';
export { TextExchange, parseSendTargets, parseTargetAddress } from './core/text.js';
export { ReconnectPolicy, type ReconnectOptions } from './recovery.js';
export { Transport } from './transport.js';
