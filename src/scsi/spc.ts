// SPC-4 primary commands: TEST UNIT READY, REQUEST SENSE, INQUIRY, REPORT LUNS, MODE SENSE/SELECT,
// REPORT SUPPORTED OPERATION CODES and REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS. Reservations are in
// reservations.ts, EXTENDED COPY in extended-copy.ts.

import { encodeLun } from './cdb/spc.js';
import { truncate } from './cdb/fields.js';
import { command, F_ALUA_ANY, F_ALUA_STANDBY, F_MEDIUM, F_RESERVATION_EXEMPT, F_UA_EXEMPT } from './command.js';
import { ASC, MI, OP, SENSE_KEY, STATUS } from './constants.js';
import type { CommandDescriptor, LuContext, NexusState, ServiceActionTable, SupportedTmfs } from './handler.js';
import { standardInquiry } from './inquiry.js';
import { modeSelect, modeSense } from './mode.js';
import { invalidFieldInCdb, senseData } from './sense.js';
import type { ScsiCommand, ScsiResponse } from './types.js';
import { vpdPage } from './vpd.js';

/** TEST UNIT READY (SPC-4 §6.47): GOOD once the UA, reservation and medium checks have passed. */
function testUnitReady(): ScsiResponse {
  return { status: STATUS.GOOD };
}

/**
 * REQUEST SENSE (SPC-4 §6.39). A pending unit attention is returned and cleared (SPC-4 §6.39 with
 * UA_INTLCK_CTRL 00b; SAM-5 unit attention conditions); without one, NOT READY for an ejected medium, else NO SENSE.
 */
function requestSense(lu: LuContext, cmd: ScsiCommand, nexus: NexusState): ScsiResponse {
  const desc = (cmd.cdb[1]! & 0x01) !== 0;
  const alloc = cmd.cdb[4]!;
  const ua = lu.takeUnitAttention(nexus);
  let sense: Buffer;
  if (ua !== undefined) {
    sense = senseData(SENSE_KEY.UNIT_ATTENTION, ua, desc);
  } else if (!lu.mediumPresent) {
    sense = senseData(SENSE_KEY.NOT_READY, ASC.MEDIUM_NOT_PRESENT, desc);
  } else {
    sense = senseData(SENSE_KEY.NO_SENSE, ASC.NO_ADDITIONAL_SENSE, desc);
  }
  return { status: STATUS.GOOD, data: truncate(sense, alloc) };
}

/** INQUIRY (SPC-4 §6.6): standard data, or a VPD page when EVPD=1. */
function inquiry(lu: LuContext, cmd: ScsiCommand): ScsiResponse {
  const evpd = (cmd.cdb[1]! & 0x01) !== 0;
  const page = cmd.cdb[2]!;
  const alloc = cmd.cdb.readUInt16BE(3);
  if (!evpd) {
    // SPC-4 §6.6: PAGE CODE must be zero when EVPD is zero.
    if (page !== 0) throw invalidFieldInCdb(2);
    const id = lu.identity;
    const data = standardInquiry({
      qualifier: 0,
      deviceType: 0,
      removable: lu.removable,
      tpgs: lu.alua?.tpgs ?? 0,
      thirdPartyCopy: lu.capabilities.thirdPartyCopy,
      vendor: id.vendor,
      product: id.product,
      revision: id.revision,
    });
    return { status: STATUS.GOOD, data: truncate(data, alloc) };
  }
  return { status: STATUS.GOOD, data: truncate(vpdPage(lu, page, cmd.nexus), alloc) };
}

/**
 * REPORT LUNS parameter data (SPC-4 §6.33) for `luns`, honouring SELECT REPORT: 00h all logical
 * units, 01h well-known ones only (this target has none), 02h both.
 */
export function reportLunsData(cmd: ScsiCommand, luns: readonly number[]): ScsiResponse {
  const select = cmd.cdb[2]!;
  const alloc = cmd.cdb.readUInt32BE(6);
  // SPC-5 adds 10h..12h (administrative LUs); other values are reserved.
  if (select > 0x02) throw invalidFieldInCdb(2);
  const list = select === 0x01 ? [] : [...luns].sort((a, b) => a - b);
  const data = Buffer.alloc(8 + 8 * list.length);
  data.writeUInt32BE(8 * list.length, 0);
  for (let i = 0; i < list.length; i++) encodeLun(list[i]!, data, 8 + 8 * i);
  return { status: STATUS.GOOD, data: truncate(data, alloc) };
}

