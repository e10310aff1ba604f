// The key negotiator: the table-driven engine of RFC 7143 §6.2 to §6.4 for one Login Phase (all its
// stages) or one text negotiation in Full Feature Phase. It answers, proposes, declares and checks keys
// against the key table (keys.ts), a policy (policy.ts) and the per-key rules of key-rules.ts. No I/O.

import { IscsiProtocolError, type ProtocolErrorInit } from '../errors.js';
import { LoginStatus, RejectReason, Stage } from '../pdu/constants.js';
import { decodeNumericValue, type TextPair } from '../pdu/text-keys.js';
import {
  KEY_DEFINITIONS,
  Irrelevant,
  NotUnderstood,
  Reject,
  defaultConnectionParams,
  defaultSessionParams,
  iscsiNameProblem,
  isExtensionKey,
  lookupKey,
  type ConnectionParams,
  type KeyDefinition,
  type SessionParams,
  type SessionType,
} from './keys.js';
import { acceptable, admitAnswer, answerOffer, applyCrossKeyRules, applyDeclaredNames, crossKeyAnswer, declarationProblem, fromWire, optionalAnswer, toWire, useProblem } from './key-rules.js';
import { resolvePolicy, type LocalDeclarations, type NegotiatedParams, type NegotiationPolicy, type Role } from './policy.js';

/** A login stage a Login PDU can be in (CSG, RFC 7143 §11.12.3). */
export type LoginStage = typeof Stage.Security | typeof Stage.Operational;
/** A stage a Login PDU can move to (NSG). */
export type NextStage = LoginStage | typeof Stage.FullFeature;
/** A Login Phase (all its stages) or one text negotiation in Full Feature Phase (§6.4). */
export type NegotiationMode = 'login' | 'text';

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
const NEGOTIATED = new Set(['and', 'or', 'min', 'max', 'first-acceptable']);

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
    this.#policy = resolvePolicy(options.role, options.policy);
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
    const peer = (k: string): string | undefined => this.peerDeclaration(k);
    applyDeclaredNames(session, this.#role, this.#mode === 'login', this.#local, peer);
    // §13.12: each direction is what its receiver declared; undeclared means the value in force.
    const mine = this.#states.get('MaxRecvDataSegmentLength')?.declared;
    if (mine !== undefined) connection.maxRecvDataSegmentLength = Number(mine);
    const theirs = peer('MaxRecvDataSegmentLength');
    if (theirs !== undefined) connection.maxSendDataSegmentLength = Number(decodeNumericValue(theirs));
    applyCrossKeyRules(session);
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
    const answer = answerOffer(def, value, this.#ourValue(def));
    st.answer = answer;
    st.result = answer === Reject ? undefined : answer;
    answered.push(key);
  }

  /** Is the peer allowed to send `def` now (RFC 7143 §13 "Senders" and "Use", §6.4, §12)? */
  #checkUse(def: KeyDefinition, key: string, stage: LoginStage | undefined): void {
    const problem = useProblem(def, this.#peerRole, this.#mode === 'text' ? undefined : stage, this.#leading);
    if (problem === undefined) return;
    throw this.#peerError(problem.code, `${key} ${problem.why}`, problem.rule, LoginStatus.InitiatorError, key);
  }

  #takeDeclaration(def: KeyDefinition, key: string, value: string): void {
    const bad = (why: string, status: number = LoginStatus.InitiatorError): NegotiationError =>
      this.#peerError('ERR_NEGOTIATION_INVALID_DECLARATION', `${key}=${value} ${why}`, def.section, status, key);
    const problem = declarationProblem(def, value);
    if (problem !== undefined) throw bad(problem.why, problem.loginStatus);
    if (key === 'TargetName' && this.#role === 'initiator' && value !== this.#local.targetName) {
      // Only reachable if a target echoes TargetName at login, which the RFC does not allow.
      throw bad(`does not name the target of this session (${String(this.#local.targetName)})`);
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

  /** Cross-key rules applied to the answers of one step (RFC 7143 §13.14, §13.19). */
  #integrity(answered: readonly string[]): void {
    for (const key of answered) {
      const st = this.#states.get(key)!;
      if (st.result === undefined) continue;
      const answer = crossKeyAnswer(key, st.result, (name) => this.#effective(name));
      if (answer === st.result) continue;
      st.answer = answer;
      st.result = answer === Irrelevant ? undefined : answer;
    }
  }

  /** The peer's answer to this node's offer: check it is admissible (§6.2) and take it. */
  #takeAnswer(st: KeyState, key: string, value: string): void {
    const def = st.def!;
    const offered = st.offered!;
    st.answered = value;
    if (value === NotUnderstood || value === Irrelevant || value === Reject) {
      // §6.2: after Reject (or no negotiation) the key keeps its current value; if that is not acceptable
      // the offerer may end the login. NotUnderstood from a node that does not know a key behaves alike.
      st.result = undefined;
      if (value !== Irrelevant && !acceptable(def, this.#effective(key), this.#ourValue(def))) {
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
    const admission = admitAnswer(def, offered, value);
    if ('inadmissible' in admission) {
      throw this.#peerError('ERR_NEGOTIATION_BAD_ANSWER', `${key}=${value} answering ${key}=${offered}: ${admission.inadmissible}`, 'RFC 7143 §6.2', LoginStatus.InitiatorError, key);
    }
    st.result = admission.result;
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
          if (!acceptable(def, this.#effective(def.name), this.#ourValue(def))) propose(def, this.#ourValue(def));
        }
      }
    }
    return out;
  }
}
