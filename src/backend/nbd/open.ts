// Opens the backend a remote LUN spec names: an NBD export directly, or a Ceph RBD image through a
// qemu-nbd child of ours (qemu's rbd driver; Debian's qemu-block-extra) on a private unix socket.

import { setTimeout as sleep } from 'node:timers/promises';
import { NbdBackend, type BackendLog, type NbdBackendOptions } from './backend.js';
import { NbdConnectError } from './errors.js';
import { QemuNbd } from './qemu-nbd.js';
import type { NbdLunSpec, RbdLunSpec, RemoteLunSpec } from './spec.js';

/** Options of {@link openRemoteBackend}. */
export interface OpenRemoteOptions {
  log?: BackendLog;
  /** The qemu-nbd binary for rbd: LUNs (default: `qemu-nbd` on PATH). */
  qemuNbd?: string;
}

/** How long qemu-nbd gets to open an RBD image and listen (librbd connects to the monitors first). */
const RBD_READY_MS = 30_000;
/** After a failed first connection, how long to wait for qemu-nbd's exit that explains it. */
const EXIT_EXPLAINS_MS = 1000;

function common(s: RemoteLunSpec, log: BackendLog | undefined): Omit<NbdBackendOptions, 'endpoint' | 'exportName' | 'url'> {
  return {
    readOnly: s.readOnly,
    ...(s.removable === true && { removable: true }),
    ...(s.conns !== undefined && { conns: s.conns }),
    ...(s.timeoutMs !== undefined && { timeoutMs: s.timeoutMs }),
    ...(s.blockSize !== undefined && { blockSize: s.blockSize }),
    ...(log !== undefined && { log }),
  };
}

/**
 * Opens a remote LUN. An NBD server that cannot be reached, or an RBD image qemu-nbd cannot open, is
 * an {@link NbdConnectError} whose one-line message names the URL or the image.
 */
export async function openRemoteBackend(s: RemoteLunSpec, opts: OpenRemoteOptions = {}): Promise<NbdBackend> {
  return s.kind === 'nbd' ? openNbd(s, opts) : openRbd(s, opts);
}

function openNbd(s: NbdLunSpec, opts: OpenRemoteOptions): Promise<NbdBackend> {
  return NbdBackend.open({ endpoint: s.endpoint, exportName: s.exportName, url: s.url, ...common(s, opts.log) });
}

async function openRbd(s: RbdLunSpec, opts: OpenRemoteOptions): Promise<NbdBackend> {
  const name = `rbd:${s.pool}/${s.image}`;
  const log = opts.log ?? { info() {}, warn() {}, error() {} };
  const file: Record<string, unknown> = { driver: 'rbd', pool: s.pool, image: s.image };
  if (s.conf !== undefined) file.conf = s.conf;
  if (s.id !== undefined) file.user = s.id;
  let q: QemuNbd;
  try {
    q = await QemuNbd.start(
      {
        image: { driver: 'raw', file },
        exportName: s.image,
        // One client per connection of the LUN, and one spare for a reconnect racing the old one's close.
        shared: (s.conns ?? 1) + 1,
        readOnly: s.readOnly,
        name,
        log,
        ...(opts.qemuNbd !== undefined && { command: opts.qemuNbd }),
      },
      RBD_READY_MS,
    );
  } catch (e) {
    throw new NbdConnectError(name, (e as Error).message, { cause: e, what: 'cannot serve' });
  }
  try {
    return await NbdBackend.open({
      endpoint: { path: q.socketPath },
      exportName: s.image,
      url: name,
      kind: 'rbd',
      // qemu-nbd accepts while librbd still opens the image: the handshake waits for it.
      connectTimeoutMs: RBD_READY_MS,
      ...common(s, opts.log),
      onClose: () => q.stop(),
    });
  } catch (e) {
    // The usual reason is qemu-nbd's own (no such image, no keyring): give its last words.
    await sleep(EXIT_EXPLAINS_MS);
    const why = q.stderrTail.split('\n').pop();
    await q.stop();
    if (why !== undefined && why !== '') throw new NbdConnectError(name, why, { cause: e, what: 'cannot serve' });
    throw e;
  }
}
