// The login/text keys of RFC 7143 §12 and §13 (and RFC 7144's iSCSIProtocolLevel) as data: one record per
// key saying who may send it, when, its type, default, range and result function; the values in force
// and their defaults; the iSCSI name syntax. The key negotiator (key-negotiator.ts) is driven by this
// table and holds no per-key code beyond the few cross-key integrity rules.

/** Scope of a key (RFC 7143 §13): session-wide (SW) or connection-only (CO). */
export type KeyScope = 'session' | 'connection';

/**
 * When a key may be used (RFC 7143 §13 "Use"):
 * - `LO` leading only: the Login Phase of the leading connection;
 * - `IO` initialize only: the Login Phase of any connection;
 * - `FFPO` full feature phase only (Text Requests);
 * - `ALL` any time;
 * - `security` the SecurityNegotiation stage only (AuthMethod and the keys of the method, §12).
 */
export type KeyUse = 'LO' | 'IO' | 'FFPO' | 'ALL' | 'security';

/** Who may send a key (RFC 7143 §13 "Senders"). */
export type KeySenders = 'initiator' | 'target' | 'both';

/**
 * The value syntax of a key (RFC 7143 §6.1):
 * - `boolean` Yes | No; `numeric` a numerical-value in `range`; `numeric-range` two numbers with `~`;
 * - `list` a list-of-values; `enum` one of `values`;
 * - `iscsi-name` an iSCSI name (§4.2.7); `local-name` UTF-8 text (aliases); `text` a text-value;
 * - `binary-number` a regular-binary-value read as a number in `range` (TargetPortalGroupTag);
 * - `binary` a binary-value (hex or base64 constant).
 */
export type ValueType =
  | 'boolean'
  | 'numeric'
  | 'numeric-range'
  | 'list'
  | 'enum'
  | 'iscsi-name'
  | 'local-name'
  | 'text'
  | 'binary-number'
  | 'binary';

/**
 * How the negotiation outcome is computed (RFC 7143 §6.2):
 * - `and`, `or`: Boolean functions; `min`, `max`: numerical;
 * - `first-acceptable`: list negotiation, the first value in the offerer's list the answerer supports;
 * - `declarative`: a declaration, never answered;
 * - `auth`: exchanged by the authentication method (§12.1), not negotiated key by key;
 * - `request`: an operation, not a negotiation (SendTargets, §13.3);
 * - `obsolete`: a key removed by RFC 7143 (§13.25), answered with a fixed value.
 */
export type ResultFunction = 'and' | 'or' | 'min' | 'max' | 'first-acceptable' | 'declarative' | 'auth' | 'request' | 'obsolete';

/** Names of the negotiated values in {@link SessionParams} and {@link ConnectionParams}. */
export type ParamName =
  | 'headerDigest'
  | 'dataDigest'
  | 'maxConnections'
  | 'initialR2T'
  | 'immediateData'
  | 'maxBurstLength'
  | 'firstBurstLength'
  | 'defaultTime2Wait'
  | 'defaultTime2Retain'
  | 'maxOutstandingR2T'
  | 'dataPDUInOrder'
  | 'dataSequenceInOrder'
  | 'errorRecoveryLevel'
  | 'iSCSIProtocolLevel'
  | 'taskReporting'
  | 'authMethod';

