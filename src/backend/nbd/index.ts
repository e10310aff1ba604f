// The NBD client backend: LUNs on any NBD server, and on Ceph RBD images through a qemu-nbd child.

export { NbdBackend, DEFAULT_NBD_TIMEOUT_MS, type BackendLog, type NbdBackendOptions } from './backend.js';
export type { NbdEndpoint } from './connection.js';
export { NbdConnectError, NbdIoError, NbdProtocolError, type NbdErrnoCode, type NbdProtocolErrorCode } from './errors.js';
export type { ExportInfo } from './handshake.js';
export { openRemoteBackend, type OpenRemoteOptions } from './open.js';
export { QemuNbd, type QemuNbdOptions } from './qemu-nbd.js';
export { isRemoteLunSpec, parseRemoteLunSpec, type NbdLunSpec, type RbdLunSpec, type RemoteLunSpec } from './spec.js';
