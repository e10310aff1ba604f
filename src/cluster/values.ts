// The keys and values a cluster keeps in etcd, and the validation of every value read back: JSON with
// a `v` schema version, each field checked for type and range. A value that fails is refused with one
// log line (per key and revision) and ignored: the gateway keeps serving what it can verify.
// No value ever carries a secret: gateways publish their portals and ids, LUNs their reservations.

import type { ModeState } from '../scsi/handler.js';
import type { PrSnapshot, Reservation } from '../scsi/persistent-reservations.js';
import type { SharedMedium } from '../scsi/shared-state.js';

/** Schema version of every value. */
export const VALUE_VERSION = 1;

/** `gateways/<name>`, bound to the gateway's lease: a live member. */
export interface MemberValue {
  v: 1;
  tpgId: number;
  portals: string[];
}

/** `tpgs/<tpgId>` (kept): which gateway a target port group number belongs to. */
export interface TpgValue {
  v: 1;
  gateway: string;
}

/** `luns/<lunId>/owner`, bound to the owner's lease. */
export interface OwnerValue {
  v: 1;
  gateway: string;
  tpgId: number;
}

/** The effects of the change that produced a state, for the nexuses it names. */
export interface ChangeValue {
  by: string;
  ua: [string, number][];
  abort: string[];
  /** `[code, except]`: a unit attention for every nexus of every gateway but `except` (MODE PARAMETERS CHANGED). */
  all: [number, string | null][];
  /** A reset made at gateway `by` (its unit attention, 29h/xxh), which the others apply to their nexuses; null: none. */
  reset: number | null;
}

/**
 * `luns/<lunId>/state`: the LU's shared state: the reservations, the mode parameters MODE SELECT set
 * (null: the defaults), the removable medium and who prevents its removal.
 */
export interface LuStateValue {
  v: 1;
  pr: PrSnapshot;
  aptpl: boolean;
  spc2: string | null;
  mode: ModeState | null;
  medium: SharedMedium;
  change: ChangeValue | null;
}

/** `luns/<lunId>/acks/<gateway>`, bound to that gateway's lease: the state revision it has applied. */
export interface AckValue {
  v: 1;
  rev: number;
}

/** Limits on what a value may hold, so a hostile or broken writer cannot make a gateway allocate without bound. */
const MAX_NAME = 600;
const MAX_LIST = 4096;
const GATEWAY_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

type Obj = Record<string, unknown>;

function obj(x: unknown): Obj | undefined {
  return typeof x === 'object' && x !== null && !Array.isArray(x) ? (x as Obj) : undefined;
}

function isInt(x: unknown, min: number, max: number): x is number {
  return typeof x === 'number' && Number.isInteger(x) && x >= min && x <= max;
}

function isName(x: unknown): x is string {
  return typeof x === 'string' && x.length > 0 && x.length <= MAX_NAME;
}

function isGateway(x: unknown): x is string {
  return typeof x === 'string' && GATEWAY_NAME.test(x);
}

/** A validator: the value, or a reason it is refused. */
export type Validator<T> = (x: unknown) => T | string;

function versioned(x: unknown): Obj | string {
  const o = obj(x);
  if (o === undefined) return 'not a JSON object';
  if (o.v !== VALUE_VERSION) return `schema version ${JSON.stringify(o.v)} is not ${VALUE_VERSION}`;
  return o;
}

export const memberValue: Validator<MemberValue> = (x) => {
  const o = versioned(x);
  if (typeof o === 'string') return o;
  if (!isInt(o.tpgId, 1, 0xffff)) return 'tpgId is not in 1..65535';
  if (!Array.isArray(o.portals) || o.portals.length > 64 || !o.portals.every((p) => typeof p === 'string' && p.length <= 300)) return 'portals is not a list of addresses';
  return { v: 1, tpgId: o.tpgId, portals: o.portals as string[] };
};

export const tpgValue: Validator<TpgValue> = (x) => {
  const o = versioned(x);
  if (typeof o === 'string') return o;
  if (!isGateway(o.gateway)) return 'gateway is not a gateway name';
  return { v: 1, gateway: o.gateway };
};

export const ownerValue: Validator<OwnerValue> = (x) => {
  const o = versioned(x);
  if (typeof o === 'string') return o;
  if (!isGateway(o.gateway)) return 'gateway is not a gateway name';
  if (!isInt(o.tpgId, 1, 0xffff)) return 'tpgId is not in 1..65535';
  return { v: 1, gateway: o.gateway, tpgId: o.tpgId };
};

export const ackValue: Validator<AckValue> = (x) => {
  const o = versioned(x);
  if (typeof o === 'string') return o;
  if (!isInt(o.rev, 1, Number.MAX_SAFE_INTEGER)) return 'rev is not a revision';
  return { v: 1, rev: o.rev };
};

/** The persistent reservation types of SPC-4 §6.16.2 (1, 3, 5, 6, 7, 8). */
const PR_TYPES: ReadonlySet<number> = new Set([1, 3, 5, 6, 7, 8]);
/** The unit attentions a reservation change may establish on other nexuses (SPC-4 §5.13). */
const PR_UAS: ReadonlySet<number> = new Set([0x2a03, 0x2a04, 0x2a05]);
/** The unit attentions a change may establish on every nexus but one: MODE PARAMETERS CHANGED (SPC-4 §6.9). */
const ALL_UAS: ReadonlySet<number> = new Set([0x2a01]);

