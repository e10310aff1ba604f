// The fencing clock: a gateway's lease is valid by its own clock from when it SENT the keepalive that
// renewed it, for TTL less a margin; expiry and renewal are announced once each.
import { describe, expect, test } from 'vitest';
import { FencingClock, fencingMargin, type MonotonicClock } from '../../src/cluster/fencing.js';

class Manual implements MonotonicClock {
  t = 1000;
  timers: { at: number; fn: () => void; live: boolean }[] = [];
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): { cancel(): void } {
    const x = { at: this.t + ms, fn, live: true };
    this.timers.push(x);
    return { cancel: () => (x.live = false) };
  }
  advance(ms: number): void {
    this.t += ms;
    for (const x of this.timers.splice(0)) {
      if (x.live && x.at <= this.t) x.fn();
      else if (x.live) this.timers.push(x);
    }
  }
}

describe('fencing clock', () => {
  test('is invalid before the first renewal', () => {
    expect(new FencingClock(new Manual(), () => {}).valid()).toBe(false);
  });

  test('counts TTL less the margin from when the keepalive was sent, not when it came back', () => {
    const c = new Manual();
    const f = new FencingClock(c, () => {});
    const sentAt = c.now();
    c.advance(300); // the answer takes 300 ms
    f.renewed(sentAt, 5);
    expect(f.validUntil).toBe(sentAt + 5000 - fencingMargin(5000));
    c.advance(5000 - fencingMargin(5000) - 300 - 1);
    expect(f.valid()).toBe(true);
    c.advance(1);
    expect(f.valid()).toBe(false);
  });

  test('announces expiry from its timer and renewal once each', () => {
    const c = new Manual();
    const seen: boolean[] = [];
    const f = new FencingClock(c, (v) => seen.push(v));
    f.renewed(c.now(), 2);
    f.renewed(c.now(), 2);
    c.advance(2000);
    expect(seen).toEqual([true, false]);
    f.renewed(c.now(), 2);
    expect(seen).toEqual([true, false, true]);
  });

  test('a TTL of 0 (the lease is gone at etcd) invalidates at once', () => {
    const c = new Manual();
    const f = new FencingClock(c, () => {});
    f.renewed(c.now(), 5);
    f.renewed(c.now(), 0);
    expect(f.valid()).toBe(false);
  });

  test('an answer that overtook a later one does not move validity back', () => {
    const c = new Manual();
    const f = new FencingClock(c, () => {});
    f.renewed(c.now() + 1000, 5);
    const until = f.validUntil;
    f.renewed(c.now(), 5);
    expect(f.validUntil).toBe(until);
  });
});
