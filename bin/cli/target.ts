// `tsiscsi target`: serve files (or memory) as LUNs. With no flags: ./tsiscsi-data/lun0.img (1 GiB,
// sparse) as LUN 0 on 127.0.0.1:3260.

import type { CommandModule } from 'yargs';
import { pino, type Logger } from 'pino';
import {
  ConfigError,
  DEFAULT_LUN_SPEC,
  DEFAULT_PORTAL,
  DEFAULT_TARGET_IQN,
  ExportPolicy,
  MAX_WORKERS,
  RunningConfig,
  WorkerTarget,
  buildServer,
  parseChapFlag,
  readConfigFile,
  resolveWorkers,
  validateConfig,
  type CloseSummary,
  type LunEventMode,
  type ServerConfig,
  type ShutdownOptions,
} from '../../src/target/index.js';
import { TsiscsiError } from '../../src/errors.js';
import { startOps, wantsCounters, type OpsSource, type Ops } from './target-ops.js';

/** Shutdown budget (SIGTERM/SIGINT): logout grace, then aborted commands, then backends; well under 10 s in all. */
const LOGOUT_GRACE_MS = 3000;
const ABORT_WAIT_MS = 1000;
const BACKEND_WAIT_MS = 3000;

interface TargetArgs {
  portal: string[] | undefined;
  iqn: string | undefined;
  lun: string[] | undefined;
  chap: string | undefined;
  'mutual-chap': string | undefined;
  allow: string[] | undefined;
  config: string | undefined;
  'admin-socket': string | undefined;
  'admin-group': string | undefined;
  metrics: string | undefined;
  'log-level': string;
  'queue-depth': number | undefined;
  workers: string | undefined;
  'lun-events': LunEventMode | undefined;
  cluster: string | undefined;
  gateway: string | undefined;
  'cluster-ttl': number | undefined;
  'cluster-ca': string | undefined;
  'cluster-cert': string | undefined;
  'cluster-key': string | undefined;
  'cluster-user': string | undefined;
  alua: 'implicit' | 'explicit' | undefined;
}