/** One key of the table. */
export interface KeyDefinition {
  /** The key name, case-sensitive (RFC 7143 §6.1). */
  readonly name: string;
  /** Where it is defined, e.g. 'RFC 7143 §13.13'. */
  readonly section: string;
  readonly scope: KeyScope;
  /** When the key may be used; for keys whose use differs by sender, the initiator's. */
  readonly use: KeyUse;
  /** When the target may send it, if different from `use` (TargetName: FFPO, in SendTargets responses). */
  readonly targetUse?: KeyUse;
  /** RFC 7143 §12: one of the keys also allowed in the SecurityNegotiation stage. */
  readonly anyStage: boolean;
  readonly senders: KeySenders;
  readonly type: ValueType;
  readonly result: ResultFunction;
  /** Wire value in force when the key is not negotiated. */
  readonly default?: string;
  /** Numeric bounds (inclusive) for `numeric`, `numeric-range` and `binary-number`. */
  readonly range?: { readonly min: number; readonly max: number };
  /** The values defined by the RFC for `list` and `enum` keys. */
  readonly values?: readonly string[];
  /** Answered "Irrelevant" in a Discovery session (RFC 7143 §13 "Irrelevant when: SessionType=Discovery"). */
  readonly irrelevantInDiscovery?: boolean;
  /** Our value in a Discovery session, which the RFC fixes (ErrorRecoveryLevel 0, §13.21). */
  readonly discoveryValue?: string;
  /** The key may legitimately appear more than once in one negotiation (TargetAddress, §6.2). */
  readonly repeatable?: boolean;
  /** Answer to an obsolete key (§13.25); `markerPolicy` means the node's IFMarker/OFMarker choice. */
  readonly obsoleteAnswer?: 'Reject' | 'markerPolicy';
  /** Field of SessionParams/ConnectionParams this key negotiates. */
  readonly param?: ParamName;
}

const DISCOVERY = { irrelevantInDiscovery: true } as const;
const MAX_24 = 2 ** 24 - 1;

/**
 * Every key of RFC 7143 §12.1 and §13 (with RFC 7144 §2.1's iSCSIProtocolLevel). Order is the RFC's.
 */
