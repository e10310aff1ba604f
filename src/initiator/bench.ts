// The engine of `tsiscsi bench`: fio-like load against one LUN. `sessions` sessions, each shared by `jobs`
// submitters, each submitter keeping `qd` I/Os in flight. Given several URLs of the LU, each session is
// a MultipathSession over all of them: its path selection spreads the I/O, counted per path. Latency goes into a preallocated log-linear
// histogram (no allocation per I/O); CPU time per I/O comes from process.cpuUsage().

import { ConnectionError, LoginError } from '../errors.js';
import { MultipathSession } from './multipath/multipath-session.js';
import type { PathPolicy } from './multipath/selector.js';
import type { SessionOptions } from './options.js';
import { Session } from './session.js';
import type { LockStats } from './core/locks.js';
export { parseSize } from '../util/size.js';

/** The access patterns (fio's names). */
export type BenchPattern = 'randread' | 'randwrite' | 'read' | 'write' | 'randrw';

/** Every {@link BenchPattern}, for option parsing. */
export const BENCH_PATTERNS: readonly BenchPattern[] = ['randread', 'randwrite', 'read', 'write', 'randrw'];

/** What {@link runBench} measures, and how. */
export interface BenchOptions {
  url: string;
  /** More URLs of the same LU: each session is then a MultipathSession over `url` and these. */
  paths?: readonly string[];
  /** How a multipath session picks paths (see MultipathOptions.pathPolicy). Default 'alua'. */
  pathPolicy?: PathPolicy;
  /** With several URLs: MultipathOptions.failoverTimeout. */
  failoverTimeout?: number;
  rw: BenchPattern;
  /** Bytes per I/O (a multiple of the block size). */
  bs: number;
  /** I/Os in flight per submitter. */
  qd: number;
  /** Submitters sharing each session. Default 1. */
  jobs?: number;
  /** Sessions (each its own connection). Default 1. */
  sessions?: number;
  /** Seconds of measurement. Default 10. */
  time?: number;
  /** Seconds run before measuring. Default 0. */
  ramp?: number;
  /** Percentage of reads for randrw. Default 50. */
  rwmixread?: number;
  /** Bytes of the LU to use, from `offset`. Default: all of it. */
  size?: number;
  offset?: number;
  sessionOptions?: SessionOptions;
  /** Called about once a second. */
  onProgress?: (p: BenchProgress) => void;
  signal?: AbortSignal;
}

/** A progress report, about once a second. */
export interface BenchProgress {
  elapsed: number;
  ios: number;
  /** IOPS over the last interval. */
  iops: number;
  mbps: number;
  errors: number;
}

/** What {@link runBench} measured. */
export interface BenchResult {
  rw: BenchPattern;
  bs: number;
  qd: number;
  jobs: number;
  sessions: number;
  lockMode: string;
  seconds: number;
  ios: number;
  iops: number;
  /** 10^6 bytes per second. */
  mbps: number;
  /** Microseconds. */
  latency: { mean: number; p50: number; p99: number; p999: number; max: number };
  /** CPU time (user + system) of this process per I/O, in microseconds. */
  cpuPerIoUs: number;
  cpuUserUs: number;
  cpuSystemUs: number;
  errors: number;
  firstError: string | undefined;
  reconnects: number;
  locks: LockStats[];
  /** With several URLs: the I/Os each path completed while measuring, and how often it went down. */
  paths?: BenchPathResult[];
}

/** One path's share of a multipath bench. */
export interface BenchPathResult {
  url: string;
  /** I/Os it completed while measuring (all sessions together). */
  ios: number;
  /** Its share of all I/Os completed, 0..1. */
  share: number;
  /** ALUA state at the end (of the first session). */
  aluaState: string;
  /** Times it went down (all sessions). */
  downs: number;
}

/** A session the bench drives: one path or several. */
type BenchSession = Session | MultipathSession;

/** A log-linear latency histogram in microseconds: exact below 256 µs, within 1% above. */
export class LatencyHistogram {
  static readonly SUB = 128;
  readonly counts = new Float64Array(256 + 40 * LatencyHistogram.SUB);
  total = 0;
  sum = 0;
  max = 0;

  record(us: number): void {
    const v = us < 0 ? 0 : Math.round(us);
    this.total++;
    this.sum += us;
    if (us > this.max) this.max = us;
    this.counts[LatencyHistogram.index(v)]!++;
  }

  static index(v: number): number {
    if (v < 256) return v;
    const e = Math.min(47, Math.floor(Math.log2(v)));
    const m = Math.floor(v / 2 ** (e - 7));
    return 256 + (e - 8) * 128 + (m - 128);
  }

  static lower(i: number): number {
    if (i < 256) return i;
    const e = Math.floor((i - 256) / 128) + 8;
    const m = ((i - 256) % 128) + 128;
    return m * 2 ** (e - 7);
  }

