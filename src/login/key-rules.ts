// The per-key rules of RFC 7143 §6, §12 and §13 as pure functions of a key's definition and wire values:
// who may send a key and when, what a declaration may hold, a value's wire form, the answerer's result
// functions, which answers an offerer may admit, what is acceptable when the peer leaves a value in
// force, when an answer may be left out, and the cross-key rules on the values in force. The key
// negotiator (key-negotiator.ts) applies them: it holds the state, this module the rules.

import { LoginStatus, Stage } from '../pdu/constants.js';
import { decodeNumericValue, tryParseNumericValue } from '../pdu/text-keys.js';
import { Irrelevant, Reject, iscsiNameProblem, type KeyDefinition, type SessionParams } from './keys.js';
import type { LocalDeclarations, Role } from './policy.js';

/** Why a key may not come from where it came, and the rule that says so. */
export interface UseProblem {
  /** ERR_NEGOTIATION_SENDER: the wrong end sent it; ERR_NEGOTIATION_PHASE: the right end, at the wrong time. */
  readonly code: 'ERR_NEGOTIATION_SENDER' | 'ERR_NEGOTIATION_PHASE';
  readonly why: string;
  readonly rule: string;
}

/**
 * Whether `def` may be sent by `sender` here (RFC 7143 §13 "Senders" and "Use"): in a text negotiation
 * of Full Feature Phase (`stage` undefined) or in a login `stage` of a leading connection or not.
 */
export function useProblem(def: KeyDefinition, sender: Role, stage: typeof Stage.Security | typeof Stage.Operational | undefined, leading: boolean): UseProblem | undefined {
  if (def.senders !== 'both' && def.senders !== sender) return { code: 'ERR_NEGOTIATION_SENDER', why: `may only be sent by the ${def.senders}`, rule: def.section };
  const phase = (why: string, rule = def.section): UseProblem => ({ code: 'ERR_NEGOTIATION_PHASE', why, rule });
  const use = sender === 'target' && def.targetUse !== undefined ? def.targetUse : def.use;
  if (stage === undefined) {
    // §6.4: outside the Login Phase only keys usable at any time (ALL) or in FFP (FFPO).
    return use !== 'ALL' && use !== 'FFPO' ? phase(`(use ${use}) cannot be negotiated in Full Feature Phase`, 'RFC 7143 §6.4') : undefined;
  }
  if (use === 'FFPO') return phase('may only be used in Full Feature Phase');
  if (use === 'security' && stage !== Stage.Security) return phase('may only be used in the SecurityNegotiation stage', 'RFC 7143 §12');
  // §12: "Only the following keys are used during the SecurityNegotiation stage ... Other keys MUST NOT be used."
  if (stage === Stage.Security && use !== 'security' && !def.anyStage) return phase('may not be used in the SecurityNegotiation stage', 'RFC 7143 §12');
  if (use === 'LO' && !leading) return phase('may only be used on the leading connection of a session');
  return undefined;
}

/** Why a declared value is not one `def` can take, and the Login status that refuses it. */
export interface DeclarationProblem {
  readonly why: string;
  readonly loginStatus: number;
}

/** Whether `value` is a valid declaration of `def` (RFC 7143 §6.1 value syntax, §4.2.7 names, §13.21). */
export function declarationProblem(def: KeyDefinition, value: string): DeclarationProblem | undefined {
  const bad = (why: string, loginStatus: number = LoginStatus.InitiatorError): DeclarationProblem => ({ why, loginStatus });
  switch (def.type) {
    case 'iscsi-name': {
      const problem = iscsiNameProblem(value);
      return problem === undefined ? undefined : bad(`is not an iSCSI name: it ${problem}`);
    }
    case 'enum':
      // §13.21: an unknown session type is one this target does not support.
      return def.values!.includes(value) ? undefined : bad(`is not one of ${def.values!.join(', ')}`, def.name === 'SessionType' ? LoginStatus.SessionTypeNotSupported : LoginStatus.InitiatorError);
    case 'numeric':
    case 'binary-number': {
      const { min, max } = def.range!;
      return tryParseNumericValue(value, min, max, def.type === 'binary-number' ? 'binary' : 'numerical') === undefined ? bad(`is not a number from ${min} to ${max}`) : undefined;
    }
    default:
      return def.type === 'text' && value.length === 0 ? bad('is empty') : undefined;
  }
}

/**
 * This node's answer to an offer of `key` once the cross-key rules apply to its result `result`
 * (`effective` gives the value in force of another key): FirstBurstLength is Irrelevant when
 * InitialR2T=Yes and ImmediateData=No, and never more than MaxBurstLength (RFC 7143 §13.14);
 * MaxOutstandingR2T is 1 when ErrorRecoveryLevel > 0 and DataSequenceInOrder=Yes (§13.19). Returns
 * `result` itself when no rule applies.
 */
export function crossKeyAnswer(key: string, result: string, effective: (name: string) => string): string {
  if (key === 'FirstBurstLength') {
    if (effective('InitialR2T') === 'Yes' && effective('ImmediateData') === 'No') return Irrelevant;
    const mbl = Number(effective('MaxBurstLength'));
    return Number(result) > mbl ? String(mbl) : result;
  }
  if (key === 'MaxOutstandingR2T' && Number(effective('ErrorRecoveryLevel')) > 0 && effective('DataSequenceInOrder') === 'Yes') return '1';
  return result;
}

/**
 * The names in force after a negotiation (RFC 7143 §13.4 to §13.9): at login each side's own
 * declarations and what the peer declared; in a text negotiation only an alias can change (§13.6, §13.7).
 */
