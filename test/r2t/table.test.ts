// The R2T table (src/r2t/table.ts): pool → queue under pool2queue, queue → pool under queue2pool, the
// indexes by TTT and by task, and what happens when a guard is held across an await.
import { describe, expect, it } from 'vitest';
import { LockOrderError } from '../../src/util/mutex.js';
import { POOL2QUEUE_RANK, QUEUE2POOL_RANK, R2TTable, type R2TRequest } from '../../src/r2t/table.js';

const req = (itt: number, ttt: number, extra: Partial<R2TRequest> = {}): R2TRequest => ({
  itt,
  ttt,
  r2tSN: 0,
  bufferOffset: 0,
  desiredDataTransferLength: 8192,
  owner: { itt },
  ...extra,
});

describe('R2TTable pool → queue (an R2T issued or received)', () => {
  it('fills a pool descriptor, starts its burst at nothing done, and counts it outstanding', () => {
    const t = new R2TTable(2);
    expect(t.free).toBe(2);
    const owner = { task: 1 };
    const d = t.issue(req(7, 100, { r2tSN: 3, bufferOffset: 65536, desiredDataTransferLength: 4096, owner }))!;
    expect(d).toMatchObject({ itt: 7, ttt: 100, r2tSN: 3, bufferOffset: 65536, desiredDataTransferLength: 4096, done: 0, nextDataSN: 0 });
    expect(d.owner).toBe(owner);
    expect(t.free).toBe(1);
    expect(t.outstanding).toBe(1);
    expect(t.byTtt(100)).toBe(d);
    expect(t.nextFor(7)).toBe(d);
  });

  it('returns undefined when the pool is empty, and takes nothing', () => {
    const t = new R2TTable(1);
    expect(t.issue(req(1, 1))).toBeDefined();
    expect(t.issue(req(2, 2))).toBeUndefined();
    expect(t.outstanding).toBe(1);
    expect(t.byTtt(2)).toBeUndefined();
    expect(t.nextFor(2)).toBeUndefined();
  });

  it('reuses a retired descriptor with a fresh burst', () => {
    const t = new R2TTable(1);
    const a = t.issue(req(1, 1))!;
    a.done = 4096;
    a.nextDataSN = 2;
    t.retire(a);
    const b = t.issue(req(2, 2))!;
    expect(b).toBe(a);
    expect(b).toMatchObject({ itt: 2, ttt: 2, done: 0, nextDataSN: 0 });
  });

  it('refuses a capacity that is not a positive integer', () => {
    expect(() => new R2TTable(0)).toThrow(RangeError);
    expect(() => new R2TTable(1.5)).toThrow(RangeError);
  });
});

describe('R2TTable queue → pool (retire, retireTask)', () => {
  it('returns a descriptor to the pool once, drops its owner, and forgets its TTT and task', () => {
    const t = new R2TTable(2);
    const d = t.issue(req(1, 10))!;
    t.retire(d);
    expect(t.free).toBe(2);
    expect(t.outstanding).toBe(0);
    expect(d.owner).toBeNull();
    expect(t.byTtt(10)).toBeUndefined();
    expect(t.nextFor(1)).toBeUndefined();
    t.retire(d); // idempotent
    expect(t.free).toBe(2);
    expect(t.outstanding).toBe(0);
  });

  it('leaves alone a descriptor that is not queued in this table', () => {
    const t = new R2TTable(1);
    const other = new R2TTable(1);
    const mine = t.issue(req(1, 10))!;
    const theirs = other.issue(req(1, 10))!;
    t.retire(theirs);
    t.retire({ ...mine });
    expect(t.outstanding).toBe(1);
    expect(t.byTtt(10)).toBe(mine);
    expect(other.outstanding).toBe(1);
  });

  it('retires every descriptor of one task and counts them, the others stay', () => {
    const t = new R2TTable(4);
    const a1 = t.issue(req(1, 10))!;
    const b = t.issue(req(2, 20))!;
    const a2 = t.issue(req(1, 11))!;
    expect(t.ofTask(1)).toEqual([a1, a2]);
    expect(t.retireTask(1)).toBe(2);
    expect(t.retireTask(1)).toBe(0);
    expect(t.retireTask(99)).toBe(0);
    expect(t.free).toBe(3);
    expect(t.outstanding).toBe(1);
    expect(t.byTtt(10)).toBeUndefined();
    expect(t.byTtt(11)).toBeUndefined();
    expect(t.byTtt(20)).toBe(b);
    expect(t.ofTask(1)).toEqual([]);
    expect(t.ofTask(2)).toEqual([b]);
  });
});

