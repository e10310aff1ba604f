// `tsiscsi target --workers N`: worker processes, each owning whole targets and serving their
// connections end to end (the main process only routes each connection by its first Login Request).
// Discovery, logins to targets of different workers, the admin socket across processes, SIGTERM, and a
// worker that dies (restarted; one that keeps dying stops the target).

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Session, discover } from '../../src/initiator/index.js';
import { haveTools, interopDisabled, runAsync } from './peers.js';
import { CLI, spawnTarget } from './tsiscsi.js';

type Spawned = Awaited<ReturnType<typeof spawnTarget>>;
type LogLine = Record<string, unknown> & { msg: string };

const A = 'iqn.2026-12.io.tsiscsi.test:wa';
const B = 'iqn.2026-12.io.tsiscsi.test:wb';
const C = 'iqn.2026-12.io.tsiscsi.test:wc';

function logLines(t: Spawned): LogLine[] {
  return t
    .stderr()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);
}

/** Waits (bounded) for a log line the predicate accepts (among those after the first `after`), and returns it. */
async function logLine(t: Spawned, pred: (l: LogLine) => boolean, { after = 0, timeoutMs = 20_000 } = {}): Promise<LogLine> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const l = logLines(t).slice(after).find(pred);
    if (l !== undefined) return l;
    if (Date.now() > deadline) throw new Error(`no such log line within ${timeoutMs} ms:\n${t.stderr().slice(-3000)}`);
    await sleep(50);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The pid of the worker serving `target`, from its latest 'worker started' line. */
function workerOf(t: Spawned, target: string): { worker: number; pid: number } {
  const l = logLines(t)
    .filter((x) => x.msg === 'worker started' && (x.targets as string[]).includes(target))
    .at(-1);
  if (l === undefined) throw new Error(`no worker started for ${target}`);
  return { worker: l.worker as number, pid: l.pid as number };
}

