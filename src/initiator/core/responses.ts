// The backward path of the core (backLock held in every function here): each PDU from the target is
// dispatched by opcode; ExpCmdSN, MaxCmdSN and ExpStatSN advance from every response, Data-In and status
// go into the task, and the task goes back to the pool. Nothing is sent from here: what must be sent (a
// NOP-In answer, an R2T's burst, a retry, an abort or reset) is handed over to the forward path.

import { ConnectionError, IscsiProtocolError } from '../../errors.js';
import { BHS_LENGTH, Opcode, RESERVED_TAG, TmfFunction, TmfResponse } from '../../pdu/constants.js';
import { lunFromField } from '../../pdu/lun.js';
import type {
  AsyncMessagePdu,
  DataInPdu,
  LogoutResponsePdu,
  NopInPdu,
  R2TPdu,
  RejectPdu,
  ScsiResponsePdu,
  TargetPdu,
  TaskManagementResponsePdu,
} from '../../pdu/types.js';
import type { R2TDescriptor } from '../../r2t/table.js';
import { SENSE_KEY, STATUS } from '../../scsi/constants.js';
import { parseSense, scsiErrorFromStatus } from '../../scsi/sense.js';
import { snLte } from '../../util/serial.js';
import { CommandRejectedError, TargetFailureError } from '../errors.js';
import { asyncMessageEvent, unitAttentionEvent } from './async-events.js';
import { acceptDataIn, checkReadComplete, resultFromDataIn, resultFromResponse } from './data-in.js';
import { acceptR2T } from './data-out.js';
import { afterTaskSetCleared, retry } from './reissue.js';
import type { CommandResult } from './result.js';
import { dropBursts, finish, linkViolation, rejectPending, type CoreState } from './state.js';
import type { Task } from './task.js';
import { FIRST_OWN_TAG } from './tmf.js';


/** Takes one PDU from the target (backLock held). */
export function handleTargetPdu(s: CoreState, pdu: TargetPdu): void {
  switch (pdu.opcode) {
    case Opcode.DataIn:
      return onDataIn(s, pdu);
    case Opcode.ScsiResponse:
      return onResponse(s, pdu);
    case Opcode.R2T:
      return onR2T(s, pdu);
    case Opcode.NopIn:
      return onNopIn(s, pdu);
    case Opcode.TaskManagementResponse:
      return onTmfResponse(s, pdu);
    case Opcode.AsyncMessage:
      return onAsync(s, pdu);
    case Opcode.Reject:
      return onReject(s, pdu);
    case Opcode.LogoutResponse:
      return onLogoutResponse(s, pdu);
    default:
      // Login and Text Responses have no place in a Normal session's Full Feature Phase here.
      return linkViolation(s, new IscsiProtocolError('ERR_UNEXPECTED_PDU', `unexpected ${pdu.opcode === Opcode.LoginResponse ? 'Login' : 'Text'} Response in Full Feature Phase`, { rule: 'RFC 7143 §6.3', action: 'drop' }));
  }
}

/** A PDU that carries status advances ExpStatSN (RFC 7143 §4.2.2.2). */
function statSN(s: CoreState, sn: number): void {
  if (snLte(s.expStatSN, sn)) s.expStatSN = (sn + 1) >>> 0;
}

function lookup(s: CoreState, itt: number, what: string): Task | undefined {
  const t = s.pool.byItt(itt);
  if (t === undefined) {
    linkViolation(s, new IscsiProtocolError('ERR_UNKNOWN_ITT', `${what} for ITT 0x${itt.toString(16)}, which no command has`, { rule: 'RFC 7143 §11.2.1.8', action: 'drop' }));
    return undefined;
  }
  return t;
}

/** A PDU for a task the target was never sent: the connection cannot be trusted. */
function notSent(s: CoreState, what: string, itt: number, rule: string): void {
  linkViolation(s, new IscsiProtocolError('ERR_UNEXPECTED_PDU', `${what} for ITT 0x${itt.toString(16)}, a command not sent`, { rule, action: 'drop' }));
}

function onDataIn(s: CoreState, pdu: DataInPdu): void {
  s.window.update(pdu.expCmdSN, pdu.maxCmdSN);
  const t = lookup(s, pdu.itt, 'Data-In');
  if (t === undefined) return;
  if (t.state === 'aborting') return;
  if (t.state !== 'active') return notSent(s, 'Data-In', pdu.itt, 'RFC 7143 §11.7');
  try {
    acceptDataIn(t, pdu);
  } catch (e) {
    return taskViolation(s, t, e as Error);
  }
  s.stats.bytesIn += pdu.data.length;
  if (pdu.statusPresent) {
    statSN(s, pdu.statSN);
    complete(s, t, resultFromDataIn(t, pdu), 0);
  }
}

