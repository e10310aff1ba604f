// Counters turned into what `admin top` shows: latency buckets and their quantiles, rates between two
// snapshots, and the sum of the snapshots of several processes.

import { describe, expect, it } from 'vitest';
import { LATENCY_BUCKETS, bucketUpperUs, latencyBucket, mergeSnapshots, quantileUs, ratesBetween, type StatsSnapshot } from '../../src/target/index.js';

function snap(at: number, reads: number, latencyBuckets: number[], sumUs: number): StatsSnapshot {
  const empty = { buckets: [], sumUs: 0 };
  return {
    at,
    counting: true,
    connections: 1,
    loginFailures: { 'authentication-failure': 1 },
    targets: [
      {
        name: 't',
        sessions: 1,
        connections: 1,
        inFlight: 2,
        cmdsnWindow: 126,
        logins: 1,
        tmf: {},
        tmfFailed: {},
        luns: [
          {
            lun: 0,
            blocks: 8,
            blockSize: 512,
            inFlight: 2,
            commands: { read: reads, write: 0, other: 0 },
            bytesIn: reads * 4096,
            bytesOut: 0,
            latency: { read: { buckets: latencyBuckets, sumUs }, write: empty, other: empty },
            senseKeys: {},
            statuses: { good: reads },
            aborts: 0,
            unitAttentions: 0,
          },
        ],
        sessionList: [],
      },
    ],
  };
}

describe('latency buckets', () => {
  it('puts a latency in the quarter-octave bucket whose bound is the first at or above it', () => {
    expect(latencyBucket(0)).toBe(0);
    expect(latencyBucket(8)).toBe(0);
    for (const us of [9, 50, 100, 1000, 123_456, 5e6]) {
      const b = latencyBucket(us);
      expect(bucketUpperUs(b)).toBeGreaterThanOrEqual(us);
      expect(bucketUpperUs(b - 1)).toBeLessThan(us);
    }
    expect(latencyBucket(1e12)).toBe(LATENCY_BUCKETS - 1);
    expect(bucketUpperUs(LATENCY_BUCKETS - 1)).toBe(Infinity);
  });

  it('estimates quantiles within their bucket', () => {
    const b = new Array<number>(LATENCY_BUCKETS).fill(0);
    b[latencyBucket(100)] = 90;
    b[latencyBucket(1000)] = 10;
    const p50 = quantileUs(b, 0.5);
    expect(p50).toBeGreaterThan(bucketUpperUs(latencyBucket(100) - 1));
    expect(p50).toBeLessThanOrEqual(bucketUpperUs(latencyBucket(100)));
    const p99 = quantileUs(b, 0.99);
    expect(p99).toBeGreaterThan(bucketUpperUs(latencyBucket(1000) - 1));
    expect(p99).toBeLessThanOrEqual(bucketUpperUs(latencyBucket(1000)));
    expect(quantileUs([], 0.5)).toBe(0);
  });
});

describe('rates between snapshots', () => {
  it('gives IOPS, MB/s and the latency of the interval only', () => {
    const b0 = new Array<number>(LATENCY_BUCKETS).fill(0);
    b0[latencyBucket(1000)] = 100;
    const b1 = [...b0];
    b1[latencyBucket(100)] = 2000;
    const f = ratesBetween(snap(0, 100, b0, 100 * 1000), snap(2000, 2100, b1, 100 * 1000 + 2000 * 100));
    expect(f.seconds).toBe(2);
    const l = f.luns[0]!;
    expect(l.iops).toBe(1000);
    expect(l.readIops).toBe(1000);
    expect(l.readMBps).toBeCloseTo((2000 * 4096) / 2 / 1e6);
    // The slow commands were before the interval: its p99 is a fast one.
    expect(l.latencyUs.p99).toBeLessThanOrEqual(bucketUpperUs(latencyBucket(100)));
    expect(l.latencyUs.mean).toBe(100);
    expect(l.inFlight).toBe(2);
  });

  it('sums the snapshots of several processes', () => {
    const a = snap(1, 10, [], 0);
    const b = { ...snap(2, 5, [], 0), targets: [{ ...snap(2, 5, [], 0).targets[0]!, name: 'u' }] };
    const m = mergeSnapshots([a, b]);
    expect(m.targets.map((t) => t.name)).toEqual(['t', 'u']);
    expect(m.connections).toBe(2);
    expect(m.loginFailures).toEqual({ 'authentication-failure': 2 });
    expect(m.at).toBe(2);
  });
});
