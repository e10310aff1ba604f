// The interface through which a logical unit learns the asymmetric access state (SPC-4 §5.15) of the
// target port a command arrived on. Whoever decides the states (a cluster of gateways sharing the LU)
// implements it above the SCSI layer, which only reads it.

import type { TargetPortGroupInit } from './cdb/alua.js';
import type { ItNexus } from './types.js';

/** One request of a SET TARGET PORT GROUPS parameter list (SPC-4 §6.45): a group and the state asked for it. */
export interface TargetPortGroupRequest {
  readonly tpg: number;
  readonly state: number;
}

/**
 * The asymmetric access of one logical unit as its device server reports and enforces it (SPC-4
 * §5.15). The SCSI layer only reads it; whoever owns the states (a cluster of gateways sharing the LU)
 * implements it. Every target port of this device server is in the group {@link group}.
 */
export interface AsymmetricAccess {
  /** TPGS of standard INQUIRY data: 1 implicit, 2 explicit, 3 both (SPC-4 §6.6.2). */
  readonly tpgs: number;
  /** TARGET PORT GROUP of the local target port (Device Identification VPD page, SPC-4 §7.8.6.8). */
  readonly group: number;
  /**
   * The asymmetric access state of the local group now, one of ALUA_STATE. Every command asks, and a
   * write asks again before it completes (a gateway fenced meanwhile does not report it done): keep it
   * a field read or a clock comparison.
   */
  state(): number;
  /** Every target port group of the LU with its state and ports, for REPORT TARGET PORT GROUPS. */
  groups(): readonly TargetPortGroupInit[];
  /** IMPLICIT TRANSITION TIME in seconds (extended REPORT TARGET PORT GROUPS header), 0..255. */
  readonly implicitTransitionTime: number;
  /**
   * SET TARGET PORT GROUPS (explicit ALUA, SPC-4 §6.45): resolves once the states asked for are in
   * force; throws a CheckConditionError (refused) or a BUSY ScsiError (the move is under way: retry).
   * Absent: explicit transitions are not offered.
   */
  setTargetPortGroups?(requests: readonly TargetPortGroupRequest[], nexus: ItNexus): Promise<void>;
}

