// The admin socket's command table: one verb per request `cmd` (verbs-luns.ts, verbs-targets.ts,
// verbs-server.ts), each request checked against its schema before it runs, each change recorded in the
// running configuration and, with "persist": true, written back to the config file.

import type { Static } from 'typebox';
import Value from 'typebox/value';
import { TsiscsiError } from '../../errors.js';
import { LUN_VERBS } from './verbs-luns.js';
import { SERVER_VERBS } from './verbs-server.js';
import { TARGET_VERBS } from './verbs-targets.js';
import type { RunningConfig } from '../config/store.js';
import { AdminError, type AdminContext, type Verb, type VerbOutcome } from './verb.js';

export { AdminError, type AdminContext } from './verb.js';

/** Every admin command, by the `cmd` of its request. */
export const ADMIN_COMMANDS = { ...LUN_VERBS, ...TARGET_VERBS, ...SERVER_VERBS };

type Commands = typeof ADMIN_COMMANDS;

/** An admin request: `{ "cmd": "lun-add", "lun": 1, "spec": "..." }` and the like (see ADMIN_COMMANDS). */
export type AdminRequest = { [K in keyof Commands]: Commands[K] extends Verb<infer S> ? Static<S> : never }[keyof Commands];

/** The name of an admin command. */
export type AdminCommandName = keyof Commands;

/** One answer per request: the result, or why it failed. A warning comes with a result the operator should look at. */
export type AdminAnswer = { ok: true; result: unknown; warning?: string } | { ok: false; error: string };

/** Whether `cmd` names a command that changes the server. */
export function adminCommandMutates(cmd: string): boolean {
  return (ADMIN_COMMANDS as Record<string, Verb>)[cmd]?.mutates === true;
}

function requestProblem(v: Verb, req: unknown): string | undefined {
  const errors = Value.Errors(v.params, req);
  if (errors.length === 0) return undefined;
  const e = errors.find((x) => x.keyword !== 'boolean') ?? errors[0]!;
  if (e.keyword === 'additionalProperties') return `unknown field ${(e.params as { additionalProperties: string[] }).additionalProperties[0]}`;
  if (e.keyword === 'required') return `missing field ${(e.params as { requiredProperties: string[] }).requiredProperties[0]}`;
  return `${e.instancePath.slice(1) || 'request'}: ${e.message}`;
}

/** One process's answer to a request: what the verb did (its changes not yet recorded), or why it failed. */
export type VerbAnswer = { ok: true; outcome: VerbOutcome } | { ok: false; error: string };

/** The command a request names, once it is checked against that command's schema; or why it is refused. */
export function checkAdminRequest(req: unknown): { ok: true; cmd: AdminCommandName } | { ok: false; error: string } {
  const cmd = typeof req === 'object' && req !== null ? (req as { cmd?: unknown }).cmd : undefined;
  if (typeof cmd !== 'string') return { ok: false, error: 'a request is a JSON object with a "cmd"' };
  const v = (ADMIN_COMMANDS as Record<string, Verb>)[cmd];
  if (v === undefined) return { ok: false, error: `unknown admin command ${cmd} (known: ${Object.keys(ADMIN_COMMANDS).join(', ')})` };
  const problem = requestProblem(v, req);
  if (problem !== undefined) return { ok: false, error: `${cmd}: ${problem}` };
  return { ok: true, cmd: cmd as AdminCommandName };
}

/**
 * Runs one request's verb against `ctx` without recording its changes: the work of a process that does
 * not keep the running configuration (a worker, workers/). Never throws: a failure is an answer.
 */
export async function executeVerb(ctx: AdminContext, req: unknown): Promise<VerbAnswer> {
  const checked = checkAdminRequest(req);
  if (!checked.ok) return checked;
  const v = (ADMIN_COMMANDS as Record<string, Verb>)[checked.cmd]!;
  try {
    return { ok: true, outcome: await v.run(ctx, req as never) };
  } catch (e) {
    if (e instanceof AdminError || e instanceof TsiscsiError || e instanceof RangeError || e instanceof TypeError) return { ok: false, error: e.message };
    ctx.log.error({ err: e, admin: checked.cmd }, 'admin command failed');
    return { ok: false, error: (e as Error).message };
  }
}

/**
 * The answer to a verb's outcome once its changes are recorded in the running configuration (and, with
 * "persist": true, written back to the config file).
 */
export async function recordOutcome(config: RunningConfig | undefined, out: VerbOutcome): Promise<AdminAnswer> {
  const warnings = out.warning === undefined ? [] : [out.warning];
  if (out.changes !== undefined && out.changes.length > 0 && config !== undefined) {
    try {
      for (const c of out.changes) config.apply(c);
      if (config.persist) {
        const saved = await config.save();
        if (saved.clearSecrets.length > 0) warnings.push(`secrets written in clear to ${saved.path} (they were given inline): ${saved.clearSecrets.join(', ')}`);
      }
    } catch (e) {
      // The server has changed; the file has not. Say so rather than pretend.
      warnings.push(`done, but not saved to the config file: ${(e as Error).message}`);
    }
  }
  return { ok: true, result: out.result, ...(warnings.length > 0 && { warning: warnings.join('; ') }) };
}

/** Runs one admin request and records its changes. Never throws: a failure is an answer. */
export async function runAdmin(ctx: AdminContext, req: unknown): Promise<AdminAnswer> {
  const a = await executeVerb(ctx, req);
  return a.ok ? recordOutcome(ctx.config, a.outcome) : a;
}
