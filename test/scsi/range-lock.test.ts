// LBA range locks for read-then-write commands (COMPARE AND WRITE, SBC-3 §5.2).
import { describe, expect, test } from 'vitest';
import { RangeLock } from '../../src/scsi/range-lock.js';

describe('RangeLock', () => {
  test('grants disjoint ranges at once', () => {
    const l = new RangeLock();
    expect(l.tryAcquire(0, 10)).not.toBeNull();
    expect(l.tryAcquire(10, 10)).not.toBeNull();
    expect(l.held).toBe(2);
  });
  test('refuses an overlapping range until the holder releases', async () => {
    const l = new RangeLock();
    const release = l.tryAcquire(0, 10)!;
    expect(l.tryAcquire(9, 1)).toBeNull();
    let granted = false;
    const p = l.acquire(5, 10).then((r) => {
      granted = true;
      return r;
    });
    await Promise.resolve();
    expect(granted).toBe(false);
    release();
    (await p)();
    expect(granted).toBe(true);
    expect(l.held).toBe(0);
  });
  test('zero-length ranges never conflict', () => {
    const l = new RangeLock();
    l.tryAcquire(0, 100);
    expect(l.tryAcquire(50, 0)).not.toBeNull();
  });
  test('a waiter is not overtaken by a later overlapping request (FIFO)', async () => {
    const l = new RangeLock();
    const r1 = l.tryAcquire(0, 4)!;
    const order: string[] = [];
    const big = l.acquire(0, 8).then((r) => {
      order.push('big');
      return r;
    });
    // Free of the held range but overlapping the queued big one: must wait behind it.
    expect(l.tryAcquire(6, 1)).toBeNull();
    const small = l.acquire(6, 1).then((r) => {
      order.push('small');
      return r;
    });
    r1();
    (await big)();
    (await small)();
    expect(order).toEqual(['big', 'small']);
  });
  test('an aborted wait rejects with AbortError and lets later waiters through', async () => {
    const l = new RangeLock();
    const r1 = l.tryAcquire(0, 4)!;
    const ac = new AbortController();
    const blocked = l.acquire(0, 8, ac.signal);
    const later = l.acquire(5, 1);
    ac.abort();
    await expect(blocked).rejects.toMatchObject({ name: 'AbortError' });
    (await later)();
    r1();
    expect(l.waiting).toBe(0);
  });
  test('release is idempotent', () => {
    const l = new RangeLock();
    const r = l.tryAcquire(0, 1)!;
    r();
    r();
    expect(l.held).toBe(0);
  });
});

describe('RangeLock shared and exclusive modes', () => {
  test('shared locks on the same blocks are granted together', () => {
    const l = new RangeLock();
    expect(l.tryAcquireShared(0, 10)).not.toBeNull();
    expect(l.tryAcquireShared(5, 10)).not.toBeNull();
    expect(l.held).toBe(2);
  });
  test('an exclusive lock waits for the shared holders of its blocks, and holds back new shared ones', async () => {
    const l = new RangeLock();
    const s1 = l.tryAcquireShared(0, 4)!;
    expect(l.tryAcquire(2, 1)).toBeNull();
    const order: string[] = [];
    const ex = l.acquire(2, 1).then((r) => {
      order.push('exclusive');
      return r;
    });
    // Overlapping the queued exclusive request: a shared request queues behind it (no starvation).
    expect(l.tryAcquireShared(2, 1)).toBeNull();
    const s2 = l.acquireShared(0, 8).then((r) => {
      order.push('shared');
      return r;
    });
    // Disjoint from it: granted at once.
    expect(l.tryAcquireShared(10, 1)).not.toBeNull();
    s1();
    (await ex)();
    (await s2)();
    expect(order).toEqual(['exclusive', 'shared']);
  });
  test('a shared lock waits for an exclusive holder of its blocks', async () => {
    const l = new RangeLock();
    const ex = l.tryAcquire(0, 4)!;
    expect(l.tryAcquireShared(3, 1)).toBeNull();
    let granted = false;
    const p = l.acquireShared(3, 1).then((r) => {
      granted = true;
      return r;
    });
    await Promise.resolve();
    expect(granted).toBe(false);
    ex();
    (await p)();
    expect(l.held).toBe(0);
  });
  test('an aborted exclusive wait lets the shared requests behind it through', async () => {
    const l = new RangeLock();
    const s1 = l.tryAcquireShared(0, 4)!;
    const ac = new AbortController();
    const ex = l.acquire(0, 4, ac.signal);
    const s2 = l.acquireShared(1, 1);
    ac.abort();
    await expect(ex).rejects.toMatchObject({ name: 'AbortError' });
    (await s2)();
    s1();
    // With no exclusive request left, shared locks take the fast path again.
    expect(l.tryAcquireShared(0, 100)).not.toBeNull();
  });
});
