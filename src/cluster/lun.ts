// One shared LUN as a gateway sees it: who owns it (the etcd owner key, bound to the owner's lease,
// raced for whenever it is absent), the asymmetric access states that follow (AsymmetricAccess for the
// logical unit, SPC-4 §5.15), SET TARGET PORT GROUPS moving the owner, and the shared state of the LU
// (SharedLuState: reservations, mode parameters, the removable medium): compare-and-swap writes, a
// cache fed by the watch, acks from every live gateway before a change is answered, and the effects a
// change has on other gateways' nexuses (unit attentions, aborts, a reset) carried with it.

import type { Logger } from 'pino';
import type { AsymmetricAccess, TargetPortGroupRequest } from '../scsi/alua-access.js';
import { ALUA_STATE, type TargetPortGroupInit } from '../scsi/cdb/alua.js';
import { ASC, STATUS, statusName } from '../scsi/constants.js';
import { PersistentReservations } from '../scsi/persistent-reservations.js';
import { invalidFieldInParameterList } from '../scsi/sense.js';
import type { LuSharedState, SharedChange, SharedEffects, SharedLuState, SharedSnapshot } from '../scsi/shared-state.js';
import type { ItNexus } from '../scsi/types.js';
import { ScsiError } from '../errors.js';
import type { ClusterConfig } from './config.js';
import type { EtcdClient, KeyValue, WatchEvent } from './etcd.js';
import type { FencingClock } from './fencing.js';
import { ackValue, encodeValue, luStateValue, ownerValue, type LuStateValue, type Validator } from './values.js';

/** What a LUN needs of its gateway. */
export interface GatewayLink {
  readonly name: string;
  readonly tpgId: number;
  readonly config: ClusterConfig;
  readonly log: Logger;
  readonly etcd: EtcdClient;
  readonly fencing: FencingClock;
  readonly lease: string;
  readonly memberKey: string;
  key(rest: string): string;
  valid(): boolean;
  members(): ReadonlyMap<string, { readonly name: string; readonly tpgId: number; readonly lease: string }>;
  isLocalNexus(id: string): boolean;
  decode<T>(kv: KeyValue, validate: Validator<T>): T | undefined;
}

/** What a LUN needs of its logical unit (set once the LU exists). */
export interface ClusterLuHooks {
  /** ASYMMETRIC ACCESS STATE CHANGED and the like, for every I_T nexus of the LU here but `exceptNexusId`. */
  establishUnitAttention(code: number, exceptNexusId?: string): void;
  /** The shared state as etcd has it, and the effects for this gateway's nexuses (a reset made elsewhere included). */
  applySharedState(state: SharedSnapshot, effects: SharedEffects | null): Promise<void>;
}

interface Owner {
  gateway: string;
  tpgId: number;
  /** The owner key's mod revision: the fencing token of this ownership. */
  revision: number;
}

interface Cached {
  value: LuStateValue;
  revision: number;
}

const EMPTY: LuStateValue = {
  v: 1,
  pr: new PersistentReservations().snapshot(),
  aptpl: false,
  spc2: null,
  mode: null,
  medium: { present: true, prevent: [] },
  change: null,
};

function busy(why: string): ScsiError {
  return new ScsiError({ status: STATUS.BUSY, statusName: statusName(STATUS.BUSY) }, why);
}

/** A waiter for a state revision to be applied everywhere. */
interface AckWaiter {
  revision: number;
  resolve(): void;
}

