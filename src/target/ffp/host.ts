// What the full feature phase engine needs from its surroundings (the connection host: a socket in
// production, a harness in tests) and the limits it is built with. The engine never sees a socket.

import type { Logger } from 'pino';
import type { TargetPdu } from '../../pdu/types.js';
import type { ConnectionParams } from '../../login/keys.js';
import type { Clock } from '../../util/clock.js';
import type { ScsiCommand, ScsiResponse } from '../../scsi/types.js';
import type { TargetCounters } from '../stats/counters.js';
import type { TextResponder } from '../text.js';
import type { TmfHandler } from '../tmf.js';

/** What the engine needs from its surroundings. */
export interface FfpHost {
  /** Queues a PDU for the initiator (the host stamps ExpCmdSN/MaxCmdSN through the engine). */
  send(pdu: TargetPdu): void;
  /** Drop the connection (after flushing what was sent). */
  drop(reason: string): void;
  /** Close after a successful logout, once the response is flushed. */
  closeAfterLogout(): void;
  /**
   * Before a successful logout is answered: commits what the loss of the session's I_T nexus changes
   * in state shared with other device servers (gateways of a cluster), so the initiator, once told,
   * finds the nexus's SPC-2 reservation gone through every port. Resolves once in force (bounded,
   * never rejecting); undefined (or absent) when there is nothing to wait for.
   */
  releaseNexus?: () => Promise<void> | undefined;
  /** Runs a command on the target's logical units (undefined in a discovery session). */
  execute: ((cmd: ScsiCommand) => Promise<ScsiResponse>) | undefined;
  /** Task management of the target (RFC 7143 §11.5). */
  tmf: TmfHandler;
  /** Text requests of this connection (RFC 7143 §11.10). */
  text: TextResponder;
  clock: Clock;
  log: Logger;
  /** True while the socket holds more than its high-water mark (the peer reads slower than we send). */
  congested?: () => boolean;
  /** The target's counters, when the server keeps them (metrics or the admin socket are on). */
  stats?: TargetCounters | undefined;
  /** The target's name, for diagnostics channel messages (undefined in a discovery session). */
  targetName?: string | undefined;
}

/** How one engine is built: its first StatSN, the negotiated connection values and its memory limits. */
export interface FfpOptions {
  cid: number;
  /** First StatSN of the full feature phase (the one after the last Login Response's). */
  statSN: number;
  connection: ConnectionParams;
  /** Largest write buffered for one command (bytes); larger writes end in CHECK CONDITION. */
  maxWriteBuffer?: number;
  /**
   * Write data buffered at once on this connection (bytes). Beyond it, R2Ts for further writes wait
   * until buffers free up, so a flood of large writes cannot grow memory without bound.
   */
  maxBufferedWrite?: number;
  /** Send a NOP-In ping after this much silence from the initiator (ms); 0 disables. */
  nopInterval?: number;
  /** Drop the connection when a ping is not answered (and nothing else arrives) within this (ms). */
  nopTimeout?: number;
  /** Immediate SCSI commands allowed at once beyond the window. */
  maxImmediate?: number;
  /**
   * Data-In bytes of read commands started and not yet answered (bytes). Beyond it, or while the socket
   * is congested, commands wait to start: a peer that never reads cannot make the target hold
   * queueDepth × MAXIMUM TRANSFER LENGTH of read data (1 GiB per connection at the default queue depth).
   */
  maxReadInFlight?: number;
}
