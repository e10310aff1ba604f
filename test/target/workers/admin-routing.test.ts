// The admin socket of a target with workers: requests reach the process whose answer it is, the answers
// read as a single-process target's, and the changes land in the running configuration the main process
// keeps. The processes here are real servers built as the main process and two workers build theirs
// (each serving its share of one configuration), in this process.

import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executeVerb, type AdminAnswer, type AdminRequest } from '../../../src/target/admin/commands.js';
import { ExportPolicy } from '../../../src/target/admin/paths.js';
import { buildServer } from '../../../src/target/config/build.js';
import type { ServerConfig } from '../../../src/target/config/schema.js';
import { RunningConfig } from '../../../src/target/config/store.js';
import type { TargetServer } from '../../../src/target/server.js';
import { routeAdmin, type AdminPeer, type AdminScope } from '../../../src/target/workers/admin-routing.js';
import { forgetTarget, knowTarget } from '../../../src/target/workers/known-targets.js';
import { sessionIdsOf, slotOfSession } from '../../../src/target/workers/messages.js';

const A = 'iqn.2026-12.test:a';
const B = 'iqn.2026-12.test:b';
const C = 'iqn.2026-12.test:c';
const D = 'iqn.2026-12.test:d';
const cfg: ServerConfig = { portals: ['127.0.0.1:0'], targets: [A, B, C].map((iqn) => ({ iqn, luns: ['mem:1M'] })) };
const log = pino({ level: 'silent' });

