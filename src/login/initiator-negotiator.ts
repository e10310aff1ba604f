// The initiator's side of one connection's Login Phase (RFC 7143 §6.3, §11.12, §11.13, §12): the first
// Login Request, then the next one for each Login Response until the Final-Response. It runs CHAP
// (§12.1.3), mutual if asked, and leaves the keys to the key negotiator. No I/O.

import { LoginStatus, Stage } from '../pdu/constants.js';
import type { TextPair } from '../pdu/text-keys.js';
import { ChapClient, ChapConfigError, type ChapClientOptions } from './chap.js';
import { Irrelevant, NotUnderstood, Reject, type SessionType } from './keys.js';
import { KeyNegotiator, NegotiationError, type LoginStage, type NextStage } from './key-negotiator.js';
import type { AuthMethodName, NegotiatedParams, NegotiationPolicy } from './policy.js';

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