export const KEY_DEFINITIONS: readonly KeyDefinition[] = [
  // §13.1: the digest lists; CRC32C and None are mandatory to implement.
  { name: 'HeaderDigest', section: 'RFC 7143 §13.1', scope: 'connection', use: 'IO', anyStage: false, senders: 'both', type: 'list', result: 'first-acceptable', default: 'None', values: ['CRC32C', 'None'], param: 'headerDigest' },
  { name: 'DataDigest', section: 'RFC 7143 §13.1', scope: 'connection', use: 'IO', anyStage: false, senders: 'both', type: 'list', result: 'first-acceptable', default: 'None', values: ['CRC32C', 'None'], param: 'dataDigest' },
  // §13.2; "the Discovery session implies MaxConnections = 1" (§13.21).
  { name: 'MaxConnections', section: 'RFC 7143 §13.2', scope: 'session', use: 'LO', anyStage: false, senders: 'both', type: 'numeric', result: 'min', default: '1', range: { min: 1, max: 65535 }, ...DISCOVERY, param: 'maxConnections' },
  // §13.3: a Text Request operation, answered by the target's SendTargets logic, not negotiated.
  { name: 'SendTargets', section: 'RFC 7143 §13.3', scope: 'session', use: 'FFPO', anyStage: false, senders: 'initiator', type: 'text', result: 'request' },
  // §13.4: IO by initiator, FFPO by target (only in a SendTargets response).
  { name: 'TargetName', section: 'RFC 7143 §13.4', scope: 'session', use: 'IO', targetUse: 'FFPO', anyStage: true, senders: 'both', type: 'iscsi-name', result: 'declarative' },
  { name: 'InitiatorName', section: 'RFC 7143 §13.5', scope: 'session', use: 'IO', anyStage: true, senders: 'initiator', type: 'iscsi-name', result: 'declarative' },
  { name: 'TargetAlias', section: 'RFC 7143 §13.6', scope: 'session', use: 'ALL', anyStage: true, senders: 'target', type: 'local-name', result: 'declarative' },
  { name: 'InitiatorAlias', section: 'RFC 7143 §13.7', scope: 'session', use: 'ALL', anyStage: true, senders: 'initiator', type: 'local-name', result: 'declarative' },
  // §13.8: repeated in SendTargets responses and login redirection.
  { name: 'TargetAddress', section: 'RFC 7143 §13.8', scope: 'session', use: 'ALL', anyStage: true, senders: 'target', type: 'text', result: 'declarative', repeatable: true },
  // §13.9: a 16-bit binary-value, IO by target.
  { name: 'TargetPortalGroupTag', section: 'RFC 7143 §13.9', scope: 'session', use: 'IO', anyStage: true, senders: 'target', type: 'binary-number', result: 'declarative', range: { min: 0, max: 65535 } },
  { name: 'InitialR2T', section: 'RFC 7143 §13.10', scope: 'session', use: 'LO', anyStage: false, senders: 'both', type: 'boolean', result: 'or', default: 'Yes', ...DISCOVERY, param: 'initialR2T' },
  { name: 'ImmediateData', section: 'RFC 7143 §13.11', scope: 'session', use: 'LO', anyStage: false, senders: 'both', type: 'boolean', result: 'and', default: 'Yes', ...DISCOVERY, param: 'immediateData' },
  // §13.12: declared by each side for its own receive direction.
  { name: 'MaxRecvDataSegmentLength', section: 'RFC 7143 §13.12', scope: 'connection', use: 'ALL', anyStage: false, senders: 'both', type: 'numeric', result: 'declarative', default: '8192', range: { min: 512, max: MAX_24 } },
  { name: 'MaxBurstLength', section: 'RFC 7143 §13.13', scope: 'session', use: 'LO', anyStage: false, senders: 'both', type: 'numeric', result: 'min', default: '262144', range: { min: 512, max: MAX_24 }, ...DISCOVERY, param: 'maxBurstLength' },
  // §13.14: also Irrelevant when InitialR2T=Yes and ImmediateData=No; must not exceed MaxBurstLength.
  { name: 'FirstBurstLength', section: 'RFC 7143 §13.14', scope: 'session', use: 'LO', anyStage: false, senders: 'both', type: 'numeric', result: 'min', default: '65536', range: { min: 512, max: MAX_24 }, ...DISCOVERY, param: 'firstBurstLength' },
  { name: 'DefaultTime2Wait', section: 'RFC 7143 §13.15', scope: 'session', use: 'LO', anyStage: false, senders: 'both', type: 'numeric', result: 'max', default: '2', range: { min: 0, max: 3600 }, param: 'defaultTime2Wait' },
  { name: 'DefaultTime2Retain', section: 'RFC 7143 §13.16', scope: 'session', use: 'LO', anyStage: false, senders: 'both', type: 'numeric', result: 'min', default: '20', range: { min: 0, max: 3600 }, param: 'defaultTime2Retain' },
  { name: 'MaxOutstandingR2T', section: 'RFC 7143 §13.17', scope: 'session', use: 'LO', anyStage: false, senders: 'both', type: 'numeric', result: 'min', default: '1', range: { min: 1, max: 65535 }, ...DISCOVERY, param: 'maxOutstandingR2T' },
  { name: 'DataPDUInOrder', section: 'RFC 7143 §13.18', scope: 'session', use: 'LO', anyStage: false, senders: 'both', type: 'boolean', result: 'or', default: 'Yes', ...DISCOVERY, param: 'dataPDUInOrder' },
  { name: 'DataSequenceInOrder', section: 'RFC 7143 §13.19', scope: 'session', use: 'LO', anyStage: false, senders: 'both', type: 'boolean', result: 'or', default: 'Yes', ...DISCOVERY, param: 'dataSequenceInOrder' },
  // §13.20; §13.21: "ErrorRecoveryLevel MUST be 0 (zero) for Discovery sessions".
  { name: 'ErrorRecoveryLevel', section: 'RFC 7143 §13.20', scope: 'session', use: 'LO', anyStage: false, senders: 'both', type: 'numeric', result: 'min', default: '0', range: { min: 0, max: 2 }, discoveryValue: '0', param: 'errorRecoveryLevel' },
  { name: 'SessionType', section: 'RFC 7143 §13.21', scope: 'session', use: 'LO', anyStage: true, senders: 'initiator', type: 'enum', result: 'declarative', default: 'Normal', values: ['Discovery', 'Normal'] },
  // §12.1: the authentication method list; "None" when not negotiated.
  { name: 'AuthMethod', section: 'RFC 7143 §12.1', scope: 'connection', use: 'security', anyStage: true, senders: 'both', type: 'list', result: 'first-acceptable', default: 'None', values: ['KRB5', 'SRP', 'CHAP', 'None'], param: 'authMethod' },
  // §12.1.3 CHAP.
  { name: 'CHAP_A', section: 'RFC 7143 §12.1.3', scope: 'connection', use: 'security', anyStage: true, senders: 'both', type: 'list', result: 'auth' },
  { name: 'CHAP_I', section: 'RFC 7143 §12.1.3', scope: 'connection', use: 'security', anyStage: true, senders: 'both', type: 'binary-number', result: 'auth', range: { min: 0, max: 255 } },
  { name: 'CHAP_C', section: 'RFC 7143 §12.1.3', scope: 'connection', use: 'security', anyStage: true, senders: 'both', type: 'binary', result: 'auth' },
  { name: 'CHAP_N', section: 'RFC 7143 §12.1.3', scope: 'connection', use: 'security', anyStage: true, senders: 'both', type: 'text', result: 'auth' },
  { name: 'CHAP_R', section: 'RFC 7143 §12.1.3', scope: 'connection', use: 'security', anyStage: true, senders: 'both', type: 'binary', result: 'auth' },
  // §12.1.1 KRB5 and §12.1.2 SRP: not implemented as methods, but known so their keys are classified.
  { name: 'KRB_AP_REQ', section: 'RFC 7143 §12.1.1', scope: 'connection', use: 'security', anyStage: true, senders: 'initiator', type: 'binary', result: 'auth' },
  { name: 'KRB_AP_REP', section: 'RFC 7143 §12.1.1', scope: 'connection', use: 'security', anyStage: true, senders: 'target', type: 'binary', result: 'auth' },
  { name: 'SRP_U', section: 'RFC 7143 §12.1.2', scope: 'connection', use: 'security', anyStage: true, senders: 'initiator', type: 'text', result: 'auth' },
  { name: 'TargetAuth', section: 'RFC 7143 §12.1.2', scope: 'connection', use: 'security', anyStage: true, senders: 'initiator', type: 'boolean', result: 'auth' },
  { name: 'SRP_GROUP', section: 'RFC 7143 §12.1.2', scope: 'connection', use: 'security', anyStage: true, senders: 'both', type: 'list', result: 'auth' },
  { name: 'SRP_s', section: 'RFC 7143 §12.1.2', scope: 'connection', use: 'security', anyStage: true, senders: 'target', type: 'binary', result: 'auth' },
  { name: 'SRP_A', section: 'RFC 7143 §12.1.2', scope: 'connection', use: 'security', anyStage: true, senders: 'initiator', type: 'binary', result: 'auth' },
  { name: 'SRP_B', section: 'RFC 7143 §12.1.2', scope: 'connection', use: 'security', anyStage: true, senders: 'target', type: 'binary', result: 'auth' },
  { name: 'SRP_M', section: 'RFC 7143 §12.1.2', scope: 'connection', use: 'security', anyStage: true, senders: 'initiator', type: 'binary', result: 'auth' },
  { name: 'SRP_HM', section: 'RFC 7143 §12.1.2', scope: 'connection', use: 'security', anyStage: true, senders: 'target', type: 'binary', result: 'auth' },
  // §13.23: "at least the RFC3720 and ResponseFence values MUST be offered" when negotiated.
  { name: 'TaskReporting', section: 'RFC 7143 §13.23', scope: 'session', use: 'LO', anyStage: false, senders: 'both', type: 'list', result: 'first-acceptable', default: 'RFC3720', values: ['RFC3720', 'ResponseFence', 'FastAbort'], ...DISCOVERY, param: 'taskReporting' },
  // RFC 7144 §2.1 (and RFC 7143 §13.24): 1 is RFC 7143, 2 adds RFC 7144's features.
  { name: 'iSCSIProtocolLevel', section: 'RFC 7144 §2.1', scope: 'session', use: 'LO', anyStage: false, senders: 'both', type: 'numeric', result: 'min', default: '1', range: { min: 0, max: 31 }, ...DISCOVERY, param: 'iSCSIProtocolLevel' },
  // §13.25: obsolete. IFMarker/OFMarker: SHOULD answer Reject, MAY answer No, MUST NOT answer NotUnderstood.
  // IFMarkInt/OFMarkInt: MUST answer Reject. (RFC 3720 §A.3: IO, both, CO; markers AND, default No.)
  { name: 'OFMarker', section: 'RFC 7143 §13.25', scope: 'connection', use: 'IO', anyStage: false, senders: 'both', type: 'boolean', result: 'obsolete', default: 'No', obsoleteAnswer: 'markerPolicy' },
  { name: 'IFMarker', section: 'RFC 7143 §13.25', scope: 'connection', use: 'IO', anyStage: false, senders: 'both', type: 'boolean', result: 'obsolete', default: 'No', obsoleteAnswer: 'markerPolicy' },
  { name: 'OFMarkInt', section: 'RFC 7143 §13.25', scope: 'connection', use: 'IO', anyStage: false, senders: 'both', type: 'numeric-range', result: 'obsolete', default: '2048~2048', range: { min: 1, max: 65535 }, obsoleteAnswer: 'Reject' },
  { name: 'IFMarkInt', section: 'RFC 7143 §13.25', scope: 'connection', use: 'IO', anyStage: false, senders: 'both', type: 'numeric-range', result: 'obsolete', default: '2048~2048', range: { min: 1, max: 65535 }, obsoleteAnswer: 'Reject' },
  // §13.26 (RFC 4850): a declarative public extension key, at most 255 bytes, Normal or Discovery.
  { name: 'X#NodeArchitecture', section: 'RFC 7143 §13.26', scope: 'session', use: 'LO', anyStage: false, senders: 'both', type: 'list', result: 'declarative' },
];

