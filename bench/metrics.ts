// What the target's counters and metrics cost: iscsi-perf 4K random reads at QD 32 against two
// targets started alike, one with nothing to read its counters (they are not kept) and one with
// --metrics (counters kept, /metrics scraped every second during its runs). Runs alternate between the
// two (off on off on ...) in one process so that the machine's drift hits both; medians and the ratio.
//
//   npm run bench:metrics -- [--rounds 5] [--time 8] [--lun mem:1G] [--qd 32]

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

const CLI = new URL('../../bin/tsiscsi', import.meta.url).pathname;
const IQN = 'iqn.2026-11.io.tsiscsi.bench:metrics';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : def;
}
const rounds = Number(arg('--rounds', '5'));
const seconds = Number(arg('--time', '8'));
const lun = arg('--lun', 'mem:1G');
const qd = Number(arg('--qd', '32'));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function startTarget(extra: string[]): Promise<{ port: number; proc: ChildProcess }> {
  const port = await freePort();
  const proc = spawn(CLI, ['target', '--portal', `127.0.0.1:${port}`, '--iqn', IQN, '--lun', lun, '--log-level', 'warn', ...extra], { stdio: ['ignore', 'ignore', 'inherit'] });
  for (let i = 0; i < 200; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const c = createConnection({ host: '127.0.0.1', port });
      c.once('connect', () => (c.destroy(), resolve(true)));
      c.once('error', () => resolve(false));
    });
    if (up) return { port, proc };
    await sleep(50);
  }
  proc.kill('SIGKILL');
  throw new Error('target did not start');
}

function iscsiPerf(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const p = spawn('timeout', ['-s', 'KILL', String(seconds + 20), 'iscsi-perf', '-t', String(seconds), '-m', String(qd), '-b', '8', '-r', `iscsi://127.0.0.1:${port}/${IQN}/0`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    p.on('close', () => {
      const m = [...out.matchAll(/iops average (\d+)/g)].at(-1);
      if (m === undefined) reject(new Error(`iscsi-perf gave no result: ${out.slice(-200)}`));
      else resolve(Number(m[1]));
    });
  });
}

/** CPU seconds (user + system) a process has used, from /proc (clock ticks of 1/100 s). */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** One run: IOPS, and the target's CPU microseconds per I/O (far less sensitive to other load than IOPS). */
async function measure(t: { port: number; proc: ChildProcess }): Promise<{ iops: number; cpuUsPerIo: number }> {
  const c0 = cpuSeconds(t.proc.pid!);
  const iops = await iscsiPerf(t.port);
  const cpu = cpuSeconds(t.proc.pid!) - c0;
  return { iops, cpuUsPerIo: (cpu * 1e6) / (iops * seconds) };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 === 1 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
}

const metricsPort = await freePort();
const off = await startTarget([]);
const on = await startTarget(['--metrics', `127.0.0.1:${metricsPort}`]);
const results = { off: [] as number[], on: [] as number[], cpuOff: [] as number[], cpuOn: [] as number[], scrapes: 0 };
try {
  // One warm-up run each (JIT, page cache), not counted.
  await iscsiPerf(off.port);
  await iscsiPerf(on.port);
  for (let r = 0; r < rounds; r++) {
    // The order within a round alternates too (off-on, on-off, ...): neither arm always runs second.
    let a = { iops: 0, cpuUsPerIo: 0 };
    let b = { iops: 0, cpuUsPerIo: 0 };
    const runOff = async () => {
      a = await measure(off);
    };
    const runOn = async () => {
      // With metrics on, a scraper reads /metrics every second, as Prometheus would (more often than usual).
      let scraping = true;
      const scraper = (async () => {
        while (scraping) {
          const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
          await res.text();
          results.scrapes++;
          await sleep(1000);
        }
      })();
      b = await measure(on);
      scraping = false;
      await scraper;
    };
    if (r % 2 === 0) {
      await runOff();
      await runOn();
    } else {
      await runOn();
      await runOff();
    }
    results.off.push(a.iops);
    results.cpuOff.push(a.cpuUsPerIo);
    results.on.push(b.iops);
    results.cpuOn.push(b.cpuUsPerIo);
    process.stderr.write(`round ${r + 1}/${rounds}: off ${a.iops} IOPS ${a.cpuUsPerIo.toFixed(2)} us/IO, on ${b.iops} IOPS ${b.cpuUsPerIo.toFixed(2)} us/IO\n`);
  }
} finally {
  off.proc.kill('SIGTERM');
  on.proc.kill('SIGTERM');
}
const mOff = median(results.off);
const mOn = median(results.on);
const summary = {
  workload: `iscsi-perf 4K randread QD${qd}, ${lun}, ${seconds}s per run, ${rounds} alternating rounds`,
  iopsOff: results.off,
  iopsOn: results.on,
  medianOff: mOff,
  medianOn: mOn,
  ratio: mOn / mOff,
  dropPercent: (1 - mOn / mOff) * 100,
  cpuUsPerIoOff: results.cpuOff,
  cpuUsPerIoOn: results.cpuOn,
  cpuRatio: median(results.cpuOn) / median(results.cpuOff),
  scrapes: results.scrapes,
  at: new Date().toISOString(),
};
mkdirSync(new URL('../../bench/results/', import.meta.url), { recursive: true });
writeFileSync(new URL('../../bench/results/metrics-latest.json', import.meta.url), `${JSON.stringify(summary, null, 2)}\n`);
process.stdout.write(`${JSON.stringify(summary)}\n`);
