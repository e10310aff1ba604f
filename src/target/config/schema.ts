// The target's configuration, declared once: TypeBox schemas give the TypeScript types (Static), the
// validation (validate.ts turns their errors into path-precise messages) and the published JSON Schema
// (docs/config.schema.json, written by `npm run config-schema`). Checks that JSON Schema cannot say
// (an iSCSI name's rules, a LUN spec, HOST:PORT) are TypeBox refinements, dropped from the JSON Schema.

import Type, { type Static, type TInteger, type TSchema } from 'typebox';
import { parseLunSpec } from '../../backend/spec.js';
import { iscsiNameProblem } from '../../login/keys.js';
import { MAX_LUN } from '../../pdu/lun.js';
import { parsePortalProblem } from './portal-text.js';

/**
 * What each node of the schema expects, in the words of a config error (`targets[0].luns: must be an
 * array of LUN specs`). Kept beside the schema objects rather than in them, so the published JSON Schema
 * carries no private keyword.
 */
export const EXPECTATION = new WeakMap<object, string>();

function expect<T extends TSchema>(schema: T, message: string): T {
  EXPECTATION.set(schema, message);
  return schema;
}

/** Type.Optional copies its schema: the copy keeps the expectation. */
function optional<T extends TSchema>(schema: T) {
  const o = Type.Optional(schema);
  const m = EXPECTATION.get(schema);
  if (m !== undefined) EXPECTATION.set(o, m);
  return o;
}

function int(min: number, max: number, description: string): TInteger {
  return expect(Type.Integer({ minimum: min, maximum: max, description }), `must be an integer in ${min}..${max}`);
}

/** An iSCSI name (RFC 7143 §4.2.7: iqn., eui. or naa. form). */
export const IscsiName = expect(
  Type.Refine(
    Type.String({ description: 'an iSCSI name: iqn.YYYY-MM.reversed.domain[:id], eui.16HEX or naa.16|32HEX (RFC 7143 §4.2.7)', pattern: '^(iqn\\.|eui\\.|naa\\.)' }),
    (v: string) => iscsiNameProblem(v) === undefined,
    (v: string) => `"${v}" ${iscsiNameProblem(v) ?? 'is not an iSCSI name'}`,
  ),
  'must be an iSCSI name string',
);

