// The initiator's Login Phase as PDUs (RFC 7143 §6, §11.12, §11.13), without a socket: start() gives the
// first Login Request, receive() takes each Login Response and gives the next request or the outcome.
// Keys, stages and CHAP are InitiatorLoginNegotiator's; this adds the PDU fields (ISID, TSIH, ITT, CID,
// CmdSN, StatSN), text spread over PDUs with the C bit both ways, and the status classes.

import { IscsiProtocolError, LoginError } from '../../errors.js';
import { LOGIN_STATUS_NAMES, Opcode, Stage } from '../../pdu/constants.js';
import { TextAssembler, TextSplitter, encodeTextKeys, type TextPair } from '../../pdu/text-keys.js';
import type { LoginRequestPdu, LoginResponsePdu } from '../../pdu/types.js';
import { InitiatorLoginNegotiator, type InitiatorLoginOptions, type LoginRequestOutput } from '../../login/initiator-negotiator.js';
import type { NextStage } from '../../login/key-negotiator.js';
import type { NegotiatedParams } from '../../login/policy.js';

/** The PDU fields of one connection's login. */
export interface LoginExchangeOptions extends InitiatorLoginOptions {
  /** 12 hex digits (RFC 7143 §11.12.5). */
  isid: string;
  /** 0 for a new session or a reinstatement (RFC 7143 §6.3.5). */
  tsih: number;
  cid?: number;
  /** The session's first CmdSN (immediate login PDUs carry it without advancing it). */
  cmdSN: number;
  itt: number;
  /** The largest data segment to send during login: RFC 7143 §13.12 default 8192. */
  maxSendDataSegmentLength?: number;
}

/** A login that completed (status class 0, Final-Response received). */
export interface LoginOutcome {
  params: NegotiatedParams;
  tsih: number;
  /** StatSN of the final Login Response: the next one expected is statSN + 1. */
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
}

/** The target redirected the login (status class 1, RFC 7143 §11.13.5). */
export interface LoginRedirect {
  address: string;
  permanent: boolean;
}

/** What to do after a Login Response: send the next request, or the login ended (done or redirected). */
export type LoginStep = { send: LoginRequestPdu } | { done: LoginOutcome } | { redirect: LoginRedirect };

/**
 * CHAP algorithms to offer to a target that answered CHAP_A=7 and then refused the SHA-256 response: tgt
 * (Linux SCSI target framework) numbers SHA-1 as 7, where the IANA registry RFC 7143 §12.1.3 uses says
 * SHA-256. Without 7 on offer such a target picks MD5 (5), and a correct one SHA-1 (6).
 */
export const CHAP_ALGORITHMS_WITHOUT_7 = [6, 5] as const;

/** True when a failed login may be a target misnumbering CHAP_A=7 (see {@link CHAP_ALGORITHMS_WITHOUT_7}). */
export function mayBeChapA7Confusion(ex: LoginExchange, err: unknown): boolean {
  return ex.targetChapAlgorithm === 7 && err instanceof LoginError && err.statusClass === 2;
}

const LOGIN_HINTS: Readonly<Record<number, string>> = {
  0x0201: 'check the CHAP user and secret',
  0x0202: 'the target does not let this initiator in (check its ACL and the initiator name)',
  0x0203: 'no target by that name here (list them with `tsiscsi discover`)',
  0x0204: 'the target was removed',
  0x0206: 'the target accepts no more connections',
  0x0207: 'the target wants a key this initiator did not send',
  0x0209: 'the target does not support this session type',
  0x020a: 'the session to add to does not exist',
  0x0301: 'the target is temporarily unavailable; retry later',
  0x0302: 'the target is out of resources; retry later',
};

/** The LoginError for a Login Response status other than success or redirection. */
export function loginStatusError(statusClass: number, statusDetail: number): LoginError {
  const code = (statusClass << 8) | statusDetail;
  const name = LOGIN_STATUS_NAMES[code] ?? LOGIN_STATUS_NAMES[statusClass << 8] ?? 'unknown status';
  const hint = LOGIN_HINTS[code];
  return new LoginError(
    statusClass,
    statusDetail,
    `login failed: ${name} (status class 0x${statusClass.toString(16).padStart(2, '0')}, detail 0x${statusDetail.toString(16).padStart(2, '0')}, RFC 7143 §11.13.5)${hint ? `: ${hint}` : ''}`,
  );
}

function violation(code: string, message: string, rule: string): IscsiProtocolError {
  return new IscsiProtocolError(code, message, { rule, action: 'drop' });
}

/**
 * One connection's login as PDUs: {@link start} gives the first Login Request; {@link receive} takes each
 * Login Response and returns the next request, the outcome, or a redirection.
 */
export class LoginExchange {
  /** The key negotiation under the PDUs. */
  readonly negotiator: InitiatorLoginNegotiator;
  readonly #o: LoginExchangeOptions;
  readonly #assembler = new TextAssembler({ source: 'response' });
  #expStatSN = 0;
  #statSNKnown = false;
  /** The request whose text is being sent in pieces, and the splitter of its text. */
  #current: LoginRequestOutput | undefined;
  #splitter: TextSplitter | undefined;
  #tsih: number;
  #done = false;
  /** The CHAP_A the target chose, once it did. */
  targetChapAlgorithm: number | undefined;

  constructor(options: LoginExchangeOptions) {
    this.#o = options;
    this.#tsih = options.tsih;
    this.negotiator = new InitiatorLoginNegotiator(options);
  }

