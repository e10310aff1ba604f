// MultipathSession against real targets: two portals of one tsiscsi target (one LU, no ALUA: every port
// fully active), and tgtd reached directly and through a proxy. Paths are cut under a write load (the
// proxy drops every connection, as a network failure would); every acknowledged write must read back,
// and the cut path must come back and carry commands again.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PathIdentityError } from '../../src/initiator/errors.js';
import { MultipathSession } from '../../src/initiator/multipath/multipath-session.js';
import type { MultipathEvent } from '../../src/initiator/multipath/options.js';
import { crc32c } from '../../src/pdu/crc32c.js';
import { buildServer } from '../../src/target/config.js';
import type { TargetServer } from '../../src/target/server.js';
import { TcpProxy } from '../initiator/proxy.js';
import { haveTools, interopDisabled, startTgtd, type Tgtd } from './peers.js';

const IQN = 'iqn.2026-12.io.tsiscsi.test:multipath';
const CLI = new URL('../../bin/tsiscsi', import.meta.url).pathname;

/** The CLI as a child (the target runs in this process, so never a synchronous spawn). */
function cli(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn('timeout', ['-s', 'KILL', '60', CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('close', (status) => resolve({ status, stdout: out, stderr: err }));
  });
}
const BS = 512;

/** A block naming its LBA and generation, with a CRC32C of the rest: a read shows which write it holds. */
function stamped(lba: number, gen: number): Buffer {
  const b = Buffer.alloc(BS, gen & 0xff);
  b.writeUInt32LE(lba, 0);
  b.writeUInt32LE(gen, 4);
  b.writeUInt32LE(crc32c(b, 0, 0, BS - 4), BS - 4);
  return b;
}

/** Until `cond` holds, or fails after `ms`. */
async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * `workers` writers, each on its own blocks, writing stamped blocks until `stop`, then reading every
 * block back: it must hold the last acknowledged generation (no write of it failed).
 */
async function writeLoad(m: MultipathSession, workers: number, blocksEach: number, stop: () => boolean): Promise<{ writes: number }> {
  let writes = 0;
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      const last = new Map<number, number>();
      let gen = w << 20;
      while (!stop()) {
        const lba = w * blocksEach + (gen % blocksEach);
        gen++;
        await m.write(lba, stamped(lba, gen));
        last.set(lba, gen);
        writes++;
      }
      for (const [lba, g] of last) {
        const b = await m.read(lba, 1);
        expect(b.readUInt32LE(BS - 4), `LBA ${lba} is a whole block`).toBe(crc32c(b, 0, 0, BS - 4));
        expect(b.readUInt32LE(4), `LBA ${lba} holds its last acknowledged write`).toBe(g);
      }
    }),
  );
  return { writes };
}

