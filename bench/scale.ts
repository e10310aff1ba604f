// The matrix's scale mode (`npm run bench:matrix -- --scale N`): N targets, each with one tmpfs LUN, on
// tgtd, istgt and tsiscsi (one process, and with --workers W for each W asked), K iscsi-perf sessions at
// once (4 KiB random read, QD32 by default), session k on target k mod N. Every target server runs all
// along; the runs alternate between them (a rotated order each repeat) so the machine's drift hits all
// alike. Each run reports the IOPS summed over its sessions and the target's CPU time per IO: user +
// system time from /proc of the target's process, its threads and its child processes (the workers),
// over the run, divided by the IOs done.
//
//   npm run bench:matrix -- --scale 2 [--sessions 2,4] [--workers 2] [--time 5] [--repeats 5] [--qd 32]
//                           [--targets tgtd,istgt,tsiscsi,tsiscsi-w2,tsiscsi-k] [--compare-cli PATH]
// (tsiscsi-k, only when named: N independent single-process targets, each on its own port;
// --compare-cli: another build's bin/tsiscsi with the same --workers, as compare-wW.)

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, waitForPort } from '../test/interop/peers.js';

/** What a scale run measures. */
export interface ScaleOptions {
  /** Targets per server (N). */
  targets: number;
  /** Session counts (K), each a run. */
  sessions: number[];
  /** tsiscsi worker counts to run besides the single process. */
  workers: number[];
  seconds: number;
  repeats: number;
  qd: number;
  /** Which servers (tgtd, istgt, tsiscsi, tsiscsi-wW); all by default. */
  kinds?: string[];
  lunMiB: number;
  cli: string;
  /** Another build's bin/tsiscsi, run with the same --workers counts (`compare-wW`), to compare builds in one run. */
  compareCli?: string;
  results: string;
}

interface Server {
  kind: string;
  /** The server's processes (their threads and children count too). */
  pids: number[];
  /** The iscsi:// URL of target k (0-based). */
  url(k: number): string;
  stop(): Promise<void>;
}

interface Sample {
  iops: number;
  usPerIo: number;
  cores: number;
}

/** Clock ticks per second of /proc's CPU times (100 on Linux unless getconf says otherwise). */
const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime (clock ticks) of one process (all its threads) from /proc/PID/stat; 0 once it is gone. */
function ticksOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
}

/** The process and its descendants (tsiscsi's workers are child processes). */
function family(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    let tids: string[] = [];
    try {
      tids = readdirSync(`/proc/${out[i]}/task`);
    } catch {
      continue;
    }
    for (const t of tids) {
      try {
        for (const c of readFileSync(`/proc/${out[i]}/task/${t}/children`, 'utf8').split(' ')) if (c !== '') out.push(Number(c));
      } catch {
        // The thread ended meanwhile.
      }
    }
  }
  return out;
}

/** CPU ticks of the processes and their descendants, read once per process (before and after a run). */
function cpuTicks(pids: number[]): Map<number, number> {
  return new Map(pids.flatMap(family).map((p) => [p, ticksOf(p)]));
}

function ticksBetween(before: Map<number, number>, after: Map<number, number>): number {
  let t = 0;
  for (const [p, v] of after) t += v - (before.get(p) ?? 0);
  return t;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function spawnLogged(cmd: string, args: string[]): ChildProcess {
  return spawn(cmd, args, { stdio: 'ignore' });
}

async function killed(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  p.kill('SIGKILL');
  await new Promise((r) => p.once('exit', r));
}

async function startTgtd(luns: string[]): Promise<Server> {
  const port = await freePort();
  const ctl = 1000 + (port % 30000);
  const p = spawnLogged('tgtd', ['-f', '-C', String(ctl), '--iscsi', `portal=127.0.0.1:${port}`]);
  const adm = (...a: string[]) => execFileSync('tgtadm', ['-C', String(ctl), '--lld', 'iscsi', ...a], { stdio: 'ignore' });
  await waitForPort(port, 20_000);
  luns.forEach((f, k) => {
    adm('--op', 'new', '--mode', 'target', '--tid', String(k + 1), '-T', `iqn.2026-12.scale:tg${k}`);
    adm('--op', 'new', '--mode', 'logicalunit', '--tid', String(k + 1), '--lun', '1', '-b', f);
    adm('--op', 'bind', '--mode', 'target', '--tid', String(k + 1), '-I', 'ALL');
  });
  return { kind: 'tgtd', pids: [p.pid!], url: (k) => `iscsi://127.0.0.1:${port}/iqn.2026-12.scale:tg${k}/1`, stop: () => killed(p) };
}

async function startIstgt(dir: string, luns: string[]): Promise<Server> {
  const port = await freePort();
  const d = join(dir, 'istgt');
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'auth.conf'), '[AuthGroup1]\n');
  const units = luns
    .map((f, k) => `[LogicalUnit${k + 1}]\n TargetName is${k}\n Mapping PortalGroup1 InitiatorGroup1\n AuthMethod None\n UseDigest Auto\n UnitType Disk\n QueueDepth 255\n LUN0 Storage ${f} Auto\n`)
    .join('');
  writeFileSync(
    join(d, 'istgt.conf'),
    `[Global]\n NodeBase "iqn.2026-12.scale"\n PidFile ${d}/istgt.pid\n AuthFile ${d}/auth.conf\n MediaDirectory ${d}\n Timeout 30\n NopInInterval 20\n` +
      ` DiscoveryAuthMethod None\n MaxSessions 256\n MaxConnections 8\n MaxR2T 256\n MaxOutstandingR2T 64\n FirstBurstLength 262144\n` +
      ` MaxBurstLength 1048576\n MaxRecvDataSegmentLength 262144\n InitialR2T Yes\n ImmediateData Yes\n ErrorRecoveryLevel 0\n` +
      `[UnitControl]\n AuthMethod None\n[PortalGroup1]\n Portal DA1 127.0.0.1:${port}\n[InitiatorGroup1]\n InitiatorName "ALL"\n Netmask 127.0.0.0/8\n${units}`,
  );
  const p = spawnLogged('istgt', ['-c', join(d, 'istgt.conf'), '-D']);
  await waitForPort(port, 20_000);
  return { kind: 'istgt', pids: [p.pid!], url: (k) => `iscsi://127.0.0.1:${port}/iqn.2026-12.scale:is${k}/0`, stop: () => killed(p) };
}

