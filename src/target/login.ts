// The login phase of one target connection (RFC 7143 §6.3, §11.12, §11.13), without a socket: Login
// Requests in, Login Responses out. PDU-level rules live here (versions, ISID/TSIH/CID/ITT staying put,
// text split across PDUs with the C bit, status classes); key negotiation and CHAP are the shared
// TargetLoginNegotiator's. Who may log in, and which session the login creates or joins, the registry
// decides.

import type { Logger } from 'pino';
import { IscsiProtocolError } from '../errors.js';
import { ISCSI_VERSION, LoginStatus, Opcode, Stage } from '../pdu/constants.js';
import { TextAssembler, TextSplitter, encodeTextKeys, type TextPair } from '../pdu/text-keys.js';
import type { LoginRequestPdu, LoginResponsePdu } from '../pdu/types.js';
import type { LoginStage, NextStage } from '../login/key-negotiator.js';
import type { NegotiatedParams, NegotiationPolicy } from '../login/policy.js';
import { TargetLoginNegotiator, type LoginIdentity, type TargetAuthConfig } from '../login/target-negotiator.js';
import { snAdd } from '../util/serial.js';

/** A login the registry refuses: the status class/detail to answer (RFC 7143 §11.13.5). */
export class LoginRefusal extends IscsiProtocolError {
  constructor(status: number, message: string, rule = 'RFC 7143 §11.13.5') {
    super('ERR_LOGIN_REFUSED', message, { rule, action: 'login-reject', loginStatus: status });
    this.name = 'LoginRefusal';
  }
}

/** The first Login Request's identity and the portal it came in on. */
export interface LoginContext extends LoginIdentity {
  isid: string;
  tsih: number;
  cid: number;
}

/** What the login asks of the target's registry. */
export interface LoginRegistry {
  /**
   * Checks who may log in (target exists, initiator allowed) and picks the authentication. Throws
   * LoginRefusal (0x0203 not found, 0x0202 not allowed, ...).
   */
  authorize(ctx: LoginContext): { auth: TargetAuthConfig; policy: Partial<NegotiationPolicy>; targetAlias?: string };
  /** The portal group tag of the portal this connection arrived on. */
  readonly tpgt: number;
}

/** A login whose negotiation completed: what the session registry needs to create or join the session. */
export interface LoginDone {
  ctx: LoginContext;
  params: NegotiatedParams;
  /** CmdSN of the leading Login Request: the session's first ExpCmdSN. */
  cmdSN: number;
  /** StatSN to use for the first full feature phase status. */
  nextStatSN: number;
  /** ITT and CmdSN of the final request, to build the final response once a TSIH is known. */
  finalRequest: LoginRequestPdu;
  /** The keys of the final response. */
  finalPairs: TextPair[];
  chapName: string | undefined;
}

/** What the caller does after one Login Request. */
export type LoginStep =
  | { kind: 'respond'; pdus: LoginResponsePdu[] }
  /** Negotiation is complete: the caller creates or joins the session, then calls `finalResponse`. */
  | { kind: 'complete'; done: LoginDone }
  /** Refused: send the PDU, then close the connection. */
  | { kind: 'refuse'; pdu: LoginResponsePdu; reason: string }
  /** Close without answering (RFC 7143 says to drop, or the peer is beyond help). */
  | { kind: 'drop'; reason: string };

const DEFAULT_LOGIN_MRDSL = 8192;

/** The login phase of one target connection (RFC 7143 §6, §11.12, §11.13): Login Requests in, Login Responses out. */
export class TargetLogin {
  readonly #registry: LoginRegistry;
  readonly #log: Logger;
  readonly #assembler = new TextAssembler({ source: 'login-request', maxBytes: 65536 });
  #negotiator: TargetLoginNegotiator | undefined;
  #ctx: LoginContext | undefined;
  #first: LoginRequestPdu | undefined;
  #statSN = 0;
  #cmdSN = 0;
  /** Our answer still being handed out in pieces (C bit), with the request it answers. */
  #outgoing: { splitter: TextSplitter; stage: LoginStage; transit: boolean; nsg: NextStage } | undefined;
  #sendLimit = DEFAULT_LOGIN_MRDSL;

