// Several targets from one config, ACLs by initiator IQN in login and in discovery, and a discovery
// session that cannot reach data.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveTools, interopDisabled, runAsync } from './peers.js';
import { startTarget, type RunningTarget } from './tsiscsi.js';

const OPEN = 'iqn.2026-11.io.tsiscsi.test:open';
const CLOSED = 'iqn.2026-11.io.tsiscsi.test:closed';

describe.skipIf(interopDisabled)('ACLs and several targets', () => {
  let t: RunningTarget;
  beforeAll(async () => {
    haveTools('iscsi-ls', 'iscsi-inq');
    t = await startTarget({
      iqn: OPEN,
      luns: ['mem:4M'],
      config: {
        targets: [
          { iqn: OPEN, luns: ['mem:4M', 'mem:8M'] },
          { iqn: CLOSED, luns: ['mem:4M'], allow: ['iqn.2026-11.io.tsiscsi.test:friend'] },
        ],
      },
    });
  });
  afterAll(() => t?.stop());

  it('lists only the targets the initiator may reach in SendTargets', async () => {
    const r = await runAsync('iscsi-ls', ['-s', `iscsi://127.0.0.1:${t.port}`]);
    expect(r.stdout).toContain(`Target:${OPEN}`);
    expect(r.stdout).not.toContain(CLOSED);
    const friend = await runAsync('iscsi-ls', ['-i', 'iqn.2026-11.io.tsiscsi.test:friend', '-s', `iscsi://127.0.0.1:${t.port}`]);
    expect(friend.stdout).toContain(`Target:${CLOSED}`);
    expect(friend.stdout).toContain(`Target:${OPEN}`);
  });

  it('refuses a login by an initiator not on the ACL (authorization failure)', async () => {
    const r = await runAsync('iscsi-inq', [`iscsi://127.0.0.1:${t.port}/${CLOSED}/0`]);
    expect(r.status).not.toBe(0);
    expect(r.stderr + r.stdout).toMatch(/Authorization failure|514/);
  });

  it('lets an initiator on the ACL in', async () => {
    const r = await runAsync('iscsi-inq', ['-i', 'iqn.2026-11.io.tsiscsi.test:friend', `iscsi://127.0.0.1:${t.port}/${CLOSED}/0`]);
    expect(r.status).toBe(0);
  });

  it('serves each target its own LUNs', async () => {
    const r = await runAsync('iscsi-ls', ['-s', `iscsi://127.0.0.1:${t.port}`]);
    expect(r.stdout.match(/Lun:\d/g)).toHaveLength(2);
  });
});

describe.skipIf(interopDisabled)('--config validation', () => {
  it('names the bad setting', async () => {
    const { CLI } = await import('./tsiscsi.js');
    const dir = (await import('node:fs')).mkdtempSync(join((await import('node:os')).tmpdir(), 'cfg-'));
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ targets: [{ iqn: 'not an iqn', luns: ['mem:1M'] }] }));
    const r = await runAsync(CLI, ['target', '--config', bad]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/targets\[0\]\.iqn/);
    writeFileSync(bad, JSON.stringify({ targets: [{ iqn: OPEN, luns: ['mem:1M'] }], portals: ['127.0.0.1:0'], typo: 1 }));
    const r2 = await runAsync(CLI, ['target', '--config', bad]);
    expect(r2.stderr).toMatch(/typo: unknown setting/);
  });
});
