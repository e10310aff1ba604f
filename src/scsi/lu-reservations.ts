// The reservations of one logical unit (SPC-4 §5.13 persistent reservations, SPC-2 RESERVE/RELEASE):
// kept here, with APTPL state in a sidecar beside the medium, or kept by a shared store when several
// device servers present the LU (shared-state.ts), with this copy as the cache the I/O path checks.
// Changes run one at a time per LU.

import type { SidecarStore } from '../backend/types.js';
import { ASC, SENSE_KEY } from './constants.js';
import { PersistentReservations, type PrEffects, type PrSnapshot } from './persistent-reservations.js';
import { CheckConditionError } from './sense.js';
import type { ReservationChange, ReservationState, SharedEffects, SharedLuState } from './shared-state.js';

/** What {@link LuReservations} needs from its logical unit. */
export interface LuReservationsInit {
  /** Where APTPL state is kept (local reservations only); undefined: APTPL not offered unless shared. */
  store: SidecarStore | undefined;
  /** The shared store, when several device servers present this LU. */
  shared: SharedLuState | undefined;
  /** Establishes a unit attention for one I_T nexus of this device server. */
  establish(nexusId: string, code: number): void;
  /** Aborts the tasks of these I_T nexuses on this LU (PREEMPT AND ABORT), resolving once they ended. */
  abort(nexusIds: readonly string[]): Promise<void>;
  /** A change made on no command's behalf (the release of a lost nexus's RESERVE) failed. */
  onError(e: unknown): void;
}

function noEffects(): PrEffects {
  return { ua: [], abort: [], changed: false };
}

/** Persistent and SPC-2 reservations of one logical unit. */
export class LuReservations {
  /** Persistent reservations; the cache of the shared copy when there is one. */
  readonly pr = new PersistentReservations();
  #spc2Holder: string | null = null;
  readonly #init: LuReservationsInit;
  /** Changes run one at a time: each may await its APTPL save or its shared commit. */
  #chain: Promise<void> = Promise.resolve();
  /** The last reset announced to the other device servers, until they applied it. */
  #announced: Promise<void> = Promise.resolve();

  constructor(init: LuReservationsInit) {
    this.#init = init;
  }

  /** APTPL (SPC-4 §5.13.5): what was persisted comes back; an unreadable document is an error at start-up. */
  load(): void {
    const saved = this.#init.store?.load();
    if (saved !== null && saved !== undefined) this.pr.restore(saved);
  }

  /** The I_T nexus (id) holding the SPC-2 reservation, or null. */
  get spc2Holder(): string | null {
    return this.#spc2Holder;
  }

  /** APTPL can be honoured (PTPL_C): a sidecar, or the durable shared store. */
  get persistCapable(): boolean {
    return this.#init.store !== undefined || this.#init.shared !== undefined;
  }

  /**
   * Applies one change. Shared: the store commits it and every device server, this one included,
   * applies the result through {@link applyShared}. Local: the change runs on this state, which is
   * persisted when APTPL asks for it (undoing the change and failing the command if that fails),
   * then the unit attentions are established and the tasks of preempted nexuses aborted.
   */
  change(change: ReservationChange): Promise<void> {
    const run = this.#chain.then(async () => {
      const shared = this.#init.shared;
      if (shared !== undefined) return shared.commit(change);
      const before = this.pr.clone();
      const state: ReservationState = { pr: this.pr, spc2Holder: this.#spc2Holder };
      let fx: PrEffects;
      try {
        fx = change(state);
      } catch (e) {
        this.pr.assign(before);
        throw e;
      }
      this.#spc2Holder = state.spc2Holder;
      const store = this.#init.store;
      if (fx.changed && store !== undefined && (this.pr.aptpl || before.aptpl)) {
        try {
          // APTPL set: the state survives a power loss. Cleared: nothing may come back after one.
          if (this.pr.aptpl) await store.save(this.pr.snapshot());
          else await store.remove();
        } catch (e) {
          this.pr.assign(before);
          throw new CheckConditionError(SENSE_KEY.HARDWARE_ERROR, ASC.INSUFFICIENT_REGISTRATION_RESOURCES, {
            message: `cannot persist reservations in ${store.location}: ${e instanceof Error ? e.message : String(e)}`,
          });
        }
      }
      for (const [id, code] of fx.ua) this.#init.establish(id, code);
      if (fx.abort.length !== 0) await this.#init.abort(fx.abort);
    });
    this.#chain = run.catch(() => {});
    return run;
  }

  /** Takes the shared state and applies the effects meant for this device server's nexuses. */
  async applyShared(pr: PrSnapshot, aptpl: boolean, spc2Holder: string | null, effects: SharedEffects | null): Promise<void> {
    const next = new PersistentReservations();
    next.restore(pr);
    next.aptpl = aptpl;
    this.pr.assign(next);
    this.#spc2Holder = spc2Holder;
    if (effects === null) return;
    for (const [id, code] of effects.ua) this.#init.establish(id, code);
    if (effects.abort.length !== 0) await this.#init.abort(effects.abort);
  }

  /** Drops the SPC-2 reservation of `nexusId` (nexus loss), or whoever holds it (reset); shared too. */
  releaseSpc2(nexusId?: string): void {
    const holder = this.#spc2Holder;
    if (holder === null || (nexusId !== undefined && holder !== nexusId)) return;
    // The cached holder goes at once (this device server stops enforcing it); the shared copy follows.
    this.#spc2Holder = null;
    if (this.#init.shared === undefined) return;
    this.change((st) => {
      if (st.spc2Holder !== holder) return noEffects();
      st.spc2Holder = null;
      return { ...noEffects(), spc2: true };
    }).catch((e: unknown) => this.#init.onError(e));
  }

  /** The SPC-2 reservation is gone here without telling anyone (the LU is removed, or a reset came from another device server). */
  dropSpc2(): void {
    this.#spc2Holder = null;
  }

  /**
   * A reset (SAM-5): the SPC-2 reservation is released; `code` given, the reset happened here and
   * the other device servers sharing the LU hear of it; undefined, it came from one of them.
   */
  reset(code: number | undefined): void {
    if (code === undefined) {
      this.dropSpc2();
      return;
    }
    this.releaseSpc2();
    if (this.#init.shared !== undefined) this.#announced = this.#init.shared.announceReset(code).catch((e: unknown) => this.#init.onError(e));
  }

  /** Resolves once the last reset announced here is in force on every device server sharing the LU. */
  settled(): Promise<void> {
    return this.#announced;
  }

  /** A power loss without APTPL: registrations and the reservation do not survive (SPC-4 §5.13.5). */
  forget(): void {
    if (this.#init.shared === undefined) {
      this.pr.assign(new PersistentReservations());
      return;
    }
    this.change((st) => {
      if (st.pr.aptpl) return noEffects();
      st.pr.assign(new PersistentReservations());
      return { ...noEffects(), changed: true };
    }).catch((e: unknown) => this.#init.onError(e));
  }
}
