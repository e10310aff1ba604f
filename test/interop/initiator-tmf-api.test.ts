// The initiator's task management API (RFC 7143 §11.5, RFC 7144) against the project's own target, in
// process, a LUN whose backend takes 2 s per I/O so that commands are still running when each
// function arrives. Each call is checked by what the target then reports, not only by its answer.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortError } from '../../src/errors.js';
import { Session, TaskHandle } from '../../src/initiator/index.js';
import { startTarget, type RunningTarget } from './tsiscsi.js';

describe('initiator task management API against tsiscsi target', () => {
  let t: RunningTarget;
  let s: Session;
  beforeAll(async () => {
    t = await startTarget({ luns: ['mem:16M,delay=2000', 'mem:16M'] });
    s = await Session.connect(t.url(0), { timeout: 30_000 });
  });
  afterAll(async () => {
    await s?.close();
    await t?.stop();
  });

  it('queryTask says a running command exists; abortTask ends it with AbortError; then it no longer exists', async () => {
    const h = new TaskHandle();
    const read = s.read(0, 1, { handle: h });
    const settled = read.then(() => 'ok', (e: unknown) => e);
    await new Promise((r) => setTimeout(r, 100));
    expect(await s.queryTask(h)).toBe(true);
    expect(await s.queryTaskSet()).toBe(true);
    await s.abortTask(h);
    expect(await settled).toBeInstanceOf(AbortError);
    expect(await s.queryTask(h)).toBe(false);
    expect(await s.queryTaskSet()).toBe(false);
  });

  it('abortTaskSet and clearTaskSet end every running command of the LUN with AbortError', async () => {
    for (const fn of ['abortTaskSet', 'clearTaskSet'] as const) {
      const reads = [0, 8, 16].map((lba) => s.read(lba, 1).then(() => 'ok', (e: unknown) => e));
      await new Promise((r) => setTimeout(r, 100));
      await s[fn]();
      for (const r of await Promise.all(reads)) expect(r, fn).toBeInstanceOf(AbortError);
    }
  });

  it('lunReset sends the running commands again; the target then reports the reset, which queryAsyncEvent sees first', async () => {
    const read = s.read(0, 1);
    await new Promise((r) => setTimeout(r, 100));
    await s.lunReset();
    // The reset was collateral damage for the read: it is sent again and completes.
    expect((await read).length).toBe(512);
    await expect(s.queryAsyncEvent()).resolves.toBeUndefined(); // the re-sent read already reported the UA
  }, 20_000);

  it('queryAsyncEvent reports a pending unit attention without clearing it (LUN reset from another session)', async () => {
    const other = await Session.connect(t.url(1), { timeout: 5000 });
    try {
      await other.testUnitReady().catch(() => undefined);
      await s.lunReset({ lun: 1 });
      const ev = await other.queryAsyncEvent();
      expect(ev).toMatchObject({ senseKey: 6, asc: 0x29, ascq: 0x03 });
      expect(await other.queryAsyncEvent()).toMatchObject({ asc: 0x29 }); // still pending
      // The next command reports it; the library turns a unit attention into an event and retries.
      const seen: number[] = [];
      other.on('unit-attention', (e) => {
        if (e.type === 'unit-attention') seen.push((e.asc << 8) | e.ascq);
      });
      await other.testUnitReady();
      await new Promise((r) => setImmediate(r));
      expect(seen).toContain(0x2903);
      expect(await other.queryAsyncEvent()).toBeUndefined();
    } finally {
      await other.close();
    }
  });

  it('clearAca, targetWarmReset and itNexusReset are answered and the session keeps working', async () => {
    await s.clearAca();
    await s.itNexusReset();
    await s.targetWarmReset();
    // The warm reset left POWER ON, RESET, OR BUS DEVICE RESET OCCURRED for this session.
    expect(await s.queryAsyncEvent()).toMatchObject({ senseKey: 6, asc: 0x29, ascq: 0x00 });
    await s.testUnitReady().catch(() => undefined);
    await s.testUnitReady();
  });
});
