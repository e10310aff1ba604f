// The delay wrapper with an injected clock: latency before every I/O, abandoned on abort.
import { describe, expect, test, vi } from 'vitest';
import { DelayBackend } from '../../src/backend/delay.js';
import { MemoryBackend } from '../../src/backend/memory.js';
import { ManualClock } from '../../src/util/clock.js';

const flush = () => new Promise((r) => setImmediate(r));

function setup(ms = 50) {
  const inner = new MemoryBackend({ blocks: 64 });
  const clock = new ManualClock();
  return { inner, clock, d: new DelayBackend(inner, ms, clock) };
}

describe('DelayBackend', () => {
  test('does not start the I/O before the delay has passed', async () => {
    const { inner, clock, d } = setup();
    const read = vi.spyOn(inner, 'read');
    let done = false;
    const p = d.read(0, 1, Buffer.alloc(512)).then(() => (done = true));
    clock.advance(49);
    await flush();
    expect(read).not.toHaveBeenCalled();
    expect(done).toBe(false);
    clock.advance(1);
    await p;
    expect(read).toHaveBeenCalledOnce();
  });
  test('delays writes and flushes too', async () => {
    const { inner, clock, d } = setup(10);
    const w = d.write(0, Buffer.alloc(512, 1));
    const f = d.flush();
    clock.advance(10);
    await Promise.all([w, f]);
    const into = Buffer.alloc(512);
    await inner.read(0, 1, into);
    expect(into[0]).toBe(1);
  });
  test('an abort during the delay rejects at once and the I/O never happens', async () => {
    const { inner, clock, d } = setup();
    const write = vi.spyOn(inner, 'write');
    const ac = new AbortController();
    const p = d.write(0, Buffer.alloc(512, 1), undefined, ac.signal);
    ac.abort();
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    expect(clock.pending).toBe(0);
    clock.advance(1000);
    expect(write).not.toHaveBeenCalled();
  });
  test('an abort while the inner I/O runs rejects at once, abandoning it', async () => {
    const { inner, clock, d } = setup();
    let finishInner: () => void = () => {};
    vi.spyOn(inner, 'read').mockImplementation(() => new Promise<void>((r) => (finishInner = r)));
    const ac = new AbortController();
    const p = d.read(0, 1, Buffer.alloc(512), ac.signal);
    clock.advance(50);
    await flush();
    ac.abort();
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    finishInner();
  });
  test('an already aborted signal rejects without a timer', async () => {
    const { clock, d } = setup();
    const ac = new AbortController();
    ac.abort();
    await expect(d.read(0, 1, Buffer.alloc(512), ac.signal)).rejects.toMatchObject({ name: 'AbortError' });
    expect(clock.pending).toBe(0);
  });
  test('passes inner errors through after the delay', async () => {
    const { clock, d } = setup();
    const p = d.read(100, 1, Buffer.alloc(512));
    clock.advance(50);
    await expect(p).rejects.toMatchObject({ code: 'ERR_BACKEND_RANGE' });
  });
  test('has the inner geometry and optional methods', () => {
    const { d } = setup();
    expect([d.blockSize, d.blocks, d.readOnly, d.kind]).toEqual([512, 64, false, 'memory+delay']);
    expect(typeof d.unmap).toBe('function');
    expect(typeof d.resize).toBe('function');
  });
  test('lacks unmap when the inner backend lacks it', () => {
    const inner = new MemoryBackend({ blocks: 8 });
    Object.defineProperty(inner, 'unmap', { value: undefined });
    expect(new DelayBackend(inner, 1).unmap).toBeUndefined();
  });
  test('forwards the medium facts and provisioning status of the inner backend', async () => {
    const inner = new MemoryBackend({ blocks: 8, removable: true, physicalBlockSize: 4096 });
    const d = new DelayBackend(inner, 1);
    expect([d.removable, d.physicalBlockSize]).toEqual([true, 4096]);
    expect(await d.extentStatus!(0, 8)).toEqual({ mapped: false, blocks: 8 });
    expect(d.sidecar).toBeUndefined();
  });
  test('refuses a negative delay', () => {
    expect(() => new DelayBackend(new MemoryBackend({ blocks: 8 }), -1)).toThrow(RangeError);
  });
});
