// The unit attention conditions of one logical unit (SAM-5, unit attention conditions) and the per-I_T
// nexus state they are queued in: a bounded queue per nexus, reported oldest first; REPORTED LUNS DATA
// HAS CHANGED cleared target-wide once reported; resets taking precedence over older conditions; and
// I_T NEXUS LOSS OCCURRED kept for a lost nexus until it comes back.

import { ASC } from './constants.js';
import type { LuHost, NexusState } from './handler.js';
import type { ItNexus } from './types.js';

/** At most this many unit attentions wait per nexus; SAM-5 lets a device server drop more. */
export const UA_QUEUE_MAX = 16;
/** Lost nexuses whose I_T NEXUS LOSS OCCURRED condition is kept for their return. */
const LOST_NEXUS_MAX = 1024;
/** ASC 29h: POWER ON, RESET, OR BUS DEVICE RESET OCCURRED and its qualifiers, the reset family. */
const RESET_ASC = ASC.POWER_ON_RESET_OR_BUS_DEVICE_RESET_OCCURRED >> 8;

/** The I_T nexuses a logical unit has seen, with their pending unit attentions. */
export class UnitAttentions {
  readonly #host: LuHost;
  readonly #nexuses = new Map<string, NexusState>();
  /** Lost nexuses, oldest first, forgotten beyond LOST_NEXUS_MAX. */
  readonly #lost: string[] = [];

  /** `host` gives the live nexuses a broadcast reaches, and hears of nexuses seen and LUNs reported. */
  constructor(host: LuHost) {
    this.#host = host;
  }

  /** The state of the nexus a command arrived on; a new or returning nexus is told to the host. */
  enter(nexus: ItNexus): NexusState {
    let st = this.#nexuses.get(nexus.id);
    if (st === undefined) {
      st = this.state(nexus.id);
      this.#host.noteNexus(nexus);
    } else if (st.lost) {
      st.lost = false;
      const i = this.#lost.indexOf(st.id);
      if (i >= 0) this.#lost.splice(i, 1);
      this.#host.noteNexus(nexus);
    }
    return st;
  }

  /** The state of nexus `id`, created when it has none. */
  state(id: string): NexusState {
    let st = this.#nexuses.get(id);
    if (st === undefined) {
      st = { id, ua: [], prevent: false, inflight: 0, lost: false };
      this.#nexuses.set(id, st);
    }
    return st;
  }

  /** Every nexus with state here, lost ones included. */
  all(): IterableIterator<NexusState> {
    return this.#nexuses.values();
  }

  /** Ids of the nexuses not lost (the nexus list of a logical unit without a target device). */
  *liveIds(): Iterable<string> {
    for (const st of this.#nexuses.values()) if (!st.lost) yield st.id;
  }

  #queue(st: NexusState, code: number): void {
    if (st.lost || st.ua.includes(code) || st.ua.length >= UA_QUEUE_MAX) return;
    st.ua.push(code);
  }

  /** Establishes `code` (`asc << 8 | ascq`) for every live I_T nexus of the target except `exceptNexusId`. */
  establish(code: number, exceptNexusId?: string): void {
    for (const id of this.#host.nexusIds()) {
      if (id !== exceptNexusId) this.#queue(this.state(id), code);
    }
  }

  /** Establishes `code` for one I_T nexus. */
  establishFor(nexusId: string, code: number): void {
    this.#queue(this.state(nexusId), code);
  }

  /** The pending unit attentions of a nexus, oldest first. */
  pending(nexusId: string): readonly number[] {
    return this.#nexuses.get(nexusId)?.ua ?? [];
  }

  /**
   * Removes and returns the oldest pending unit attention, as it is reported (CHECK CONDITION or
   * REQUEST SENSE). REPORTED LUNS DATA HAS CHANGED is a condition of the target device, not of one
   * LU: once reported through any LU over an I_T nexus it is cleared on every LU for that nexus
   * (SAM-5 unit attention conditions; SPC-4 Extended INQUIRY Data VPD page, LUICLR "shall be set to
   * one"), so an initiator sees it once per inventory change, not once per LU it talks to.
   */
  take(st: NexusState): number | undefined {
    const ua = st.ua.shift();
    if (ua === ASC.REPORTED_LUNS_DATA_HAS_CHANGED) this.#host.reportedLuns(st.id);
    return ua;
  }

  /** Drops pending conditions with this code for one nexus. */
  clear(nexusId: string, code: number): void {
    const st = this.#nexuses.get(nexusId);
    if (st === undefined) return;
    for (let i = st.ua.indexOf(code); i >= 0; i = st.ua.indexOf(code)) st.ua.splice(i, 1);
  }

  /**
   * The nexus is lost (SAM-5, I_T nexus loss): its conditions give way to I_T NEXUS LOSS OCCURRED,
   * which its first command reports when it comes back. The oldest lost nexuses are forgotten beyond
   * LOST_NEXUS_MAX, unless tasks of theirs still run.
   */
  lose(st: NexusState): void {
    st.ua.length = 0;
    st.ua.push(ASC.I_T_NEXUS_LOSS_OCCURRED);
    if (st.lost) return;
    st.lost = true;
    this.#lost.push(st.id);
    if (this.#lost.length > LOST_NEXUS_MAX) {
      const old = this.#lost.shift() as string;
      const o = this.#nexuses.get(old);
      if (o !== undefined && o.lost && o.inflight === 0) this.#nexuses.delete(old);
    }
  }

  /**
   * A reset's unit attention for every live nexus (SAM-5, logical unit reset): `code` replaces the
   * older conditions of the reset family (ASC 29h) and goes first, ahead of the others.
   */
  reset(code: number): void {
    for (const id of this.#host.nexusIds()) {
      const st = this.state(id);
      for (let i = st.ua.length - 1; i >= 0; i--) if (st.ua[i]! >> 8 === RESET_ASC) st.ua.splice(i, 1);
      st.ua.unshift(code);
      if (st.ua.length > UA_QUEUE_MAX) st.ua.length = UA_QUEUE_MAX;
    }
  }

  /**
   * CLEAR TASK SET from `issuerId` (SAM-5 §7, CLEAR TASK SET; the task set is shared, TST=000b):
   * COMMANDS CLEARED BY ANOTHER INITIATOR to every other nexus that had tasks in the task set:
   * those in `cleared` when the transport says whose tasks it aborted, else those with tasks running.
   */
  commandsCleared(issuerId: string | undefined, cleared: readonly string[] | undefined): void {
    if (cleared !== undefined) {
      for (const id of new Set(cleared)) if (id !== issuerId) this.#queue(this.state(id), ASC.COMMANDS_CLEARED_BY_ANOTHER_INITIATOR);
      return;
    }
    for (const st of this.#nexuses.values()) {
      if (st.id !== issuerId && st.inflight !== 0) this.#queue(st, ASC.COMMANDS_CLEARED_BY_ANOTHER_INITIATOR);
    }
  }

  /** Forgets every nexus (the logical unit is removed). */
  forget(): void {
    this.#nexuses.clear();
    this.#lost.length = 0;
  }
}
