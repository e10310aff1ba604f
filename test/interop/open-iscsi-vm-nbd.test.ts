// The Linux kernel initiator (open-iscsi, in a QEMU VM through tools/open-iscsi-vm) on an
// NBD LUN: the target's LUN 0 is a file served by qemu-nbd; the VM logs in, writes 16 MiB with
// O_DIRECT, reads it back, compares, logs out.

import { closeSync, mkdtempSync, openSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startQemuNbd, type NbdServer } from '../backend/nbd/peers.js';
import { VM_HARNESS as HARNESS, vmCanRun } from './open-iscsi-vm.js';
import { haveTools, runAsync } from './peers.js';
import { startTarget, type RunningTarget } from './tsiscsi.js';

describe.skipIf(!vmCanRun('single'))('Linux kernel initiator (open-iscsi in a VM) on an NBD LUN', () => {
  let dir: string;
  let nbd: NbdServer;
  let t: RunningTarget;
  beforeAll(async () => {
    haveTools('qemu-nbd', 'timeout');
    dir = mkdtempSync(join(tmpdir(), 'tsiscsi-vm-nbd-'));
    const file = join(dir, 'vm.img');
    closeSync(openSync(file, 'w'));
    truncateSync(file, 256 << 20);
    nbd = await startQemuNbd({ path: join(dir, 'nbd.sock') }, file, 'vm', join(dir, 'qemu-nbd.pid'));
    t = await startTarget({ iqn: 'iqn.2026-11.io.tsiscsi.test:vmnbd', luns: [`${nbd.url},conns=2`] });
  });
  afterAll(async () => {
    await t?.stop();
    await nbd?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('logs in, writes 16 MiB with O_DIRECT, reads it back identical and logs out', async () => {
    const r = await runAsync(HARNESS, ['--port', String(t.port), '--iqn', t.iqn, '--timeout', '600'], { timeoutMs: 900_000 });
    expect(r.stdout).toContain('OPEN-ISCSI-VM RESULT: discovery=ok login=ok device=ok write=ok verify=ok inquiry=ok readcap=ok logout=ok');
    expect(r.status).toBe(0);
  }, 900_000);
});
