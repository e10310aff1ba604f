// Validation of a configuration against its schema (schema.ts), reported as one ConfigError naming the
// setting by its path (`targets[0].luns[1]: ...`), then the checks across entries that a schema cannot
// make (a target or a LUN defined twice, mutual CHAP without CHAP).

import Value from 'typebox/value';
import type { TLocalizedValidationError } from 'typebox/error';
import { validateClusterConfig, type ClusterConfig } from '../../cluster/index.js';
import { TsiscsiError } from '../../errors.js';
import { EXPECTATION, SERVER_SETTINGS, ServerConfigSchema, type LunEntryConfig, type ServerConfig, type TargetConfig } from './schema.js';

/** A configuration problem: names the setting and what is wrong with it. */
export class ConfigError extends TsiscsiError {
  readonly setting: string;
  constructor(setting: string, message: string) {
    super('ERR_CONFIG', `${setting}: ${message}`);
    this.name = 'ConfigError';
    this.setting = setting;
  }
}

/** Validates a parsed JSON config; the first problem found is thrown as a {@link ConfigError} naming its path. */
export function validateConfig(raw: unknown): ServerConfig {
  const errors = Value.Errors(ServerConfigSchema, raw);
  if (errors.length > 0) throw firstProblem(raw, errors, errors.filter(outsideUnions));
  const cfg = raw as ServerConfig;
  crossCheck(cfg);
  return cfg;
}

/** The LUNs of a target with their numbers: the n-th plain spec is LUN n-1, a numbered one says its own. */
export function lunEntries(t: Pick<TargetConfig, 'luns'>): { lun: number; spec: string; index: number }[] {
  return t.luns.map((e: LunEntryConfig, index) => (typeof e === 'string' ? { lun: index, spec: e, index } : { lun: e.lun, spec: e.spec, index }));
}

/**
 * The cluster settings with their defaults, after the rules across fields the schema cannot state
 * (url or endpoints, certFile with keyFile, one password source).
 */
export function clusterSettings(cfg: ServerConfig): ClusterConfig | undefined {
  if (cfg.cluster === undefined) return undefined;
  try {
    return validateClusterConfig(cfg.cluster, 'cluster');
  } catch (e) {
    if (e instanceof TsiscsiError && 'setting' in e) throw new ConfigError((e as { setting: string }).setting, e.message.slice(e.message.indexOf(': ') + 2));
    throw e;
  }
}

function crossCheck(cfg: ServerConfig): void {
  clusterSettings(cfg);
  if (cfg.cluster !== undefined && typeof cfg.workers === 'number' && cfg.workers > 0) {
    throw new ConfigError('workers', 'a cluster gateway serves its targets in one process: give 0 or "auto", or leave it out');
  }
  const names = new Set<string>();
  cfg.targets.forEach((t, i) => {
    const where = `targets[${i}]`;
    if (names.has(t.iqn)) throw new ConfigError(`${where}.iqn`, `${t.iqn} is defined twice`);
    names.add(t.iqn);
    const luns = new Set<number>();
    for (const e of lunEntries(t)) {
      if (luns.has(e.lun)) throw new ConfigError(`${where}.luns[${e.index}]`, `LUN ${e.lun} is defined twice`);
      luns.add(e.lun);
    }
    const chap = t.chap === undefined ? [] : Array.isArray(t.chap) ? t.chap : [t.chap];
    if (t.mutualChap !== undefined && chap.length === 0) {
      throw new ConfigError(`${where}.mutualChap`, 'mutual CHAP needs --chap (the initiator authenticates first)');
    }
  });
}

/** Errors that are not inside one branch of a union (those are judged through the union's own error). */
function outsideUnions(e: TLocalizedValidationError): boolean {
  return e.keyword !== 'boolean' && !e.schemaPath.includes('/anyOf/');
}

