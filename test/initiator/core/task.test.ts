// The preallocated task pool: taken on the submit path, returned on the response path, ITTs with a
// generation so a stale tag never reaches a new command.
import { describe, expect, it } from 'vitest';
import { TaskPool } from '../../../src/initiator/core/task.js';

describe('TaskPool', () => {
  it('preallocates every task and hands them out until empty', () => {
    const p = new TaskPool(3);
    expect(p.free).toBe(3);
    const ts = [p.take(), p.take(), p.take()];
    expect(ts.every((t) => t !== undefined)).toBe(true);
    expect(p.take()).toBeUndefined();
    p.put(ts[1]!);
    expect(p.take()).toBe(ts[1]);
  });

  it('gives a slot a new ITT each time it is taken', () => {
    const p = new TaskPool(1);
    const t = p.take()!;
    const first = t.itt;
    p.put(t);
    const again = p.take()!;
    expect(again).toBe(t);
    expect(again.itt).not.toBe(first);
    expect(p.byItt(first)).toBeUndefined();
    expect(p.byItt(again.itt)).toBe(again);
  });

  it('keeps task ITTs below 2^31 and never 0xffffffff', () => {
    const p = new TaskPool(4096);
    for (let i = 0; i < 4096; i++) {
      const t = p.take()!;
      expect(t.itt).toBeLessThan(0x80000000);
    }
    expect(p.byItt(0xffffffff)).toBeUndefined();
  });

  it('is idempotent on put', () => {
    const p = new TaskPool(2);
    const t = p.take()!;
    p.put(t);
    p.put(t);
    expect(p.free).toBe(2);
  });

  it('refuses sizes outside 1..4096', () => {
    expect(() => new TaskPool(0)).toThrow(RangeError);
    expect(() => new TaskPool(4097)).toThrow(RangeError);
  });
});
