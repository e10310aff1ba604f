// The target's side of one connection's Login Phase (RFC 7143 §6.3, §11.12, §11.13, §12): for each
// complete Login Request, the Login Response keys, T bit and NSG. It chooses the authentication per
// login, runs CHAP (§12.1.3) and leaves the keys to the key negotiator. No I/O.

import { LoginStatus, Stage } from '../pdu/constants.js';
import type { TextPair } from '../pdu/text-keys.js';
import { ChapAuthenticator, ChapConfigError, type ChapAuthenticatorOptions } from './chap.js';
import { Irrelevant, NotUnderstood, Reject, type SessionType } from './keys.js';
import { KeyNegotiator, NegotiationError, type LoginStage, type NextStage } from './key-negotiator.js';
import type { AuthMethodName, NegotiatedParams, NegotiationPolicy } from './policy.js';

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
