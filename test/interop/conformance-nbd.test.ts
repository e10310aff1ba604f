// libiscsi's conformance suite on an NBD LUN: `iscsi-test-cu -d URL URL` against `tsiscsi target`
// whose LUN 0 is a 1 GiB file served by qemu-nbd over a unix socket. Opt-in (TSISCSI_NBD_CONFORMANCE=1):
// the suite takes about 3.5 minutes on 2 cores, which CI runs once already on the file LUN
// (conformance.test.ts); every SCSI command it sends goes through the same LogicalUnit, only the
// backend differs. Yardstick: the file LUN's (at least 215 passes, at most 15 skips), no failure but
// the suite's own bugs.

import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startQemuNbd, type NbdServer } from '../backend/nbd/peers.js';
import { parseCunitOutput, type CunitResult } from './cunit.js';
import { freePort, haveTools, interopDisabled, runAsync, waitForPort } from './peers.js';

const IQN = 'iqn.2026-11.io.tsiscsi:target0';
const BIN = resolve(import.meta.dirname, '../../bin/tsiscsi');
/** The same list as conformance.test.ts: GET LBA STATUS's test assumes one logical block per physical block. */
const KNOWN_SUITE_BUGS = new Set(['GetLBAStatus.UnmapSingle']);
const enabled = process.env.TSISCSI_NBD_CONFORMANCE === '1' && !interopDisabled;

describe.skipIf(!enabled)('libiscsi iscsi-test-cu against an NBD LUN on qemu-nbd', () => {
  let dir: string;
  let nbd: NbdServer;
  let target: ChildProcess;
  let targetLog = '';
  let result: CunitResult;
  let output = '';

  beforeAll(async () => {
    haveTools('iscsi-test-cu', 'stdbuf', 'qemu-nbd', 'timeout');
    dir = mkdtempSync(join(tmpdir(), 'tsiscsi-cu-nbd-'));
    const file = join(dir, 'lun0.img');
    closeSync(openSync(file, 'w'));
    truncateSync(file, 1 << 30);
    nbd = await startQemuNbd({ path: join(dir, 'nbd.sock') }, file, 'lun0', join(dir, 'qemu-nbd.pid'));
    const port = await freePort();
    // `removable`, as the file LUN of conformance.test.ts, lets the PreventAllow, StartStopUnit and
    // NoMedia tests eject and load the medium; the 4 KiB physical block comes from qemu-nbd itself.
    target = spawn(process.execPath, [BIN, 'target', '--portal', `127.0.0.1:${port}`, '--iqn', IQN, '--lun', `${nbd.url},removable`, '--log-level', 'warn'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    target.stdout!.on('data', (d: Buffer) => (targetLog += d.toString()));
    target.stderr!.on('data', (d: Buffer) => (targetLog += d.toString()));
    await waitForPort(port);
    const url = `iscsi://127.0.0.1:${port}/${IQN}/0`;
    const r = await runAsync('timeout', ['-s', 'KILL', '1500', 'stdbuf', '-oL', 'iscsi-test-cu', '-d', url, url], { timeoutMs: 1_550_000 });
    output = r.stdout;
    result = parseCunitOutput(output);
  }, 1_600_000);

  afterAll(async () => {
    if (target !== undefined && target.exitCode === null) {
      target.kill('SIGTERM');
      await new Promise((r) => (target.exitCode !== null ? r(null) : target.once('exit', r)));
    }
    await nbd?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  test('passes as many tests as the file LUN and fails none but the suite bugs', () => {
    console.log(
      `iscsi-test-cu on an NBD LUN: ${result.pass} passed, ${result.skip} skipped, ${result.fail} failed of ${result.total} tests\n` +
        `skipped: ${result.skippedNames.join(', ')}\nfailed: ${result.failedNames.join(', ') || 'none'}`,
    );
    if (result.total === 0) console.log(output.slice(-4000), targetLog.slice(-4000));
    expect(result.total).toBeGreaterThanOrEqual(230);
    expect(result.failedNames.filter((n) => !KNOWN_SUITE_BUGS.has(n))).toEqual([]);
    expect(result.pass).toBeGreaterThanOrEqual(215);
    expect(result.skip).toBeLessThanOrEqual(15);
  });
});