export const targetCommand: CommandModule<object, TargetArgs> = {
  command: 'target',
  describe: 'Serve files or memory as iSCSI LUNs (no flags: ./tsiscsi-data/lun0.img, 1 GiB, on 127.0.0.1:3260)',
  builder: (y) =>
    y
      .option('portal', { type: 'string', array: true, describe: `HOST:PORT to listen on, repeatable [default: ${DEFAULT_PORTAL}]` })
      .option('iqn', { type: 'string', describe: `target name [default: ${DEFAULT_TARGET_IQN}]` })
      .option('lun', {
        type: 'string',
        array: true,
        describe:
          'LUN spec, repeatable (the n-th is LUN n-1): PATH[,size=1G][,ro][,bs=512|4096][,pbs=4K][,removable][,io=auto|sync|async][,delay=MS] or mem:SIZE[,...]; on an NBD server: nbd://HOST[:PORT]/EXPORT[,conns=N][,timeout=MS][,ro] or nbd+unix:///EXPORT?socket=PATH[,...]; on Ceph: rbd:POOL/IMAGE[,conf=PATH][,id=USER][,conns=N] (through qemu-nbd)',
      })
      .option('chap', { type: 'string', describe: 'require CHAP: USER:SECRET (SECRET as @FILE or env:NAME keeps it out of ps)' })
      .option('mutual-chap', { type: 'string', describe: "the target's own USER:SECRET for mutual CHAP" })
      .option('allow', { type: 'string', array: true, describe: 'initiator IQN allowed in, repeatable (default: any)' })
      .option('config', { type: 'string', describe: 'JSON config file (several targets, LUNs, ACLs, CHAP); see README' })
      .option('admin-socket', { type: 'string', describe: 'UNIX socket for `tsiscsi admin` (created 0600, owner only)' })
      .option('admin-group', { type: 'string', describe: 'let this group use the admin socket too (mode 0660)' })
      .option('metrics', { type: 'string', describe: 'serve Prometheus metrics on HOST:PORT/metrics (a bare PORT binds 127.0.0.1)' })
      .option('queue-depth', { type: 'number', describe: 'commands per session (MaxCmdSN window) [default: 128]' })
      .option('lun-events', {
        choices: ['both', 'unit-attention', 'async-event'] as const,
        describe:
          'how initiators hear of a LUN added, removed or resized: a unit attention (SPC-4) and an iSCSI SCSI Async Event, only one of them, or only the event (for initiators that mishandle unit attentions) [default: both]',
      })
      .option('workers', {
        type: 'string',
        describe:
          'serve the targets from N worker processes, each owning whole targets and their connections; 0: all in this process; auto: by the core count (README, "Several cores") [default: auto]',
      })
      .option('cluster', { type: 'string', describe: 'be one gateway of a cluster coordinated by etcd: etcd://HOST:PORT[,HOST:PORT...] (docs/cluster.md)' })
      .option('gateway', { type: 'string', describe: "this gateway's name in the cluster (with --cluster)" })
      .option('cluster-ttl', { type: 'number', describe: 'gateway lease TTL in seconds: failover takes about this long [default: 5]' })
      .option('cluster-ca', { type: 'string', describe: 'CA certificate (PEM) of etcd: reach etcd over TLS' })
      .option('cluster-cert', { type: 'string', describe: 'client certificate (PEM) for etcd, with --cluster-key' })
      .option('cluster-key', { type: 'string', describe: 'client private key (PEM) for etcd' })
      .option('cluster-user', { type: 'string', describe: 'etcd USER:PASSWORD (PASSWORD as @FILE or env:NAME keeps it out of ps)' })
      .option('alua', { choices: ['implicit', 'explicit'] as const, describe: 'non-owner gateways Active/Non-Optimized (implicit) or Standby, moved by SET TARGET PORT GROUPS (explicit) [default: implicit]' })
      .option('log-level', {
        type: 'string',
        default: 'info',
        choices: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
        describe: 'pino log level (JSON logs on stderr)',
      })
      .example('$0 target', 'serve ./tsiscsi-data/lun0.img on 127.0.0.1:3260')
      .example('$0 target --lun disk.img,size=10G --lun mem:256M', 'two LUNs')
      .example('$0 target --lun nbd://10.0.0.5/vol0,conns=4 --lun rbd:rbd/vol1,conf=/etc/ceph/ceph.conf', 'LUNs on an NBD server and on Ceph')
      .example('$0 target --portal 0.0.0.0:3260 --chap alice:@secret.txt --allow iqn.1993-08.org.debian:01:abc', 'exposed safely')
      .example('$0 target --config target.json', 'from a config file')
      .example('$0 target --lun /shared/disk.img --cluster etcd://10.0.0.5:2379 --gateway gw1', 'one gateway of a cluster') as never,
  handler: async (args) => {
    const log = pino({ level: args['log-level'], base: undefined }, pino.destination(2));
    let cfg: ServerConfig;
    let store: RunningConfig;
    let workers: number;
    const warnings: string[] = [];
    try {
      if (args.config !== undefined) {
        if (args.lun || args.iqn || args.chap || args['mutual-chap'] || args.allow) {
          throw new ConfigError('--config', 'give targets either in the config file or with --iqn/--lun/--chap/--allow, not both');
        }
        cfg = readConfigFile(args.config).cfg;
        // What the command line sets over the file is in force, but never written back to it.
        const overrides: Partial<ServerConfig> = {};
        if (args.portal) overrides.portals = args.portal;
        if (args['queue-depth'] !== undefined) overrides.queueDepth = args['queue-depth'];
        if (args['admin-socket'] !== undefined) overrides.adminSocket = args['admin-socket'];
        if (args['admin-group'] !== undefined) overrides.adminGroup = args['admin-group'];
        if (args.metrics !== undefined) overrides.metrics = { ...cfg.metrics, listen: args.metrics };
        if (args.workers !== undefined) overrides.workers = parseWorkersFlag(args.workers);
        const cluster = clusterFromFlags(args, cfg, warnings);
        if (cluster !== undefined) overrides.cluster = cluster as ServerConfig['cluster'];
        store = new RunningConfig(cfg, { path: args.config, overrides });
        cfg = validateConfig(store.running());
      } else {
        const target: ServerConfig['targets'][number] = { iqn: args.iqn ?? DEFAULT_TARGET_IQN, luns: args.lun ?? [DEFAULT_LUN_SPEC] };
        if (args.allow) target.allow = args.allow;
        if (args.chap !== undefined) {
          const c = parseChapFlag(args.chap, '--chap');
          if (c.literal) warnings.push('the CHAP secret is on the command line, where `ps` shows it: prefer --chap USER:@FILE or USER:env:NAME');
          target.chap = c.account;
        }
        if (args['mutual-chap'] !== undefined) {
          const c = parseChapFlag(args['mutual-chap'], '--mutual-chap');
          if (c.literal) warnings.push('the mutual CHAP secret is on the command line: prefer USER:@FILE or USER:env:NAME');
          target.mutualChap = c.account;
        }
        const cluster = clusterFromFlags(args, { targets: [target] }, warnings);
        cfg = validateConfig({
          ...(cluster !== undefined && { cluster }),
          portals: args.portal ?? [DEFAULT_PORTAL],
          targets: [target],
          ...(args['queue-depth'] !== undefined && { queueDepth: args['queue-depth'] }),
          ...(args['admin-socket'] !== undefined && { adminSocket: args['admin-socket'] }),
          ...(args['admin-group'] !== undefined && { adminGroup: args['admin-group'] }),
          ...(args.metrics !== undefined && { metrics: { listen: args.metrics } }),
          ...(args.workers !== undefined && { workers: parseWorkersFlag(args.workers) }),
        });
        store = new RunningConfig(cfg);
      }
      workers = workersFor(cfg);
    } catch (e) {
      return fail(e);
    }
    const lunEvents = args['lun-events'];
    let served: Served;
    let ops: Ops | undefined;
    try {
      served = workers > 0 ? await startWithWorkers(cfg, store, workers, log, lunEvents, (reason) => void stop('worker', reason)) : await startSingle(cfg, store, log, lunEvents);
    } catch (e) {
      return fail(e);
    }
    try {
      ops = await startOps(served.ops, cfg, log);
    } catch (e) {
      await served.close({ graceMs: 0 });
      return fail(e);
    }
    for (const w of warnings) log.warn(w);
    printHowToReach(served.bound, served.names, cfg.targets.some((t) => t.chap !== undefined));
    let stopping = false;
    // Disable what brings new work before what delivers it: stop accepting (listeners, admin socket), ask
    // initiators to log out, wait a bounded time for their I/O, close what is left, flush and close the
    // backends, exit; with workers, every process at once. A second signal exits at once. A worker that
    // keeps dying stops the target the same way, exit 1.
    async function stop(signal: string, fatal?: string): Promise<void> {
      if (stopping) {
        if (fatal !== undefined) return;
        log.warn({ signal }, 'second signal: exiting without waiting');
        served.kill();
        process.exit(1);
      }
      stopping = true;
      log.info({ signal, ...(fatal !== undefined && { reason: fatal }) }, 'stopping: asking initiators to log out');
      await ops?.close();
      const summary = await served.close({ graceMs: LOGOUT_GRACE_MS, abortWaitMs: ABORT_WAIT_MS, backendWaitMs: BACKEND_WAIT_MS });
      if (!summary.clean) log.error({ problems: summary.problems }, 'stopped, but not cleanly');
      process.exit(summary.clean && fatal === undefined ? 0 : 1);
    }
    process.on('SIGINT', () => void stop('SIGINT'));
    process.on('SIGTERM', () => void stop('SIGTERM'));
  },
};

