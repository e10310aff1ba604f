// Faults of the medium under a running target, end to end: `tsiscsi target` in a child
// process, the library initiator on the wire. A full file system must give DATA PROTECT, SPACE
// ALLOCATION FAILED WRITE PROTECT (27h/07h) and leave the target serving; an I/O error MEDIUM ERROR;
// a LUN file unlinked under the target keeps being served (the open descriptor holds the inode, as a
// disk removed from the namespace but still open does on any Unix target).
//
// The full file system is real when it can be: a 1 MiB tmpfs mounted for the test (root only). Where
// mounting is not allowed the same test runs on the fault-injecting backend (`fault=enospc@...`), which
// raises the same errno error; the test's name says which ran.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScsiError } from '../../src/errors.js';
import { Session } from '../../src/initiator/session.js';
import { freePort, interopDisabled, waitForPort } from '../interop/peers.js';

const CLI = new URL('../../bin/tsiscsi', import.meta.url).pathname;
const IQN = 'iqn.2026-11.io.tsiscsi:faults';
const DATA_PROTECT = 0x07;
const MEDIUM_ERROR = 0x03;

interface Running {
  proc: ChildProcess;
  url: string;
  stderr: () => string;
  stop(): Promise<number | null>;
}

async function startTarget(lun: string): Promise<Running> {
  const port = await freePort();
  const proc = spawn(CLI, ['target', '--portal', `127.0.0.1:${port}`, '--iqn', IQN, '--lun', lun, '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  await waitForPort(port);
  return {
    proc,
    url: `iscsi://127.0.0.1:${port}/${IQN}/0`,
    stderr: () => err,
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      return new Promise((r) => (proc.exitCode !== null ? r(proc.exitCode) : proc.once('exit', (c) => r(c))));
    },
  };
}

/** Mounts a 1 MiB tmpfs at `dir`; false when this process may not mount. */
function mountSmallTmpfs(dir: string): boolean {
  if (process.getuid?.() !== 0) return false;
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { stdio: 'ignore' });
  return r.status === 0;
}

const pattern = (n: number, seed: number): Buffer => {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i += 4) b.writeUInt32LE((Math.imul(i + 1, 2654435761) ^ seed) >>> 0, i);
  return b;
};

/** Writes 64 KiB chunks from LBA 0 on until one fails; returns that error and the LBA it failed at. */
async function writeUntilFailure(s: Session, maxBlocks: number): Promise<{ error: unknown; lba: number }> {
  const chunk = pattern(64 * 1024, 7);
  for (let lba = 0; lba < maxBlocks; lba += 128) {
    try {
      await s.write(lba, chunk);
    } catch (error) {
      return { error, lba };
    }
  }
  return { error: undefined, lba: maxBlocks };
}

const base = mkdtempSync(join(tmpdir(), 'tsiscsi-faults-'));
const mnt = join(base, 'small');
mkdirSync(mnt);
const realEnospc = !interopDisabled && mountSmallTmpfs(mnt);

afterAll(() => {
  if (realEnospc) spawnSync('umount', ['-l', mnt], { stdio: 'ignore' });
  rmSync(base, { recursive: true, force: true });
});

describe.skipIf(interopDisabled)('a full file system under a file LUN', () => {
  let t: Running;
  beforeAll(async () => {
    // 8 MiB sparse on a 1 MiB tmpfs: the 17th 64 KiB write cannot be placed. Without a mount, the
    // fault backend refuses writes from LBA 2048 (1 MiB) on with ENOSPC, as the tmpfs would.
    t = await startTarget(realEnospc ? `${join(mnt, 'lun0.img')},size=8M` : 'mem:8M,fault=enospc@2048-');
  });
  afterAll(async () => {
    await t?.stop();
  });

  it(`answers DATA PROTECT, SPACE ALLOCATION FAILED WRITE PROTECT (27h/07h) and keeps serving (${realEnospc ? 'a real 1 MiB tmpfs' : 'injected ENOSPC: this machine may not mount'})`, async () => {
    const s = await Session.connect(t.url, { timeout: 10_000 });
    try {
      const { error, lba } = await writeUntilFailure(s, 16384);
      expect(error).toBeInstanceOf(ScsiError);
      const e = error as ScsiError;
      expect({ key: e.senseKey, asc: e.asc, ascq: e.ascq }).toEqual({ key: DATA_PROTECT, asc: 0x27, ascq: 0x07 });
      // It filled (about) the space there was before refusing.
      expect(lba).toBeGreaterThanOrEqual(1024);
      expect(lba).toBeLessThanOrEqual(2048);
      // What was acknowledged before is intact, and the session and the target are still up.
      const back = await s.read(0, 128);
      expect(back.equals(pattern(64 * 1024, 7))).toBe(true);
      await s.testUnitReady();
      expect(t.proc.exitCode).toBeNull();
    } finally {
      await s.close();
    }
    expect(await t.stop()).toBe(0);
  }, 60_000);
});

describe.skipIf(interopDisabled)('a backend I/O error', () => {
  it('is MEDIUM ERROR for the command that met it, and the next command to a good LBA succeeds', async () => {
    const t = await startTarget('mem:8M,fault=eio-read@100+eio-write@200');
    const s = await Session.connect(t.url, { timeout: 10_000 });
    try {
      const readErr = await s.read(96, 8).then(() => undefined, (e: unknown) => e);
      expect(readErr).toBeInstanceOf(ScsiError);
      expect((readErr as ScsiError).senseKey).toBe(MEDIUM_ERROR);
      const writeErr = await s.write(200, Buffer.alloc(512, 1)).then(() => undefined, (e: unknown) => e);
      expect(writeErr).toBeInstanceOf(ScsiError);
      expect((writeErr as ScsiError).senseKey).toBe(MEDIUM_ERROR);
      await s.write(300, Buffer.alloc(4096, 2));
      expect((await s.read(300, 8)).equals(Buffer.alloc(4096, 2))).toBe(true);
    } finally {
      await s.close();
      expect(await t.stop()).toBe(0);
    }
  }, 60_000);
});

describe.skipIf(interopDisabled)('a LUN file unlinked under the running target', () => {
  it('keeps being served from the open descriptor: writes and reads go on, nothing crashes', async () => {
    const dir = join(base, 'unlink');
    mkdirSync(dir);
    const file = join(dir, 'lun0.img');
    const t = await startTarget(`${file},size=16M`);
    const s = await Session.connect(t.url, { timeout: 10_000 });
    try {
      await s.write(0, pattern(32 * 1024, 1));
      unlinkSync(file);
      expect(existsSync(file)).toBe(false);
      await s.write(64, pattern(32 * 1024, 2));
      expect((await s.read(0, 64)).equals(pattern(32 * 1024, 1))).toBe(true);
      expect((await s.read(64, 64)).equals(pattern(32 * 1024, 2))).toBe(true);
      await s.synchronizeCache();
      expect(t.proc.exitCode).toBeNull();
    } finally {
      await s.close();
    }
    // Shutdown flushes and closes the (unlinked) file without complaint.
    expect(await t.stop()).toBe(0);
    expect(t.stderr()).not.toMatch(/"level":(50|60)/);
  }, 60_000);
});