/** The table indexed by key name. */
export const KEYS: ReadonlyMap<string, KeyDefinition> = new Map(KEY_DEFINITIONS.map((d) => [d.name, d]));

/** The definition of `name`, or undefined for a key this node does not know (answered NotUnderstood). */
export function lookupKey(name: string, extensions?: ReadonlyMap<string, KeyDefinition>): KeyDefinition | undefined {
  return KEYS.get(name) ?? extensions?.get(name);
}

/**
 * True for private (`X-`) and public (`X#`) extension key names (RFC 7143 §13.22, §13.26). Unknown ones
 * are answered NotUnderstood; RFC 7143 §13.22: vendor-specific keys "MUST ONLY be used in Normal sessions".
 */
export function isExtensionKey(name: string): boolean {
  return name.startsWith('X-') || name.startsWith('X#');
}

/**
 * The reserved constants of RFC 7143 §6.2: valid only as answers ("None" also as a list value); using
 * Reject, Irrelevant or NotUnderstood as an offered value is a protocol error.
 */
export const NotUnderstood = 'NotUnderstood';
/** See {@link NotUnderstood}. */
export const Irrelevant = 'Irrelevant';
/** See {@link NotUnderstood}. */
export const Reject = 'Reject';
/** See {@link NotUnderstood}. */
export const None = 'None';

