// LUNs on NBD servers, end to end: the library initiator and libiscsi's iscsi-perf on the wire, the
// target in process, qemu-nbd or nbdkit behind it. Data written through iSCSI is in qemu-nbd's file at
// the right offset; SCSI provisioning maps onto TRIM and WRITE_ZEROES; nbdkit's error filter gives
// CHECK CONDITION and the target keeps serving; with its delay filter ABORT TASK and LUN RESET still
// answer at once; nbdkit killed and restarted under load: the LUN comes back, no acknowledged write lost.

import { closeSync, mkdtempSync, openSync, readSync, rmSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortError, ScsiError } from '../../src/errors.js';
import { Session, TaskHandle } from '../../src/initiator/index.js';
import { cdbReadCapacity16, cdbUnmap, cdbWriteSame16, parseReadCapacity16, parseVpdLogicalBlockProvisioning } from '../../src/scsi/index.js';
import { startNbdkit, startQemuNbd, type NbdServer } from '../backend/nbd/peers.js';
import { freePort, haveTools, interopDisabled, runAsync } from './peers.js';
import { spawnTarget, startTarget, type RunningTarget } from './tsiscsi.js';

const skip = interopDisabled || !haveTools('qemu-nbd', 'nbdkit', 'iscsi-perf', 'timeout');
const dir = mkdtempSync(join(tmpdir(), 'tsiscsi-nbd-lun-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let seq = 0;
const sock = () => join(dir, `s${++seq}.sock`);
const pidFile = () => join(dir, `p${++seq}.pid`);

const MEDIUM_ERROR = 0x03;
const DATA_PROTECT = 0x07;

const pattern = (n: number, seed: number): Buffer => {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i += 4) b.writeUInt32LE((Math.imul(i + 1, 2654435761) ^ seed) >>> 0, i);
  return b;
};

function sparseFile(path: string, size: number): void {
  closeSync(openSync(path, 'w'));
  truncateSync(path, size);
}

function fileBytes(path: string, offset: number, length: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(length);
    readSync(fd, b, 0, length, offset);
    return b;
  } finally {
    closeSync(fd);
  }
}

describe.skipIf(skip)('an NBD LUN on qemu-nbd over a file', () => {
  let srv: NbdServer;
  let t: RunningTarget;
  let s: Session;
  const file = join(dir, 'qemu.img');
  beforeAll(async () => {
    sparseFile(file, 64 << 20);
    srv = await startQemuNbd({ path: sock() }, file, 'lun0', pidFile(), { shared: 4 });
    t = await startTarget({ luns: [`${srv.url},conns=2`] });
    s = await Session.connect(t.url(0), { timeout: 10_000 });
  });
  afterAll(async () => {
    await s?.close();
    await t?.stop();
    await srv?.stop();
  });

  it('puts data written through iSCSI into the file at LBA x 512, and reads it back', async () => {
    const writes = [
      { lba: 0, data: pattern(4096, 1) },
      { lba: 12345, data: pattern(65536, 2) },
      { lba: (64 << 11) - 16, data: pattern(8192, 3) },
    ];
    for (const w of writes) await s.write(w.lba, w.data, { fua: w.lba === 0 });
    await s.synchronizeCache();
    for (const w of writes) {
      expect(fileBytes(file, w.lba * 512, w.data.length).equals(w.data)).toBe(true);
      expect((await s.read(w.lba, w.data.length / 512)).equals(w.data)).toBe(true);
    }
  });

  it('reports the export size, the 4 KiB preferred block and thin provisioning with LBPRZ', async () => {
    const r = await s.execute(cdbReadCapacity16({ alloc: 32 }), { dataIn: 32 });
    expect(parseReadCapacity16(r.data)).toMatchObject({ blocks: (64 << 20) / 512, blockLength: 512, lbppbe: 3, lbpme: true, lbprz: true });
    const lbp = parseVpdLogicalBlockProvisioning(await s.inquiryVpd(0xb2));
    expect(lbp).toMatchObject({ lbpu: true, lbpws: true, lbprz: 1, provisioningType: 2 });
  });

  it('UNMAP and WRITE SAME of zeros leave zeros in the file', async () => {
    await s.write(2048, pattern(32768, 4));
    const u = cdbUnmap([[2048, 32]]);
    await s.execute(u.cdb, { dataOut: u.data });
    await s.execute(cdbWriteSame16(2080, 32), { dataOut: Buffer.alloc(512) });
    expect(fileBytes(file, 2048 * 512, 32768).every((x) => x === 0)).toBe(true);
    expect((await s.read(2048, 64)).every((x) => x === 0)).toBe(true);
  });
});

