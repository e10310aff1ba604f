// The target's side of a cluster (docs/cluster.md): each LUN of a gateway joins its shared LUN in
// etcd, named by its backing, and takes from it the identity every gateway reports (NAA, serial),
// its asymmetric access states and its shared state (reservations, mode parameters, the medium).

import { parseLunSpec } from '../backend/spec.js';
import { canonicalBacking, lunIdOf, sharedIdentity, type ClusterGateway } from '../cluster/index.js';
import type { LogicalUnit } from '../scsi/logical-unit.js';
import type { LunOptions } from './target-node.js';

/** A LUN about to be added to a gateway's target: its options, and what connects it once it exists. */
export interface JoinedLun {
  readonly lunId: string;
  readonly options: LunOptions;
  /** Connects the logical unit to the shared LUN (its cached state comes in at once). */
  attach(lu: LogicalUnit): Promise<void>;
}

/** Joins the shared LUN of the backing `spec` names (a file's real path, an NBD or RBD URL). */
export async function joinSharedLun(gw: ClusterGateway, spec: string, setting: string): Promise<JoinedLun> {
  const parsed = parseLunSpec(spec);
  const ref = { kind: parsed.kind, spec, ...(parsed.path !== undefined && { path: parsed.path }) };
  const lunId = lunIdOf(await canonicalBacking(ref, setting));
  const shared = await gw.lun(lunId);
  const { naa, serial } = sharedIdentity(lunId);
  return {
    lunId,
    options: { naa, serial, alua: shared, shared },
    attach: (lu) =>
      shared.attach({
        establishUnitAttention: (code, except) => lu.establishUnitAttention(code, except),
        applySharedState: (state, effects) => lu.applySharedState(state, effects),
      }),
  };
}
