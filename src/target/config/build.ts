// From a valid configuration to a running TargetServer: secrets resolved from a file or an environment
// variable (a literal on the command line is visible to every local user in `ps`), backends opened,
// targets built. Also the readers of the command line's own syntax (HOST:PORT, USER:SECRET).

import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { openBackend, parseLunSpec } from '../../backend/spec.js';
import type { BlockBackend } from '../../backend/types.js';
import { ClusterGateway, type ClusterConfig } from '../../cluster/index.js';
import { joinSharedLun } from '../cluster-luns.js';
import { TargetNode, type ChapAccount } from '../target-node.js';
import type { Portal } from '../portal.js';
import { TargetServer, type TargetServerOptions } from '../server.js';
import { portalFromText, parsePortalProblem } from './portal-text.js';
import type { ChapAccountConfig, SecretSource, ServerConfig, TargetConfig } from './schema.js';
import { ConfigError, clusterSettings, lunEntries, validateConfig } from './validate.js';

export const DEFAULT_TARGET_IQN = 'iqn.2026-11.io.tsiscsi:target0';
export const DEFAULT_LUN_SPEC = './tsiscsi-data/lun0.img,size=1G';
export const DEFAULT_PORTAL = '127.0.0.1:3260';

/** Parses HOST:PORT (IPv6 as [addr]:port); the port defaults to 3260. */
export function parsePortal(text: string, setting = '--portal'): Portal {
  const p = portalFromText(text);
  if (p === undefined) throw new ConfigError(setting, parsePortalProblem(text) ?? `"${text}" is not HOST:PORT`);
  return p;
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

/** The secret a {@link SecretSource} names: read from its file or environment variable, or inline. */
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

/** A CHAP account with its secret resolved; `setting` names it in errors. */
export function chapAccount(c: ChapAccountConfig, setting: string, allowShort: boolean): ChapAccount {
  if (typeof c !== 'object' || c === null || typeof c.user !== 'string' || c.user === '') throw new ConfigError(setting, 'needs a non-empty user');
  const secret = resolveSecret(c, setting);
  // RFC 7143 §12.1.3: CHAP secrets MUST be at least 96 bits (12 bytes).
  if (!allowShort && Buffer.byteLength(secret) < 12) throw new ConfigError(setting, 'the CHAP secret must be at least 12 bytes (RFC 7143 §12.1.3)');
  return { user: c.user, secret };
}

function accounts(v: ChapAccountConfig | ChapAccountConfig[] | undefined, setting: string, allowShort: boolean): ChapAccount[] {
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).map((c, i) => chapAccount(c, `${setting}[${i}]`, allowShort));
}

/** Reads and validates a config file; also returns its text (the store keeps it to compare saves). */
export function readConfigFile(path: string): { cfg: ServerConfig; text: string } {
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
  return { cfg: validateConfig(raw), text };
}

/** Reads and validates a config file. */
export function loadConfigFile(path: string): ServerConfig {
  return readConfigFile(path).cfg;
}

/** Opens the backend of one LUN spec (creating the directory of a file to be created). */
export async function openLun(spec: string, log?: Logger): Promise<BlockBackend> {
  const parsed = parseLunSpec(spec);
  if (parsed.kind === 'file' && parsed.path !== undefined && parsed.size !== undefined) {
    await mkdir(dirname(parsed.path), { recursive: true });
  }
  return openBackend(parsed, log === undefined ? {} : { log });
}

/** Builds one target node (its LUNs not yet opened) from its config; `where` names it in errors. */
export function buildTargetNode(t: TargetConfig, where: string, log: Logger, opts: { discoveryOnly?: boolean } = {}): TargetNode {
  const allowShort = t.allowShortSecrets === true;
  return new TargetNode({
    ...(opts.discoveryOnly === true && { discoveryOnly: true }),
    name: t.iqn,
    ...(t.alias !== undefined && { alias: t.alias }),
    ...(t.allow !== undefined && { allow: t.allow }),
    chap: accounts(t.chap, `${where}.chap`, allowShort),
    ...(t.mutualChap !== undefined && { mutualChap: chapAccount(t.mutualChap, `${where}.mutualChap`, allowShort) }),
    allowShortSecrets: allowShort,
    log,
  });
}

/**
 * A cluster gateway's shared LUNs: each LUN of its targets joins the shared LUN of its backing in etcd
 * (docs/cluster.md); a LUN removed lets its ownership go.
 */
class SharedLuns {
  readonly #gateway: ClusterGateway;
  /** `target\0lun` → the shared LUN's id. */
  readonly #ids = new Map<string, string>();

