// The cluster settings of a gateway: from `--cluster etcd://HOST:PORT[,HOST:PORT...] --gateway NAME`
// and the config file's `"cluster": {...}` object. Kept small and apart from the target's config so it
// can be folded into a schema; every problem names its setting.

import { readFileSync } from 'node:fs';
import { ClusterConfigError } from './errors.js';

/** How the gateway reaches etcd with TLS: PEM files (a CA, and a client certificate and key for mutual TLS). */
export interface ClusterTlsConfig {
  /** CA certificate(s) that sign etcd's server certificate. */
  caFile: string;
  /** Client certificate (etcd `--client-cert-auth`); with `keyFile`. */
  certFile?: string;
  keyFile?: string;
}

/** etcd user and password (etcd's `auth enable`); the password from a file or an environment variable. */
export interface ClusterAuthConfig {
  user: string;
  passwordFile?: string;
  passwordEnv?: string;
  /** Inline password: works, flagged at start-up (it sits in a file or in `ps`). */
  password?: string;
}

/** A gateway's cluster settings, validated, with defaults applied. */
export interface ClusterConfig {
  /** etcd endpoints, `HOST:PORT`. */
  endpoints: string[];
  /** This gateway's name, unique in the cluster: `[A-Za-z0-9][A-Za-z0-9._-]{0,62}`. */
  gateway: string;
  /** Every key lives under it; ends with '/'. Default `/tsiscsi/`. */
  prefix: string;
  /** Gateway lease TTL in seconds: failover takes about this long. Default 5. */
  leaseTtlS: number;
  /** 'implicit' (default): non-owners Active/Non-Optimized; 'explicit': Standby, SET TARGET PORT GROUPS moves the owner. */
  alua: 'implicit' | 'explicit';
  /** This gateway's target port group (and relative target port, and TPGT); allocated once in etcd when absent. */
  tpgId?: number;
  tls?: ClusterTlsConfig;
  auth?: ClusterAuthConfig;
  /** How long a PERSISTENT RESERVE OUT waits for every gateway to apply it before answering BUSY (ms). Default 2 x TTL. */
  ackTimeoutMs: number;
}

/** Defaults of the optional settings. */
export const CLUSTER_DEFAULTS = { prefix: '/tsiscsi/', leaseTtlS: 5, alua: 'implicit' } as const;

const GATEWAY_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const ENDPOINT = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/;

/** Parses `etcd://HOST:PORT[,HOST:PORT...]` (the `--cluster` flag) into endpoints. */
export function parseClusterUrl(text: string, setting = '--cluster'): string[] {
  const m = /^etcd:\/\/(.+)$/.exec(text.trim());
  if (m === null) throw new ClusterConfigError(setting, `"${text}" is not etcd://HOST:PORT[,HOST:PORT...]`);
  return m[1]!.split(',').map((e, i) => checkEndpoint(e.trim().replace(/\/$/, ''), `${setting}[${i}]`));
}

function checkEndpoint(e: unknown, setting: string): string {
  if (typeof e !== 'string' || !ENDPOINT.test(e)) throw new ClusterConfigError(setting, `"${String(e)}" is not HOST:PORT`);
  const port = Number(e.slice(e.lastIndexOf(':') + 1));
  if (port < 1 || port > 65535) throw new ClusterConfigError(setting, `port ${port} is outside 1..65535`);
  return e;
}

function str(v: unknown, setting: string): string {
  if (typeof v !== 'string' || v === '') throw new ClusterConfigError(setting, 'must be a non-empty string');
  return v;
}

/**
 * Validates the `"cluster"` object of a config file (or the one the flags build). Unknown keys are
 * refused: a misspelt TLS setting must not silently leave etcd in clear text.
 */
