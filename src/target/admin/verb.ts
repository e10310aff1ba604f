// What every admin command is made of: the schema of its request (checked before it runs), whether it
// changes the server (then it is logged with the peer's identity and written to the running config),
// and its work. The command table (commands.ts) gathers the verbs of verbs-*.ts.

import Type, { type Static, type TProperties, type TSchema } from 'typebox';
import type { Logger } from 'pino';
import type { ConfigChange, RunningConfig } from '../config/store.js';
import type { TargetServer } from '../server.js';
import type { StatsSnapshot } from '../stats/snapshot.js';
import type { TargetNode } from '../target-node.js';
import type { ExportPolicy } from './paths.js';

/** What admin commands act on. */
export interface AdminContext {
  readonly server: TargetServer;
  /** The running configuration, kept in step with every change (absent: changes are not recorded). */
  readonly config: RunningConfig | undefined;
  /** Where `lun add` and `target add` may open LUNs (allowedPaths). */
  readonly exports: ExportPolicy;
  /**
   * The counters of every target. The server's own by default; a launcher that spreads targets over
   * several processes gathers each one's snapshot and merges them (stats/snapshot.ts mergeSnapshots).
   */
  stats(): StatsSnapshot | Promise<StatsSnapshot>;
  readonly log: Logger;
}

/** What a command did: its answer, and the changes to record in the running configuration. */
export interface VerbOutcome {
  result: unknown;
  changes?: ConfigChange[];
  /** Something the operator should know although the command succeeded. */
  warning?: string;
}

/** One admin command. */
export interface Verb<S extends TSchema = TSchema> {
  /** The request, `cmd` included. */
  readonly params: S;
  /** Changes the server: logged at info with the peer's uid/pid, recorded in the running config. */
  readonly mutates: boolean;
  run(ctx: AdminContext, req: Static<S>): Promise<VerbOutcome>;
}

/** Declares a verb (keeps its request type tied to its schema). */
export function verb<S extends TSchema>(params: S, mutates: boolean, run: (ctx: AdminContext, req: Static<S>) => Promise<VerbOutcome>): Verb<S> {
  return { params, mutates, run };
}

/** An admin request refused: the message says why, in one line. */
export class AdminError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AdminError';
  }
}

/** The target a request names, or the only one when it names none. */
export function pickTarget(ctx: AdminContext, name: string | undefined): TargetNode {
  const all = ctx.server.targets();
  const t = name === undefined ? (all.length === 1 ? all[0] : undefined) : ctx.server.target(name);
  if (t === undefined) throw new AdminError(name === undefined ? 'several targets: name one with --target' : `no target ${name}`);
  return t;
}

/** A request schema: its fields and nothing else (an unknown field is refused, not ignored). */
export function request<P extends TProperties>(props: P) {
  return Type.Object(props, { additionalProperties: false });
}
