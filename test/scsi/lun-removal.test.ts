// Removing a logical unit while commands run, in three steps. 1) it refuses new work and what is in flight runs
// to completion, every answer delivered to the command that asked; 2) the owner's cleanup (the
// backend's close) runs once; 3) its state is reset. Nothing touches the backend after its close.
import { describe, expect, test } from 'vitest';
import { DelayBackend } from '../../src/backend/delay.js';
import { MemoryBackend } from '../../src/backend/memory.js';
import type { BlockBackend } from '../../src/backend/types.js';
import { ASC, SENSE_KEY } from '../../src/scsi/constants.js';
import { cdbRead10, cdbWrite10 } from '../../src/scsi/cdb/index.js';
import { ScsiTargetDevice } from '../../src/scsi/target-device.js';
import { TARGET, cmd, expectSense } from './helpers.js';

/** Wraps a backend and records every call, and any call made after close. */
function spy(inner: BlockBackend) {
  const calls: string[] = [];
  let closed = false;
  const afterClose: string[] = [];
  const proxy = new Proxy(inner, {
    get(t, prop, recv) {
      const v = Reflect.get(t, prop, recv) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        const name = String(prop);
        calls.push(name);
        if (closed) afterClose.push(name);
        if (name === 'close') closed = true;
        return (v as (...a: unknown[]) => unknown).apply(t, args);
      };
    },
  });
  return { backend: proxy, calls, afterClose };
}

describe('LUN removal', () => {
  test('answers every command in flight, refuses new ones, closes the backend once and never calls it again', async () => {
    const s = spy(new DelayBackend(new MemoryBackend({ blocks: 256 }), 50));
    const d = new ScsiTargetDevice({ targetName: TARGET });
    d.add(0, s.backend);
    const inflight = [
      d.execute(cmd(cdbWrite10(0, 8), { dataOut: Buffer.alloc(4096, 1) })),
      d.execute(cmd(cdbRead10(16, 8), { dataInLength: 4096 })),
      d.execute(cmd(cdbWrite10(32, 8), { dataOut: Buffer.alloc(4096, 2) })),
    ];
    const steps: string[] = [];
    const removed = d.remove(0, (step) => steps.push(step));
    // Step 1 at once: new work is refused while the old finishes.
    expectSense(await d.execute(cmd(cdbRead10(0, 1), { dataInLength: 512 })), SENSE_KEY.ILLEGAL_REQUEST, ASC.LOGICAL_UNIT_NOT_SUPPORTED);
    expect(d.removing).toEqual([0]);
    // Every command in flight gets its own answer: none lost.
    const answers = await Promise.all(inflight);
    expect(answers.map((a) => a.status)).toEqual([0, 0, 0]);
    expect(await removed).toBe(true);
    expect(steps).toEqual(['flushed', 'cleaned-up', 'reset']);
    expect(s.calls.filter((c) => c === 'close')).toHaveLength(1);
    expect(s.afterClose).toEqual([]);
    expect(d.removing).toEqual([]);
    // Removing again is a no-op that reports there was nothing to remove; close() does not close it twice.
    expect(await d.remove(0)).toBe(false);
    await d.close();
    expect(s.calls.filter((c) => c === 'close')).toHaveLength(1);
  });

  test('a LUN number cannot be reused until its removal has finished', async () => {
    const d = new ScsiTargetDevice({ targetName: TARGET });
    d.add(0, new DelayBackend(new MemoryBackend({ blocks: 64 }), 30));
    const busy = d.execute(cmd(cdbRead10(0, 1), { dataInLength: 512 }));
    const removed = d.remove(0);
    expect(() => d.add(0, new MemoryBackend({ blocks: 64 }))).toThrow(/still being removed/);
    await busy;
    await removed;
    d.add(0, new MemoryBackend({ blocks: 64 }));
    expect(d.luns()).toEqual([0]);
    await d.close();
  });
});