function onResponse(s: CoreState, pdu: ScsiResponsePdu): void {
  s.window.update(pdu.expCmdSN, pdu.maxCmdSN);
  statSN(s, pdu.statSN);
  const t = lookup(s, pdu.itt, 'SCSI Response');
  if (t === undefined) return;
  if (t.state === 'aborting') return;
  if (t.state !== 'active') return notSent(s, 'SCSI Response', pdu.itt, 'RFC 7143 §11.4');
  complete(s, t, resultFromResponse(t, pdu), pdu.response);
}

function onR2T(s: CoreState, pdu: R2TPdu): void {
  s.window.update(pdu.expCmdSN, pdu.maxCmdSN);
  const t = lookup(s, pdu.itt, 'R2T');
  if (t === undefined) return;
  if (t.state === 'aborting') return;
  if (t.state !== 'active') return notSent(s, 'R2T', pdu.itt, 'RFC 7143 §11.8');
  let d: R2TDescriptor;
  try {
    d = acceptR2T(t, pdu, s.limits!, s.r2t!);
  } catch (e) {
    return taskViolation(s, t, e as Error);
  }
  // The burst is sent by the forward path, once backLock is released: this path never sends.
  s.r2tReady.push(d);
}

function onNopIn(s: CoreState, pdu: NopInPdu): void {
  s.window.update(pdu.expCmdSN, pdu.maxCmdSN);
  if (pdu.itt !== RESERVED_TAG) {
    // An answer to our ping carries a StatSN of its own (RFC 7143 §11.19.1).
    statSN(s, pdu.statSN);
    if (!s.keepalive.answered(pdu.itt) && pdu.itt < FIRST_OWN_TAG) {
      return linkViolation(s, new IscsiProtocolError('ERR_UNKNOWN_ITT', `NOP-In for ITT 0x${pdu.itt.toString(16)}, which no ping had`, { rule: 'RFC 7143 §11.19', action: 'drop' }));
    }
  }
  if (pdu.ttt !== RESERVED_TAG) s.handoff.push({ kind: 'nop-reply', ttt: pdu.ttt, lun: pdu.lun });
}

function onTmfResponse(s: CoreState, pdu: TaskManagementResponsePdu): void {
  s.window.update(pdu.expCmdSN, pdu.maxCmdSN);
  statSN(s, pdu.statSN);
  const e = s.tmf.take(pdu.itt);
  if (e === undefined) {
    // A late answer to a TMF that expired and was escalated: nothing left to do.
    if (pdu.itt >= FIRST_OWN_TAG) return;
    return linkViolation(s, new IscsiProtocolError('ERR_UNKNOWN_ITT', `Task Management Response for ITT 0x${pdu.itt.toString(16)}, which no TMF had`, { rule: 'RFC 7143 §11.6', action: 'drop' }));
  }
  if (e.function === TmfFunction.AbortTask) {
    const t = s.pool.byItt(e.referencedTaskTag);
    // RFC 7143 §11.6.1: "Function complete" or "Task does not exist": either way the task is over.
    if (pdu.response === TmfResponse.FunctionComplete || pdu.response === TmfResponse.TaskDoesNotExist) {
      if (t !== undefined && t.state === 'aborting') {
        dropBursts(s, t);
        s.pool.put(t);
      }
    } else if (t !== undefined && t.state === 'aborting') {
      // The target will not abort it: reset the LU instead.
      s.handoff.push({ kind: 'lun-reset', lun: e.lun });
    }
  } else if (pdu.response === TmfResponse.FunctionComplete) {
    switch (e.function) {
      case TmfFunction.LogicalUnitReset:
        afterTaskSetCleared(s, e.lun, e.cmdSN, null);
        break;
      case TmfFunction.TargetWarmReset:
      case TmfFunction.ItNexusReset:
        afterTaskSetCleared(s, null, e.cmdSN, null);
        break;
      case TmfFunction.AbortTaskSet:
        afterTaskSetCleared(s, e.lun, e.cmdSN, 'ABORT TASK SET');
        break;
      case TmfFunction.ClearTaskSet:
        afterTaskSetCleared(s, e.lun, e.cmdSN, 'CLEAR TASK SET');
        break;
      default:
        break;
    }
  } else if (e.function === TmfFunction.LogicalUnitReset && e.done === null) {
    linkViolation(s, new ConnectionError('ERR_TMF_FAILED', `LOGICAL UNIT RESET answered ${pdu.response}: recovering the session`));
  }
  e.done?.({ response: pdu.response, additionalResponseInformation: pdu.additionalResponseInformation });
}

