// What a multipath initiator does with a command's failure: hand it to the caller, or send the command
// on another path, and whether the ALUA states must be read again. Socket-free: an error goes in, an
// action comes out. The rules follow what Linux's SCSI midlayer and dm-multipath's ALUA device handler
// (scsi_dh_alua) do with the same statuses.

import { ConnectionError, IscsiProtocolError, LoginError, ScsiError, TimeoutError, TsiscsiError } from '../../errors.js';
import { ASC, SENSE_KEY, STATUS } from '../../scsi/constants.js';
import { ALUA_STATE } from '../../scsi/cdb/alua.js';
import { TargetFailureError } from '../errors.js';

/**
 * - `fail`: the device's answer (or the caller's abort): the caller gets it as is.
 * - `path`: the path failed under the command (connection lost, no answer in time, transport failure):
 *   send it on another path at once.
 * - `alua`: the port refuses media access in its ALUA state (NOT READY, LOGICAL UNIT NOT ACCESSIBLE,
 *   SPC-4 §5.15.2.4): read the states again and send it on another path.
 * - `retry`: a transient condition of the device (BUSY, TASK SET FULL, TASK ABORTED, a unit attention
 *   that outlived the session's own retries, ABORTED COMMAND): send it again after a pause, on the best
 *   path (SAM-5 §5.3: the initiator may reissue).
 */
export type FailoverAction = 'fail' | 'path' | 'alua' | 'retry';

/** The ALUA state a "not accessible" sense reveals for the port that answered it, or -1. */
export function aluaStateFromSense(senseKey: number | undefined, asc: number | undefined, ascq: number | undefined): number {
  if (senseKey !== SENSE_KEY.NOT_READY || asc === undefined || ascq === undefined) return -1;
  switch ((asc << 8) | ascq) {
    case ASC.LU_NOT_ACCESSIBLE_ASYMMETRIC_ACCESS_STATE_TRANSITION:
      return ALUA_STATE.TRANSITIONING;
    case ASC.LU_NOT_ACCESSIBLE_TARGET_PORT_IN_STANDBY_STATE:
      return ALUA_STATE.STANDBY;
    case ASC.LU_NOT_ACCESSIBLE_TARGET_PORT_IN_UNAVAILABLE_STATE:
      return ALUA_STATE.UNAVAILABLE;
    case ASC.LU_NOT_READY_OFFLINE:
      return ALUA_STATE.OFFLINE;
    default:
      return -1;
  }
}

/** Decides what becomes of a command that failed with `e` on one path. */
export function failoverAction(e: unknown): FailoverAction {
  if (e instanceof ScsiError) return scsiAction(e);
  // The connection went, or the session could not be kept: the path, not the device.
  if (e instanceof ConnectionError || e instanceof LoginError) return 'path';
  // No answer in time: the command was aborted on that path (its session sent ABORT TASK).
  if (e instanceof TimeoutError) return 'path';
  // iSCSI Response "Target Failure" (RFC 7143 §11.4.3): the target could not deliver the command.
  if (e instanceof TargetFailureError) return 'path';
  // The target broke the protocol on this command (its session aborts it): another target port may not.
  // Malformed parameter data is the device's answer, not the path's.
  if (e instanceof IscsiProtocolError) return e.code === 'ERR_TARGET_DATA' ? 'fail' : 'path';
  if (TsiscsiError.is(e) && e.name === 'ConnectionError') return 'path';
  return 'fail';
}

function scsiAction(e: ScsiError): FailoverAction {
  switch (e.status) {
    // SAM-5 §5.3: BUSY and TASK SET FULL ask the initiator to try again later; TASK ABORTED reports a
    // command ended by another I_T nexus's task management, which SAM-5 §5.6 lets the initiator reissue.
    case STATUS.BUSY:
    case STATUS.TASK_SET_FULL:
    case STATUS.TASK_ABORTED:
      return 'retry';
    case STATUS.CHECK_CONDITION:
      break;
    default:
      return 'fail';
  }
  if (aluaStateFromSense(e.senseKey, e.asc, e.ascq) >= 0) return 'alua';
  const code = ((e.asc ?? 0) << 8) | (e.ascq ?? 0);
  switch (e.senseKey) {
    case SENSE_KEY.UNIT_ATTENTION:
      // The session already sent the command again for each unit attention it was allowed to: this one
      // still reports a condition of the nexus, not an answer to the command. The ALUA ones mean the
      // states moved under it (SPC-4 §5.15.2.2).
      return code === ASC.ASYMMETRIC_ACCESS_STATE_CHANGED || code === ASC.IMPLICIT_ASYMMETRIC_ACCESS_STATE_TRANSITION_FAILED ? 'alua' : 'retry';
    case SENSE_KEY.NOT_READY:
      // Becoming ready: a gateway that just started. Anything else NOT READY (no medium, format in
      // progress, manual intervention) is the device's state, the same on every path.
      return code === ASC.LU_BECOMING_READY ? 'retry' : 'fail';
    case SENSE_KEY.ABORTED_COMMAND:
      // The target ended the command for a reason of its own (SPC-4 §4.5.6): it may succeed if sent
      // again; protection information errors (ASC 10h) would fail again the same way.
      return e.asc === ASC.ID_CRC_OR_ECC_ERROR >> 8 ? 'fail' : 'retry';
    default:
      return 'fail';
  }
}

/**
 * True for a unit attention after which the ALUA states may have changed: ASYMMETRIC ACCESS STATE
 * CHANGED and IMPLICIT ... TRANSITION FAILED (SPC-4 §5.15.2.2), INQUIRY DATA HAS CHANGED and TARGET
 * OPERATING CONDITIONS HAVE CHANGED (the port's groups may differ), and every power on or reset
 * (29h/xx: the gateway behind the port restarted and owns nothing it owned before).
 */
export function unitAttentionMovesStates(asc: number, ascq: number): boolean {
  const code = (asc << 8) | ascq;
  return (
    code === ASC.ASYMMETRIC_ACCESS_STATE_CHANGED ||
    code === ASC.IMPLICIT_ASYMMETRIC_ACCESS_STATE_TRANSITION_FAILED ||
    code === ASC.INQUIRY_DATA_HAS_CHANGED ||
    code === ASC.TARGET_OPERATING_CONDITIONS_HAVE_CHANGED ||
    asc === ASC.POWER_ON_RESET_OR_BUS_DEVICE_RESET_OCCURRED >> 8
  );
}