describe('R2TTable indexes', () => {
  it('keeps a task’s descriptors in issue order, whichever is retired first', () => {
    const t = new R2TTable(4);
    const d = [t.issue(req(5, 1))!, t.issue(req(5, 2))!, t.issue(req(5, 3))!];
    expect(t.nextFor(5)).toBe(d[0]);
    t.retire(d[1]!);
    expect(t.ofTask(5)).toEqual([d[0], d[2]]);
    t.retire(d[0]!);
    expect(t.nextFor(5)).toBe(d[2]);
    expect(t.ofTask(5)).toEqual([d[2]]);
  });

  it('holds two descriptors with one TTT (a target may reuse one, RFC 7143 §11.8.3), oldest found first', () => {
    const t = new R2TTable(3);
    const a = t.issue(req(1, 42))!;
    const b = t.issue(req(2, 42))!;
    const c = t.issue(req(3, 42))!;
    expect(t.byTtt(42)).toBe(a);
    t.retire(b);
    expect(t.byTtt(42)).toBe(a);
    t.retire(a);
    expect(t.byTtt(42)).toBe(c);
    expect(t.retireTask(3)).toBe(1);
    expect(t.byTtt(42)).toBeUndefined();
    expect(t.free).toBe(3);
  });

  it('finds the burst of a Data-Out among many outstanding', () => {
    const t = new R2TTable(64);
    const all = Array.from({ length: 64 }, (_, i) => t.issue(req(i, 1000 + i))!);
    for (let i = 0; i < 64; i++) expect(t.byTtt(1000 + i)).toBe(all[i]);
    for (let i = 0; i < 64; i += 2) t.retire(all[i]!);
    for (let i = 0; i < 64; i++) expect(t.byTtt(1000 + i)).toBe(i % 2 === 0 ? undefined : all[i]);
    expect(t.outstanding).toBe(32);
    expect(t.free).toBe(32);
  });
});

describe('R2TTable guards', () => {
  it('names its guards and ranks them after the session locks, queue2pool after pool2queue', () => {
    const t = new R2TTable(1);
    expect(t.pool2queue.name).toBe('pool2queue');
    expect(t.queue2pool.name).toBe('queue2pool');
    expect(t.pool2queue.rank).toBe(POOL2QUEUE_RANK);
    expect(t.queue2pool.rank).toBe(QUEUE2POOL_RANK);
    expect(QUEUE2POOL_RANK).toBeGreaterThan(POOL2QUEUE_RANK);
  });

  it('runs each transition under its guard', () => {
    const t = new R2TTable(2);
    const d = t.issue(req(1, 1))!;
    expect(t.pool2queue.acquisitions).toBe(1);
    expect(t.queue2pool.acquisitions).toBe(0);
    t.retire(d);
    expect(t.queue2pool.acquisitions).toBe(1);
    t.issue(req(2, 2));
    t.retireTask(2);
    expect(t.pool2queue.acquisitions).toBe(2);
    expect(t.queue2pool.acquisitions).toBe(2);
  });

  it('throws rather than move a descriptor while a guard is held across an await', async () => {
    const t = new R2TTable(2);
    const d = t.issue(req(1, 1))!;
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const p2q = t.pool2queue.runExclusive(() => held);
    expect(() => t.issue(req(2, 2))).toThrow(/pool2queue held across an await/);
    expect(t.free).toBe(1);
    release();
    await p2q;
    let release2!: () => void;
    const held2 = new Promise<void>((r) => (release2 = r));
    const q2p = t.queue2pool.runExclusive(() => held2);
    expect(() => t.retire(d)).toThrow(/queue2pool held across an await/);
    expect(() => t.retireTask(1)).toThrow(/queue2pool held across an await/);
    expect(t.outstanding).toBe(1);
    expect(t.byTtt(1)).toBe(d);
    release2();
    await q2p;
    t.retire(d);
    expect(t.outstanding).toBe(0);
  });

  it('may retire inside pool2queue, never issue inside queue2pool (lock order)', async () => {
    const t = new R2TTable(2);
    const d = t.issue(req(1, 1))!;
    await t.queue2pool.runExclusive(() => {
      expect(() => t.issue(req(2, 2))).toThrow(LockOrderError);
    });
    await t.pool2queue.runExclusive(() => {
      t.retire(d);
    });
    expect(t.outstanding).toBe(0);
  });
});