  /** The first Login Request. */
  start(): LoginRequestPdu {
    return this.#begin(this.negotiator.start());
  }

  #begin(r: LoginRequestOutput): LoginRequestPdu {
    this.#current = r;
    this.#splitter = new TextSplitter(encodeTextKeys(r.pairs), this.#o.maxSendDataSegmentLength ?? 8192);
    return this.#nextPiece();
  }

  #nextPiece(): LoginRequestPdu {
    const r = this.#current!;
    const chunk = this.#splitter!.next()!;
    // RFC 7143 §11.12.2: T only on the last piece (T and C are never both 1).
    const transit = !chunk.continue && r.transit;
    return this.#pdu(r.stage, transit, transit ? r.nextStage : r.stage, chunk.continue, chunk.data);
  }

  #pdu(csg: number, transit: boolean, nsg: NextStage | number, cont: boolean, data: Buffer): LoginRequestPdu {
    return {
      opcode: Opcode.LoginRequest,
      transit,
      continue: cont,
      csg,
      nsg,
      versionMax: 0,
      versionMin: 0,
      isid: this.#o.isid,
      tsih: this.#tsih,
      itt: this.#o.itt,
      cid: this.#o.cid ?? 0,
      cmdSN: this.#o.cmdSN,
      expStatSN: this.#expStatSN,
      data,
    };
  }

  /** Takes a Login Response; throws LoginError (status class 2/3) or IscsiProtocolError (a broken response). */
  receive(pdu: LoginResponsePdu): LoginStep {
    if (this.#done) throw violation('ERR_LOGIN_STATE', 'Login Response after the login completed', 'RFC 7143 §6.3');
    if (pdu.itt !== this.#o.itt) throw violation('ERR_LOGIN_ITT', `Login Response ITT 0x${pdu.itt.toString(16)}, expected 0x${this.#o.itt.toString(16)}`, 'RFC 7143 §11.13');
    if (pdu.statusClass === 1) {
      // Redirection: TargetAddress says where to go (RFC 7143 §11.13.5, §13.8).
      const pairs = safePairs(pdu.data);
      const address = pairs.find(([k]) => k === 'TargetAddress')?.[1];
      if (address === undefined) throw violation('ERR_LOGIN_REDIRECT', 'redirection without TargetAddress', 'RFC 7143 §11.13.5');
      this.#done = true;
      return { redirect: { address, permanent: pdu.statusDetail === 2 } };
    }
    if (pdu.statusClass !== 0) {
      this.#done = true;
      throw loginStatusError(pdu.statusClass, pdu.statusDetail);
    }
    if (pdu.isid !== this.#o.isid.toLowerCase()) throw violation('ERR_LOGIN_ISID', `Login Response ISID ${pdu.isid}, expected ${this.#o.isid}`, 'RFC 7143 §11.13');
    // RFC 7143 §11.13: versions. We speak version 0 only.
    if (pdu.versionActive !== 0) throw violation('ERR_LOGIN_VERSION', `target chose version ${pdu.versionActive}`, 'RFC 7143 §11.13.3');
    this.#expStatSN = (pdu.statSN + 1) >>> 0;
    this.#statSNKnown = true;
    // Our request was cut in pieces: the target answers each with an empty response (§11.12.2).
    if (this.#splitter !== undefined && !this.#splitter.done) {
      if (pdu.data.length > 0 || pdu.transit) throw violation('ERR_LOGIN_CONTINUE', 'the target answered a partial request with keys', 'RFC 7143 §11.13.2');
      return { send: this.#nextPiece() };
    }
    const pairs = this.#assembler.push(pdu.data, pdu.continue);
    if (pairs === undefined) {
      // More text to come: ask for it with an empty request (RFC 7143 §11.13.2).
      return { send: this.#pdu(pdu.csg, false, pdu.csg, false, Buffer.alloc(0)) };
    }
    const chapA = pairs.find(([k]) => k === 'CHAP_A')?.[1];
    if (chapA !== undefined && /^\d+$/.test(chapA)) this.targetChapAlgorithm = Number(chapA);
    if (pdu.csg !== Stage.Security && pdu.csg !== Stage.Operational) throw violation('ERR_LOGIN_STAGE', `Login Response in stage ${pdu.csg}`, 'RFC 7143 §11.13');
    const next = this.negotiator.handleResponse({ stage: pdu.csg, transit: pdu.transit, nextStage: pdu.nsg as NextStage, pairs });
    if (next === undefined) {
      // RFC 7143 §11.13: the Final-Response carries the TSIH of the new session.
      if (this.#tsih === 0 && pdu.tsih === 0) throw violation('ERR_LOGIN_TSIH', 'final Login Response without a TSIH', 'RFC 7143 §11.13.4');
      this.#done = true;
      return { done: { params: this.negotiator.params, tsih: pdu.tsih, statSN: pdu.statSN, expCmdSN: pdu.expCmdSN, maxCmdSN: pdu.maxCmdSN } };
    }
    return { send: this.#begin(next) };
  }

  /** ExpStatSN to stamp on the next request (0 until the first response). */
  get expStatSN(): number {
    return this.#statSNKnown ? this.#expStatSN : 0;
  }
}

function safePairs(data: Buffer): TextPair[] {
  try {
    return new TextAssembler({ source: 'response' }).push(data, false) ?? [];
  } catch {
    return [];
  }
}
