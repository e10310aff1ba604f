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