function firstProblem(raw: unknown, all: TLocalizedValidationError[], candidates: TLocalizedValidationError[]): ConfigError {
  const e = candidates[0] ?? all.find((x) => x.keyword !== 'boolean') ?? all[0]!;
  const path = instancePathText(e.instancePath);
  const node = schemaAt(e.schemaPath);
  switch (e.keyword) {
    case 'anyOf':
      return unionProblem(raw, all, e, node);
    case 'required': {
      const k = (e.params as { requiredProperties: string[] }).requiredProperties[0]!;
      const child = (node as { properties?: Record<string, object> } | undefined)?.properties?.[k];
      return new ConfigError(join(path, k), (child !== undefined ? EXPECTATION.get(child) : undefined) ?? 'is required');
    }
    case 'additionalProperties': {
      const k = (e.params as { additionalProperties: string[] }).additionalProperties[0]!;
      if (e.instancePath === '') return new ConfigError(k, `unknown setting (known: ${SERVER_SETTINGS.join(', ')})`);
      return new ConfigError(join(path, k), 'unknown setting');
    }
    case '~refine':
      return new ConfigError(path, (e.params as { message: string }).message);
    case 'maxItems':
      return new ConfigError(path, `at most ${(e.params as { limit: number }).limit} entries`);
    default: {
      // A string that fails a pattern or length has a refinement that says precisely why.
      const refined = refinementMessage(node, valueAt(raw, e.instancePath));
      return new ConfigError(path, refined ?? (node !== undefined ? EXPECTATION.get(node) : undefined) ?? e.message);
    }
  }
}

/**
 * A value matching no branch of a union: the branch whose type it has (a string for a LUN spec, an
 * object for a numbered LUN) says what is wrong with it; with none, the union says what it expects.
 */
function unionProblem(raw: unknown, all: TLocalizedValidationError[], u: TLocalizedValidationError, node: object | undefined): ConfigError {
  const prefix = `${u.schemaPath}/anyOf/`;
  const branches = new Map<number, TLocalizedValidationError[]>();
  for (const e of all) {
    if (!e.schemaPath.startsWith(prefix)) continue;
    const i = Number.parseInt(e.schemaPath.slice(prefix.length), 10);
    let list = branches.get(i);
    if (list === undefined) branches.set(i, (list = []));
    list.push(e);
  }
  for (const [i, errs] of branches) {
    const own = `${prefix}${i}`;
    const wrongType = errs.some((e) => e.keyword === 'type' && e.instancePath === u.instancePath && e.schemaPath === own);
    if (wrongType) continue;
    const inner = errs.filter((e) => e.keyword !== 'boolean' && !e.schemaPath.slice(own.length).includes('/anyOf/'));
    return firstProblem(raw, errs, inner);
  }
  return new ConfigError(instancePathText(u.instancePath), (node !== undefined ? EXPECTATION.get(node) : undefined) ?? u.message);
}

function refinementMessage(node: object | undefined, value: unknown): string | undefined {
  const r = (node as { '~refine'?: { check(v: unknown): boolean; error(v: unknown): string }[] } | undefined)?.['~refine'];
  if (r === undefined || typeof value !== 'string') return undefined;
  for (const x of r) if (!x.check(value)) return x.error(value);
  return undefined;
}

/** `/targets/0/luns/1` as `targets[0].luns[1]`; the root is `config`. */
function instancePathText(pointer: string): string {
  if (pointer === '') return 'config';
  let out = '';
  for (const raw of pointer.slice(1).split('/')) {
    const seg = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    out += /^\d+$/.test(seg) ? `[${seg}]` : out === '' ? seg : `.${seg}`;
  }
  return out;
}

function join(path: string, key: string): string {
  return path === 'config' ? key : `${path}.${key}`;
}

function valueAt(raw: unknown, pointer: string): unknown {
  let v = raw;
  if (pointer === '') return v;
  for (const raw2 of pointer.slice(1).split('/')) {
    const seg = raw2.replaceAll('~1', '/').replaceAll('~0', '~');
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<string, unknown>)[seg];
  }
  return v;
}

/** The schema node a TypeBox schemaPath (`#/properties/targets/items/...`) points at. */
function schemaAt(schemaPath: string): object | undefined {
  let node: unknown = ServerConfigSchema;
  const segs = schemaPath.replace(/^#\/?/, '');
  if (segs === '') return node as object;
  for (const seg of segs.split('/')) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[seg.replaceAll('~1', '/').replaceAll('~0', '~')];
  }
  return typeof node === 'object' && node !== null ? node : undefined;
}