async function admin(sock: string, ...args: string[]): Promise<unknown> {
  const r = await runAsync(CLI, ['admin', '--socket', sock, ...args, '--json'], { timeoutMs: 30_000 });
  if (r.status !== 0) throw new Error(`tsiscsi admin ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

describe.skipIf(interopDisabled)('target with worker processes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsiscsi-workers-'));
  const sock = join(dir, 'admin.sock');
  let t: Spawned;
  const sessions: Session[] = [];
  beforeAll(async () => {
    haveTools('iscsi-ls');
    const cfg = join(dir, 'cfg.json');
    // Round-robin: A and C on worker 1, B on worker 2.
    writeFileSync(cfg, JSON.stringify({ targets: [{ iqn: A, luns: [`${dir}/a.img,size=16M`] }, { iqn: B, luns: ['mem:8M'] }, { iqn: C, luns: ['mem:8M'] }] }));
    t = await spawnTarget(['--config', cfg, '--workers', '2', '--admin-socket', sock]);
    await logLine(t, (l) => l.msg === 'listening');
  });
  afterAll(async () => {
    for (const s of sessions) await s.close().catch(() => undefined);
    await t?.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists every target in discovery, with the portal it listens on', async () => {
    const found = await discover(`127.0.0.1:${t.port}`);
    expect(found.map((x) => x.name).sort()).toEqual([A, B, C]);
    const ls = await runAsync('iscsi-ls', ['-s', `iscsi://127.0.0.1:${t.port}`]);
    for (const name of [A, B, C]) expect(ls.stdout).toContain(`Target:${name} Portal:127.0.0.1:${t.port},1`);
    // iscsi-ls -s also logs in to each target, each on its own worker, to list its LUNs.
    expect(ls.stdout.match(/Lun:0\s+Type:DIRECT_ACCESS/g)).toHaveLength(3);
  });

  it('serves each target from the worker process that owns it', async () => {
    for (const name of [A, B]) {
      const s = await Session.connect(`iscsi://127.0.0.1:${t.port}/${name}/0`);
      sessions.push(s);
      const data = randomBytes(256 * 1024);
      await s.write(100, data);
      expect((await s.read(100, 512)).equals(data)).toBe(true);
    }
    const a = workerOf(t, A);
    const b = workerOf(t, B);
    expect(a.worker).toBe(1);
    expect(b.worker).toBe(2);
    expect(new Set([a.pid, b.pid, t.proc.pid]).size).toBe(3);
    const upA = await logLine(t, (l) => l.msg === 'session up' && l.target === A);
    const upB = await logLine(t, (l) => l.msg === 'session up' && l.target === B);
    expect([upA.pid, upB.pid]).toEqual([a.pid, b.pid]);
  });

  it('adds a LUN at runtime on the worker that owns its target', async () => {
    const added = await admin(sock, 'lun', 'add', '1', 'mem:4M', '--target', B);
    expect(added).toEqual({ target: B, lun: 1, blocks: 8192, blockSize: 512 });
    const l = await logLine(t, (x) => x.msg === 'LUN added' && x.target === B && x.lun === 1);
    expect(l.pid).toBe(workerOf(t, B).pid);
    const listed = (await admin(sock, 'lun', 'list')) as { target: string; lun: number }[];
    expect(listed.map((r) => `${r.target}/${r.lun}`)).toEqual([`${A}/0`, `${B}/0`, `${B}/1`, `${C}/0`]);
    const s = await Session.connect(`iscsi://127.0.0.1:${t.port}/${B}/1`);
    expect((await s.readCapacity()).blocks).toBe(8192);
    await s.close();
    expect(await admin(sock, 'lun', 'remove', '1', '--target', B)).toEqual({ target: B, lun: 1, removed: true });
    const refused = await runAsync(CLI, ['admin', '--socket', sock, 'lun', 'add', '1', 'mem:4M']);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toBe('tsiscsi admin: several targets: name one with --target\n');
  });

  it('adds a target at runtime on a worker, reachable by discovery and login, recorded in the running config; counters span every process', async () => {
    const D = 'iqn.2026-12.io.tsiscsi.test:workers-d';
    expect(await admin(sock, 'target', 'add', D, 'mem:4M')).toEqual({ target: D, luns: 1 });
    // Worker 2 served one target (B), worker 1 two (A, C): the new one goes to worker 2.
    const l = await logLine(t, (x) => x.msg === 'LUN added' && x.target === D);
    expect(l.pid).toBe(workerOf(t, B).pid);
    expect((await discover(`127.0.0.1:${t.port}`)).map((x) => x.name)).toContain(D);
    const s = await Session.connect(`iscsi://127.0.0.1:${t.port}/${D}/0`);
    expect((await s.readCapacity()).blocks).toBe(8192);
    const stats = (await admin(sock, 'stats')) as { targets: { name: string; sessions: number }[] };
    expect(stats.targets.map((x) => x.name).sort()).toEqual([A, B, C, D].sort());
    expect(stats.targets.find((x) => x.name === D)!.sessions).toBe(1);
    await s.close();
    const shown = (await admin(sock, 'config', 'show')) as { targets: { iqn: string }[] };
    expect(shown.targets.map((x) => x.iqn)).toEqual([A, B, C, D]);
    expect(await admin(sock, 'target', 'remove', D, '--grace', '0')).toMatchObject({ target: D });
    expect((await discover(`127.0.0.1:${t.port}`)).map((x) => x.name)).not.toContain(D);
  });

  it('lists the sessions of every process and drops one on the worker that serves it', async () => {
    const before = (await admin(sock, 'session', 'list')) as { id: number; targetName?: string }[];
    const onB = before.find((s) => s.targetName === B);
    expect(onB).toBeDefined();
    expect(before.some((s) => s.targetName === A)).toBe(true);
    // Each process numbers its sessions apart: id mod (workers + 1) is the worker's slot.
    for (const s of before) if (s.targetName !== undefined) expect(s.id % 3).toBe(s.targetName === B ? 2 : 1);
    const mark = logLines(t).length;
    expect(await admin(sock, 'session', 'drop', String(onB!.id), '--grace', '200')).toMatchObject({ id: onB!.id, dropped: true });
    // Asked to log out first, the initiator does ('logged out'); else it is closed by force.
    const down = await logLine(t, (l) => l.msg === 'session down' && l.pid === workerOf(t, B).pid, { after: mark });
    expect(['logged out', 'dropped by the administrator']).toContain(down.reason);
    const after = (await admin(sock, 'session', 'list')) as { id: number }[];
    expect(after.map((s) => s.id)).not.toContain(onB!.id);
  });

  it('stops every process within its bounds on SIGTERM, exit 0', async () => {
    const pids = [workerOf(t, A).pid, workerOf(t, B).pid];
    const started = Date.now();
    expect(await t.stop('SIGTERM')).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
    const done = logLines(t).find((l) => l.msg === 'target stopped' && l.workers === 2);
    expect(done).toMatchObject({ clean: true });
    for (const p of pids) expect(alive(p)).toBe(false);
  });
});

