// The shape of one emulated command and the dispatch table (SPDK and tgt do the same: a table
// keyed by operation code, a second level keyed by service action). Each descriptor carries the
// CDB usage data that REPORT SUPPORTED OPERATION CODES reports (SPC-4 §6.35, one-command format) and that the
// logical unit also enforces: a bit set in the CDB but clear in the usage data is a reserved or
// unsupported bit, refused with INVALID FIELD IN CDB pointing at it. One source for both answers.

import type { LogicalUnit, NexusState } from './logical-unit.js';
import type { ScsiCommand, ScsiResponse } from './types.js';

/** INQUIRY, REPORT LUNS and REQUEST SENSE neither report nor clear a unit attention (SAM-5, unit attention conditions). */
export const F_UA_EXEMPT = 1 << 0;
/** Allowed through an SPC-2 reservation held by another I_T nexus (SPC-2, reservations). */
export const F_RESERVATION_EXEMPT = 1 << 1;
/** Needs the medium: NOT READY, MEDIUM NOT PRESENT while a removable medium is ejected. */
export const F_MEDIUM = 1 << 2;
/** Writes the medium: refused with DATA PROTECT on a write-protected LU. */
export const F_WRITE = 1 << 3;

/**
 * How a command fares from an I_T nexus that does not hold the persistent reservation (SPC-4 §5.13.1,
 * "SPC commands that are allowed in the presence of various reservations"; SBC-3 §4.17, its SBC
 * counterpart):
 * - 'allowed': always (INQUIRY, REPORT LUNS, REQUEST SENSE, READ CAPACITY, PERSISTENT RESERVE IN, ...);
 * - 'read': reads the medium: allowed through Write Exclusive types, refused by Exclusive Access
 *   types unless the nexus is registered under a registrants-only or all-registrants type;
 * - 'info': reads information other than the medium (MODE SENSE, REPORT SUPPORTED OPERATION CODES,
 *   ...): allowed through Write Exclusive types and from every registered nexus (ALLOW COMMANDS 011b);
 * - 'write': everything else: only registrants under registrants-only and all-registrants types.
 */
export type PrAccess = 'allowed' | 'read' | 'info' | 'write';

/** Handles one command; throws a CheckConditionError to end it in CHECK CONDITION. */
export type CommandHandler = (
  lu: LogicalUnit,
  cmd: ScsiCommand,
  nexus: NexusState,
) => Promise<ScsiResponse> | ScsiResponse;

/** One supported command (an operation code, or an operation code and service action). */
export interface CommandDescriptor {
  /** T10 name, e.g. 'READ(10)' or 'REPORT SUPPORTED OPERATION CODES'. */
  readonly name: string;
  readonly opcode: number;
  /** The service action, for operation codes that have them (SPC-4, service actions). */
  readonly serviceAction: number | undefined;
  readonly cdbLength: number;
  /** CDB USAGE DATA (SPC-4 §6.35, one-command format): byte 0 the opcode, then a one for every bit evaluated. */
  readonly usage: Uint8Array;
  readonly flags: number;
  readonly handler: CommandHandler;
  /**
   * SPDTL of the command's Data-Out (RFC 7143 §11.4.5.1) from its CDB, for commands that take
   * Data-Out; reported with every response so the transport can compute residuals.
   */
  readonly dataOut: ((cdb: Buffer, blockSize: number) => number) | undefined;
  /** Recommended command timeout in seconds, for the RCTD timeouts descriptor (SPC-4 §6.35). */
  readonly timeout: number;
  /** Its class against a persistent reservation held by another I_T nexus; a function when the CDB decides. */
  readonly pr: PrAccess | ((cdb: Buffer) => PrAccess);
}

/** The second dispatch level for an operation code with service actions. */
export interface ServiceActionTable {
  readonly name: string;
  readonly opcode: number;
  /** Indexed by the 5-bit SERVICE ACTION field (CDB byte 1, bits 4..0). */
  readonly serviceActions: (CommandDescriptor | undefined)[];
}

/** Entries indexed by operation code. */
export type CommandTable = readonly (CommandDescriptor | ServiceActionTable | undefined)[];

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
