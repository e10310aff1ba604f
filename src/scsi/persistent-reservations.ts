// Persistent reservations of one logical unit (SPC-4 §5.13): registrations per I_T nexus, the
// reservation, the PRgeneration counter and APTPL. A plain class without I/O: each PERSISTENT RESERVE
// OUT service action is a method that changes the state and returns its side effects (the unit
// attentions to establish, the I_T nexuses whose tasks to abort, whether to persist), which the
// logical unit applies. Failures are thrown as the status and sense they end in.

import { ScsiError } from '../errors.js';
import { ASC, PR_TYPE, STATUS, statusName } from './constants.js';
import { illegalRequest, invalidFieldInCdb, invalidFieldInParameterList } from './sense.js';
import type { ItNexus } from './types.js';

/**
 * How a command fares from an I_T nexus that does not hold the persistent reservation (SPC-4 §5.13.1,
 * "SPC commands that are allowed in the presence of various reservations"; SBC-3 §4.17, its SBC
 * counterpart); each command descriptor carries its class:
 * - 'allowed': always (INQUIRY, REPORT LUNS, REQUEST SENSE, READ CAPACITY, PERSISTENT RESERVE IN, ...);
 * - 'read': reads the medium: allowed through Write Exclusive types, refused by Exclusive Access
 *   types unless the nexus is registered under a registrants-only or all-registrants type;
 * - 'info': reads information other than the medium (MODE SENSE, REPORT SUPPORTED OPERATION CODES,
 *   ...): allowed through Write Exclusive types and from every registered nexus (ALLOW COMMANDS 011b);
 * - 'write': everything else: only registrants under registrants-only and all-registrants types.
 */
export type PrAccess = 'allowed' | 'read' | 'info' | 'write';

/** One registered I_T nexus (SPC-4 §5.13.7). */
export interface Registration {
  /** The reservation key, 64 bits. */
  key: bigint;
  /** SCSI initiator port name (`iqn...,i,0x<isid>`) for the iSCSI TransportID of READ FULL STATUS. */
  readonly initiatorPortName: string;
  /** Relative target port identifier of the nexus (READ FULL STATUS). */
  readonly relativeTargetPortId: number;
}

/** The persistent reservation, if any (SPC-4 §5.13.9). Its scope is always LU_SCOPE. */
export interface Reservation {
  /**
   * The I_T nexus that holds it. For the all-registrants types every registrant is a holder; this
   * is then the nexus that reserved, kept only to answer READ FULL STATUS.
   */
  holder: string;
  type: number;
}

/** What a service action asks the logical unit to do besides changing this state. */
export interface PrEffects {
  /** Unit attentions to establish, `[nexusId, asc << 8 | ascq]`. */
  ua: [string, number][];
  /** PREEMPT AND ABORT: I_T nexuses whose tasks on this LU are to be aborted. */
  abort: string[];
  /** The state changed in a way APTPL persists. */
  changed: boolean;
  /** The SPC-2 reservation changed (RESERVE, RELEASE): shared device servers must hear of it. */
  spc2?: boolean;
}

/** The reservations of a logical unit as a change sees them: persistent ones and the SPC-2 holder. */
export interface ReservationState {
  /** Persistent reservations (SPC-4 §5.13). */
  readonly pr: PersistentReservations;
  /** The I_T nexus (id) holding the SPC-2 reservation (RESERVE(6)/(10)), or null. */
  spc2Holder: string | null;
}

/**
 * One change of the reservations: mutates `state` and returns its effects (unit attentions to
 * establish, nexuses whose tasks to abort); throws the status and sense the command ends in. It may
 * run more than once (a compare-and-swap of a shared state retried on a newer one), so it must not
 * touch anything else.
 */
export type ReservationChange = (state: ReservationState) => PrEffects;

/** The parameter list of every PERSISTENT RESERVE OUT service action but REGISTER AND MOVE (SPC-4 §6.16.3). */
export interface ProutParameters {
  key: bigint;
  saKey: bigint;
  specIPt: boolean;
  allTgPt: boolean;
  aptpl: boolean;
}

/** The state as the APTPL sidecar stores it (`PATH.pr.json`). */
export interface PrSnapshot {
  version: 1;
  generation: number;
  registrations: { nexus: string; key: string; initiatorPortName: string; relativeTargetPortId: number }[];
  reservation: Reservation | null;
}

const VALID_TYPES: ReadonlySet<number> = new Set(Object.values(PR_TYPE));

/** Registrants only or all registrants (SPC-4 §5.13.1): registrants get full access. */
export function isRegistrantsType(type: number): boolean {
  return type >= PR_TYPE.WRITE_EXCLUSIVE_REGISTRANTS_ONLY;
}