/** What the command serves, one process or several, seen alike by the shutdown, the admin socket and the metrics. */
interface Served {
  bound: { host: string; port: number }[];
  names: string[];
  ops: OpsSource;
  close(opts: ShutdownOptions): Promise<CloseSummary>;
  kill(): void;
}

async function startSingle(cfg: ServerConfig, store: RunningConfig, log: Logger, lunEvents: LunEventMode | undefined): Promise<Served> {
  let server;
  try {
    server = await buildServer(cfg, log, { counting: wantsCounters(cfg), ...(lunEvents !== undefined && { lunEvents }) });
    await server.listen();
  } catch (e) {
    await server?.close({ graceMs: 0 });
    throw e;
  }
  const s = server;
  return {
    bound: s.bound,
    names: s.targets().map((t) => t.name),
    ops: { admin: { server: s, config: store, exports: new ExportPolicy(cfg.allowedPaths), stats: () => s.stats(), log }, stats: () => s.stats() },
    close: (opts) => s.close(opts),
    kill: () => {},
  };
}

async function startWithWorkers(
  cfg: ServerConfig,
  store: RunningConfig,
  workers: number,
  log: Logger,
  lunEvents: LunEventMode | undefined,
  onFatal: (reason: string) => void,
): Promise<Served> {
  const wt = new WorkerTarget(cfg, workers, log, { onFatal, config: store, counting: wantsCounters(cfg), ...(lunEvents !== undefined && { lunEvents }) });
  try {
    await wt.start();
  } catch (e) {
    await wt.close({ graceMs: 0 });
    throw e;
  }
  return {
    bound: wt.bound,
    names: wt.targetNames(),
    ops: { admin: (req) => wt.admin(req), stats: () => wt.stats() },
    close: (opts) => wt.close(opts),
    kill: () => wt.kill(),
  };
}

/**
 * The worker processes to run. A cluster gateway runs none: its LUNs' shared state has one etcd client
 * per process, and a gateway is one member of the cluster (docs/cluster.md).
 */
function workersFor(cfg: ServerConfig): number {
  // validateConfig refused a number above 0 with a cluster.
  if (cfg.cluster !== undefined) return 0;
  return resolveWorkers(cfg.workers, cfg.targets.length);
}