describe.skipIf(interopDisabled)('multipath: two portals of one tsiscsi target', () => {
  let server: TargetServer;
  let dir: string;
  let ports: number[];
  const url = (port: number, lun = 0): string => `iscsi://127.0.0.1:${port}/${IQN}/${lun}`;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tsiscsi-mp-'));
    server = await buildServer(
      { portals: ['127.0.0.1:0', '127.0.0.1:0'], targets: [{ iqn: IQN, luns: [`${dir}/lun0.img,size=16M`, `${dir}/lun1.img,size=16M`] }] },
      pino({ level: process.env.TSISCSI_TEST_LOG ?? 'silent' }, pino.destination(2)),
    );
    ports = (await server.listen()).map((b) => b.port);
  });
  afterAll(async () => {
    await server?.close({ graceMs: 200 });
    rmSync(dir, { recursive: true, force: true });
  });

  it('sees one device through both portals and spreads commands over them (no ALUA: both active)', async () => {
    const m = await MultipathSession.connect([url(ports[0]!), url(ports[1]!)]);
    try {
      expect(m.paths().map((p) => [p.status, p.aluaStateName])).toEqual([
        ['up', 'active/optimized'],
        ['up', 'active/optimized'],
      ]);
      // Each port reports its own relative target port (SPC-4 §7.8.6.7).
      expect(m.paths().map((p) => p.relativeTargetPort)).toEqual([expect.any(Number), expect.any(Number)]);
      const data = Buffer.concat([stamped(100, 1), stamped(101, 1)]);
      await m.write(100, data);
      for (let i = 0; i < 10; i++) expect((await m.read(100, 2)).equals(data)).toBe(true);
      const counts = m.paths().map((p) => p.commands);
      expect(counts[0]).toBeGreaterThan(3);
      expect(counts[1]).toBeGreaterThan(3);
    } finally {
      await m.close();
    }
  });

  it('CLI: write and read take several URLs of one LU, and bench --json counts the I/Os of each path', async () => {
    const data = Buffer.alloc(64 * BS);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
    const input = join(dir, 'in.bin');
    const output = join(dir, 'out.bin');
    writeFileSync(input, data);
    const w = await cli(['write', url(ports[0]!), url(ports[1]!), '--lba', '300', '-i', input]);
    expect([w.status, w.stderr]).toEqual([0, '']);
    const r = await cli(['read', url(ports[1]!), '--path', url(ports[0]!), '--lba', '300', '--blocks', '64', '-o', output]);
    expect([r.status, r.stderr]).toEqual([0, '']);
    expect(readFileSync(output).equals(data)).toBe(true);
    const b = await cli(['bench', url(ports[0]!), url(ports[1]!), '--rw', 'randread', '--qd', '4', '--time', '1', '--json']);
    expect(b.status).toBe(0);
    const j = JSON.parse(b.stdout) as { ios: number; paths: { url: string; ios: number; share: number; aluaState: string }[] };
    expect(j.paths.map((p) => [p.url, p.aluaState])).toEqual([
      [url(ports[0]!), 'active/optimized'],
      [url(ports[1]!), 'active/optimized'],
    ]);
    expect(j.paths[0]!.ios + j.paths[1]!.ios).toBeGreaterThanOrEqual(j.ios);
    expect(Math.min(j.paths[0]!.share, j.paths[1]!.share)).toBeGreaterThan(0.3);
  });

  it('CLI: URLs of different LUs are a usage error (exit 2), no path at all cannot connect (exit 3)', async () => {
    const r = await cli(['read', url(ports[0]!, 0), url(ports[1]!, 1), '--lba', '0', '--blocks', '1', '-o', join(dir, 'x')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^tsiscsi read: iscsi:\/\/.*\/1 reaches another logical unit .* not a path of this device\n$/);
    const n = await cli(['read', 'iscsi://127.0.0.1:1/iqn.x:y/0', 'iscsi://127.0.0.1:2/iqn.x:y/0', '--lba', '0', '--blocks', '1', '-o', join(dir, 'x')]);
    expect(n.status).toBe(3);
    expect(n.stderr).toMatch(/^tsiscsi read: no path to the LU could be opened \(iscsi:\/\/127\.0\.0\.1:1\/iqn\.x:y\/0: cannot connect .*; iscsi:\/\/127\.0\.0\.1:2\/iqn\.x:y\/0: cannot connect .*\)\n$/);
  });

  it('refuses two URLs that name different LUs', async () => {
    await expect(MultipathSession.connect([url(ports[0]!, 0), url(ports[1]!, 1)])).rejects.toBeInstanceOf(PathIdentityError);
  });

  it('moves the writes of a cut path to the other, loses none, and takes the path back when it returns', async () => {
    const proxy = await TcpProxy.start(ports[1]!);
    const m = await MultipathSession.connect([url(ports[0]!), url(proxy.port)]);
    const events: MultipathEvent[] = [];
    m.on('event', (e) => events.push(e));
    try {
      let stop = false;
      const load = writeLoad(m, 8, 64, () => stop);
      for (let cut = 0; cut < 3; cut++) {
        // Up again after the previous cut (its going down seen first, so that no stale 'up' counts).
        await until(() => m.paths()[1]!.downs === cut && m.paths()[1]!.status === 'up', 10_000, 'the proxied path is up');
        const before = m.paths()[1]!.commands;
        await until(() => m.paths()[1]!.commands > before + 20, 10_000, 'the proxied path carries writes');
        proxy.cut();
      }
      await until(() => m.paths()[1]!.downs === 3 && m.paths()[1]!.status === 'up', 10_000, 'the proxied path is back');
      stop = true;
      const { writes } = await load;
      expect(writes).toBeGreaterThan(100);
      expect(m.paths()[1]!.downs).toBe(3);
      expect(events.filter((e) => e.type === 'path-down')).toHaveLength(3);
      expect(events.filter((e) => e.type === 'path-up').length).toBeGreaterThanOrEqual(3);
    } finally {
      await m.close();
      await proxy.close();
    }
  });

  it('keeps serving through the other path while one refuses connections, and fails back when it accepts again', async () => {
    const proxy = await TcpProxy.start(ports[1]!);
    const m = await MultipathSession.connect([url(ports[0]!), url(proxy.port)]);
    try {
      proxy.refuse = true;
      proxy.cut();
      await until(() => m.paths()[1]!.status !== 'up', 5000, 'the proxied path is down');
      for (let i = 0; i < 20; i++) await m.write(i, stamped(i, 7));
      const through = m.paths()[1]!.commands;
      proxy.refuse = false;
      await until(() => m.paths()[1]!.status === 'up', 10_000, 'the proxied path is back');
      for (let i = 0; i < 20; i++) expect((await m.read(i, 1)).readUInt32LE(4)).toBe(7);
      expect(m.paths()[1]!.commands).toBeGreaterThan(through);
    } finally {
      await m.close();
      await proxy.close();
    }
  });
});

describe.skipIf(interopDisabled)('multipath: tgtd directly and through a proxy', () => {
  let t: Tgtd;
  let proxy: TcpProxy;
  beforeAll(async () => {
    haveTools('tgtd', 'tgtadm');
    t = await startTgtd({ sizeMiB: 16 });
    proxy = await TcpProxy.start(t.port);
  });
  afterAll(async () => {
    await proxy?.close();
    await t?.stop();
  });

  it('sees one device on both paths and loses no write when one is cut', async () => {
    const m = await MultipathSession.connect([t.url, t.url.replace(`:${t.port}/`, `:${proxy.port}/`)]);
    try {
      expect(m.paths().map((p) => p.status)).toEqual(['up', 'up']);
      let stop = false;
      const load = writeLoad(m, 4, 64, () => stop);
      await until(() => m.paths()[1]!.commands > 20, 10_000, 'the proxied path carries writes');
      proxy.cut();
      await until(() => m.paths()[1]!.status === 'up' && m.paths()[1]!.downs === 1, 10_000, 'the proxied path is back');
      const before = m.paths()[1]!.commands;
      await until(() => m.paths()[1]!.commands > before + 10, 10_000, 'it carries writes again');
      stop = true;
      expect((await load).writes).toBeGreaterThan(40);
    } finally {
      await m.close();
    }
  });
});
