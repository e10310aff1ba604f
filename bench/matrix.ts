// The performance matrix: targets {tsiscsi file LUN, tsiscsi memory LUN, tgtd, istgt} x
// initiators {tsiscsi bench, iscsi-perf} x workloads x queue depths x sessions, plus the bare-Node TCP
// ceiling, in one run. Runs alternate between targets (A B C D A B C D ...) so the machine's drift hits
// all of them alike; each cell reports the median and range of its runs and ratios against tgtd and
// iscsi-perf from the same run. Writes JSON and an SVG chart to bench/results/ and prints a table.
//
//   npm run bench:matrix -- [--full] [--time S] [--repeats N] [--targets a,b] [--initiators a,b]
//                           [--workloads a,b] [--qd 1,8,32] [--sessions 1,4]
//   npm run bench:matrix -- --scale N [--sessions K,...] [--workers W,...] [--time S] [--repeats R]
//                           [--qd 32] [--targets tgtd,istgt,tsiscsi,tsiscsi-wW,tsiscsi-k] [--compare-cli PATH]
//                           (scale mode: scale.ts)

import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, startIstgt, startTgtd, waitForPort } from '../test/interop/peers.js';
import { measureCeiling } from './ceiling.js';
import { runScale } from './scale.js';

type TargetKind = 'tsiscsi-file' | 'tsiscsi-mem' | 'tsiscsi-workers' | 'tgtd' | 'istgt';
type InitiatorKind = 'iscsi-perf' | 'tsiscsi';
type Workload = '4k-randread' | '4k-randwrite' | '64k-read' | '64k-write';

interface RunningTarget {
  kind: TargetKind;
  url: string;
  stop(): Promise<void>;
}

