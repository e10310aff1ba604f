// node:diagnostics_channel channels of the target, as undici publishes its own: APM tools and tests
// subscribe by name without a flag or a reference to the server. Every publisher checks
// `hasSubscribers` first, so a channel nobody listens to costs one property read and no allocation.
// Names and payloads are documented in docs/observability.md.

import { channel } from 'node:diagnostics_channel';
import type { SessionInfo } from '../session-info.js';

/** `tsiscsi:session:up`: a session entered full feature phase. */
export interface SessionUpMessage {
  session: SessionInfo;
}

/** `tsiscsi:session:down`: a session ended (logout, connection lost, dropped, reinstated). */
export interface SessionDownMessage {
  session: SessionInfo;
  reason: string;
  logout: boolean;
}

/** `tsiscsi:command:start`: a SCSI command was admitted (its CmdSN turn came). */
export interface CommandStartMessage {
  target: string;
  sessionId: number;
  itt: number;
  cmdSN: number;
  /** undefined when the LUN field does not name a LUN this target can address. */
  lun: number | undefined;
  /** The CDB as received (not a copy: do not keep it past the call). */
  cdb: Buffer;
  /** Bytes the initiator expects to move (EDTL, RFC 7143 §11.3.4). */
  expectedLength: number;
}

/** `tsiscsi:command:end`: a SCSI command was answered with a status, or ended aborted. */
export interface CommandEndMessage {
  target: string;
  sessionId: number;
  itt: number;
  lun: number | undefined;
  opcode: number;
  /** The SCSI status (SAM-5 §5.3); undefined when the task was aborted and got none. */
  status: number | undefined;
  /** The sense key of a CHECK CONDITION (SPC-4 §4.5). */
  senseKey: number | undefined;
  /** Data-In bytes sent and Data-Out bytes taken. */
  bytesIn: number;
  bytesOut: number;
  aborted: boolean;
  /** From admission to status, in milliseconds (fractional). */
  durationMs: number;
}

/** `tsiscsi:tmf`: a task management function was answered (RFC 7143 §11.5, §11.6). */
export interface TmfMessage {
  target: string | undefined;
  sessionId: number;
  /** Function code (RFC 7143 §11.5.1) and its name. */
  function: number;
  functionName: string;
  lun: number | undefined;
  referencedTaskTag: number;
  /** Response code (RFC 7143 §11.6.1). */
  response: number;
}

/** `tsiscsi:login:failed`: a login was refused or dropped. */
export interface LoginFailedMessage {
  /** A label such as `authentication-failure` (RFC 7143 §11.13.5 status names) or `dropped`. */
  reason: string;
  /** Status class and detail as one number, when a Login Response carried it. */
  status: number | undefined;
  peer: string;
}

export const sessionUpChannel = channel('tsiscsi:session:up');
export const sessionDownChannel = channel('tsiscsi:session:down');
export const commandStartChannel = channel('tsiscsi:command:start');
export const commandEndChannel = channel('tsiscsi:command:end');
export const tmfChannel = channel('tsiscsi:tmf');
export const loginFailedChannel = channel('tsiscsi:login:failed');

/** The channel names, for documentation and tests. */
export const CHANNEL_NAMES = [
  'tsiscsi:session:up',
  'tsiscsi:session:down',
  'tsiscsi:command:start',
  'tsiscsi:command:end',
  'tsiscsi:tmf',
  'tsiscsi:login:failed',
] as const;