function prSnapshot(x: unknown): PrSnapshot | string {
  const o = obj(x);
  if (o === undefined || o.version !== 1) return 'pr is not a version 1 snapshot';
  if (!isInt(o.generation, 0, 0xffffffff)) return 'pr.generation is not a 32-bit count';
  if (!Array.isArray(o.registrations) || o.registrations.length > MAX_LIST) return 'pr.registrations is not a bounded list';
  const regs: PrSnapshot['registrations'] = [];
  for (const r of o.registrations) {
    const ro = obj(r);
    if (ro === undefined || !isName(ro.nexus) || typeof ro.key !== 'string' || !/^[0-9a-f]{1,16}$/i.test(ro.key)) return 'pr.registrations has a malformed entry';
    if (!isName(ro.initiatorPortName) || !isInt(ro.relativeTargetPortId, 0, 0xffff)) return 'pr.registrations has a malformed port';
    regs.push({ nexus: ro.nexus, key: ro.key, initiatorPortName: ro.initiatorPortName, relativeTargetPortId: ro.relativeTargetPortId });
  }
  let reservation: Reservation | null = null;
  if (o.reservation !== null) {
    const res = obj(o.reservation);
    if (res === undefined || !isName(res.holder) || !isInt(res.type, 0, 15) || !PR_TYPES.has(res.type)) return 'pr.reservation is malformed';
    reservation = { holder: res.holder, type: res.type };
  }
  return { version: 1, generation: o.generation, registrations: regs, reservation };
}

function modeState(x: unknown): ModeState | null | string {
  // Absent: written before mode parameters were shared; the defaults.
  if (x === undefined || x === null) return null;
  const m = obj(x);
  if (m === undefined || typeof m.wce !== 'boolean' || typeof m.dSense !== 'boolean' || typeof m.swp !== 'boolean') return 'mode is not {wce,dSense,swp} booleans';
  return { wce: m.wce, dSense: m.dSense, swp: m.swp };
}

function sharedMedium(x: unknown): SharedMedium | string {
  // Absent: written before the medium was shared; loaded, nothing prevented.
  if (x === undefined) return { present: true, prevent: [] };
  const m = obj(x);
  if (m === undefined || typeof m.present !== 'boolean') return 'medium.present is not a boolean';
  if (!Array.isArray(m.prevent) || m.prevent.length > MAX_LIST || !m.prevent.every(isName)) return 'medium.prevent is not a bounded list of nexuses';
  return { present: m.present, prevent: [...new Set(m.prevent as string[])] };
}

function changeValue(x: unknown): ChangeValue | null | string {
  if (x === null) return null;
  const c = obj(x);
  if (c === undefined || !isGateway(c.by) || !Array.isArray(c.ua) || !Array.isArray(c.abort)) return 'change is malformed';
  const all = c.all ?? [];
  if (!Array.isArray(all)) return 'change.all is not a list';
  if (c.ua.length > MAX_LIST || c.abort.length > MAX_LIST || all.length > 16) return 'change lists too many nexuses';
  const ua: [string, number][] = [];
  for (const u of c.ua) {
    if (!Array.isArray(u) || u.length !== 2 || !isName(u[0]) || !PR_UAS.has(u[1] as number)) return 'change.ua has a malformed entry';
    ua.push([u[0], u[1] as number]);
  }
  if (!c.abort.every(isName)) return 'change.abort has a malformed entry';
  const allOut: [number, string | null][] = [];
  for (const u of all) {
    if (!Array.isArray(u) || u.length !== 2 || !ALL_UAS.has(u[0] as number) || (u[1] !== null && !isName(u[1]))) return 'change.all has a malformed entry';
    allOut.push([u[0] as number, u[1] as string | null]);
  }
  const reset = c.reset ?? null;
  // A reset's unit attention is of the 29h family (SAM-5, resets).
  if (reset !== null && !isInt(reset, 0x2900, 0x29ff)) return 'change.reset is not a reset unit attention (29h/xx)';
  return { by: c.by, ua, abort: c.abort as string[], all: allOut, reset };
}

export const luStateValue: Validator<LuStateValue> = (x) => {
  const o = versioned(x);
  if (typeof o === 'string') return o;
  const pr = prSnapshot(o.pr);
  if (typeof pr === 'string') return pr;
  if (typeof o.aptpl !== 'boolean') return 'aptpl is not a boolean';
  if (o.spc2 !== null && !isName(o.spc2)) return 'spc2 is not a nexus or null';
  const mode = modeState(o.mode);
  if (typeof mode === 'string') return mode;
  const medium = sharedMedium(o.medium);
  if (typeof medium === 'string') return medium;
  const change = changeValue(o.change);
  if (typeof change === 'string') return change;
  return { v: 1, pr, aptpl: o.aptpl, spc2: o.spc2 as string | null, mode, medium, change };
};

/** Parses a value's bytes as JSON then validates it; a reason string when it is refused. */
export function decodeValue<T>(raw: Buffer, validate: Validator<T>): T | string {
  if (raw.length > 4 * 1024 * 1024) return 'larger than 4 MiB';
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch {
    return 'not JSON';
  }
  return validate(json);
}

/** Encodes a value for etcd. */
export function encodeValue(v: MemberValue | TpgValue | OwnerValue | LuStateValue | AckValue): string {
  return JSON.stringify(v);
}
