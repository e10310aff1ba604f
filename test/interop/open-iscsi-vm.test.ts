// The Linux kernel initiator (open-iscsi) against the target, through tools/open-iscsi-vm: a QEMU VM
// logs in, writes 16 MiB with O_DIRECT, reads it back, compares, logs out.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VM_HARNESS as HARNESS, vmCanRun } from './open-iscsi-vm.js';
import { runAsync } from './peers.js';
import { startTarget, type RunningTarget } from './tsiscsi.js';

describe.skipIf(!vmCanRun('single'))('Linux kernel initiator (open-iscsi in a VM)', () => {
  let plain: RunningTarget;
  let chap: RunningTarget;
  beforeAll(async () => {
    plain = await startTarget({ iqn: 'iqn.2026-11.io.tsiscsi.test:vm', luns: ['{dir}/vm.img,size=256M'] });
    chap = await startTarget({
      iqn: 'iqn.2026-11.io.tsiscsi.test:vmchap',
      luns: ['{dir}/vm.img,size=256M'],
      target: {
        chap: { user: 'vmuser', secret: 'initiator-secret-1' },
        mutualChap: { user: 'vmtarget', secret: 'target-secret-22' },
      },
    });
  });
  afterAll(async () => {
    await plain?.stop();
    await chap?.stop();
  });

  it('logs in, writes 16 MiB with O_DIRECT, reads it back identical and logs out', async () => {
    const r = await runAsync(HARNESS, ['--port', String(plain.port), '--iqn', plain.iqn, '--timeout', '600'], { timeoutMs: 900_000 });
    expect(r.stdout).toContain('OPEN-ISCSI-VM RESULT: discovery=ok login=ok device=ok write=ok verify=ok inquiry=ok readcap=ok logout=ok');
    expect(r.status).toBe(0);
  }, 900_000);

  it('does the same with mutual CHAP and CRC32C header and data digests', async () => {
    const r = await runAsync(
      HARNESS,
      ['--port', String(chap.port), '--iqn', chap.iqn, '--chap', 'vmuser:initiator-secret-1', '--mutual-chap', 'vmtarget:target-secret-22', '--timeout', '600'],
      { timeoutMs: 900_000, env: { ...process.env, OPEN_ISCSI_VM_DIGEST: 'CRC32C', OPEN_ISCSI_VM_INITIATOR: 'iqn.2024-01.io.open-iscsi-vm:chap' } },
    );
    expect(r.stdout).toContain('write=ok verify=ok');
    expect(r.status).toBe(0);
  }, 900_000);

  it('is refused with a wrong CHAP secret', async () => {
    const r = await runAsync(HARNESS, ['--port', String(chap.port), '--iqn', chap.iqn, '--chap', 'vmuser:wrong-secret-999', '--timeout', '300'], {
      timeoutMs: 600_000,
    });
    expect(r.stdout).toMatch(/login=fail/);
    expect(r.status).toBe(1);
  }, 600_000);
});
