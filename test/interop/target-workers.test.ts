// `tsiscsi target --workers N`: connections served on worker threads, each owning whole targets; the
// main thread relays bytes. Discovery, logins to targets on different workers, data, and shutdown.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Session, discover } from '../../src/initiator/index.js';
import { haveTools, interopDisabled, runAsync } from './peers.js';
import { spawnTarget } from './tsiscsi.js';

describe.skipIf(interopDisabled)('target with connections on worker threads', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsiscsi-workers-'));
  let t: Awaited<ReturnType<typeof spawnTarget>>;
  const A = 'iqn.2026-11.io.tsiscsi.test:wa';
  const B = 'iqn.2026-11.io.tsiscsi.test:wb';
  beforeAll(async () => {
    haveTools('iscsi-ls');
    const cfg = join(dir, 'cfg.json');
    writeFileSync(cfg, JSON.stringify({ targets: [{ iqn: A, luns: [`${dir}/a.img,size=16M`] }, { iqn: B, luns: ['mem:8M'] }] }));
    t = await spawnTarget(['--config', cfg, '--workers', '2']);
  });
  afterAll(async () => {
    await t?.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists every target in discovery', async () => {
    const names = (await discover(`127.0.0.1:${t.port}`)).map((x) => x.name).sort();
    expect(names).toEqual([A, B]);
    const ls = await runAsync('iscsi-ls', ['-s', `iscsi://127.0.0.1:${t.port}`]);
    expect(ls.stdout).toContain(`Target:${A}`);
    expect(ls.stdout).toContain(`Target:${B}`);
  });

  it('serves reads and writes on targets owned by different workers', async () => {
    for (const name of [A, B]) {
      const s = await Session.connect(`iscsi://127.0.0.1:${t.port}/${name}/0`);
      const data = randomBytes(64 * 1024);
      await s.write(100, data);
      expect((await s.read(100, 128)).equals(data)).toBe(true);
      await s.close();
    }
  });

  it('stops with exit 0 on SIGTERM', async () => {
    expect(await t.stop('SIGTERM')).toBe(0);
  });
});
