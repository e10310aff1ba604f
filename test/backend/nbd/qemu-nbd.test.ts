// The qemu-nbd supervisor behind rbd: LUNs, on a plain file image (the same child, driver and socket
// handling, no Ceph needed): it serves, it is restarted with backoff when killed and the LUN's NBD
// connection comes back, its stderr reaches the log, a failed start says why, and stop leaves nothing.

import { closeSync, existsSync, mkdtempSync, openSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NbdBackend, type BackendLog } from '../../../src/backend/nbd/backend.js';
import { QemuNbd } from '../../../src/backend/nbd/qemu-nbd.js';
import { haveTools, interopDisabled } from '../../interop/peers.js';

const skip = interopDisabled || !haveTools('qemu-nbd');
const dir = mkdtempSync(join(tmpdir(), 'tsiscsi-qemu-nbd-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function recordingLog(): BackendLog & { lines: string[] } {
  const lines: string[] = [];
  const put = (o: object, m: string) => lines.push(`${m} ${JSON.stringify(o)}`);
  return { lines, info: put, warn: put, error: put };
}

describe.skipIf(skip)('QemuNbd', () => {
  it('serves an image, is restarted after a SIGKILL, and the LUN reconnects to it', async () => {
    const file = join(dir, 'img.raw');
    closeSync(openSync(file, 'w'));
    truncateSync(file, 8 << 20);
    const log = recordingLog();
    const q = await QemuNbd.start({ image: { driver: 'raw', file: { driver: 'file', filename: file } }, exportName: 'img', shared: 2, readOnly: false, name: 'test:img', log }, 10_000);
    const b = await NbdBackend.open({ endpoint: { path: q.socketPath }, exportName: 'img', url: 'test:img', log, reconnectMaxMs: 200, onClose: () => q.stop() });
    try {
      await b.write(0, Buffer.alloc(4096, 9), { fua: true });
      const first = q.pid!;
      process.kill(first, 'SIGKILL');
      // A read issued while it is down waits for the new child and then succeeds.
      const into = Buffer.alloc(4096);
      await b.read(0, 8, into);
      expect(into.equals(Buffer.alloc(4096, 9))).toBe(true);
      expect(q.restarts).toBe(1);
      expect(q.pid).not.toBe(first);
      expect(log.lines.join('\n')).toMatch(/qemu-nbd exited; restarting it/);
      expect(b.stats.reconnects).toBeGreaterThanOrEqual(1);
    } finally {
      await b.close();
    }
    // close() stopped it and removed its private directory.
    expect(existsSync(dirname(q.socketPath))).toBe(false);
  }, 30_000);

  it('fails to start with qemu-nbd\'s own last line when the image cannot be opened', async () => {
    const log = recordingLog();
    const e = await QemuNbd.start({ image: { driver: 'raw', file: { driver: 'file', filename: join(dir, 'missing.raw') } }, exportName: 'x', shared: 1, readOnly: false, name: 'test:missing', log }, 10_000).catch(
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(Error);
    expect((e as Error).message).toMatch(/^qemu-nbd: .*missing\.raw.*No such file or directory/);
    expect(log.lines.join('\n')).toMatch(/No such file or directory/);
    expect(log.lines.join('\n')).not.toMatch(/restarting/);
  });
});
