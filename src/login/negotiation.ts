// Text-mode negotiation (RFC 7143 §6.2 to §6.4) for both ends, driven by the key table in keys.ts: a
// KeyNegotiator answers, proposes, declares and checks keys for one login phase or one text negotiation,
// and TargetLoginNegotiator/InitiatorLoginNegotiator add the login stages and CHAP (§6.3, §12). No I/O.

import { IscsiProtocolError, type ProtocolErrorInit } from '../errors.js';
import { LoginStatus, RejectReason, Stage } from '../pdu/constants.js';
import { decodeNumericValue, tryParseNumericValue, type TextPair } from '../pdu/text-keys.js';
import { ChapAuthenticator, ChapClient, ChapConfigError, type ChapAuthenticatorOptions, type ChapClientOptions } from './chap.js';
import {
  KEY_DEFINITIONS,
  Irrelevant,
  NotUnderstood,
  Reject,
  defaultConnectionParams,
  defaultSessionParams,
  isExtensionKey,
  lookupKey,
  type ConnectionParams,
  type DigestName,
  type KeyDefinition,
  type SessionParams,
  type SessionType,
  type TaskReportingValue,
} from './keys.js';

/** A login stage a Login PDU can be in (CSG, RFC 7143 §11.12.3). */
export type LoginStage = typeof Stage.Security | typeof Stage.Operational;
/** A stage a Login PDU can move to (NSG). */
export type NextStage = LoginStage | typeof Stage.FullFeature;
/** Which end this node is. */
export type Role = 'initiator' | 'target';
/** A Login Phase (all its stages) or one text negotiation in Full Feature Phase (§6.4). */
export type NegotiationMode = 'login' | 'text';
/** Authentication methods this module implements (RFC 7143 §12.1). */
export type AuthMethodName = 'CHAP' | 'None';

/**
 * What this node wants or accepts, one field per negotiable key (RFC 7143 §13). Numbers are this node's
 * value for the key's result function: for Minimum keys the most it accepts, for Maximum keys the least.
 * Lists are in order of preference when offering, and the accepted set when answering (the offerer's
 * order decides, §6.2.1).
 */
export interface NegotiationPolicy {
  headerDigest: DigestName[];
  dataDigest: DigestName[];
  maxConnections: number;
  initialR2T: boolean;
  immediateData: boolean;
  /** Declared, not negotiated: the largest data segment this node receives (§13.12). */
  maxRecvDataSegmentLength: number;
  maxBurstLength: number;
  firstBurstLength: number;
  defaultTime2Wait: number;
  defaultTime2Retain: number;
  maxOutstandingR2T: number;
  dataPDUInOrder: boolean;
  dataSequenceInOrder: boolean;
  errorRecoveryLevel: number;
  iSCSIProtocolLevel: number;
  taskReporting: TaskReportingValue[];
  authMethod: AuthMethodName[];
  /** Answer to the obsolete IFMarker/OFMarker keys: "Reject" (SHOULD) or "No" (MAY), RFC 7143 §13.25. */
  markerAnswer: 'Reject' | 'No';
}

/**
 * Target defaults: RFC 7143 defaults, ErrorRecoveryLevel 0, one connection per session, both digests
 * accepted, 256 KiB receive segments, no authentication.
 */
export const DEFAULT_TARGET_POLICY: Readonly<NegotiationPolicy> = Object.freeze<NegotiationPolicy>({
  headerDigest: ['CRC32C', 'None'],
  dataDigest: ['CRC32C', 'None'],
  maxConnections: 1,
  initialR2T: true,
  immediateData: true,
  maxRecvDataSegmentLength: 262144,
  maxBurstLength: 262144,
  firstBurstLength: 65536,
  defaultTime2Wait: 2,
  defaultTime2Retain: 20,
  maxOutstandingR2T: 1,
  dataPDUInOrder: true,
  dataSequenceInOrder: true,
  errorRecoveryLevel: 0,
  iSCSIProtocolLevel: 1,
  taskReporting: ['RFC3720'],
  authMethod: ['None'],
  markerAnswer: 'Reject',
});

/**
 * Initiator defaults, close to what the Linux initiator offers: no digests preferred, unsolicited and
 * immediate data wanted, large bursts (the target's Minimum decides), ErrorRecoveryLevel 0.
 */