function reportLuns(lu: LuContext, cmd: ScsiCommand, nexus: NexusState): ScsiResponse {
  const res = reportLunsData(cmd, lu.host.luns());
  // SPC-4 §6.33: REPORT LUNS clears REPORTED LUNS DATA HAS CHANGED for the nexus it came on.
  lu.host.reportedLuns(nexus.id);
  return res;
}

const TIMEOUTS_DESCRIPTOR_LENGTH = 12;

function writeTimeouts(buf: Buffer, off: number, d: CommandDescriptor): void {
  // Command timeouts descriptor (SPC-4 §6.35): DESCRIPTOR LENGTH 000Ah, nominal processing
  // timeout 0 (not specified), recommended timeout in seconds.
  buf.writeUInt16BE(0x0a, off);
  buf.writeUInt32BE(0, off + 4);
  buf.writeUInt32BE(d.timeout, off + 8);
}

/** REPORT SUPPORTED OPERATION CODES (SPC-4 §6.35). */
function reportSupportedOpcodes(lu: LuContext, cmd: ScsiCommand): ScsiResponse {
  const cdb = cmd.cdb;
  const rctd = (cdb[2]! & 0x80) !== 0;
  const options = cdb[2]! & 0x07;
  const reqOp = cdb[3]!;
  const reqSa = cdb.readUInt16BE(4);
  const alloc = cdb.readUInt32BE(6);
  if (options === 0) {
    // All commands (SPC-4 §6.35): 8-byte descriptors, each followed by a timeouts descriptor when RCTD.
    const list = lu.commandList;
    const each = 8 + (rctd ? TIMEOUTS_DESCRIPTOR_LENGTH : 0);
    const data = Buffer.alloc(4 + each * list.length);
    data.writeUInt32BE(each * list.length, 0);
    let off = 4;
    for (const d of list) {
      data[off] = d.opcode;
      if (d.serviceAction !== undefined) data.writeUInt16BE(d.serviceAction, off + 2);
      data[off + 5] = (rctd ? 0x02 : 0) | (d.serviceAction !== undefined ? 0x01 : 0); // CTDP, SERVACTV
      data.writeUInt16BE(d.cdbLength, off + 6);
      if (rctd) writeTimeouts(data, off + 8, d);
      off += each;
    }
    return { status: STATUS.GOOD, data: truncate(data, alloc) };
  }
  const entry = lu.commands[reqOp];
  const hasSa = entry !== undefined && 'serviceActions' in entry;
  let d: CommandDescriptor | undefined;
  switch (options) {
    case 1:
      // 001b: by operation code alone; an operation code with service actions is an error.
      if (hasSa) throw invalidFieldInCdb(2, 2);
      d = entry as CommandDescriptor | undefined;
      break;
    case 2:
      // 010b: by operation code and service action; one without service actions is an error.
      if (entry !== undefined && !hasSa) throw invalidFieldInCdb(2, 2);
      d = hasSa && reqSa < 32 ? (entry as ServiceActionTable).serviceActions[reqSa] : undefined;
      break;
    case 3:
      // 011b (SPC-4): service action used when the operation code has them, ignored otherwise.
      if (hasSa) d = reqSa < 32 ? (entry as ServiceActionTable).serviceActions[reqSa] : undefined;
      else d = entry as CommandDescriptor | undefined;
      break;
    default:
      throw invalidFieldInCdb(2, 2);
  }
  if (d === undefined) {
    // SUPPORT 001b: not supported; no CDB usage data follows (SPC-4 §6.35, one-command format).
    const data = Buffer.alloc(4);
    data[1] = 0x01;
    return { status: STATUS.GOOD, data: truncate(data, alloc) };
  }
  const data = Buffer.alloc(4 + d.cdbLength + (rctd ? TIMEOUTS_DESCRIPTOR_LENGTH : 0));
  data[1] = (rctd ? 0x80 : 0) | 0x03; // CTDP, SUPPORT 011b: supported as the standard says
  data.writeUInt16BE(d.cdbLength, 2);
  data.set(d.usage, 4);
  if (rctd) writeTimeouts(data, 4 + d.cdbLength, d);
  return { status: STATUS.GOOD, data: truncate(data, alloc) };
}

/** What iSCSI carries (RFC 7143 §11.5.1): no CLEAR ACA use, no QUERY TASK, no I_T NEXUS RESET. */
export const DEFAULT_TMFS: SupportedTmfs = {
  abortTask: true,
  abortTaskSet: true,
  clearTaskSet: true,
  logicalUnitReset: true,
  targetReset: true,
};

/** REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS (SPC-4 §6.36). */
function reportSupportedTmfs(lu: LuContext, cmd: ScsiCommand): ScsiResponse {
  const reptd = (cmd.cdb[2]! & 0x80) !== 0;
  const alloc = cmd.cdb.readUInt32BE(6);
  const t = lu.tmfs;
  // REPTD=1 returns the 16-byte extended format with ADDITIONAL DATA LENGTH 0Ch (SPC-4 §6.36).
  const data = Buffer.alloc(reptd ? 16 : 4);
  data[0] =
    (t.abortTask === true ? 0x80 : 0) |
    (t.abortTaskSet === true ? 0x40 : 0) |
    (t.clearAca === true ? 0x20 : 0) |
    (t.clearTaskSet === true ? 0x10 : 0) |
    (t.logicalUnitReset === true ? 0x08 : 0) |
    (t.queryTask === true ? 0x04 : 0) |
    (t.targetReset === true ? 0x02 : 0) |
    (t.wakeup === true ? 0x01 : 0);
  data[1] = (t.queryUnitAttention === true ? 0x04 : 0) | (t.queryTaskSet === true ? 0x02 : 0) | (t.itNexusReset === true ? 0x01 : 0);
  if (reptd) data[3] = 0x0c;
  return { status: STATUS.GOOD, data: truncate(data, alloc) };
}

const modeSelectLength6 = (cdb: Buffer): number => cdb[4]!;
const modeSelectLength10 = (cdb: Buffer): number => cdb.readUInt16BE(7);

/** The SPC command set of a direct-access logical unit. */
export const SPC_COMMANDS: readonly CommandDescriptor[] = [
  // SPC-4 §5.13.1: TEST UNIT READY, REQUEST SENSE, INQUIRY and REPORT LUNS pass every persistent reservation.
  command('TEST UNIT READY', [OP.TEST_UNIT_READY, 0, 0, 0, 0, 0], F_MEDIUM, testUnitReady, { pr: 'allowed' }),
  command('REQUEST SENSE', [OP.REQUEST_SENSE, 0x01, 0, 0, 0xff, 0], F_UA_EXEMPT | F_RESERVATION_EXEMPT | F_ALUA_ANY, requestSense, { pr: 'allowed' }),
  command('INQUIRY', [OP.INQUIRY, 0x01, 0xff, 0xff, 0xff, 0], F_UA_EXEMPT | F_RESERVATION_EXEMPT | F_ALUA_ANY, inquiry, { pr: 'allowed' }),
  command('MODE SELECT(6)', [OP.MODE_SELECT_6, 0x11, 0, 0, 0xff, 0], F_ALUA_STANDBY, (lu, cmd, n) => modeSelect(lu, cmd, n, false), {
    dataOut: modeSelectLength6,
  }),
  command('MODE SENSE(6)', [OP.MODE_SENSE_6, 0x08, 0xff, 0xff, 0xff, 0], F_ALUA_STANDBY, (lu, cmd) => modeSense(lu, cmd, false), { pr: 'info' }),
  command('MODE SELECT(10)', [OP.MODE_SELECT_10, 0x11, 0, 0, 0, 0, 0, 0xff, 0xff, 0], F_ALUA_STANDBY, (lu, cmd, n) => modeSelect(lu, cmd, n, true), {
    dataOut: modeSelectLength10,
  }),
  command('MODE SENSE(10)', [OP.MODE_SENSE_10, 0x18, 0xff, 0xff, 0, 0, 0, 0xff, 0xff, 0], F_ALUA_STANDBY, (lu, cmd) => modeSense(lu, cmd, true), {
    pr: 'info',
  }),
  command('REPORT LUNS', [OP.REPORT_LUNS, 0, 0xff, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0], F_UA_EXEMPT | F_RESERVATION_EXEMPT | F_ALUA_ANY, reportLuns, {
    pr: 'allowed',
  }),
  command(
    'REPORT SUPPORTED OPERATION CODES',
    [OP.MAINTENANCE_IN, MI.REPORT_SUPPORTED_OPERATION_CODES, 0x87, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0],
    0,
    reportSupportedOpcodes,
    { serviceAction: MI.REPORT_SUPPORTED_OPERATION_CODES, pr: 'info' },
  ),
  command(
    'REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS',
    [OP.MAINTENANCE_IN, MI.REPORT_SUPPORTED_TASK_MANAGEMENT_FUNCTIONS, 0x80, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0],
    0,
    reportSupportedTmfs,
    { serviceAction: MI.REPORT_SUPPORTED_TASK_MANAGEMENT_FUNCTIONS, pr: 'info' },
  ),
];
