// NbdBackend against real NBD servers: qemu-nbd over a file (data where it belongs, zeroing, FUA,
// flush, several connections) and nbdkit with its filters (injected errors, delays for aborts, a
// server killed and restarted, block size limits, a server without MULTI_CONN or WRITE_ZEROES).

import { closeSync, mkdtempSync, openSync, readSync, rmSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackendError } from '../../../src/backend/errors.js';
import { NbdBackend, type BackendLog } from '../../../src/backend/nbd/backend.js';
import { NbdConnectError, NbdIoError } from '../../../src/backend/nbd/errors.js';
import { freePort, haveTools, interopDisabled } from '../../interop/peers.js';
import { startNbdkit, startQemuNbd, type NbdServer } from './peers.js';

const skip = interopDisabled || !haveTools('qemu-nbd', 'nbdkit', 'timeout');
const dir = mkdtempSync(join(tmpdir(), 'tsiscsi-nbd-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const pattern = (n: number, seed: number): Buffer => {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i += 4) b.writeUInt32LE((Math.imul(i + 1, 2654435761) ^ seed) >>> 0, i);
  return b;
};

function fileBytes(path: string, offset: number, length: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(length);
    readSync(fd, b, 0, length, offset);
    return b;
  } finally {
    closeSync(fd);
  }
}

function recordingLog(): BackendLog & { lines: string[] } {
  const lines: string[] = [];
  const put = (o: object, m: string) => lines.push(`${m} ${JSON.stringify(o)}`);
  return { lines, info: put, warn: put, error: put };
}

let seq = 0;
const sock = () => join(dir, `s${++seq}.sock`);
const pidFile = () => join(dir, `p${++seq}.pid`);

describe.skipIf(skip)('NbdBackend on qemu-nbd over a file', () => {
  let srv: NbdServer;
  let b: NbdBackend;
  const file = join(dir, 'qemu.img');
  beforeAll(async () => {
    sparseFile(file, 16 << 20);
    srv = await startQemuNbd({ path: sock() }, file, 'lun0', pidFile(), { shared: 4 });
    b = await NbdBackend.open({ endpoint: srv.endpoint, exportName: 'lun0', url: srv.url, conns: 4 });
  });
  afterAll(async () => {
    await b?.close();
    await srv?.stop();
  });

  it('learns size, block sizes and capabilities, and opens 4 connections (MULTI_CONN)', () => {
    expect(b.blocks).toBe((16 << 20) / 512);
    expect(b.blockSize).toBe(512);
    expect(b.physicalBlockSize).toBe(4096);
    expect(b.readOnly).toBe(false);
    expect(b.connections).toBe(4);
    expect(b.info.structuredReplies).toBe(true);
    expect(typeof b.unmap).toBe('function');
    expect(typeof b.writeZeroes).toBe('function');
    expect(b.unmapReadsZeros).toBe(true);
  });

  it('writes land in the file at LBA x 512, and read back through pipelined requests', async () => {
    const writes = Array.from({ length: 64 }, (_, i) => ({ lba: i * 97 + 3, data: pattern(4096, i) }));
    await Promise.all(writes.map((w) => b.write(w.lba, w.data, { fua: w.lba % 2 === 0 })));
    await b.flush();
    for (const w of writes) expect(fileBytes(file, w.lba * 512, 4096).equals(w.data)).toBe(true);
    const back = await Promise.all(
      writes.map(async (w) => {
        const into = Buffer.alloc(4096);
        await b.read(w.lba, 8, into);
        return into;
      }),
    );
    back.forEach((x, i) => expect(x.equals(writes[i]!.data)).toBe(true));
  });

  it('reads a hole as zeros into a dirty buffer', async () => {
    const into = Buffer.alloc(64 * 1024, 0xaa);
    await b.read(20000, 128, into);
    expect(into.every((x) => x === 0)).toBe(true);
  });

  it('zeroes with and without NO_HOLE, and unmapped blocks read back as zeros', async () => {
    await b.write(1000, pattern(8192, 9));
    await b.writeZeroes!(1000, 8, { mapped: true });
    await b.unmap!(1008, 8);
    const into = Buffer.alloc(8192, 1);
    await b.read(1000, 16, into);
    expect(into.every((x) => x === 0)).toBe(true);
    expect(fileBytes(file, 1000 * 512, 8192).every((x) => x === 0)).toBe(true);
  });

  it('refuses I/O beyond the capacity or with a bad buffer', async () => {
    await expect(b.read(b.blocks - 1, 2, Buffer.alloc(1024))).rejects.toBeInstanceOf(BackendError);
    await expect(b.write(0, Buffer.alloc(100))).rejects.toThrow(/write of 100 bytes/);
  });

  it('settles an already aborted request at once without sending it', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(b.read(0, 1, Buffer.alloc(512), ac.signal)).rejects.toMatchObject({ name: 'AbortError' });
  });
});

