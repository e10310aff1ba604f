// `npm run soak -- --gateways N ...`: the command line of the failover soak (failover.ts). Flags:
//   --gateways N      gateways in front of the LUN (default 3)
//   --kill-every S    seconds between SIGKILLs (default 20)
//   --down S          seconds a killed gateway stays down (default: the smaller of 6 and kill-every/2)
//   --minutes M       length of the run (default 10; --seconds S for short runs)
//   --workers N       writers/readers (default 8), --sessions N MultipathSessions they share (default 2)
//   --no-cluster      independent targets of the shared backing instead of an etcd cluster
//   --backend nbd     the gateways share a qemu-nbd export of the file instead of the file itself
//   --gateway-arg A   one more `tsiscsi target` argument for every gateway, repeatable
//   --seed S, --keep  the random seed; keep the run's directory (etcd data, process logs)
// Exits 1 on any mismatch, lost or torn block, or untyped error.

import { runFailoverSoak, summarize } from './failover.js';

export async function failoverMain(argv: readonly string[]): Promise<void> {
  const arg = (k: string): string | undefined => {
    const i = argv.indexOf(k);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const all = (k: string): string[] => argv.flatMap((a, i) => (a === k && argv[i + 1] !== undefined ? [argv[i + 1]!] : []));
  const num = (k: string, d: number): number => {
    const v = arg(k);
    if (v === undefined) return d;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) {
      process.stderr.write(`soak: ${k} ${v} is not a positive number\n`);
      process.exit(2);
    }
    return n;
  };
  if (arg('--backend') !== undefined && arg('--backend') !== 'file' && arg('--backend') !== 'nbd') {
    process.stderr.write(`soak: --backend ${arg('--backend')}: expected file or nbd\n`);
    process.exit(2);
  }
  const seconds = arg('--seconds') !== undefined ? num('--seconds', 45) : num('--minutes', 10) * 60;
  const killEvery = num('--kill-every', 20);
  const r = await runFailoverSoak({
    durationMs: seconds * 1000,
    gateways: num('--gateways', 3),
    killEveryMs: killEvery * 1000,
    downMs: num('--down', Math.min(6, killEvery / 2)) * 1000,
    workers: num('--workers', 8),
    sessions: num('--sessions', 2),
    cluster: !argv.includes('--no-cluster'),
    backend: arg('--backend') === 'nbd' ? 'nbd' : 'file',
    gatewayArgs: all('--gateway-arg'),
    seed: num('--seed', (Date.now() % 1e9) + 1),
    keep: argv.includes('--keep'),
    onProgress: (line) => process.stderr.write(`soak: ${line}\n`),
  });
  console.log(JSON.stringify({ ...r, mismatches: r.mismatches.slice(0, 20), unexpectedErrors: r.unexpectedErrors.slice(0, 20) }, null, 2));
  console.log(summarize(r));
  process.exit(r.mismatches.length > 0 || r.unexpectedErrors.length > 0 ? 1 : 0);
}
