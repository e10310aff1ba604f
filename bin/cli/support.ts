// What the initiator's commands of the CLI share: the connection options every one of them takes, the
// mapping to SessionOptions, and one-line error messages with exit codes a person (or a script) can act
// on. No protocol logic: that stays in the library.

import type { Argv } from 'yargs';
import { pino } from 'pino';
import { AbortError, ConnectionError, IscsiProtocolError, LoginError, ScsiError, TimeoutError, TsiscsiError } from '../../src/errors.js';
import {
  ChapConfigError,
  MultipathSession,
  NoPathError,
  PathIdentityError,
  ResidualError,
  SESSION_DEFAULTS,
  Session,
  UrlError,
  parseIscsiUrl,
  type ChapOptions,
  type DigestPreference,
  type IscsiUrl,
  type PathPolicy,
  type SessionOptions,
} from '../../src/initiator/index.js';

/** Exit codes of the initiator commands. */
export const ExitCode = {
  ok: 0,
  /** The command ran and failed: SCSI error, timeout, residual, protocol error of the target. */
  failed: 1,
  /** Bad arguments or URL. */
  usage: 2,
  /** Could not connect or log in (network, login refused, authentication). */
  connect: 3,
} as const;

/** Options every initiator command takes. */
export interface ConnectionArgs {
  'initiator-name': string | undefined;
  'header-digest': DigestPreference | undefined;
  'data-digest': DigestPreference | undefined;
  timeout: number | undefined;
  'allow-short-secret': boolean;
  'log-level': string;
}

const DIGEST_CHOICES = ['none', 'crc32c', 'crc32c-none', 'none-crc32c'] as const;

/** Adds the connection options to a command's builder. */
export function withConnectionOptions<T>(y: Argv<T>): Argv<T & ConnectionArgs> {
  return y
    .option('initiator-name', { type: 'string', describe: 'our iSCSI name [default: iqn.2026-01.dev.tsiscsi:<hostname>]' })
    .option('header-digest', { choices: DIGEST_CHOICES, describe: 'header digests to offer, first preferred [default: none-crc32c]' })
    .option('data-digest', { choices: DIGEST_CHOICES, describe: 'data digests to offer, first preferred [default: none-crc32c]' })
    .option('timeout', { type: 'number', describe: 'per-command timeout in ms (0: none) [default: 30000]' })
    .option('allow-short-secret', { type: 'boolean', default: false, describe: 'accept CHAP secrets under 12 bytes (RFC 7143 §12.1.3: only on IPsec-protected links)' })
    .option('log-level', {
      type: 'string',
      default: 'silent',
      choices: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
      describe: 'pino log level (JSON logs on stderr)',
    })
    .epilog(
      'URL: iscsi://[user[%secret]@]host[:port]/target-iqn/lun[?target_user=U&target_password=P]. ' +
        'Without a secret in the URL, LIBISCSI_CHAP_PASSWORD (and LIBISCSI_CHAP_TARGET_PASSWORD for mutual CHAP) are read. ' +
        'Exit codes: 0 ok, 1 the command failed, 2 usage error, 3 cannot connect or log in.',
    ) as unknown as Argv<T & ConnectionArgs>;
}

/** Parses the URL and fills CHAP secrets from the environment as libiscsi does. */
export function urlFromArgs(text: string, env: NodeJS.ProcessEnv = process.env): IscsiUrl {
  const u = parseIscsiUrl(text);
  if (u.user !== undefined && u.secret === undefined && env.LIBISCSI_CHAP_PASSWORD !== undefined) u.secret = env.LIBISCSI_CHAP_PASSWORD;
  if (u.targetSecret === undefined && env.LIBISCSI_CHAP_TARGET_PASSWORD !== undefined && u.user !== undefined) {
    u.targetSecret = env.LIBISCSI_CHAP_TARGET_PASSWORD;
    u.targetUser ??= env.LIBISCSI_CHAP_TARGET_USERNAME;
  }
  return u;
}

