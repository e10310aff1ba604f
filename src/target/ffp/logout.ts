// Logout (RFC 7143 §11.14, §11.15): closing the connection (and with it, at MaxConnections=1, the
// session) once its running commands are answered and what the nexus loss changes in shared state is
// in force; connection recovery is refused at ErrorRecoveryLevel 0.

import { LogoutReason, LogoutResponseCode, Opcode } from '../../pdu/constants.js';
import type { LogoutRequestPdu } from '../../pdu/types.js';
import { finishTask } from './lifecycle.js';
import { nextStatSN, type FfpState } from './state.js';

/** Takes a Logout Request whose CmdSN turn has come. */
export function onLogout(st: FfpState, pdu: LogoutRequestPdu): void {
  let response: number = LogoutResponseCode.Success;
  if (pdu.reasonCode === LogoutReason.RemoveConnectionForRecovery) {
    // Connection recovery needs ErrorRecoveryLevel 2 (RFC 7143 §11.15.1).
    response = LogoutResponseCode.RecoveryNotSupported;
  } else if (pdu.reasonCode === LogoutReason.CloseConnection && pdu.cid !== st.cid) {
    response = LogoutResponseCode.CidNotFound;
  }
  const send = (): void => {
    if (st.stopped) return;
    st.host.send({
      opcode: Opcode.LogoutResponse,
      response,
      itt: pdu.itt,
      statSN: nextStatSN(st),
      expCmdSN: 0,
      maxCmdSN: 0,
      time2Wait: 0,
      time2Retain: 0,
    });
    if (response === LogoutResponseCode.Success) st.host.closeAfterLogout();
  };
  if (response !== LogoutResponseCode.Success) return send();
  // RFC 7143 §11.14: the logout completes after the connection's outstanding tasks; at ERL 0 we let
  // running tasks finish (their status is still delivered) and abort those still owed Data-Out.
  st.loggingOut = true;
  const waits: Promise<void>[] = [];
  for (const t of st.session.tasks.values()) {
    if (t.state === 'data-out') {
      t.aborted = true;
      t.abort.abort(new Error('logout'));
      finishTask(st, t);
    } else if (t.state === 'running') {
      waits.push(t.finished);
    }
  }
  // SAM-5 I_T nexus loss: what it changes in state shared with other ports (an SPC-2 reservation
  // released) is in force everywhere before the initiator hears the nexus is gone. Without shared
  // state there is nothing to wait for and the response goes out at once, as it always did.
  const finish = (): void => {
    const release = st.host.releaseNexus?.();
    if (release === undefined) send();
    else void release.then(send, send);
  };
  if (waits.length === 0) finish();
  else void Promise.all(waits).then(finish);
}