/** The negotiated header/data digest (RFC 7143 §13.1). */
export type DigestName = 'CRC32C' | 'None';
/** Task completion reporting semantics (RFC 7143 §13.23). */
export type TaskReportingValue = 'RFC3720' | 'ResponseFence' | 'FastAbort';
/** RFC 7143 §13.21. */
export type SessionType = 'Normal' | 'Discovery';

/**
 * The session-wide operational keys whose value is one number or one Boolean (RFC 7143 §13.2, §13.10,
 * §13.11, §13.13 to §13.20; RFC 7144 §2.1). The same fields hold the values in force
 * ({@link SessionParams}) and a node's wishes (the negotiation policy, login/policy.ts).
 */
export interface SessionKeyValues {
  maxConnections: number;
  initialR2T: boolean;
  immediateData: boolean;
  maxBurstLength: number;
  /** In force: never more than maxBurstLength (RFC 7143 §13.14). */
  firstBurstLength: number;
  defaultTime2Wait: number;
  defaultTime2Retain: number;
  maxOutstandingR2T: number;
  dataPDUInOrder: boolean;
  dataSequenceInOrder: boolean;
  errorRecoveryLevel: number;
  iSCSIProtocolLevel: number;
}

/** Session-wide values (RFC 7143 §13, scope SW), in force after login. */
export interface SessionParams extends SessionKeyValues {
  sessionType: SessionType;
  initiatorName: string | undefined;
  initiatorAlias: string | undefined;
  targetName: string | undefined;
  targetAlias: string | undefined;
  targetPortalGroupTag: number | undefined;
  taskReporting: TaskReportingValue;
}

