// What the main process and its worker processes say to each other over the IPC channel (Node's
// 'advanced' serialization: structured clone, Buffers arrive as Buffers). One table of calls (a request
// and its answer, like the codec's table by opcode) plus three one-way messages: the worker's start-up
// data, a connection handed over, and the worker's ready/failed report.

import type { AdminRequest, VerbAnswer } from '../admin/commands.js';
import type { ServerConfig, TargetConfig } from '../config/schema.js';
import type { LunEventMode } from '../target-node.js';
import type { Portal } from '../portal.js';
import type { CloseSummary, ShutdownOptions } from '../shutdown.js';

/**
 * The calls the main process makes of a worker, each a request and its answer. `verb` carries any admin
 * socket request: the main process routes a target's commands to the worker that owns it, asks every
 * worker (and sums or concatenates) for what spans them all (`session list`, `lun list`, counters), and
 * records the changes in the running configuration it alone keeps.
 */
export interface WorkerCalls {
  /** Runs an admin request's verb against the worker's own server; its changes come back unrecorded. */
  verb: { request: AdminRequest; answer: VerbAnswer };
  /** Knows a target another process serves (added at runtime), for SendTargets and its ACL. */
  'know-target': { request: TargetConfig; answer: null };
  /** Forgets such a target (removed at runtime). */
  'forget-target': { request: string; answer: null };
  /** Shuts the worker's server down within these bounds; the worker exits once it has answered. */
  shutdown: { request: ShutdownOptions; answer: CloseSummary };
}

/** The name of a {@link WorkerCalls} row. */
export type WorkerCallName = keyof WorkerCalls;

/** What a worker needs to build its share of the targets. */
export interface WorkerInit {
  /** The worker's slot, 1..slots (0 is the main process). */
  slot: number;
  slots: number;
  /** How many times this slot's worker was started before (its session ids then start elsewhere). */
  generation: number;
  config: ServerConfig;
  /** Indexes (in config.targets) of the targets this worker serves; it knows the others for SendTargets. */
  serve: number[];
  logLevel: string;
  lunEvents?: LunEventMode;
  /** Keep command counters (TargetServerOptions.counting): the main process serves metrics or an admin socket. */
  counting: boolean;
  /** The portals the main process listens on: the TargetAddress of SendTargets answers. */
  portals: Portal[];
}

/** A call as sent: its sequence number, its name and the request of that name. */
export type CallMessage = { [K in WorkerCallName]: { type: 'call'; seq: number; name: K; request: WorkerCalls[K]['request'] } }[WorkerCallName];

/** Main process to worker. A `connection` message carries the socket as the IPC message's handle. */
export type ToWorker = { type: 'init'; init: WorkerInit } | { type: 'connection'; first: Buffer } | CallMessage;

/** Worker to main process. */
export type FromWorker =
  | { type: 'ready' }
  /** The worker could not start (a LUN that does not open): the message says which setting and why. */
  | { type: 'failed'; message: string }
  | { type: 'answer'; seq: number; ok: true; answer: WorkerCalls[WorkerCallName]['answer'] }
  | { type: 'answer'; seq: number; ok: false; error: string };

/** Session ids of a process (TargetServerOptions.sessionIds): its slot modulo slots + 1, apart by generation. */
export function sessionIdsOf(slot: number, slots: number, generation: number): { first: number; step: number } {
  const step = slots + 1;
  // Each generation of a slot gets a million ids of its own, so a stale id never names a later session.
  return { first: step * (1 + generation * 1_000_000) + slot, step };
}

/** The slot (0: the main process) whose server numbered session `id` ({@link sessionIdsOf}). */
export function slotOfSession(id: number, slots: number): number {
  return id % (slots + 1);
}