/** SessionOptions from the common flags and the URL. */
export function sessionOptionsFromArgs(args: ConnectionArgs, u: IscsiUrl): SessionOptions {
  const o: SessionOptions = {};
  if (args['initiator-name'] !== undefined) o.initiatorName = args['initiator-name'];
  if (args['header-digest'] !== undefined) o.headerDigest = args['header-digest'];
  if (args['data-digest'] !== undefined) o.dataDigest = args['data-digest'];
  if (args.timeout !== undefined) o.timeout = args.timeout;
  if (args.timeout !== undefined && args.timeout > 0) {
    // The command's timeout bounds the connection and the login too: a target that accepts and says
    // nothing must not hold `--timeout 1000` for the library's 15 s login default.
    o.connectTimeout = Math.min(SESSION_DEFAULTS.connectTimeout, args.timeout);
    o.loginTimeout = Math.min(SESSION_DEFAULTS.loginTimeout, args.timeout);
  }
  if (u.user !== undefined) {
    if (u.secret === undefined) throw new UrlError(`the URL names CHAP user ${JSON.stringify(u.user)} but no secret: give iscsi://user%secret@... or set LIBISCSI_CHAP_PASSWORD`);
    const chap: ChapOptions = { user: u.user, secret: u.secret };
    if (u.targetSecret !== undefined) chap.targetSecret = u.targetSecret;
    if (u.targetUser !== undefined) chap.targetUser = u.targetUser;
    if (args['allow-short-secret']) chap.allowShortSecrets = true;
    o.chap = chap;
  }
  if (args['log-level'] !== 'silent') o.logger = pino({ level: args['log-level'], base: undefined }, pino.destination(2));
  return o;
}

/** The multipath options of read, write and bench. */
export interface PathArgs {
  url: string[];
  path: string[] | undefined;
  'path-policy': PathPolicy;
  'failover-timeout': number | undefined;
}

/**
 * Adds the URL positional (repeatable: several URLs of one LU) and the multipath options. One URL is a
 * plain session, as always; two or more make a MultipathSession.
 */
export function withPathOptions<T>(y: Argv<T>): Argv<T & PathArgs> {
  return y
    .positional('url', {
      type: 'string',
      array: true,
      demandOption: true,
      describe: 'iscsi://[user[%secret]@]host[:port]/target-iqn/lun; several URLs of the same LU are paths of one multipath session',
    })
    .option('path', { type: 'string', array: true, describe: 'another URL (path) of the same LU, repeatable: multipath with ALUA failover' })
    .option('path-policy', {
      choices: ['alua', 'multibus'] as const,
      default: 'alua' as PathPolicy,
      describe: 'with several paths: alua sends I/O to the best ALUA state only (Active/Optimized first), multibus to every Active path',
    })
    .option('failover-timeout', { type: 'number', describe: 'with several paths: ms a command may spend failing over before it fails [default: 30000]' }) as unknown as Argv<T & PathArgs>;
}

/** Every URL of the LU: the positional ones, then --path. */
export function lunUrls(args: PathArgs): string[] {
  return [...args.url, ...(args.path ?? [])];
}

/**
 * A session to the LU: a Session through one URL, a MultipathSession through several. The options come
 * from the flags and the first URL; a URL with CHAP credentials of its own logs in with them.
 */
export async function openLun(urls: readonly string[], args: ConnectionArgs & PathArgs, extra: SessionOptions = {}): Promise<Session | MultipathSession> {
  const parsed = urls.map((t) => urlFromArgs(t));
  const so = { ...sessionOptionsFromArgs(args, parsed[0]!), ...extra };
  if (parsed.length === 1) return Session.connect(parsed[0]!, so);
  // One CHAP identity for every path only when every URL names the same one; otherwise each its own.
  const same = parsed.every((u) => u.user === parsed[0]!.user && u.secret === parsed[0]!.secret);
  if (!same) delete so.chap;
  return MultipathSession.connect(parsed, { ...so, pathPolicy: args['path-policy'], ...(args['failover-timeout'] !== undefined && { failoverTimeout: args['failover-timeout'] }) });
}