  /** The value at quantile q (0..1), the middle of its bucket. */
  quantile(q: number): number {
    if (this.total === 0) return 0;
    const want = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      if (seen >= want) {
        const lo = LatencyHistogram.lower(i);
        const hi = i + 1 < this.counts.length ? LatencyHistogram.lower(i + 1) : lo;
        return Math.min(this.max, (lo + hi) / 2);
      }
    }
    return this.max;
  }

  merge(o: LatencyHistogram): void {
    for (let i = 0; i < this.counts.length; i++) this.counts[i]! += o.counts[i]!;
    this.total += o.total;
    this.sum += o.sum;
    this.max = Math.max(this.max, o.max);
  }

  reset(): void {
    this.counts.fill(0);
    this.total = 0;
    this.sum = 0;
    this.max = 0;
  }
}

function fatal(e: unknown): boolean {
  return e instanceof ConnectionError || e instanceof LoginError;
}

/** Runs the load; resolves with the figures. Sessions are closed at the end, whatever happens. */
export async function runBench(o: BenchOptions): Promise<BenchResult> {
  const jobs = o.jobs ?? 1;
  const nSessions = o.sessions ?? 1;
  const seconds = o.time ?? 10;
  const ramp = o.ramp ?? 0;
  const mix = o.rwmixread ?? 50;
  for (const [k, v, min] of [['qd', o.qd, 1], ['jobs', jobs, 1], ['sessions', nSessions, 1]] as const) {
    if (!Number.isInteger(v) || v < min) throw new RangeError(`--${k} must be a positive integer, got ${v}`);
  }
  if (!(seconds > 0)) throw new RangeError(`--time must be positive, got ${seconds}`);
  if (!BENCH_PATTERNS.includes(o.rw)) throw new RangeError(`--rw must be one of ${BENCH_PATTERNS.join(', ')}`);
  const perSession = jobs * o.qd;
  const sessions: BenchSession[] = [];
  const urls = [o.url, ...(o.paths ?? [])];
  try {
    for (let i = 0; i < nSessions; i++) {
      const so = { ...o.sessionOptions, queueDepth: Math.min(4096, Math.max(perSession, o.sessionOptions?.queueDepth ?? 0)) };
      sessions.push(urls.length > 1 ? await MultipathSession.connect(urls, { ...so, pathPolicy: o.pathPolicy ?? 'alua', ...(o.failoverTimeout !== undefined && { failoverTimeout: o.failoverTimeout }) }) : await Session.connect(o.url, so));
    }
    const cap = await sessions[0]!.readCapacity();
    for (const s of sessions.slice(1)) await s.readCapacity();
    const blockSize = cap.blockSize;
    if (o.bs % blockSize !== 0) throw new RangeError(`--bs ${o.bs} is not a multiple of the ${blockSize}-byte block size`);
    const nb = o.bs / blockSize;
    const startLba = Math.floor((o.offset ?? 0) / blockSize);
    const usable = Math.min(cap.blocks - startLba, o.size !== undefined ? Math.floor(o.size / blockSize) : Infinity);
    const slots = Math.floor(usable / nb);
    if (slots < 1) throw new RangeError(`the LU (${cap.bytes} bytes) has no room for one ${o.bs}-byte I/O at offset ${o.offset ?? 0}`);

    const hist = new LatencyHistogram();
    let ios = 0;
    let bytes = 0;
    let errors = 0;
    let firstError: unknown;
    let stop = false;
    let measuring = ramp === 0;
    const writeBuf = Buffer.allocUnsafe(o.bs);
    for (let i = 0; i < writeBuf.length; i += 4) writeBuf.writeUInt32LE((Math.random() * 0x100000000) >>> 0, i);
    const random = o.rw === 'randread' || o.rw === 'randwrite' || o.rw === 'randrw';
    const onAbort = (): void => {
      stop = true;
    };
    o.signal?.addEventListener('abort', onAbort, { once: true });

    const worker = async (s: BenchSession, cursor: { next: number }): Promise<void> => {
      // Large reads land in a buffer of the worker's own; small ones are handed over from the socket.
      const into = o.bs > 16384 ? Buffer.allocUnsafe(o.bs) : undefined;
      const readOpts = into !== undefined ? { into } : {};
      while (!stop) {
        const isRead = o.rw === 'randread' || o.rw === 'read' || (o.rw === 'randrw' && Math.random() * 100 < mix);
        let slot: number;
        if (random) slot = Math.floor(Math.random() * slots);
        else {
          slot = cursor.next;
          cursor.next = (cursor.next + 1) % slots;
        }
        const lba = startLba + slot * nb;
        const t0 = performance.now();
        try {
          if (isRead) await s.read(lba, nb, readOpts);
          else await s.write(lba, writeBuf);
        } catch (e) {
          if (stop) return;
          errors++;
          firstError ??= e;
          if (fatal(e) || errors > 1000) {
            stop = true;
            return;
          }
          continue;
        }
        if (measuring) {
          hist.record((performance.now() - t0) * 1000);
          ios++;
          bytes += o.bs;
        }
      }
    };

    const all: Promise<void>[] = [];
    for (let si = 0; si < sessions.length; si++) {
      for (let j = 0; j < jobs; j++) {
        // Sequential jobs start apart so they do not read the same blocks.
        const cursor = { next: Math.floor(((si * jobs + j) * slots) / (nSessions * jobs)) };
        for (let q = 0; q < o.qd; q++) all.push(worker(sessions[si]!, cursor));
      }
    }
    if (ramp > 0) {
      await sleep(ramp * 1000, () => stop);
      measuring = true;
    }
    const pathsAtStart = pathCounts(sessions);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const endAt = t0 + seconds * 1000;
    let lastIos = 0;
    let lastT = t0;
    while (!stop) {
      const now = performance.now();
      if (now >= endAt) break;
      await sleep(Math.min(1000 - ((now - t0) % 1000), endAt - now), () => stop);
      const t = performance.now();
      if (o.onProgress !== undefined && t < endAt - 1) {
        const d = (t - lastT) / 1000;
        o.onProgress({ elapsed: (t - t0) / 1000, ios, iops: (ios - lastIos) / d, mbps: ((ios - lastIos) * o.bs) / d / 1e6, errors });
      }
      lastIos = ios;
      lastT = t;
    }
    const elapsed = (performance.now() - t0) / 1000;
    const finalIos = ios;
    const pathsAtEnd = pathCounts(sessions);
    const finalBytes = bytes;
    const cpu = process.cpuUsage(cpu0);
    stop = true;
    o.signal?.removeEventListener('abort', onAbort);
    await Promise.all(all);
    const locks = mergeLocks(sessions.map((s) => (s instanceof Session ? s.stats().locks : [])));
    if (finalIos === 0 && firstError !== undefined) throw firstError;
    return {
      rw: o.rw,
      bs: o.bs,
      qd: o.qd,
      jobs,
      sessions: nSessions,
      lockMode: o.sessionOptions?.lockMode ?? 'split',
      seconds: elapsed,
      ios: finalIos,
      iops: finalIos / elapsed,
      mbps: finalBytes / elapsed / 1e6,
      latency: { mean: hist.total ? hist.sum / hist.total : 0, p50: hist.quantile(0.5), p99: hist.quantile(0.99), p999: hist.quantile(0.999), max: hist.max },
      cpuPerIoUs: finalIos > 0 ? (cpu.user + cpu.system) / finalIos : 0,
      cpuUserUs: cpu.user,
      cpuSystemUs: cpu.system,
      errors,
      firstError: firstError === undefined ? undefined : firstError instanceof Error ? firstError.message : String(firstError),
      reconnects: sessions.reduce((n, s) => n + (s instanceof Session ? s.stats().reconnects : s.paths().reduce((d, p) => d + p.downs, 0)), 0),
      locks,
      ...(urls.length > 1 && { paths: pathResults(sessions as MultipathSession[], pathsAtStart, pathsAtEnd) }),
    };
  } finally {
    await Promise.all(sessions.map((s) => s.close()));
  }
}

