// CmdSN ordering on the target (RFC 7143 §3.2.2.1, §4.2.2.1): non-immediate requests run in CmdSN
// order. One ahead of ExpCmdSN is held until the gap fills, one outside [ExpCmdSN, MaxCmdSN] is ignored,
// and a CmdSN that an ABORT TASK declared received (§11.6.1 b) is skipped when its turn comes.

import { snAdd, snInWindow } from '../../util/serial.js';
import type { FfpState } from './state.js';

/** The fields of a request that ordering reads. */
export interface OrderedRequest {
  immediate: boolean;
  cmdSN: number;
}

/** Runs `run` now if the request is immediate or next in CmdSN order, later if it is ahead, never if outside. */
export function admitInOrder(st: FfpState, pdu: OrderedRequest, run: () => void): void {
  const s = st.session;
  if (pdu.immediate) {
    run();
    return;
  }
  if (!snInWindow(pdu.cmdSN, s.expCmdSN, s.maxCmdSN)) {
    // Outside the window: silently ignored (RFC 7143 §4.2.2.1).
    st.host.log.debug({ cmdSN: pdu.cmdSN, expCmdSN: s.expCmdSN, maxCmdSN: s.maxCmdSN }, 'CmdSN outside the window, ignored');
    return;
  }
  if (pdu.cmdSN !== s.expCmdSN) {
    if (st.held.has(pdu.cmdSN)) {
      st.host.log.debug({ cmdSN: pdu.cmdSN }, 'duplicate CmdSN ignored');
      return;
    }
    st.held.set(pdu.cmdSN, run);
    return;
  }
  s.expCmdSN = snAdd(s.expCmdSN, 1);
  run();
  drainHeld(st);
}

/** Runs what was held, in CmdSN order, for as long as the next CmdSN is there (or was skipped). */
function drainHeld(st: FfpState): void {
  const s = st.session;
  for (;;) {
    if (s.skippedCmdSNs.delete(s.expCmdSN)) {
      s.expCmdSN = snAdd(s.expCmdSN, 1);
      continue;
    }
    const next = st.held.get(s.expCmdSN);
    if (next === undefined) return;
    st.held.delete(s.expCmdSN);
    s.expCmdSN = snAdd(s.expCmdSN, 1);
    next();
  }
}

/** ABORT TASK for a command not yet received (RFC 7143 §11.6.1 case b): its CmdSN counts as received. */
export function skipCmdSN(st: FfpState, cmdSN: number): void {
  const s = st.session;
  st.held.delete(cmdSN);
  if (cmdSN === s.expCmdSN) {
    s.expCmdSN = snAdd(s.expCmdSN, 1);
    drainHeld(st);
  } else {
    s.skippedCmdSNs.add(cmdSN);
  }
}
