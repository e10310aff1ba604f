// The gateway's etcd client: the only module that loads `etcd3` (and only once a cluster is
// configured, so a target without one never pays for gRPC). It connects with TLS (CA, client
// certificate) and/or a user and password, and offers the few operations the cluster needs, each
// bounded in time: a lease, reads of a prefix, guarded transactions, and one watch of the prefix.

import type { IOptions } from 'etcd3';
import type { Logger } from 'pino';
import { readPem, resolveClusterPassword, type ClusterConfig } from './config.js';
import { ClusterError } from './errors.js';

/** One key as read or watched. */
export interface KeyValue {
  key: string;
  value: Buffer;
  createRevision: number;
  modRevision: number;
  /** The lease the key is bound to, as a decimal string ('0': none). */
  lease: string;
}

/** One watched change, in revision order. */
export interface WatchEvent {
  type: 'put' | 'delete';
  kv: KeyValue;
}

/** A condition of a guarded transaction (etcd Compare). */
export type Guard =
  | { key: string; modRevision: number }
  | { key: string; createRevision: number }
  | { key: string; lease: string };

/** A write of a transaction. */
export type Write = { put: string; value: string; lease?: string } | { delete: string };

/** Minimal shapes of what etcd3 hands back (its generated types, narrowed to what is read). */
interface RawKv {
  key: Buffer;
  value: Buffer;
  create_revision: string;
  mod_revision: string;
  lease: string;
}
interface RawEvent {
  type: string | number;
  kv: RawKv;
}

type Etcd3Module = typeof import('etcd3');
type Etcd3Client = InstanceType<Etcd3Module['Etcd3']>;

function kv(raw: RawKv): KeyValue {
  return {
    key: raw.key.toString('utf8'),
    value: raw.value,
    createRevision: Number(raw.create_revision),
    modRevision: Number(raw.mod_revision),
    lease: String(raw.lease ?? '0'),
  };
}

/** How long the first request (connection, TLS, authentication) may take. */
const CONNECT_TIMEOUT_MS = 15_000;

/** Rejects with a ClusterError naming `what` when `p` takes longer than `ms`. */
export function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new ClusterError(`${what}: etcd did not answer within ${ms} ms`)), ms);
    t.unref();
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e instanceof ClusterError ? e : new ClusterError(`${what}: ${e instanceof Error ? e.message : String(e)}`, { cause: e }));
      },
    );
  });
}

/** The gateway's connection to etcd. */
export class EtcdClient {
  readonly #client: Etcd3Client;
  readonly #mod: Etcd3Module;
  readonly #log: Logger;
  /** Bound on every single request (ms). */
  readonly timeoutMs: number;
  #closed = false;

  private constructor(mod: Etcd3Module, client: Etcd3Client, log: Logger, timeoutMs: number) {
    this.#mod = mod;
    this.#client = client;
    this.#log = log;
    this.timeoutMs = timeoutMs;
  }

  /**
   * Connects to the endpoints of `cfg` (https:// when TLS is configured) and proves it with one
   * read of the prefix: a wrong CA, certificate or password fails here, with a message saying which.
   */
  static async connect(cfg: ClusterConfig, log: Logger, timeoutMs: number): Promise<EtcdClient> {
    const [mod, cockatiel] = await Promise.all([import('etcd3'), import('cockatiel')]);
    const scheme = cfg.tls === undefined ? 'http' : 'https';
    const options: IOptions = {
      hosts: cfg.endpoints.map((e) => `${scheme}://${e}`),
      dialTimeout: timeoutMs,
      // One attempt per call and no circuit breaker: the cluster's own loops retry, and a gateway must
      // notice a partition (and its end) within a fraction of the lease TTL. A broken watch stream is
      // reopened every half second, not on an exponential backoff that reaches 30 s.
      faultHandling: { host: () => cockatiel.noop, global: cockatiel.noop, watchBackoff: new cockatiel.ConstantBackoff(500) as never },
    };
    if (cfg.tls !== undefined) {
      options.credentials = {
        rootCertificate: readPem(cfg.tls.caFile, 'cluster.tls.caFile'),
        ...(cfg.tls.certFile !== undefined && {
          certChain: readPem(cfg.tls.certFile, 'cluster.tls.certFile'),
          privateKey: readPem(cfg.tls.keyFile!, 'cluster.tls.keyFile'),
        }),
      };
    }
    if (cfg.auth !== undefined) options.auth = { username: cfg.auth.user, password: resolveClusterPassword(cfg.auth) };
    const client = new mod.Etcd3(options);
    const c = new EtcdClient(mod, client, log, timeoutMs);
    try {
      // The first call carries the TLS handshake and the password exchange: a start-up may take longer.
      await bounded(client.get(`${cfg.prefix}`).exec(), Math.max(CONNECT_TIMEOUT_MS, timeoutMs), `connecting to etcd at ${cfg.endpoints.join(',')}`);
    } catch (e) {
      client.close();
      throw e;
    }
    return c;
  }

