// The task set admission rules (SAM-5 §8.6) on their own.
import { describe, expect, test } from 'vitest';
import { TaskSet } from '../../src/scsi/task-set.js';

const live = () => new AbortController().signal;

describe('TaskSet', () => {
  test('admits SIMPLE tasks concurrently', () => {
    const t = new TaskSet();
    expect(t.tryEnter('simple')).toBe(true);
    expect(t.tryEnter('untagged')).toBe(true);
    expect(t.running).toBe(2);
  });
  test('refuses an ORDERED task while others run, and SIMPLE ones while it runs', () => {
    const t = new TaskSet();
    t.tryEnter('simple');
    expect(t.tryEnter('ordered')).toBe(false);
    t.exit('simple');
    expect(t.tryEnter('ordered')).toBe(true);
    expect(t.tryEnter('simple')).toBe(false);
    expect(t.tryEnter('head-of-queue')).toBe(true);
  });
  test('admits queued tasks in order as the ORDERED one finishes', async () => {
    const t = new TaskSet();
    t.tryEnter('simple');
    const order: string[] = [];
    const o = t.wait('ordered', live()).then(() => order.push('ordered'));
    const s = t.wait('simple', live()).then(() => order.push('simple'));
    t.exit('simple');
    await o;
    expect(order).toEqual(['ordered']);
    t.exit('ordered');
    await s;
    expect(order).toEqual(['ordered', 'simple']);
    t.exit('simple');
    expect(t.running).toBe(0);
  });
  test('a SIMPLE task does not overtake a queued ORDERED one', () => {
    const t = new TaskSet();
    t.tryEnter('simple');
    void t.wait('ordered', live());
    expect(t.tryEnter('simple')).toBe(false);
  });
  test('whenIdle resolves once nothing runs or waits', async () => {
    const t = new TaskSet();
    t.tryEnter('simple');
    let idle = false;
    const p = t.whenIdle().then(() => (idle = true));
    await Promise.resolve();
    expect(idle).toBe(false);
    t.exit('simple');
    await p;
    expect(idle).toBe(true);
  });
  test('an aborted waiter is withdrawn', async () => {
    const t = new TaskSet();
    t.tryEnter('ordered');
    const ac = new AbortController();
    const w = t.wait('simple', ac.signal);
    ac.abort();
    await expect(w).rejects.toMatchObject({ name: 'AbortError' });
    expect(t.queued).toBe(0);
  });
});
