// `tsiscsi target`: serve files (or memory) as LUNs. With no flags: ./tsiscsi-data/lun0.img (1 GiB,
// sparse) as LUN 0 on 127.0.0.1:3260.

import type { CommandModule } from 'yargs';
import { pino, type Logger } from 'pino';
import {
  ConfigError,
  DEFAULT_LUN_SPEC,
  DEFAULT_PORTAL,
  DEFAULT_TARGET_IQN,
  MAX_WORKERS,
  WorkerTarget,
  buildServer,
  loadConfigFile,
  parseChapFlag,
  resolveWorkers,
  runAdmin,
  startAdminSocket,
  validateConfig,
  type AdminExecutor,
  type CloseSummary,
  type LunEventMode,
  type ServerConfig,
  type ShutdownOptions,
} from '../../src/target/index.js';
import { TsiscsiError } from '../../src/errors.js';

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
  'log-level': string;
  'queue-depth': number | undefined;
  workers: string | undefined;
  'lun-events': LunEventMode | undefined;
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
          'LUN spec, repeatable (the n-th is LUN n-1): PATH[,size=1G][,ro][,bs=512|4096][,pbs=4K][,removable][,io=auto|sync|async][,delay=MS] or mem:SIZE[,...]',
      })
      .option('chap', { type: 'string', describe: 'require CHAP: USER:SECRET (SECRET as @FILE or env:NAME keeps it out of ps)' })
      .option('mutual-chap', { type: 'string', describe: "the target's own USER:SECRET for mutual CHAP" })
      .option('allow', { type: 'string', array: true, describe: 'initiator IQN allowed in, repeatable (default: any)' })
      .option('config', { type: 'string', describe: 'JSON config file (several targets, LUNs, ACLs, CHAP); see README' })
      .option('admin-socket', { type: 'string', describe: 'UNIX socket for `tsiscsi admin`' })
      .option('queue-depth', { type: 'number', describe: 'commands per session (MaxCmdSN window) [default: 128]' })
      .option('lun-events', {
        choices: ['both', 'unit-attention', 'async-event'] as const,
        describe:
          'how initiators hear of a LUN added, removed or resized: a unit attention (SPC-4) and an iSCSI SCSI Async Event, only one of them, or only the event (for initiators that mishandle unit attentions) [default: both]',
      })
      .option('workers', {
        type: 'string',
        describe:
          'serve the targets from N worker processes, each owning whole targets and their connections; 0: all in this process; auto: by the core count (see README) [default: auto]',
      })
      .option('log-level', {
        type: 'string',
        default: 'info',
        choices: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
        describe: 'pino log level (JSON logs on stderr)',
      })
      .example('$0 target', 'serve ./tsiscsi-data/lun0.img on 127.0.0.1:3260')
      .example('$0 target --lun disk.img,size=10G --lun mem:256M', 'two LUNs')
      .example('$0 target --portal 0.0.0.0:3260 --chap alice:@secret.txt --allow iqn.1993-08.org.debian:01:abc', 'exposed safely')
      .example('$0 target --config target.json', 'from a config file') as never,
  handler: async (args) => {
    const log = pino({ level: args['log-level'], base: undefined }, pino.destination(2));
    let cfg: ServerConfig;
    const warnings: string[] = [];
    let workers: number;
    try {
      if (args.config !== undefined) {
        if (args.lun || args.iqn || args.chap || args['mutual-chap'] || args.allow) {
          throw new ConfigError('--config', 'give targets either in the config file or with --iqn/--lun/--chap/--allow, not both');
        }
        cfg = loadConfigFile(args.config);
        if (args.portal) cfg.portals = args.portal;
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
        cfg = validateConfig({ portals: args.portal ?? [DEFAULT_PORTAL], targets: [target] });
      }
      if (args['queue-depth'] !== undefined) cfg.queueDepth = args['queue-depth'];
      if (args['admin-socket'] !== undefined) cfg.adminSocket = args['admin-socket'];
      if (args.workers !== undefined) cfg.workers = parseWorkersFlag(args.workers);
      workers = resolveWorkers(cfg.workers, cfg.targets.length);
    } catch (e) {
      return fail(e);
    }
    const lunEvents = args['lun-events'];
    let target: Served;
    try {
      target = workers > 0 ? await startWithWorkers(cfg, workers, log, lunEvents, (reason) => void stop('worker', reason)) : await startSingle(cfg, log, lunEvents);
    } catch (e) {
      return fail(e);
    }
    for (const w of warnings) log.warn(w);
    let admin: { close(): Promise<void> } | undefined;
    try {
      admin = cfg.adminSocket !== undefined ? await startAdminSocket(target.admin, cfg.adminSocket, log) : undefined;
    } catch (e) {
      await target.close({ graceMs: 0 });
      return fail(e);
    }
    printHowToReach(target.bound, target.names, cfg.targets.some((t) => t.chap !== undefined));
    let stopping = false;
    // Stop accepting (listeners, admin socket), ask initiators to log out, wait a bounded time for their
    // I/O, close what is left, flush and close the backends, exit; with workers, every process at once.
    // A second signal exits at once. A worker that keeps dying stops the target the same way, exit 1.
    async function stop(signal: string, fatal?: string): Promise<void> {
      if (stopping) {
        if (fatal !== undefined) return;
        log.warn({ signal }, 'second signal: exiting without waiting');
        target.kill();
        process.exit(1);
      }
      stopping = true;
      log.info({ signal, ...(fatal !== undefined && { reason: fatal }) }, 'stopping: asking initiators to log out');
      await admin?.close();
      const summary = await target.close({ graceMs: LOGOUT_GRACE_MS, abortWaitMs: ABORT_WAIT_MS, backendWaitMs: BACKEND_WAIT_MS });
      if (!summary.clean) log.error({ problems: summary.problems }, 'stopped, but not cleanly');
      process.exit(summary.clean && fatal === undefined ? 0 : 1);
    }
    process.on('SIGINT', () => void stop('SIGINT'));
    process.on('SIGTERM', () => void stop('SIGTERM'));
  },
};