  constructor(registry: LoginRegistry, log: Logger) {
    this.#registry = registry;
    this.#log = log;
  }

  get context(): LoginContext | undefined {
    return this.#ctx;
  }

  handle(pdu: LoginRequestPdu): LoginStep {
    try {
      return this.#handle(pdu);
    } catch (e) {
      if (e instanceof IscsiProtocolError) {
        if (e.action === 'drop') return { kind: 'drop', reason: e.message };
        const status = e.loginStatus ?? LoginStatus.InitiatorError;
        this.#log.info({ status: status.toString(16).padStart(4, '0'), reason: e.message, initiator: this.#ctx?.initiatorName }, 'login refused');
        return { kind: 'refuse', pdu: this.#reply(pdu, { status, transit: false, nsg: pdu.csg as NextStage, data: EMPTY }), reason: e.message };
      }
      throw e;
    }
  }

  #handle(pdu: LoginRequestPdu): LoginStep {
    if (this.#first === undefined) {
      this.#first = pdu;
      this.#statSN = pdu.expStatSN;
      this.#cmdSN = pdu.cmdSN;
      // RFC 7143 §11.12.4: we speak version 0; a range that excludes it is refused.
      if (pdu.versionMin > ISCSI_VERSION) {
        throw new LoginRefusal(LoginStatus.UnsupportedVersion, `initiator supports versions ${pdu.versionMin}..${pdu.versionMax} only`, 'RFC 7143 §11.12.4');
      }
    } else {
      // RFC 7143 §6.3: ISID, TSIH, CID and ITT stay the same for the whole login.
      const f = this.#first;
      if (pdu.isid !== f.isid || pdu.tsih !== f.tsih || pdu.cid !== f.cid) {
        throw new LoginRefusal(LoginStatus.InitiatorError, 'ISID, TSIH or CID changed during login', 'RFC 7143 §6.3');
      }
      this.#cmdSN = pdu.cmdSN;
    }
    // Handing out a long answer: an empty request asks for the next piece (RFC 7143 §6.1).
    if (this.#outgoing !== undefined) {
      if (pdu.data.length > 0 || pdu.continue) throw new LoginRefusal(LoginStatus.InitiatorError, 'Login Request with text while the target answer continues', 'RFC 7143 §6.1');
      return { kind: 'respond', pdus: [this.#nextOutgoing(pdu)] };
    }
    const pairs = this.#assembler.push(pdu.data, pdu.continue);
    if (pairs === undefined) {
      // More text is coming: an empty response (C=0, T=0) asks for it (RFC 7143 §11.12.2).
      return { kind: 'respond', pdus: [this.#reply(pdu, { status: 0, transit: false, nsg: pdu.csg as NextStage, data: EMPTY })] };
    }
    if (this.#negotiator === undefined) {
      const get = (k: string): string | undefined => pairs.find(([key]) => key === k)?.[1];
      const sessionType = get('SessionType') === 'Discovery' ? 'Discovery' : 'Normal';
      const ctx: LoginContext = {
        initiatorName: get('InitiatorName'),
        targetName: get('TargetName'),
        sessionType,
        isid: pdu.isid,
        tsih: pdu.tsih,
        cid: pdu.cid,
      };
      this.#ctx = ctx;
      if (ctx.initiatorName === undefined) {
        throw new LoginRefusal(LoginStatus.MissingParameter, 'the first Login Request has no InitiatorName', 'RFC 7143 §13.5');
      }
      if (sessionType === 'Normal' && ctx.targetName === undefined) {
        throw new LoginRefusal(LoginStatus.MissingParameter, 'a Normal session login has no TargetName', 'RFC 7143 §13.4');
      }
      const { auth, policy, targetAlias } = this.#registry.authorize(ctx);
      this.#negotiator = new TargetLoginNegotiator({
        auth,
        policy,
        portalGroupTag: this.#registry.tpgt,
        ...(targetAlias !== undefined && { targetAlias }),
      });
    }
    const out = this.#negotiator.handleRequest({
      stage: pdu.csg as LoginStage,
      transit: pdu.transit,
      nextStage: pdu.nsg as NextStage,
      pairs,
    });
    if (out.complete) {
      const params = this.#negotiator.params;
      // Everything after the final response uses the initiator's declared MaxRecvDataSegmentLength.
      return {
        kind: 'complete',
        done: {
          ctx: this.#ctx!,
          params,
          cmdSN: this.#cmdSN,
          nextStatSN: 0,
          finalRequest: pdu,
          finalPairs: out.pairs,
          chapName: this.#negotiator.chapName,
        },
      };
    }
    const mrdsl = this.#negotiator.keys?.peerDeclaration?.('MaxRecvDataSegmentLength');
    if (mrdsl !== undefined) {
      const n = Number(mrdsl);
      if (Number.isInteger(n) && n >= 512) this.#sendLimit = Math.min(n, DEFAULT_LOGIN_MRDSL);
    }
    return this.#answer(pdu, out.pairs, out.stage, out.transit, out.nextStage);
  }