  constructor(gateway: ClusterGateway, server: TargetServer) {
    this.#gateway = gateway;
    server.on('lun-removed', (e) => {
      if (e.type !== 'lun-removed') return;
      const key = `${e.target}\0${e.lun}`;
      const lunId = this.#ids.get(key);
      this.#ids.delete(key);
      if (lunId !== undefined) void gateway.dropLun(lunId);
    });
  }

  /** Adds LUN `lun` of `node` over `backend` as the gateway's port of its shared LUN. */
  async add(node: TargetNode, lun: number, spec: string, backend: BlockBackend, setting: string): Promise<void> {
    const joined = await joinSharedLun(this.#gateway, spec, setting);
    await joined.attach(node.addLun(lun, backend, joined.options));
    this.#ids.set(`${node.name}\0${lun}`, joined.lunId);
  }

  /** Lets `tsiscsi admin lun add` on `node` join shared LUNs too. */
  enable(node: TargetNode): void {
    node.joinLun = async (spec) => {
      const joined = await joinSharedLun(this.#gateway, spec, 'lun add');
      return { options: joined.options, attach: (lu) => (this.#ids.set(`${node.name}\0${lu.lun}`, joined.lunId), joined.attach(lu)) };
    };
  }
}

/**
 * Opens every LUN of a target config into `node`; what was opened is pushed on `opened` (closed on
 * failure by the caller). On a cluster gateway each LUN joins its shared LUN.
 */
export async function openTargetLuns(node: TargetNode, t: TargetConfig, where: string, opened: BlockBackend[], log?: Logger, shared?: SharedLuns): Promise<void> {
  for (const { lun, spec, index } of lunEntries(t)) {
    let backend: BlockBackend;
    try {
      backend = await openLun(spec, log);
    } catch (e) {
      throw new ConfigError(`${where}.luns[${index}]`, (e as Error).message);
    }
    opened.push(backend);
    if (shared === undefined) node.addLun(lun, backend);
    else await shared.add(node, lun, spec, backend, `${where}.luns[${index}]`);
  }
  shared?.enable(node);
}

/**
 * Opens every backend and builds the server (not yet listening). Backends are closed on failure. With
 * `serve`, only the targets at those indexes are served (their LUNs opened); the others are known for
 * SendTargets only (TargetNodeOptions.discoveryOnly): the processes of a target with workers (workers/).
 */
export async function buildServer(
  cfg: ServerConfig,
  log: Logger,
  extra: Partial<TargetServerOptions> = {},
  opts: { serve?: ReadonlySet<number> } = {},
): Promise<TargetServer> {
  // A config built in code (tests, the library) gets the same checks as a file.
  validateConfig(cfg);
  const portals = (cfg.portals ?? [DEFAULT_PORTAL]).map((p, i) => parsePortal(p, `portals[${i}]`));
  const policy: TargetServerOptions['policy'] = {};
  if (cfg.maxBurstLength !== undefined) policy.maxBurstLength = cfg.maxBurstLength;
  if (cfg.firstBurstLength !== undefined) policy.firstBurstLength = cfg.firstBurstLength;
  if (cfg.maxRecvDataSegmentLength !== undefined) policy.maxRecvDataSegmentLength = cfg.maxRecvDataSegmentLength;
  if (cfg.maxOutstandingR2T !== undefined) policy.maxOutstandingR2T = cfg.maxOutstandingR2T;
  if (cfg.immediateData !== undefined) policy.immediateData = cfg.immediateData;
  if (cfg.initialR2T !== undefined) policy.initialR2T = cfg.initialR2T;
  const discovery = accounts(cfg.discoveryChap, 'discoveryChap', false);
  // A cluster gateway joins before it serves: its target port group number is its TPGT.
  const cluster: ClusterConfig | undefined = clusterSettings(cfg);
  const gateway = cluster === undefined ? undefined : await ClusterGateway.start({ config: cluster, log, portals: cfg.portals ?? [DEFAULT_PORTAL] });
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
    ...(gateway !== undefined && { tpgt: gateway.tpgId, onStopped: () => gateway.close() }),
    ...extra,
  });
  const shared = gateway === undefined ? undefined : new SharedLuns(gateway, server);
  const opened: BlockBackend[] = [];
  try {
    for (const [i, t] of cfg.targets.entries()) {
      const node = buildTargetNode(t, `targets[${i}]`, log, { discoveryOnly: opts.serve !== undefined && !opts.serve.has(i) });
      if (!node.discoveryOnly) await openTargetLuns(node, t, `targets[${i}]`, opened, log, shared);
      server.addTarget(node);
    }
  } catch (e) {
    await Promise.all(opened.map((b) => b.close().catch(() => {})));
    await gateway?.close();
    throw e;
  }
  return server;
}
