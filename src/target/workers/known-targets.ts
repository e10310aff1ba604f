// Targets a process knows without serving them. In a target with workers every process knows every
// target by name, alias and ACL (a SendTargets answer lists what the initiator may reach, RFC 7143
// Appendix C) and serves only its own; a target added or removed at runtime is known or forgotten by
// every process but its owner.

import type { Logger } from 'pino';
import { buildTargetNode } from '../config/build.js';
import type { TargetConfig } from '../config/schema.js';
import type { TargetServer } from '../server.js';

/** Knows `t` for discovery, unless the server already has a target of that name. */
export function knowTarget(server: TargetServer, t: TargetConfig, log: Logger): null {
  if (server.target(t.iqn) === undefined) server.addTarget(buildTargetNode(t, 'target', log, { discoveryOnly: true }));
  return null;
}

/** Forgets a target known for discovery only (one it serves is the admin's `target remove` to end). */
export async function forgetTarget(server: TargetServer, iqn: string): Promise<null> {
  if (server.target(iqn)?.discoveryOnly === true) await server.removeTarget(iqn, { graceMs: 0 });
  return null;
}
