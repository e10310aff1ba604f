// What a node wants from a negotiation and what comes out of it: the negotiation policy (one field per
// negotiable key of RFC 7143 §13), each role's default policy, the names a node declares at login and
// the values in force afterwards. Pure data and its checks; the engine is key-negotiator.ts.

import {
  KEY_DEFINITIONS,
  defaultSessionParams,
  lookupKey,
  type ConnectionParams,
  type DigestName,
  type SessionKeyValues,
  type SessionParams,
  type SessionType,
  type TaskReportingValue,
} from './keys.js';

/** Which end this node is. */
export type Role = 'initiator' | 'target';
/** Authentication methods this module implements (RFC 7143 §12.1). */
export type AuthMethodName = 'CHAP' | 'None';

/**
 * What this node wants or accepts, one field per negotiable key (RFC 7143 §13). Numbers are this node's
 * value for the key's result function: for Minimum keys the most it accepts, for Maximum keys the least.
 * Lists are in order of preference when offering, and the accepted set when answering (the offerer's
 * order decides, §6.2.1).
 */
export interface NegotiationPolicy extends SessionKeyValues {
  headerDigest: DigestName[];
  dataDigest: DigestName[];
  /** Declared, not negotiated: the largest data segment this node receives (§13.12). */
  maxRecvDataSegmentLength: number;
  taskReporting: TaskReportingValue[];
  authMethod: AuthMethodName[];
  /** Answer to the obsolete IFMarker/OFMarker keys: "Reject" (SHOULD) or "No" (MAY), RFC 7143 §13.25. */
  markerAnswer: 'Reject' | 'No';
}

/** What both ends declare they receive by default: 256 KiB data segments, as the Linux initiator does. */
const DEFAULT_MAX_RECV_DATA_SEGMENT_LENGTH = 262144;

/**
 * The policy of a node that wants the RFC 7143 §13 defaults ({@link defaultSessionParams}): no digest,
 * no authentication, obsolete markers answered Reject, and 256 KiB receive segments. A fresh object each
 * call, so the frozen policies built on it share no list.
 */
function rfcDefaultPolicy(): NegotiationPolicy {
  const { sessionType, initiatorName, initiatorAlias, targetName, targetAlias, targetPortalGroupTag, taskReporting, ...values } = defaultSessionParams();
  return {
    ...values,
    headerDigest: ['None'],
    dataDigest: ['None'],
    maxRecvDataSegmentLength: DEFAULT_MAX_RECV_DATA_SEGMENT_LENGTH,
    taskReporting: [taskReporting],
    authMethod: ['None'],
    markerAnswer: 'Reject',
  };
}

/**
 * Target defaults: the RFC 7143 defaults (ErrorRecoveryLevel 0, one connection per session, InitialR2T
 * and ImmediateData Yes, 256 KiB bursts), both digests accepted, 256 KiB receive segments, no
 * authentication.
 */
export const DEFAULT_TARGET_POLICY: Readonly<NegotiationPolicy> = Object.freeze<NegotiationPolicy>({
  ...rfcDefaultPolicy(),
  headerDigest: ['CRC32C', 'None'],
  dataDigest: ['CRC32C', 'None'],
});

/**
 * Initiator defaults, close to what the Linux initiator offers: no digests preferred, unsolicited and
 * immediate data wanted, large bursts (the target's Minimum decides), ErrorRecoveryLevel 0.
 */
export const DEFAULT_INITIATOR_POLICY: Readonly<NegotiationPolicy> = Object.freeze<NegotiationPolicy>({
  ...rfcDefaultPolicy(),
  headerDigest: ['None', 'CRC32C'],
  dataDigest: ['None', 'CRC32C'],
  initialR2T: false,
  maxBurstLength: 16776192,
  firstBurstLength: 262144,
});

/** Everything negotiated: session-wide and connection values, with defaults for what was not negotiated. */
export interface NegotiatedParams {
  session: SessionParams;
  connection: ConnectionParams;
}

/** What this node declares about itself during login (RFC 7143 §13.4 to §13.9, §13.21, §13.26). */
export interface LocalDeclarations {
  initiatorName?: string;
  initiatorAlias?: string;
  /** The initiator's target; ignored on the target side (a target never declares TargetName at login). */
  targetName?: string;
  targetAlias?: string;
  targetPortalGroupTag?: number;
  /** Initiator only: the session it asks for. Default Normal. */
  sessionType?: SessionType;
  /** X#NodeArchitecture (RFC 7143 §13.26), at most 255 bytes. */
  nodeArchitecture?: string;
}

/**
 * The policy a node of `role` negotiates with: the role's defaults, overridden by the fields `given`
 * (a field given as undefined keeps the default), checked against the key table.
 * @throws RangeError or TypeError for a value the key cannot take
 */
export function resolvePolicy(role: Role, given: Partial<NegotiationPolicy> = {}): NegotiationPolicy {
  const defaults = role === 'target' ? DEFAULT_TARGET_POLICY : DEFAULT_INITIATOR_POLICY;
  const set = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined));
  const policy: NegotiationPolicy = { ...defaults, ...set };
  checkPolicy(policy);
  return policy;
}

/** Every field within its key's range or list of values (RFC 7143 §13), and only implemented methods. */
function checkPolicy(policy: NegotiationPolicy): void {
  for (const def of KEY_DEFINITIONS) {
    if (def.param === undefined) continue;
    const v = policy[def.param];
    if (def.type === 'numeric') {
      const { min, max } = def.range!;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
        throw new RangeError(`policy ${def.param} must be an integer from ${min} to ${max} (${def.section}), got ${String(v)}`);
      }
    } else if (def.type === 'boolean') {
      if (typeof v !== 'boolean') throw new TypeError(`policy ${def.param} must be a boolean`);
    } else if (def.type === 'list') {
      if (!Array.isArray(v) || v.length === 0) throw new RangeError(`policy ${def.param} must be a non-empty list`);
      for (const e of v as string[]) {
        if (!def.values!.includes(e)) throw new RangeError(`policy ${def.param} has ${JSON.stringify(e)}, not one of ${def.values!.join(', ')} (${def.section})`);
      }
    }
  }
  const { min, max } = lookupKey('MaxRecvDataSegmentLength')!.range!;
  const m = policy.maxRecvDataSegmentLength;
  if (!Number.isInteger(m) || m < min || m > max) throw new RangeError(`policy maxRecvDataSegmentLength must be ${min} to ${max} (RFC 7143 §13.12), got ${m}`);
  for (const a of policy.authMethod) {
    if (a !== 'CHAP' && a !== 'None') throw new RangeError(`policy authMethod ${JSON.stringify(a)} is not implemented (CHAP, None)`);
  }
  if (policy.markerAnswer !== 'Reject' && policy.markerAnswer !== 'No') throw new RangeError('policy markerAnswer must be "Reject" or "No" (RFC 7143 §13.25)');
}