export const DEFAULT_INITIATOR_POLICY: Readonly<NegotiationPolicy> = Object.freeze<NegotiationPolicy>({
  headerDigest: ['None', 'CRC32C'],
  dataDigest: ['None', 'CRC32C'],
  maxConnections: 1,
  initialR2T: false,
  immediateData: true,
  maxRecvDataSegmentLength: 262144,
  maxBurstLength: 16776192,
  firstBurstLength: 262144,
  defaultTime2Wait: 2,
  defaultTime2Retain: 20,
  maxOutstandingR2T: 1,
  dataPDUInOrder: true,
  dataSequenceInOrder: true,
  errorRecoveryLevel: 0,
  iSCSIProtocolLevel: 1,
  taskReporting: ['RFC3720'],
  authMethod: ['None'],
  markerAnswer: 'Reject',
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

/** A negotiation broke RFC 7143 §6: the peer's fault, or a result this node cannot accept. */
export class NegotiationError extends IscsiProtocolError {
  /** The key concerned, if one. */
  readonly key: string | undefined;
  constructor(code: string, message: string, init: ProtocolErrorInit, key?: string) {
    super(code, message, init);
    this.name = 'NegotiationError';
    this.key = key;
  }
}

/** Options of {@link KeyNegotiator}. */
export interface KeyNegotiatorOptions {
  role: Role;
  /** Default `'login'`. */
  mode?: NegotiationMode;
  /** False for a connection added to an existing session: LO keys are then not allowed. Default true. */
  leading?: boolean;
  /** This node's wishes; missing fields come from the role's default policy. */
  policy?: Partial<NegotiationPolicy>;
  /** Names, aliases and tag this node declares (login mode). */
  local?: LocalDeclarations;
  /** Values already in force (text negotiation in Full Feature Phase, or a non-leading login). */
  current?: NegotiatedParams;
  /**
   * Extension keys this node understands (X- or X# names). Negotiated ones use `extensionValues` as this
   * node's value; others are answered NotUnderstood.
   */
  extensions?: readonly KeyDefinition[];
  /** This node's wire value for each negotiated extension key. */
  extensionValues?: Readonly<Record<string, string>>;
}

/** What one {@link KeyNegotiator.step} produced. */
export interface StepResult {
  /** To send: answers in the order the peer's keys came, then this node's declarations and offers. */
  pairs: TextPair[];
  /**
   * Keys the engine does not negotiate itself, in order: the authentication method's keys (RFC 7143
   * §12.1, during SecurityNegotiation) and operations (SendTargets, §13.3, in Full Feature Phase).
   */
  delegated: TextPair[];
}

interface KeyState {
  readonly def: KeyDefinition | undefined;
  /** The value the peer offered or declared. */
  peer?: string;
  /** This node's answer to the peer's offer. */
  answer?: string;
  /** This node's offer. */
  offered?: string;
  /** The step in which the offer was sent. */
  offeredAt?: number;
  /** The peer's answer to this node's offer. */
  answered?: string;
  /** This node's declaration. */
  declared?: string;
  /** The negotiated wire value; undefined means the value in force stays (Reject, Irrelevant, ...). */
  result?: string;
}

const RESERVED = new Set([Reject, Irrelevant, NotUnderstood]);
const YES_NO = new Set(['Yes', 'No']);
const NEGOTIATED = new Set(['and', 'or', 'min', 'max', 'first-acceptable']);

const ISCSI_NAME_MAX_BYTES = 223; // RFC 7143 §4.2.7.1

/** Why `name` is not an iSCSI name (RFC 7143 §4.2.7), or undefined. */
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

function toWire(def: KeyDefinition, v: unknown): string {
  if (Array.isArray(v)) return v.join(',');
  if (typeof v === 'boolean') return v ? 'Yes' : 'No';
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return v;
  throw new TypeError(`no wire form for ${def.name}=${String(v)}`);
}

function fromWire(def: KeyDefinition, v: string): boolean | number | string {
  switch (def.type) {
    case 'boolean':
      return v === 'Yes';
    case 'numeric':
      return Number(decodeNumericValue(v));
    default:
      return v;
  }
}

/** RFC 7143 §6.2.2: the answer is optional when the offer alone decides the outcome. */
function optionalAnswer(def: KeyDefinition, offered: string): boolean {
  return (def.result === 'and' && offered === 'No') || (def.result === 'or' && offered === 'Yes');
}

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

/**
 * The table-driven engine of RFC 7143 §6.2 for one negotiation: a whole Login Phase of one connection
 * (all stages), or one text negotiation in Full Feature Phase. Feed it the peer's complete key sets
 * (joined across C-bit PDUs) with {@link step}; it answers, declares and proposes, and at the end
 * {@link finish} gives the values in force.
 *
 * As answerer it applies the key's result function (AND, OR, Minimum, Maximum, first acceptable of a
 * list) against this node's policy; answers Reject to values that are not admissible (a number out of
 * range, a Boolean that is not Yes/No, a list with nothing acceptable); Irrelevant to keys that do not
 * apply (operational keys of a Discovery session, FirstBurstLength when InitialR2T=Yes and
 * ImmediateData=No); NotUnderstood to unknown keys; and does not answer declarations. As offerer it
 * checks every answer against what it offered and its policy. Protocol errors (a key sent twice, a key in
 * the wrong phase or from the wrong sender, a reserved constant offered, an inadmissible answer) throw
 * {@link NegotiationError} carrying what to do: a target answers a Login Request with a Login reject, a
 * Text Request with a Reject PDU; an initiator drops the connection.
 */
export class KeyNegotiator {
  readonly #role: Role;
  readonly #peerRole: Role;
  readonly #mode: NegotiationMode;
  readonly #leading: boolean;
  readonly #policy: NegotiationPolicy;
  readonly #ours = new Map<string, string>();
  readonly #base = new Map<string, string>();
  readonly #current: NegotiatedParams;
  readonly #local: LocalDeclarations;
  readonly #extensions: ReadonlyMap<string, KeyDefinition>;
  readonly #states = new Map<string, KeyState>();
  readonly #seenFromPeer = new Set<string>();
  readonly #peerDeclared = new Map<string, string[]>();
  readonly #queued: TextPair[] = [];
  readonly #stagesSeen = new Set<LoginStage>();
  #sessionType: SessionType;
  #steps = 0;
  #finished = false;

  constructor(options: KeyNegotiatorOptions) {
    this.#role = options.role;
    this.#peerRole = options.role === 'initiator' ? 'target' : 'initiator';
    this.#mode = options.mode ?? 'login';
    this.#leading = options.leading ?? true;
    const defaults = options.role === 'target' ? DEFAULT_TARGET_POLICY : DEFAULT_INITIATOR_POLICY;
    // Fields given as undefined keep the role's default.
    const given = Object.fromEntries(Object.entries(options.policy ?? {}).filter(([, v]) => v !== undefined));
    this.#policy = { ...defaults, ...given };
    checkPolicy(this.#policy);
    this.#local = { ...options.local };
    this.#current = options.current ?? { session: defaultSessionParams(), connection: defaultConnectionParams() };
    this.#extensions = new Map((options.extensions ?? []).map((d) => [d.name, d]));
    for (const d of this.#extensions.values()) {
      if (!isExtensionKey(d.name)) throw new RangeError(`extension key ${d.name} must start with X- or X# (RFC 7143 §13.22)`);
    }
    // Wire values: this node's (from the policy) and those in force now (current values or defaults).
    for (const def of KEY_DEFINITIONS) {
      if (def.param === undefined) continue;
      this.#ours.set(def.name, toWire(def, this.#policy[def.param]));
      const p = def.param in this.#current.session ? this.#current.session[def.param as keyof SessionParams] : this.#current.connection[def.param as keyof ConnectionParams];
      this.#base.set(def.name, toWire(def, p));
    }
    for (const [name, value] of Object.entries(options.extensionValues ?? {})) this.#ours.set(name, value);
    this.#sessionType = this.#role === 'initiator' || !this.#leading || this.#mode === 'text' ? (this.#local.sessionType ?? this.#current.session.sessionType) : 'Normal';
    if (this.#role === 'initiator' && this.#mode === 'login') {
      if (this.#local.initiatorName === undefined) throw new TypeError('an initiator must declare its InitiatorName (RFC 7143 §13.5)');
      const problem = iscsiNameProblem(this.#local.initiatorName);
      if (problem !== undefined) throw new RangeError(`InitiatorName ${problem}`);
      if (this.#sessionType === 'Normal' && this.#local.targetName === undefined) throw new TypeError('a Normal session needs a TargetName (RFC 7143 §13.4)');
      // §13.23: whoever offers TaskReporting MUST offer at least RFC3720 and ResponseFence.
      const tr = this.#policy.taskReporting;
      if (tr.join(',') !== 'RFC3720' && !(tr.includes('RFC3720') && tr.includes('ResponseFence'))) {
        throw new RangeError('a TaskReporting offer must include RFC3720 and ResponseFence (RFC 7143 §13.23)');
      }
    }
  }

  /** The session type: declared by the initiator (RFC 7143 §13.21), Normal by default. */
  get sessionType(): SessionType {
    return this.#sessionType;
  }

  /** The policy in use (role defaults merged with the options). */
  get policy(): Readonly<NegotiationPolicy> {
    return this.#policy;
  }

  /**
   * Keys this node offered whose answer is still needed. Offers whose answer is optional (§6.2.2: AND
   * offered No, OR offered Yes, where the offer alone decides the outcome) are not counted: they may go
   * out with T=1, and a peer may leave them unanswered.
   */
  pendingAnswers(): string[] {
    const out: string[] = [];
    for (const [key, st] of this.#states) {
      if (st.offered !== undefined && st.answered === undefined && !optionalAnswer(st.def!, st.offered)) out.push(key);
    }
    return out;
  }

  /** Pending answers to offers sent before the peer's last key set: the peer let them go unanswered. */
  overdueAnswers(): string[] {
    return this.pendingAnswers().filter((k) => this.#states.get(k)!.offeredAt! < this.#steps);
  }

  /** The value the peer declared for `key` (the first, for repeatable keys), if any. */
  peerDeclaration(key: string): string | undefined {
    return this.#peerDeclared.get(key)?.[0];
  }

  /** Every value the peer declared for `key` (TargetAddress may come several times). */
  peerDeclarations(key: string): readonly string[] {
    return this.#peerDeclared.get(key) ?? [];
  }

  /**
   * Where `key` stands: the negotiated wire value, or the constant that ended its negotiation (Reject,
   * Irrelevant, NotUnderstood), or undefined when not (yet) negotiated.
   */
  outcome(key: string): string | undefined {
    const st = this.#states.get(key);
    if (st === undefined) return undefined;
    if (st.result !== undefined) return st.result;
    if (st.answer !== undefined) return st.answer;
    return st.answered;
  }

  /**
   * True when this node's answer to the peer's offer of `key` can be left unsent: the offer alone decides
   * the outcome (§6.2.2: AND of No, OR of Yes), or the key is unknown or obsolete (nothing was agreed).
   */
  answerOptional(key: string): boolean {
    const st = this.#states.get(key);
    if (st?.peer === undefined) return true;
    if (st.def === undefined || st.def.result === 'obsolete' || st.answer === NotUnderstood) return true;
    return optionalAnswer(st.def, st.peer);
  }

  /** True once the peer offered `key` (as opposed to answering this node's offer). */
  peerOffered(key: string): boolean {
    return this.#states.get(key)?.peer !== undefined;
  }

  /**
   * Queue an offer or declaration of this node, sent with the next {@link step}'s pairs. For text
   * negotiation in Full Feature Phase (e.g. a new MaxRecvDataSegmentLength) or extension keys.
   */
  offer(key: string, value: string): void {
    const def = lookupKey(key, this.#extensions);
    if (def === undefined) throw new RangeError(`unknown key ${key}`);
    if (def.senders !== 'both' && def.senders !== this.#role) throw new RangeError(`${key} is not sent by the ${this.#role} (${def.section})`);
    const st = this.#state(key, def);
    if (st.offered !== undefined || st.declared !== undefined || st.peer !== undefined) throw new RangeError(`${key} was already negotiated in this sequence (RFC 7143 §6.2)`);
    if (def.result === 'declarative') st.declared = value;
    else {
      st.offered = value;
      st.offeredAt = this.#steps + 1;
    }
    this.#queued.push([key, value]);
  }

  /**
   * Process one complete key set from the peer (one logical text data segment) and produce what to send.
   * @param incoming the peer's pairs, in order; empty for this node's first offer
   * @param options `stage`: the login stage (CSG) in login mode; `peerTransit`: the peer's T bit (a target
   *   makes its own offers only when the initiator is ready to leave the stage, so they do not cross)
   * @throws NegotiationError on a protocol error
   */
  step(incoming: readonly (readonly [string, string])[], options: { stage?: LoginStage; peerTransit?: boolean } = {}): StepResult {
    if (this.#finished) throw new Error('negotiation already finished');
    const stage = options.stage;
    if (this.#mode === 'login' && stage !== Stage.Security && stage !== Stage.Operational) {
      throw new TypeError('login negotiation needs the stage (Stage.Security or Stage.Operational)');
    }
    const firstStep = this.#steps === 0;
    this.#steps++;
    const firstInStage = stage !== undefined && !this.#stagesSeen.has(stage);
    if (stage !== undefined) this.#stagesSeen.add(stage);

    // SessionType first, so that its irrelevance rules apply to the whole set (RFC 7143 §13.21).
    const ordered = [...incoming.filter(([k]) => k === 'SessionType'), ...incoming.filter(([k]) => k !== 'SessionType')];
    const answered: string[] = [];
    const delegated: TextPair[] = [];
    const seenNow = new Set<string>();
    for (const [key, value] of ordered) this.#receive(key, value, stage, answered, delegated, seenNow);
    this.#integrity(answered);

    const pairs: TextPair[] = answered.map((k) => [k, this.#states.get(k)!.answer!]);
    if (this.#role === 'target' && this.#mode === 'login' && firstStep) this.#checkFirstRequest();
    pairs.push(...this.#outgoing(stage, firstStep, firstInStage, options.peerTransit === true));
    return { pairs, delegated };
  }

  /**
   * End the negotiation and return the values in force: negotiated ones, and for every other key the
   * value before the negotiation (current or default). Applies the cross-key rules of RFC 7143 §13.14
   * (FirstBurstLength at most MaxBurstLength), §13.19 (MaxOutstandingR2T 1 when ErrorRecoveryLevel > 0
   * and DataSequenceInOrder=Yes) and §13.21 (Discovery: one connection, ErrorRecoveryLevel 0).
   * @throws NegotiationError when an offer that needed an answer got none (§6.2.2)
   */
  finish(): NegotiatedParams {
    for (const [key, st] of this.#states) {
      if (st.offered === undefined || st.answered !== undefined) continue;
      // §6.2.2: the only optional answers: AND offered No, OR offered Yes; the offer is then the outcome.
      if (optionalAnswer(st.def!, st.offered)) {
        st.result = st.offered;
        continue;
      }
      throw this.#peerError('ERR_NEGOTIATION_NO_ANSWER', `no answer to ${key}=${st.offered}`, 'RFC 7143 §6.2.2', LoginStatus.InitiatorError, key);
    }
    this.#finished = true;
    return this.params();
  }

  /** The values in force as negotiated so far (see {@link finish}, which also checks completeness). */
  params(): NegotiatedParams {
    const session: SessionParams = { ...this.#current.session };
    const connection: ConnectionParams = { ...this.#current.connection };
    const s = session as unknown as Record<string, unknown>;
    const c = connection as unknown as Record<string, unknown>;
    for (const st of this.#states.values()) {
      const def = st.def;
      if (def?.param === undefined || st.result === undefined) continue;
      const target = def.scope === 'session' ? s : c;
      target[def.param] = fromWire(def, st.result);
    }
    session.sessionType = this.#sessionType;
    // Names: each side's own declarations, and what the peer declared.
    const peer = (k: string): string | undefined => this.peerDeclaration(k);
    if (this.#mode === 'login') {
      if (this.#role === 'initiator') {
        session.initiatorName = this.#local.initiatorName;
        session.initiatorAlias = this.#local.initiatorAlias;
        session.targetName = this.#local.targetName;
        session.targetAlias = peer('TargetAlias') ?? session.targetAlias;
        const tpgt = peer('TargetPortalGroupTag');
        if (tpgt !== undefined) session.targetPortalGroupTag = tryParseNumericValue(tpgt, 0, 65535, 'binary');
      } else {
        session.initiatorName = peer('InitiatorName') ?? session.initiatorName;
        session.initiatorAlias = peer('InitiatorAlias') ?? session.initiatorAlias;
        session.targetName = peer('TargetName') ?? session.targetName;
        session.targetAlias = this.#local.targetAlias ?? session.targetAlias;
        session.targetPortalGroupTag = this.#local.targetPortalGroupTag ?? session.targetPortalGroupTag;
      }
    } else {
      const alias = peer(this.#role === 'initiator' ? 'TargetAlias' : 'InitiatorAlias');
      if (alias !== undefined) {
        if (this.#role === 'initiator') session.targetAlias = alias;
        else session.initiatorAlias = alias;
      }
    }
    // §13.12: each direction is what its receiver declared; undeclared means the value in force.
    const mine = this.#states.get('MaxRecvDataSegmentLength')?.declared;
    if (mine !== undefined) connection.maxRecvDataSegmentLength = Number(mine);
    const theirs = peer('MaxRecvDataSegmentLength');
    if (theirs !== undefined) connection.maxSendDataSegmentLength = Number(decodeNumericValue(theirs));
    // Cross-key rules.
    if (session.firstBurstLength > session.maxBurstLength) session.firstBurstLength = session.maxBurstLength; // §13.14
    if (session.errorRecoveryLevel > 0 && session.dataSequenceInOrder) session.maxOutstandingR2T = 1; // §13.19
    if (session.sessionType === 'Discovery') {
      session.maxConnections = 1; // §13.21
      session.errorRecoveryLevel = 0;
    }
    return { session, connection };
  }

  // ---- internals ----

  #state(key: string, def: KeyDefinition | undefined): KeyState {
    let st = this.#states.get(key);
    if (st === undefined) {
      st = { def };
      this.#states.set(key, st);
    }
    return st;
  }

  /** The error for something the peer did wrong, with the action RFC 7143 requires of this node. */
  #peerError(code: string, message: string, rule: string, loginStatus: number = LoginStatus.InitiatorError, key?: string): NegotiationError {
    let init: ProtocolErrorInit;
    if (this.#role === 'target') {
      init =
        this.#mode === 'login'
          ? { rule, action: 'login-reject', loginStatus } // §6.2: "Login reject (initiator error)"
          : { rule, action: 'reject', rejectReason: RejectReason.ProtocolError }; // §6.2: Reject, "protocol error"
    } else {
      init = { rule, action: 'drop', loginStatus }; // the initiator closes the connection
    }
    return new NegotiationError(code, message, init, key);
  }

  #receive(key: string, value: string, stage: LoginStage | undefined, answered: string[], delegated: TextPair[], seenNow: Set<string>): void {
    const def = lookupKey(key, this.#extensions);
    const st = this.#state(key, def);

    // An answer to this node's offer.
    if (st.offered !== undefined && st.answered === undefined) {
      if (seenNow.has(key)) throw this.#peerError('ERR_NEGOTIATION_DUPLICATE', `${key} answered twice`, 'RFC 7143 §6.2', LoginStatus.InitiatorError, key);
      seenNow.add(key);
      // Answered now: sending the key again later in this negotiation would be a renegotiation.
      this.#seenFromPeer.add(key);
      this.#takeAnswer(st, key, value);
      return;
    }
    // A reply to this node's declaration: declarations are not answered, but a node that does not
    // understand one says so (RFC 7143 §13.26 asks to be prepared for that). Tolerated.
    if (st.declared !== undefined && st.peer === undefined && RESERVED.has(value)) {
      if (seenNow.has(key)) throw this.#peerError('ERR_NEGOTIATION_DUPLICATE', `${key} answered twice`, 'RFC 7143 §6.2', LoginStatus.InitiatorError, key);
      seenNow.add(key);
      this.#seenFromPeer.add(key);
      st.answered = value;
      return;
    }
    // An offer or a declaration of the peer. §6.2: a key negotiated or declared once in a negotiation
    // sequence must not be sent again (TargetAddress excepted); the target answers that with a Login
    // reject (initiator error), or a Reject PDU in Full Feature Phase; the initiator drops the connection.
    if ((seenNow.has(key) || this.#seenFromPeer.has(key)) && def?.repeatable !== true) {
      throw this.#peerError('ERR_NEGOTIATION_DUPLICATE', `${key} sent more than once in one negotiation`, 'RFC 7143 §6.2', LoginStatus.InitiatorError, key);
    }
    seenNow.add(key);
    this.#seenFromPeer.add(key);
    if (RESERVED.has(value)) {
      throw this.#peerError('ERR_NEGOTIATION_RESERVED_VALUE', `${key}=${value}: a reserved constant used as an offer`, 'RFC 7143 §6.2', LoginStatus.InitiatorError, key);
    }
    st.peer = value;

    // §6.2: a key not understood is answered NotUnderstood; §13.22: extension keys only in Normal sessions.
    if (def === undefined || (isExtensionKey(key) && key !== 'X#NodeArchitecture' && this.#sessionType === 'Discovery')) {
      st.answer = NotUnderstood;
      answered.push(key);
      return;
    }
    this.#checkSender(def, key);
    this.#checkUse(def, key, stage);

    switch (def.result) {
      case 'auth':
      case 'request':
        delegated.push([key, value]);
        return;
      case 'declarative':
        this.#takeDeclaration(def, key, value);
        return;
      case 'obsolete':
        // §13.25: never NotUnderstood. Markers: Reject (SHOULD) or No (MAY); MarkInt: Reject (MUST).
        st.answer = def.obsoleteAnswer === 'markerPolicy' ? this.#policy.markerAnswer : Reject;
        answered.push(key);
        return;
      default:
        break;
    }
    // §13: "Irrelevant when: SessionType=Discovery".
    if (def.irrelevantInDiscovery === true && this.#sessionType === 'Discovery') {
      st.answer = Irrelevant;
      answered.push(key);
      return;
    }
    const answer = this.#answerOffer(def, value, this.#ourValue(def));
    st.answer = answer;
    st.result = answer === Reject ? undefined : answer;
    answered.push(key);
  }

  #checkSender(def: KeyDefinition, key: string): void {
    if (def.senders !== 'both' && def.senders !== this.#peerRole) {
      throw this.#peerError('ERR_NEGOTIATION_SENDER', `${key} may only be sent by the ${def.senders}`, def.section, LoginStatus.InitiatorError, key);
    }
  }

  #checkUse(def: KeyDefinition, key: string, stage: LoginStage | undefined): void {
    const use = this.#peerRole === 'target' && def.targetUse !== undefined ? def.targetUse : def.use;
    const fail = (why: string, rule = def.section): NegotiationError => this.#peerError('ERR_NEGOTIATION_PHASE', `${key} ${why}`, rule, LoginStatus.InitiatorError, key);
    if (this.#mode === 'text') {
      // §6.4: outside the Login Phase only keys usable at any time (ALL) or in FFP (FFPO).
      if (use !== 'ALL' && use !== 'FFPO') throw fail(`(use ${use}) cannot be negotiated in Full Feature Phase`, 'RFC 7143 §6.4');
      return;
    }
    if (use === 'FFPO') throw fail('may only be used in Full Feature Phase');
    if (use === 'security' && stage !== Stage.Security) throw fail('may only be used in the SecurityNegotiation stage', 'RFC 7143 §12');
    // §12: "Only the following keys are used during the SecurityNegotiation stage ... Other keys MUST NOT be used."
    if (stage === Stage.Security && use !== 'security' && !def.anyStage) throw fail('may not be used in the SecurityNegotiation stage', 'RFC 7143 §12');
    if (use === 'LO' && !this.#leading) throw fail('may only be used on the leading connection of a session');
  }

  #takeDeclaration(def: KeyDefinition, key: string, value: string): void {
    const bad = (why: string, status: number = LoginStatus.InitiatorError): NegotiationError =>
      this.#peerError('ERR_NEGOTIATION_INVALID_DECLARATION', `${key}=${value} ${why}`, def.section, status, key);
    switch (def.type) {
      case 'iscsi-name': {
        const problem = iscsiNameProblem(value);
        if (problem !== undefined) throw bad(`is not an iSCSI name: it ${problem}`);
        if (key === 'TargetName' && this.#role === 'initiator' && value !== this.#local.targetName) {
          // Only reachable if a target echoes TargetName at login, which the RFC does not allow.
          throw bad(`does not name the target of this session (${String(this.#local.targetName)})`);
        }
        break;
      }
      case 'enum':
        // §13.21: an unknown session type is one this target does not support.
        if (!def.values!.includes(value)) throw bad(`is not one of ${def.values!.join(', ')}`, key === 'SessionType' ? LoginStatus.SessionTypeNotSupported : LoginStatus.InitiatorError);
        break;
      case 'numeric':
      case 'binary-number': {
        const { min, max } = def.range!;
        if (tryParseNumericValue(value, min, max, def.type === 'binary-number' ? 'binary' : 'numerical') === undefined) throw bad(`is not a number from ${min} to ${max}`);
        break;
      }
      default:
        if (def.type === 'text' && value.length === 0) throw bad('is empty');
    }
    if (key === 'SessionType') {
      if (this.#role === 'target' && this.#mode === 'login' && this.#leading) this.#sessionType = value as SessionType;
    }
    const list = this.#peerDeclared.get(key);
    if (list === undefined) this.#peerDeclared.set(key, [value]);
    else list.push(value);
  }

  /** This node's wire value for `def` (policy, or the value the RFC fixes for Discovery sessions). */
  #ourValue(def: KeyDefinition): string {
    if (this.#sessionType === 'Discovery' && def.discoveryValue !== undefined) return def.discoveryValue;
    return this.#ours.get(def.name) ?? def.default ?? '';
  }

  /** The value in force for `name`: negotiated in this sequence, else current or default. */
  #effective(name: string): string {
    return this.#states.get(name)?.result ?? this.#base.get(name) ?? lookupKey(name)?.default ?? '';
  }

  /** RFC 7143 §6.2.1 and §6.2.2: this node's answer to the peer's offer. */
  #answerOffer(def: KeyDefinition, offered: string, ours: string): string {
    switch (def.result) {
      case 'and':
      case 'or': {
        // §6.2.2: a Boolean value other than Yes or No is not admissible: Reject.
        if (!YES_NO.has(offered)) return Reject;
        const a = offered === 'Yes';
        const b = ours === 'Yes';
        return (def.result === 'and' ? a && b : a || b) ? 'Yes' : 'No';
      }
      case 'min':
      case 'max': {
        // §6.2.2: a numerical value outside the key's range (or not a numerical value) is answered Reject.
        const { min, max } = def.range!;
        const o = tryParseNumericValue(offered, min, max);
        if (o === undefined) return Reject;
        const u = Number(ours);
        return String(def.result === 'min' ? Math.min(o, u) : Math.max(o, u));
      }
      case 'first-acceptable': {
        // §6.2.1: the first value of the offerer's list this node supports; values not understood are
        // ignored; "None" only if offered; nothing acceptable: Reject.
        const supported = ours.split(',');
        return offered.split(',').find((v) => supported.includes(v)) ?? Reject;
      }
      default:
        return Reject;
    }
  }

  /** Cross-key rules applied to the answers of one step. */
  #integrity(answered: readonly string[]): void {
    for (const key of answered) {
      const st = this.#states.get(key)!;
      if (st.result === undefined) continue;
      if (key === 'FirstBurstLength') {
        // §13.14: Irrelevant when InitialR2T=Yes and ImmediateData=No; never more than MaxBurstLength.
        if (this.#effective('InitialR2T') === 'Yes' && this.#effective('ImmediateData') === 'No') {
          st.answer = Irrelevant;
          st.result = undefined;
          continue;
        }
        const mbl = Number(this.#effective('MaxBurstLength'));
        if (Number(st.result) > mbl) st.answer = st.result = String(mbl);
      } else if (key === 'MaxOutstandingR2T') {
        // §13.19: ErrorRecoveryLevel > 0 with DataSequenceInOrder=Yes requires MaxOutstandingR2T=1.
        if (Number(this.#effective('ErrorRecoveryLevel')) > 0 && this.#effective('DataSequenceInOrder') === 'Yes') st.answer = st.result = '1';
      }
    }
  }

  /** The peer's answer to this node's offer: check it is admissible (§6.2) and take it. */
  #takeAnswer(st: KeyState, key: string, value: string): void {
    const def = st.def!;
    const offered = st.offered!;
    st.answered = value;
    const inadmissible = (why: string): NegotiationError =>
      this.#peerError('ERR_NEGOTIATION_BAD_ANSWER', `${key}=${value} answering ${key}=${offered}: ${why}`, 'RFC 7143 §6.2', LoginStatus.InitiatorError, key);
    if (value === NotUnderstood || value === Irrelevant || value === Reject) {
      // §6.2: after Reject (or no negotiation) the key keeps its current value; if that is not acceptable
      // the offerer may end the login. NotUnderstood from a node that does not know a key behaves alike.
      st.result = undefined;
      if (value !== Irrelevant && !this.#acceptable(def, this.#effective(key))) {
        throw this.#peerError(
          'ERR_NEGOTIATION_UNACCEPTABLE',
          `${key}=${value}: the value left in force, ${this.#effective(key)}, is not acceptable to this ${this.#role}`,
          'RFC 7143 §6.2',
          // Refusing every authentication method this node accepts is an authentication failure (§12.1).
          key === 'AuthMethod' ? LoginStatus.AuthenticationFailure : LoginStatus.InitiatorError,
          key,
        );
      }
      return;
    }
    switch (def.result) {
      case 'and':
      case 'or': {
        if (!YES_NO.has(value)) throw inadmissible('not Yes or No');
        // §6.2.2: AND with No offered can only be No; OR with Yes offered can only be Yes.
        if (def.result === 'and' && offered === 'No' && value === 'Yes') throw inadmissible('the AND of No is No');
        if (def.result === 'or' && offered === 'Yes' && value === 'No') throw inadmissible('the OR of Yes is Yes');
        st.result = value;
        return;
      }
      case 'min':
      case 'max': {
        const { min, max } = def.range!;
        const n = tryParseNumericValue(value, min, max);
        if (n === undefined) throw inadmissible(`not a number from ${min} to ${max}`);
        const o = Number(offered);
        if (def.result === 'min' && n > o) throw inadmissible('the Minimum cannot exceed the offer');
        if (def.result === 'max' && n < o) throw inadmissible('the Maximum cannot be below the offer');
        st.result = String(n);
        return;
      }
      case 'first-acceptable': {
        // §6.2.1: "The selection of a value not proposed MUST be handled by the originator as a protocol error."
        if (value.includes(',') || !offered.split(',').includes(value)) throw inadmissible('not one of the offered values');
        st.result = value;
        return;
      }
      default:
        throw inadmissible('this key is not negotiated');
    }
  }

  /** Would `value`, left in force after a Reject, satisfy this node's policy? */
  #acceptable(def: KeyDefinition, value: string): boolean {
    const ours = this.#ourValue(def);
    switch (def.result) {
      case 'min':
        return Number(value) <= Number(ours);
      case 'max':
        return Number(value) >= Number(ours);
      case 'and':
        return ours === 'Yes' || value === 'No';
      case 'or':
        return ours === 'No' || value === 'Yes';
      case 'first-acceptable':
        return ours.split(',').includes(value);
      default:
        return true;
    }
  }

  /** RFC 7143 §6.3.1 and §13.4/§13.5: what the first Login Request of a connection must carry. */
  #checkFirstRequest(): void {
    const missing = (key: string, rule: string): NegotiationError =>
      this.#peerError('ERR_NEGOTIATION_MISSING_KEY', `the first Login Request has no ${key}`, rule, LoginStatus.MissingParameter, key);
    if (this.peerDeclaration('InitiatorName') === undefined) throw missing('InitiatorName', 'RFC 7143 §13.5');
    if (this.#sessionType === 'Normal' && this.peerDeclaration('TargetName') === undefined) throw missing('TargetName', 'RFC 7143 §13.4');
  }

  /** Is `def` one this node offers at login (leading or not, session type)? */
  #offerable(def: KeyDefinition): boolean {
    if (!NEGOTIATED.has(def.result) || def.use === 'security' || def.param === undefined) return false;
    if (def.use === 'LO' && !this.#leading) return false;
    if (def.use !== 'LO' && def.use !== 'IO') return false;
    if (def.irrelevantInDiscovery === true && this.#sessionType === 'Discovery') return false;
    return true;
  }

  /** This node's declarations and offers for this step. */
  #outgoing(stage: LoginStage | undefined, firstStep: boolean, firstInStage: boolean, peerTransit: boolean): TextPair[] {
    const out: TextPair[] = [];
    const declare = (key: string, value: string | undefined): void => {
      if (value === undefined) return;
      const st = this.#state(key, lookupKey(key));
      if (st.declared !== undefined) return;
      st.declared = value;
      out.push([key, value]);
    };
    const propose = (def: KeyDefinition, value: string): void => {
      const st = this.#state(def.name, def);
      if (st.offered !== undefined || st.peer !== undefined) return;
      st.offered = value;
      st.offeredAt = this.#steps;
      out.push([def.name, value]);
    };
    out.push(...this.#queued.splice(0));
    if (this.#mode === 'text') return out;

    if (this.#role === 'initiator') {
      if (firstStep) {
        // §13.5, §13.4, §13.21: the first Login Request carries the names and the session type.
        declare('InitiatorName', this.#local.initiatorName);
        declare('InitiatorAlias', this.#local.initiatorAlias);
        if (this.#leading) declare('SessionType', this.#sessionType);
        if (this.#sessionType === 'Normal') declare('TargetName', this.#local.targetName);
      }
      if (stage === Stage.Security && firstInStage) propose(lookupKey('AuthMethod')!, this.#ours.get('AuthMethod')!);
      if (stage === Stage.Operational && firstInStage) {
        declare('MaxRecvDataSegmentLength', String(this.#policy.maxRecvDataSegmentLength));
        if (this.#leading) declare('X#NodeArchitecture', this.#local.nodeArchitecture);
        for (const def of KEY_DEFINITIONS) {
          if (!this.#offerable(def)) continue;
          const ours = this.#ourValue(def);
          // Keys from later RFCs are offered only when wanted, so older targets are not asked about them.
          if ((def.name === 'iSCSIProtocolLevel' || def.name === 'TaskReporting') && ours === def.default) continue;
          propose(def, ours);
        }
      }
      return out;
    }

    // Target.
    if (firstStep && this.#sessionType === 'Normal') {
      // §13.9: TargetPortalGroupTag in the response to the first Login Request naming a target;
      // §13.6: TargetAlias SHOULD be sent in Normal sessions.
      declare('TargetPortalGroupTag', this.#local.targetPortalGroupTag === undefined ? undefined : String(this.#local.targetPortalGroupTag));
      declare('TargetAlias', this.#local.targetAlias);
    }
    if (stage === Stage.Security && firstInStage && this.#states.get('AuthMethod')?.peer === undefined && !this.#policy.authMethod.includes('None')) {
      // §12.1: the target may make the AuthMethod proposal when the initiator did not.
      propose(lookupKey('AuthMethod')!, this.#ours.get('AuthMethod')!);
    }
    if (stage === Stage.Operational) {
      if (firstInStage) {
        declare('MaxRecvDataSegmentLength', String(this.#policy.maxRecvDataSegmentLength));
        if (this.#leading) declare('X#NodeArchitecture', this.#local.nodeArchitecture);
      }
      if (peerTransit) {
        // The initiator is done offering: offer what the defaults would get wrong for this target.
        for (const def of KEY_DEFINITIONS) {
          if (!this.#offerable(def) || this.#states.has(def.name)) continue;
          if (!this.#acceptable(def, this.#effective(def.name))) propose(def, this.#ourValue(def));
        }
      }
    }
    return out;
  }
}

// ---------------------------------------------------------------------------------------------------
// Whole logins: stages, the authentication method, and the T bit (RFC 7143 §6.3, §11.12, §11.13, §12).
// ---------------------------------------------------------------------------------------------------

/** The authentication a target requires of one login (RFC 7143 §12.1). */
export interface TargetAuthConfig {
  /** Acceptable methods; include 'None' to let initiators in unauthenticated. */
  methods: readonly AuthMethodName[];
  /** CHAP settings, needed when 'CHAP' is acceptable. */
  chap?: ChapAuthenticatorOptions;
}

/** Who is logging in, from the first Login Request. */
export interface LoginIdentity {
  initiatorName: string | undefined;
  targetName: string | undefined;
  sessionType: SessionType;
}

/** Options of {@link TargetLoginNegotiator}. */
export interface TargetLoginOptions {
  policy?: Partial<Omit<NegotiationPolicy, 'authMethod'>>;
  /** TargetPortalGroupTag of the portal the login arrived on (RFC 7143 §13.9). */
  portalGroupTag?: number;
  targetAlias?: string;
  /** False for a connection added to an existing session. Default true. */
  leading?: boolean;
  /** The session's values, for a non-leading connection. */
  current?: NegotiatedParams;
  /**
   * The authentication to require, fixed or chosen per login from the first request (e.g. none for
   * Discovery, CHAP for Normal). The function may throw an IscsiProtocolError to refuse the login (for an
   * unknown target: Login status 0x0203). Default: no authentication.
   */
  auth?: TargetAuthConfig | ((identity: LoginIdentity) => TargetAuthConfig);
}

/** A complete Login Request, its text joined across C-bit PDUs. */
export interface LoginRequestInput {
  /** CSG. */
  stage: LoginStage;
  /** T bit. */
  transit: boolean;
  /** NSG (meaningful when `transit`). */
  nextStage: NextStage;
  pairs: readonly (readonly [string, string])[];
}

/** What to answer in the Login Response. */
export interface LoginResponseOutput {
  /** CSG of the response (the request's). */
  stage: LoginStage;
  /** T bit: set only when the initiator asked and the target agrees (RFC 7143 §11.13.1). */
  transit: boolean;
  /** NSG (meaningful when `transit`). */
  nextStage: NextStage;
  pairs: TextPair[];
  /** This is the Login Final-Response: the connection enters Full Feature Phase. */
  complete: boolean;
}

/**
 * The target side of one connection's Login Phase: for each complete Login Request, the Login Response
 * keys, T bit and NSG. Handles the stages (§6.3), AuthMethod and CHAP (§12.1.3) and every operational key.
 * Errors are IscsiProtocolErrors whose `loginStatus` is the Login reject to send (0x0200 initiator error,
 * 0x0201 authentication failure, 0x0207 missing parameter, 0x0209 session type not supported, ...); a
 * `drop` action means close the connection without answering.
 */
export class TargetLoginNegotiator {
  readonly #options: TargetLoginOptions;
  #keys: KeyNegotiator | undefined;
  #auth: TargetAuthConfig | undefined;
  #chap: ChapAuthenticator | undefined;
  #authMethod: AuthMethodName | undefined;
  #stage: LoginStage | undefined;
  #params: NegotiatedParams | undefined;

  constructor(options: TargetLoginOptions = {}) {
    this.#options = options;
  }

  /** True after the Login Final-Response. */
  get complete(): boolean {
    return this.#params !== undefined;
  }

  /** The values in force after the login (throws before). */
  get params(): NegotiatedParams {
    if (this.#params === undefined) throw new Error('login not complete');
    return this.#params;
  }

  /** The key engine, for inspection (declarations, outcomes); undefined before the first request. */
  get keys(): KeyNegotiator | undefined {
    return this.#keys;
  }

  /** The authentication method in use, once chosen. */
  get authMethod(): AuthMethodName | undefined {
    return this.#authMethod;
  }

  /** The CHAP name the initiator authenticated as, if CHAP was used. */
  get chapName(): string | undefined {
    return this.#chap?.authenticatedName;
  }

  /** Answer one complete Login Request. */
  handleRequest(req: LoginRequestInput): LoginResponseOutput {
    const loginError = (code: string, message: string, rule: string, status: number = LoginStatus.InitiatorError): NegotiationError =>
      new NegotiationError(code, message, { rule, action: 'login-reject', loginStatus: status });
    if (this.#params !== undefined) throw loginError('ERR_LOGIN_COMPLETE', 'Login Request after the login completed', 'RFC 7143 §6.3');
    if (this.#stage !== undefined && req.stage !== this.#stage) {
      throw loginError('ERR_LOGIN_STAGE', `Login Request in stage ${req.stage}, expected ${this.#stage}`, 'RFC 7143 §6.3');
    }
    // §11.12.3: the next stage is a later one.
    if (req.transit && req.nextStage <= req.stage) throw loginError('ERR_LOGIN_STAGE', `T=1 with NSG ${req.nextStage} not after CSG ${req.stage}`, 'RFC 7143 §11.12.3');
    this.#stage = req.stage;

    if (this.#keys === undefined) {
      // Choose the authentication from the first request's declarations, before negotiating AuthMethod.
      const first = (k: string): string | undefined => req.pairs.find(([key]) => key === k)?.[1];
      const leading = this.#options.leading ?? true;
      const sessionType: SessionType = leading ? (first('SessionType') === 'Discovery' ? 'Discovery' : 'Normal') : (this.#options.current?.session.sessionType ?? 'Normal');
      const auth = this.#options.auth;
      this.#auth = typeof auth === 'function' ? auth({ initiatorName: first('InitiatorName'), targetName: first('TargetName'), sessionType }) : (auth ?? { methods: ['None'] });
      if (this.#auth.methods.length === 0) throw new ChapConfigError('TargetAuthConfig.methods is empty');
      if (this.#auth.methods.includes('CHAP') && this.#auth.chap === undefined) throw new ChapConfigError('CHAP is accepted but no CHAP options are given');
      this.#keys = new KeyNegotiator({
        role: 'target',
        mode: 'login',
        leading,
        policy: { ...this.#options.policy, authMethod: [...this.#auth.methods] },
        local: {
          ...(this.#options.portalGroupTag !== undefined && { targetPortalGroupTag: this.#options.portalGroupTag }),
          ...(this.#options.targetAlias !== undefined && { targetAlias: this.#options.targetAlias }),
        },
        ...(this.#options.current !== undefined && { current: this.#options.current }),
      });
    }
    const keys = this.#keys;
    const auth = this.#auth!;
    const { pairs, delegated } = keys.step(req.pairs, { stage: req.stage, peerTransit: req.transit });
    // §6.2.2: answers are required except in the two optional cases; an initiator that asks to leave the
    // stage without answering would otherwise keep the login going round forever.
    const overdue = req.transit ? keys.overdueAnswers() : [];
    if (overdue.length > 0) throw loginError('ERR_NEGOTIATION_NO_ANSWER', `no answer to ${overdue.join(', ')}`, 'RFC 7143 §6.2.2');

    if (req.stage === Stage.Security) {
      pairs.push(...this.#security(keys, auth, delegated));
    } else if (this.#authMethod === undefined) {
      // The initiator skipped the SecurityNegotiation stage: fine only if no authentication is required.
      if (!auth.methods.includes('None')) throw loginError('ERR_AUTH_REQUIRED', 'authentication is required but the initiator skipped the security stage', 'RFC 7143 §6.3', LoginStatus.AuthenticationFailure);
      this.#authMethod = 'None';
    }
    const authDone = this.#authMethod === 'None' || this.#chap?.state === 'authenticated';
    // §11.13.1: T=1 only if the initiator asked, and never with keys that still need the initiator's answer.
    const transit = req.transit && authDone && keys.pendingAnswers().length === 0;
    let complete = false;
    if (transit) {
      if (req.nextStage === Stage.FullFeature) {
        this.#params = keys.finish();
        this.#params.connection.authMethod = this.#authMethod!;
        complete = true;
      } else {
        this.#stage = req.nextStage;
      }
    }
    return { stage: req.stage, transit, nextStage: transit ? req.nextStage : req.stage, pairs, complete };
  }

  #security(keys: KeyNegotiator, auth: TargetAuthConfig, delegated: TextPair[]): TextPair[] {
    const out: TextPair[] = [];
    const authFail = (code: string, message: string): NegotiationError =>
      new NegotiationError(code, message, { rule: 'RFC 7143 §12.1', action: 'login-reject', loginStatus: LoginStatus.AuthenticationFailure }, 'AuthMethod');
    const outcome = keys.outcome('AuthMethod');
    if (this.#authMethod === undefined && outcome !== undefined) {
      if (outcome === Reject || outcome === NotUnderstood || outcome === Irrelevant) {
        // The initiator offered nothing this target accepts, or rejected its proposal.
        if (!auth.methods.includes('None')) throw authFail('ERR_AUTH_METHOD', `no acceptable authentication method (this target accepts ${auth.methods.join(',')})`);
        this.#authMethod = 'None';
      } else if (outcome === 'CHAP' || outcome === 'None') {
        this.#authMethod = outcome;
        if (outcome === 'CHAP') this.#chap = new ChapAuthenticator(auth.chap!);
      }
    } else if (this.#authMethod === undefined && outcome === undefined && keys.pendingAnswers().length === 0) {
      // No AuthMethod offered and none proposed (because 'None' is acceptable): no authentication.
      this.#authMethod = 'None';
    }
    if (delegated.length === 0) return out;
    if (this.#chap === undefined) throw authFail('ERR_AUTH_UNEXPECTED', `authentication keys (${delegated.map(([k]) => k).join(', ')}) without CHAP selected`);
    const map = new Map(delegated);
    if (this.#chap.state === 'initial') {
      const a = map.get('CHAP_A');
      if (a === undefined || map.size !== 1) throw authFail('ERR_AUTH_UNEXPECTED', `expected CHAP_A, got ${[...map.keys()].join(', ')}`);
      out.push(...this.#chap.selectAlgorithm(a));
    } else if (this.#chap.state === 'challenged') {
      for (const k of map.keys()) {
        if (k !== 'CHAP_N' && k !== 'CHAP_R' && k !== 'CHAP_I' && k !== 'CHAP_C') throw authFail('ERR_AUTH_UNEXPECTED', `unexpected ${k} in the CHAP response`);
      }
      out.push(...this.#chap.verify(map));
    } else {
      throw authFail('ERR_AUTH_UNEXPECTED', `authentication keys after CHAP completed: ${[...map.keys()].join(', ')}`);
    }
    return out;
  }
}

/** Options of {@link InitiatorLoginNegotiator}. */
export interface InitiatorLoginOptions {
  initiatorName: string;
  initiatorAlias?: string;
  /** Required for Normal sessions. */
  targetName?: string;
  /** Default Normal. */
  sessionType?: SessionType;
  /**
   * Policy; `authMethod` defaults to CHAP,None with CHAP credentials, CHAP alone when the target must
   * authenticate too (mutual), and None without credentials.
   */
  policy?: Partial<NegotiationPolicy>;
  /** CHAP credentials (and the target's, for mutual CHAP). */
  chap?: ChapClientOptions;
  /** False for a connection added to an existing session. Default true. */
  leading?: boolean;
  /** The session's values, for a non-leading connection. */
  current?: NegotiatedParams;
  nodeArchitecture?: string;
}

/** A Login Request to send. */
export interface LoginRequestOutput {
  stage: LoginStage;
  transit: boolean;
  nextStage: NextStage;
  pairs: TextPair[];
}

/** A complete Login Response (status class 0), text joined across C-bit PDUs. */
export interface LoginResponseInput {
  stage: LoginStage;
  transit: boolean;
  nextStage: NextStage;
  pairs: readonly (readonly [string, string])[];
}

/**
 * The initiator side of one connection's Login Phase: {@link start} gives the first Login Request,
 * {@link handleResponse} the next one for each Login Response, until the Final-Response. Errors are
 * IscsiProtocolErrors with action 'drop' (the initiator closes the connection).
 */
export class InitiatorLoginNegotiator {
  readonly #keys: KeyNegotiator;
  readonly #chap: ChapClient | undefined;
  #stage: LoginStage = Stage.Security;
  #authMethod: AuthMethodName | undefined;
  #chapOffered = false;
  #chapResponded = false;
  #requestedNext: NextStage = Stage.Security;
  #params: NegotiatedParams | undefined;
  #started = false;

  constructor(options: InitiatorLoginOptions) {
    this.#chap = options.chap === undefined ? undefined : new ChapClient(options.chap);
    const authMethod: AuthMethodName[] = options.policy?.authMethod ?? (this.#chap === undefined ? ['None'] : this.#chap.mutual ? ['CHAP'] : ['CHAP', 'None']);
    if (authMethod.includes('CHAP') && this.#chap === undefined) throw new ChapConfigError('CHAP offered without CHAP credentials');
    this.#keys = new KeyNegotiator({
      role: 'initiator',
      mode: 'login',
      leading: options.leading ?? true,
      policy: { ...options.policy, authMethod },
      local: {
        initiatorName: options.initiatorName,
        ...(options.initiatorAlias !== undefined && { initiatorAlias: options.initiatorAlias }),
        ...(options.targetName !== undefined && { targetName: options.targetName }),
        sessionType: options.sessionType ?? options.current?.session.sessionType ?? 'Normal',
        ...(options.nodeArchitecture !== undefined && { nodeArchitecture: options.nodeArchitecture }),
      },
      ...(options.current !== undefined && { current: options.current }),
    });
  }

  /** True after the Login Final-Response. */
  get complete(): boolean {
    return this.#params !== undefined;
  }

  /** The values in force after the login (throws before). */
  get params(): NegotiatedParams {
    if (this.#params === undefined) throw new Error('login not complete');
    return this.#params;
  }

  /** The key engine, for inspection. */
  get keys(): KeyNegotiator {
    return this.#keys;
  }

  /** The authentication method the target chose. */
  get authMethod(): AuthMethodName | undefined {
    return this.#authMethod;
  }

  /** The first Login Request: the names, SessionType and the AuthMethod offer (SecurityNegotiation). */
  start(): LoginRequestOutput {
    if (this.#started) throw new Error('login already started');
    this.#started = true;
    const { pairs } = this.#keys.step([], { stage: Stage.Security });
    // Without authentication, ask to move on at once (the target answers AuthMethod=None with T=1).
    const transit = this.#keys.policy.authMethod.length === 1 && this.#keys.policy.authMethod[0] === 'None';
    return this.#request({ stage: Stage.Security, transit, nextStage: transit ? Stage.Operational : Stage.Security, pairs });
  }

  #request(r: LoginRequestOutput): LoginRequestOutput {
    this.#requestedNext = r.transit ? r.nextStage : r.stage;
    return r;
  }

  /**
   * Take one Login Response and give the next Login Request, or undefined when this response was the
   * Final-Response (then {@link params} holds the result).
   */
  handleResponse(resp: LoginResponseInput): LoginRequestOutput | undefined {
    const fail = (code: string, message: string, rule: string, status: number = LoginStatus.InitiatorError): NegotiationError =>
      new NegotiationError(code, message, { rule, action: 'drop', loginStatus: status });
    if (!this.#started || this.#params !== undefined) throw fail('ERR_LOGIN_STATE', 'unexpected Login Response', 'RFC 7143 §6.3');
    if (resp.stage !== this.#stage) throw fail('ERR_LOGIN_STAGE', `Login Response in stage ${resp.stage}, expected ${this.#stage}`, 'RFC 7143 §11.13');
    if (resp.transit && resp.nextStage <= resp.stage) throw fail('ERR_LOGIN_STAGE', `T=1 with NSG ${resp.nextStage} not after CSG ${resp.stage}`, 'RFC 7143 §11.13');
    const { pairs, delegated } = this.#keys.step(resp.pairs, { stage: this.#stage, peerTransit: resp.transit });

    if (this.#stage === Stage.Security) pairs.push(...this.#security(delegated, fail));
    else if (this.#authMethod === undefined) this.#authMethod = 'None';

    const authDone = this.#authMethod === 'None' || (this.#chap?.authenticated ?? false);
    if (resp.transit) {
      // §11.13: the target may not move further than the initiator asked.
      if (resp.nextStage > this.#requestedNext) throw fail('ERR_LOGIN_STAGE', `the target moved to stage ${resp.nextStage}, the initiator asked for ${this.#requestedNext}`, 'RFC 7143 §11.13');
      // §11.13.1: a response with T=1 must not carry keys that need an answer within the stage. Answers
      // that are optional (§6.2.2) or to keys this node does not understand are let go.
      const answers = pairs.filter(([k]) => !this.#keys.answerOptional(k));
      if (answers.length > 0) throw fail('ERR_LOGIN_TRANSIT', `the target left the stage with keys to answer: ${answers.map(([k]) => k).join(', ')}`, 'RFC 7143 §11.13.1');
      if (!authDone) {
        throw fail('ERR_AUTH_INCOMPLETE', 'the target left the security stage before authentication completed', 'RFC 7143 §12.1.3', LoginStatus.AuthenticationFailure);
      }
      if (resp.nextStage === Stage.FullFeature) {
        this.#params = this.#keys.finish();
        this.#params.connection.authMethod = this.#authMethod!;
        return undefined;
      }
      this.#stage = resp.nextStage as LoginStage;
      const next = this.#keys.step([], { stage: this.#stage });
      return this.#request({ stage: this.#stage, transit: true, nextStage: Stage.FullFeature, pairs: next.pairs });
    }
    if (this.#stage === Stage.Security) {
      // Ask to move on once this side has nothing left to say: after CHAP_N/CHAP_R, or with None.
      const ready = (this.#authMethod === 'None' || this.#chapResponded) && this.#keys.pendingAnswers().length === 0;
      return this.#request({ stage: Stage.Security, transit: ready, nextStage: ready ? Stage.Operational : Stage.Security, pairs });
    }
    return this.#request({ stage: Stage.Operational, transit: true, nextStage: Stage.FullFeature, pairs });
  }

  #security(delegated: TextPair[], fail: (code: string, message: string, rule: string, status?: number) => NegotiationError): TextPair[] {
    const out: TextPair[] = [];
    const outcome = this.#keys.outcome('AuthMethod');
    if (this.#authMethod === undefined && outcome !== undefined && this.#keys.pendingAnswers().every((k) => k !== 'AuthMethod')) {
      if (outcome === 'CHAP') this.#authMethod = 'CHAP';
      // After Reject or NotUnderstood the engine has checked that None is acceptable.
      else if (outcome === 'None' || outcome === Reject || outcome === NotUnderstood || outcome === Irrelevant) this.#authMethod = 'None';
      else throw fail('ERR_AUTH_METHOD', `AuthMethod=${outcome} is not implemented`, 'RFC 7143 §12.1', LoginStatus.AuthenticationFailure);
    }
    if (this.#authMethod === 'CHAP' && !this.#chapOffered) {
      // §12.1: the initiator makes the first step of the method as soon as it is selected.
      this.#chapOffered = true;
      out.push(...this.#chap!.offer());
    }
    if (delegated.length === 0) return out;
    if (this.#authMethod !== 'CHAP') throw fail('ERR_AUTH_UNEXPECTED', `authentication keys without CHAP: ${delegated.map(([k]) => k).join(', ')}`, 'RFC 7143 §12.1', LoginStatus.AuthenticationFailure);
    const map = new Map(delegated);
    if (!this.#chapResponded) {
      out.push(...this.#chap!.respond(map));
      this.#chapResponded = true;
    } else {
      this.#chap!.verifyTarget(map);
    }
    return out;
  }
}