/** What the command serves, one process or several, seen alike by the shutdown and the admin socket. */
interface Served {
  bound: { host: string; port: number }[];
  names: string[];
  admin: AdminExecutor;
  close(opts: ShutdownOptions): Promise<CloseSummary>;
  kill(): void;
}

async function startSingle(cfg: ServerConfig, log: Logger, lunEvents: LunEventMode | undefined): Promise<Served> {
  let server;
  try {
    server = await buildServer(cfg, log, lunEvents === undefined ? {} : { lunEvents });
    await server.listen();
  } catch (e) {
    await server?.close({ graceMs: 0 });
    throw e;
  }
  const s = server;
  return {
    bound: s.bound,
    names: s.targets().map((t) => t.name),
    admin: (req) => runAdmin(s, req),
    close: (opts) => s.close(opts),
    kill: () => {},
  };
}

async function startWithWorkers(
  cfg: ServerConfig,
  workers: number,
  log: Logger,
  lunEvents: LunEventMode | undefined,
  onFatal: (reason: string) => void,
): Promise<Served> {
  const wt = new WorkerTarget(cfg, workers, log, { onFatal, ...(lunEvents !== undefined && { lunEvents }) });
  await wt.start();
  return {
    bound: wt.bound,
    names: wt.targetNames(),
    admin: (req) => wt.admin(req),
    close: (opts) => wt.close(opts),
    kill: () => wt.kill(),
  };
}

/** `--workers N|auto`. */
function parseWorkersFlag(text: string): number | 'auto' {
  if (text === 'auto') return 'auto';
  const n = Number(text);
  if (!/^\d+$/.test(text) || n > MAX_WORKERS) throw new ConfigError('--workers', `"${text}" is not auto or a whole number in 0..${MAX_WORKERS}`);
  return n;
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
