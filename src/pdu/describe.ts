// A JSON-friendly view of a PDU for `tsiscsi dump` and logs: every BHS field under its RFC name,
// buffers as hex, text keys decoded.

import { opcodeName } from './codec.js';
import type { Frame } from './framer.js';
import { Opcode } from './constants.js';
import type { Pdu } from './types.js';
import { lunFromField } from './lun.js';

/** A value JSON can hold. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [k: string]: JsonValue };

/** Splits a text data segment into key=value strings without judging them (for display only). */
export type TextKeyDecoder = (data: Buffer) => string[];

const defaultTextDecoder: TextKeyDecoder = (data) =>
  data
    .toString('utf8')
    .split('\0')
    .filter((s) => s.length > 0);

/** Describes a decoded PDU together with the frame it came from. */
export function describePdu(pdu: Pdu, frame?: Frame, decodeText: TextKeyDecoder = defaultTextDecoder): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = { opcode: pdu.opcode, name: opcodeName(pdu.opcode) };
  if (frame !== undefined) {
    out.flags = frame.bhs[1]!;
    out.totalAHSLength = frame.bhs[4]!;
    out.dataSegmentLength = frame.data.length;
  }
  for (const [k, v] of Object.entries(pdu)) {
    if (k === 'opcode') continue;
    if (k === 'lun') {
      out.lun = lunJson(v as bigint);
    } else if (Buffer.isBuffer(v)) {
      if (k === 'data' && isText(pdu)) {
        out.textKeys = decodeText(v);
        continue;
      }
      out[k] = v.toString('hex');
    } else if (typeof v === 'bigint') {
      out[k] = v.toString();
    } else if (Array.isArray(v)) {
      out[k] = v.map((a: { ahsType: number; data: Buffer }) => ({ ahsType: a.ahsType, data: a.data.toString('hex') }));
    } else if (v !== undefined) {
      out[k] = v as JsonValue;
    }
  }
  return out;
}

function isText(pdu: Pdu): boolean {
  return (
    pdu.opcode === Opcode.LoginRequest ||
    pdu.opcode === Opcode.LoginResponse ||
    pdu.opcode === Opcode.TextRequest ||
    pdu.opcode === Opcode.TextResponse
  );
}

/**
 * The LUN as a number when it uses single-level peripheral or flat addressing (SAM-5 §4.7), else as
 * the 16 hex digits of the raw field.
 */
export function lunJson(raw: bigint): JsonValue {
  return lunFromField(raw) ?? raw.toString(16).padStart(16, '0');
}
