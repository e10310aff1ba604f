// Target configuration: from command-line flags or a JSON file, validated with errors a person can
// act on, then turned into a running TargetServer. Secrets come from a file or an environment variable
// (a literal on the command line is visible to every local user in `ps`).

import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { openBackend, parseLunSpec } from '../backend/spec.js';
import type { BlockBackend } from '../backend/types.js';
import { TsiscsiError } from '../errors.js';
import { MAX_LUN } from '../pdu/lun.js';
import { iscsiNameProblem } from '../login/keys.js';
import { TargetNode, type ChapAccount, type TargetNodeOptions } from './target-node.js';
import type { Portal } from './portal.js';
import { TargetServer, type TargetServerOptions } from './server.js';

export const DEFAULT_TARGET_IQN = 'iqn.2026-11.io.tsiscsi:target0';
export const DEFAULT_LUN_SPEC = './tsiscsi-data/lun0.img,size=1G';
export const DEFAULT_PORTAL = '127.0.0.1:3260';
/** The most worker processes a target runs (`workers`). */
export const MAX_WORKERS = 256;

/** A configuration problem: names the setting and what is wrong with it. */
export class ConfigError extends TsiscsiError {
  readonly setting: string;
  constructor(setting: string, message: string) {
    super('ERR_CONFIG', `${setting}: ${message}`);
    this.name = 'ConfigError';
    this.setting = setting;
  }
}

/** A secret as written in a config: inline, in a file, or in an environment variable. */
export interface SecretSource {
  secret?: string;
  secretFile?: string;
  secretEnv?: string;
}

export interface ChapAccountConfig extends SecretSource {
  user: string;
}

export interface TargetConfig {
  iqn: string;
  alias?: string;
  /** LUN specs in order: the n-th is LUN n-1. */
  luns: string[];
  allow?: string[];
  chap?: ChapAccountConfig | ChapAccountConfig[];
  mutualChap?: ChapAccountConfig;
  allowShortSecrets?: boolean;
}

export interface ServerConfig {
  portals?: string[];
  targets: TargetConfig[];
  discoveryChap?: ChapAccountConfig | ChapAccountConfig[];
  adminSocket?: string;
  logLevel?: string;
  queueDepth?: number;
  nopIntervalMs?: number;
  nopTimeoutMs?: number;
  loginTimeoutMs?: number;
  maxConnections?: number;
  maxBurstLength?: number;
  maxRecvDataSegmentLength?: number;
  firstBurstLength?: number;
  maxOutstandingR2T?: number;
  immediateData?: boolean;
  initialR2T?: boolean;
  /**
   * Worker processes, each serving its share of the targets on sockets of its own (workers/): 0 serves
   * everything in this process; `'auto'` (the default) picks from the core count (`resolveWorkers` in workers/auto.ts).
   */
  workers?: number | 'auto';
}

/** Parses HOST:PORT (IPv6 as [addr]:port); the port defaults to 3260. */
export function parsePortal(text: string, setting = '--portal'): Portal {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::(\d+))?$/.exec(text.trim());
  if (m === null) throw new ConfigError(setting, `"${text}" is not HOST:PORT`);
  const port = m[3] === undefined ? 3260 : Number(m[3]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(setting, `port ${m[3]} is outside 0..65535`);
  return { host: (m[1] ?? m[2])!, port };
}

/**
 * Parses USER:SECRET from the command line. SECRET may be `@FILE` (read from a file) or `env:NAME`
 * (from the environment); a literal works but is flagged, since argv is visible to other users.
 */
export function parseChapFlag(text: string, setting: string): { account: ChapAccountConfig; literal: boolean } {
  const i = text.indexOf(':');
  if (i <= 0) throw new ConfigError(setting, 'expected USER:SECRET (SECRET may be @FILE or env:NAME)');
  const user = text.slice(0, i);
  const s = text.slice(i + 1);
  if (s.startsWith('@')) return { account: { user, secretFile: s.slice(1) }, literal: false };
  if (s.startsWith('env:')) return { account: { user, secretEnv: s.slice(4) }, literal: false };
  return { account: { user, secret: s }, literal: true };
}

export function resolveSecret(src: SecretSource, setting: string): string {
  const given = [src.secret, src.secretFile, src.secretEnv].filter((v) => v !== undefined).length;
  if (given !== 1) throw new ConfigError(setting, 'give exactly one of secret, secretFile, secretEnv');
  if (src.secretFile !== undefined) {
    try {
      return readFileSync(src.secretFile, 'utf8').replace(/\r?\n$/, '');
    } catch (e) {
      throw new ConfigError(setting, `cannot read secret file ${src.secretFile}: ${(e as Error).message}`);
    }
  }
  if (src.secretEnv !== undefined) {
    const v = process.env[src.secretEnv];
    if (v === undefined || v === '') throw new ConfigError(setting, `environment variable ${src.secretEnv} is not set`);
    return v;
  }
  return src.secret!;
}

