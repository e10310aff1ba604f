// tsiscsi's initiator against libiscsi's iscsi-perf on the same tgtd, side by side, in alternating runs,
// with medians and ratios (how close the initiator comes to libiscsi's own tool, same target, same run):
//   A: iscsi-perf -m 32 -b 8 -r                      (libiscsi, 4 KiB random read, 32 in flight)
//   B: tsiscsi bench --rw randread --bs 4k --qd 32   (one submitter)
//   C: tsiscsi bench ... --jobs 4 --qd 8             (four submitters sharing the session)
//   D: tsiscsi bench ... --qd 32 --lock-mode one     (one session lock instead of frwd/back)
// Each run measures `--time` seconds after a 1 s ramp (iscsi-perf's per-second figures, first dropped).
//
//   npm run build && node dist/bench/initiator.js [--rounds 5] [--time 8] [--url iscsi://...]
// Without --url a tgtd is started on a free port with a 1 GiB sparse LUN 1, and killed at the end.

import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const CLI = new URL('../../bin/tsiscsi', import.meta.url).pathname;

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : def;
}

const rounds = Number(arg('rounds', '5'));
const seconds = Number(arg('time', '8'));
const only = arg('only', 'ABCD');

interface Tgtd {
  url: string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function startTgtd(): Promise<Tgtd> {
  const port = await freePort();
  const ctl = 1000 + (port % 30000);
  const dir = mkdtempSync(join(tmpdir(), 'tsiscsi-bench-'));
  const lun = join(dir, 'lun1.img');
  execFileSync('truncate', ['-s', '1G', lun]);
  const proc = spawn('tgtd', ['-f', '-C', String(ctl), '--iscsi', `portal=127.0.0.1:${port}`], { stdio: 'ignore' });
  const adm = (...a: string[]) => execFileSync('tgtadm', ['-C', String(ctl), '--lld', 'iscsi', ...a], { stdio: 'ignore' });
  for (let i = 0; ; i++) {
    try {
      execFileSync('tgtadm', ['-C', String(ctl), '--mode', 'sys', '--op', 'show'], { stdio: 'ignore' });
      break;
    } catch {
      if (i > 200) throw new Error('tgtd did not start');
      await sleep(50);
    }
  }
  const iqn = `iqn.2026-11.bench.tgtd:${port}`;
  adm('--mode', 'target', '--op', 'new', '--tid', '1', '-T', iqn);
  adm('--mode', 'logicalunit', '--op', 'new', '--tid', '1', '--lun', '1', '-b', lun);
  adm('--mode', 'target', '--op', 'bind', '--tid', '1', '-I', 'ALL');
  return {
    url: `iscsi://127.0.0.1:${port}/${iqn}/1`,
    async stop() {
      proc.kill('SIGKILL');
      await new Promise((r) => (proc.exitCode !== null ? r(null) : proc.once('exit', r)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** iscsi-perf for `seconds` + 1 s; the mean of its per-second "iops current" after the first. */
async function iscsiPerf(url: string): Promise<number> {
  const p = spawn('iscsi-perf', ['-m', '32', '-b', '8', '-r', url], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  await sleep((seconds + 1) * 1000 + 300);
  p.kill('SIGINT');
  await new Promise((r) => (p.exitCode !== null ? r(null) : p.once('exit', r)));
  const cur = [...out.matchAll(/iops current (\d+)/g)].map((m) => Number(m[1]));
  if (cur.length < 2) throw new Error(`iscsi-perf printed no figures:\n${out}`);
  const used = cur.slice(1, 1 + seconds);
  return used.reduce((a, b) => a + b, 0) / used.length;
}

interface TsResult {
  iops: number;
  cpuPerIoUs: number;
  latency: { p50: number; p99: number; p999: number };
  locks: { name: string; acquisitions: number; contended: number }[];
}

async function tsiscsi(url: string, extra: string[]): Promise<TsResult> {
  const out = execFileSync(CLI, ['bench', url, '--rw', 'randread', '--bs', '4k', '--time', String(seconds), '--ramp', '1', '--json', ...extra], { encoding: 'utf8' });
  return JSON.parse(out) as TsResult;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function main(): Promise<void> {
  const given = arg('url', '');
  const tgtd = given === '' ? await startTgtd() : undefined;
  const url = given !== '' ? given : tgtd!.url;
  const runs: Record<string, { label: string; iops: number[]; cpu: number[]; p99: number[]; contended: number[] }> = {
    A: { label: 'iscsi-perf -m 32 -b 8 -r', iops: [], cpu: [], p99: [], contended: [] },
    B: { label: 'tsiscsi bench --qd 32', iops: [], cpu: [], p99: [], contended: [] },
    C: { label: 'tsiscsi bench --jobs 4 --qd 8', iops: [], cpu: [], p99: [], contended: [] },
    D: { label: 'tsiscsi bench --qd 32 --lock-mode one', iops: [], cpu: [], p99: [], contended: [] },
  };
  const extra: Record<string, string[]> = { B: ['--qd', '32'], C: ['--jobs', '4', '--qd', '8'], D: ['--qd', '32', '--lock-mode', 'one'] };
  try {
    for (let r = 0; r < rounds; r++) {
      // Alternate the order every round so drift (thermal, page cache, noise) hits every variant alike.
      const order = [...only].filter((k) => k in runs);
      if (r % 2 === 1) order.reverse();
      for (const k of order) {
        if (k === 'A') {
          runs.A!.iops.push(await iscsiPerf(url));
        } else {
          const res = await tsiscsi(url, extra[k]!);
          runs[k]!.iops.push(res.iops);
          runs[k]!.cpu.push(res.cpuPerIoUs);
          runs[k]!.p99.push(res.latency.p99);
          runs[k]!.contended.push(res.locks.reduce((n, l) => n + l.contended, 0));
        }
        process.stderr.write(`round ${r + 1}/${rounds} ${k}: ${Math.round(runs[k]!.iops.at(-1)!)} IOPS\n`);
      }
    }
  } finally {
    await tgtd?.stop();
  }
  const med = (k: string) => median(runs[k]!.iops);
  const lines: string[] = [];
  lines.push(`4 KiB random read against tgtd, ${rounds} alternating rounds of ${seconds} s, medians:`);
  for (const [k, v] of Object.entries(runs)) {
    if (v.iops.length === 0) continue;
    const cpu = v.cpu.length ? `, CPU/IO ${median(v.cpu).toFixed(1)} us, p99 ${median(v.p99).toFixed(0)} us, contended ${median(v.contended)}` : '';
    lines.push(`  ${k} ${v.label.padEnd(40)} ${Math.round(med(k)).toString().padStart(7)} IOPS  [${v.iops.map((x) => Math.round(x)).join(', ')}]${cpu}`);
  }
  // Ratio of medians, and the median of the per-round ratios (runs of one round are minutes apart at
  // most, so the paired ratio cancels the drift of a shared, noisy machine).
  const ratio = (x: string, y: string, what: string, bar: string): void => {
    if (!runs[x]!.iops.length || !runs[y]!.iops.length) return;
    const paired = median(runs[x]!.iops.map((v, i) => v / runs[y]!.iops[i]!));
    lines.push(`  ${x}/${y} ${what.padEnd(34)} ${(med(x) / med(y)).toFixed(3)} (paired per round: ${paired.toFixed(3)})${bar}`);
  };
  ratio('B', 'A', 'tsiscsi QD32 vs iscsi-perf:', ' acceptance >= 0.95');
  ratio('C', 'B', '4 jobs x QD8 vs 1 x QD32:', ' acceptance >= 0.90');
  ratio('D', 'B', 'one lock vs split locks:', '');
  process.stdout.write(lines.join('\n') + '\n');
  const dir = new URL('../../bench/results/', import.meta.url).pathname;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'initiator.json'), JSON.stringify({ date: new Date().toISOString(), rounds, seconds, runs }, null, 2) + '\n');
}

await main();