async function startTsiscsi(cli: string, dir: string, luns: string[], workers: number, label = 'tsiscsi'): Promise<Server> {
  const port = await freePort();
  const cfg = join(dir, `ts-${workers}.json`);
  writeFileSync(cfg, JSON.stringify({ portals: [`127.0.0.1:${port}`], queueDepth: 128, targets: luns.map((f, k) => ({ iqn: `iqn.2026-12.scale:ts${k}`, luns: [f] })) }));
  const p = spawnLogged(process.execPath, [cli, 'target', '--config', cfg, '--log-level', 'warn', '--workers', String(workers)]);
  await waitForPort(port, 30_000);
  const kind = workers === 0 ? label : `${label}-w${workers}`;
  return { kind, pids: [p.pid!], url: (k) => `iscsi://127.0.0.1:${port}/iqn.2026-12.scale:ts${k}/0`, stop: () => killed(p) };
}

/**
 * N independent single-process tsiscsi targets, one target each on a port of its own: the most that
 * "each core owns its sockets" can give (no routing at all), and the steady state of login redirection.
 */
async function startIndependent(cli: string, dir: string, luns: string[]): Promise<Server> {
  const each = await Promise.all(
    luns.map((f, k) => {
      mkdirSync(join(dir, `k${k}`), { recursive: true });
      return startTsiscsi(cli, join(dir, `k${k}`), [f], 0);
    }),
  );
  return {
    kind: 'tsiscsi-k',
    pids: each.flatMap((s) => s.pids),
    url: (k) => each[k]!.url(0),
    stop: async () => {
      for (const s of each) await s.stop();
    },
  };
}

