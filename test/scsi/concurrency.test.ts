// Task attributes (SAM-5 §8.6), aborts through cmd.signal, and LU removal with commands in flight.
// A gated backend holds commands inside the backend so order is observed without timers.
import { describe, expect, test } from 'vitest';
import { MemoryBackend } from '../../src/backend/memory.js';
import { ASC, SENSE_KEY } from '../../src/scsi/constants.js';
import { cdbRead10, cdbTestUnitReady, cdbWrite10 } from '../../src/scsi/cdb/index.js';
import { LogicalUnit } from '../../src/scsi/logical-unit.js';
import type { ScsiResponse } from '../../src/scsi/types.js';
import { GatedBackend, cmd, expectSense, pattern, settle, type CmdOptions } from './helpers.js';

function gated() {
  const backend = new GatedBackend(new MemoryBackend({ blocks: 64 }));
  const lu = new LogicalUnit({ lun: 0, backend });
  const done: string[] = [];
  const run = (name: string, cdb: Buffer, o: CmdOptions = {}): Promise<ScsiResponse> =>
    lu.execute(cmd(cdb, o)).then((r) => {
      done.push(name);
      return r;
    });
  return { backend, lu, done, run };
}

describe('task attributes', () => {
  test('SIMPLE commands run concurrently', async () => {
    const g = gated();
    const a = g.run('a', cdbRead10(0, 1));
    const b = g.run('b', cdbRead10(1, 1));
    await settle();
    expect(g.backend.pending).toBe(2);
    g.backend.release();
    g.backend.release();
    await Promise.all([a, b]);
  });
  test('an ORDERED command waits for older commands and holds back newer ones', async () => {
    const g = gated();
    const a = g.run('a', cdbRead10(0, 1));
    const o = g.run('ordered', cdbRead10(1, 1), { attr: 'ordered' });
    const c = g.run('c', cdbRead10(2, 1));
    await settle();
    expect(g.backend.calls).toEqual(['read 0']);
    g.backend.release();
    await a;
    await settle();
    expect(g.backend.calls).toEqual(['read 0', 'read 1']);
    g.backend.release();
    await o;
    await settle();
    expect(g.backend.calls).toEqual(['read 0', 'read 1', 'read 2']);
    g.backend.release();
    await c;
    expect(g.done).toEqual(['a', 'ordered', 'c']);
  });
  test('a HEAD OF QUEUE command runs at once, even behind an ORDERED one', async () => {
    const g = gated();
    const a = g.run('a', cdbRead10(0, 1));
    const o = g.run('ordered', cdbRead10(1, 1), { attr: 'ordered' });
    const h = g.run('hoq', cdbRead10(5, 1), { attr: 'head-of-queue' });
    await settle();
    expect(g.backend.calls).toEqual(['read 0', 'read 5']);
    g.backend.release();
    g.backend.release();
    await Promise.all([a, h]);
    await settle();
    g.backend.release();
    await o;
  });
  test('commands refused by the admission checks do not wait behind an ORDERED command', async () => {
    const g = gated();
    const a = g.run('a', cdbRead10(0, 1), { attr: 'ordered' });
    await settle();
    expectSense(await g.run('bad', Buffer.from([0xc0, 0, 0, 0, 0, 0])), SENSE_KEY.ILLEGAL_REQUEST, ASC.INVALID_COMMAND_OPERATION_CODE);
    const reserved = cdbRead10(0, 1);
    reserved[9] = 0x01;
    expectSense(await g.run('bad', reserved), SENSE_KEY.ILLEGAL_REQUEST, ASC.INVALID_FIELD_IN_CDB);
    g.backend.release();
    await a;
  });
});

describe('aborts', () => {
  test('a command aborted before it starts is rejected with AbortError', async () => {
    const g = gated();
    const ac = new AbortController();
    ac.abort();
    await expect(g.run('x', cdbTestUnitReady(), { signal: ac.signal })).rejects.toMatchObject({ name: 'AbortError' });
  });
  test('a command aborted inside the backend is rejected with AbortError', async () => {
    const g = gated();
    const ac = new AbortController();
    const p = g.run('x', cdbRead10(0, 1), { signal: ac.signal });
    await settle();
    ac.abort();
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    expect(g.lu.inFlight).toBe(0);
  });
  test('a command queued behind an ORDERED one is withdrawn when aborted', async () => {
    const g = gated();
    const o = g.run('ordered', cdbRead10(0, 1), { attr: 'ordered' });
    const ac = new AbortController();
    const q = g.run('queued', cdbRead10(1, 1), { signal: ac.signal });
    await settle();
    ac.abort();
    await expect(q).rejects.toMatchObject({ name: 'AbortError' });
    g.backend.release();
    await o;
    expect(g.backend.calls).toEqual(['read 0']);
  });
  test('a command whose backend ignored the abort still rejects', async () => {
    const lu = new LogicalUnit({ lun: 0, backend: new MemoryBackend({ blocks: 8 }) });
    const ac = new AbortController();
    const p = lu.execute(cmd(cdbWrite10(0, 1), { signal: ac.signal, dataOut: pattern(1, 1) }));
    ac.abort();
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
  });
});

describe('removal', () => {
  test('remove() waits for commands in flight, refuses new ones and closes the backend', async () => {
    const g = gated();
    const a = g.run('a', cdbRead10(0, 1));
    await settle();
    let removed = false;
    const r = g.lu.remove().then(() => (removed = true));
    expectSense(await g.run('late', cdbTestUnitReady()), SENSE_KEY.ILLEGAL_REQUEST, ASC.LOGICAL_UNIT_NOT_SUPPORTED);
    await settle();
    expect(removed).toBe(false);
    g.backend.release();
    expect((await a).status).toBe(0);
    await r;
    expect(removed).toBe(true);
    expect(g.lu.removed).toBe(true);
    await expect(g.backend.inner.read(0, 1, Buffer.alloc(512))).rejects.toMatchObject({ code: 'ERR_BACKEND_CLOSED' });
  });
  test('remove() is idempotent', async () => {
    const g = gated();
    const p1 = g.lu.remove();
    expect(g.lu.remove()).toBe(p1);
    await p1;
  });
});
