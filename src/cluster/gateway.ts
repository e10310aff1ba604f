// One gateway of a cluster: its membership in etcd (a key bound to its lease, kept alive every TTL/3),
// its fencing clock, its target port group number (allocated once and kept), one watch of the whole
// prefix dispatched to the LUNs it serves, and the refusal (one log line each) of values it cannot
// verify.
//
// Keys under the prefix:
//   gateways/<name>               {v,tpgId,portals}   bound to the gateway's lease: a live member
//   ids/<name>, tpgs/<tpgId>      {v,tpgId} / {v,gateway}   kept: the gateway's number, unique
//   luns/<lunId>/owner            {v,gateway,tpgId}   bound to the owner's lease
//   luns/<lunId>/state            {v,pr,aptpl,spc2,mode,medium,change}   the LU's shared state, and
//                                 the effects of the change that wrote it (unit attentions, aborts, a reset)
//   luns/<lunId>/acks/<name>      {v,rev}             bound to that gateway's lease

import type { Logger } from 'pino';
import type { ClusterConfig } from './config.js';
import { EtcdClient, type KeyValue, type WatchEvent } from './etcd.js';
import { ClusterError } from './errors.js';
import { FencingClock, monotonicClock, type MonotonicClock } from './fencing.js';
import { ClusterLun, type GatewayLink } from './lun.js';
import { decodeValue, encodeValue, memberValue, tpgValue, type MemberValue, type Validator } from './values.js';

/** How a gateway is started. */
export interface GatewayOptions {
  config: ClusterConfig;
  log: Logger;
  /** The portals this gateway listens on (published in its member key). */
  portals: string[];
  clock?: MonotonicClock;
}

/** A live member as this gateway knows it. */
export interface Member {
  readonly name: string;
  readonly tpgId: number;
  readonly portals: readonly string[];
  /** The lease its key is bound to (an owner key given to it must be bound to the same). */
  readonly lease: string;
}

const tpgKey = (id: number): string => `tpgs/${id}`;

/** A gateway of a cluster. */
export class ClusterGateway implements GatewayLink {
  readonly name: string;
  readonly tpgId: number;
  readonly config: ClusterConfig;
  readonly log: Logger;
  readonly etcd: EtcdClient;
  readonly fencing: FencingClock;
  readonly #clock: MonotonicClock;
  readonly #portals: string[];
  readonly #members = new Map<string, Member>();
  readonly #luns = new Map<string, ClusterLun>();
  readonly #refused = new Set<string>();
  #lease = '0';
  #watch: { close(): Promise<void> } | undefined;
  #keepalive: { cancel(): void } | undefined;
  #closed = false;
  #rejoining = false;
  #keepaliveFailing = false;

