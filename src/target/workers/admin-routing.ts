// The admin socket of a target with workers: each request goes where its answer lives, and the main
// process, which alone keeps the running configuration, records the changes. A command on one target goes
// to the worker that owns it; what lists every target (`lun list`, `acl list`, `chap list`, `target list` without a
// target) asks every worker and keeps each target's rows from its owner; `session list` and `stats` span
// every process; `session drop` goes to the process whose server numbered the session; `config show|save`
// stay in the main process. A target added at runtime goes to the worker with the fewest targets and is
// known by every other process (SendTargets), as an ACL change is. The answers and error messages are
// those of a single-process target (admin/).

import type { RunningConfig } from '../config/store.js';
import type { TargetConfig } from '../config/schema.js';
import { checkAdminRequest, recordOutcome, type AdminAnswer, type AdminRequest, type VerbAnswer } from '../admin/commands.js';
import type { SessionInfo } from '../events.js';
import { mergeSnapshots, type StatsSnapshot } from '../stats/snapshot.js';

/** One process as the router reaches it: the main process's own server, or a worker through its IPC channel. */
export interface AdminPeer {
  verb(req: AdminRequest): Promise<VerbAnswer>;
  /** Knows a target that another process serves (for SendTargets and its ACL). */
  know(target: TargetConfig): Promise<void>;
  /** Forgets such a target. */
  forget(iqn: string): Promise<void>;
}

/** Where admin requests can go. */
export interface AdminScope {
  /** Every target's name, in configuration order. */
  targets(): readonly string[];
  /** The main process: discovery sessions, every target known and none served, the running configuration's verbs. */
  readonly local: AdminPeer;
  /** Every worker, by slot. */
  workers(): readonly AdminPeer[];
  /** The worker that serves `target`. */
  ownerOf(target: string): AdminPeer | undefined;
  /** The process whose server numbered session `id`, if there is one. */
  sessionOwner(id: number): AdminPeer | undefined;
  /** The worker a new target goes to. */
  placeNew(): AdminPeer;
  /** Records who serves `target` from now on (undefined: nobody, it was removed). */
  setOwner(target: string, owner: AdminPeer | undefined): void;
  /** The running configuration the changes go to. */
  readonly config: RunningConfig;
}

/** A refusal with the single-process target's wording. */
class Refused extends Error {}

/** Runs one admin request in a target with workers. Never rejects: a failure is an answer. */
export async function routeAdmin(scope: AdminScope, req: unknown): Promise<AdminAnswer> {
  const checked = checkAdminRequest(req);
  if (!checked.ok) return checked;
  let a: VerbAnswer;
  try {
    a = await routeVerb(scope, req as AdminRequest);
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
  return a.ok ? recordOutcome(scope.config, a.outcome) : a;
}

async function routeVerb(scope: AdminScope, req: AdminRequest): Promise<VerbAnswer> {
  switch (req.cmd) {
    case 'config-show':
    case 'config-save':
      return scope.local.verb(req);
    case 'session-list': {
      const rows = (await gather([scope.local, ...scope.workers()], req)).flat() as SessionInfo[];
      rows.sort((a, b) => a.id - b.id);
      return done(rows);
    }
    case 'session-drop': {
      const owner = scope.sessionOwner(req.id);
      return owner === undefined ? { ok: false, error: `no session ${req.id}` } : owner.verb(req);
    }
    case 'stats':
      return done(await gatherStats(scope));
    case 'target-list':
    case 'lun-list':
    case 'acl-list':
    case 'chap-list':
      if (req.cmd !== 'target-list' && req.target !== undefined) return owner(scope, req.target).verb(req);
      return done(await ownRows(scope, req));
    case 'lun-add':
    case 'lun-remove':
    case 'lun-resize':
    case 'chap-set':
    case 'chap-remove': {
      // Every process knows every target, so the target is always named to the owner.
      const target = named(scope, req.target);
      return owner(scope, target).verb({ ...req, target });
    }
    case 'acl-add':
    case 'acl-remove': {
      const target = named(scope, req.target);
      const a = await owner(scope, target).verb({ ...req, target });
      // The other processes' copies filter their SendTargets answers by the same ACL.
      if (a.ok) await Promise.all(others(scope, target).map((p) => p.verb({ ...req, target })));
      return a;
    }
    case 'target-add': {
      if (scope.targets().includes(req.iqn)) return { ok: false, error: `target ${req.iqn} already exists` };
      const to = scope.placeNew();
      const a = await to.verb(req);
      if (!a.ok) return a;
      scope.setOwner(req.iqn, to);
      const added = a.outcome.changes?.find((c) => c.kind === 'target-add');
      if (added !== undefined && added.kind === 'target-add') await Promise.all(others(scope, req.iqn).map((p) => p.know(added.target)));
      return a;
    }
    case 'target-remove': {
      const by = scope.ownerOf(req.iqn);
      if (by === undefined) return { ok: false, error: `no target ${req.iqn}` };
      const rest = others(scope, req.iqn);
      const a = await by.verb(req);
      if (!a.ok) return a;
      scope.setOwner(req.iqn, undefined);
      await Promise.all(rest.map((p) => p.forget(req.iqn)));
      return a;
    }
  }
}

function done(result: unknown): VerbAnswer {
  return { ok: true, outcome: { result } };
}

/** The target a request names, or the only one when it names none (the single-process wording). */
function named(scope: AdminScope, target: string | undefined): string {
  const all = scope.targets();
  if (target === undefined) {
    if (all.length !== 1) throw new Refused('several targets: name one with --target');
    return all[0]!;
  }
  if (!all.includes(target)) throw new Refused(`no target ${target}`);
  return target;
}

function owner(scope: AdminScope, target: string): AdminPeer {
  const p = scope.ownerOf(target);
  if (p === undefined) throw new Refused(`no target ${target}`);
  return p;
}

/** Every process but the one that serves `target`. */
function others(scope: AdminScope, target: string): AdminPeer[] {
  const by = scope.ownerOf(target);
  return [scope.local, ...scope.workers()].filter((p) => p !== by);
}

/** Asks `peers` the same request; their results, in order; the first failure is the answer. */
async function gather(peers: readonly AdminPeer[], req: AdminRequest): Promise<unknown[]> {
  const answers = await Promise.all(peers.map((p) => p.verb(req)));
  return answers.map((a) => {
    if (!a.ok) throw new Refused(a.error);
    return a.outcome.result;
  });
}

/** Each worker's rows of the targets it owns (the others' rows describe discovery-only copies), in target order. */
async function ownRows(scope: AdminScope, req: AdminRequest): Promise<unknown[]> {
  const workers = scope.workers();
  const results = await gather(workers, req);
  const order = new Map(scope.targets().map((t, i) => [t, i]));
  const rows = results.flatMap((r, i) => (r as { target: string }[]).filter((row) => scope.ownerOf(row.target) === workers[i]));
  // Stable: within a target, each verb's own order (LUN number, account kind) is kept.
  return rows.sort((a, b) => (order.get(a.target) ?? 0) - (order.get(b.target) ?? 0));
}

/** The counters of every process, summed (stats/snapshot.ts). */
export async function gatherStats(scope: Pick<AdminScope, 'local' | 'workers'>): Promise<StatsSnapshot> {
  const parts = await gather([scope.local, ...scope.workers()], { cmd: 'stats' });
  return mergeSnapshots(parts as StatsSnapshot[]);
}