function account(c: ChapAccountConfig, setting: string, allowShort: boolean): ChapAccount {
  if (typeof c !== 'object' || c === null || typeof c.user !== 'string' || c.user === '') throw new ConfigError(setting, 'needs a non-empty user');
  const secret = resolveSecret(c, setting);
  // RFC 7143 §12.1.3: CHAP secrets MUST be at least 96 bits (12 bytes).
  if (!allowShort && Buffer.byteLength(secret) < 12) throw new ConfigError(setting, 'the CHAP secret must be at least 12 bytes (RFC 7143 §12.1.3)');
  return { user: c.user, secret };
}

function accounts(v: ChapAccountConfig | ChapAccountConfig[] | undefined, setting: string, allowShort: boolean): ChapAccount[] {
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).map((c, i) => account(c, `${setting}[${i}]`, allowShort));
}

function checkIqn(name: unknown, setting: string): string {
  if (typeof name !== 'string') throw new ConfigError(setting, 'must be an iSCSI name string');
  const p = iscsiNameProblem(name);
  if (p !== undefined) throw new ConfigError(setting, `"${name}" ${p}`);
  return name;
}

function checkInt(v: unknown, setting: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new ConfigError(setting, `must be an integer in ${min}..${max}`);
  return v;
}

const SERVER_KEYS = new Set([
  'portals', 'targets', 'discoveryChap', 'adminSocket', 'logLevel', 'queueDepth', 'nopIntervalMs', 'nopTimeoutMs',
  'loginTimeoutMs', 'maxConnections', 'maxBurstLength', 'maxRecvDataSegmentLength', 'firstBurstLength',
  'maxOutstandingR2T', 'immediateData', 'initialR2T', 'workers',
]);
const TARGET_KEYS = new Set(['iqn', 'alias', 'luns', 'allow', 'chap', 'mutualChap', 'allowShortSecrets']);

/** Validates a parsed JSON config; every problem names its path. */
export function validateConfig(raw: unknown): ServerConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError('config', 'must be a JSON object');
  const c = raw as Record<string, unknown>;
  for (const k of Object.keys(c)) if (!SERVER_KEYS.has(k)) throw new ConfigError(k, `unknown setting (known: ${[...SERVER_KEYS].join(', ')})`);
  if (!Array.isArray(c.targets) || c.targets.length === 0) throw new ConfigError('targets', 'must be a non-empty array');
  const names = new Set<string>();
  c.targets.forEach((t: unknown, i: number) => {
    const where = `targets[${i}]`;
    if (typeof t !== 'object' || t === null) throw new ConfigError(where, 'must be an object');
    const tt = t as Record<string, unknown>;
    for (const k of Object.keys(tt)) if (!TARGET_KEYS.has(k)) throw new ConfigError(`${where}.${k}`, 'unknown setting');
    const iqn = checkIqn(tt.iqn, `${where}.iqn`);
    if (names.has(iqn)) throw new ConfigError(`${where}.iqn`, `${iqn} is defined twice`);
    names.add(iqn);
    if (!Array.isArray(tt.luns) || tt.luns.length === 0) throw new ConfigError(`${where}.luns`, 'must be a non-empty array of LUN specs');
    if (tt.luns.length > MAX_LUN + 1) throw new ConfigError(`${where}.luns`, `at most ${MAX_LUN + 1} LUNs`);
    tt.luns.forEach((l: unknown, j: number) => {
      if (typeof l !== 'string') throw new ConfigError(`${where}.luns[${j}]`, 'must be a LUN spec string');
      try {
        parseLunSpec(l);
      } catch (e) {
        throw new ConfigError(`${where}.luns[${j}]`, (e as Error).message);
      }
    });
    if (tt.allow !== undefined) {
      if (!Array.isArray(tt.allow)) throw new ConfigError(`${where}.allow`, 'must be an array of initiator IQNs');
      tt.allow.forEach((a: unknown, j: number) => checkIqn(a, `${where}.allow[${j}]`));
    }
  });
  if (c.portals !== undefined) {
    if (!Array.isArray(c.portals)) throw new ConfigError('portals', 'must be an array of "HOST:PORT"');
    c.portals.forEach((p: unknown, i: number) => {
      if (typeof p !== 'string') throw new ConfigError(`portals[${i}]`, 'must be "HOST:PORT"');
      parsePortal(p, `portals[${i}]`);
    });
  }
  checkInt(c.queueDepth, 'queueDepth', 1, 4096);
  checkInt(c.nopIntervalMs, 'nopIntervalMs', 0, 3_600_000);
  checkInt(c.nopTimeoutMs, 'nopTimeoutMs', 100, 3_600_000);
  checkInt(c.loginTimeoutMs, 'loginTimeoutMs', 100, 3_600_000);
  checkInt(c.maxConnections, 'maxConnections', 1, 1_000_000);
  checkInt(c.maxBurstLength, 'maxBurstLength', 512, 0xffffff);
  checkInt(c.firstBurstLength, 'firstBurstLength', 512, 0xffffff);
  checkInt(c.maxRecvDataSegmentLength, 'maxRecvDataSegmentLength', 512, 0xffffff);
  checkInt(c.maxOutstandingR2T, 'maxOutstandingR2T', 1, 65535);
  if (c.workers !== undefined && c.workers !== 'auto' && (typeof c.workers !== 'number' || !Number.isInteger(c.workers) || c.workers < 0 || c.workers > MAX_WORKERS)) {
    throw new ConfigError('workers', `must be "auto" or an integer in 0..${MAX_WORKERS}`);
  }
  return c as unknown as ServerConfig;
}

