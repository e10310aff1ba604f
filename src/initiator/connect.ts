// One connection of a session, from TCP connect to logged in: the login exchange over a Transport, login
// redirections (status class 1, RFC 7143 §11.13.5), and the retry without CHAP_A=7 for targets that
// number SHA-1 as 7. Every connection of a session logs in the same way, the first and each reinstatement.

import type { Logger } from 'pino';
import { ConnectionError, IscsiProtocolError } from '../errors.js';
import { Opcode } from '../pdu/constants.js';
import type { ChapAlgorithmId } from '../login/chap.js';
import { CHAP_ALGORITHMS_WITHOUT_7, LoginExchange, mayBeChapA7Confusion, type LoginExchangeOptions, type LoginOutcome, type LoginRedirect } from './core/login.js';
import { parseTargetAddress } from './core/text.js';
import type { TagSource } from './core/tmf.js';
import type { ChapOptions, ResolvedSession } from './options.js';
import { sessionClosedError } from './errors.js';
import { Transport } from './transport.js';

/** The CHAP part of a login from the user's CHAP options, offering `algorithms` when given. */
export function chapLogin(chap: ChapOptions, algorithms: readonly ChapAlgorithmId[] | undefined): NonNullable<LoginExchangeOptions['chap']> {
  return {
    name: chap.user,
    secret: chap.secret,
    ...(algorithms !== undefined && { algorithms }),
    ...(chap.allowShortSecrets === true && { allowShortSecrets: true }),
    ...(chap.targetSecret !== undefined && { mutual: { secret: chap.targetSecret, ...(chap.targetUser !== undefined && { name: chap.targetUser }) } }),
  };
}

/** What a session's login needs besides its resolved options. */
export interface LoginContext {
  /** The CmdSN the login carries: the session's next. */
  cmdSN: number;
  /** The session's tags for non-command PDUs (the Login Request's ITT). */
  tags: TagSource;
  signal?: AbortSignal | undefined;
  logger?: Logger | undefined;
  /** True once the session is closing: a login under way gives up. */
  closing(): boolean;
  /** The connection being logged in, then null: close() cuts a hung login short through it. */
  establishing(tr: Transport | null): void;
}

/**
 * Connects to the session's portal and logs in a Normal session with its ISID and TSIH 0, following
 * redirections; resolves with the logged-in connection (digests and data segment limit not applied yet).
 */
export async function logIn(r: ResolvedSession, c: LoginContext): Promise<{ transport: Transport; outcome: LoginOutcome }> {
  let host = r.url.host;
  let port = r.url.port;
  for (let redirects = 0; ; redirects++) {
    const tr = await Transport.connect(host, port, { connectTimeout: r.connectTimeout, signal: c.signal, maxRecvDataSegmentLength: r.maxRecv });
    let outcome: LoginOutcome | LoginRedirect;
    c.establishing(tr);
    let ex: LoginExchange | undefined;
    try {
      if (c.closing()) throw sessionClosedError();
      ex = exchange(r, c);
      outcome = await runLogin(tr, ex, r.loginTimeout);
    } catch (e) {
      tr.destroy();
      if (ex !== undefined && r.chap !== undefined && r.chap.algorithms === undefined && mayBeChapA7Confusion(ex, e)) {
        // tgt calls SHA-1 "7": log in again without SHA-256 on offer, and keep it so for reconnections.
        c.logger?.debug('the target chose CHAP_A=7 and refused the SHA-256 response; retrying with SHA-1 and MD5');
        r.chap.algorithms = CHAP_ALGORITHMS_WITHOUT_7;
        redirects--;
        continue;
      }
      throw e;
    } finally {
      c.establishing(null);
    }
    if ('address' in outcome) {
      tr.destroy();
      const a = parseTargetAddress(outcome.address);
      if (a === undefined) throw new IscsiProtocolError('ERR_LOGIN_REDIRECT', `redirected to ${JSON.stringify(outcome.address)}, which is not host[:port]`, { rule: 'RFC 7143 §13.8', action: 'drop' });
      if (redirects >= r.maxRedirects) throw new ConnectionError('ERR_TOO_MANY_REDIRECTS', `more than ${r.maxRedirects} login redirections`);
      c.logger?.debug({ to: outcome.address, permanent: outcome.permanent }, 'login redirected');
      host = a.host;
      port = a.port;
      continue;
    }
    if (c.closing()) {
      tr.destroy();
      throw sessionClosedError();
    }
    return { transport: tr, outcome };
  }
}

function exchange(r: ResolvedSession, c: LoginContext): LoginExchange {
  const chap = r.chap;
  return new LoginExchange({
    initiatorName: r.initiatorName,
    ...(r.initiatorAlias !== undefined && { initiatorAlias: r.initiatorAlias }),
    targetName: r.target,
    sessionType: 'Normal',
    policy: r.policy,
    ...(chap !== undefined && { chap: chapLogin(chap, chap.algorithms) }),
    isid: r.isid,
    // ErrorRecoveryLevel 0 recovery is session reinstatement: same ISID, TSIH 0 (RFC 7143 §6.3.5).
    tsih: 0,
    cmdSN: c.cmdSN,
    itt: c.tags.next(),
  });
}

async function runLogin(tr: Transport, ex: LoginExchange, timeoutMs: number): Promise<LoginOutcome | LoginRedirect> {
  const deadline = Date.now() + timeoutMs;
  tr.send(ex.start());
  for (;;) {
    const left = deadline - Date.now();
    const pdu = await tr.receive(Math.max(1, left), 'Login Response');
    if (pdu.opcode !== Opcode.LoginResponse) {
      throw new IscsiProtocolError('ERR_LOGIN_PDU', `a ${pdu.opcode.toString(16)} PDU during login`, { rule: 'RFC 7143 §6.3', action: 'drop' });
    }
    const step = ex.receive(pdu);
    if ('send' in step) tr.send(step.send);
    else if ('done' in step) return step.done;
    else return step.redirect;
  }
}