export function applyDeclaredNames(session: SessionParams, role: Role, login: boolean, local: LocalDeclarations, peer: (key: string) => string | undefined): void {
  if (!login) {
    const alias = peer(role === 'initiator' ? 'TargetAlias' : 'InitiatorAlias');
    if (alias !== undefined) {
      if (role === 'initiator') session.targetAlias = alias;
      else session.initiatorAlias = alias;
    }
    return;
  }
  if (role === 'initiator') {
    session.initiatorName = local.initiatorName;
    session.initiatorAlias = local.initiatorAlias;
    session.targetName = local.targetName;
    session.targetAlias = peer('TargetAlias') ?? session.targetAlias;
    const tpgt = peer('TargetPortalGroupTag');
    if (tpgt !== undefined) session.targetPortalGroupTag = tryParseNumericValue(tpgt, 0, 65535, 'binary');
  } else {
    session.initiatorName = peer('InitiatorName') ?? session.initiatorName;
    session.initiatorAlias = peer('InitiatorAlias') ?? session.initiatorAlias;
    session.targetName = peer('TargetName') ?? session.targetName;
    session.targetAlias = local.targetAlias ?? session.targetAlias;
    session.targetPortalGroupTag = local.targetPortalGroupTag ?? session.targetPortalGroupTag;
  }
}

/**
 * The cross-key rules on the values in force: FirstBurstLength at most MaxBurstLength (RFC 7143 §13.14),
 * MaxOutstandingR2T 1 when ErrorRecoveryLevel > 0 and DataSequenceInOrder=Yes (§13.19), and a
 * Discovery session has one connection and ErrorRecoveryLevel 0 (§13.21).
 */
export function applyCrossKeyRules(session: SessionParams): void {
  if (session.firstBurstLength > session.maxBurstLength) session.firstBurstLength = session.maxBurstLength;
  if (session.errorRecoveryLevel > 0 && session.dataSequenceInOrder) session.maxOutstandingR2T = 1;
  if (session.sessionType === 'Discovery') {
    session.maxConnections = 1;
    session.errorRecoveryLevel = 0;
  }
}

const YES_NO = new Set(['Yes', 'No']);

/** The wire form of a policy or parameter value of `def` (RFC 7143 §6.1: lists comma-joined, Yes/No). */
export function toWire(def: KeyDefinition, v: unknown): string {
  if (Array.isArray(v)) return v.join(',');
  if (typeof v === 'boolean') return v ? 'Yes' : 'No';
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return v;
  throw new TypeError(`no wire form for ${def.name}=${String(v)}`);
}

/** The parameter value of a negotiated wire value of `def` (the inverse of {@link toWire} for one value). */
export function fromWire(def: KeyDefinition, v: string): boolean | number | string {
  switch (def.type) {
    case 'boolean':
      return v === 'Yes';
    case 'numeric':
      return Number(decodeNumericValue(v));
    default:
      return v;
  }
}

/** RFC 7143 §6.2.2: the answer is optional when the offer alone decides the outcome (AND of No, OR of Yes). */
export function optionalAnswer(def: KeyDefinition, offered: string): boolean {
  return (def.result === 'and' && offered === 'No') || (def.result === 'or' && offered === 'Yes');
}

/** RFC 7143 §6.2.1 and §6.2.2: the answer to the peer's offer of `offered`, this node's value being `ours`. */
export function answerOffer(def: KeyDefinition, offered: string, ours: string): string {
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

/** What the peer's answer settles: the value in force, or why the offerer must refuse the answer. */
export type Admission = { readonly result: string } | { readonly inadmissible: string };

/**
 * RFC 7143 §6.2: the peer's answer `value` (not a reserved constant) to this node's offer `offered`,
 * admitted with the value it settles (numbers in decimal), or refused with the reason.
 */
export function admitAnswer(def: KeyDefinition, offered: string, value: string): Admission {
  switch (def.result) {
    case 'and':
    case 'or': {
      if (!YES_NO.has(value)) return { inadmissible: 'not Yes or No' };
      // §6.2.2: AND with No offered can only be No; OR with Yes offered can only be Yes.
      if (def.result === 'and' && offered === 'No' && value === 'Yes') return { inadmissible: 'the AND of No is No' };
      if (def.result === 'or' && offered === 'Yes' && value === 'No') return { inadmissible: 'the OR of Yes is Yes' };
      return { result: value };
    }
    case 'min':
    case 'max': {
      const { min, max } = def.range!;
      const n = tryParseNumericValue(value, min, max);
      if (n === undefined) return { inadmissible: `not a number from ${min} to ${max}` };
      const o = Number(offered);
      if (def.result === 'min' && n > o) return { inadmissible: 'the Minimum cannot exceed the offer' };
      if (def.result === 'max' && n < o) return { inadmissible: 'the Maximum cannot be below the offer' };
      return { result: String(n) };
    }
    case 'first-acceptable':
      // §6.2.1: "The selection of a value not proposed MUST be handled by the originator as a protocol error."
      if (value.includes(',') || !offered.split(',').includes(value)) return { inadmissible: 'not one of the offered values' };
      return { result: value };
    default:
      return { inadmissible: 'this key is not negotiated' };
  }
}

/**
 * Would `value`, left in force after a Reject (RFC 7143 §6.2), satisfy a node whose own value is
 * `ours`? For Minimum keys nothing above it, for Maximum keys nothing below, for lists one of them.
 */
export function acceptable(def: KeyDefinition, value: string, ours: string): boolean {
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
