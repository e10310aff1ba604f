// The block backends: the stores a logical unit keeps its blocks in, and the CLI's LUN spec.

export type { BackendTaskManagement, BackendTmfType, BlockBackend, ExtentStatus, SidecarStore, WriteOptions } from './types.js';
export { BackendError, LunSpecError, type BackendErrorCode, type LunSpecProblem } from './errors.js';
export { MemoryBackend, type MemoryBackendOptions } from './memory.js';
export { FileBackend, type FileBackendOptions } from './file.js';
export { ForwardingBackend, type OptionalBackendMethod } from './forwarding.js';
export { DelayBackend, ioClock } from './delay.js';
export type { Clock, TimerHandle } from '../util/clock.js';
export { openBackend, parseLunSpec, type LunSpec, type OpenBackendOptions } from './spec.js';
export { parseSize } from '../util/size.js';
export type { WriteZeroesOptions } from './types.js';
export { NbdBackend, NbdConnectError, NbdIoError, NbdProtocolError, openRemoteBackend, type NbdBackendOptions, type RemoteLunSpec } from './nbd/index.js';
