// Text requests in full feature phase (RFC 7143 §11.10, §11.11): SendTargets (Appendix C), the few keys
// that may be renegotiated (MaxRecvDataSegmentLength is declarative, §13.12), and the Continue/TTT
// dance for requests and answers longer than one PDU.

import { RESERVED_TAG, RejectReason } from '../pdu/constants.js';
import { TextAssembler, TextFormatError, TextSplitter, encodeTextKeys, type TextPair } from '../pdu/text-keys.js';
import type { TextRequestPdu } from '../pdu/types.js';
import { IscsiProtocolError } from '../errors.js';
import { KEYS, isExtensionKey, type ConnectionParams } from '../login/keys.js';
import type { TargetSession } from './session.js';

/** What the responder needs of the connection a Text Request came on (the engine implements it). */
export interface TextConnection {
  readonly session: TargetSession;
  /** The negotiated connection values: a declared MaxRecvDataSegmentLength changes them (§13.12). */
  readonly connectionParams: ConnectionParams;
}

/** The answer to one Text Request PDU: a Text Response's fields, a Reject, or nothing. */
export type TextAnswer =
  | { final: boolean; continue: boolean; ttt: number; data: Buffer }
  | { reject: number; why: string }
  | undefined;

/** What the connection engine needs of a text responder. */
export interface TextResponder {
  respond(conn: TextConnection, pdu: TextRequestPdu): TextAnswer;
}

/** One target as SendTargets lists it. */
export interface SendTargetsEntry {
  name: string;
  /** `host:port,tpgt` strings (RFC 7143 §13.9), IPv6 hosts in brackets. */
  addresses: string[];
}

/** What the responder asks of the target node. */
export interface TextScope {
  /**
   * Targets this session may see: every target the initiator is allowed to reach for
   * SendTargets=All, or just the named one (RFC 7143 Appendix C.3).
   */
  sendTargets(conn: TextConnection, value: string): SendTargetsEntry[];
  /** Largest text answer gathered across PDUs. */
  maxTextBytes?: number;
}

/** Per-connection text state: a request being gathered, or an answer being handed out. */
export class TargetTextResponder implements TextResponder {
  readonly #scope: TextScope;
  readonly #assembler: TextAssembler;
  #pending: { itt: number; ttt: number; splitter: TextSplitter } | undefined;
  #gatherTtt: number | undefined;
  #nextTtt = 0x70000000;

  constructor(scope: TextScope) {
    this.#scope = scope;
    this.#assembler = new TextAssembler({ source: 'text-request', maxBytes: scope.maxTextBytes ?? 65536 });
  }

  respond(conn: TextConnection, pdu: TextRequestPdu): TextAnswer {
    // Continuing an answer we split: an empty request naming our TTT asks for the next part.
    if (this.#pending !== undefined && pdu.ttt !== RESERVED_TAG) {
      if (pdu.ttt !== this.#pending.ttt || pdu.itt !== this.#pending.itt) {
        return { reject: RejectReason.InvalidPduField, why: 'Text Request TTT matches no pending answer' };
      }
      return this.#nextChunk();
    }
    if (pdu.ttt === RESERVED_TAG) {
      // RFC 7143 §11.10.4: a new request (TTT reserved) resets any exchange in progress.
      this.#pending = undefined;
      if (this.#gatherTtt !== undefined && !this.#assembler.pending) this.#gatherTtt = undefined;
    } else if (this.#gatherTtt === undefined || pdu.ttt !== this.#gatherTtt) {
      return { reject: RejectReason.InvalidPduField, why: 'Text Request with an unknown TTT' };
    }
    let pairs: TextPair[] | undefined;
    try {
      pairs = this.#assembler.push(pdu.data, pdu.continue);
    } catch (e) {
      if (e instanceof TextFormatError || e instanceof IscsiProtocolError) {
        this.#gatherTtt = undefined;
        return { reject: RejectReason.ProtocolError, why: e.message };
      }
      throw e;
    }
    if (pairs === undefined) {
      // More of the request is coming: an empty answer with a TTT to continue on (§11.11.3).
      this.#gatherTtt ??= this.#tag();
      return { final: false, continue: false, ttt: this.#gatherTtt, data: Buffer.alloc(0) };
    }
    this.#gatherTtt = undefined;
    const answer = this.#answer(conn, pairs);
    const splitter = new TextSplitter(encodeTextKeys(answer), conn.connectionParams.maxSendDataSegmentLength);
    this.#pending = { itt: pdu.itt, ttt: this.#tag(), splitter };
    return this.#nextChunk();
  }

  #nextChunk(): TextAnswer {
    const p = this.#pending!;
    const chunk = p.splitter.next()!;
    if (!chunk.continue) {
      this.#pending = undefined;
      return { final: true, continue: false, ttt: RESERVED_TAG, data: chunk.data };
    }
    return { final: false, continue: true, ttt: p.ttt, data: chunk.data };
  }

  #tag(): number {
    const t = this.#nextTtt;
    this.#nextTtt = this.#nextTtt >= 0x7fffffff ? 0x70000000 : this.#nextTtt + 1;
    return t;
  }

  #answer(conn: TextConnection, pairs: TextPair[]): [string, string][] {
    const out: [string, string][] = [];
    for (const [key, value] of pairs) {
      if (key === 'SendTargets') {
        // Appendix C: in a normal session only the session's own target may be asked for (or empty value).
        for (const t of this.#scope.sendTargets(conn, value)) {
          out.push(['TargetName', t.name]);
          for (const a of t.addresses) out.push(['TargetAddress', a]);
        }
        continue;
      }
      if (key === 'MaxRecvDataSegmentLength') {
        // Declarative (RFC 7143 §13.12): from now on we send at most this much per PDU.
        const n = Number(value);
        if (Number.isInteger(n) && n >= 512 && n <= 0xffffff) {
          conn.connectionParams.maxSendDataSegmentLength = n;
        } else {
          out.push([key, 'Reject']);
        }
        continue;
      }
      const def = KEYS.get(key);
      if (def === undefined || isExtensionKey(key)) {
        out.push([key, 'NotUnderstood']);
      } else if (def.use === 'FFPO' || def.use === 'ALL') {
        // Informational or declarative keys we do not act on: echo nothing for declarations.
        if (def.result !== 'declarative') out.push([key, 'Reject']);
      } else {
        // Leading-only and initialize-only keys cannot be renegotiated in full feature phase (§6.2).
        out.push([key, 'Reject']);
      }
    }
    return out;
  }
}
