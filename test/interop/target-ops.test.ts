// Operations as a user meets them with the CLI: a LUN, a target, an ACL and a CHAP account added through
// the admin socket survive a restart and are served again exactly (seen by libiscsi's iscsi-ls); the
// saved config is 0600 with no secret in clear; the admin socket is 0600 under umask 000; /metrics moves
// while iscsi-perf reads; a config error names its path and exits 2.

import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePrometheus } from '../target/prometheus.js';
import { freePort, haveTools, interopDisabled, runAsync } from './peers.js';
import { CLI, spawnTarget } from './tsiscsi.js';

const A = 'iqn.2026-11.io.tsiscsi.test:ops-a';
const B = 'iqn.2026-11.io.tsiscsi.test:ops-b';
const FRIEND = 'iqn.2026-11.io.tsiscsi.test:friend';
const SECRET = 'alice-secret-0123';

function admin(sock: string, ...args: string[]) {
  const r = spawnSync(CLI, ['admin', '--socket', sock, ...args], { encoding: 'utf8', timeout: 30_000, killSignal: 'SIGKILL' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** What iscsi-ls shows of a portal, as a given initiator (and CHAP user), LUN lines sorted. */
async function listing(port: number, initiator: string, auth = ''): Promise<string> {
  const r = await runAsync('iscsi-ls', ['-s', '-i', initiator, `iscsi://${auth}127.0.0.1:${port}`]);
  return r.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('Target:') || l.startsWith('Lun:'))
    .map((l) => l.replace(/Portal:.*$/, '').trim())
    .join('\n');
}

describe.skipIf(interopDisabled)('configuration that survives a restart', () => {
  let dir: string;
  beforeAll(() => {
    haveTools('iscsi-ls');
    dir = mkdtempSync(join(tmpdir(), 'tsiscsi-ops-'));
    mkdirSync(join(dir, 'srv'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('restores the LUN, target, ACL and CHAP account added through the admin socket', async () => {
    const cfg = join(dir, 'target.json');
    const sock = join(dir, 'admin.sock');
    const secretFile = join(dir, 'alice.secret');
    writeFileSync(secretFile, `${SECRET}\n`, { mode: 0o600 });
    writeFileSync(cfg, JSON.stringify({ targets: [{ iqn: A, luns: ['mem:16M'] }], persist: true, adminSocket: sock, allowedPaths: [join(dir, 'srv')] }, null, 2));
    let t = await spawnTarget(['--config', cfg, '--log-level', 'warn']);
    try {
      expect(admin(sock, 'lun', 'add', '1', `${join(dir, 'srv', 'b.img')},size=8M`).status).toBe(0);
      expect(admin(sock, 'target', 'add', B, 'mem:4M', `${join(dir, 'srv', 'c.img')},size=2M`).status).toBe(0);
      const acl = admin(sock, 'acl', 'add', FRIEND, '--target', B);
      expect(acl.status).toBe(0);
      expect(admin(sock, 'chap', 'set', 'alice', `@${secretFile}`, '--target', A).status).toBe(0);
      const refused = admin(sock, 'lun', 'add', '2', '/etc/passwd', '--target', A);
      expect(refused.status).toBe(1);
      expect(refused.stderr).toMatch(/^tsiscsi admin: \/etc\/passwd is not under allowedPaths/);
    } finally {
      expect(await t.stop()).toBe(0);
    }
    // What the file holds: 0600, the secret as its file, never in clear.
    const text = readFileSync(cfg, 'utf8');
    expect(statSync(cfg).mode & 0o777).toBe(0o600);
    expect(text).not.toContain(SECRET);
    expect(JSON.parse(text).targets[0].chap).toEqual([{ user: 'alice', secretFile }]);

    t = await spawnTarget(['--config', cfg, '--log-level', 'warn']);
    try {
      // Discovery (no CHAP on discovery) and B's LUNs as the friend on B's ACL.
      const friend = await listing(t.port, FRIEND);
      expect(friend.split('\n').filter((l) => l.startsWith('Target:')).sort()).toEqual([`Target:${A}`, `Target:${B}`]);
      // B's two LUNs (A's need CHAP, which discovery listing does not send).
      expect(friend.match(/^Lun:\d/gm)).toHaveLength(2);
      // The ACL holds after the restart: a stranger does not even see B in discovery.
      const stranger = await listing(t.port, 'iqn.2026-11.io.tsiscsi.test:stranger');
      expect(stranger).toContain(`Target:${A}`);
      expect(stranger).not.toContain(B);
      // A's LUNs, 16 MiB and the added 8 MiB, with CHAP; without it the login is refused.
      for (const [lun, bytes] of [[0, 16 << 20], [1, 8 << 20]] as const) {
        const r = await runAsync('iscsi-readcapacity16', ['-s', `iscsi://alice%${SECRET}@127.0.0.1:${t.port}/${A}/${lun}`]);
        expect(r.stdout.trim()).toBe(String(bytes));
      }
      const noChap = await runAsync('iscsi-readcapacity16', ['-s', `iscsi://127.0.0.1:${t.port}/${A}/0`]);
      expect(noChap.status).not.toBe(0);
      const shown = admin(sock, 'config', 'show');
      expect(JSON.parse(shown.stdout).targets.map((x: { iqn: string }) => x.iqn)).toEqual([A, B]);
    } finally {
      await t.stop();
    }
  });

  it('creates the admin socket 0600 under umask 000', async () => {
    const sock = join(dir, 'umask.sock');
    const port = await freePort();
    const p = spawn('sh', ['-c', `umask 000; exec ${CLI} target --portal 127.0.0.1:${port} --lun mem:1M --admin-socket ${sock} --log-level warn`], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 200 && admin(sock, 'lun', 'list').status !== 0; i++) await new Promise((r) => setTimeout(r, 50));
      expect(statSync(sock).mode & 0o777).toBe(0o600);
    } finally {
      p.kill('SIGTERM');
      await new Promise((r) => p.once('exit', r));
    }
  });

  it('names the bad LUN spec of a config file with its path, exit 2', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ targets: [{ iqn: A, luns: ['mem:1M', 'mem:1M,bs=1000'] }] }));
    const r = await runAsync(CLI, ['target', '--config', bad]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^tsiscsi target: targets\[0\]\.luns\[1\]: .*block size must be 512 or 4096/);
  });
});

describe.skipIf(interopDisabled)('/metrics while iscsi-perf reads', () => {
  it('shows the read counters moving, in text a strict parser accepts', async () => {
    haveTools('iscsi-perf');
    const mport = await freePort();
    const t = await spawnTarget(['--iqn', A, '--lun', 'mem:64M', '--metrics', `127.0.0.1:${mport}`, '--log-level', 'warn']);
    const perf = spawn('timeout', ['-s', 'KILL', '20', 'iscsi-perf', '-t', '6', '-m', '16', '-b', '8', '-r', `iscsi://127.0.0.1:${t.port}/${A}/0`], { stdio: 'ignore' });
    const reads = async () => {
      const r = await fetch(`http://127.0.0.1:${mport}/metrics`);
      const { samples } = parsePrometheus(await r.text());
      return samples.filter((s) => s.name === 'tsiscsi_lun_commands_total' && s.labels.op === 'read').reduce((a, s) => a + s.value, 0);
    };
    try {
      // Scrape until the reads have moved twice (bounded: iscsi-perf runs 6 s).
      const seen: number[] = [await reads()];
      for (let i = 0; i < 100 && seen.filter((v, k) => k > 0 && v > seen[k - 1]!).length < 2; i++) {
        await new Promise((r) => setTimeout(r, 200));
        seen.push(await reads());
      }
      expect(seen.filter((v, k) => k > 0 && v > seen[k - 1]!).length).toBeGreaterThanOrEqual(2);
      expect(seen.at(-1)!).toBeGreaterThan(1000);
    } finally {
      perf.kill('SIGKILL');
      await t.stop();
    }
  });
});