describe.skipIf(skip)('NbdBackend on nbdkit', () => {
  it('gets EIO and ENOSPC as errno errors, and serves again once the fault is gone', async () => {
    const trigger = join(dir, 'error-trigger');
    writeFileSync(trigger, '');
    const srv = await startNbdkit({ path: sock() }, pidFile(), ['error'], ['memory', '8M', 'error-pread=EIO', 'error-pwrite=ENOSPC', `error-file=${trigger}`, 'error-rate=1']);
    const b = await NbdBackend.open({ endpoint: srv.endpoint, exportName: '', url: srv.url });
    try {
      const re = await b.read(0, 1, Buffer.alloc(512)).catch((e: unknown) => e);
      expect(re).toBeInstanceOf(NbdIoError);
      expect((re as NbdIoError).code).toBe('EIO');
      expect((re as NbdIoError).errno).toBe(-5);
      const we = await b.write(0, Buffer.alloc(512, 1)).catch((e: unknown) => e);
      expect((we as NbdIoError).code).toBe('ENOSPC');
      unlinkSync(trigger);
      await b.write(0, Buffer.alloc(512, 1));
      const into = Buffer.alloc(512);
      await b.read(0, 1, into);
      expect(into.equals(Buffer.alloc(512, 1))).toBe(true);
      expect(b.connections).toBe(1);
    } finally {
      await b.close();
      await srv.stop();
    }
  });

  it('settles an aborted request at once, drops its late reply, and keeps matching later replies', async () => {
    const srv = await startNbdkit({ path: sock() }, pidFile(), ['delay'], ['memory', '8M', 'delay-read=1500ms']);
    const b = await NbdBackend.open({ endpoint: srv.endpoint, exportName: '', url: srv.url });
    try {
      await b.write(8, Buffer.alloc(512, 7));
      const ac = new AbortController();
      const slowInto = Buffer.alloc(512, 0xee);
      const slow = b.read(0, 1, slowInto, ac.signal);
      const other = Buffer.alloc(512);
      const next = b.read(8, 1, other);
      const t0 = performance.now();
      setTimeout(() => ac.abort(), 50);
      await expect(slow).rejects.toMatchObject({ name: 'AbortError' });
      expect(performance.now() - t0).toBeLessThan(500);
      await next;
      expect(other.equals(Buffer.alloc(512, 7))).toBe(true);
      // The aborted read's buffer was never written, even after its reply came.
      expect(slowInto.every((x) => x === 0xee)).toBe(true);
      expect(b.stats.aborted).toBe(1);
    } finally {
      await b.close();
      await srv.stop();
    }
  });

  it('splits a transfer larger than the maximum block size the server states', async () => {
    const srv = await startNbdkit({ path: sock() }, pidFile(), ['blocksize-policy'], ['memory', '8M', 'blocksize-maximum=65536', 'blocksize-preferred=4096', 'blocksize-minimum=512']);
    const b = await NbdBackend.open({ endpoint: srv.endpoint, exportName: '', url: srv.url });
    try {
      expect(b.info).toMatchObject({ minBlock: 512, maxPayload: 65536 });
      const data = pattern(1 << 20, 3);
      await b.write(100, data);
      const into = Buffer.alloc(1 << 20);
      await b.read(100, 2048, into);
      expect(into.equals(data)).toBe(true);
    } finally {
      await b.close();
      await srv.stop();
    }
  });

  it('uses one connection when the server does not advertise MULTI_CONN, and says so', async () => {
    const srv = await startNbdkit({ path: sock() }, pidFile(), ['multi-conn'], ['memory', '8M', 'multi-conn-mode=disable']);
    const log = recordingLog();
    const b = await NbdBackend.open({ endpoint: srv.endpoint, exportName: '', url: srv.url, conns: 4, log });
    try {
      expect(b.connections).toBe(1);
      expect(log.lines.join('\n')).toMatch(/does not advertise NBD_FLAG_CAN_MULTI_CONN: using one connection/);
    } finally {
      await b.close();
      await srv.stop();
    }
  });

  it('unmaps with TRIM and reports that unmapped blocks may not read as zeros without WRITE_ZEROES', async () => {
    const srv = await startNbdkit({ path: sock() }, pidFile(), ['nozero'], ['memory', '8M']);
    const b = await NbdBackend.open({ endpoint: srv.endpoint, exportName: '', url: srv.url });
    try {
      expect(b.writeZeroes).toBeUndefined();
      expect(typeof b.unmap).toBe('function');
      expect(b.unmapReadsZeros).toBe(false);
      await b.unmap!(0, 16);
    } finally {
      await b.close();
      await srv.stop();
    }
  });

  it('sends in-flight requests again after the server is killed and restarted, losing no acknowledged write', async () => {
    const port = await freePort();
    const file = join(dir, 'kill.img');
    sparseFile(file, 8 << 20);
    const ep = { host: '127.0.0.1', port };
    let srv = await startNbdkit(ep, pidFile(), [], ['file', file]);
    const log = recordingLog();
    const b = await NbdBackend.open({ endpoint: ep, exportName: '', url: srv.url, timeoutMs: 10_000, log, reconnectMaxMs: 200 });
    try {
      const acked: number[] = [];
      let stop = false;
      const writers = Array.from({ length: 8 }, async (_, w) => {
        for (let i = 0; !stop; i++) {
          const lba = (w * 100 + (i % 100)) * 8;
          await b.write(lba, pattern(4096, lba));
          acked.push(lba);
        }
      });
      await new Promise((r) => setTimeout(r, 200));
      await srv.kill();
      const killedAt = performance.now();
      await new Promise((r) => setTimeout(r, 300));
      srv = await startNbdkit(ep, pidFile(), [], ['file', file]);
      const before = acked.length;
      while (acked.length < before + 200) await new Promise((r) => setTimeout(r, 10));
      const backMs = performance.now() - killedAt;
      stop = true;
      await Promise.all(writers);
      expect(b.stats.reconnects).toBeGreaterThanOrEqual(1);
      expect(backMs).toBeLessThan(5000);
      for (const lba of new Set(acked)) expect(fileBytes(file, lba * 512, 4096).equals(pattern(4096, lba))).toBe(true);
      expect(log.lines.join('\n')).toMatch(/NBD connection re-established/);
    } finally {
      await b.close();
      await srv.stop();
    }
  }, 30_000);

  it('fails requests with ETIMEDOUT once the server stays away past the timeout', async () => {
    const ep = { path: sock() };
    const srv = await startNbdkit(ep, pidFile(), [], ['memory', '8M']);
    const b = await NbdBackend.open({ endpoint: ep, exportName: '', url: srv.url, timeoutMs: 400, reconnectMaxMs: 100 });
    try {
      await srv.kill();
      const t0 = performance.now();
      const e = await b.read(0, 1, Buffer.alloc(512)).catch((x: unknown) => x);
      const ms = performance.now() - t0;
      expect(e).toBeInstanceOf(NbdIoError);
      expect((e as NbdIoError).code).toBe('ETIMEDOUT');
      expect(ms).toBeGreaterThanOrEqual(350);
      expect(ms).toBeLessThan(1500);
    } finally {
      await b.close();
    }
  });

  it('names the URL when nothing listens', async () => {
    const port = await freePort();
    const e = await NbdBackend.open({ endpoint: { host: '127.0.0.1', port }, exportName: 'x', url: `nbd://127.0.0.1:${port}/x` }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(NbdConnectError);
    expect((e as Error).message).toBe(`cannot reach NBD server nbd://127.0.0.1:${port}/x: connect ECONNREFUSED 127.0.0.1:${port}`);
  });
});

/** A sparse file of `size` bytes. */
function sparseFile(path: string, size: number): void {
  closeSync(openSync(path, 'w'));
  truncateSync(path, size);
}
