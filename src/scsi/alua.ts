// Asymmetric logical unit access on the device server side (SPC-4 §5.15): the commands allowed in each
// state (§5.15.2.4) and REPORT / SET TARGET PORT GROUPS (§6.37, §6.45). The state itself comes through
// AsymmetricAccess (alua-access.ts), implemented above this layer by whoever decides it.

import { truncate } from './cdb/fields.js';
import { ALUA_STATE, encodeReportTargetPortGroups, MO_SET_TARGET_PORT_GROUPS } from './cdb/alua.js';
import { command, F_ALUA_ANY, F_ALUA_STANDBY, F_ALUA_TRANSITIONING, F_ALUA_UNAVAILABLE } from './command.js';
import { ASC, MI, OP, SENSE_KEY, STATUS } from './constants.js';
import type { CommandDescriptor, LuContext } from './handler.js';
import { CheckConditionError, illegalRequest, invalidFieldInCdb, invalidFieldInParameterList } from './sense.js';
import type { ScsiCommand, ScsiResponse } from './types.js';
import type { TargetPortGroupRequest } from './alua-access.js';

/** Whether a state lets every command through (SPC-4 §5.15.2.4.2, §5.15.2.4.3: both active states). */
export function isActiveState(state: number): boolean {
  return state === ALUA_STATE.ACTIVE_OPTIMIZED || state === ALUA_STATE.ACTIVE_NON_OPTIMIZED;
}

/** The command flag that lets a command through in `state` (0 for a state that allows nothing beyond the flagged). */
function allowedFlag(state: number): number {
  switch (state) {
    case ALUA_STATE.STANDBY:
      return F_ALUA_STANDBY;
    case ALUA_STATE.TRANSITIONING:
      return F_ALUA_TRANSITIONING;
    default:
      // Unavailable, Offline and anything unknown: the Unavailable set.
      return F_ALUA_UNAVAILABLE;
  }
}

/** The NOT READY qualifier a refused command reports in `state` (SPC-4 §5.15.2.4.4 .. §5.15.2.5). */
export function notAccessibleAsc(state: number): number {
  switch (state) {
    case ALUA_STATE.STANDBY:
      return ASC.LU_NOT_ACCESSIBLE_TARGET_PORT_IN_STANDBY_STATE;
    case ALUA_STATE.TRANSITIONING:
      return ASC.LU_NOT_ACCESSIBLE_ASYMMETRIC_ACCESS_STATE_TRANSITION;
    case ALUA_STATE.OFFLINE:
      return ASC.LU_NOT_READY_OFFLINE;
    default:
      return ASC.LU_NOT_ACCESSIBLE_TARGET_PORT_IN_UNAVAILABLE_STATE;
  }
}

/**
 * The additional sense code a command with `flags` is refused with in `state`, or 0 when the state
 * lets it through.
 */
export function aluaRefusal(state: number, flags: number): number {
  if (isActiveState(state) || (flags & allowedFlag(state)) !== 0) return 0;
  return notAccessibleAsc(state);
}

/** REPORT TARGET PORT GROUPS (SPC-4 §6.37): length-only or extended header, as PARAMETER DATA FORMAT asks. */
function reportTargetPortGroups(lu: LuContext, cmd: ScsiCommand): ScsiResponse {
  const alua = lu.alua;
  if (alua === undefined) throw illegalRequest(ASC.INVALID_COMMAND_OPERATION_CODE);
  const format = cmd.cdb[1]! >> 5;
  if (format > 1) throw invalidFieldInCdb(1, 7);
  const data = encodeReportTargetPortGroups(alua.groups(), { extended: format === 1, implicitTransitionTime: alua.implicitTransitionTime });
  return { status: STATUS.GOOD, data: truncate(data, cmd.cdb.readUInt32BE(6)) };
}

const stpgLength = (cdb: Buffer): number => cdb.readUInt32BE(6);

/** SET TARGET PORT GROUPS (SPC-4 §6.45): the parameter list is 4 reserved bytes and 4-byte descriptors. */
async function setTargetPortGroups(lu: LuContext, cmd: ScsiCommand): Promise<ScsiResponse> {
  const alua = lu.alua;
  // An LU with implicit ALUA only refuses it as an unsupported command (SPC-4 §6.45: TPGS 10b or 11b).
  if (alua?.setTargetPortGroups === undefined) throw illegalRequest(ASC.INVALID_COMMAND_OPERATION_CODE);
  const len = stpgLength(cmd.cdb);
  if (len === 0) return { status: STATUS.GOOD };
  const p = cmd.dataOut;
  if (p === null || p.length < len || len < 4 || (len - 4) % 4 !== 0) throw illegalRequest(ASC.PARAMETER_LIST_LENGTH_ERROR);
  const requests: TargetPortGroupRequest[] = [];
  for (let off = 4; off < len; off += 4) {
    const state = p[off]! & 0x0f;
    // Only the active and standby states and Unavailable may be asked for (SPC-4 §6.45, Table 274).
    if (state > ALUA_STATE.UNAVAILABLE) throw invalidFieldInParameterList(off, 3);
    requests.push({ state, tpg: p.readUInt16BE(off + 2) });
  }
  await alua.setTargetPortGroups(requests, cmd.nexus);
  return { status: STATUS.GOOD };
}

/**
 * REPORT TARGET PORT GROUPS and SET TARGET PORT GROUPS, for a logical unit with asymmetric access:
 * the LU adds them to its command table only then (an LU without ALUA reports TPGS 0 and does not
 * list them).
 */
export const ALUA_COMMANDS: readonly CommandDescriptor[] = [
  command(
    'REPORT TARGET PORT GROUPS',
    [OP.MAINTENANCE_IN, 0xe0 | MI.REPORT_TARGET_PORT_GROUPS, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0],
    F_ALUA_ANY,
    reportTargetPortGroups,
    { serviceAction: MI.REPORT_TARGET_PORT_GROUPS, pr: 'allowed' },
  ),
  command(
    'SET TARGET PORT GROUPS',
    [OP.MAINTENANCE_OUT, MO_SET_TARGET_PORT_GROUPS, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0],
    F_ALUA_ANY,
    setTargetPortGroups,
    { serviceAction: MO_SET_TARGET_PORT_GROUPS, dataOut: stpgLength, pr: 'write' },
  ),
];

/** The CHECK CONDITION a command refused by the asymmetric access state ends in. */
export function notAccessible(asc: number): CheckConditionError {
  return new CheckConditionError(SENSE_KEY.NOT_READY, asc);
}
