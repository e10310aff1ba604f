// The admin socket of a target with workers: each request goes where its answer lives. A LUN command goes
// to the worker that owns its target; `session drop` to the process whose server numbered the session;
// `lun list` and `session list` to every process, their answers put together. The answers and error
// messages are those of a single-process target (admin.ts).

import type { AdminAnswer, AdminRequest } from '../admin.js';
import type { SessionInfo } from '../events.js';

/** One process's admin executor: the main process's own server, or a worker through its IPC channel. */
export type AdminExecutor = (req: AdminRequest) => Promise<AdminAnswer>;

/** Where admin requests can go. */
export interface AdminScope {
  /** Every target name, in configuration order. */
  readonly targets: readonly string[];
  /** The executor of the process that serves `target`. */
  ownerOf(target: string): AdminExecutor;
  /** The executor of the process whose server numbered session `id`, if there is one. */
  sessionOwner(id: number): AdminExecutor | undefined;
  /** Every process's executor: the main process first, then the workers by slot. */
  everyone(): readonly AdminExecutor[];
}

/** Runs one admin request in a target with workers. Never rejects: a failure is an answer. */
export async function routeAdmin(scope: AdminScope, req: AdminRequest): Promise<AdminAnswer> {
  try {
    switch (req.cmd) {
      case 'lun-list': {
        if (req.target !== undefined) return await scope.ownerOf(known(scope, req.target))(req);
        const rows = (await gather(scope, req)) as { target: string; lun: number }[];
        const order = new Map(scope.targets.map((t, i) => [t, i]));
        rows.sort((a, b) => order.get(a.target)! - order.get(b.target)! || a.lun - b.lun);
        return { ok: true, result: rows };
      }
      case 'lun-add':
      case 'lun-remove':
      case 'lun-resize': {
        // Each worker knows every target (for SendTargets), so the target is always named to it.
        const target = req.target !== undefined ? known(scope, req.target) : only(scope);
        return await scope.ownerOf(target)({ ...req, target });
      }
      case 'session-list': {
        const rows = (await gather(scope, req)) as SessionInfo[];
        rows.sort((a, b) => a.id - b.id);
        return { ok: true, result: rows };
      }
      case 'session-drop': {
        const owner = Number.isInteger(req.id) && req.id > 0 ? scope.sessionOwner(req.id) : undefined;
        if (owner === undefined) throw new Error(`no session ${req.id}`);
        return await owner(req);
      }
      default:
        throw new Error(`unknown admin command ${(req as { cmd: string }).cmd}`);
    }
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}

function known(scope: AdminScope, name: string): string {
  if (!scope.targets.includes(name)) throw new Error(`no target ${name}`);
  return name;
}

function only(scope: AdminScope): string {
  if (scope.targets.length !== 1) throw new Error('several targets: name one with --target');
  return scope.targets[0]!;
}

/** Asks every process and concatenates their answers (arrays); the first failure is the answer. */
async function gather(scope: AdminScope, req: AdminRequest): Promise<unknown[]> {
  const answers = await Promise.all(scope.everyone().map((run) => run(req)));
  const rows: unknown[] = [];
  for (const a of answers) {
    if (!a.ok) throw new Error(a.error);
    rows.push(...(a.result as unknown[]));
  }
  return rows;
}