function onAsync(s: CoreState, pdu: AsyncMessagePdu): void {
  s.window.update(pdu.expCmdSN, pdu.maxCmdSN);
  statSN(s, pdu.statSN);
  s.o.onEvent(asyncMessageEvent(pdu));
}

function onReject(s: CoreState, pdu: RejectPdu): void {
  s.window.update(pdu.expCmdSN, pdu.maxCmdSN);
  statSN(s, pdu.statSN);
  // RFC 7143 §11.17: a Reject carries the header of the PDU it rejects.
  if (pdu.data.length < BHS_LENGTH) {
    return linkViolation(s, new IscsiProtocolError('ERR_REJECT_HEADER', `Reject carries ${pdu.data.length} bytes, not the rejected 48-byte header`, { rule: 'RFC 7143 §11.17', action: 'drop' }));
  }
  const opcode = pdu.data[0]! & 0x3f;
  const itt = pdu.data.readUInt32BE(16);
  s.o.onEvent({ type: 'protocol-error', error: new CommandRejectedError(pdu.reason) });
  if (opcode === Opcode.ScsiCommand || opcode === Opcode.DataOut) {
    const t = s.pool.byItt(itt);
    if (t !== undefined && t.state === 'active') {
      // RFC 7143 §11.17.1: a rejected command is over at the target.
      finish(s, t, null, new CommandRejectedError(pdu.reason));
    } else if (t !== undefined && t.state === 'aborting') {
      dropBursts(s, t);
      s.pool.put(t);
    }
  } else if (opcode === Opcode.TaskManagementRequest) {
    const e = s.tmf.take(itt);
    if (e !== undefined) {
      e.done?.(new CommandRejectedError(pdu.reason));
      if (e.function === TmfFunction.AbortTask) s.handoff.push({ kind: 'lun-reset', lun: e.lun });
      else if (e.done === null) linkViolation(s, new ConnectionError('ERR_TMF_FAILED', 'LOGICAL UNIT RESET was rejected: recovering the session'));
    }
  } else if (opcode === Opcode.LogoutRequest && s.logoutWaiter?.itt === itt) {
    const w = s.logoutWaiter;
    s.logoutWaiter = null;
    w.reject(new CommandRejectedError(pdu.reason));
  }
}

function onLogoutResponse(s: CoreState, pdu: LogoutResponsePdu): void {
  s.window.update(pdu.expCmdSN, pdu.maxCmdSN);
  statSN(s, pdu.statSN);
  const w = s.logoutWaiter;
  if (w === null || w.itt !== pdu.itt) {
    return linkViolation(s, new IscsiProtocolError('ERR_UNKNOWN_ITT', `Logout Response for ITT 0x${pdu.itt.toString(16)}, which no logout had`, { rule: 'RFC 7143 §11.15', action: 'drop' }));
  }
  s.logoutWaiter = null;
  w.resolve(pdu);
}

/** A command ended at the target: status, sense and residuals decide how its caller is answered. */
function complete(s: CoreState, t: Task, r: CommandResult | null, response: number): void {
  const p = t.pending!;
  if (r === null) return finish(s, t, null, new TargetFailureError(response));
  const status = r.status;
  if (status === STATUS.GOOD || status === STATUS.CONDITION_MET) {
    const missing = checkReadComplete(t, r);
    if (missing !== undefined) return finish(s, t, null, missing);
    return finish(s, t, r, null);
  }
  if (status === STATUS.CHECK_CONDITION && r.sense.length > 0) {
    let key = -1;
    let asc = 0;
    let ascq = 0;
    try {
      const sense = parseSense(r.sense);
      key = sense.senseKey;
      asc = sense.asc;
      ascq = sense.ascq;
    } catch {
      // Unparseable sense: reported raw by scsiErrorFromStatus.
    }
    if (key === SENSE_KEY.UNIT_ATTENTION) {
      s.o.onEvent(unitAttentionEvent(lunFromField(p.lun), key, asc, ascq, r.sense));
      if (p.uaRetries > 0) {
        // The unit attention was for this I_T nexus, not about this command: send it again.
        p.uaRetries--;
        retry(s, t);
        return;
      }
    }
  }
  finish(s, t, null, scsiErrorFromStatus(status, Buffer.from(r.sense)));
}

/** The target broke a rule on one command: fail it with the violation and abort it. */
function taskViolation(s: CoreState, t: Task, err: Error): void {
  const p = t.pending!;
  s.o.onEvent({ type: 'protocol-error', error: err });
  t.state = 'aborting';
  dropBursts(s, t);
  rejectPending(p, err);
  s.handoff.push({ kind: 'abort', task: t, itt: t.itt });
}