describe.skipIf(skip)('an NBD LUN on nbdkit with its error filter', () => {
  it('answers MEDIUM ERROR for EIO and SPACE ALLOCATION FAILED for ENOSPC, and keeps serving', async () => {
    const trigger = join(dir, 'eio');
    writeFileSync(trigger, '');
    const srv = await startNbdkit({ path: sock() }, pidFile(), ['error'], ['memory', '16M', 'error-pread=EIO', 'error-pwrite=ENOSPC', `error-file=${trigger}`, 'error-rate=1']);
    const t = await startTarget({ luns: [srv.url] });
    const s = await Session.connect(t.url(0), { timeout: 10_000 });
    try {
      const re = await s.read(0, 8).then(() => undefined, (e: unknown) => e);
      expect(re).toBeInstanceOf(ScsiError);
      expect({ key: (re as ScsiError).senseKey, asc: (re as ScsiError).asc }).toEqual({ key: MEDIUM_ERROR, asc: 0x11 });
      const we = await s.write(0, pattern(4096, 1)).then(() => undefined, (e: unknown) => e);
      expect({ key: (we as ScsiError).senseKey, asc: (we as ScsiError).asc, ascq: (we as ScsiError).ascq }).toEqual({ key: DATA_PROTECT, asc: 0x27, ascq: 0x07 });
      unlinkSync(trigger);
      await s.write(0, pattern(4096, 1));
      expect((await s.read(0, 8)).equals(pattern(4096, 1))).toBe(true);
    } finally {
      await s.close();
      await t.stop();
      await srv.stop();
    }
  });
});

describe.skipIf(skip)('an NBD LUN on nbdkit with its delay filter', () => {
  it('answers ABORT TASK and LUN RESET at once while the server sits on the commands', async () => {
    const srv = await startNbdkit({ path: sock() }, pidFile(), ['delay'], ['memory', '16M', 'delay-read=3000ms']);
    const t = await startTarget({ luns: [srv.url] });
    const s = await Session.connect(t.url(0), { timeout: 30_000 });
    try {
      const h = new TaskHandle();
      const read = s.read(0, 8, { handle: h }).then(() => 'done', (e: unknown) => e);
      await new Promise((r) => setTimeout(r, 100));
      let t0 = performance.now();
      await s.abortTask(h);
      expect(performance.now() - t0).toBeLessThan(1000);
      expect(await read).toBeInstanceOf(AbortError);
      const reads = [0, 8, 16].map((lba) => s.read(lba, 8, { timeout: 0 }).then(() => 'done', (e: unknown) => e));
      await new Promise((r) => setTimeout(r, 100));
      t0 = performance.now();
      await s.lunReset();
      expect(performance.now() - t0).toBeLessThan(1000);
      // The library sends the reset's collateral damage again; those reads now finish after the delay.
      expect(await Promise.all(reads)).toEqual(['done', 'done', 'done']);
      await s.testUnitReady();
    } finally {
      await s.close();
      await t.stop();
      await srv.stop();
    }
  }, 30_000);
});

