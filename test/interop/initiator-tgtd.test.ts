// The initiator against tgtd (Debian tgt, the reference target; its LUN 0 is a controller, the disk LUN 1):
// the CLI as a user runs it, the library, CHAP and mutual CHAP with tgtadm accounts, and recovery from a
// TCP connection cut in the middle of a write load (through a proxy).
import { spawnSync } from 'node:child_process';
import { openSync, readSync, closeSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Session } from '../../src/initiator/session.js';
import { TcpProxy } from '../initiator/proxy.js';
import { haveTools, interopDisabled, startTgtd, type Tgtd } from './peers.js';

const CLI = new URL('../../bin/tsiscsi', import.meta.url).pathname;

function cli(args: string[], input?: Buffer) {
  const r = spawnSync(CLI, args, { input, maxBuffer: 1 << 28, timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

function fileBytes(path: string, offset: number, length: number): Buffer {
  const b = Buffer.alloc(length);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, b, 0, length, offset);
  } finally {
    closeSync(fd);
  }
  return b;
}

const pattern = (n: number, seed: number): Buffer => {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i += 4) b.writeUInt32LE((Math.imul(i + 1, 2654435761) ^ seed) >>> 0, i);
  return b;
};

describe.skipIf(interopDisabled)('initiator against tgtd', () => {
  let t: Tgtd;
  beforeAll(async () => {
    haveTools('tgtd', 'tgtadm');
    t = await startTgtd({ sizeMiB: 64 });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('tsiscsi write of 8 MiB at LBA 2048 lands in the backing file at that offset; tsiscsi read returns it', () => {
    const data = pattern(8 << 20, 0x5eed);
    const input = join(t.dir, 'in.bin');
    writeFileSync(input, data);
    const w = cli(['write', t.url, '--lba', '2048', '-i', input]);
    expect(w.stderr).toBe('');
    expect(w.status).toBe(0);
    expect(fileBytes(t.lunFile, 2048 * 512, data.length).equals(data)).toBe(true);
    const r = cli(['read', t.url, '--lba', '2048', '--blocks', String(data.length / 512)]);
    expect(r.status).toBe(0);
    expect(r.stdout.equals(data)).toBe(true);
    // stdin works the same way.
    const w2 = cli(['write', t.url, '--lba', '0'], data.subarray(0, 4096));
    expect(w2.status).toBe(0);
    expect(fileBytes(t.lunFile, 0, 4096).equals(data.subarray(0, 4096))).toBe(true);
  });

  it('discovers the target, lists its LUNs, and shows INQUIRY and capacity', () => {
    const d = cli(['discover', `127.0.0.1:${t.port}`]);
    expect(d.status).toBe(0);
    expect(d.stdout.toString()).toBe(`127.0.0.1:${t.port},1 ${t.iqn}\n`);
    const ls = cli(['ls', `iscsi://127.0.0.1:${t.port}`]);
    expect(ls.status).toBe(0);
    expect(ls.stdout.toString()).toMatch(/Lun:0 Type:STORAGE_ARRAY_CONTROLLER/);
    expect(ls.stdout.toString()).toMatch(/Lun:1 Type:DIRECT_ACCESS \(IET VIRTUAL-DISK\) Size:64 MiB/);
    const inq = cli(['inquiry', t.url, '--json']);
    expect(JSON.parse(inq.stdout.toString())).toMatchObject({ vendor: 'IET', product: 'VIRTUAL-DISK', deviceTypeName: 'DIRECT_ACCESS' });
    const cap = cli(['readcap', t.url, '--json']);
    expect(JSON.parse(cap.stdout.toString())).toMatchObject({ blocks: 131072, blockSize: 512 });
  });

  it('says clearly when the target name is wrong or nothing listens', () => {
    const bad = cli(['readcap', `iscsi://127.0.0.1:${t.port}/iqn.2026-01.no.such:target/1`]);
    expect(bad.status).toBe(3);
    expect(bad.stderr).toMatch(/^tsiscsi readcap: login failed: Not found \(status class 0x02, detail 0x03/);
    expect(bad.stderr.split('\n').filter(Boolean)).toHaveLength(1);
  });

  it('reads and writes through the library with header and data digests', async () => {
    // tgtd answers None whatever is offered unless its target allows CRC32C.
    t.tgtadm('--mode', 'target', '--op', 'update', '--tid', '1', '--name', 'HeaderDigest', '--value', 'CRC32C,None');
    t.tgtadm('--mode', 'target', '--op', 'update', '--tid', '1', '--name', 'DataDigest', '--value', 'CRC32C,None');
    const s = await Session.connect(t.url, { headerDigest: 'crc32c', dataDigest: 'crc32c' });
    try {
      expect(s.params!.connection).toMatchObject({ headerDigest: 'CRC32C', dataDigest: 'CRC32C' });
      const data = pattern(1 << 20, 7);
      await s.write(20_000, data);
      expect((await s.read(20_000, data.length / 512)).equals(data)).toBe(true);
    } finally {
      await s.close();
    }
  });

  it('completes every write exactly once after the TCP connection is cut mid-load, and the data reads back', async () => {
    const proxy = await TcpProxy.start(t.port);
    const s = await Session.connect(`iscsi://127.0.0.1:${proxy.port}/${t.iqn}/1`, { reconnect: { minDelay: 50, maxDelay: 500 } });
    try {
      await s.readCapacity();
      const N = 600;
      const blocks = 64;
      const completions = new Array<number>(N).fill(0);
      const failures: unknown[] = [];
      let next = 0;
      let done = 0;
      let cut = false;
      const worker = async (): Promise<void> => {
        while (next < N) {
          const i = next++;
          try {
            await s.write(40_000 + i * blocks, pattern(blocks * 512, i));
            completions[i]!++;
          } catch (e) {
            failures.push(e);
          }
          if (++done === 150 && !cut) {
            cut = true;
            proxy.cut();
          }
        }
      };
      await Promise.all(Array.from({ length: 16 }, worker));
      expect(failures).toEqual([]);
      expect(completions.every((c) => c === 1)).toBe(true);
      expect(cut).toBe(true);
      expect(s.stats().reconnects).toBeGreaterThanOrEqual(1);
      expect(proxy.connections).toBeGreaterThanOrEqual(2);
      for (let i = 0; i < N; i += 1) {
        const want = pattern(blocks * 512, i);
        expect((await s.read(40_000 + i * blocks, blocks)).equals(want)).toBe(true);
        expect(fileBytes(t.lunFile, (40_000 + i * blocks) * 512, want.length).equals(want)).toBe(true);
      }
    } finally {
      await s.close();
      await proxy.close();
    }
  });

  it('bench prints one JSON object with iops', () => {
    const r = cli(['bench', t.url, '--rw', 'randread', '--bs', '4k', '--qd', '8', '--time', '1', '--json']);
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout.toString()) as { iops: number; latency: { p99: number } };
    expect(j.iops).toBeGreaterThan(0);
    expect(j.latency.p99).toBeGreaterThan(0);
  });
});

describe.skipIf(interopDisabled)('initiator CHAP against tgtd accounts', () => {
  let t: Tgtd;
  beforeAll(async () => {
    haveTools('tgtd', 'tgtadm');
    t = await startTgtd({ sizeMiB: 16 });
    t.tgtadm('--mode', 'account', '--op', 'new', '--user', 'alice', '--password', 'alice-secret-123');
    t.tgtadm('--mode', 'account', '--op', 'bind', '--tid', '1', '--user', 'alice');
    t.tgtadm('--mode', 'account', '--op', 'new', '--user', 'tgtname', '--password', 'target-secret-456');
    t.tgtadm('--mode', 'account', '--op', 'bind', '--tid', '1', '--user', 'tgtname', '--outgoing');
  });
  afterAll(async () => {
    await t?.stop();
  });
  const url = (userinfo: string, query = '') => `iscsi://${userinfo}127.0.0.1:${t.port}/${t.iqn}/1${query}`;

  it('refuses a login without CHAP', () => {
    const r = cli(['readcap', url('')]);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/login failed: Authentication failure/);
  });

  it('logs in with CHAP', async () => {
    expect(cli(['readcap', url('alice%alice-secret-123@'), '--json']).status).toBe(0);
    const s = await Session.connect(url('alice%alice-secret-123@'));
    await s.testUnitReady();
    await s.close();
  });

  it('reports a wrong secret as an authentication failure, in one line', () => {
    const r = cli(['readcap', url('alice%not-alices-secret@')]);
    expect(r.status).toBe(3);
    expect(r.stderr).toBe('tsiscsi readcap: login failed: Authentication failure (status class 0x02, detail 0x01, RFC 7143 §11.13.5): check the CHAP user and secret\n');
  });

  it('logs in with mutual CHAP, and refuses a target that does not know the target secret', () => {
    expect(cli(['readcap', url('alice%alice-secret-123@', '?target_user=tgtname&target_password=target-secret-456'), '--json']).status).toBe(0);
    const r = cli(['readcap', url('alice%alice-secret-123@', '?target_user=tgtname&target_password=another-secret-789')]);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/authentication failed: the target CHAP_R does not match/);
  });

  it('takes the secret from LIBISCSI_CHAP_PASSWORD when the URL has only the user', () => {
    const r = spawnSync(CLI, ['readcap', url('alice@'), '--json'], { env: { ...process.env, LIBISCSI_CHAP_PASSWORD: 'alice-secret-123' } });
    expect(r.status).toBe(0);
  });
});