/** K iscsi-perf sessions at once against `server`; IOPS summed, CPU of the server's processes per IO. */
async function measure(server: Server, K: number, N: number, o: ScaleOptions, seconds = o.seconds): Promise<Sample> {
  const one = (k: number) =>
    new Promise<number>((resolve, reject) => {
      const p = spawn('iscsi-perf', ['-i', `iqn.2026-12.scale:i${k}`, '-m', String(o.qd), '-b', '8', '-r', '-t', String(seconds), server.url(k % N)], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      const kill = setTimeout(() => p.kill('SIGKILL'), (seconds + 20) * 1000);
      p.on('close', () => {
        clearTimeout(kill);
        const m = [...out.matchAll(/iops average (\d+)/g)].at(-1);
        if (m === undefined) reject(new Error(`${server.kind}: iscsi-perf gave no result: ${out.slice(-200)}`));
        else resolve(Number(m[1]));
      });
    });
  const before = cpuTicks(server.pids);
  const iops = (await Promise.all(Array.from({ length: K }, (_, k) => one(k)))).reduce((a, b) => a + b, 0);
  const ticks = ticksBetween(before, cpuTicks(server.pids));
  const cpuSeconds = ticks / CLK_TCK;
  return { iops, cores: cpuSeconds / seconds, usPerIo: iops > 0 ? (cpuSeconds * 1e6) / (iops * seconds) : 0 };
}

/** Runs the scale mode and prints its table; writes bench/results/scale-*.json. */
export async function runScale(o: ScaleOptions): Promise<void> {
  const N = o.targets;
  const shm = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  const dir = mkdtempSync(join(shm, 'tsiscsi-scale-'));
  const loadBefore = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  console.log(`scale: ${N} targets x sessions ${o.sessions.join(',')}; tsiscsi workers ${o.workers.join(',')}; QD${o.qd} 4 KiB random read; ${o.seconds}s x ${o.repeats}; load ${loadBefore}`);
  // One tmpfs file per target and server: every server reads files of its own, alike.
  const lunsFor = (tag: string) =>
    Array.from({ length: N }, (_, k) => {
      const f = join(dir, `${tag}${k}.img`);
      execFileSync('truncate', ['-s', `${o.lunMiB}M`, f]);
      return f;
    });
  const want = (k: string) => o.kinds === undefined || o.kinds.includes(k);
  const servers: Server[] = [];
  try {
    if (want('tgtd')) servers.push(await startTgtd(lunsFor('tg')));
    if (want('istgt')) servers.push(await startIstgt(dir, lunsFor('is')));
    if (want('tsiscsi')) servers.push(await startTsiscsi(o.cli, dir, lunsFor('ts'), 0));
    for (const w of o.workers) if (want(`tsiscsi-w${w}`)) servers.push(await startTsiscsi(o.cli, dir, lunsFor(`w${w}-`), w));
    if (o.kinds?.includes('tsiscsi-k') === true) servers.push(await startIndependent(o.cli, dir, lunsFor('k')));
    if (o.compareCli !== undefined) for (const w of o.workers) servers.push(await startTsiscsi(o.compareCli, dir, lunsFor(`c${w}-`), w, 'compare'));
    // Warm-up: every target of every server read briefly (page cache, JIT, sessions' first allocations).
    for (const s of servers) await measure(s, N, N, o, 2).catch(() => undefined);
    const samples = new Map<string, Sample[]>();
    const errors: string[] = [];
    for (const K of o.sessions) {
      for (let r = 0; r < o.repeats; r++) {
        const order = servers.map((_, i) => servers[(i + r) % servers.length]!);
        for (const s of order) {
          try {
            const x = await measure(s, K, N, o);
            const key = `${s.kind} ${K}`;
            samples.set(key, [...(samples.get(key) ?? []), x]);
          } catch (e) {
            errors.push((e as Error).message);
          }
          await sleep(200);
        }
      }
    }
    const rows = [];
    for (const K of o.sessions) {
      for (const s of servers) {
        const xs = samples.get(`${s.kind} ${K}`) ?? [];
        if (xs.length === 0) continue;
        const row = {
          server: s.kind,
          sessions: K,
          iops: median(xs.map((x) => x.iops)),
          usPerIo: median(xs.map((x) => x.usPerIo)),
          cores: median(xs.map((x) => x.cores)),
          runs: xs,
        };
        rows.push(row);
        const range = `${Math.round(Math.min(...xs.map((x) => x.iops)) / 1000)}-${Math.round(Math.max(...xs.map((x) => x.iops)) / 1000)}K`;
        console.log(
          `${s.kind.padEnd(12)} sessions ${String(K).padStart(3)}  IOPS ${String(Math.round(row.iops)).padStart(8)} (${range})  target CPU ${row.cores.toFixed(2)} cores  ${row.usPerIo.toFixed(1).padStart(6)} us/IO (${xs.map((x) => x.usPerIo.toFixed(1)).join(', ')})`,
        );
      }
    }
    // Ratios to the single process, per repeat (the runs of one repeat are minutes apart at most), then medians.
    const ratios: Record<string, { iops: number; usPerIo: number }> = {};
    console.log('\nratios to tsiscsi in one process (medians of the per-repeat ratios):');
    for (const K of o.sessions) {
      const base = samples.get(`tsiscsi ${K}`);
      if (base === undefined) continue;
      for (const s of servers) {
        if (s.kind === 'tsiscsi') continue;
        const xs = samples.get(`${s.kind} ${K}`) ?? [];
        const n = Math.min(xs.length, base.length);
        if (n === 0) continue;
        const iops = median(Array.from({ length: n }, (_, i) => xs[i]!.iops / base[i]!.iops));
        const cpu = median(Array.from({ length: n }, (_, i) => xs[i]!.usPerIo / base[i]!.usPerIo));
        ratios[`${s.kind} / tsiscsi, ${K} sessions`] = { iops, usPerIo: cpu };
        console.log(`  ${s.kind.padEnd(12)} ${K} sessions: IOPS x${iops.toFixed(2)}, CPU per IO x${cpu.toFixed(2)}`);
      }
    }
    const loadAfter = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
    console.log(`load average before ${loadBefore}, after ${loadAfter}`);
    if (errors.length > 0) console.log(`errors:\n  ${errors.join('\n  ')}`);
    mkdirSync(o.results, { recursive: true });
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const out = { date: new Date().toISOString(), options: { ...o, cli: undefined, results: undefined, compareCli: o.compareCli === undefined ? undefined : 'another build' }, load: { before: loadBefore, after: loadAfter }, rows, ratios, errors };
    writeFileSync(join(o.results, `scale-${stamp}.json`), JSON.stringify(out, null, 2));
    console.log(`\nwritten: bench/results/scale-${stamp}.json`);
  } finally {
    for (const s of servers) await s.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