/** Every registrant holds the reservation (SPC-4 §5.13.9). */
export function isAllRegistrantsType(type: number): boolean {
  return type === PR_TYPE.WRITE_EXCLUSIVE_ALL_REGISTRANTS || type === PR_TYPE.EXCLUSIVE_ACCESS_ALL_REGISTRANTS;
}

/** Write Exclusive family: others may read. */
function isWriteExclusive(type: number): boolean {
  return type === PR_TYPE.WRITE_EXCLUSIVE || type === PR_TYPE.WRITE_EXCLUSIVE_REGISTRANTS_ONLY || type === PR_TYPE.WRITE_EXCLUSIVE_ALL_REGISTRANTS;
}

/** RESERVATION CONFLICT status, with the rule that refused the command as the message. */
export function reservationConflict(why: string): ScsiError {
  return new ScsiError({ status: STATUS.RESERVATION_CONFLICT, statusName: statusName(STATUS.RESERVATION_CONFLICT) }, why);
}

function noEffects(): PrEffects {
  return { ua: [], abort: [], changed: false };
}

/** Parses the 24-byte basic parameter list (SPC-4 §6.16.3). */
export function parseProutParameters(p: Buffer): ProutParameters {
  const b20 = p[20]!;
  return {
    key: p.readBigUInt64BE(0),
    saKey: p.readBigUInt64BE(8),
    specIPt: (b20 & 0x08) !== 0,
    allTgPt: (b20 & 0x04) !== 0,
    aptpl: (b20 & 0x01) !== 0,
  };
}

/** The persistent reservation state of one logical unit. */
export class PersistentReservations {
  /** PRgeneration (SPC-4 §6.15.2): a 32-bit wrapping count of REGISTER, CLEAR and PREEMPT actions. */
  generation = 0;
  /** Registered I_T nexuses, by nexus id, in registration order. */
  readonly registrations = new Map<string, Registration>();
  /** The persistent reservation, null when there is none. */
  reservation: Reservation | null = null;
  /** APTPL of the last REGISTER (SPC-4 §5.13.5): the state survives a power loss. */
  aptpl = false;

  /** Whether `nexusId` holds the reservation (every registrant does under all-registrants types). */
  isHolder(nexusId: string): boolean {
    const r = this.reservation;
    if (r === null) return false;
    return isAllRegistrantsType(r.type) ? this.registrations.has(nexusId) : r.holder === nexusId;
  }

  /**
   * Whether a command of class `access` from `nexusId` may run (SPC-4 §5.13.1 and SBC-3 §4.17):
   * true without a reservation or for a holder, else by the reservation type and registration.
   */
  allows(nexusId: string, access: PrAccess): boolean {
    const r = this.reservation;
    if (r === null || access === 'allowed' || this.isHolder(nexusId)) return true;
    const registered = this.registrations.has(nexusId);
    if (registered && isRegistrantsType(r.type)) return true;
    switch (access) {
      case 'read':
        return isWriteExclusive(r.type);
      case 'info':
        return registered || isWriteExclusive(r.type);
      case 'write':
        return false;
    }
  }

  /** Whether any registration or the reservation exists (SPC-2 RESERVE then conflicts, SPC-4 §5.13.3). */
  get active(): boolean {
    return this.registrations.size !== 0 || this.reservation !== null;
  }