/** One shared LUN on one gateway. */
export class ClusterLun implements AsymmetricAccess, SharedLuState {
  readonly lunId: string;
  readonly #gw: GatewayLink;
  #hooks: ClusterLuHooks | undefined;
  #owner: Owner | null = null;
  /** Revision of the last owner event seen (put or delete): older ones are stale. */
  #ownerEventRev = 0;
  #state: Cached = { value: EMPTY, revision: 0 };
  /**
   * Mod revision of the state key as last seen, verified or not: a change compares against it, so a
   * value this gateway refused is replaced by the last verified state with the change applied.
   */
  #stateKeyRev = 0;
  /** State revision this gateway has applied to its LU. */
  #applied = 0;
  #applyChain: Promise<void> = Promise.resolve();
  readonly #acks = new Map<string, number>();
  #waiters: AckWaiter[] = [];
  #racing = false;
  #moving = false;
  /** The I_T nexus whose SET TARGET PORT GROUPS is moving the owner: it is not told of its own change. */
  #mover: string | undefined;
  #closed = false;
  /** Report of the last states, to raise ASYMMETRIC ACCESS STATE CHANGED only on a change. */
  #lastReport = '';
  #statusCode = 0;
  /** Conditions awaited by #until, checked on every event of this LUN. */
  #conds: { cond: () => boolean; done: () => void }[] = [];
  readonly tpgs: number;
  readonly implicitTransitionTime: number;
  /** A change made on no command's behalf is waited for as long as a command's change waits for acks. */
  readonly settleBoundMs: number;

  constructor(gw: GatewayLink, lunId: string) {
    this.#gw = gw;
    this.lunId = lunId;
    this.tpgs = gw.config.alua === 'explicit' ? 2 : 1;
    this.implicitTransitionTime = Math.min(255, gw.config.leaseTtlS + 1);
    this.settleBoundMs = gw.config.ackTimeoutMs;
  }

