// Where the target's time goes: runs `tsiscsi target` under `node --cpu-prof` while iscsi-perf reads
// it (4 KiB random, QD32 by default), then writes the V8 profile, a flame graph (SVG) and the top
// functions by self and total time to bench/results/.
//
//   npm run build && node dist/bench/profile.js [--lun mem:1G | --lun PATH] [--time 8] [--qd 32] [--bs 8]
//   (a file LUN is created and filled for you when --lun is not given)
//
// With `--workers N`: N targets (memory LUNs), `--workers N`, N iscsi-perf sessions at once (one per
// target); every process (or thread) of the target is profiled and summed up apart: busy and idle time,
// garbage collection, the top functions, during the I/O only. `--cli PATH` profiles another build's
// bin/tsiscsi (to compare with an older one). The main thread's profile is written to
// results/main-thread-LABEL-wN.cpuprofile (`--label`, default this-build or other-build).

import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, waitForPort } from '../test/interop/peers.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  /** Microseconds of CLOCK_MONOTONIC, as process.hrtime in any process of this machine. */
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(ROOT, 'bin', 'tsiscsi');
const RESULTS = join(ROOT, 'bench', 'results');

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1]! : def;
}

function frameName(n: ProfileNode): string {
  const f = n.callFrame;
  const file = f.url.split('/').pop() ?? '';
  return `${f.functionName || '(anonymous)'}${file ? ` ${file}:${f.lineNumber + 1}` : ''}`;
}

/** Self time per sample node, in microseconds. */
function selfTimes(p: CpuProfile): Map<number, number> {
  const t = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) t.set(p.samples[i]!, (t.get(p.samples[i]!) ?? 0) + (p.timeDeltas[i] ?? 0));
  return t;
}

interface Tree {
  name: string;
  total: number;
  children: Map<string, Tree>;
}

/** Merges the profile's call tree by frame name (the same function called from the same path). */
function tree(p: CpuProfile): Tree {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = selfTimes(p);
  const build = (n: ProfileNode): Tree => {
    const t: Tree = { name: frameName(n), total: self.get(n.id) ?? 0, children: new Map() };
    for (const c of n.children ?? []) {
      const ct = build(byId.get(c)!);
      t.total += ct.total;
      const same = t.children.get(ct.name);
      if (same === undefined) t.children.set(ct.name, ct);
      else merge(same, ct);
    }
    return t;
  };
  return build(p.nodes[0]!);
}

function merge(a: Tree, b: Tree): void {
  a.total += b.total;
  for (const [k, v] of b.children) {
    const x = a.children.get(k);
    if (x === undefined) a.children.set(k, v);
    else merge(x, v);
  }
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);
}

