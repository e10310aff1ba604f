// The state of a logical unit that several device servers share when one LU is reached through
// several SCSI target devices (gateways of a cluster): persistent reservations (SPC-4 §5.13) and the
// SPC-2 reservation, and the resets that reach every I_T nexus (SAM-5). The SCSI layer defines this
// interface; whoever keeps the shared copy (a coordination service) implements it above this layer.

import type { PersistentReservations, PrEffects } from './persistent-reservations.js';

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
 * run more than once (a compare-and-swap retried on a newer state), so it must not touch anything else.
 */
export type ReservationChange = (state: ReservationState) => PrEffects;

/** What a logical unit asks of the keeper of its shared state. */
export interface SharedLuState {
  /**
   * Applies `change` to the latest shared state and resolves once every device server sharing the
   * LU has applied the result, its effects included (this one through
   * `LogicalUnit.applySharedState`). Rejects with what `change` throws, or with a BUSY ScsiError
   * when the shared state cannot be changed now (the coordination service unreachable, the other
   * device servers not answering in bounded time).
   */
  commit(change: ReservationChange): Promise<void>;
  /**
   * A reset of the logical unit happened here (`code`: its unit attention, SAM-5 resets): every other
   * device server applies it to its own I_T nexuses (`LogicalUnit.applyRemoteReset`). Resolves once
   * they have (bounded: a device server that does not answer is not waited for past the bound), so the
   * task management function is answered after the reset is in force everywhere.
   */
  announceReset(code: number): Promise<void>;
}

/** Effects of a shared change that reach this device server's own I_T nexuses. */
export interface SharedEffects {
  /** `[nexusId, asc << 8 | ascq]` for nexuses of this device server. */
  readonly ua: readonly (readonly [string, number])[];
  /** Nexuses of this device server whose tasks PREEMPT AND ABORT aborts. */
  readonly abort: readonly string[];
}