export function loadConfigFile(path: string): ServerConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError('--config', `cannot read ${path}: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ConfigError('--config', `${path} is not valid JSON: ${(e as Error).message}`);
  }
  return validateConfig(raw);
}

/**
 * Opens every backend and builds the server (not yet listening). Backends are closed on failure. With
 * `serve`, only the targets at those indexes are served (their LUNs opened); the others are known for
 * SendTargets only (see {@link TargetNodeOptions.discoveryOnly}).
 */
export async function buildServer(
  cfg: ServerConfig,
  log: Logger,
  extra: Partial<TargetServerOptions> = {},
  opts: { serve?: ReadonlySet<number> } = {},
): Promise<TargetServer> {
  const portals = (cfg.portals ?? [DEFAULT_PORTAL]).map((p, i) => parsePortal(p, `portals[${i}]`));
  const policy: TargetServerOptions['policy'] = {};
  if (cfg.maxBurstLength !== undefined) policy.maxBurstLength = cfg.maxBurstLength;
  if (cfg.firstBurstLength !== undefined) policy.firstBurstLength = cfg.firstBurstLength;
  if (cfg.maxRecvDataSegmentLength !== undefined) policy.maxRecvDataSegmentLength = cfg.maxRecvDataSegmentLength;
  if (cfg.maxOutstandingR2T !== undefined) policy.maxOutstandingR2T = cfg.maxOutstandingR2T;
  if (cfg.immediateData !== undefined) policy.immediateData = cfg.immediateData;
  if (cfg.initialR2T !== undefined) policy.initialR2T = cfg.initialR2T;
  const discovery = accounts(cfg.discoveryChap, 'discoveryChap', false);
  const server = new TargetServer({
    portals,
    log,
    policy,
    ...(cfg.queueDepth !== undefined && { queueDepth: cfg.queueDepth }),
    ...(cfg.nopIntervalMs !== undefined && { nopInterval: cfg.nopIntervalMs }),
    ...(cfg.nopTimeoutMs !== undefined && { nopTimeout: cfg.nopTimeoutMs }),
    ...(cfg.loginTimeoutMs !== undefined && { loginTimeout: cfg.loginTimeoutMs }),
    ...(cfg.maxConnections !== undefined && { maxConnections: cfg.maxConnections }),
    ...(discovery.length > 0 && { discoveryChap: { accounts: discovery } }),
    ...extra,
  });
  const opened: BlockBackend[] = [];
  try {
    for (const [i, t] of cfg.targets.entries()) {
      const allowShort = t.allowShortSecrets === true;
      const node = new TargetNode({
        name: t.iqn,
        ...(t.alias !== undefined && { alias: t.alias }),
        ...(t.allow !== undefined && { allow: t.allow }),
        chap: accounts(t.chap, `targets[${i}].chap`, allowShort),
        ...(t.mutualChap !== undefined && { mutualChap: account(t.mutualChap, `targets[${i}].mutualChap`, allowShort) }),
        allowShortSecrets: allowShort,
        log,
        // A target that another process serves (workers/) is known here by name and ACL, for SendTargets.
        ...(opts.serve !== undefined && !opts.serve.has(i) && { discoveryOnly: true }),
      });
      if (node.mutualChap !== undefined && node.chap.length === 0) {
        throw new ConfigError(`targets[${i}].mutualChap`, 'mutual CHAP needs --chap (the initiator authenticates first)');
      }
      for (const [lun, spec] of node.discoveryOnly ? [] : t.luns.entries()) {
        const parsed = parseLunSpec(spec);
        if (parsed.kind === 'file' && parsed.path !== undefined && parsed.size !== undefined) {
          await mkdir(dirname(parsed.path), { recursive: true });
        }
        let backend: BlockBackend;
        try {
          backend = await openBackend(parsed);
        } catch (e) {
          throw new ConfigError(`targets[${i}].luns[${lun}]`, (e as Error).message);
        }
        opened.push(backend);
        node.addLun(lun, backend);
      }
      server.addTarget(node);
    }
  } catch (e) {
    await Promise.all(opened.map((b) => b.close().catch(() => {})));
    throw e;
  }
  return server;
}
