// The block backends: the stores a logical unit keeps its blocks in, and the CLI's LUN spec.

export type { BackendTaskManagement, BlockBackend, WriteOptions } from './types.js';
export { BackendError, LunSpecError, type BackendErrorCode, type LunSpecProblem } from './errors.js';
export { MemoryBackend, type MemoryBackendOptions } from './memory.js';
export { FileBackend, type FileBackendOptions } from './file.js';
export { DelayBackend, systemClock, type Clock } from './delay.js';
export { openBackend, parseLunSpec, parseSize, type LunSpec, type OpenBackendOptions } from './spec.js';
export type { WriteZeroesOptions } from './types.js';
export { NbdBackend, NbdConnectError, NbdIoError, NbdProtocolError, openRemoteBackend, type NbdBackendOptions, type RemoteLunSpec } from './nbd/index.js';