  /** Every key under `prefix`, and the store revision they were read at. */
  async getPrefix(prefix: string): Promise<{ kvs: KeyValue[]; revision: number }> {
    const res = await bounded(this.#client.getAll().prefix(prefix).exec(), this.timeoutMs, `reading ${prefix}`);
    return { kvs: (res.kvs as unknown as RawKv[]).map(kv), revision: Number(res.header.revision) };
  }

  /** One key, or undefined. */
  async get(key: string): Promise<KeyValue | undefined> {
    const res = await bounded(this.#client.get(key).exec(), this.timeoutMs, `reading ${key}`);
    const k = (res.kvs as unknown as RawKv[])[0];
    return k === undefined ? undefined : kv(k);
  }

  /**
   * A transaction: the writes happen only if every guard holds. Resolves with whether they did and
   * the store revision after it.
   */
  async txn(guards: readonly Guard[], writes: readonly Write[], what: string): Promise<{ ok: boolean; revision: number }> {
    if (guards.length === 0) throw new TypeError('a transaction needs a guard');
    const [first, ...rest] = guards.map((g) => guardArgs(g));
    let b = this.#client.if(...first!);
    for (const g of rest) b = b.and(...g);
    const ops = writes.map((w) => {
      if ('delete' in w) return this.#client.delete().key(w.delete);
      const put = this.#client.put(w.put).value(w.value);
      return w.lease === undefined ? put : put.lease(w.lease);
    });
    const res = await bounded(b.then(...ops).commit(), this.timeoutMs, what);
    return { ok: res.succeeded, revision: Number(res.header.revision) };
  }

  /** An unguarded put (values a gateway alone writes: its acks). */
  async put(key: string, value: string, lease?: string): Promise<void> {
    const p = this.#client.put(key).value(value);
    await bounded(lease === undefined ? p.exec() : p.lease(lease).exec(), this.timeoutMs, `writing ${key}`);
  }

  /** Grants a lease of `ttlS` seconds; resolves with its id. */
  async grantLease(ttlS: number): Promise<string> {
    const res = await bounded(this.#client.leaseClient.leaseGrant({ TTL: ttlS, ID: 0 }), this.timeoutMs, 'granting the gateway lease');
    return String(res.ID);
  }

  /**
   * One keepalive of lease `id`: resolves with the TTL etcd has left on it (its full TTL after a
   * renewal; 0 when the lease no longer exists).
   */
  async keepAliveOnce(id: string, timeoutMs: number): Promise<number> {
    const ask = async (): Promise<number> => {
      // LeaseTimeToLive after a LeaseKeepAlive on a stream would be two round trips; the unary
      // keepalive through the generated client is one.
      const stream = await this.#client.leaseClient.leaseKeepAlive();
      try {
        const answer = new Promise<number>((resolve, reject) => {
          stream.on('data', (r: { TTL: string }) => resolve(Number(r.TTL)));
          stream.on('error', reject);
          stream.on('end', () => reject(new ClusterError('keepalive stream ended')));
        });
        stream.write({ ID: id });
        return await answer;
      } finally {
        stream.end();
      }
    };
    return bounded(ask(), timeoutMs, 'lease keepalive');
  }

  /** Revokes lease `id` (a clean stop: every key bound to it goes at once, ownership moves now). */
  async revokeLease(id: string): Promise<void> {
    await bounded(this.#client.leaseClient.leaseRevoke({ ID: id }), this.timeoutMs, 'revoking the gateway lease');
  }

  /**
   * Watches every key under `prefix` from revision `fromRevision`, handing each response's events in
   * order. `onError` hears a watch that failed for good (compaction, auth): the caller starts again.
   */
  async watch(prefix: string, fromRevision: number, onEvents: (events: WatchEvent[]) => void, onError: (e: Error) => void): Promise<{ close(): Promise<void> }> {
    const w = await bounded(this.#client.watch().prefix(prefix).startRevision(String(fromRevision)).create(), this.timeoutMs, `watching ${prefix}`);
    w.on('data', (res) => {
      const events = (res.events as unknown as RawEvent[]).map((e): WatchEvent => ({ type: e.type === 'Delete' || e.type === 1 ? 'delete' : 'put', kv: kv(e.kv) }));
      if (events.length !== 0) onEvents(events);
    });
    w.on('error', (e) => onError(e));
    w.on('disconnected', (e) => this.#log.warn({ err: e.message }, 'etcd watch disconnected; it resumes where it stopped'));
    return { close: () => w.cancel() };
  }

  /** Closes the connection. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#client.close();
  }

  /** @internal The etcd3 module, for errors' classes. */
  get module(): Etcd3Module {
    return this.#mod;
  }
}

function guardArgs(g: Guard): [string, 'Mod' | 'Create' | 'Lease', '==', string | number] {
  if ('modRevision' in g) return [g.key, 'Mod', '==', g.modRevision];
  if ('createRevision' in g) return [g.key, 'Create', '==', g.createRevision];
  return [g.key, 'Lease', '==', g.lease];
}
