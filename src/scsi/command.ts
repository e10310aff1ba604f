// Declaring commands and building the dispatch table (SPDK and tgt do the same: a table keyed by
// operation code, a second level keyed by service action). Each descriptor carries the CDB usage data
// that REPORT SUPPORTED OPERATION CODES reports (SPC-4 §6.35, one-command format) and that the
// logical unit also enforces: a bit set in the CDB but clear in the usage data is a reserved or
// unsupported bit, refused with INVALID FIELD IN CDB pointing at it. One source for both answers.
// The types of the table are in handler.ts.

import type { CommandDescriptor, CommandHandler, CommandTable, ServiceActionTable } from './handler.js';
import type { PrAccess } from './persistent-reservations.js';

/** INQUIRY, REPORT LUNS and REQUEST SENSE neither report nor clear a unit attention (SAM-5, unit attention conditions). */
export const F_UA_EXEMPT = 1 << 0;
/** Allowed through an SPC-2 reservation held by another I_T nexus (SPC-2, reservations). */
export const F_RESERVATION_EXEMPT = 1 << 1;
/** Needs the medium: NOT READY, MEDIUM NOT PRESENT while a removable medium is ejected. */
export const F_MEDIUM = 1 << 2;
/** Writes the medium: refused with DATA PROTECT on a write-protected LU. */
export const F_WRITE = 1 << 3;
/** Allowed while the target port group is Standby (SPC-4 §5.15.2.4.4). */
export const F_ALUA_STANDBY = 1 << 4;
/** Allowed while the target port group is Unavailable (SPC-4 §5.15.2.4.5). */
export const F_ALUA_UNAVAILABLE = 1 << 5;
/** Allowed while the target port group is Transitioning (SPC-4 §5.15.2.5). */
export const F_ALUA_TRANSITIONING = 1 << 6;
/** Allowed in every asymmetric access state: INQUIRY, REPORT LUNS, REQUEST SENSE, REPORT TARGET PORT GROUPS. */
export const F_ALUA_ANY = F_ALUA_STANDBY | F_ALUA_UNAVAILABLE | F_ALUA_TRANSITIONING;


/** CDB usage data of a 4-byte LOGICAL BLOCK ADDRESS (or other 32-bit) field: every bit evaluated. */
export const USAGE_LBA4: readonly number[] = [0xff, 0xff, 0xff, 0xff];
/** CDB usage data of an 8-byte LOGICAL BLOCK ADDRESS field. */
export const USAGE_LBA8: readonly number[] = [...USAGE_LBA4, ...USAGE_LBA4];

/** GROUP NUMBER: evaluated (and ignored: there are no groups to tell apart). */
const GROUP = 0x1f;

/**
 * CDB usage data of the 10-byte block command layout (SBC-3 READ(10)): operation code, byte 1 as
 * `byte1`, 4-byte LBA, GROUP NUMBER, 2-byte TRANSFER LENGTH, CONTROL.
 */
export function usage10(opcode: number, byte1: number): number[] {
  return [opcode, byte1, ...USAGE_LBA4, GROUP, 0xff, 0xff, 0];
}

/** CDB usage data of the 12-byte block command layout (SBC-3 READ(12)): 4-byte LBA, 4-byte TRANSFER LENGTH, GROUP NUMBER. */
export function usage12(opcode: number, byte1: number): number[] {
  return [opcode, byte1, ...USAGE_LBA4, ...USAGE_LBA4, GROUP, 0];
}

/** CDB usage data of the 16-byte block command layout (SBC-3 READ(16)): 8-byte LBA, 4-byte TRANSFER LENGTH, GROUP NUMBER. */
export function usage16(opcode: number, byte1: number): number[] {
  return [opcode, byte1, ...USAGE_LBA8, ...USAGE_LBA4, GROUP, 0];
}

/** Declares a command. `usage` is its CDB usage data from byte 0 to the CONTROL byte. */
export function command(
  name: string,
  usage: readonly number[],
  flags: number,
  handler: CommandHandler,
  opts: {
    serviceAction?: number;
    dataOut?: (cdb: Buffer, blockSize: number) => number;
    timeout?: number;
    pr?: PrAccess | ((cdb: Buffer) => PrAccess);
  } = {},
): CommandDescriptor {
  return {
    name,
    opcode: usage[0]!,
    serviceAction: opts.serviceAction,
    cdbLength: usage.length,
    usage: Uint8Array.from(usage),
    flags,
    handler,
    dataOut: opts.dataOut,
    timeout: opts.timeout ?? 30,
    pr: opts.pr ?? 'write',
  };
}

/** Builds the two-level dispatch table; a duplicate opcode/service action is a programming error. */
export function buildCommandTable(descs: readonly CommandDescriptor[], groupNames: ReadonlyMap<number, string>): CommandTable {
  const table: (CommandDescriptor | ServiceActionTable | undefined)[] = new Array(256).fill(undefined);
  for (const d of descs) {
    if (d.serviceAction === undefined) {
      if (table[d.opcode] !== undefined) throw new Error(`duplicate command opcode 0x${d.opcode.toString(16)}`);
      table[d.opcode] = d;
      continue;
    }
    let sat = table[d.opcode];
    if (sat === undefined) {
      sat = { name: groupNames.get(d.opcode) ?? `0x${d.opcode.toString(16)}`, opcode: d.opcode, serviceActions: new Array(32).fill(undefined) };
      table[d.opcode] = sat;
    }
    if (!('serviceActions' in sat) || sat.serviceActions[d.serviceAction] !== undefined) {
      throw new Error(`duplicate command 0x${d.opcode.toString(16)}/0x${d.serviceAction.toString(16)}`);
    }
    sat.serviceActions[d.serviceAction] = d;
  }
  return table;
}

/** Every descriptor of a table in opcode, then service action order. */
export function listCommands(table: CommandTable): CommandDescriptor[] {
  const out: CommandDescriptor[] = [];
  for (const e of table) {
    if (e === undefined) continue;
    if ('serviceActions' in e) {
      for (const d of e.serviceActions) if (d !== undefined) out.push(d);
    } else {
      out.push(e);
    }
  }
  return out;
}
