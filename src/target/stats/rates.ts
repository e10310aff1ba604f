// Rates between two stats snapshots: what `tsiscsi admin top` shows each second, per LUN and per
// session: IOPS, MB/s, latency percentiles (from the difference of the latency histograms, so they
// describe that interval only) and commands in flight.

import { bucketUpperUs } from './counters.js';
import type { LatencySnapshot, StatsSnapshot } from './snapshot.js';

/** Latency percentiles of an interval, in microseconds (0 when nothing completed). */
export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  mean: number;
}

/** One LUN over an interval. */
export interface LunRate {
  target: string;
  lun: number;
  iops: number;
  readIops: number;
  writeIops: number;
  /** Data-In and Data-Out, in MB/s (10^6 bytes). */
  readMBps: number;
  writeMBps: number;
  latencyUs: Percentiles;
  inFlight: number;
  errors: number;
}

/** One session over an interval. */
export interface SessionRate {
  target: string;
  id: number;
  initiatorName: string;
  peer: string;
  iops: number;
  readMBps: number;
  writeMBps: number;
  latencyUs: Percentiles;
  inFlight: number;
  cmdsnWindow: number;
}

/** What `admin top` shows for one interval. */
export interface RatesFrame {
  at: number;
  seconds: number;
  luns: LunRate[];
  sessions: SessionRate[];
}

function diffBuckets(a: readonly number[] | undefined, b: readonly number[]): number[] {
  return b.map((v, i) => v - (a?.[i] ?? 0));
}

/** Adds bucket counts of several histograms. */
function sumBuckets(hs: readonly (readonly number[])[]): number[] {
  const n = Math.max(0, ...hs.map((h) => h.length));
  const out = new Array<number>(n).fill(0);
  for (const h of hs) h.forEach((v, i) => (out[i]! += v));
  return out;
}

/**
 * The `p` quantile (0..1) of bucket counts, interpolated linearly inside its bucket (quarter-octave
 * buckets: within 19 % of the true value).
 */
export function quantileUs(buckets: readonly number[], p: number): number {
  let total = 0;
  for (const c of buckets) total += c;
  if (total === 0) return 0;
  const rank = p * total;
  let cum = 0;
  for (let i = 0; i < buckets.length; i++) {
    const c = buckets[i]!;
    if (c > 0 && cum + c >= rank) {
      const lo = i === 0 ? 0 : bucketUpperUs(i - 1);
      const hi = bucketUpperUs(i);
      if (!Number.isFinite(hi)) return lo;
      return lo + ((hi - lo) * (rank - cum)) / c;
    }
    cum += c;
  }
  return bucketUpperUs(buckets.length - 1);
}

function percentiles(buckets: number[], sumUs: number): Percentiles {
  const n = buckets.reduce((a, b) => a + b, 0);
  return {
    p50: quantileUs(buckets, 0.5),
    p90: quantileUs(buckets, 0.9),
    p99: quantileUs(buckets, 0.99),
    p999: quantileUs(buckets, 0.999),
    mean: n === 0 ? 0 : sumUs / n,
  };
}

function latencyDiff(a: LatencySnapshot | undefined, b: LatencySnapshot): { buckets: number[]; sumUs: number } {
  return { buckets: diffBuckets(a?.buckets, b.buckets), sumUs: b.sumUs - (a?.sumUs ?? 0) };
}

function sum(r: Record<string, number>): number {
  let s = 0;
  for (const v of Object.values(r)) s += v;
  return s;
}

/** The rates between snapshot `prev` and `cur` (`prev` undefined: since the counters started). */
export function ratesBetween(prev: StatsSnapshot | undefined, cur: StatsSnapshot): RatesFrame {
  const seconds = prev === undefined ? 1 : Math.max(0.001, (cur.at - prev.at) / 1000);
  const luns: LunRate[] = [];
  const sessions: SessionRate[] = [];
  for (const t of cur.targets) {
    const pt = prev?.targets.find((x) => x.name === t.name);
    for (const l of t.luns) {
      const pl = pt?.luns.find((x) => x.lun === l.lun);
      const reads = l.commands.read - (pl?.commands.read ?? 0);
      const writes = l.commands.write - (pl?.commands.write ?? 0);
      const others = l.commands.other - (pl?.commands.other ?? 0);
      const parts = (['read', 'write', 'other'] as const).map((op) => latencyDiff(pl?.latency[op], l.latency[op]));
      const buckets = sumBuckets(parts.map((p) => p.buckets));
      const sumUs = parts.reduce((a, p) => a + p.sumUs, 0);
      const okNow = l.statuses.good ?? 0;
      const okBefore = pl?.statuses.good ?? 0;
      luns.push({
        target: t.name,
        lun: l.lun,
        iops: (reads + writes + others) / seconds,
        readIops: reads / seconds,
        writeIops: writes / seconds,
        readMBps: (l.bytesIn - (pl?.bytesIn ?? 0)) / seconds / 1e6,
        writeMBps: (l.bytesOut - (pl?.bytesOut ?? 0)) / seconds / 1e6,
        latencyUs: percentiles(buckets, sumUs),
        inFlight: l.inFlight,
        errors: sum(l.statuses) - okNow - (sum(pl?.statuses ?? {}) - okBefore),
      });
    }
    for (const s of t.sessionList) {
      const ps = pt?.sessionList.find((x) => x.id === s.id);
      const lat = latencyDiff(ps?.latency, s.latency);
      sessions.push({
        target: t.name,
        id: s.id,
        initiatorName: s.initiatorName,
        peer: s.peer,
        iops: (s.commands - (ps?.commands ?? 0)) / seconds,
        readMBps: (s.bytesIn - (ps?.bytesIn ?? 0)) / seconds / 1e6,
        writeMBps: (s.bytesOut - (ps?.bytesOut ?? 0)) / seconds / 1e6,
        latencyUs: percentiles(lat.buckets, lat.sumUs),
        inFlight: s.inFlight,
        cmdsnWindow: s.cmdsnWindow,
      });
    }
  }
  return { at: cur.at, seconds, luns, sessions };
}