interface Cell {
  target: TargetKind;
  initiator: InitiatorKind;
  workload: Workload;
  qd: number;
  sessions: number;
  samples: number[];
  errors: string[];
  median?: number;
  min?: number;
  max?: number;
  /** p99 latency of each tsiscsi bench run, in microseconds (iscsi-perf does not report it). */
  p99Us?: number[];
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(ROOT, 'bin', 'tsiscsi');
const RESULTS = join(ROOT, 'bench', 'results');

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const list = <T extends string | number>(name: string, def: T[], conv: (s: string) => T): T[] => {
  const v = arg(name);
  return v === undefined ? def : v.split(',').map(conv);
};

const full = process.argv.includes('--full');
const seconds = Number(arg('--time') ?? 5);
const repeats = Number(arg('--repeats') ?? 3);
const targets = list<TargetKind>('--targets', ['tsiscsi-file', 'tsiscsi-mem', 'tgtd', 'istgt'], (s) => s as TargetKind);
const initiators = list<InitiatorKind>('--initiators', ['iscsi-perf', 'tsiscsi'], (s) => s as InitiatorKind);
const workloads = list<Workload>('--workloads', full ? ['4k-randread', '4k-randwrite', '64k-read', '64k-write'] : ['4k-randread', '4k-randwrite'], (s) => s as Workload);
const qds = list('--qd', full ? [1, 8, 32, 128] : [1, 32, 128], Number);
const sessionsList = list('--sessions', full ? [1, 4] : [1], Number);
const LUN_MIB = Number(arg('--lun-mib') ?? 1024);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** One prefilled file, copied for each file-backed target so all read the same data from page cache. */
function prefilled(dir: string): string {
  const f = join(dir, 'template.img');
  execFileSync('dd', ['if=/dev/urandom', `of=${f}`, 'bs=1M', `count=${LUN_MIB}`, 'status=none']);
  return f;
}

async function startTsiscsi(kind: 'tsiscsi-file' | 'tsiscsi-mem' | 'tsiscsi-workers', file: string): Promise<RunningTarget> {
  const port = await freePort();
  const lun = kind === 'tsiscsi-mem' ? `mem:${LUN_MIB}M` : file;
  // tsiscsi-workers: the same file LUN served by one worker process (--workers 1); the others in one process.
  const extra = ['--workers', kind === 'tsiscsi-workers' ? '1' : '0'];
  const p = spawn(CLI, ['target', '--portal', `127.0.0.1:${port}`, '--lun', lun, '--log-level', 'warn', '--queue-depth', '256', ...extra], { stdio: 'ignore' });
  await waitForPort(port, 30_000);
  return {
    kind,
    url: `iscsi://127.0.0.1:${port}/iqn.2026-11.io.tsiscsi:target0/0`,
    async stop() {
      p.kill('SIGKILL');
    },
  };
}

async function startAll(dir: string): Promise<Map<TargetKind, RunningTarget>> {
  const template = prefilled(dir);
  const copy = (name: string) => {
    const f = join(dir, name);
    copyFileSync(template, f);
    return f;
  };
  const out = new Map<TargetKind, RunningTarget>();
  for (const k of targets) {
    if (k === 'tsiscsi-file' || k === 'tsiscsi-mem' || k === 'tsiscsi-workers') out.set(k, await startTsiscsi(k, copy(`${k}.img`)));
    if (k === 'tgtd') {
      const t = await startTgtd({ lunFile: copy('tgtd.img') });
      out.set(k, { kind: k, url: t.url, stop: () => t.stop() });
    }
    if (k === 'istgt') {
      const t = await startIstgt({ lunFile: copy('istgt.img'), sizeMiB: LUN_MIB });
      out.set(k, { kind: k, url: t.url, stop: () => t.stop() });
    }
  }
  return out;
}

function blocksOf(w: Workload): number {
  return w.startsWith('64k') ? 128 : 8;
}

/** iscsi-perf: reads only; several sessions are several processes, their IOPS summed. */
async function runIscsiPerf(url: string, w: Workload, qd: number, sessions: number): Promise<number> {
  const args = ['-t', String(seconds), '-m', String(qd), '-b', String(blocksOf(w)), ...(w.includes('rand') ? ['-r'] : []), url];
  const one = () =>
    new Promise<number>((resolve, reject) => {
      const p = spawn('iscsi-perf', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const kill = setTimeout(() => p.kill('SIGKILL'), (seconds + 20) * 1000);
      p.on('close', () => {
        clearTimeout(kill);
        const m = [...out.matchAll(/iops average (\d+)/g)].at(-1);
        if (m === undefined) reject(new Error(`iscsi-perf gave no result: ${out.slice(-200)}`));
        else resolve(Number(m[1]));
      });
    });
  const r = await Promise.all(Array.from({ length: sessions }, one));
  return r.reduce((a, b) => a + b, 0);
}

async function runTsiscsiBench(url: string, w: Workload, qd: number, sessions: number): Promise<{ iops: number; p99?: number }> {
  const rw = { '4k-randread': 'randread', '4k-randwrite': 'randwrite', '64k-read': 'read', '64k-write': 'write' }[w];
  const bs = w.startsWith('64k') ? '64k' : '4k';
  return new Promise((resolve, reject) => {
    const p = spawn(CLI, ['bench', url, '--rw', rw, '--bs', bs, '--qd', String(qd), '--sessions', String(sessions), '--time', String(seconds), '--json'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const kill = setTimeout(() => p.kill('SIGKILL'), (seconds + 30) * 1000);
    p.on('close', (code) => {
      clearTimeout(kill);
      try {
        const j = JSON.parse(out.trim().split('\n').at(-1)!) as { iops: number; latency?: { p99?: number } };
        resolve({ iops: j.iops, ...(j.latency?.p99 !== undefined && { p99: j.latency.p99 }) });
      } catch {
        reject(new Error(`tsiscsi bench exited ${code}: ${(err || out).trim().split('\n').at(-1)}`));
      }
    });
  });
}

function cellsFor(): Cell[] {
  const cells: Cell[] = [];
  for (const initiator of initiators)
    for (const workload of workloads)
      for (const qd of qds)
        for (const sessions of sessionsList)
          for (const target of targets) {
            // iscsi-perf only reads.
            if (initiator === 'iscsi-perf' && workload.includes('write')) continue;
            cells.push({ target, initiator, workload, qd, sessions, samples: [], errors: [], p99Us: [] });
          }
  return cells;
}

function key(c: Pick<Cell, 'initiator' | 'workload' | 'qd' | 'sessions'>): string {
  return `${c.initiator} ${c.workload} qd${c.qd} s${c.sessions}`;
}

function svg(cells: Cell[]): string {
  const groups = [...new Set(cells.map(key))];
  const colors: Record<TargetKind, string> = { 'tsiscsi-file': '#2b6cb0', 'tsiscsi-mem': '#63b3ed', 'tsiscsi-workers': '#805ad5', tgtd: '#c53030', istgt: '#dd6b20' };
  const max = Math.max(1, ...cells.map((c) => c.max ?? 0));
  const barW = 14;
  const groupW = targets.length * barW + 24;
  const h = 320;
  const w = 80 + groups.length * groupW;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h + 160}" font-family="sans-serif" font-size="11">`,
    `<text x="10" y="16" font-size="14">IOPS by target (median, range as a line); ${new Date().toISOString()}</text>`,
  ];
  groups.forEach((g, gi) => {
    const x0 = 70 + gi * groupW;
    targets.forEach((t, ti) => {
      const c = cells.find((x) => key(x) === g && x.target === t);
      if (c?.median === undefined) return;
      const x = x0 + ti * barW;
      const y = 30 + h - (c.median / max) * h;
      parts.push(`<rect x="${x}" y="${y.toFixed(1)}" width="${barW - 2}" height="${((c.median / max) * h).toFixed(1)}" fill="${colors[t]}"><title>${t} ${g}: ${Math.round(c.median)}</title></rect>`);
      const y1 = 30 + h - ((c.min ?? 0) / max) * h;
      const y2 = 30 + h - ((c.max ?? 0) / max) * h;
      parts.push(`<line x1="${x + barW / 2 - 1}" x2="${x + barW / 2 - 1}" y1="${y1.toFixed(1)}" y2="${y2.toFixed(1)}" stroke="#000"/>`);
    });
    parts.push(`<text transform="translate(${x0 + 4},${h + 40}) rotate(60)">${g}</text>`);
  });
  targets.forEach((t, i) => parts.push(`<rect x="${w - 130}" y="${30 + i * 16}" width="10" height="10" fill="${colors[t]}"/><text x="${w - 115}" y="${39 + i * 16}">${t}</text>`));
  parts.push(`<text x="10" y="40">${Math.round(max)}</text><text x="10" y="${30 + h}">0</text></svg>`);
  return parts.join('\n');
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tsiscsi-matrix-'));
  mkdirSync(RESULTS, { recursive: true });
  console.log(`matrix: targets ${targets.join(',')}; initiators ${initiators.join(',')}; workloads ${workloads.join(',')}; qd ${qds.join(',')}; sessions ${sessionsList.join(',')}; ${seconds}s x ${repeats}`);
  const ceiling = await measureCeiling({ qd: 32, bytes: 4096, seconds });
  console.log(`bare-Node ceiling (4 KiB replies, QD32): ${Math.round(ceiling.rps)} req/s`);
  const running = await startAll(dir);
  const cells = cellsFor();
  try {
    // Warm-up: a short read on each target.
    for (const t of running.values()) await runIscsiPerf(t.url, '4k-randread', 32, 1).catch(() => 0);
    const groups = [...new Set(cells.map(key))];
    for (const g of groups) {
      const row = cells.filter((c) => key(c) === g);
      for (let r = 0; r < repeats; r++) {
        // Alternate: each repeat visits every target once, in a rotated order.
        const order = row.map((_, i) => row[(i + r) % row.length]!);
        for (const c of order) {
          const t = running.get(c.target)!;
          try {
            if (c.initiator === 'iscsi-perf') c.samples.push(await runIscsiPerf(t.url, c.workload, c.qd, c.sessions));
            else {
              const res = await runTsiscsiBench(t.url, c.workload, c.qd, c.sessions);
              c.samples.push(res.iops);
              if (res.p99 !== undefined) c.p99Us!.push(res.p99);
            }
          } catch (e) {
            c.errors.push((e as Error).message);
          }
        }
      }
      for (const c of row) {
        if (c.samples.length > 0) {
          c.median = median(c.samples);
          c.min = Math.min(...c.samples);
          c.max = Math.max(...c.samples);
        }
      }
      const p99 = (c: Cell) => (c.p99Us !== undefined && c.p99Us.length > 0 ? ` (p99 ${(median(c.p99Us) / 1000).toFixed(2)} ms)` : '');
      const line = row.map((c) => `${c.target}=${c.median === undefined ? 'ERR' : Math.round(c.median)}${p99(c)}`).join('  ');
      console.log(`${g.padEnd(34)} ${line}`);
    }
  } finally {
    for (const t of running.values()) await t.stop();
    rmSync(dir, { recursive: true, force: true });
  }

  // Ratios from the same run.
  const find = (c: Partial<Cell>) => cells.find((x) => Object.entries(c).every(([k, v]) => (x as unknown as Record<string, unknown>)[k] === v));
  const ratios: Record<string, number | null> = {};
  for (const c of cells) {
    if (c.median === undefined || !c.target.startsWith('tsiscsi')) continue;
    for (const other of ['tgtd', 'istgt'] as const) {
      const o = find({ ...c, target: other, samples: undefined } as never) ?? cells.find((x) => key(x) === key(c) && x.target === other);
      if (o?.median) ratios[`${c.target} / ${other}: ${key(c)}`] = c.median / o.median;
    }
  }
  const tsTs = cells.find((c) => c.target === 'tsiscsi-file' && c.initiator === 'tsiscsi' && c.workload === '4k-randread' && c.qd === 32 && c.sessions === 1);
  const cC = cells.find((c) => c.target === 'tgtd' && c.initiator === 'iscsi-perf' && c.workload === '4k-randread' && c.qd === 32 && c.sessions === 1);
  if (tsTs?.median && cC?.median) ratios['all-TypeScript (tsiscsi bench on tsiscsi file) / all-C (iscsi-perf on tgtd), 4k randread qd32'] = tsTs.median / cC.median;
  for (const c of cells) {
    if (c.initiator !== 'tsiscsi' || c.median === undefined) continue;
    const perf = cells.find((x) => x.initiator === 'iscsi-perf' && x.target === c.target && x.workload === c.workload && x.qd === c.qd && x.sessions === c.sessions);
    if (perf?.median) ratios[`tsiscsi bench / iscsi-perf on ${c.target}: ${c.workload} qd${c.qd} s${c.sessions}`] = c.median / perf.median;
  }
  const best = Math.max(...cells.filter((c) => c.target.startsWith('tsiscsi') && c.workload === '4k-randread').map((c) => c.median ?? 0));
  ratios['best tsiscsi 4k randread / bare-Node ceiling'] = best / ceiling.rps;

  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const result = { date: new Date().toISOString(), seconds, repeats, ceiling, cells, ratios };
  writeFileSync(join(RESULTS, `matrix-${stamp}.json`), JSON.stringify(result, null, 2));
  writeFileSync(join(RESULTS, 'matrix-latest.json'), JSON.stringify(result, null, 2));
  writeFileSync(join(RESULTS, 'matrix-latest.svg'), svg(cells));
  console.log('\nratios (same run, medians):');
  for (const [k, v] of Object.entries(ratios)) console.log(`  ${v === null ? 'n/a' : v.toFixed(2).padStart(6)}  ${k}`);
  const errs = cells.filter((c) => c.errors.length > 0);
  if (errs.length > 0) {
    console.log('\nerrors:');
    for (const c of errs) console.log(`  ${c.target} ${key(c)}: ${c.errors[0]}`);
  }
  console.log(`\nwritten: bench/results/matrix-${stamp}.json, bench/results/matrix-latest.svg`);
}

if (arg('--scale') !== undefined) {
  const n = Number(arg('--scale'));
  if (!Number.isInteger(n) || n < 1) throw new RangeError('--scale N: N targets, a positive integer');
  await runScale({
    targets: n,
    sessions: list('--sessions', [n], Number),
    workers: list('--workers', [n], Number),
    seconds,
    repeats,
    qd: list('--qd', [32], Number)[0]!,
    ...(arg('--targets') !== undefined && { kinds: arg('--targets')!.split(',') }),
    lunMiB: Number(arg('--lun-mib') ?? 1024),
    cli: CLI,
    ...(arg('--compare-cli') !== undefined && { compareCli: arg('--compare-cli')! }),
    results: RESULTS,
  });
} else {
  await main();
}
