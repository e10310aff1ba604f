// Reservation commands: SPC-2 RESERVE/RELEASE (6) and (10), and PERSISTENT RESERVE IN/OUT (SPC-4
// §6.15, §6.16) over the state of persistent-reservations.ts. Both kinds coexist as SPC-4 §5.13.3
// describes with CRH=1: an SPC-2 RESERVE or RELEASE from a persistent reservation holder succeeds and
// changes nothing; from anyone else, while persistent reservations are in use, it conflicts.

import { truncate } from './cdb/fields.js';
import { command, F_ALUA_STANDBY, F_RESERVATION_EXEMPT } from './command.js';
import { ASC, OP, PRIN, PROUT, STATUS } from './constants.js';
import type { CommandDescriptor, LuContext, NexusState } from './handler.js';
import {
  isAllRegistrantsType,
  isRegistrantsType,
  parseProutParameters,
  reservationConflict,
  type PersistentReservations,
  type PrEffects,
  type ProutParameters,
} from './persistent-reservations.js';
import { illegalRequest, invalidFieldInParameterList } from './sense.js';
import type { ScsiCommand, ScsiResponse } from './types.js';

// ---------------------------------------------------------------------------------------------
// SPC-2 RESERVE / RELEASE

/** RESERVE(6) and RESERVE(10) (SPC-2 §7.21, §7.22): the whole LU for this I_T nexus; re-reserving is allowed. */
async function reserve(lu: LuContext, _cmd: ScsiCommand, nexus: NexusState): Promise<ScsiResponse> {
  await lu.changeReservations((st) => {
    const pr = st.pr;
    if (pr.active) {
      // SPC-4 §5.13.3 (CRH=1): a persistent reservation holder's RESERVE succeeds without effect.
      if (pr.isHolder(nexus.id)) return noChange();
      throw reservationConflict('RESERVE while persistent reservations are in use (SPC-4 §5.13.3)');
    }
    if (st.spc2Holder !== null && st.spc2Holder !== nexus.id) throw reservationConflict('RESERVE while another I_T nexus holds the LU (SPC-2 §7.21)');
    if (st.spc2Holder === nexus.id) return noChange();
    st.spc2Holder = nexus.id;
    return { ua: [], abort: [], changed: false, spc2: true };
  });
  return { status: STATUS.GOOD };
}

/** RELEASE(6) and RELEASE(10) (SPC-2 §7.19, §7.20): releases this nexus's reservation; from anyone else it is a no-op. */
async function release(lu: LuContext, _cmd: ScsiCommand, nexus: NexusState): Promise<ScsiResponse> {
  // Nothing to release (the common case): answered from the cached state without a change.
  if (lu.pr.reservation === null && lu.reservationHolder !== nexus.id) return { status: STATUS.GOOD };
  await lu.changeReservations((st) => {
    const r = st.pr.reservation;
    if (r !== null) {
      // SPC-4 §5.13.3 (CRH=1): GOOD without effect from a holder, or from a registrant of a
      // registrants-only or all-registrants reservation; RESERVATION CONFLICT from anyone else.
      const registered = st.pr.registrations.has(nexus.id);
      if (st.pr.isHolder(nexus.id) || (registered && isRegistrantsType(r.type))) return noChange();
      throw reservationConflict('RELEASE while another I_T nexus holds a persistent reservation (SPC-4 §5.13.3)');
    }
    if (st.spc2Holder !== nexus.id) return noChange();
    st.spc2Holder = null;
    return { ua: [], abort: [], changed: false, spc2: true };
  });
  return { status: STATUS.GOOD };
}

function noChange(): PrEffects {
  return { ua: [], abort: [], changed: false };
}

// ---------------------------------------------------------------------------------------------
// PERSISTENT RESERVE IN

/** READ KEYS (SPC-4 §6.15.2): PRgeneration, ADDITIONAL LENGTH (not cut by the allocation length), keys. */
function readKeys(lu: LuContext): Buffer {
  const regs = [...lu.pr.registrations.values()];
  const data = Buffer.alloc(8 + 8 * regs.length);
  data.writeUInt32BE(lu.pr.generation, 0);
  data.writeUInt32BE(8 * regs.length, 4);
  regs.forEach((r, i) => data.writeBigUInt64BE(r.key, 8 + 8 * i));
  return data;
}

/** READ RESERVATION (SPC-4 §6.15.3): the key of an all-registrants reservation reads as zero. */
function readReservation(lu: LuContext): Buffer {
  const r = lu.pr.reservation;
  if (r === null) {
    const data = Buffer.alloc(8);
    data.writeUInt32BE(lu.pr.generation, 0);
    return data;
  }
  const data = Buffer.alloc(24);
  data.writeUInt32BE(lu.pr.generation, 0);
  data.writeUInt32BE(16, 4);
  const key = isAllRegistrantsType(r.type) ? 0n : (lu.pr.registrations.get(r.holder)?.key ?? 0n);
  data.writeBigUInt64BE(key, 8);
  data[21] = r.type & 0x0f; // SCOPE 0h (LU_SCOPE) in bits 7..4
  return data;
}