/** Connection-only values (RFC 7143 §13, scope CO). */
export interface ConnectionParams {
  headerDigest: DigestName;
  dataDigest: DigestName;
  /** What this node declared it can receive (RFC 7143 §13.12); the peer must send no larger segments. */
  maxRecvDataSegmentLength: number;
  /** What the peer declared it can receive: the largest data segment this node may send. */
  maxSendDataSegmentLength: number;
  /** The authentication method used on this connection (RFC 7143 §12.1). */
  authMethod: string;
}

/** The values in force before any negotiation: the RFC 7143 §13 defaults. */
export function defaultSessionParams(): SessionParams {
  return {
    sessionType: 'Normal',
    initiatorName: undefined,
    initiatorAlias: undefined,
    targetName: undefined,
    targetAlias: undefined,
    targetPortalGroupTag: undefined,
    maxConnections: 1,
    initialR2T: true,
    immediateData: true,
    maxBurstLength: 262144,
    firstBurstLength: 65536,
    defaultTime2Wait: 2,
    defaultTime2Retain: 20,
    maxOutstandingR2T: 1,
    dataPDUInOrder: true,
    dataSequenceInOrder: true,
    errorRecoveryLevel: 0,
    iSCSIProtocolLevel: 1,
    taskReporting: 'RFC3720',
  };
}

/** Connection defaults (RFC 7143 §13.1, §13.12): no digests, 8192-byte segments both ways. */
export function defaultConnectionParams(): ConnectionParams {
  return { headerDigest: 'None', dataDigest: 'None', maxRecvDataSegmentLength: 8192, maxSendDataSegmentLength: 8192, authMethod: 'None' };
}

/** Longest iSCSI name, in bytes of UTF-8 (RFC 7143 §4.2.7.1). */
export const ISCSI_NAME_MAX_BYTES = 223;

/** Why `name` is not an iSCSI name (RFC 7143 §4.2.7): its three formats iqn., eui. and naa.; or undefined. */
export function iscsiNameProblem(name: string): string | undefined {
  const bytes = Buffer.byteLength(name);
  if (bytes === 0) return 'is empty';
  if (bytes > ISCSI_NAME_MAX_BYTES) return `is ${bytes} bytes, more than ${ISCSI_NAME_MAX_BYTES}`;
  if (/[\s\u0000-\u001f\u007f,]/u.test(name)) return 'contains a space, control character or comma';
  const lower = name.toLowerCase();
  if (lower.startsWith('iqn.')) return lower.length > 4 ? undefined : 'has nothing after iqn.';
  if (lower.startsWith('eui.')) return /^eui\.[0-9a-f]{16}$/.test(lower) ? undefined : 'is not eui. and 16 hex digits';
  if (lower.startsWith('naa.')) return /^naa\.(?:[0-9a-f]{16}|[0-9a-f]{32})$/.test(lower) ? undefined : 'is not naa. and 16 or 32 hex digits';
  return 'does not start with iqn., eui. or naa.';
}