  /** The Login Final-Response, once the session exists and has a TSIH. */
  finalResponse(done: LoginDone, tsih: number, maxCmdSN: number): LoginResponsePdu[] {
    const pdus: LoginResponsePdu[] = [];
    const step = this.#answer(done.finalRequest, done.finalPairs, Stage.Operational as LoginStage, true, Stage.FullFeature, tsih, maxCmdSN);
    if (step.kind === 'respond') pdus.push(...step.pdus);
    return pdus;
  }

  /** The StatSN the next PDU on this connection carries. */
  get statSN(): number {
    return this.#statSN;
  }

  /** Whether the whole final answer went out (it may need more empty requests to hand out). */
  get answering(): boolean {
    return this.#outgoing !== undefined;
  }

  #answer(
    req: LoginRequestPdu,
    pairs: TextPair[],
    stage: LoginStage,
    transit: boolean,
    nsg: NextStage,
    tsih?: number,
    maxCmdSN?: number,
  ): LoginStep {
    const data = encodeTextKeys(pairs);
    if (data.length <= this.#sendLimit) {
      return { kind: 'respond', pdus: [this.#reply(req, { status: 0, transit, nsg, data, stage, tsih, maxCmdSN })] };
    }
    // Longer than the initiator takes in one PDU: C=1 (and T=0) on all but the last (RFC 7143 §6.1).
    this.#outgoing = { splitter: new TextSplitter(data, this.#sendLimit), stage, transit, nsg };
    this.#pendingTsih = tsih;
    this.#pendingMax = maxCmdSN;
    return { kind: 'respond', pdus: [this.#nextOutgoing(req)] };
  }

  #pendingTsih: number | undefined;
  #pendingMax: number | undefined;

  #nextOutgoing(req: LoginRequestPdu): LoginResponsePdu {
    const o = this.#outgoing!;
    const chunk = o.splitter.next()!;
    if (!chunk.continue) this.#outgoing = undefined;
    return this.#reply(req, {
      status: 0,
      transit: chunk.continue ? false : o.transit,
      nsg: chunk.continue ? o.stage : o.nsg,
      data: chunk.data,
      stage: o.stage,
      cont: chunk.continue,
      tsih: this.#pendingTsih,
      maxCmdSN: this.#pendingMax,
    });
  }

  #reply(
    req: LoginRequestPdu,
    o: { status: number; transit: boolean; nsg: NextStage; data: Buffer; stage?: LoginStage; cont?: boolean; tsih?: number | undefined; maxCmdSN?: number | undefined },
  ): LoginResponsePdu {
    const statSN = this.#statSN;
    this.#statSN = snAdd(statSN, 1);
    return {
      opcode: Opcode.LoginResponse,
      transit: o.transit,
      continue: o.cont ?? false,
      csg: o.stage ?? req.csg,
      nsg: o.transit ? o.nsg : 0,
      versionMax: ISCSI_VERSION,
      versionActive: ISCSI_VERSION,
      isid: req.isid,
      tsih: o.tsih ?? req.tsih,
      itt: req.itt,
      statSN,
      expCmdSN: this.#cmdSN,
      // During login the window is the leading request's CmdSN (login requests are immediate).
      maxCmdSN: o.maxCmdSN ?? this.#cmdSN,
      statusClass: o.status >> 8,
      statusDetail: o.status & 0xff,
      data: o.data,
    };
  }
}

const EMPTY: Buffer = Buffer.alloc(0);