export function validateClusterConfig(raw: unknown, where = 'cluster'): ClusterConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ClusterConfigError(where, 'must be an object');
  const c = raw as Record<string, unknown>;
  const known = new Set(['endpoints', 'url', 'gateway', 'prefix', 'leaseTtlS', 'alua', 'tpgId', 'tls', 'auth', 'ackTimeoutMs']);
  for (const k of Object.keys(c)) if (!known.has(k)) throw new ClusterConfigError(`${where}.${k}`, 'is not a cluster setting');
  let endpoints: string[];
  if (c.url !== undefined) {
    if (c.endpoints !== undefined) throw new ClusterConfigError(`${where}.url`, 'give url or endpoints, not both');
    endpoints = parseClusterUrl(str(c.url, `${where}.url`), `${where}.url`);
  } else {
    if (!Array.isArray(c.endpoints) || c.endpoints.length === 0) throw new ClusterConfigError(`${where}.endpoints`, 'must be a non-empty array of "HOST:PORT"');
    endpoints = c.endpoints.map((e, i) => checkEndpoint(e, `${where}.endpoints[${i}]`));
  }
  const gateway = str(c.gateway, `${where}.gateway`);
  if (!GATEWAY_NAME.test(gateway)) throw new ClusterConfigError(`${where}.gateway`, `"${gateway}" must match [A-Za-z0-9][A-Za-z0-9._-]{0,62}`);
  const prefix = c.prefix === undefined ? CLUSTER_DEFAULTS.prefix : str(c.prefix, `${where}.prefix`);
  if (!prefix.startsWith('/') || !prefix.endsWith('/')) throw new ClusterConfigError(`${where}.prefix`, 'must start and end with "/"');
  const leaseTtlS = c.leaseTtlS === undefined ? CLUSTER_DEFAULTS.leaseTtlS : c.leaseTtlS;
  if (typeof leaseTtlS !== 'number' || !Number.isInteger(leaseTtlS) || leaseTtlS < 2 || leaseTtlS > 300) {
    throw new ClusterConfigError(`${where}.leaseTtlS`, 'must be an integer number of seconds in 2..300');
  }
  const alua = c.alua === undefined ? CLUSTER_DEFAULTS.alua : c.alua;
  if (alua !== 'implicit' && alua !== 'explicit') throw new ClusterConfigError(`${where}.alua`, 'must be "implicit" or "explicit"');
  const out: ClusterConfig = { endpoints, gateway, prefix, leaseTtlS, alua, ackTimeoutMs: 2000 * leaseTtlS };
  if (c.ackTimeoutMs !== undefined) {
    if (typeof c.ackTimeoutMs !== 'number' || !Number.isInteger(c.ackTimeoutMs) || c.ackTimeoutMs < 100 || c.ackTimeoutMs > 600_000) {
      throw new ClusterConfigError(`${where}.ackTimeoutMs`, 'must be an integer in 100..600000');
    }
    out.ackTimeoutMs = c.ackTimeoutMs;
  }
  if (c.tpgId !== undefined) {
    if (typeof c.tpgId !== 'number' || !Number.isInteger(c.tpgId) || c.tpgId < 1 || c.tpgId > 0xffff) {
      throw new ClusterConfigError(`${where}.tpgId`, 'must be an integer in 1..65535');
    }
    out.tpgId = c.tpgId;
  }
  if (c.tls !== undefined) {
    if (typeof c.tls !== 'object' || c.tls === null) throw new ClusterConfigError(`${where}.tls`, 'must be an object { caFile, certFile?, keyFile? }');
    const t = c.tls as Record<string, unknown>;
    for (const k of Object.keys(t)) if (k !== 'caFile' && k !== 'certFile' && k !== 'keyFile') throw new ClusterConfigError(`${where}.tls.${k}`, 'is not a TLS setting');
    const tls: ClusterTlsConfig = { caFile: str(t.caFile, `${where}.tls.caFile`) };
    if ((t.certFile === undefined) !== (t.keyFile === undefined)) throw new ClusterConfigError(`${where}.tls`, 'certFile and keyFile go together');
    if (t.certFile !== undefined) {
      tls.certFile = str(t.certFile, `${where}.tls.certFile`);
      tls.keyFile = str(t.keyFile, `${where}.tls.keyFile`);
    }
    out.tls = tls;
  }
  if (c.auth !== undefined) {
    if (typeof c.auth !== 'object' || c.auth === null) throw new ClusterConfigError(`${where}.auth`, 'must be an object { user, passwordFile | passwordEnv | password }');
    const a = c.auth as Record<string, unknown>;
    for (const k of Object.keys(a)) if (!['user', 'passwordFile', 'passwordEnv', 'password'].includes(k)) throw new ClusterConfigError(`${where}.auth.${k}`, 'is not an auth setting');
    const given = ['passwordFile', 'passwordEnv', 'password'].filter((k) => a[k] !== undefined);
    if (given.length !== 1) throw new ClusterConfigError(`${where}.auth`, 'give exactly one of passwordFile, passwordEnv, password');
    const auth: ClusterAuthConfig = { user: str(a.user, `${where}.auth.user`) };
    if (a.passwordFile !== undefined) auth.passwordFile = str(a.passwordFile, `${where}.auth.passwordFile`);
    if (a.passwordEnv !== undefined) auth.passwordEnv = str(a.passwordEnv, `${where}.auth.passwordEnv`);
    if (a.password !== undefined) auth.password = str(a.password, `${where}.auth.password`);
    out.auth = auth;
  }
  return out;
}

/** The etcd password, read now from where the config says. */
export function resolveClusterPassword(a: ClusterAuthConfig, where = 'cluster.auth'): string {
  if (a.passwordFile !== undefined) {
    try {
      return readFileSync(a.passwordFile, 'utf8').replace(/\r?\n$/, '');
    } catch (e) {
      throw new ClusterConfigError(`${where}.passwordFile`, `cannot read ${a.passwordFile}: ${(e as Error).message}`);
    }
  }
  if (a.passwordEnv !== undefined) {
    const v = process.env[a.passwordEnv];
    if (v === undefined || v === '') throw new ClusterConfigError(`${where}.passwordEnv`, `environment variable ${a.passwordEnv} is not set`);
    return v;
  }
  return a.password!;
}

/** Reads a PEM file named by the TLS settings. */
export function readPem(path: string, setting: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new ClusterConfigError(setting, `cannot read ${path}: ${(e as Error).message}`);
  }
}
