// The reservations of one logical unit (SPC-4 §5.13 persistent reservations, SPC-2 RESERVE/RELEASE):
// kept here, with APTPL state in a sidecar beside the medium, or kept by a shared store when several
// device servers present the LU (shared-state.ts), with this copy as the cache the I/O path checks.
// Changes run one at a time per LU; when the LU is shared, every change of its shared state (the
// medium and mode parameters of lu-medium.ts too) runs in the same line, and so do the changes that
// an I_T nexus loss and a reset make to it.

import type { SidecarStore } from '../backend/types.js';
import { ASC, SENSE_KEY } from './constants.js';
import { PersistentReservations, type PrEffects } from './persistent-reservations.js';
import { CheckConditionError } from './sense.js';
import type { ReservationChange, ReservationState, SharedChange, SharedChangeEffects, SharedEffects, SharedLuState, SharedSnapshot } from './shared-state.js';

/** What {@link LuReservations} needs from its logical unit. */
export interface LuReservationsInit {
  /** Where APTPL state is kept (local reservations only); undefined: APTPL not offered unless shared. */
  store: SidecarStore | undefined;
  /** The shared store, when several device servers present this LU. */
  shared: SharedLuState | undefined;
  /** Establishes a unit attention for one I_T nexus of this device server. */
  establish(nexusId: string, code: number): void;
  /** Establishes a unit attention for every I_T nexus of this device server but `except`. */
  establishAll(code: number, except: string | null): void;
  /** Aborts the tasks of these I_T nexuses on this LU (PREEMPT AND ABORT), resolving once they ended. */
  abort(nexusIds: readonly string[]): Promise<void>;
  /** A change made on no command's behalf (the release of a lost nexus's RESERVE, a reset) failed or was late. */
  onError(e: unknown): void;
}

function noEffects(): SharedChangeEffects {
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
  /** The last reset or nexus release announced to the other device servers, until they applied it. */
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

  /** Several device servers share the LU's state (through {@link LuReservationsInit.shared}). */
  get shared(): boolean {
    return this.#init.shared !== undefined;
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
    const shared = this.#init.shared;
    if (shared !== undefined) return this.commitShared(change);
    const run = this.#chain.then(async () => {
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

  /**
   * Commits a change of the shared state (shared LUs only), in line with every other change of this
   * LU; resolves once every device server applied it.
   */
  commitShared(change: SharedChange): Promise<void> {
    const shared = this.#init.shared;
    if (shared === undefined) return Promise.reject(new TypeError('this logical unit has no shared state'));
    const run = this.#chain.then(() => shared.commit(change));
    this.#chain = run.catch(() => {});
    return run;
  }

  /** Takes the shared state and applies the effects meant for this device server's nexuses. */
  async applyShared(s: SharedSnapshot, effects: SharedEffects | null): Promise<void> {
    const next = new PersistentReservations();
    next.restore(s.pr);
    next.aptpl = s.aptpl;
    this.pr.assign(next);
    this.#spc2Holder = s.spc2Holder;
    if (effects === null) return;
    for (const [id, code] of effects.ua) this.#init.establish(id, code);
    for (const [code, except] of effects.all) this.#init.establishAll(code, except);
    if (effects.abort.length !== 0) await this.#init.abort(effects.abort);
  }

  /**
   * The I_T nexus `nexusId` is lost (SAM-5): its SPC-2 reservation ends (persistent registrations
   * outlive it, SPC-4 §5.13.1). Shared, the shared copy goes too, with the nexus's PREVENT (SBC-3),
   * and the promise resolves once every device server applied that (or the bound passed: a change
   * made on no command's behalf is never refused, only logged); undefined when the LU is not shared.
   */
  releaseNexus(nexusId: string): Promise<void> | undefined {
    // The cached holder goes at once: this device server stops enforcing it.
    if (this.#spc2Holder === nexusId) this.#spc2Holder = null;
    if (this.#init.shared === undefined) return undefined;
    const released = this.#settle(
      this.commitShared((st) => {
        if (st.spc2Holder === nexusId) st.spc2Holder = null;
        const i = st.medium.prevent.indexOf(nexusId);
        if (i >= 0) st.medium.prevent.splice(i, 1);
        return noEffects();
      }),
    );
    // An I_T NEXUS RESET is answered after {@link settled}: the release is then in force everywhere.
    const before = this.#announced;
    this.#announced = before.then(() => released);
    return released;
  }

  /** The SPC-2 reservation is gone here without telling anyone (the LU is removed, or a reset came from another device server). */
  dropSpc2(): void {
    this.#spc2Holder = null;
  }

  /**
   * A reset (SAM-5): the SPC-2 reservation is released, and with `powerLoss` the persistent
   * reservations too unless APTPL kept them (SPC-4 §5.13.5). `code` given, the reset happened here:
   * shared, one change releases the reservation, every PREVENT and the mode parameters everywhere,
   * and tells the other device servers to apply the reset to their nexuses; undefined, it came from
   * one of them.
   */
  reset(code: number | undefined, powerLoss = false): void {
    this.#spc2Holder = null;
    if (code === undefined) return;
    if (this.#init.shared === undefined) {
      if (powerLoss && !this.pr.aptpl) this.pr.assign(new PersistentReservations());
      return;
    }
    this.#announced = this.#settle(
      this.commitShared((st) => {
        st.spc2Holder = null;
        st.medium.prevent.length = 0;
        st.mode = null;
        if (powerLoss && !st.pr.aptpl) st.pr.assign(new PersistentReservations());
        return { ...noEffects(), changed: true, reset: code };
      }),
    );
  }

  /** Resolves once the last reset or nexus release made here is in force on every device server sharing the LU. */
  settled(): Promise<void> {
    return this.#announced;
  }

  /** Waits for a change made on no command's behalf, at most the shared store's bound; never rejects. */
  #settle(p: Promise<void>): Promise<void> {
    const ms = this.#init.shared?.settleBoundMs ?? 0;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.#init.onError(new Error(`a shared state change was not in force everywhere after ${ms} ms`));
        resolve();
      }, ms);
      timer.unref();
    });
    const done = p.then(
      () => clearTimeout(timer),
      (e: unknown) => {
        clearTimeout(timer);
        this.#init.onError(e);
      },
    );
    return Promise.race([done, late]);
  }
}