describe('routeAdmin', () => {
  let local: TargetServer;
  let w1: TargetServer;
  let w2: TargetServer;
  let scope: AdminScope;
  let store: RunningConfig;
  const asked: string[] = [];
  beforeAll(async () => {
    local = await buildServer(cfg, log, { sessionIds: sessionIdsOf(0, 2, 0) }, { serve: new Set() });
    w1 = await buildServer(cfg, log, { sessionIds: sessionIdsOf(1, 2, 0) }, { serve: new Set([0, 2]) });
    w2 = await buildServer(cfg, log, { sessionIds: sessionIdsOf(2, 2, 0) }, { serve: new Set([1]) });
    store = new RunningConfig(cfg);
    const peer = (name: string, s: TargetServer): AdminPeer => ({
      verb: (req) => {
        asked.push(name);
        return executeVerb({ server: s, config: undefined, exports: new ExportPolicy(undefined), stats: () => s.stats(), log }, req);
      },
      know: async (t) => void knowTarget(s, t, log),
      forget: async (iqn) => void (await forgetTarget(s, iqn)),
    });
    const [pl, p1, p2] = [peer('local', local), peer('w1', w1), peer('w2', w2)];
    const owner = new Map<string, AdminPeer>([
      [A, p1],
      [B, p2],
      [C, p1],
    ]);
    const bySlot = [pl, p1, p2];
    scope = {
      targets: () => store.running().targets.map((t) => t.iqn),
      local: pl,
      workers: () => [p1, p2],
      ownerOf: (t) => owner.get(t),
      sessionOwner: (id) => bySlot[slotOfSession(id, 2)],
      placeNew: () => ([...owner.values()].filter((p) => p === p1).length <= [...owner.values()].filter((p) => p === p2).length ? p1 : p2),
      setOwner: (t, p) => (p === undefined ? owner.delete(t) : owner.set(t, p)),
      config: store,
    };
  });
  afterAll(async () => {
    for (const s of [local, w1, w2]) await s.close({ graceMs: 0 });
  });
  const ask = async (req: AdminRequest): Promise<AdminAnswer> => {
    asked.length = 0;
    return routeAdmin(scope, req);
  };

  it('lists the LUNs of every worker in configuration order, asking only the workers', async () => {
    const a = await ask({ cmd: 'lun-list' });
    expect(a.ok && (a.result as { target: string }[]).map((r) => r.target)).toEqual([A, B, C]);
    expect(asked.sort()).toEqual(['w1', 'w2']);
  });

  it('sends a LUN added to a target to the worker that owns it, and only there, and records it in the running config', async () => {
    const a = await ask({ cmd: 'lun-add', lun: 1, spec: 'mem:2M', target: B });
    expect(a).toEqual({ ok: true, result: { target: B, lun: 1, blocks: 4096, blockSize: 512 } });
    expect(asked).toEqual(['w2']);
    expect(w2.target(B)!.device.get(1)).toBeDefined();
    expect(w1.target(B)!.device.get(1)).toBeUndefined();
    expect(local.target(B)!.device.get(1)).toBeUndefined();
    expect(store.running().targets[1]!.luns).toHaveLength(2);
    const listed = await ask({ cmd: 'lun-list', target: B });
    expect(listed.ok && (listed.result as { lun: number }[]).map((r) => r.lun)).toEqual([0, 1]);
    expect(await ask({ cmd: 'lun-remove', lun: 1, target: B })).toEqual({ ok: true, result: { target: B, lun: 1, removed: true } });
    expect(store.running().targets[1]!.luns).toHaveLength(1);
  });

  it('answers as one process does when the target is missing or must be named', async () => {
    expect(await ask({ cmd: 'lun-add', lun: 1, spec: 'mem:1M' })).toEqual({ ok: false, error: 'several targets: name one with --target' });
    expect(await ask({ cmd: 'lun-remove', lun: 0, target: 'iqn.2026-12.test:nope' })).toEqual({ ok: false, error: 'no target iqn.2026-12.test:nope' });
    expect(await ask({ cmd: 'session-drop', id: 7 })).toEqual({ ok: false, error: 'no session 7' });
    const unknown = await ask({ cmd: 'frobnicate' } as unknown as AdminRequest);
    expect(unknown.ok === false && unknown.error).toMatch(/^unknown admin command frobnicate \(known: /);
  });

  it('names the one target when there is only one', async () => {
    const one: AdminScope = { ...scope, targets: () => [B] };
    const a = await routeAdmin(one, { cmd: 'lun-resize', lun: 0, size: '2M' });
    expect(a).toEqual({ ok: true, result: { target: B, lun: 0, blocks: 4096, bytes: 2 * 1024 * 1024 } });
  });

  it('sends a session drop to the process whose server numbered the session', async () => {
    await ask({ cmd: 'session-drop', id: sessionIdsOf(2, 2, 0).first });
    expect(asked).toEqual(['w2']);
    await ask({ cmd: 'session-drop', id: sessionIdsOf(1, 2, 3).first + 9 });
    expect(asked).toEqual(['w1']);
    await ask({ cmd: 'session-drop', id: sessionIdsOf(0, 2, 0).first });
    expect(asked).toEqual(['local']);
  });

  it('fails the whole list when a process cannot answer, rather than list part of it', async () => {
    const down: AdminPeer = { verb: async () => ({ ok: false, error: 'worker 3 exited' }), know: async () => {}, forget: async () => {} };
    const broken: AdminScope = { ...scope, workers: () => [...scope.workers(), down] };
    expect(await routeAdmin(broken, { cmd: 'session-list' })).toEqual({ ok: false, error: 'worker 3 exited' });
  });

  it('puts a target added at runtime on the worker with the fewest targets; every other process knows it for discovery; removing it forgets it everywhere', async () => {
    const a = await ask({ cmd: 'target-add', iqn: D, luns: ['mem:1M'] });
    expect(a.ok).toBe(true);
    expect(w2.target(D)?.discoveryOnly).toBe(false);
    expect(w2.target(D)!.device.get(0)).toBeDefined();
    expect(w1.target(D)?.discoveryOnly).toBe(true);
    expect(local.target(D)?.discoveryOnly).toBe(true);
    expect(store.running().targets.map((t) => t.iqn)).toEqual([A, B, C, D]);
    const rows = await ask({ cmd: 'target-list' });
    expect(rows.ok && (rows.result as { target: string; luns: number }[]).map((r) => [r.target, r.luns])).toEqual([
      [A, 1],
      [B, 1],
      [C, 1],
      [D, 1],
    ]);
    expect(await ask({ cmd: 'target-add', iqn: D })).toEqual({ ok: false, error: `target ${D} already exists` });
    expect((await ask({ cmd: 'target-remove', iqn: D, graceMs: 0 })).ok).toBe(true);
    for (const s of [local, w1, w2]) expect(s.target(D)).toBeUndefined();
    expect(store.running().targets.map((t) => t.iqn)).toEqual([A, B, C]);
  });

  it('changes the ACL of every copy of a target, so every process answers SendTargets alike', async () => {
    const who = 'iqn.2026-12.test:host1';
    expect((await ask({ cmd: 'acl-add', initiator: who, target: A })).ok).toBe(true);
    for (const s of [local, w1, w2]) expect([...s.target(A)!.allow]).toEqual([who]);
    expect(store.running().targets[0]!.allow).toEqual([who]);
    // Listed without a target, as one process lists it: every target, each from its owner.
    const rows = await ask({ cmd: 'acl-list' });
    expect(rows).toEqual({ ok: true, result: [{ target: A, initiator: who }, { target: B, initiator: '*' }, { target: C, initiator: '*' }] });
    expect((await ask({ cmd: 'acl-remove', initiator: who, target: A })).ok).toBe(true);
    for (const s of [local, w1, w2]) expect(s.target(A)!.allow.size).toBe(0);
  });

  it('sums the counters of every process: each target once, from its owner', async () => {
    const a = await ask({ cmd: 'stats' });
    expect(a.ok && (a.result as { targets: { name: string; luns: unknown[] }[] }).targets.map((t) => [t.name, t.luns.length])).toEqual([
      [A, 1],
      [B, 1],
      [C, 1],
    ]);
  });
});

describe('session ids of the processes', () => {
  it('never collide across slots and generations, and name their slot', () => {
    const seen = new Set<number>();
    for (let slot = 0; slot <= 4; slot++) {
      for (let gen = 0; gen < 3; gen++) {
        const { first, step } = sessionIdsOf(slot, 4, gen);
        for (let k = 0; k < 50; k++) {
          const id = first + k * step;
          expect(seen.has(id)).toBe(false);
          seen.add(id);
          expect(slotOfSession(id, 4)).toBe(slot);
        }
      }
    }
  });
});
