// PDUs the engine sends outside a command's own answer: Reject (RFC 7143 §11.17), Asynchronous Messages
// (§11.9), and the ExpCmdSN/MaxCmdSN every outgoing PDU carries, stamped at the last moment.

import { AsyncEvent, BHS_LENGTH, Opcode } from '../../pdu/constants.js';
import type { TargetPdu } from '../../pdu/types.js';
import { EMPTY, nextStatSN, type FfpState } from './state.js';

/** What an Asynchronous Message carries besides its event code (RFC 7143 §11.9). */
export interface AsyncMessageOptions {
  lun?: bigint;
  sense?: Buffer;
  parameter1?: number;
  parameter2?: number;
  parameter3?: number;
}

/** Answers a PDU with Reject (RFC 7143 §11.17); the offending header goes back in the data. */
export function reject(st: FfpState, reason: number, bhs: Buffer, why: string): void {
  st.host.log.info({ reason, why }, 'rejecting a PDU');
  const header = Buffer.from(bhs.subarray(0, BHS_LENGTH));
  st.host.send({
    opcode: Opcode.Reject,
    reason,
    statSN: nextStatSN(st),
    expCmdSN: 0,
    maxCmdSN: 0,
    dataSN: 0,
    data: header,
  });
}

/** Sends an Asynchronous Message (RFC 7143 §11.9); nothing once the engine is stopped. */
export function sendAsync(st: FfpState, event: number, opts: AsyncMessageOptions): void {
  if (st.stopped) return;
  st.host.send({
    opcode: Opcode.AsyncMessage,
    lun: opts.lun ?? 0n,
    statSN: nextStatSN(st),
    expCmdSN: 0,
    maxCmdSN: 0,
    asyncEvent: event,
    asyncVCode: 0,
    parameter1: opts.parameter1 ?? 0,
    parameter2: opts.parameter2 ?? 0,
    parameter3: opts.parameter3 ?? 0,
    sense: opts.sense ?? EMPTY,
    eventData: EMPTY,
  });
}

/** Asks the initiator to log out within `seconds` (RFC 7143 §11.9.1, AsyncEvent 1). */
export function requestLogout(st: FfpState, seconds: number): void {
  sendAsync(st, AsyncEvent.LogoutRequest, { parameter3: seconds });
}

/**
 * Fills ExpCmdSN/MaxCmdSN at the last moment, so every PDU carries the current window (RFC 7143
 * §4.2.2.1): a slot freed by the command a response answers is already open in that response.
 */
export function stamp(st: FfpState, pdu: TargetPdu): void {
  if ('expCmdSN' in pdu) {
    pdu.expCmdSN = st.session.expCmdSN;
    pdu.maxCmdSN = st.session.maxCmdSN;
  }
}
