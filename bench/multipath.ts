// IOPS through one gateway against two gateways of the same LUN through the multipath initiator, in one
// run. Gateways are `tsiscsi target --cluster` processes of one shared file (soak/cluster.ts; with
// --no-cluster, independent targets of it); the initiator is `runBench` in this process. Runs alternate
// (one, two multibus, two alua, one, ...) so the machine's drift hits them alike; each prints the median
// of its runs and the ratio to one gateway.
//
//   node dist/bench/multipath.js [--time S] [--repeats N] [--rw randread] [--bs 4k] [--qd 32]
//                                [--sessions 1] [--no-cluster] [--gateway-arg ARG]

import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BENCH_PATTERNS, parseSize, runBench, type BenchPattern, type BenchResult } from '../src/initiator/index.js';
import { GatewayCluster } from '../soak/cluster.js';

const argv = process.argv;
const arg = (k: string): string | undefined => {
  const i = argv.indexOf(k);
  return i >= 0 ? argv[i + 1] : undefined;
};
const seconds = Number(arg('--time') ?? 5);
const repeats = Number(arg('--repeats') ?? 3);
const rw = (arg('--rw') ?? 'randread') as BenchPattern;
if (!BENCH_PATTERNS.includes(rw)) throw new RangeError(`--rw must be one of ${BENCH_PATTERNS.join(', ')}`);
const bs = parseSize(arg('--bs') ?? '4k');
const qd = Number(arg('--qd') ?? 32);
const sessions = Number(arg('--sessions') ?? 1);
const cluster = !argv.includes('--no-cluster');
const gatewayArgs = argv.flatMap((a, i) => (a === '--gateway-arg' && argv[i + 1] !== undefined ? [argv[i + 1]!] : []));

type Config = 'one gateway' | 'two, multibus' | 'two, alua';
const CONFIGS: Config[] = ['one gateway', 'two, multibus', 'two, alua'];

const dir = mkdtempSync(join(tmpdir(), 'tsiscsi-bench-mp-'));
const lunFile = join(dir, 'shared.img');
writeFileSync(lunFile, '');
truncateSync(lunFile, 256 * 2 ** 20);
const c = await GatewayCluster.start({ gateways: 2, cluster, dir, lun: lunFile, iqn: 'iqn.2026-12.io.tsiscsi.bench:multipath', lifetimeS: 3600, gatewayArgs });
const runs = new Map<Config, BenchResult[]>(CONFIGS.map((k) => [k, []]));
try {
  const [a, b] = c.urls as [string, string];
  // Fill the area once, so that reads come from the page cache for every configuration alike.
  await runBench({ url: a, rw: 'write', bs: 1 << 20, qd: 4, time: 2, size: 256 * 2 ** 20 });
  for (let r = 0; r < repeats; r++) {
    for (const k of CONFIGS) {
      const res = await runBench({
        url: a,
        rw,
        bs,
        qd,
        sessions,
        time: seconds,
        ramp: 1,
        ...(k !== 'one gateway' && { paths: [b], pathPolicy: k === 'two, multibus' ? 'multibus' : 'alua' }),
      });
      runs.get(k)!.push(res);
      process.stderr.write(`${k}: ${(res.iops / 1000).toFixed(1)}K IOPS${res.paths ? ` (${res.paths.map((p) => `${(p.share * 100).toFixed(0)}% ${p.aluaState}`).join(', ')})` : ''}\n`);
    }
  }
} finally {
  await c.stop();
  rmSync(dir, { recursive: true, force: true });
}

const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
const base = median(runs.get('one gateway')!.map((r) => r.iops));
console.log(`${rw} bs=${bs} qd=${qd} sessions=${sessions}, ${cluster ? 'etcd cluster' : 'independent targets'} of one file, ${repeats} alternating runs of ${seconds} s`);
for (const k of CONFIGS) {
  const rs = runs.get(k)!;
  const m = median(rs.map((r) => r.iops));
  const shares = rs.at(-1)?.paths?.map((p) => `${(p.share * 100).toFixed(0)}%`).join('/') ?? '';
  console.log(`${k.padEnd(14)} ${(m / 1000).toFixed(1).padStart(6)}K IOPS (runs ${rs.map((r) => (r.iops / 1000).toFixed(1)).join(', ')})  x${(m / base).toFixed(2)}${shares ? `  paths ${shares}` : ''}`);
}