function lunSpecProblem(spec: string): string | undefined {
  try {
    parseLunSpec(spec);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

/** A LUN spec as `tsiscsi target --lun` takes it (README: PATH[,size=...][,ro]... or mem:SIZE[,...]). */
export const LunSpecText = expect(
  Type.Refine(
    Type.String({ description: 'a LUN spec: PATH[,size=1G][,ro][,bs=512|4096][,pbs=4K][,removable][,io=auto|sync|async][,delay=MS] or mem:SIZE[,...]', minLength: 1 }),
    (v: string) => lunSpecProblem(v) === undefined,
    (v: string) => lunSpecProblem(v) ?? 'is not a LUN spec',
  ),
  'must be a LUN spec string',
);

/** A LUN at an explicit number (a target whose LUNs are not 0..n-1, as after `lun remove`). */
export const NumberedLun = expect(
  Type.Object(
    {
      lun: int(0, MAX_LUN, 'the LUN number'),
      spec: LunSpecText,
    },
    { additionalProperties: false, description: 'a LUN at an explicit number' },
  ),
  'must be a LUN spec string or { "lun": N, "spec": "..." }',
);

/** One entry of `luns`: a spec (the n-th entry is LUN n-1) or a numbered one. */
export const LunEntry = expect(Type.Union([LunSpecText, NumberedLun]), 'must be a LUN spec string or { "lun": N, "spec": "..." }');

/** HOST:PORT (IPv6 as [addr]:port); the port defaults to 3260. */
export const PortalText = expect(
  Type.Refine(
    Type.String({ description: 'HOST:PORT ([IPv6]:PORT); the port defaults to 3260' }),
    (v: string) => parsePortalProblem(v) === undefined,
    (v: string) => parsePortalProblem(v) ?? 'is not HOST:PORT',
  ),
  'must be "HOST:PORT"',
);

const SECRET_KEYS = ['secret', 'secretFile', 'secretEnv'] as const;

/** A CHAP account: a user and exactly one of secret (inline), secretFile or secretEnv. */
export const ChapAccountSchema = expect(
  Type.Refine(
    Type.Object(
      {
        user: expect(Type.String({ minLength: 1, description: 'the CHAP name' }), 'needs a non-empty user'),
        secret: optional(expect(Type.String({ description: 'the secret inline (readable by whoever reads this file: prefer secretFile or secretEnv)' }), 'must be a string')),
        secretFile: optional(expect(Type.String({ description: 'a file holding the secret (one trailing newline is ignored)' }), 'must be a file path')),
        secretEnv: optional(expect(Type.String({ description: 'an environment variable holding the secret' }), 'must be an environment variable name')),
      },
      { additionalProperties: false, description: 'a CHAP account; give exactly one of secret, secretFile, secretEnv' },
    ),
    (a: Record<string, unknown>) => SECRET_KEYS.filter((k) => a[k] !== undefined).length === 1,
    () => 'give exactly one of secret, secretFile, secretEnv',
  ),
  'must be a CHAP account { "user": ..., "secretFile": ... }',
);

const ChapAccounts = expect(Type.Union([ChapAccountSchema, Type.Array(ChapAccountSchema)]), 'must be a CHAP account or an array of them');

/** One target: its name, LUNs, ACL and CHAP. */
export const TargetSchema = expect(
  Type.Object(
    {
      iqn: IscsiName,
      alias: optional(expect(Type.String({ description: 'TargetAlias (RFC 7143 §13.6)' }), 'must be a string')),
      luns: expect(
        Type.Array(LunEntry, { maxItems: MAX_LUN + 1, description: 'LUNs: the n-th spec is LUN n-1, unless given as { "lun": N, "spec": ... }' }),
        'must be an array of LUN specs',
      ),
      allow: optional(expect(Type.Array(IscsiName, { description: 'initiator names allowed in (absent or empty: any)' }), 'must be an array of initiator IQNs')),
      chap: optional(ChapAccounts),
      mutualChap: optional(ChapAccountSchema),
      allowShortSecrets: optional(expect(Type.Boolean({ description: 'accept CHAP secrets under 12 bytes (RFC 7143 §12.1.3 requires 96 bits)' }), 'must be true or false')),
    },
    { additionalProperties: false },
  ),
  'must be an object',
);

/** The metrics endpoint (`/metrics`, Prometheus text format). */
export const MetricsSchema = expect(
  Type.Object(
    {
      listen: expect(
        Type.Refine(
          Type.String({ description: 'HOST:PORT to serve /metrics on; a bare PORT binds 127.0.0.1' }),
          (v: string) => parsePortalProblem(metricsListenText(v)) === undefined,
          (v: string) => parsePortalProblem(metricsListenText(v)) ?? 'is not HOST:PORT',
        ),
        'must be "HOST:PORT"',
      ),
      tokenFile: optional(expect(Type.String({ description: 'a file holding the bearer token scrapers must send' }), 'must be a file path')),
      tokenEnv: optional(expect(Type.String({ description: 'an environment variable holding the bearer token' }), 'must be an environment variable name')),
      maxConnections: optional(int(1, 10_000, 'connections served at once; the longest idle is closed to admit a new one [default: 64]')),
    },
    { additionalProperties: false },
  ),
  'must be an object { "listen": "HOST:PORT" }',
);

/** A bare port means loopback: metrics are not published beyond the host unless asked. */
export function metricsListenText(v: string): string {
  return /^\d+$/.test(v.trim()) ? `127.0.0.1:${v.trim()}` : v;
}

const str = (description: string) => expect(Type.String({ minLength: 1, description }), 'must be a non-empty string');

/** etcd HOST:PORT (IPv6 as [addr]:port). */
const EtcdEndpoint = expect(
  Type.String({ pattern: '^(?:\\[[0-9a-fA-F:.]+\\]|[A-Za-z0-9.-]+):\\d{1,5}$', description: 'an etcd client endpoint, HOST:PORT' }),
  'must be "HOST:PORT"',
);

/**
 * A gateway's cluster settings (docs/cluster.md): etcd, this gateway's name, the lease, ALUA mode,
 * TLS and etcd authentication. The cross-field rules (url or endpoints, certFile with keyFile, one
 * password source) are checked by the cluster module, which also applies the defaults.
 */
export const ClusterSchema = expect(
  Type.Object(
    {
      url: optional(expect(Type.String({ pattern: '^etcd://', description: 'etcd://HOST:PORT[,HOST:PORT...] (or give endpoints)' }), 'must be etcd://HOST:PORT[,HOST:PORT...]')),
      endpoints: optional(expect(Type.Array(EtcdEndpoint, { minItems: 1, description: 'etcd client endpoints (or give url)' }), 'must be a non-empty array of "HOST:PORT"')),
      gateway: expect(
        Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$', description: "this gateway's name, unique in the cluster" }),
        'must match [A-Za-z0-9][A-Za-z0-9._-]{0,62}',
      ),
      prefix: optional(expect(Type.String({ pattern: '^/(.*/)?$', description: 'every key lives under it [default: /tsiscsi/]' }), 'must start and end with "/"')),
      leaseTtlS: optional(expect(Type.Integer({ minimum: 2, maximum: 300, description: 'gateway lease TTL in seconds: failover takes about this long [default: 5]' }), 'must be an integer number of seconds in 2..300')),
      alua: optional(
        expect(
          Type.Union([Type.Literal('implicit'), Type.Literal('explicit')], { description: 'implicit: non-owners Active/Non-Optimized; explicit: Standby, SET TARGET PORT GROUPS moves the owner [default: implicit]' }),
          'must be "implicit" or "explicit"',
        ),
      ),
      tpgId: optional(int(1, 0xffff, "this gateway's target port group (and TPGT); allocated once in etcd when absent")),
      ackTimeoutMs: optional(int(100, 600_000, 'how long a PERSISTENT RESERVE OUT waits for every gateway to apply it [default: 2 x TTL]')),
      tls: optional(
        expect(
          Type.Object(
            { caFile: str('CA certificate(s) of etcd'), certFile: optional(str('client certificate (with keyFile)')), keyFile: optional(str('client key (with certFile)')) },
            { additionalProperties: false, description: 'reach etcd over TLS' },
          ),
          'must be an object { caFile, certFile?, keyFile? }',
        ),
      ),
      auth: optional(
        expect(
          Type.Object(
            {
              user: str('etcd user'),
              passwordFile: optional(str('file holding the password')),
              passwordEnv: optional(str('environment variable holding the password')),
              password: optional(str('the password inline (flagged at start-up)')),
            },
            { additionalProperties: false, description: 'etcd user and password (one of passwordFile, passwordEnv, password)' },
          ),
          'must be an object { user, passwordFile | passwordEnv | password }',
        ),
      ),
    },
    { additionalProperties: false, description: 'this target is one gateway of a cluster sharing its LUNs through etcd (docs/cluster.md)' },
  ),
  'must be an object',
);

/** The most worker processes a target runs (`workers`). */
export const MAX_WORKERS = 256;

/** The whole configuration. */
export const ServerConfigSchema = expect(
  Type.Object(
    {
      portals: optional(expect(Type.Array(PortalText, { description: 'addresses to listen on [default: 127.0.0.1:3260]' }), 'must be an array of "HOST:PORT"')),
      targets: expect(Type.Array(TargetSchema, { minItems: 1 }), 'must be a non-empty array'),
      discoveryChap: optional(ChapAccounts),
      adminSocket: optional(expect(Type.String({ minLength: 1, description: 'UNIX socket for `tsiscsi admin` (created 0600)' }), 'must be a socket path')),
      adminGroup: optional(expect(Type.String({ minLength: 1, description: 'group (name or gid) that may use the admin socket (then 0660)' }), 'must be a group name or gid')),
      allowedPaths: optional(
        expect(
          Type.Array(expect(Type.String({ minLength: 1, description: 'a directory, a device node, or a backend scheme such as "nbd:"' }), 'must be a non-empty string'), {
            description: 'where `tsiscsi admin lun add` may open LUNs: directories (files under them), device nodes listed one by one, backend schemes ("nbd:"); absent: anywhere',
          }),
          'must be an array of paths',
        ),
      ),
      persist: optional(expect(Type.Boolean({ description: 'write admin changes back to this file (atomically, mode 0600)' }), 'must be true or false')),
      metrics: optional(MetricsSchema),
      logLevel: optional(
        expect(Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)), { description: 'pino log level' }), 'must be one of fatal, error, warn, info, debug, trace, silent'),
      ),
      queueDepth: optional(int(1, 4096, 'commands per session (MaxCmdSN window) [default: 128]')),
      nopIntervalMs: optional(int(0, 3_600_000, 'NOP-In ping after this much initiator silence; 0 disables [default: 30000]')),
      nopTimeoutMs: optional(int(100, 3_600_000, 'connection dropped when a ping goes unanswered this long [default: 15000]')),
      loginTimeoutMs: optional(int(100, 3_600_000, 'a login must complete within this [default: 15000]')),
      maxConnections: optional(int(1, 1_000_000, 'connections accepted at once [default: 1024]')),
      maxBurstLength: optional(int(512, 0xffffff, 'MaxBurstLength offered (RFC 7143 §13.13)')),
      maxRecvDataSegmentLength: optional(int(512, 0xffffff, 'MaxRecvDataSegmentLength declared (RFC 7143 §13.12)')),
      firstBurstLength: optional(int(512, 0xffffff, 'FirstBurstLength offered (RFC 7143 §13.14)')),
      maxOutstandingR2T: optional(int(1, 65535, 'MaxOutstandingR2T offered (RFC 7143 §13.17)')),
      immediateData: optional(expect(Type.Boolean({ description: 'ImmediateData offered (RFC 7143 §13.11)' }), 'must be true or false')),
      initialR2T: optional(expect(Type.Boolean({ description: 'InitialR2T offered (RFC 7143 §13.10)' }), 'must be true or false')),
      workers: optional(
        expect(
          Type.Union([Type.Literal('auto'), Type.Integer({ minimum: 0, maximum: MAX_WORKERS })], {
            description: `worker processes, each serving whole targets on sockets of its own: 0 serves all in one process; "auto" picks from the core count (one per target, up to one per core, none below 4 cores or for one target; a cluster gateway: none) [default: auto]`,
          }),
          `must be "auto" or an integer in 0..${MAX_WORKERS}`,
        ),
      ),
      cluster: optional(ClusterSchema),
    },
    { additionalProperties: false, title: 'tsiscsi target configuration' },
  ),
  'must be a JSON object',
);

export type ServerConfig = Static<typeof ServerConfigSchema>;
export type TargetConfig = Static<typeof TargetSchema>;
export type ChapAccountConfig = Static<typeof ChapAccountSchema>;
export type LunEntryConfig = Static<typeof LunEntry>;
export type MetricsConfig = Static<typeof MetricsSchema>;
export type ClusterSettings = Static<typeof ClusterSchema>;

/** A secret as written in a config: inline, in a file, or in an environment variable. */
export type SecretSource = Pick<ChapAccountConfig, 'secret' | 'secretFile' | 'secretEnv'>;

/** The settings a config may hold at the top level, in declaration order (for the unknown-setting message). */
export const SERVER_SETTINGS: readonly string[] = Object.keys(ServerConfigSchema.properties);

/** The JSON Schema document published as docs/config.schema.json (draft 2020-12). */
export function configJsonSchema(): Record<string, unknown> {
  const plain = JSON.parse(JSON.stringify(ServerConfigSchema)) as Record<string, unknown>;
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: 'urn:tsiscsi:target-config',
    ...plain,
    description: 'Configuration of `tsiscsi target --config FILE` (README, "Config file"). Checks that JSON Schema cannot express (iSCSI name rules, LUN spec options) are made by the target itself.',
  };
}
