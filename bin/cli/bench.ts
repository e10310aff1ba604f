// `tsiscsi bench URL [URL...] --rw randread --bs 4k --qd 32 [--jobs N] [--sessions N] [--time S] [--json]`:
// fio-like load with IOPS, MB/s, latency percentiles and CPU time per I/O. Several URLs of the LUN (or
// --path URL) make each session a multipath one; the I/O each path carried is reported.

import type { CommandModule } from 'yargs';
import { BENCH_PATTERNS, parseSize, runBench, type BenchPattern, type BenchResult } from '../../src/initiator/index.js';
import { formatBytes, lunUrls, runCli, sessionOptionsFromArgs, urlFromArgs, withConnectionOptions, withPathOptions, type ConnectionArgs, type PathArgs } from './support.js';

interface BenchArgs extends ConnectionArgs, PathArgs {
  rw: BenchPattern;
  bs: string;
  qd: number;
  jobs: number;
  sessions: number;
  time: number;
  ramp: number;
  rwmixread: number;
  size: string | undefined;
  offset: string | undefined;
  'lock-mode': 'split' | 'one';
  json: boolean;
}

export const benchCommand: CommandModule<object, BenchArgs> = {
  command: 'bench <url..>',
  describe: 'Measure IOPS, bandwidth, latency and CPU per I/O against a LUN (fio-like)',
  builder: (y) =>
    withConnectionOptions(
      withPathOptions(y)
        .option('rw', { choices: BENCH_PATTERNS, default: 'randread' as BenchPattern, describe: 'access pattern' })
        .option('bs', { type: 'string', default: '4k', describe: 'bytes per I/O (4k, 64KiB, 1M)' })
        .option('qd', { type: 'number', default: 32, describe: 'I/Os in flight per submitter' })
        .option('jobs', { type: 'number', default: 1, describe: 'concurrent submitters sharing each session' })
        .option('sessions', { type: 'number', default: 1, describe: 'sessions (connections) to open' })
        .option('time', { type: 'number', default: 10, describe: 'seconds to measure' })
        .option('ramp', { type: 'number', default: 0, describe: 'seconds to run before measuring' })
        .option('rwmixread', { type: 'number', default: 50, describe: 'percentage of reads for randrw' })
        .option('size', { type: 'string', describe: 'bytes of the LUN to use (default: all)' })
        .option('offset', { type: 'string', describe: 'start of the area used (default: 0)' })
        .option('lock-mode', { choices: ['split', 'one'] as const, default: 'split' as const, describe: 'frwdLock+backLock (split) or one session lock (for comparison)' })
        .option('json', { type: 'boolean', default: false, describe: 'print one JSON object with the results' })
        .example('$0 bench iscsi://127.0.0.1/iqn.2003-01.org.example:disk/1 --rw randread --bs 4k --qd 32', '')
        .example('$0 bench URL --rw randwrite --bs 64k --qd 8 --jobs 4 --time 30 --json', '')
        .example('$0 bench URL_A URL_B --path-policy multibus --json', 'two paths of one LUN, I/O on both; --json gives the I/Os per path'),
    ) as never,
  handler: (args) =>
    runCli('bench', async () => {
      const urls = lunUrls(args);
      const u = urlFromArgs(urls[0]!);
      const so = sessionOptionsFromArgs(args, u);
      so.lockMode = args['lock-mode'];
      const bs = parseSize(args.bs);
      const tty = process.stderr.isTTY === true;
      const ac = new AbortController();
      const onSigint = (): void => ac.abort();
      process.once('SIGINT', onSigint);
      let r: BenchResult;
      try {
        r = await runBench({
          url: urls[0]!,
          ...(urls.length > 1 && { paths: urls.slice(1), pathPolicy: args['path-policy'] }),
          ...(args['failover-timeout'] !== undefined && { failoverTimeout: args['failover-timeout'] }),
          rw: args.rw,
          bs,
          qd: args.qd,
          jobs: args.jobs,
          sessions: args.sessions,
          time: args.time,
          ramp: args.ramp,
          rwmixread: args.rwmixread,
          ...(args.size !== undefined && { size: parseSize(args.size) }),
          ...(args.offset !== undefined && { offset: args.offset === '0' ? 0 : parseSize(args.offset) }),
          sessionOptions: so,
          signal: ac.signal,
          ...(tty && {
            onProgress: (p) =>
              // On the terminal only (stderr): the JSON or text result on stdout is unchanged.
              process.stderr.write(
                `\r\x1b[K[${p.elapsed.toFixed(0)}/${args.time}s] ${fmtIops(p.iops)} IOPS now, ${fmtIops(p.elapsed > 0 ? p.ios / p.elapsed : 0)} IOPS so far, ${p.mbps.toFixed(1)} MB/s${p.errors ? `, ${p.errors} errors` : ''}`,
              ),
          }),
        });
      } finally {
        process.removeListener('SIGINT', onSigint);
        if (tty) process.stderr.write('\r\x1b[K');
      }
      if (args.json) {
        process.stdout.write(JSON.stringify(r) + '\n');
      } else {
        const l = r.latency;
        process.stdout.write(
          [
            `${r.rw} bs=${formatBytes(r.bs)} qd=${r.qd} jobs=${r.jobs} sessions=${r.sessions} lock=${r.lockMode}: ${fmtIops(r.iops)} IOPS, ${r.mbps.toFixed(1)} MB/s over ${r.seconds.toFixed(1)} s (${r.ios} I/Os)`,
            `  latency (us): p50 ${l.p50.toFixed(0)}  p99 ${l.p99.toFixed(0)}  p99.9 ${l.p999.toFixed(0)}  mean ${l.mean.toFixed(0)}  max ${l.max.toFixed(0)}`,
            `  CPU per I/O: ${r.cpuPerIoUs.toFixed(1)} us (user ${(r.cpuUserUs / 1e6).toFixed(2)} s, system ${(r.cpuSystemUs / 1e6).toFixed(2)} s)`,
            ...(r.errors > 0 ? [`  errors: ${r.errors} (first: ${r.firstError})`] : []),
            ...(r.reconnects > 0 ? [`  reconnections: ${r.reconnects}`] : []),
            ...(r.paths !== undefined ? [`  paths: ${r.paths.map((p) => `${p.url} (${p.aluaState}) ${fmtIops(p.ios / r.seconds)} IOPS, ${(p.share * 100).toFixed(0)}%`).join('; ')}`] : []),
          ].join('\n') + '\n',
        );
      }
      if (r.errors > 0) process.exitCode = 1;
    }),
};

function fmtIops(n: number): string {
  return n >= 1000 ? `${(n / 1000).toFixed(1)}k` : n.toFixed(0);
}