  #bump(): void {
    this.generation = (this.generation + 1) >>> 0;
  }

  #registeredKey(nexusId: string, key: bigint, what: string): Registration {
    const reg = this.registrations.get(nexusId);
    if (reg === undefined) throw reservationConflict(`${what} from an I_T nexus that is not registered (SPC-4 §5.13.1)`);
    if (reg.key !== key) throw reservationConflict(`${what}: RESERVATION KEY does not match the registered key (SPC-4 §6.16.2)`);
    return reg;
  }

  #checkType(type: number): void {
    if (!VALID_TYPES.has(type)) throw invalidFieldInCdb(2, 3);
  }

  /** Drops one registration; its reservation goes with it unless others still hold an all-registrants one. */
  #unregister(nexusId: string, fx: PrEffects): void {
    this.registrations.delete(nexusId);
    const r = this.reservation;
    if (r === null) return;
    if (isAllRegistrantsType(r.type)) {
      // SPC-4 §5.13.9: an all-registrants reservation lasts while any registrant remains.
      if (this.registrations.size === 0) this.reservation = null;
      else if (r.holder === nexusId) r.holder = this.registrations.keys().next().value as string;
      return;
    }
    if (r.holder !== nexusId) return;
    this.reservation = null;
    // SPC-4 §5.13.11.2: the holder of a registrants-only reservation unregistering releases it,
    // and every other registrant learns of it.
    if (isRegistrantsType(r.type)) for (const id of this.registrations.keys()) fx.ua.push([id, ASC.RESERVATIONS_RELEASED]);
  }

  /**
   * REGISTER (`ignoreKey` false) and REGISTER AND IGNORE EXISTING KEY (true), SPC-4 §5.13.7:
   * register, change the key, or unregister (SERVICE ACTION RESERVATION KEY zero).
   */
  register(nexus: ItNexus, p: ProutParameters, ignoreKey: boolean): PrEffects {
    const fx = noEffects();
    const reg = this.registrations.get(nexus.id);
    if (reg === undefined) {
      // Not registered: a non-zero RESERVATION KEY is a conflict (REGISTER only); zero SA key does nothing.
      if (!ignoreKey && p.key !== 0n) throw reservationConflict('REGISTER with a RESERVATION KEY from an unregistered I_T nexus (SPC-4 §5.13.7)');
      if (p.saKey === 0n) return fx;
      this.registrations.set(nexus.id, {
        key: p.saKey,
        initiatorPortName: nexus.initiatorPortName,
        relativeTargetPortId: nexus.relativeTargetPortId,
      });
    } else {
      if (!ignoreKey && p.key !== reg.key) throw reservationConflict('REGISTER: RESERVATION KEY does not match the registered key (SPC-4 §5.13.7)');
      if (p.saKey === 0n) this.#unregister(nexus.id, fx);
      else reg.key = p.saKey;
    }
    this.aptpl = p.aptpl;
    this.#bump();
    fx.changed = true;
    return fx;
  }

  /** RESERVE (SPC-4 §5.13.9). */
  reserve(nexusId: string, p: ProutParameters, scope: number, type: number): PrEffects {
    this.#registeredKey(nexusId, p.key, 'RESERVE');
    if (scope !== 0) throw invalidFieldInCdb(2, 7);
    this.#checkType(type);
    const r = this.reservation;
    if (r !== null) {
      // Re-reserving what one holds with the same type is a no-op; anything else conflicts.
      if (this.isHolder(nexusId) && r.type === type) return noEffects();
      throw reservationConflict('RESERVE while another reservation exists (SPC-4 §5.13.9)');
    }
    this.reservation = { holder: nexusId, type };
    return { ua: [], abort: [], changed: true };
  }

  /** RELEASE (SPC-4 §5.13.11.2). */
  release(nexusId: string, p: ProutParameters, scope: number, type: number): PrEffects {
    this.#registeredKey(nexusId, p.key, 'RELEASE');
    const fx = noEffects();
    const r = this.reservation;
    // No reservation, or one held by someone else: nothing to release, GOOD.
    if (r === null || !this.isHolder(nexusId)) return fx;
    if (scope !== 0 || type !== r.type) throw illegalRequest(ASC.INVALID_RELEASE_OF_PERSISTENT_RESERVATION);
    this.reservation = null;
    // Releasing a registrants-only or all-registrants reservation tells every other registrant.
    if (isRegistrantsType(r.type)) {
      for (const id of this.registrations.keys()) if (id !== nexusId) fx.ua.push([id, ASC.RESERVATIONS_RELEASED]);
    }
    fx.changed = true;
    return fx;
  }

  /** CLEAR (SPC-4 §5.13.11.2.6): every registration and the reservation go. */
  clear(nexusId: string, p: ProutParameters): PrEffects {
    this.#registeredKey(nexusId, p.key, 'CLEAR');
    const fx = noEffects();
    for (const id of this.registrations.keys()) if (id !== nexusId) fx.ua.push([id, ASC.RESERVATIONS_PREEMPTED]);
    this.registrations.clear();
    this.reservation = null;
    this.#bump();
    fx.changed = true;
    return fx;
  }

  /** PREEMPT and PREEMPT AND ABORT (SPC-4 §5.13.11.2.4, §5.13.11.2.5). */
  preempt(nexusId: string, p: ProutParameters, scope: number, type: number, abort: boolean): PrEffects {
    this.#registeredKey(nexusId, p.key, abort ? 'PREEMPT AND ABORT' : 'PREEMPT');
    const fx = noEffects();
    const r = this.reservation;
    const removeKey = (key: bigint): string[] => {
      const gone: string[] = [];
      for (const [id, reg] of this.registrations) if (reg.key === key && id !== nexusId) gone.push(id);
      return gone;
    };
    let removed: string[];
    if (r !== null && isAllRegistrantsType(r.type) && p.saKey === 0n) {
      // Preempting an all-registrants reservation: every other registration goes and the
      // preempting nexus holds a new reservation of the CDB's type.
      if (scope !== 0) throw invalidFieldInCdb(2, 7);
      this.#checkType(type);
      removed = [...this.registrations.keys()].filter((id) => id !== nexusId);
      this.reservation = { holder: nexusId, type };
    } else if (r !== null && !isAllRegistrantsType(r.type) && this.registrations.get(r.holder)?.key === p.saKey) {
      // Preempting the holder: its registrations (all with that key) go, the reservation moves.
      if (scope !== 0) throw invalidFieldInCdb(2, 7);
      this.#checkType(type);
      removed = removeKey(p.saKey);
      const changedType = r.type !== type;
      this.reservation = { holder: nexusId, type };
      if (changedType) {
        // SPC-4 §5.13.11.2.4: a new type or scope is a release for those who stay registered.
        for (const id of this.registrations.keys()) if (id !== nexusId && !removed.includes(id)) fx.ua.push([id, ASC.RESERVATIONS_RELEASED]);
      }
    } else {
      // No reservation, or the key is not the holder's: only registrations are removed.
      if (p.saKey === 0n) throw invalidFieldInParameterList(8);
      removed = removeKey(p.saKey);
      // Preempting one's own key removes nothing else; a key nobody holds is a conflict.
      if (removed.length === 0 && this.registrations.get(nexusId)?.key !== p.saKey) {
        throw reservationConflict('PREEMPT: no registration has the SERVICE ACTION RESERVATION KEY (SPC-4 §5.13.11.2.4)');
      }
    }
    for (const id of removed) {
      this.registrations.delete(id);
      fx.ua.push([id, ASC.REGISTRATIONS_PREEMPTED]);
    }
    // An all-registrants reservation stays with the registrants left; it names one of them.
    const kept = this.reservation;
    if (kept !== null && isAllRegistrantsType(kept.type) && !this.registrations.has(kept.holder)) kept.holder = nexusId;
    if (abort) fx.abort.push(...removed);
    this.#bump();
    fx.changed = true;
    return fx;
  }

  /** The state to persist with APTPL. */
  snapshot(): PrSnapshot {
    return {
      version: 1,
      generation: this.generation,
      registrations: [...this.registrations].map(([nexus, r]) => ({
        nexus,
        key: r.key.toString(16).padStart(16, '0'),
        initiatorPortName: r.initiatorPortName,
        relativeTargetPortId: r.relativeTargetPortId,
      })),
      reservation: this.reservation === null ? null : { ...this.reservation },
    };
  }

  /** Replaces the state with a saved one (APTPL at start-up); a malformed document throws a TypeError. */
  restore(doc: unknown): void {
    const d = doc as Partial<PrSnapshot> | null;
    if (d === null || typeof d !== 'object' || d.version !== 1 || !Array.isArray(d.registrations)) {
      throw new TypeError('persistent reservation state is not a version 1 document');
    }
    const regs = new Map<string, Registration>();
    for (const r of d.registrations) {
      if (typeof r?.nexus !== 'string' || typeof r.key !== 'string' || !/^[0-9a-f]{1,16}$/i.test(r.key)) {
        throw new TypeError('persistent reservation state has a malformed registration');
      }
      regs.set(r.nexus, {
        key: BigInt(`0x${r.key}`),
        initiatorPortName: String(r.initiatorPortName ?? r.nexus.split('|')[0]),
        relativeTargetPortId: Number(r.relativeTargetPortId ?? 1),
      });
    }
    const res = d.reservation ?? null;
    if (res !== null && (typeof res.holder !== 'string' || !VALID_TYPES.has(res.type))) {
      throw new TypeError('persistent reservation state has a malformed reservation');
    }
    this.registrations.clear();
    for (const [k, v] of regs) this.registrations.set(k, v);
    this.reservation = res === null ? null : { holder: res.holder, type: res.type };
    this.generation = Number(d.generation ?? 0) >>> 0;
    this.aptpl = true;
  }

  /** A deep copy, to undo a change that could not be persisted. */
  clone(): PersistentReservations {
    const c = new PersistentReservations();
    c.generation = this.generation;
    for (const [k, v] of this.registrations) c.registrations.set(k, { ...v });
    c.reservation = this.reservation === null ? null : { ...this.reservation };
    c.aptpl = this.aptpl;
    return c;
  }

  /** Takes over the state of `other` (the undo of a failed persist). */
  assign(other: PersistentReservations): void {
    this.generation = other.generation;
    this.registrations.clear();
    for (const [k, v] of other.registrations) this.registrations.set(k, v);
    this.reservation = other.reservation;
    this.aptpl = other.aptpl;
  }
}