/** The persistent reservation types this device server offers, as the PERSISTENT RESERVATION TYPE MASK. */
const TYPE_MASK =
  (1 << 15) | // WR_EX_AR (byte 4 bit 7)
  (1 << 14) | // EX_AC_RO
  (1 << 13) | // WR_EX_RO
  (1 << 11) | // EX_AC
  (1 << 9) | // WR_EX
  (1 << 0); // EX_AC_AR (byte 5 bit 0)

/** REPORT CAPABILITIES (SPC-4 §6.15.4). */
function reportCapabilities(lu: LuContext): Buffer {
  const data = Buffer.alloc(8);
  data.writeUInt16BE(8, 0);
  // CRH=1 (SPC-2 RESERVE/RELEASE handled as §5.13.3 says); SIP_C=0 (no SPEC_I_PT); ATP_C=0 (no
  // ALL_TG_PT); PTPL_C when the medium has a place to keep APTPL state.
  data[2] = 0x10 | (lu.prPersistCapable ? 0x01 : 0);
  // TMV=1 (the type mask is valid); ALLOW COMMANDS 011b: TEST UNIT READY passes Write Exclusive and
  // Exclusive Access reservations, and MODE SENSE, READ DEFECT DATA, RECEIVE COPY RESULTS, REPORT
  // SUPPORTED OPERATION CODES and REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS pass Write Exclusive ones.
  data[3] = 0x80 | (0x3 << 4) | (lu.pr.aptpl ? 0x01 : 0);
  data.writeUInt16BE(TYPE_MASK, 4);
  return data;
}

/** An iSCSI TransportID, initiator port format (SPC-4 §7.6.4.6, FORMAT CODE 01b): NAME,i,0xISID. */
export function iscsiTransportId(initiatorPortName: string): Buffer {
  const name = Buffer.from(initiatorPortName, 'utf8');
  // The name is NUL-terminated and padded to a multiple of four, at least 20 bytes.
  const len = Math.max(20, (name.length + 1 + 3) & ~3);
  const t = Buffer.alloc(4 + len);
  t[0] = 0x40 | 0x05; // FORMAT CODE 01b, PROTOCOL IDENTIFIER 5h (iSCSI)
  t.writeUInt16BE(len, 2);
  name.copy(t, 4);
  return t;
}

/** READ FULL STATUS (SPC-4 §6.15.5): one descriptor with a TransportID per registered I_T nexus. */
function readFullStatus(lu: LuContext): Buffer {
  const pr = lu.pr;
  const parts: Buffer[] = [];
  for (const [id, reg] of pr.registrations) {
    const tid = iscsiTransportId(reg.initiatorPortName);
    const d = Buffer.alloc(24 + tid.length);
    d.writeBigUInt64BE(reg.key, 0);
    if (pr.isHolder(id)) {
      d[12] = 0x01; // R_HOLDER (ALL_TG_PT 0)
      d[13] = (pr.reservation?.type ?? 0) & 0x0f;
    }
    d.writeUInt16BE(reg.relativeTargetPortId & 0xffff, 18);
    d.writeUInt32BE(tid.length, 20);
    tid.copy(d, 24);
    parts.push(d);
  }
  const body = Buffer.concat(parts);
  const data = Buffer.alloc(8 + body.length);
  data.writeUInt32BE(pr.generation, 0);
  data.writeUInt32BE(body.length, 4);
  body.copy(data, 8);
  return data;
}

function persistentReserveIn(read: (lu: LuContext) => Buffer) {
  return (lu: LuContext, cmd: ScsiCommand): ScsiResponse => ({
    status: STATUS.GOOD,
    data: truncate(read(lu), cmd.cdb.readUInt16BE(7)),
  });
}

// ---------------------------------------------------------------------------------------------
// PERSISTENT RESERVE OUT

/** PARAMETER LIST LENGTH of PERSISTENT RESERVE OUT (SPC-4 §6.16.1: bytes 5..8). */
const proutLength = (cdb: Buffer): number => cdb.readUInt32BE(5);

/** The basic parameter list: exactly 24 bytes (SPC-4 §6.16.3; SPEC_I_PT is not offered). */
function proutParameters(cmd: ScsiCommand): Buffer {
  const len = proutLength(cmd.cdb);
  if (len !== 24 || cmd.dataOut === null || cmd.dataOut.length < 24) throw illegalRequest(ASC.PARAMETER_LIST_LENGTH_ERROR);
  return cmd.dataOut.subarray(0, 24);
}

/** One service action: changes `pr` from the parameters, SCOPE and TYPE, and returns its effects. */
type ProutAction = (pr: PersistentReservations, cmd: ScsiCommand, p: ProutParameters, scope: number, type: number) => PrEffects;

