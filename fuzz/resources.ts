// What the long runs watch to call a run leak-free: open file descriptors (/proc/self/fd), RSS, heap,
// and CPU time. Samples are taken at fixed intervals; "flat after the load" compares the state once
// the load has stopped (every connection closed, a GC if exposed) with the state after warm-up.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The `tsiscsi` CLI entry of the build this module belongs to (fuzz/cli-entry.js starts bin/cli/main.js
 * as bin/tsiscsi does), so a long run from a snapshot spawns the CLI of that snapshot. Under vitest this
 * module runs from fuzz/ as TypeScript: then the compiled dist/ (`npm test` builds it first).
 */
export function cliEntry(): string {
  const built = fileURLToPath(new URL('./cli-entry.js', import.meta.url));
  return existsSync(built) ? built : fileURLToPath(new URL('../dist/fuzz/cli-entry.js', import.meta.url));
}

/** Open file descriptors of this process (Linux: entries of /proc/self/fd), or -1 elsewhere. */
export function fdCount(pid: number | 'self' = 'self'): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return -1;
  }
}

/** Resident set size of a process in MiB (from /proc/PID/status), or -1. */
export function rssOfMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? -1 : Number(m[1]) / 1024;
  } catch {
    return -1;
  }
}

/** CPU time (user + system) a process has used, in ms (from /proc/PID/stat), or -1. */
export function cpuOfMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(f[11]) + Number(f[12]);
    return (ticks * 1000) / 100; // USER_HZ is 100 on Linux
  } catch {
    return -1;
  }
}

export interface ResourceSample {
  /** Seconds since the sampler started. */
  t: number;
  rssMiB: number;
  heapMiB: number;
  fds: number;
  /** Active libuv handles and requests by type (sockets, timers, ...). */
  handles: number;
  /** Anything the caller adds (ops done, connections open, ...). */
  [k: string]: number;
}

/** One sample of this process. */
export function sample(t0: number, extra: Record<string, number> = {}): ResourceSample {
  const m = process.memoryUsage();
  return {
    t: Math.round((Date.now() - t0) / 100) / 10,
    rssMiB: Math.round(m.rss / 2 ** 20),
    heapMiB: Math.round(m.heapUsed / 2 ** 20),
    fds: fdCount(),
    handles: process.getActiveResourcesInfo().length,
    ...extra,
  };
}

/** Runs a collection if node was started with --expose-gc, then lets finalizers and sockets settle. */
export async function settle(ms = 200): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 2; i++) {
    gc?.();
    await new Promise((r) => setTimeout(r, ms / 2));
  }
}

/** Takes a sample every `everyMs` while running; `stop()` returns them all. */
export function sampler(everyMs: number, extra: () => Record<string, number> = () => ({})): { samples: ResourceSample[]; stop(): ResourceSample[] } {
  const t0 = Date.now();
  const samples: ResourceSample[] = [sample(t0, extra())];
  const timer = setInterval(() => samples.push(sample(t0, extra())), everyMs);
  timer.unref();
  return {
    samples,
    stop() {
      clearInterval(timer);
      return samples;
    },
  };
}

/** Time and CPU spent by this process between two points: the CPU share tells a spin from a wait. */
export function cpuMeter(): () => { wallMs: number; cpuMs: number } {
  const w0 = performance.now();
  const c0 = process.cpuUsage();
  return () => {
    const c = process.cpuUsage(c0);
    return { wallMs: performance.now() - w0, cpuMs: (c.user + c.system) / 1000 };
  };
}
