// Liveness (RFC 7143 §11.18, §11.19): NOP-Out answered with NOP-In, and a NOP-In ping after nopInterval
// of silence. The connection is dropped only when *nothing* arrives for nopTimeout after a ping: any PDU
// counts as a sign of life, since a busy initiator may answer a ping late, and dropping a connection
// that is working but busy does more harm than the ping prevents
// (github.com/open-iscsi/open-iscsi/issues/97).

import { Opcode, RESERVED_TAG } from '../../pdu/constants.js';
import type { NopOutPdu } from '../../pdu/types.js';
import { EMPTY, nextStatSN, takeTtt, type FfpState } from './state.js';
import { admitInOrder } from './window.js';

/** Takes a NOP-Out: the answer to our ping, or a ping of the initiator's to answer. */
export function onNopOut(st: FfpState, pdu: NopOutPdu): void {
  const answer = (): void => {
    if (pdu.ttt !== RESERVED_TAG) {
      // The answer to our ping: liveness is already noted.
      if (pdu.ttt === st.pingTtt) st.pingTtt = undefined;
      if (pdu.itt === RESERVED_TAG) return;
    }
    if (pdu.itt === RESERVED_TAG) return;
    // RFC 7143 §11.19: echo the ping data, up to what the initiator can receive.
    const max = st.conn.maxSendDataSegmentLength;
    const data = pdu.data.length > max ? pdu.data.subarray(0, max) : pdu.data;
    st.host.send({
      opcode: Opcode.NopIn,
      lun: pdu.lun,
      itt: pdu.itt,
      ttt: RESERVED_TAG,
      statSN: nextStatSN(st),
      expCmdSN: 0,
      maxCmdSN: 0,
      data,
    });
  };
  // A NOP-Out that answers a ping (TTT set) or wants no answer is not a command: no CmdSN (§11.18).
  if (pdu.ttt !== RESERVED_TAG || pdu.itt === RESERVED_TAG) answer();
  else admitInOrder(st, pdu, answer);
}

/** Arms the ping timer (nothing when pings are off or the engine is stopped). */
export function armPing(st: FfpState): void {
  if (st.nopInterval <= 0 || st.stopped) return;
  st.pingTimer = st.host.clock.setTimeout(() => onPingTimer(st), st.nopInterval);
}

/** Cancels the ping timer (teardown: timers stop first). */
export function disarmPing(st: FfpState): void {
  st.pingTimer?.cancel();
  st.pingTimer = undefined;
}

function onPingTimer(st: FfpState): void {
  if (st.stopped) return;
  const now = st.host.clock.now();
  const quiet = now - st.lastHeard;
  if (st.pingTtt !== undefined && quiet >= st.nopTimeout) {
    st.host.log.warn({ quietMs: quiet }, 'NOP-In ping unanswered, dropping the connection');
    st.host.drop('NOP-In ping timed out');
    return;
  }
  if (st.pingTtt === undefined && quiet >= st.nopInterval) {
    const ttt = takeTtt(st);
    st.pingTtt = ttt;
    // A ping carries the current StatSN without consuming it (RFC 7143 §11.19.1).
    st.host.send({ opcode: Opcode.NopIn, lun: 0n, itt: RESERVED_TAG, ttt, statSN: st.statSN, expCmdSN: 0, maxCmdSN: 0, data: EMPTY });
    st.pingTimer = st.host.clock.setTimeout(() => onPingTimer(st), st.nopTimeout);
    return;
  }
  const wait = st.pingTtt !== undefined ? st.nopTimeout - quiet : st.nopInterval - quiet;
  st.pingTimer = st.host.clock.setTimeout(() => onPingTimer(st), Math.max(1, wait));
}
