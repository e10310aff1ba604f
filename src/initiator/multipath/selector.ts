// Which path a command takes: by ALUA state (SPC-4 §5.15.2.4) first, round-robin among equals. Socket-free
// and allocation-free: it scans the few paths twice and keeps one cursor.

import { ALUA_STATE } from '../../scsi/cdb/alua.js';

/** What the selector needs to know of a path. */
export interface SelectablePath {
  /** Connected, its identity checked, not failed: it may carry commands if its state allows. */
  readonly usable: boolean;
  /** Its target port group's asymmetric access state ({@link ALUA_STATE}). */
  readonly aluaState: number;
  /** PREF of its group: preferred among groups of the same state (SPC-4 §5.15.2.7). */
  readonly pref: boolean;
}

/**
 * How paths are grouped, dm-multipath's path_grouping_policy:
 * - `alua` (group_by_prio): only the paths of the best ALUA state carry I/O (Active/Optimized, else
 *   Active/Non-Optimized), the preferred group first;
 * - `multibus`: every Active path carries I/O, Optimized or not (an implicit-ALUA cluster whose
 *   non-owners serve I/O against the shared backend, SPC-4 §5.15.2.4.3).
 */
export type PathPolicy = 'alua' | 'multibus';

/** Rank of a state for media access, lower is better; NOT_SELECTABLE for states that refuse it. */
const NOT_SELECTABLE = 99;

/** The rank of a path: NOT_SELECTABLE when it is not usable or its state refuses media access. */
export function pathRank(p: SelectablePath, policy: PathPolicy): number {
  if (!p.usable) return NOT_SELECTABLE;
  let r: number;
  switch (p.aluaState) {
    case ALUA_STATE.ACTIVE_OPTIMIZED:
      r = 0;
      break;
    // SPC-4 §5.15.2.4.3/.8: Active/Non-Optimized and LBA dependent process media access, possibly slower.
    case ALUA_STATE.ACTIVE_NON_OPTIMIZED:
    case ALUA_STATE.LOGICAL_BLOCK_DEPENDENT:
      r = policy === 'multibus' ? 0 : 2;
      break;
    // Standby, unavailable, offline and transitioning answer media access with NOT READY (§5.15.2.4.4-.7).
    default:
      return NOT_SELECTABLE;
  }
  return policy === 'multibus' ? r : r + (p.pref ? 0 : 1);
}

/** Picks paths: the best rank, round-robin among the paths that share it. */
export class PathSelector {
  #cursor = 0;
  policy: PathPolicy;

  constructor(policy: PathPolicy = 'alua') {
    this.policy = policy;
  }

  /**
   * The path for the next command, or null when none may carry it. `avoid` (the path a command just
   * failed on) is taken only when no other path is selectable.
   */
  select<P extends SelectablePath>(paths: readonly P[], avoid: P | null = null): P | null {
    const n = paths.length;
    let best = NOT_SELECTABLE;
    let avoidRank = NOT_SELECTABLE;
    for (let i = 0; i < n; i++) {
      const p = paths[i]!;
      const r = pathRank(p, this.policy);
      if (p === avoid) avoidRank = r;
      else if (r < best) best = r;
    }
    if (best === NOT_SELECTABLE) return avoidRank === NOT_SELECTABLE ? null : avoid;
    for (let k = 0; k < n; k++) {
      const i = (this.#cursor + k) % n;
      const p = paths[i]!;
      if (p !== avoid && pathRank(p, this.policy) === best) {
        this.#cursor = i + 1;
        return p;
      }
    }
    return null;
  }

  /** True when some path may carry a command. */
  any(paths: readonly SelectablePath[]): boolean {
    for (const p of paths) if (pathRank(p, this.policy) !== NOT_SELECTABLE) return true;
    return false;
  }
}