  private constructor(opts: GatewayOptions, etcd: EtcdClient, tpgId: number) {
    this.config = opts.config;
    this.name = opts.config.gateway;
    this.log = opts.log.child({ gateway: this.name });
    this.etcd = etcd;
    this.tpgId = tpgId;
    this.#portals = opts.portals;
    this.#clock = opts.clock ?? monotonicClock;
    this.fencing = new FencingClock(this.#clock, (valid) => {
      if (valid) this.log.info({ validForMs: Math.round(this.fencing.validUntil - this.#clock.now()) }, 'gateway lease valid: serving media access');
      else if (!this.#closed) this.log.warn('gateway lease no longer valid by this clock: media access refused (Unavailable) until it is renewed');
      for (const l of this.#luns.values()) l.statesMayHaveChanged();
    });
  }

  /**
   * Connects to etcd, takes this gateway's target port group number (the configured one, the one it
   * had, or the lowest free), joins (its member key under a new lease) and starts watching. A second
   * gateway of the same name is refused once the first one's lease has had TTL to expire.
   */
  static async start(opts: GatewayOptions): Promise<ClusterGateway> {
    const cfg = opts.config;
    const etcd = await EtcdClient.connect(cfg, opts.log, Math.max(1000, Math.floor((cfg.leaseTtlS * 1000) / 3)));
    try {
      const tpgId = await allocateTpg(etcd, cfg);
      const gw = new ClusterGateway(opts, etcd, tpgId);
      await gw.#join(true);
      await gw.#startWatch();
      gw.#scheduleKeepalive();
      gw.log.info({ tpgId, ttlS: cfg.leaseTtlS, alua: cfg.alua, endpoints: cfg.endpoints }, 'joined the cluster');
      return gw;
    } catch (e) {
      etcd.close();
      throw e;
    }
  }

  // ------------------------------------------------------------------------------------------
  // GatewayLink, for the LUNs

  key(rest: string): string {
    return `${this.config.prefix}${rest}`;
  }

  get lease(): string {
    return this.#lease;
  }

  get memberKey(): string {
    return this.key(`gateways/${this.name}`);
  }

  valid(): boolean {
    return this.fencing.valid();
  }

  members(): ReadonlyMap<string, Member> {
    return this.#members;
  }

  /** Whether I_T nexus `id` is one of this gateway's: its target port name carries this gateway's TPGT. */
  isLocalNexus(id: string): boolean {
    return id.endsWith(`,t,0x${this.tpgId.toString(16).padStart(4, '0')}`);
  }

  /** Logs once per key and revision that a value was refused, and why. */
  refuse(kv: KeyValue, reason: string): void {
    const tag = `${kv.key}@${kv.modRevision}`;
    if (this.#refused.has(tag)) return;
    if (this.#refused.size > 4096) this.#refused.clear();
    this.#refused.add(tag);
    this.log.warn({ key: kv.key, revision: kv.modRevision, reason }, 'refused a value in etcd that this gateway cannot verify; ignoring it');
  }

  /** Decodes a value or refuses it (one log line); undefined when refused. */
  decode<T>(kv: KeyValue, validate: Validator<T>): T | undefined {
    const v = decodeValue(kv.value, validate);
    if (typeof v === 'string') {
      this.refuse(kv, v);
      return undefined;
    }
    return v;
  }

  // ------------------------------------------------------------------------------------------
  // LUNs

  /**
   * The cluster side of one shared LUN (its ownership, ALUA states and shared reservations); one per
   * lunId, primed from etcd before it resolves.
   */
  async lun(lunId: string): Promise<ClusterLun> {
    if (this.#closed) throw new ClusterError('the cluster gateway is closed');
    let l = this.#luns.get(lunId);
    if (l !== undefined) return l;
    l = new ClusterLun(this, lunId);
    this.#luns.set(lunId, l);
    try {
      await l.prime();
    } catch (e) {
      this.#luns.delete(lunId);
      throw e;
    }
    return l;
  }

  /** Lets a LUN go (removed from the target): its ownership is released. */
  async dropLun(lunId: string): Promise<void> {
    const l = this.#luns.get(lunId);
    if (l === undefined) return;
    this.#luns.delete(lunId);
    await l.close();
  }

  // ------------------------------------------------------------------------------------------
  // Membership and keepalive

  async #join(first: boolean): Promise<void> {
    const ttl = this.config.leaseTtlS;
    const lease = await this.etcd.grantLease(ttl);
    const value = encodeValue({ v: 1, tpgId: this.tpgId, portals: this.#portals });
    // A previous life of this gateway (a crash, a restart within TTL) may still hold the key: wait for
    // its lease to end, up to TTL and a bit; past that another process has this name.
    const deadline = this.#clock.now() + (ttl + 2) * 1000;
    for (;;) {
      const r = await this.etcd.txn([{ key: this.memberKey, createRevision: 0 }], [{ put: this.memberKey, value, lease }], 'joining the cluster');
      if (r.ok) {
        this.#lease = lease;
        // etcd counts the TTL from the grant; the fencing clock starts from a keepalive sent now.
        const sentAt = this.#clock.now();
        const left = await this.etcd.keepAliveOnce(lease, this.etcd.timeoutMs);
        this.fencing.renewed(sentAt, Math.min(left, ttl));
        return;
      }
      if (!first || this.#clock.now() > deadline) {
        await this.etcd.revokeLease(lease).catch(() => {});
        throw new ClusterError(`another gateway named ${this.name} is live in the cluster (its key ${this.memberKey} is held by another lease)`);
      }
      await new Promise((r2) => setTimeout(r2, 250));
    }
  }

  #scheduleKeepalive(): void {
    if (this.#closed) return;
    const every = Math.max(100, Math.floor((this.config.leaseTtlS * 1000) / 3));
    this.#keepalive = this.#clock.setTimeout(() => void this.#keepaliveOnce().finally(() => this.#scheduleKeepalive()), every);
  }

  async #keepaliveOnce(): Promise<void> {
    if (this.#closed || this.#rejoining) return;
    const sentAt = this.#clock.now();
    try {
      const ttl = await this.etcd.keepAliveOnce(this.#lease, Math.max(100, Math.floor((this.config.leaseTtlS * 1000) / 3)));
      if (this.#keepaliveFailing) this.log.info('etcd answers keepalives again');
      this.#keepaliveFailing = false;
      if (ttl > 0) {
        this.fencing.renewed(sentAt, ttl);
        return;
      }
      // The lease expired at etcd: everything bound to it (membership, ownerships, acks) is gone.
      this.log.warn('the gateway lease expired at etcd: rejoining with a new one');
      this.fencing.revoke();
      await this.#rejoin();
    } catch (e) {
      if (!this.#keepaliveFailing) this.log.warn({ err: (e as Error).message }, 'lease keepalive failed; serving until the lease runs out by this clock');
      this.#keepaliveFailing = true;
    }
  }

  async #rejoin(): Promise<void> {
    this.#rejoining = true;
    try {
      await this.#join(false);
      for (const l of this.#luns.values()) l.rejoined();
    } catch (e) {
      this.log.error({ err: (e as Error).message }, 'could not rejoin the cluster; trying again at the next keepalive');
      // A lease that cannot be renewed is replaced on the next round.
      this.#lease = '0';
    } finally {
      this.#rejoining = false;
    }
  }

  // ------------------------------------------------------------------------------------------
  // The watch of the prefix

  async #startWatch(): Promise<void> {
    const prefix = this.config.prefix;
    const { kvs, revision } = await this.etcd.getPrefix(prefix);
    this.#members.clear();
    this.#dispatch(kvs.map((kv): WatchEvent => ({ type: 'put', kv })), true);
    this.#watch = await this.etcd.watch(
      prefix,
      revision + 1,
      (events) => this.#dispatch(events, false),
      (e) => {
        this.log.error({ err: e.message }, 'the etcd watch failed; starting it again');
        void this.#restartWatch();
      },
    );
  }

  async #restartWatch(): Promise<void> {
    await this.#watch?.close().catch(() => {});
    this.#watch = undefined;
    while (!this.#closed) {
      try {
        await this.#startWatch();
        return;
      } catch (e) {
        this.log.warn({ err: (e as Error).message }, 'cannot watch etcd yet');
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  #dispatch(events: readonly WatchEvent[], initial: boolean): void {
    let membersChanged = false;
    for (const ev of events) {
      const key = ev.kv.key;
      if (!key.startsWith(this.config.prefix)) continue;
      const rest = key.slice(this.config.prefix.length);
      const parts = rest.split('/');
      if (parts[0] === 'gateways' && parts.length === 2) {
        membersChanged = this.#member(parts[1]!, ev) || membersChanged;
      } else if (parts[0] === 'luns' && parts.length >= 3) {
        this.#luns.get(parts[1]!)?.onEvent(parts.slice(2), ev, initial);
      } else if (parts[0] === 'tpgs' && parts.length === 2) {
        if (ev.type === 'put') this.decode(ev.kv, tpgValue);
      } else if (parts[0] === 'ids' && parts.length === 2) {
        if (ev.type === 'put') this.decode(ev.kv, idValue);
      } else if (ev.type === 'put') {
        this.refuse(ev.kv, 'not a key of the cluster layout');
      }
    }
    if (membersChanged) for (const l of this.#luns.values()) l.membersChanged();
  }

  #member(name: string, ev: WatchEvent): boolean {
    if (ev.type === 'delete') return this.#members.delete(name);
    const v: MemberValue | undefined = this.decode(ev.kv, memberValue);
    if (v === undefined) return this.#members.delete(name);
    const old = this.#members.get(name);
    this.#members.set(name, { name, tpgId: v.tpgId, portals: v.portals, lease: ev.kv.lease });
    if (old === undefined) this.log.info({ member: name, tpgId: v.tpgId }, 'gateway joined');
    return old === undefined || old.tpgId !== v.tpgId;
  }

  /**
   * Leaves the cluster: releases every LUN it owns, revokes its lease (its keys go at once, so the
   * others take over without waiting for the TTL), stops watching and disconnects. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#keepalive?.cancel();
    for (const l of this.#luns.values()) await l.close().catch(() => {});
    this.#luns.clear();
    this.fencing.revoke();
    this.fencing.close();
    if (this.#lease !== '0') await this.etcd.revokeLease(this.#lease).catch((e: unknown) => this.log.warn({ err: (e as Error).message }, 'could not revoke the gateway lease; it expires after its TTL'));
    await this.#watch?.close().catch(() => {});
    this.etcd.close();
    this.log.info('left the cluster');
  }
}

/** `ids/<name>`: the gateway's kept number. */
const idValue: Validator<{ v: 1; tpgId: number }> = (x) => {
  const o = x as { v?: unknown; tpgId?: unknown } | null;
  if (typeof o !== 'object' || o === null || o.v !== 1) return 'not a version 1 object';
  if (typeof o.tpgId !== 'number' || !Number.isInteger(o.tpgId) || o.tpgId < 1 || o.tpgId > 0xffff) return 'tpgId is not in 1..65535';
  return { v: 1, tpgId: o.tpgId };
};

/**
 * The gateway's target port group number: the configured one (refused if another gateway has it), the
 * one it was given before, or the lowest free, claimed with a create-only transaction on `tpgs/<n>`.
 */
async function allocateTpg(etcd: EtcdClient, cfg: ClusterConfig): Promise<number> {
  const p = cfg.prefix;
  const me = encodeValue({ v: 1, gateway: cfg.gateway });
  const idKey = `${p}ids/${cfg.gateway}`;
  const claim = async (n: number): Promise<boolean> => {
    const held = await etcd.get(`${p}${tpgKey(n)}`);
    if (held !== undefined) {
      const v = decodeValue(held.value, tpgValue);
      return typeof v !== 'string' && v.gateway === cfg.gateway;
    }
    const r = await etcd.txn([{ key: `${p}${tpgKey(n)}`, createRevision: 0 }], [{ put: `${p}${tpgKey(n)}`, value: me }, { put: idKey, value: JSON.stringify({ v: 1, tpgId: n }) }], 'claiming a target port group number');
    return r.ok;
  };
  if (cfg.tpgId !== undefined) {
    if (!(await claim(cfg.tpgId))) throw new ClusterError(`target port group ${cfg.tpgId} (cluster.tpgId) belongs to another gateway`);
    return cfg.tpgId;
  }
  const had = await etcd.get(idKey);
  if (had !== undefined) {
    const v = decodeValue(had.value, idValue);
    if (typeof v !== 'string' && (await claim(v.tpgId))) return v.tpgId;
  }
  const { kvs } = await etcd.getPrefix(`${p}tpgs/`);
  const taken = new Set(kvs.map((kv) => Number(kv.key.slice(`${p}tpgs/`.length))));
  for (let n = 1; n <= 0xffff; n++) {
    if (taken.has(n)) continue;
    if (await claim(n)) return n;
  }
  throw new ClusterError('no free target port group number (1..65535)');
}
