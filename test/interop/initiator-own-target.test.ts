// The initiator against the project's own target (`tsiscsi target`, spawned on a free port): the same
// 8 MiB write/read as against tgtd, CHAP, and a connection cut in the middle of a write load.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Session } from '../../src/initiator/session.js';
import { TcpProxy } from '../initiator/proxy.js';
import { freePort, interopDisabled, waitForPort } from './peers.js';

const CLI = new URL('../../bin/tsiscsi', import.meta.url).pathname;
const IQN = 'iqn.2026-11.io.tsiscsi:target0';

function cli(args: string[], input?: Buffer) {
  const r = spawnSync(CLI, args, { input, maxBuffer: 1 << 28, timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

const pattern = (n: number, seed: number): Buffer => {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i += 4) b.writeUInt32LE((Math.imul(i + 1, 2654435761) ^ seed) >>> 0, i);
  return b;
};

async function startTarget(extra: string[]): Promise<{ port: number; proc: ChildProcess; dir: string; file: string; stop: () => Promise<void> }> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'tsiscsi-own-'));
  const file = join(dir, 'lun0.img');
  const proc = spawn(CLI, ['target', '--portal', `127.0.0.1:${port}`, '--lun', `${file},size=64M`, '--log-level', 'error', ...extra], { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitForPort(port);
  return {
    port,
    proc,
    dir,
    file,
    async stop() {
      proc.kill('SIGKILL');
      await new Promise((r) => (proc.exitCode !== null ? r(null) : proc.once('exit', r)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe.skipIf(interopDisabled)('initiator against tsiscsi target', () => {
  let t: Awaited<ReturnType<typeof startTarget>>;
  let url: string;
  beforeAll(async () => {
    t = await startTarget([]);
    url = `iscsi://127.0.0.1:${t.port}/${IQN}/0`;
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('tsiscsi write of 8 MiB at LBA 2048 lands in the LUN file there; tsiscsi read returns it', () => {
    const data = pattern(8 << 20, 0xbeef);
    const input = join(t.dir, 'in.bin');
    writeFileSync(input, data);
    const w = cli(['write', url, '--lba', '2048', '-i', input]);
    expect(w.stderr).toBe('');
    expect(w.status).toBe(0);
    const r = cli(['read', url, '--lba', '2048', '--blocks', String(data.length / 512)]);
    expect(r.status).toBe(0);
    expect(r.stdout.equals(data)).toBe(true);
    const got = Buffer.alloc(data.length);
    const fd = openSync(t.file, 'r');
    readSync(fd, got, 0, got.length, 2048 * 512);
    closeSync(fd);
    expect(got.equals(data)).toBe(true);
  });

  it('discovers it and lists its LUN', () => {
    expect(cli(['discover', `127.0.0.1:${t.port}`]).stdout.toString()).toMatch(new RegExp(`127\\.0\\.0\\.1:${t.port},\\d+ ${IQN.replace(/\./g, '\\.')}`));
    expect(cli(['ls', `iscsi://127.0.0.1:${t.port}`]).stdout.toString()).toMatch(/Lun:0 Type:DIRECT_ACCESS .*Size:64 MiB/);
  });

  it('completes every write exactly once after the connection is cut mid-load, and the data reads back', async () => {
    const proxy = await TcpProxy.start(t.port);
    const s = await Session.connect(`iscsi://127.0.0.1:${proxy.port}/${IQN}/0`, { reconnect: { minDelay: 50, maxDelay: 500 } });
    try {
      await s.readCapacity();
      const N = 400;
      const completions = new Array<number>(N).fill(0);
      const failures: unknown[] = [];
      let next = 0;
      let done = 0;
      const worker = async (): Promise<void> => {
        while (next < N) {
          const i = next++;
          try {
            await s.write(30_000 + i * 32, pattern(32 * 512, i));
            completions[i]!++;
          } catch (e) {
            failures.push(e);
          }
          if (++done === 100) proxy.cut();
        }
      };
      await Promise.all(Array.from({ length: 16 }, worker));
      expect(failures).toEqual([]);
      expect(completions.every((c) => c === 1)).toBe(true);
      expect(s.stats().reconnects).toBeGreaterThanOrEqual(1);
      for (let i = 0; i < N; i++) expect((await s.read(30_000 + i * 32, 32)).equals(pattern(32 * 512, i))).toBe(true);
    } finally {
      await s.close();
      await proxy.close();
    }
  });
});

describe.skipIf(interopDisabled)('initiator CHAP against tsiscsi target', () => {
  let t: Awaited<ReturnType<typeof startTarget>>;
  beforeAll(async () => {
    process.env.TSISCSI_TEST_CHAP = 'alice-secret-123';
    t = await startTarget(['--chap', 'alice:env:TSISCSI_TEST_CHAP']);
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('logs in with CHAP and refuses a wrong secret clearly', () => {
    expect(cli(['readcap', `iscsi://alice%alice-secret-123@127.0.0.1:${t.port}/${IQN}/0`, '--json']).status).toBe(0);
    const r = cli(['readcap', `iscsi://alice%wrong-secret-0000@127.0.0.1:${t.port}/${IQN}/0`]);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/^tsiscsi readcap: login failed: Authentication failure/);
  });
});