describe.skipIf(skip)('an NBD LUN whose nbdkit is killed and restarted under iscsi-perf load', () => {
  it('comes back without restarting the target, and every acknowledged write reads back', async () => {
    const file = join(dir, 'kill.img');
    sparseFile(file, 64 << 20);
    const port = await freePort();
    const ep = { host: '127.0.0.1', port };
    let srv = await startNbdkit(ep, pidFile(), [], ['file', file]);
    const t = await startTarget({ luns: [`${srv.url},timeout=15000`] });
    const s = await Session.connect(t.url(0), { timeout: 30_000 });
    try {
      const perf = runAsync('iscsi-perf', ['-t', '4', '-m', '32', '-b', '8', '-r', t.url(0)], { timeoutMs: 30_000 });
      // Checksummed writers: each write's content is a function of its LBA and version.
      const acked = new Map<number, number>();
      let stop = false;
      let failed: unknown;
      const writers = Array.from({ length: 8 }, async (_, w) => {
        for (let v = 1; !stop; v++) {
          const lba = (w * 512 + (v % 64)) * 8;
          try {
            await s.write(lba, pattern(4096, lba * 1000 + v));
          } catch (e) {
            failed = e;
            return;
          }
          acked.set(lba, v);
        }
      });
      await new Promise((r) => setTimeout(r, 800));
      await srv.kill();
      const killedAt = performance.now();
      const before = acked.size;
      await new Promise((r) => setTimeout(r, 500));
      srv = await startNbdkit(ep, pidFile(), [], ['file', file]);
      // Back: new writes are acknowledged again.
      let progressed = 0;
      for (const start = [...acked.values()].reduce((a, b) => a + b, 0); progressed <= start + 64; ) {
        await new Promise((r) => setTimeout(r, 10));
        progressed = [...acked.values()].reduce((a, b) => a + b, 0);
        if (performance.now() - killedAt > 10_000) break;
      }
      const backMs = performance.now() - killedAt;
      stop = true;
      await Promise.all(writers);
      const p = await perf;
      expect(failed).toBeUndefined();
      expect(before).toBeGreaterThan(0);
      expect(backMs).toBeLessThan(5000);
      expect(p.status).toBe(0);
      console.log(`nbdkit killed and restarted: I/O flowing again ${Math.round(backMs)} ms after the kill (500 ms of it down); ${acked.size} blocks checked`);
      await s.synchronizeCache();
      for (const [lba, v] of acked) {
        const want = pattern(4096, lba * 1000 + v);
        expect((await s.read(lba, 8)).equals(want), `LBA ${lba} v${v} through iSCSI`).toBe(true);
        expect(fileBytes(file, lba * 512, 4096).equals(want), `LBA ${lba} v${v} in the file`).toBe(true);
      }
    } finally {
      await s.close();
      await t.stop();
      await srv.stop();
    }
  }, 60_000);
});

describe.skipIf(skip)('an unreachable NBD server', () => {
  it('stops `tsiscsi target` with one line naming the URL and exit status 2', async () => {
    const port = await freePort();
    const url = `nbd://127.0.0.1:${port}/disk`;
    const r = await runAsync(join(import.meta.dirname, '../../bin/tsiscsi'), ['target', '--portal', '127.0.0.1:0', '--lun', url], { timeoutMs: 20_000 });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([`tsiscsi target: targets[0].luns[0]: cannot reach NBD server ${url}: connect ECONNREFUSED 127.0.0.1:${port}`]);
  });

  it('fails `tsiscsi admin lun add` with one line naming the URL, the target serving on', async () => {
    const admin = join(dir, 'admin.sock');
    const tgt = await spawnTarget(['--lun', 'mem:16M', '--admin-socket', admin, '--log-level', 'warn']);
    try {
      const port = await freePort();
      const url = `nbd://127.0.0.1:${port}/disk`;
      const r = await runAsync(join(import.meta.dirname, '../../bin/tsiscsi'), ['admin', '--socket', admin, 'lun', 'add', '1', url], { timeoutMs: 20_000 });
      expect(r.status).not.toBe(0);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(`cannot reach NBD server ${url}: connect ECONNREFUSED`);
      expect(tgt.proc.exitCode).toBeNull();
    } finally {
      await tgt.stop();
    }
  });
});
