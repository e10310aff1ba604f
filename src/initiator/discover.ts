// Discovery (RFC 7143 §4.3, §13.3, Appendix C): a Discovery session asks SendTargets=All and lists the
// targets behind a portal with their addresses, then logs out.

import { ConnectionError, IscsiProtocolError } from '../errors.js';
import { LogoutReason, Opcode, RESERVED_TAG } from '../pdu/constants.js';
import type { ChapSecret } from '../login/chap.js';
import { chapLogin } from './connect.js';
import { CHAP_ALGORITHMS_WITHOUT_7, LoginExchange, mayBeChapA7Confusion } from './core/login.js';
import { TagSource } from './core/tmf.js';
import { TextExchange, parseSendTargets, type DiscoveredTarget } from './core/text.js';
import { SESSION_DEFAULTS, defaultInitiatorName, randomIsid, type ChapOptions } from './options.js';
import { Transport } from './transport.js';
import { parseIscsiUrl, type IscsiUrl } from './url.js';

export type { DiscoveredTarget } from './core/text.js';

/** Options of {@link discover}. */
export interface DiscoverOptions {
  initiatorName?: string;
  /** CHAP for the discovery session (the portal's discovery credentials). */
  chap?: ChapOptions;
  /** Whole-operation timeout in ms. Default 15000. */
  timeout?: number;
  signal?: AbortSignal;
  /** SendTargets value: 'All' (default), or one target name. */
  sendTargets?: string;
}

/**
 * Lists the targets a portal offers: `discover('192.0.2.1')`, `discover('host:3261')` or an iscsi:// URL
 * (its CHAP user%secret is used for the discovery login).
 * @throws ConnectionError, LoginError, TimeoutError, IscsiProtocolError
 */
export async function discover(portal: string, options: DiscoverOptions = {}): Promise<DiscoveredTarget[]> {
  const u = parsePortal(portal);
  const timeout = options.timeout ?? 15000;
  const deadline = Date.now() + timeout;
  const left = (): number => Math.max(1, deadline - Date.now());
  const chap = options.chap ?? (u.user !== undefined && u.secret !== undefined ? { user: u.user, secret: u.secret as ChapSecret, ...(u.targetSecret !== undefined && { targetSecret: u.targetSecret }) } : undefined);
  let algorithms = chap?.algorithms;
  for (let attempt = 0; ; attempt++) {
    const tr = await Transport.connect(u.host, u.port, { connectTimeout: Math.min(timeout, SESSION_DEFAULTS.connectTimeout), signal: options.signal, maxRecvDataSegmentLength: SESSION_DEFAULTS.maxRecvDataSegmentLength });
    let login: LoginExchange | undefined;
    const tags = new TagSource();
    try {
      login = new LoginExchange({
        initiatorName: options.initiatorName ?? defaultInitiatorName(),
        sessionType: 'Discovery',
        ...(chap !== undefined && { chap: chapLogin(chap, algorithms) }),
        isid: randomIsid(),
        tsih: 0,
        cmdSN: 1,
        itt: tags.next(),
      });
      return await discoverOn(tr, login, tags, left, options);
    } catch (e) {
      if (attempt === 0 && algorithms === undefined && chap !== undefined && login !== undefined && mayBeChapA7Confusion(login, e)) {
        algorithms = CHAP_ALGORITHMS_WITHOUT_7;
        continue;
      }
      throw e;
    } finally {
      tr.destroy();
    }
  }
}

async function discoverOn(tr: Transport, login: LoginExchange, tags: TagSource, left: () => number, options: DiscoverOptions): Promise<DiscoveredTarget[]> {
  const onAbort = (): void => tr.destroy(new ConnectionError('ERR_ABORTED', 'discovery aborted'));
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    tr.send(login.start());
    let outcome;
    for (;;) {
      const pdu = await tr.receive(left(), 'Login Response');
      if (pdu.opcode !== Opcode.LoginResponse) throw new IscsiProtocolError('ERR_LOGIN_PDU', 'a PDU other than Login Response during login', { rule: 'RFC 7143 §6.3', action: 'drop' });
      const step = login.receive(pdu);
      if ('send' in step) tr.send(step.send);
      else if ('redirect' in step) {
        tr.destroy();
        return discover(step.redirect.address, options);
      } else {
        outcome = step.done;
        break;
      }
    }
    const p = outcome.params;
    tr.setDigests(p.connection.headerDigest === 'CRC32C', p.connection.dataDigest === 'CRC32C');
    tr.setMaxRecvDataSegmentLength(p.connection.maxRecvDataSegmentLength);
    let cmdSN = outcome.expCmdSN;
    let expStatSN = (outcome.statSN + 1) >>> 0;
    const text = new TextExchange({
      pairs: [['SendTargets', options.sendTargets ?? 'All']],
      itt: tags.next(),
      nextCmdSN: () => {
        const sn = cmdSN;
        cmdSN = (cmdSN + 1) >>> 0;
        return sn;
      },
      expStatSN: () => expStatSN,
      maxSendDataSegmentLength: p.connection.maxSendDataSegmentLength,
    });
    tr.send(text.start());
    let pairs;
    for (;;) {
      const pdu = await tr.receive(left(), 'Text Response');
      if (pdu.opcode === Opcode.NopIn) {
        // RFC 7143 §11.18: a target's ping is answered with its TTT, ITT reserved.
        if (pdu.ttt !== RESERVED_TAG) tr.send({ opcode: Opcode.NopOut, immediate: true, lun: pdu.lun, itt: RESERVED_TAG, ttt: pdu.ttt, cmdSN, expStatSN, data: Buffer.alloc(0) });
        continue;
      }
      if (pdu.opcode === Opcode.AsyncMessage) continue;
      if (pdu.opcode !== Opcode.TextResponse) {
        throw new IscsiProtocolError('ERR_UNEXPECTED_PDU', `PDU 0x${pdu.opcode.toString(16)} while waiting for the SendTargets answer`, { rule: 'RFC 7143 §11.11', action: 'drop' });
      }
      expStatSN = (pdu.statSN + 1) >>> 0;
      const step = text.receive(pdu);
      if ('send' in step) tr.send(step.send);
      else {
        pairs = step.done;
        break;
      }
    }
    // Log out politely; a target that just closes is fine too.
    tr.send({ opcode: Opcode.LogoutRequest, immediate: true, reasonCode: LogoutReason.CloseSession, itt: tags.next(), cid: 0, cmdSN, expStatSN });
    try {
      await tr.receive(Math.min(left(), 2000), 'Logout Response');
    } catch {
      // ignored
    }
    return parseSendTargets(pairs);
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
}

/** Accepts HOST, HOST:PORT, [IPv6]:PORT, or an iscsi:// URL. */
function parsePortal(s: string): IscsiUrl {
  if (/^iscsi:\/\//i.test(s)) return parseIscsiUrl(s);
  return parseIscsiUrl(`iscsi://${s.includes(':') && !s.startsWith('[') && s.indexOf(':') !== s.lastIndexOf(':') ? `[${s}]` : s}`);
}