describe.skipIf(interopDisabled)('a worker process that dies', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsiscsi-workers-crash-'));
  let t: Spawned;
  beforeAll(async () => {
    const cfg = join(dir, 'cfg.json');
    writeFileSync(cfg, JSON.stringify({ targets: [{ iqn: A, luns: ['mem:8M'] }, { iqn: B, luns: ['mem:8M'] }] }));
    t = await spawnTarget(['--config', cfg, '--workers', '2']);
    await logLine(t, (l) => l.msg === 'listening');
  });
  afterAll(async () => {
    await t?.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('is reported and restarted; the other worker serves on', async () => {
    const a = await Session.connect(`iscsi://127.0.0.1:${t.port}/${A}/0`);
    const victim = workerOf(t, B);
    const mark = logLines(t).length;
    process.kill(victim.pid, 'SIGKILL');
    const died = await logLine(t, (l) => l.msg === 'worker died: its sessions are lost' && l.pid === victim.pid, { after: mark });
    expect(died).toMatchObject({ level: 50, signal: 'SIGKILL', targets: [B] });
    await logLine(t, (l) => l.msg === 'worker started' && (l.targets as string[]).includes(B), { after: mark });
    const b = await Session.connect(`iscsi://127.0.0.1:${t.port}/${B}/0`);
    await b.write(0, Buffer.alloc(4096, 1));
    await b.close();
    expect((await a.read(0, 8)).length).toBe(4096);
    await a.close();
  });

  it('stops the target, exit 1, when it keeps dying', async () => {
    const exited = new Promise<number | null>((r) => t.proc.once('exit', (code) => r(code)));
    // The first death was in the test above: two more within the minute are one too many.
    for (let i = 0; i < 2; i++) {
      const w = workerOf(t, B);
      const mark = logLines(t).length;
      process.kill(w.pid, 'SIGKILL');
      if (i === 0) await logLine(t, (l) => l.msg === 'worker started' && (l.targets as string[]).includes(B), { after: mark });
    }
    expect(await exited).toBe(1);
    expect(logLines(t).find((l) => l.msg === 'a worker keeps dying: stopping the target')).toMatchObject({ level: 60 });
  });
});

describe.skipIf(interopDisabled)('tsiscsi target --workers errors', () => {
  it('refuses workers on a cluster gateway, in one line, before reaching etcd', async () => {
    const r = await runAsync(CLI, ['target', '--portal', '127.0.0.1:0', '--lun', 'mem:1M', '--cluster', 'etcd://127.0.0.1:9', '--gateway', 'gw1', '--workers', '2']);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe('tsiscsi target: workers: a cluster gateway serves its targets in one process: give 0 or "auto", or leave it out\n');
  });

  it('refuses a --workers that is not auto or a whole number, in one line', async () => {
    const r = await runAsync(CLI, ['target', '--portal', '127.0.0.1:0', '--lun', 'mem:1M', '--workers', 'two']);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe('tsiscsi target: --workers: "two" is not auto or a whole number in 0..256\n');
  });

  it("exits 2 naming the setting when a worker cannot open its target's LUN", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsiscsi-workers-bad-'));
    const cfg = join(dir, 'cfg.json');
    writeFileSync(cfg, JSON.stringify({ targets: [{ iqn: A, luns: ['mem:1M'] }, { iqn: B, luns: ['/nonexistent-dir/b.img'] }] }));
    const r = await runAsync(CLI, ['target', '--portal', '127.0.0.1:0', '--config', cfg, '--workers', '2'], { timeoutMs: 30_000 });
    rmSync(dir, { recursive: true, force: true });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^tsiscsi target: targets\[1\]\.luns\[0\]: /m);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
