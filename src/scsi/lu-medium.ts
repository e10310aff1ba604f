// The removable medium and the mode parameters of one logical unit: whether a medium is loaded, which
// I_T nexuses prevent its removal (SBC-3 PREVENT ALLOW MEDIUM REMOVAL) and the parameters MODE SELECT
// changes (SPC-4 §6.9). Kept here, or by a shared store when several device servers present the LU
// (shared-state.ts): the medium is one device, so an eject through one port is seen through every
// port and a PREVENT through one blocks an eject through another; the mode pages are the LU's, so a
// MODE SELECT through one port changes them for all and MODE PARAMETERS CHANGED reaches the I_T
// nexuses of every port. Either way the I/O path reads the holder's fields, never a store.

import { ASC } from './constants.js';
import type { ModeState, NexusState } from './handler.js';
import { illegalRequest } from './sense.js';
import type { SharedChange, SharedChangeEffects, SharedSnapshot } from './shared-state.js';

/** Where the current values live: the logical unit's own fields, read by the I/O path. */
export interface MediumHolder {
  mediumPresent: boolean;
  readonly mode: ModeState;
}

/** What {@link LuMedium} needs from its logical unit. */
export interface LuMediumInit {
  holder: MediumHolder;
  /** RMB: the medium can be ejected and loaded. */
  removable: boolean;
  /** The PC=10b values, and what a reset returns to. */
  defaults: Readonly<ModeState>;
  /** Commits a change of the shared state (one at a time per LU); undefined: the LU is not shared. */
  commit: ((change: SharedChange) => Promise<void>) | undefined;
  /** Establishes a unit attention for every I_T nexus of this device server but `except`. */
  establish(code: number, except: string): void;
}

function noEffects(): SharedChangeEffects {
  return { ua: [], abort: [], changed: false };
}

function sameMode(a: Readonly<ModeState>, b: Readonly<ModeState>): boolean {
  return a.wce === b.wce && a.dSense === b.dSense && a.swp === b.swp;
}

/** The medium and mode parameters of one logical unit, local or shared. */
export class LuMedium {
  readonly #init: LuMediumInit;
  /** Local: nexuses of this device server that prevent removal. */
  #preventCount = 0;
  /** Shared: some nexus of some device server prevents removal (the cached shared list is not empty). */
  #sharedPrevented = false;

  constructor(init: LuMediumInit) {
    this.#init = init;
  }

  /** Some I_T nexus prevents medium removal. */
  get removalPrevented(): boolean {
    return this.#init.commit === undefined ? this.#preventCount !== 0 : this.#sharedPrevented;
  }

  /**
   * PREVENT ALLOW MEDIUM REMOVAL for one nexus. Shared: the nexus joins (leaves) the shared list, and
   * the promise resolves once every device server has it, so an eject through another port after the
   * command was answered is refused.
   */
  setPrevent(st: NexusState, prevent: boolean): Promise<void> | undefined {
    const commit = this.#init.commit;
    if (commit === undefined) {
      this.#setLocal(st, prevent);
      return undefined;
    }
    const id = st.id;
    return commit((s) => {
      const i = s.medium.prevent.indexOf(id);
      if (prevent && i < 0) s.medium.prevent.push(id);
      else if (!prevent && i >= 0) s.medium.prevent.splice(i, 1);
      return noEffects();
    }).then(() => {
      st.prevent = prevent;
    });
  }

  #setLocal(st: NexusState, prevent: boolean): void {
    if (st.prevent === prevent) return;
    st.prevent = prevent;
    this.#preventCount += prevent ? 1 : -1;
  }

  /**
   * START STOP UNIT with LOEJ (SBC-3 §5.25): loads or ejects a removable medium; refused with MEDIUM
   * REMOVAL PREVENTED while any I_T nexus prevents removal. Shared, the check and the change are one
   * compare-and-swap, so a PREVENT through another port cannot slip between them.
   */
  load(load: boolean): Promise<void> | undefined {
    if (!this.#init.removable) return undefined;
    const commit = this.#init.commit;
    if (commit === undefined) {
      if (this.#preventCount !== 0) throw illegalRequest(ASC.MEDIUM_REMOVAL_PREVENTED);
      this.#init.holder.mediumPresent = load;
      return undefined;
    }
    return commit((s) => {
      if (s.medium.prevent.length !== 0) throw illegalRequest(ASC.MEDIUM_REMOVAL_PREVENTED);
      s.medium.present = load;
      return noEffects();
    });
  }

  /**
   * MODE SELECT set these fields (SPC-4 §6.9): when that changes the parameters, MODE PARAMETERS
   * CHANGED for every other I_T nexus, through every port when shared.
   */
  changeMode(update: Partial<ModeState>, by: string): Promise<void> | undefined {
    const commit = this.#init.commit;
    if (commit === undefined) {
      const mode = this.#init.holder.mode;
      const next = { ...mode, ...update };
      if (sameMode(mode, next)) return undefined;
      Object.assign(mode, next);
      this.#init.establish(ASC.MODE_PARAMETERS_CHANGED, by);
      return undefined;
    }
    const defaults = this.#init.defaults;
    return commit((s) => {
      const cur = s.mode ?? defaults;
      const next = { wce: update.wce ?? cur.wce, dSense: update.dSense ?? cur.dSense, swp: update.swp ?? cur.swp };
      if (sameMode(cur, next)) return noEffects();
      s.mode = next;
      return { ...noEffects(), all: [[ASC.MODE_PARAMETERS_CHANGED, by]] };
    });
  }

  /** The nexus is lost: its PREVENT ends (SBC-3: I_T nexus loss); shared, the store's copy is released with its reservation. */
  nexusLost(st: NexusState): void {
    if (this.#init.commit === undefined) this.#setLocal(st, false);
    else st.prevent = false;
  }

  /** A reset (SAM-5): every PREVENT ends and the mode parameters return to their defaults (none are saved). */
  reset(nexuses: Iterable<NexusState>): void {
    for (const st of nexuses) this.nexusLost(st);
    Object.assign(this.#init.holder.mode, this.#init.defaults);
  }

  /** The LU is removed: nothing is prevented any more. */
  forget(): void {
    this.#preventCount = 0;
    this.#sharedPrevented = false;
  }

  /** Takes the shared state: the mode parameters (null: the defaults), the medium and whether removal is prevented. */
  applyShared(s: SharedSnapshot): void {
    const m = s.mode ?? this.#init.defaults;
    const mode = this.#init.holder.mode;
    mode.wce = m.wce;
    mode.dSense = m.dSense;
    mode.swp = m.swp;
    // A LU configured without RMB keeps its medium whatever a differently configured gateway wrote.
    if (this.#init.removable) this.#init.holder.mediumPresent = s.medium.present;
    this.#sharedPrevented = s.medium.prevent.length !== 0;
  }
}