function persistentReserveOut(action: ProutAction, registerLike = false) {
  return async (lu: LuContext, cmd: ScsiCommand): Promise<ScsiResponse> => {
    const p = parseProutParameters(proutParameters(cmd));
    // SIP_C=0: SPEC_I_PT is refused for every service action (SPC-4 §6.16.3).
    if (p.specIPt) throw invalidFieldInParameterList(20, 3);
    if (registerLike) {
      if (p.allTgPt) throw invalidFieldInParameterList(20, 2); // ATP_C=0
      if (p.aptpl && !lu.prPersistCapable) throw invalidFieldInParameterList(20, 0); // PTPL_C=0
    }
    const scope = cmd.cdb[2]! >> 4;
    const type = cmd.cdb[2]! & 0x0f;
    await lu.changeReservations((st) => action(st.pr, cmd, p, scope, type));
    return { status: STATUS.GOOD };
  };
}

const register =
  (ignore: boolean): ProutAction =>
  (pr, cmd, p) =>
    pr.register(cmd.nexus, p, ignore);

const PRIN_USAGE = [OP.PERSISTENT_RESERVE_IN, 0x1f, 0, 0, 0, 0, 0, 0xff, 0xff, 0];
const PROUT_USAGE = [OP.PERSISTENT_RESERVE_OUT, 0x1f, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, 0];

/** A PERSISTENT RESERVE IN service action: every one passes a persistent reservation (SPC-4 §5.13.1). */
function prin(name: string, serviceAction: number, read: (lu: LuContext) => Buffer): CommandDescriptor {
  return command(`PERSISTENT RESERVE IN: ${name}`, PRIN_USAGE, F_ALUA_STANDBY, persistentReserveIn(read), { serviceAction, pr: 'allowed' });
}

/**
 * A PERSISTENT RESERVE OUT service action. It is 'allowed' by the reservation check: each service
 * action applies the rules of SPC-4 §5.13 itself (an unregistered nexus gets RESERVATION CONFLICT
 * from the action).
 */
function prout(name: string, serviceAction: number, action: ProutAction, registerLike = false): CommandDescriptor {
  return command(`PERSISTENT RESERVE OUT: ${name}`, PROUT_USAGE, F_ALUA_STANDBY, persistentReserveOut(action, registerLike), {
    serviceAction,
    dataOut: proutLength,
    pr: 'allowed',
  });
}

/** SPC-2 reservations and persistent reservations. */
export const RESERVATION_COMMANDS: readonly CommandDescriptor[] = [
  command('RESERVE(6)', [OP.RESERVE_6, 0, 0, 0, 0, 0], 0, reserve, { pr: 'allowed' }),
  command('RELEASE(6)', [OP.RELEASE_6, 0, 0, 0, 0, 0], F_RESERVATION_EXEMPT, release, { pr: 'allowed' }),
  // RESERVE(10)/RELEASE(10): third-party reservations (3RDPTY, LONGID) are not offered.
  command('RESERVE(10)', [OP.RESERVE_10, 0, 0, 0, 0, 0, 0, 0, 0, 0], 0, reserve, { pr: 'allowed' }),
  command('RELEASE(10)', [OP.RELEASE_10, 0, 0, 0, 0, 0, 0, 0, 0, 0], F_RESERVATION_EXEMPT, release, { pr: 'allowed' }),
  prin('READ KEYS', PRIN.READ_KEYS, readKeys),
  prin('READ RESERVATION', PRIN.READ_RESERVATION, readReservation),
  prin('REPORT CAPABILITIES', PRIN.REPORT_CAPABILITIES, reportCapabilities),
  prin('READ FULL STATUS', PRIN.READ_FULL_STATUS, readFullStatus),
  prout('REGISTER', PROUT.REGISTER, register(false), true),
  prout('RESERVE', PROUT.RESERVE, (pr, cmd, p, scope, type) => pr.reserve(cmd.nexus.id, p, scope, type)),
  prout('RELEASE', PROUT.RELEASE, (pr, cmd, p, scope, type) => pr.release(cmd.nexus.id, p, scope, type)),
  prout('CLEAR', PROUT.CLEAR, (pr, cmd, p) => pr.clear(cmd.nexus.id, p)),
  prout('PREEMPT', PROUT.PREEMPT, (pr, cmd, p, scope, type) => pr.preempt(cmd.nexus.id, p, scope, type, false)),
  prout('PREEMPT AND ABORT', PROUT.PREEMPT_AND_ABORT, (pr, cmd, p, scope, type) => pr.preempt(cmd.nexus.id, p, scope, type, true)),
  prout('REGISTER AND IGNORE EXISTING KEY', PROUT.REGISTER_AND_IGNORE_EXISTING_KEY, register(true), true),
];
