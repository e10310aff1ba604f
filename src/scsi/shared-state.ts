// The state of a logical unit that several device servers share when one LU is reached through
// several SCSI target devices (gateways of a cluster): persistent reservations (SPC-4 §5.13) and the
// SPC-2 reservation, the mode parameters MODE SELECT changes (SPC-4 §6.9: one copy for the LU), the
// removable medium and who prevents its removal (SBC-3 PREVENT ALLOW MEDIUM REMOVAL: the medium is
// one), and the resets that reach every I_T nexus (SAM-5). The SCSI layer defines this interface;
// whoever keeps the shared copy (a coordination service) implements it above this layer.

import type { ModeState } from './handler.js';
import type { PrEffects, PrSnapshot, ReservationChange, ReservationState } from './persistent-reservations.js';

export type { ReservationChange, ReservationState };

/** A removable medium as every device server presenting it sees it. */
export interface SharedMedium {
  /** The medium is loaded. */
  present: boolean;
  /** The I_T nexuses (ids) that prevent its removal (SBC-3 PREVENT ALLOW MEDIUM REMOVAL), each once. */
  prevent: string[];
}

/** Everything a shared change sees and may change. */
export interface LuSharedState extends ReservationState {
  /** The mode parameters MODE SELECT set, or null: each device server's defaults (none set since the last reset). */
  mode: ModeState | null;
  readonly medium: SharedMedium;
}

/** The shared state as it is handed to a device server to cache. */
export interface SharedSnapshot {
  readonly pr: PrSnapshot;
  readonly aptpl: boolean;
  readonly spc2Holder: string | null;
  readonly mode: Readonly<ModeState> | null;
  readonly medium: Readonly<SharedMedium>;
}

/** What a shared change asks of every device server besides the new state. */
export interface SharedChangeEffects extends PrEffects {
  /**
   * Unit attentions for every I_T nexus of every device server but one: `[asc << 8 | ascq, except]`
   * (MODE PARAMETERS CHANGED, SPC-4 §6.9: every I_T nexus but the one whose MODE SELECT changed them).
   */
  all?: [number, string | null][];
  /**
   * A reset of the LU happened on the committing device server (its unit attention, 29h/xxh): the
   * others apply it to their own I_T nexuses (SAM-5: a logical unit reset reaches every I_T nexus).
   */
  reset?: number;
}

/**
 * One change of the shared state: mutates `state` and returns its effects (unit attentions to
 * establish, nexuses whose tasks to abort); throws the status and sense the command ends in. It may
 * run more than once (a compare-and-swap retried on a newer state), so it must not touch anything else.
 */
export type SharedChange = (state: LuSharedState) => SharedChangeEffects;

/** What a logical unit asks of the keeper of its shared state. */
export interface SharedLuState {
  /**
   * Applies `change` to the latest shared state and resolves once every device server sharing the
   * LU has applied the result, its effects included (this one through
   * `LogicalUnit.applySharedState`). Rejects with what `change` throws, or with a BUSY ScsiError
   * when the shared state cannot be changed now (the coordination service unreachable, the other
   * device servers not answering in bounded time).
   */
  commit(change: SharedChange): Promise<void>;
  /**
   * How long (ms) a change made on no command's behalf (the release of a lost nexus's reservation,
   * a reset) is waited for before the transport goes on: the bound on the other device servers' acks.
   */
  readonly settleBoundMs: number;
}

/** Effects of a shared change that reach this device server's own I_T nexuses. */
export interface SharedEffects {
  /** `[nexusId, asc << 8 | ascq]` for nexuses of this device server. */
  readonly ua: readonly (readonly [string, number])[];
  /** Nexuses of this device server whose tasks PREEMPT AND ABORT aborts. */
  readonly abort: readonly string[];
  /** `[asc << 8 | ascq, except]`: for every I_T nexus of this device server but `except`. */
  readonly all: readonly (readonly [number, string | null])[];
  /** A reset made on another device server, by its unit attention; undefined: none. */
  readonly reset: number | undefined;
}
