// The target as libiscsi's tools and QEMU see it: listing, INQUIRY, READ CAPACITY, CHAP and mutual
// CHAP, and qemu-img round trips through an iscsi:// URL.

import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveTools, interopDisabled, runAsync as run } from './peers.js';
import { startTarget, type RunningTarget } from './tsiscsi.js';

describe.skipIf(interopDisabled)('target with libiscsi tools', () => {
  let t: RunningTarget;
  beforeAll(async () => {
    haveTools('iscsi-ls', 'iscsi-inq', 'iscsi-readcapacity16');
    t = await startTarget({ luns: ['{dir}/lun0.img,size=64M', 'mem:16M,bs=4096'] });
  });
  afterAll(() => t?.stop());

  it('is listed with its LUNs by iscsi-ls', async () => {
    const r = await run('iscsi-ls', ['-s', `iscsi://127.0.0.1:${t.port}`]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`Target:${t.iqn} Portal:127.0.0.1:${t.port},1`);
    // iscsi-ls prints (last LBA x block size) in whole MiB, one block short of the capacity: it shows
    // tgtd's 64 MiB LUN as 63M too. READ CAPACITY below checks the exact size.
    expect(r.stdout).toMatch(/Lun:0\s+Type:DIRECT_ACCESS \(Size:63M\)/);
    expect(r.stdout).toMatch(/Lun:1\s+Type:DIRECT_ACCESS \(Size:15M\)/);
  });

  it('answers iscsi-inq with a direct-access device and its identity', async () => {
    const r = await run('iscsi-inq', [t.url(0)]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Peripheral Device Type:DIRECT_ACCESS');
    expect(r.stdout).toContain('Vendor:TSISCSI');
    const vpd83 = await run('iscsi-inq', ['-e', '1', '-c', '0x83', t.url(0)]);
    expect(vpd83.status).toBe(0);
  });

  it('reports the file size and block size to iscsi-readcapacity16', async () => {
    const size = statSync(join(t.dir, 'lun0.img')).size;
    const r = await run('iscsi-readcapacity16', [t.url(0)]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`RETURNED LOGICAL BLOCK ADDRESS:${size / 512 - 1}`);
    expect(r.stdout).toContain('LOGICAL BLOCK LENGTH IN BYTES:512');
    const m = await run('iscsi-readcapacity16', [t.url(1)]);
    expect(m.stdout).toContain('LOGICAL BLOCK LENGTH IN BYTES:4096');
    expect(m.stdout).toContain(`RETURNED LOGICAL BLOCK ADDRESS:${(16 << 20) / 4096 - 1}`);
  });

  it('refuses a login to a target that does not exist', async () => {
    const r = await run('iscsi-inq', [`iscsi://127.0.0.1:${t.port}/iqn.2026-11.io.tsiscsi.test:nope/0`]);
    expect(r.status).not.toBe(0);
    expect(r.stderr + r.stdout).toMatch(/Not found|not found|515/i);
  });
});

// The initiator secret comes from the environment, as a user keeps it out of argv.
process.env.TSISCSI_TEST_CHAP = 'alice-secret-123';

describe.skipIf(interopDisabled)('target CHAP with libiscsi', () => {
  let t: RunningTarget;
  beforeAll(async () => {
    haveTools('iscsi-inq');
    t = await startTarget({
      luns: ['mem:8M'],
      target: {
        chap: { user: 'alice', secretEnv: 'TSISCSI_TEST_CHAP' },
        mutualChap: { user: 'target', secret: 'target-secret-456' },
      },
    });
  });
  afterAll(() => t?.stop());

  it('lets the right secret in', async () => {
    expect((await run('iscsi-inq', [t.url(0, 'alice%alice-secret-123')])).status).toBe(0);
  });
  it('refuses a wrong secret with an authentication failure', async () => {
    const r = await run('iscsi-inq', [t.url(0, 'alice%wrong-secret-999')]);
    expect(r.status).not.toBe(0);
    expect(r.stderr + r.stdout).toMatch(/Authentication failure/);
  });
  it('refuses an initiator that offers no CHAP', async () => {
    const r = await run('iscsi-inq', [t.url(0)]);
    expect(r.status).not.toBe(0);
    expect(r.stderr + r.stdout).toMatch(/Authentication failure/);
  });
  it('authenticates itself to an initiator that asks (mutual CHAP)', async () => {
    const r = await run('iscsi-inq', [`${t.url(0, 'alice%alice-secret-123')}?target_user=target&target_password=target-secret-456`]);
    expect(r.status).toBe(0);
  });
  it('is caught by an initiator expecting another target secret', async () => {
    const r = await run('iscsi-inq', [`${t.url(0, 'alice%alice-secret-123')}?target_user=target&target_password=not-the-secret!`]);
    expect(r.status).not.toBe(0);
    expect(r.stderr + r.stdout).toMatch(/CHAP_R/);
  });
});
describe.skipIf(interopDisabled)('target with QEMU', () => {
  let t: RunningTarget;
  beforeAll(async () => {
    haveTools('qemu-img');
    t = await startTarget({ luns: ['{dir}/disk.img,size=32M'] });
  });
  afterAll(() => t?.stop());

  it('qemu-img info reads the LUN size', async () => {
    const r = await run('qemu-img', ['info', '--output=json', t.url(0)]);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)['virtual-size']).toBe(32 << 20);
  });

  it('qemu-img convert round-trips an image to and from the LUN', async () => {
    const src = join(t.dir, 'src.raw');
    const back = join(t.dir, 'back.raw');
    const data = randomBytes(32 << 20);
    writeFileSync(src, data);
    expect((await run('qemu-img', ['convert', '-n', '-f', 'raw', '-O', 'raw', src, t.url(0)])).status).toBe(0);
    expect((await run('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', t.url(0), back])).status).toBe(0);
    expect(readFileSync(back).equals(data)).toBe(true);
    // And it really landed in the backing file.
    expect(readFileSync(join(t.dir, 'disk.img')).equals(data)).toBe(true);
  });
});