  get #key(): string {
    return this.#gw.key(`luns/${this.lunId}/`);
  }

  get group(): number {
    return this.#gw.tpgId;
  }

  /** The owner gateway's name, or null. */
  get owner(): string | null {
    return this.#owner?.gateway ?? null;
  }

  /** The owner key's mod revision (the fencing token), 0 when none. */
  get ownerRevision(): number {
    return this.#owner?.revision ?? 0;
  }

  /** Connects the logical unit; its state is brought up to date at once. */
  attach(hooks: ClusterLuHooks): Promise<void> {
    this.#hooks = hooks;
    const st = this.#state;
    this.#lastReport = this.#report();
    return hooks.applySharedState(snapshotOf(st.value), null);
  }

  /** Reads the LUN's keys, then races for ownership if nobody has it. */
  async prime(): Promise<void> {
    const { kvs } = await this.#gw.etcd.getPrefix(this.#key);
    for (const kv of kvs) this.onEvent(kv.key.slice(this.#key.length).split('/'), { type: 'put', kv }, true);
    this.#race();
    // No I_T nexus of this gateway can hold anything on a LUN it starts serving: what its port holds
    // is left from a previous life of this gateway (a crash, a restart) or of this LUN here.
    this.#releaseLostPorts(true);
  }

  // ------------------------------------------------------------------------------------------
  // AsymmetricAccess

  state(): number {
    if (!this.#gw.valid()) return ALUA_STATE.UNAVAILABLE;
    return this.#stateOf(this.#gw.name);
  }

  #stateOf(gateway: string): number {
    const o = this.#owner;
    if (o !== null && o.gateway === gateway) return ALUA_STATE.ACTIVE_OPTIMIZED;
    if (this.tpgs === 2) return o === null || this.#moving ? ALUA_STATE.TRANSITIONING : ALUA_STATE.STANDBY;
    return ALUA_STATE.ACTIVE_NON_OPTIMIZED;
  }

  groups(): TargetPortGroupInit[] {
    const supported = {
      activeOptimized: true,
      activeNonOptimized: this.tpgs === 1,
      standby: this.tpgs === 2,
      unavailable: true,
      transitioning: true,
    };
    const out: TargetPortGroupInit[] = [];
    let self = false;
    for (const m of this.#gw.members().values()) {
      const mine = m.name === this.#gw.name;
      self ||= mine;
      out.push({ tpg: m.tpgId, state: mine ? this.state() : this.#stateOf(m.name), ports: [m.tpgId], supported, statusCode: this.#statusCode });
    }
    if (!self) out.push({ tpg: this.#gw.tpgId, state: this.state(), ports: [this.#gw.tpgId], supported, statusCode: this.#statusCode });
    return out.sort((a, b) => a.tpg - b.tpg);
  }

  /**
   * SET TARGET PORT GROUPS (explicit ALUA): a descriptor asking Active/Optimized for a group makes its
   * gateway the owner, in one transaction that rewrites the owner key bound to that gateway's lease
   * (no moment without an owner). BUSY while another move runs or when the owner changed meanwhile.
   */
  async setTargetPortGroups(requests: readonly TargetPortGroupRequest[], nexus: ItNexus): Promise<void> {
    const byTpg = new Map<number, { name: string; lease: string }>();
    for (const m of this.#gw.members().values()) byTpg.set(m.tpgId, { name: m.name, lease: m.lease });
    let target: { name: string; lease: string; tpg: number } | undefined;
    for (const [i, r] of requests.entries()) {
      const off = 4 + 4 * i;
      const m = byTpg.get(r.tpg);
      if (m === undefined) throw invalidFieldInParameterList(off + 2);
      if (r.state === ALUA_STATE.ACTIVE_OPTIMIZED) {
        if (target !== undefined) throw invalidFieldInParameterList(off);
        target = { ...m, tpg: r.tpg };
      } else if (r.state === ALUA_STATE.UNAVAILABLE || (r.state === ALUA_STATE.ACTIVE_NON_OPTIMIZED && this.tpgs === 2)) {
        throw invalidFieldInParameterList(off);
      }
    }
    // Standby (or Active/Non-Optimized) for groups that stay non-owners: that is what they are.
    const current = this.#owner;
    if (target === undefined) {
      for (const r of requests) if (current !== null && r.tpg === current.tpgId) throw invalidFieldInParameterList(4);
      return;
    }
    if (current !== null && current.gateway === target.name) return;
    if (this.#moving) throw busy('SET TARGET PORT GROUPS: the owner is moving');
    if (!this.#gw.valid()) throw busy('SET TARGET PORT GROUPS: this gateway is not in the cluster now');
    this.#moving = true;
    // SPC-4 §5.15.2.3: an explicit transition is reported to every I_T nexus but the one that asked.
    this.#mover = nexus.id;
    this.#changed();
    try {
      const ownerKey = `${this.#key}owner`;
      const guard = current === null ? { key: ownerKey, createRevision: 0 } : { key: ownerKey, modRevision: current.revision };
      const r = await this.#gw.etcd.txn(
        [guard, { key: this.#gw.key(`gateways/${target.name}`), lease: target.lease }],
        [{ put: ownerKey, value: encodeValue({ v: 1, gateway: target.name, tpgId: target.tpg }), lease: target.lease }],
        'moving the LUN owner',
      );
      if (!r.ok) throw busy('SET TARGET PORT GROUPS: the owner changed meanwhile');
      this.#statusCode = 1;
      await this.#until(() => this.#ownerEventRev >= r.revision, this.#gw.config.ackTimeoutMs);
    } catch (e) {
      if (e instanceof ScsiError) throw e;
      throw busy(`SET TARGET PORT GROUPS: ${(e as Error).message}`);
    } finally {
      this.#moving = false;
      this.#changed();
      this.#mover = undefined;
    }
  }

  // ------------------------------------------------------------------------------------------
  // SharedLuState

  async commit(change: SharedChange): Promise<void> {
    const etcd = this.#gw.etcd;
    const stateKey = `${this.#key}state`;
    for (let attempt = 0; attempt < 16; attempt++) {
      if (!this.#gw.valid()) throw busy('the shared state cannot change: this gateway is not in the cluster now');
      const cur = this.#state;
      const seen = this.#stateKeyRev;
      const v = cur.value;
      // A scratch copy: the change may run again on a newer state.
      const scratch: LuSharedState = {
        pr: restorePr(v),
        spc2Holder: v.spc2,
        mode: v.mode === null ? null : { ...v.mode },
        medium: { present: v.medium.present, prevent: [...v.medium.prevent] },
      };
      const fx = change(scratch);
      const next: LuStateValue = {
        v: 1,
        pr: scratch.pr.snapshot(),
        aptpl: scratch.pr.aptpl,
        spc2: scratch.spc2Holder,
        mode: scratch.mode,
        medium: scratch.medium,
        change: { by: this.#gw.name, ua: fx.ua, abort: fx.abort, all: fx.all ?? [], reset: fx.reset ?? null },
      };
      const effects = fx.ua.length !== 0 || fx.abort.length !== 0 || (fx.all?.length ?? 0) !== 0 || fx.reset !== undefined;
      if (!effects && sameState(next, v) && seen === cur.revision) return;
      if (seen !== cur.revision) this.#gw.log.warn({ lunId: this.lunId, revision: seen }, 'replacing a shared LU state this gateway could not verify with its own');
      let r: { ok: boolean; revision: number };
      try {
        r = await etcd.txn(
          // The state as this gateway last saw it, and this gateway still a member under its lease (fencing).
          [{ key: stateKey, modRevision: this.#stateKeyRev }, { key: this.#gw.memberKey, lease: this.#gw.lease }],
          [{ put: stateKey, value: encodeValue(next) }],
          'changing the shared LU state',
        );
      } catch (e) {
        throw busy(`the shared state cannot change: ${(e as Error).message}`);
      }
      if (r.ok) {
        await this.#waitAcks(r.revision);
        return;
      }
      // Someone else changed it first: wait for the watch to bring that state, then try again on it.
      await this.#until(() => this.#stateKeyRev !== seen, this.#gw.config.ackTimeoutMs);
    }
    throw busy('the shared state keeps changing under this command');
  }

  /** Waits until this gateway and every live member applied state revision `rev`, bounded; BUSY past it. */
  async #waitAcks(rev: number): Promise<void> {
    if (this.#ackedEverywhere(rev)) return;
    const done = new Promise<void>((resolve) => this.#waiters.push({ revision: rev, resolve }));
    const ms = this.#gw.config.ackTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), ms);
      timer.unref();
    });
    const r = await Promise.race([done, late]);
    clearTimeout(timer);
    if (r === 'late') {
      const laggards = [...this.#gw.members().keys()].filter((m) => (m === this.#gw.name ? this.#applied : (this.#acks.get(m) ?? 0)) < rev);
      this.#gw.log.error({ lunId: this.lunId, revision: rev, laggards }, 'a shared state change was not applied by every gateway in time');
      throw busy(`shared state change at revision ${rev} not yet applied by ${laggards.join(', ')}`);
    }
  }

  #ackedEverywhere(rev: number): boolean {
    if (this.#applied < rev) return false;
    for (const m of this.#gw.members().keys()) if (m !== this.#gw.name && (this.#acks.get(m) ?? 0) < rev) return false;
    return true;
  }

  #wake(): void {
    if (this.#waiters.length === 0) return;
    const still: AckWaiter[] = [];
    for (const w of this.#waiters) {
      if (this.#ackedEverywhere(w.revision)) w.resolve();
      else still.push(w);
    }
    this.#waiters = still;
  }

  /** Resolves when `cond` holds (checked on every event of this LUN), or after `ms`. */
  #until(cond: () => boolean, ms: number): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.#conds = this.#conds.filter((c) => c !== entry);
        resolve();
      }, ms);
      t.unref();
      const entry = {
        cond,
        done: () => {
          clearTimeout(t);
          resolve();
        },
      };
      this.#conds.push(entry);
    });
  }

  #checkConds(): void {
    if (this.#conds.length === 0) return;
    const still = [];
    for (const c of this.#conds) {
      if (c.cond()) c.done();
      else still.push(c);
    }
    this.#conds = still;
  }

  // ------------------------------------------------------------------------------------------
  // Events from the gateway's watch

  /** A watched change of one of this LUN's keys (`parts`: the key below `luns/<lunId>/`). */
  onEvent(parts: readonly string[], ev: WatchEvent, initial: boolean): void {
    const kind = parts[0];
    const kv = ev.kv;
    if (kind === 'owner' && parts.length === 1) this.#onOwner(ev);
    else if (kind === 'state' && parts.length === 1) this.#onState(ev, initial);
    else if (kind === 'acks' && parts.length === 2) this.#onAck(parts[1]!, ev);
    else if (ev.type === 'put') this.#gw.decode(kv, () => 'not a key of the cluster layout');
    this.#checkConds();
  }

  #onOwner(ev: WatchEvent): void {
    if (ev.kv.modRevision <= this.#ownerEventRev) return;
    this.#ownerEventRev = ev.kv.modRevision;
    const before = this.#owner?.gateway ?? null;
    if (ev.type === 'delete') {
      this.#owner = null;
    } else {
      const v = this.#gw.decode(ev.kv, ownerValue);
      // An owner that cannot be verified is no owner: race for the key once it goes.
      this.#owner = v === undefined ? null : { gateway: v.gateway, tpgId: v.tpgId, revision: ev.kv.modRevision };
    }
    const after = this.#owner?.gateway ?? null;
    if (before !== after) {
      if (!this.#moving) this.#statusCode = 2;
      this.#gw.log.info({ lunId: this.lunId, owner: after, previous: before, token: this.ownerRevision }, after === null ? 'LUN has no owner' : 'LUN owner');
    }
    this.#changed();
    if (this.#owner === null) this.#race();
  }

  #onState(ev: WatchEvent, initial: boolean): void {
    const rev = ev.kv.modRevision;
    if (rev <= this.#stateKeyRev) return;
    this.#stateKeyRev = rev;
    let value: LuStateValue;
    if (ev.type === 'delete') {
      value = EMPTY;
    } else {
      const v = this.#gw.decode(ev.kv, luStateValue);
      if (v === undefined) return;
      value = v;
    }
    this.#state = { value, revision: rev };
    const fx = initial || value.change === null ? null : this.#localEffects(value);
    this.#apply(rev, async () => {
      try {
        await this.#hooks?.applySharedState(snapshotOf(value), fx);
      } catch (e) {
        this.#gw.log.error({ lunId: this.lunId, revision: rev, err: (e as Error).message }, 'could not apply the shared LU state');
      }
    });
  }

  /**
   * Applies one watched change in order, then records and acknowledges its revision: `acks/<gateway>`
   * says "every change of this LUN up to this revision is in force here".
   */
  #apply(rev: number, work: () => Promise<void> | void): void {
    this.#applyChain = this.#applyChain.then(async () => {
      await work();
      this.#applied = Math.max(this.#applied, rev);
      this.#wake();
      this.#checkConds();
      if (this.#gw.lease !== '0' && !this.#closed) {
        await this.#gw.etcd.put(`${this.#key}acks/${this.#gw.name}`, encodeValue({ v: 1, rev }), this.#gw.lease).catch((e: unknown) => {
          this.#gw.log.warn({ lunId: this.lunId, revision: rev, err: (e as Error).message }, 'could not acknowledge a change');
        });
      }
    });
  }

  #localEffects(v: LuStateValue): SharedEffects {
    const c = v.change!;
    return {
      ua: c.ua.filter(([id]) => this.#gw.isLocalNexus(id)),
      abort: c.abort.filter((id) => this.#gw.isLocalNexus(id)),
      all: c.all,
      // The gateway that made a reset applied it to its own nexuses when it happened.
      reset: c.reset === null || c.by === this.#gw.name ? undefined : c.reset,
    };
  }

  #onAck(gateway: string, ev: WatchEvent): void {
    if (ev.type === 'delete') {
      this.#acks.delete(gateway);
    } else {
      const v = this.#gw.decode(ev.kv, ackValue);
      if (v !== undefined) this.#acks.set(gateway, Math.max(this.#acks.get(gateway) ?? 0, v.rev));
    }
    this.#wake();
  }

  /** Members joined or left: the report changed, and a gateway that left may be waited for no more. */
  membersChanged(): void {
    this.#changed();
    this.#wake();
    this.#releaseLostPorts(false);
  }

  /**
   * SAM-5 I_T nexus loss for every nexus through a port that is gone: a gateway that left the cluster
   * (stopped, died, its lease expired) took its I_T nexuses with it, so their SPC-2 reservation and
   * their PREVENT end (persistent registrations do not: SPC-4 §5.13.1). `own`: this gateway's own
   * port too (it is starting to serve the LUN, none of its nexuses can hold anything yet). Any
   * gateway may do it; the compare-and-swap makes the first one the only one that writes.
   */
  #releaseLostPorts(own: boolean): void {
    if (this.#closed || !this.#gw.valid() || this.#gw.lease === '0') return;
    const live = new Set<number>();
    for (const m of this.#gw.members().values()) live.add(m.tpgId);
    const mine = this.#gw.tpgId;
    const lost = (id: string): boolean => {
      const tpg = portOfNexus(id);
      if (tpg === undefined) return false;
      return tpg === mine ? own : !live.has(tpg);
    };
    const v = this.#state.value;
    if (!(v.spc2 !== null && lost(v.spc2)) && !v.medium.prevent.some(lost)) return;
    this.commit((st) => {
      if (st.spc2Holder !== null && lost(st.spc2Holder)) st.spc2Holder = null;
      const keep = st.medium.prevent.filter((id) => !lost(id));
      st.medium.prevent.splice(0, st.medium.prevent.length, ...keep);
      return { ua: [], abort: [], changed: false };
    }).then(
      () => this.#gw.log.info({ lunId: this.lunId }, 'released the SPC-2 reservation and PREVENT of I_T nexuses through ports that are gone'),
      (e: unknown) => this.#gw.log.warn({ lunId: this.lunId, err: (e as Error).message }, 'could not release what I_T nexuses through ports that are gone held'),
    );
  }

  /** The fencing clock flipped: this gateway's own state changed. */
  statesMayHaveChanged(): void {
    this.#changed();
    if (this.#owner === null) this.#race();
  }

  /** The gateway rejoined under a new lease: race for the LUN if nobody has it. */
  rejoined(): void {
    this.#race();
  }

  /** Raises ASYMMETRIC ACCESS STATE CHANGED (SPC-4 §5.15.2.3) on every nexus here when the report changed. */
  #changed(): void {
    const report = this.#report();
    if (report === this.#lastReport) return;
    this.#lastReport = report;
    this.#hooks?.establishUnitAttention(ASC.ASYMMETRIC_ACCESS_STATE_CHANGED, this.#mover);
  }

  #report(): string {
    return this.groups()
      .map((g) => `${g.tpg}:${g.state}`)
      .join(',');
  }

  /** Creates the owner key if nobody has it (create-only, bound to this gateway's lease, while it is a member). */
  #race(): void {
    if (this.#closed || this.#racing || this.#owner !== null || !this.#gw.valid() || this.#gw.lease === '0') return;
    this.#racing = true;
    const ownerKey = `${this.#key}owner`;
    void this.#gw.etcd
      .txn(
        [{ key: ownerKey, createRevision: 0 }, { key: this.#gw.memberKey, lease: this.#gw.lease }],
        [{ put: ownerKey, value: encodeValue({ v: 1, gateway: this.#gw.name, tpgId: this.#gw.tpgId }), lease: this.#gw.lease }],
        'taking the LUN owner key',
      )
      .catch((e: unknown) => this.#gw.log.warn({ lunId: this.lunId, err: (e as Error).message }, 'could not race for the LUN owner key'))
      .finally(() => {
        this.#racing = false;
      });
  }

  /** Releases ownership (a clean stop or the LUN removed). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const o = this.#owner;
    if (o !== null && o.gateway === this.#gw.name) {
      const ownerKey = `${this.#key}owner`;
      await this.#gw.etcd.txn([{ key: ownerKey, modRevision: o.revision }], [{ delete: ownerKey }], 'releasing the LUN owner key').catch(() => {});
    }
    for (const w of this.#waiters) w.resolve();
    this.#waiters = [];
  }
}

/** The target port group (TPGT) of an I_T nexus id (`initiator port|IQN,t,0xTPGT`), or undefined. */
function portOfNexus(id: string): number | undefined {
  const m = /,t,0x([0-9a-f]{1,4})$/i.exec(id);
  return m === null ? undefined : parseInt(m[1]!, 16);
}

function restorePr(v: LuStateValue): PersistentReservations {
  const pr = new PersistentReservations();
  pr.restore(v.pr);
  pr.aptpl = v.aptpl;
  return pr;
}

function sameState(a: LuStateValue, b: LuStateValue): boolean {
  return (
    a.aptpl === b.aptpl &&
    a.spc2 === b.spc2 &&
    JSON.stringify(a.pr) === JSON.stringify(b.pr) &&
    JSON.stringify(a.mode) === JSON.stringify(b.mode) &&
    JSON.stringify(a.medium) === JSON.stringify(b.medium)
  );
}

function snapshotOf(v: LuStateValue): SharedSnapshot {
  return { pr: v.pr, aptpl: v.aptpl, spc2Holder: v.spc2, mode: v.mode, medium: v.medium };
}