/** `--workers N|auto`. */
function parseWorkersFlag(text: string): number | 'auto' {
  if (text === 'auto') return 'auto';
  const n = Number(text);
  if (!/^\d+$/.test(text) || n > MAX_WORKERS) throw new ConfigError('--workers', `"${text}" is not auto or a whole number in 0..${MAX_WORKERS}`);
  return n;
}

/** The `"cluster"` object the flags give, merged over the config file's; undefined when neither names one. */
function clusterFromFlags(args: TargetArgs, cfg: ServerConfig, warnings: string[]): Record<string, unknown> | undefined {
  const flags = args.cluster ?? args.gateway ?? args['cluster-ttl'] ?? args['cluster-ca'] ?? args['cluster-cert'] ?? args['cluster-key'] ?? args['cluster-user'] ?? args.alua;
  if (flags === undefined) return undefined;
  const c: Record<string, unknown> = cfg.cluster === undefined ? {} : { ...cfg.cluster };
  if (args.cluster !== undefined) {
    delete c.endpoints;
    c.url = args.cluster;
  }
  if (c.url === undefined && c.endpoints === undefined) throw new ConfigError('--cluster', 'the cluster flags need --cluster etcd://HOST:PORT (or "cluster" in the config file)');
  if (args.gateway !== undefined) c.gateway = args.gateway;
  if (c.gateway === undefined) throw new ConfigError('--gateway', 'a cluster gateway needs a name: --gateway NAME');
  if (args['cluster-ttl'] !== undefined) c.leaseTtlS = args['cluster-ttl'];
  if (args.alua !== undefined) c.alua = args.alua;
  if (args['cluster-ca'] !== undefined || args['cluster-cert'] !== undefined || args['cluster-key'] !== undefined) {
    if (args['cluster-ca'] === undefined) throw new ConfigError('--cluster-ca', 'TLS to etcd needs the CA certificate that signs it');
    c.tls = {
      caFile: args['cluster-ca'],
      ...(args['cluster-cert'] !== undefined && { certFile: args['cluster-cert'] }),
      ...(args['cluster-key'] !== undefined && { keyFile: args['cluster-key'] }),
    };
  }
  if (args['cluster-user'] !== undefined) {
    const u = parseChapFlag(args['cluster-user'], '--cluster-user');
    if (u.literal) warnings.push('the etcd password is on the command line, where `ps` shows it: prefer --cluster-user USER:@FILE or USER:env:NAME');
    c.auth = { user: u.account.user, ...(u.account.secretFile !== undefined && { passwordFile: u.account.secretFile }), ...(u.account.secretEnv !== undefined && { passwordEnv: u.account.secretEnv }), ...(u.account.secret !== undefined && { password: u.account.secret }) };
  }
  return c;
}

function fail(e: unknown): void {
  if (e instanceof TsiscsiError) {
    process.stderr.write(`tsiscsi target: ${e.message}\n`);
  } else {
    const err = e as NodeJS.ErrnoException;
    const hint = err.code === 'EADDRINUSE' ? ' (another target already listens there; pick another --portal)' : err.code === 'EACCES' ? ' (ports below 1024 need privileges)' : '';
    process.stderr.write(`tsiscsi target: ${err.message}${hint}\n`);
  }
  process.exitCode = 2;
}

function printHowToReach(portals: { host: string; port: number }[], targets: string[], chap: boolean): void {
  const p = portals[0]!;
  const host = p.host === '0.0.0.0' || p.host === '::' ? '<this-host>' : p.host.includes(':') ? `[${p.host}]` : p.host;
  const portal = `${host}:${p.port}`;
  const lines = [
    `tsiscsi target listening on ${portals.map((x) => `${x.host}:${x.port}`).join(', ')}`,
    ...targets.map((t) => `  target ${t}`),
    '',
    'Reach it with open-iscsi:',
    `  iscsiadm -m discovery -t sendtargets -p ${portal}`,
    `  iscsiadm -m node -T ${targets[0]} -p ${portal} --login`,
    'or with libiscsi:',
    `  iscsi-ls -s iscsi://${portal}`,
    `  iscsi-inq iscsi://${portal}/${targets[0]}/0`,
  ];
  if (!chap || p.host === '127.0.0.1' || p.host === '::1') {
    lines.push(
      '',
      'To expose it beyond this host, require CHAP and name who may log in:',
      `  tsiscsi target --portal 0.0.0.0:${p.port} --chap USER:@secret-file --allow <initiator-iqn> ...`,
    );
  }
  process.stdout.write(lines.join('\n') + '\n');
}