/** Commands completed per path, summed over the multipath sessions (empty for single-path ones). */
function pathCounts(sessions: readonly BenchSession[]): number[] {
  const counts: number[] = [];
  for (const s of sessions) {
    if (s instanceof Session) continue;
    s.paths().forEach((p, i) => (counts[i] = (counts[i] ?? 0) + p.commands));
  }
  return counts;
}

function pathResults(sessions: readonly MultipathSession[], start: number[], end: number[]): BenchPathResult[] {
  const first = sessions[0]!.paths();
  const ios = first.map((_, i) => (end[i] ?? 0) - (start[i] ?? 0));
  const total = ios.reduce((a, b) => a + b, 0);
  return first.map((p, i) => ({
    url: p.url,
    ios: ios[i]!,
    share: total > 0 ? ios[i]! / total : 0,
    aluaState: p.aluaStateName,
    downs: sessions.reduce((n, s) => n + s.paths()[i]!.downs, 0),
  }));
}

function mergeLocks(all: LockStats[][]): LockStats[] {
  const by = new Map<string, LockStats>();
  for (const list of all) {
    for (const l of list) {
      const m = by.get(l.name);
      if (m === undefined) by.set(l.name, { ...l });
      else {
        m.acquisitions += l.acquisitions;
        m.contended += l.contended;
        m.holdNs += l.holdNs;
        m.maxHoldNs = Math.max(m.maxHoldNs, l.maxHoldNs);
      }
    }
  }
  return [...by.values()];
}

function sleep(ms: number, stopped: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    if (stopped()) return resolve();
    setTimeout(resolve, Math.max(0, ms));
  });
}
