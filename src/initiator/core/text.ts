// A Text Request/Response exchange (RFC 7143 §11.10, §11.11), without a socket: used for SendTargets
// (§13.3, Appendix C). A long answer comes in several Text Responses with the C bit and a Target Transfer
// Tag; the initiator asks for each next piece with an empty Text Request carrying that TTT.

import { IscsiProtocolError } from '../../errors.js';
import { Opcode, RESERVED_TAG } from '../../pdu/constants.js';
import { TextAssembler, TextSplitter, encodeTextKeys, type TextPair } from '../../pdu/text-keys.js';
import type { TextRequestPdu, TextResponsePdu } from '../../pdu/types.js';

/** What a {@link TextExchange} sends, and the numbering it stamps on its requests. */
export interface TextExchangeOptions {
  pairs: readonly TextPair[];
  itt: number;
  /** Next CmdSN: each non-immediate Text Request takes one. Called once per request. */
  nextCmdSN: () => number;
  expStatSN: () => number;
  /** The target's MaxRecvDataSegmentLength. */
  maxSendDataSegmentLength: number;
  /** Most bytes of answer accepted (SendTargets of a big target can be long). Default 1 MiB. */
  maxResponseBytes?: number;
}

/** What to do after a Text Response: send the next request, or the exchange is done with these pairs. */
export type TextStep = { send: TextRequestPdu } | { done: TextPair[] };

function violation(code: string, message: string, rule: string): IscsiProtocolError {
  return new IscsiProtocolError(code, message, { rule, action: 'drop' });
}

/** One Text Request/Response exchange as PDUs (SendTargets), C-bit pieces and TTT continuation included. */
export class TextExchange {
  readonly #o: TextExchangeOptions;
  readonly #splitter: TextSplitter;
  readonly #assembler: TextAssembler;
  #done = false;

  constructor(o: TextExchangeOptions) {
    this.#o = o;
    this.#splitter = new TextSplitter(encodeTextKeys(o.pairs), o.maxSendDataSegmentLength);
    this.#assembler = new TextAssembler({ source: 'response', maxBytes: o.maxResponseBytes ?? 1 << 20 });
  }

  start(): TextRequestPdu {
    const c = this.#splitter.next()!;
    return this.#pdu(c.data, c.continue, RESERVED_TAG);
  }

  #pdu(data: Buffer, cont: boolean, ttt: number): TextRequestPdu {
    return {
      opcode: Opcode.TextRequest,
      immediate: false,
      final: !cont,
      continue: cont,
      lun: 0n,
      itt: this.#o.itt,
      ttt,
      cmdSN: this.#o.nextCmdSN(),
      expStatSN: this.#o.expStatSN(),
      data,
    };
  }

  receive(pdu: TextResponsePdu): TextStep {
    if (this.#done) throw violation('ERR_TEXT_STATE', 'Text Response after the exchange ended', 'RFC 7143 §11.11');
    if (pdu.itt !== this.#o.itt) throw violation('ERR_TEXT_ITT', `Text Response ITT 0x${pdu.itt.toString(16)}, expected 0x${this.#o.itt.toString(16)}`, 'RFC 7143 §11.11');
    if (!this.#splitter.done) {
      // Our request went in pieces: each piece is answered by an empty response (RFC 7143 §11.10.2).
      const c = this.#splitter.next()!;
      return { send: this.#pdu(c.data, c.continue, pdu.ttt === RESERVED_TAG ? RESERVED_TAG : pdu.ttt) };
    }
    const pairs = this.#assembler.push(pdu.data, pdu.continue);
    if (pairs === undefined || !pdu.final) {
      // RFC 7143 §11.11.4: a response that is not final has a TTT; we continue with it and no keys.
      if (pdu.ttt === RESERVED_TAG) throw violation('ERR_TEXT_TTT', 'a Text Response that is not final must carry a Target Transfer Tag', 'RFC 7143 §11.11.4');
      if (pairs !== undefined) throw violation('ERR_TEXT_FINAL', 'Text Response with C=0 and F=0 carrying keys', 'RFC 7143 §11.11.2');
      return { send: this.#pdu(Buffer.alloc(0), false, pdu.ttt) };
    }
    this.#done = true;
    return { done: pairs };
  }
}

/** One target of a SendTargets answer (RFC 7143 Appendix C). */
export interface DiscoveredTarget {
  name: string;
  portals: { host: string; port: number; portalGroupTag: number | undefined }[];
}

/**
 * Parses a TargetAddress value: `domainname[:port][,portal-group-tag]`, an IPv6 address in brackets
 * (RFC 7143 §13.8).
 */
export function parseTargetAddress(value: string): { host: string; port: number; portalGroupTag: number | undefined } | undefined {
  const m = /^(\[[^\]]+\]|[^:,]+)(?::(\d{1,5}))?(?:,(\d{1,5}))?$/.exec(value.trim());
  if (m === null) return undefined;
  const host = m[1]!.startsWith('[') ? m[1]!.slice(1, -1) : m[1]!;
  const port = m[2] === undefined ? 3260 : Number(m[2]);
  if (port < 1 || port > 65535) return undefined;
  return { host, port, portalGroupTag: m[3] === undefined ? undefined : Number(m[3]) };
}

/** Groups a SendTargets answer: each TargetName followed by its TargetAddress keys (RFC 7143 Appendix C). */
export function parseSendTargets(pairs: readonly TextPair[]): DiscoveredTarget[] {
  const out: DiscoveredTarget[] = [];
  let cur: DiscoveredTarget | undefined;
  for (const [k, v] of pairs) {
    if (k === 'TargetName') {
      cur = { name: v, portals: [] };
      out.push(cur);
    } else if (k === 'TargetAddress' && cur !== undefined) {
      const a = parseTargetAddress(v);
      if (a !== undefined) cur.portals.push(a);
    }
  }
  return out;
}