/** One line saying what went wrong and, where it helps, what to do; and the exit code. */
export function describeError(e: unknown): { message: string; code: number } {
  if (e instanceof UrlError || e instanceof RangeError || e instanceof TypeError) return { message: e.message, code: ExitCode.usage };
  if (e instanceof ChapConfigError) {
    const msg = e.message.replace('(set allowShortSecrets)', '(--allow-short-secret accepts it)');
    return { message: `CHAP: ${msg}`, code: ExitCode.usage };
  }
  if (e instanceof LoginError) return { message: e.message, code: ExitCode.connect };
  // Paths of different devices: the URLs given are wrong.
  if (e instanceof PathIdentityError) return { message: e.message, code: ExitCode.usage };
  if (e instanceof NoPathError) return { message: e.message, code: e.atConnect ? ExitCode.connect : ExitCode.failed };
  if (e instanceof ScsiError) return { message: e.message, code: ExitCode.failed };
  if (e instanceof ResidualError) return { message: e.message, code: ExitCode.failed };
  if (e instanceof ConnectionError) {
    const connect = e.code === 'ERR_CONNECT' || e.code === 'ERR_CONNECTION_CLOSED' || e.code === 'ERR_CONNECTION';
    return { message: e.message, code: connect ? ExitCode.connect : ExitCode.failed };
  }
  if (e instanceof IscsiProtocolError) {
    // CHAP failures of the target's side (mutual CHAP) surface as protocol errors carrying a login status.
    if (e.loginStatus === 0x0201) return { message: `authentication failed: ${e.message}`, code: ExitCode.connect };
    return { message: `the target broke the protocol: ${e.message}`, code: ExitCode.failed };
  }
  if (e instanceof TimeoutError || e instanceof AbortError) return { message: e.message, code: ExitCode.failed };
  if (TsiscsiError.is(e)) return { message: (e as Error).message, code: ExitCode.failed };
  const err = e as NodeJS.ErrnoException;
  if (err?.code === 'ENOENT' || err?.code === 'EACCES' || err?.code === 'EISDIR') return { message: err.message, code: ExitCode.usage };
  if (err?.code === 'EPIPE') return { message: 'output closed early', code: ExitCode.failed };
  return { message: err instanceof Error ? `internal error: ${err.stack ?? err.message}` : String(e), code: ExitCode.failed };
}

/** Runs a command body; prints `tsiscsi NAME: message` and sets the exit code on failure. */
export async function runCli(name: string, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (e) {
    const { message, code } = describeError(e);
    process.stderr.write(`tsiscsi ${name}: ${message}\n`);
    process.exitCode = code;
  }
}

/** Human-readable bytes: 256 MiB, 1.5 GiB. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)} ${units[i]}`;
}

/** SPC-4 peripheral device type names (SPC-4 §6.6.2, Table 146), libiscsi's spelling. */
export function deviceTypeName(t: number): string {
  const names: Record<number, string> = {
    0x00: 'DIRECT_ACCESS',
    0x01: 'SEQUENTIAL_ACCESS',
    0x02: 'PRINTER',
    0x03: 'PROCESSOR',
    0x04: 'WRITE_ONCE',
    0x05: 'MMC',
    0x07: 'OPTICAL_MEMORY',
    0x08: 'MEDIA_CHANGER',
    0x0c: 'STORAGE_ARRAY_CONTROLLER',
    0x0d: 'ENCLOSURE_SERVICES',
    0x0e: 'SIMPLIFIED_DIRECT_ACCESS',
    0x0f: 'OPTICAL_CARD_READER',
    0x11: 'OBJECT_STORAGE',
    0x12: 'AUTOMATION_DRIVE_INTERFACE',
    0x1e: 'WELL_KNOWN_LUN',
    0x1f: 'UNKNOWN',
  };
  return names[t] ?? `TYPE_0x${t.toString(16).padStart(2, '0')}`;
}
