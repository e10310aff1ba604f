// What a login costs in each multi-core design, same run, alternating: the target in one process; worker
// processes that the main process hands each connection to (--workers N); and login redirection, where a
// redirector answers the first Login Request with "target moved temporarily" (0x0101) and the portal of
// an independent single-process target (redirector.ts). Each login is a whole session: connect, login,
// the initiator's first commands, logout. Reports the latency (median, p99) and the target side's CPU
// time per login (all its processes, from /proc).
//
//   npm run build && node dist/bench/login-cost.js [--logins 200] [--rounds 5] [--targets 2]

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Session } from '../src/initiator/index.js';
import { freePort, waitForPort } from '../test/interop/peers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(ROOT, 'bin', 'tsiscsi');
const REDIRECTOR = fileURLToPath(new URL('./redirector.js', import.meta.url));
const RESULTS = join(ROOT, 'bench', 'results');
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1]! : def;
}
const LOGINS = Number(arg('--logins', '200'));
const ROUNDS = Number(arg('--rounds', '5'));
const N = Number(arg('--targets', '2'));
const iqn = (k: number) => `iqn.2026-12.login:t${k}`;

interface Design {
  name: string;
  port: number;
  procs: ChildProcess[];
}

function ticks(pids: number[]): number {
  let t = 0;
  const all = [...pids];
  for (let i = 0; i < all.length; i++) {
    try {
      const s = readFileSync(`/proc/${all[i]}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      t += Number(f[11]) + Number(f[12]);
      for (const tid of readdirSync(`/proc/${all[i]}/task`)) {
        for (const c of readFileSync(`/proc/${all[i]}/task/${tid}/children`, 'utf8').split(' ')) if (c !== '') all.push(Number(c));
      }
    } catch {
      // Gone meanwhile.
    }
  }
  return t;
}

async function tsiscsi(dir: string, name: string, targets: number[], workers: number): Promise<{ port: number; proc: ChildProcess }> {
  const port = await freePort();
  const cfg = join(dir, `${name}.json`);
  writeFileSync(cfg, JSON.stringify({ portals: [`127.0.0.1:${port}`], targets: targets.map((k) => ({ iqn: iqn(k), luns: ['mem:16M'] })) }));
  const proc = spawn(process.execPath, [CLI, 'target', '--config', cfg, '--log-level', 'warn', '--workers', String(workers)], { stdio: 'ignore' });
  await waitForPort(port, 30_000);
  return { port, proc };
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tsiscsi-login-'));
  const designs: Design[] = [];
  try {
    const all = Array.from({ length: N }, (_, k) => k);
    const one = await tsiscsi(dir, 'one', all, 0);
    designs.push({ name: 'one process', port: one.port, procs: [one.proc] });
    const w = await tsiscsi(dir, 'workers', all, N);
    designs.push({ name: `--workers ${N} (socket handed over)`, port: w.port, procs: [w.proc] });
    const singles = await Promise.all(all.map((k) => tsiscsi(dir, `single${k}`, [k], 0)));
    const rport = await freePort();
    const redirector = spawn(process.execPath, [REDIRECTOR, String(rport), ...all.map((k) => `${iqn(k)}=127.0.0.1:${singles[k]!.port}`)], { stdio: 'ignore' });
    await waitForPort(rport, 30_000);
    designs.push({ name: `redirect to ${N} single-process targets`, port: rport, procs: [redirector, ...singles.map((s) => s.proc)] });
    // Workers start after their listener: give them time, then warm every design up.
    await new Promise((r) => setTimeout(r, 3000));
    const samples = new Map<string, { latency: number[]; cpuMsPerLogin: number[] }>(designs.map((d) => [d.name, { latency: [], cpuMsPerLogin: [] }]));
    for (let round = -1; round < ROUNDS; round++) {
      const order = designs.map((_, i) => designs[(i + Math.max(round, 0)) % designs.length]!);
      for (const d of order) {
        const pids = d.procs.map((p) => p.pid!);
        const t0 = ticks(pids);
        const lat: number[] = [];
        const n = round < 0 ? 20 : LOGINS;
        for (let i = 0; i < n; i++) {
          const start = process.hrtime.bigint();
          const s = await Session.connect(`iscsi://127.0.0.1:${d.port}/${iqn(i % N)}/0`);
          await s.close();
          lat.push(Number(process.hrtime.bigint() - start) / 1e6);
        }
        if (round < 0) continue;
        const cpuMs = ((ticks(pids) - t0) / CLK_TCK) * 1000;
        const x = samples.get(d.name)!;
        x.latency.push(...lat);
        x.cpuMsPerLogin.push(cpuMs / n);
      }
    }
    console.log(`login cost, ${N} targets, ${LOGINS} logins x ${ROUNDS} rounds (each a whole session: connect, login, first commands, logout); load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
    const out: Record<string, unknown> = {};
    for (const [name, x] of samples) {
      const row = {
        medianMs: percentile(x.latency, 50),
        p99Ms: percentile(x.latency, 99),
        targetCpuMsPerLogin: percentile(x.cpuMsPerLogin, 50),
      };
      out[name] = row;
      console.log(`${name.padEnd(42)} latency median ${row.medianMs.toFixed(2)} ms  p99 ${row.p99Ms.toFixed(2)} ms  target CPU ${row.targetCpuMsPerLogin.toFixed(2)} ms/login`);
    }
    mkdirSync(RESULTS, { recursive: true });
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    writeFileSync(join(RESULTS, `login-cost-${stamp}.json`), JSON.stringify({ date: new Date().toISOString(), logins: LOGINS, rounds: ROUNDS, targets: N, designs: out }, null, 2));
    console.log(`\nwritten: bench/results/login-cost-${stamp}.json`);
  } finally {
    for (const d of designs) for (const p of d.procs) p.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