/** A classic flame graph: the root at the bottom, width proportional to time. */
function flameSvg(root: Tree, title: string): string {
  const W = 1400;
  const H = 17;
  let depthMax = 0;
  const rects: string[] = [];
  const walk = (t: Tree, x: number, depth: number) => {
    const w = (t.total / root.total) * W;
    if (w < 0.3) return;
    depthMax = Math.max(depthMax, depth);
    const hue = (t.name.includes('node:') || t.name.startsWith('(') ? 30 : 10) + ((t.name.length * 7) % 30);
    rects.push(
      `<g><title>${escapeXml(t.name)}: ${((t.total / root.total) * 100).toFixed(1)}%</title>` +
        `<rect x="${x.toFixed(1)}" y="{Y${depth}}" width="${w.toFixed(1)}" height="${H - 1}" fill="hsl(${hue},80%,60%)"/>` +
        (w > 60 ? `<text x="${(x + 3).toFixed(1)}" y="{T${depth}}">${escapeXml(t.name.slice(0, Math.floor(w / 7)))}</text>` : '') +
        '</g>',
    );
    let cx = x;
    for (const c of [...t.children.values()].sort((a, b) => b.total - a.total)) {
      walk(c, cx, depth + 1);
      cx += (c.total / root.total) * W;
    }
  };
  walk(root, 0, 0);
  const height = (depthMax + 2) * H + 30;
  const body = rects
    .join('\n')
    .replace(/\{Y(\d+)\}/g, (_, d: string) => String(height - (Number(d) + 1) * H - 5))
    .replace(/\{T(\d+)\}/g, (_, d: string) => String(height - (Number(d) + 1) * H + 7));
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" font-family="monospace" font-size="11">
<text x="5" y="15" font-size="13">${escapeXml(title)}</text>
${body}
</svg>`;
}

function top(p: CpuProfile, n: number): { self: [string, number][]; total: [string, number][] } {
  const byId = new Map(p.nodes.map((x) => [x.id, x]));
  const parent = new Map<number, number>();
  for (const x of p.nodes) for (const c of x.children ?? []) parent.set(c, x.id);
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let sum = 0;
  for (const [id, t] of selfTimes(p)) {
    sum += t;
    const name = frameName(byId.get(id)!);
    self.set(name, (self.get(name) ?? 0) + t);
    const seen = new Set<string>();
    for (let x: number | undefined = id; x !== undefined; x = parent.get(x)) {
      const nm = frameName(byId.get(x)!);
      if (seen.has(nm)) continue;
      seen.add(nm);
      total.set(nm, (total.get(nm) ?? 0) + t);
    }
  }
  const pct = (m: Map<string, number>): [string, number][] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, v]) => [k, Math.round((v / sum) * 1000) / 10]);
  return { self: pct(self), total: pct(total) };
}

/**
 * Where one thread's time went within [from, to] (µs of CLOCK_MONOTONIC: the I/O run, not the start-up):
 * the share of idle, program (native code outside JS), GC, and the top JS functions.
 */
function summary(p: CpuProfile, n: number, from: number, to: number): { ms: number; idle: number; program: number; gc: number; top: [string, number][] } {
  const byId = new Map(p.nodes.map((x) => [x.id, x]));
  let sum = 0;
  const self = new Map<string, number>();
  let t = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i] ?? 0;
    t += dt;
    if (t < from || t > to) continue;
    sum += dt;
    const name = frameName(byId.get(p.samples[i]!)!);
    self.set(name, (self.get(name) ?? 0) + dt);
  }
  const share = (k: string) => Math.round(((self.get(k) ?? 0) / sum) * 1000) / 10;
  const top = [...self.entries()]
    .filter(([k]) => !k.startsWith('('))
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, v]): [string, number] => [k, Math.round((v / sum) * 1000) / 10]);
  return { ms: Math.round(sum / 1000), idle: share('(idle)'), program: share('(program)'), gc: share('(garbage collector)'), top };
}

/** Profiles a target with N targets on N workers (processes, or an older build's threads) under N sessions. */
async function profileWorkers(workers: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tsiscsi-profile-'));
  const seconds = Number(arg('--time', '8'));
  const cli = arg('--cli', CLI);
  const port = await freePort();
  const cfg = join(dir, 'cfg.json');
  const iqn = (k: number) => `iqn.2026-12.profile:t${k}`;
  writeFileSync(cfg, JSON.stringify({ portals: [`127.0.0.1:${port}`], targets: Array.from({ length: workers }, (_, k) => ({ iqn: iqn(k), luns: ['mem:256M'] })) }));
  const profDir = join(dir, 'prof');
  const target = spawn(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${profDir}`, cli, 'target', '--config', cfg, '--workers', String(workers), '--log-level', 'warn'], {
    stdio: 'ignore',
  });
  await waitForPort(port, 30_000);
  // Let the workers start (connections wait for them, but the run should measure serving, not start-up).
  await new Promise((r) => setTimeout(r, 3000));
  const perf = (k: number) =>
    new Promise<number>((resolve) => {
      const p = spawn('iscsi-perf', ['-i', `iqn.2026-12.profile:i${k}`, '-t', String(seconds), '-m', arg('--qd', '32'), '-b', arg('--bs', '8'), '-r', `iscsi://127.0.0.1:${port}/${iqn(k)}/0`], {
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      let out = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      p.on('close', () => resolve(Number([...out.matchAll(/iops average (\d+)/g)].at(-1)?.[1] ?? 0)));
    });
  const from = Number(process.hrtime.bigint() / 1000n);
  const iops = (await Promise.all(Array.from({ length: workers }, (_, k) => perf(k)))).reduce((a, b) => a + b, 0);
  const to = Number(process.hrtime.bigint() / 1000n);
  target.kill('SIGINT');
  await new Promise((r) => target.once('exit', r));
  // CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile: the main thread of the main process is thread 0 of its pid.
  const files = readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile'));
  const who = (f: string) => {
    const [pid, tid] = f.split('.').slice(3, 5).map(Number);
    return pid === target.pid ? (tid === 0 ? 'main thread' : `worker thread ${tid}`) : `worker process ${pid}`;
  };
  const title = `${cli === CLI ? 'this build' : cli}: ${workers} targets, --workers ${workers}, ${workers} iscsi-perf sessions 4 KiB random read QD${arg('--qd', '32')}: ${iops} IOPS`;
  console.log(title);
  const out: Record<string, ReturnType<typeof summary>> = {};
  for (const f of files.sort((a, b) => who(a).localeCompare(who(b)))) {
    const p = JSON.parse(readFileSync(join(profDir, f), 'utf8')) as CpuProfile;
    const s = summary(p, 8, from, to);
    out[who(f)] = s;
    console.log(`\n${who(f)}: ${s.ms} ms profiled during the I/O, idle ${s.idle}%, busy ${(100 - s.idle).toFixed(1)}% (program ${s.program}%, GC ${s.gc}%); top self time:`);
    for (const [k, v] of s.top) console.log(`  ${v.toFixed(1).padStart(5)}%  ${k}`);
    if (who(f) === 'main thread') {
      mkdirSync(RESULTS, { recursive: true });
      writeFileSync(join(RESULTS, `main-thread-${arg('--label', cli === CLI ? 'this-build' : 'other-build')}-w${workers}.cpuprofile`), JSON.stringify(p));
    }
  }
  mkdirSync(RESULTS, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  writeFileSync(join(RESULTS, `profile-workers-${stamp}.json`), JSON.stringify({ title, iops, threads: out }, null, 2));
  console.log(`\nwritten: bench/results/profile-workers-${stamp}.json`);
  rmSync(dir, { recursive: true, force: true });
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tsiscsi-profile-'));
  const seconds = Number(arg('--time', '8'));
  let lun = arg('--lun', '');
  if (lun === '') {
    lun = join(dir, 'lun.img');
    execFileSync('dd', ['if=/dev/urandom', `of=${lun}`, 'bs=1M', 'count=1024', 'status=none']);
  }
  const port = await freePort();
  const profDir = join(dir, 'prof');
  const target = spawn(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${profDir}`, CLI, 'target', '--portal', `127.0.0.1:${port}`, '--lun', lun, '--log-level', 'warn'], {
    stdio: 'ignore',
  });
  await waitForPort(port, 30_000);
  const url = `iscsi://127.0.0.1:${port}/iqn.2026-11.io.tsiscsi:target0/0`;
  const out = execFileSync('iscsi-perf', ['-t', String(seconds), '-m', arg('--qd', '32'), '-b', arg('--bs', '8'), '-r', url], { encoding: 'utf8' });
  const iops = [...out.matchAll(/iops average (\d+)/g)].at(-1)?.[1];
  target.kill('SIGINT');
  await new Promise((r) => target.once('exit', r));
  const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
  if (file === undefined) throw new Error('the target wrote no profile');
  const profile = JSON.parse(readFileSync(join(profDir, file), 'utf8')) as CpuProfile;
  mkdirSync(RESULTS, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  writeFileSync(join(RESULTS, `target-${stamp}.cpuprofile`), JSON.stringify(profile));
  const title = `tsiscsi target, ${lun.startsWith('mem:') ? lun : 'file LUN'}, iscsi-perf 4 KiB random read QD${arg('--qd', '32')}: ${iops ?? '?'} IOPS`;
  writeFileSync(join(RESULTS, 'target-flame-latest.svg'), flameSvg(tree(profile), title));
  const t = top(profile, 25);
  console.log(title);
  console.log('\nself time:');
  for (const [k, v] of t.self) console.log(`  ${v.toFixed(1).padStart(5)}%  ${k}`);
  console.log('\ntotal time:');
  for (const [k, v] of t.total) console.log(`  ${v.toFixed(1).padStart(5)}%  ${k}`);
  console.log(`\nwritten: bench/results/target-${stamp}.cpuprofile, bench/results/target-flame-latest.svg`);
  rmSync(dir, { recursive: true, force: true });
}

const workersArg = arg('--workers', '');
if (workersArg !== '') await profileWorkers(Number(workersArg));
else await main();
