// `tsiscsi target` as the README runs it: no flags at all, a fresh directory, then SIGTERM.

import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { haveTools, interopDisabled, runAsync, waitForPort } from './peers.js';
import { CLI, spawnTarget } from './tsiscsi.js';

describe.skipIf(interopDisabled)('tsiscsi target with no flags', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsiscsi-readme-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('serves ./tsiscsi-data/lun0.img (1 GiB, sparse) as LUN 0 on 127.0.0.1:3260 and stops cleanly on SIGTERM', async () => {
    haveTools('iscsi-ls');
    const proc = spawn(CLI, ['target'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
    try {
      await waitForPort(3260, 20_000);
    } catch (e) {
      proc.kill('SIGKILL');
      throw new Error(`the target did not listen on 127.0.0.1:3260 (is the port taken?): ${err}`, { cause: e });
    }
    const file = join(dir, 'tsiscsi-data', 'lun0.img');
    const st = statSync(file);
    expect(st.size).toBe(1024 ** 3);
    expect(st.blocks * 512).toBeLessThan(1024 * 1024); // sparse
    const ls = await runAsync('iscsi-ls', ['-s', 'iscsi://127.0.0.1:3260']);
    expect(ls.stdout).toContain('Target:iqn.2026-11.io.tsiscsi:target0 Portal:127.0.0.1:3260,1');
    expect(ls.stdout).toMatch(/Lun:0\s+Type:DIRECT_ACCESS/);
    // It tells the user how to reach it and how to expose it safely.
    expect(out).toContain('iscsiadm -m discovery -t sendtargets -p 127.0.0.1:3260');
    expect(out).toContain('--portal 0.0.0.0:3260 --chap');
    // Logs are JSON on stderr, quiet: start, listen, session up/down.
    const levels = err.trim().split('\n').map((l) => (JSON.parse(l) as { level: number }).level);
    expect(levels.every((l) => l >= 30)).toBe(true);
    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});

describe.skipIf(interopDisabled)('tsiscsi target errors', () => {
  it('exits 2 with a one-line message for a bad LUN spec', async () => {
    const r = await runAsync(CLI, ['target', '--portal', '127.0.0.1:0', '--lun', '/nonexistent-dir/x.img']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^tsiscsi target: .*luns\[0\]/m);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
  it('refuses a CHAP secret shorter than 12 bytes', async () => {
    const r = await runAsync(CLI, ['target', '--portal', '127.0.0.1:0', '--lun', 'mem:1M', '--chap', 'u:short']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/at least 12 bytes/);
  });
  it('takes the CHAP secret from an environment variable', async () => {
    const t = await spawnTarget(['--lun', 'mem:1M', '--chap', 'u:env:TSISCSI_T_SECRET'], { env: { TSISCSI_T_SECRET: 'a-long-enough-secret' } });
    const ok = await runAsync('iscsi-inq', [`iscsi://u%a-long-enough-secret@127.0.0.1:${t.port}/iqn.2026-11.io.tsiscsi:target0/0`]);
    expect(ok.status).toBe(0);
    expect(await t.stop()).toBe(0);
  });
  it('warns when a secret is given literally on the command line', async () => {
    const t = await spawnTarget(['--lun', 'mem:1M', '--chap', 'u:a-long-enough-secret']);
    await new Promise((r) => setTimeout(r, 200));
    expect(t.stderr()).toMatch(/ps/);
    expect(t.stderr()).not.toContain('a-long-enough-secret');
    await t.stop();
  });
  it('reports a port already in use', async () => {
    const a = await spawnTarget(['--lun', 'mem:1M']);
    const r = await runAsync(CLI, ['target', '--portal', `127.0.0.1:${a.port}`, '--lun', 'mem:1M']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/EADDRINUSE|in use/);
    await a.stop();
  });
});
