// The standard command set of a direct-access logical unit: the handler tables of SPC-4 (primary and
// reservation commands) and SBC-3 (block, provisioning and atomic commands) and the copy manager,
// assembled into the dispatch table every LU shares unless it adds commands of its own.

import { buildCommandTable } from './command.js';
import { OP } from './constants.js';
import { COPY_COMMANDS } from './extended-copy.js';
import type { CommandDescriptor, CommandTable } from './handler.js';
import { PROVISIONING_COMMANDS } from './provisioning.js';
import { RESERVATION_COMMANDS } from './reservations.js';
import { ATOMIC_COMMANDS } from './sbc-atomic.js';
import { SBC_COMMANDS } from './sbc.js';
import { SPC_COMMANDS } from './spc.js';

/** Names of the operation codes with service actions, for REPORT SUPPORTED OPERATION CODES and logs. */
export const OP_NAMES: ReadonlyMap<number, string> = new Map<number, string>([
  [OP.SERVICE_ACTION_IN_16, 'SERVICE ACTION IN(16)'],
  [OP.MAINTENANCE_IN, 'MAINTENANCE IN'],
  [OP.MAINTENANCE_OUT, 'MAINTENANCE OUT'],
  [OP.PERSISTENT_RESERVE_IN, 'PERSISTENT RESERVE IN'],
  [OP.PERSISTENT_RESERVE_OUT, 'PERSISTENT RESERVE OUT'],
  [OP.EXTENDED_COPY, 'EXTENDED COPY'],
  [OP.RECEIVE_COPY_RESULTS, 'RECEIVE COPY RESULTS'],
]);

/** Every standard command: SPC-4 primary and reservation commands, SBC-3 block and provisioning commands, the copy manager. */
export const STANDARD_COMMANDS: readonly CommandDescriptor[] = [
  ...SPC_COMMANDS,
  ...RESERVATION_COMMANDS,
  ...SBC_COMMANDS,
  ...PROVISIONING_COMMANDS,
  ...ATOMIC_COMMANDS,
  ...COPY_COMMANDS,
];

/** The standard command table (SPC-4 + SBC-3) shared by every LU that adds nothing to it. */
export const STANDARD_COMMAND_TABLE: CommandTable = buildCommandTable(STANDARD_COMMANDS, OP_NAMES);
