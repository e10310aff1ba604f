// SendTargets answers (RFC 7143 Appendix C): which targets a session may learn of (all those its
// initiator may reach, for a discovery session; only its own, for a normal one) and the TargetAddress
// of each portal (§13.9).

import type { Portal } from './portal.js';
import type { TargetSession } from './session.js';
import type { TargetNode } from './target-node.js';
import type { SendTargetsEntry } from './text.js';

/** The SendTargets answer for `value` (All, empty, or a target name), filtered by the initiator's ACL. */
export function sendTargetsAnswer(targets: ReadonlyMap<string, TargetNode>, s: TargetSession, value: string, addresses: string[]): SendTargetsEntry[] {
  let names: string[];
  if (value === 'All') {
    // Only a discovery session may ask for All (Appendix C.1); a normal session gets its own target.
    names = s.type === 'Discovery' ? [...targets.keys()] : s.targetName !== undefined ? [s.targetName] : [];
  } else if (value === '') {
    names = s.targetName !== undefined ? [s.targetName] : [];
  } else {
    names = targets.has(value) ? [value] : [];
  }
  return names
    .map((n) => targets.get(n)!)
    .filter((t) => t.allows(s.initiatorName))
    .map((t) => ({ name: t.name, addresses }));
}

/**
 * `host:port,tpgt` for every bound portal (RFC 7143 §13.9), IPv6 hosts in brackets. A wildcard portal
 * is reported as the address the initiator reached, the only one known to work for it.
 */
export function portalAddresses(bound: readonly Portal[], localAddress: string | undefined, tpgt: number): string[] {
  const local = localAddress ?? '127.0.0.1';
  const out: string[] = [];
  for (const p of bound) {
    const wildcard = p.host === '0.0.0.0' || p.host === '::';
    let host = wildcard ? local : p.host;
    if (host.startsWith('::ffff:')) host = host.slice(7);
    const h = host.includes(':') ? `[${host}]` : host;
    out.push(`${h}:${p.port},${tpgt}`);
  }
  return [...new Set(out)];
}
