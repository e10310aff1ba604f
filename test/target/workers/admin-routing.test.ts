// The admin socket of a target with workers: requests reach the process whose answer it is, and the
// answers read as a single-process target's. The processes here are real servers built as the main
// process and two workers build theirs (each serving its share of one configuration), in this process.

import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAdmin, type AdminAnswer, type AdminRequest } from '../../../src/target/admin.js';
import { buildServer, type ServerConfig } from '../../../src/target/config.js';
import type { TargetServer } from '../../../src/target/server.js';
import { routeAdmin, type AdminScope } from '../../../src/target/workers/admin-routing.js';
import { sessionIdsOf, slotOfSession } from '../../../src/target/workers/messages.js';

const A = 'iqn.2026-12.test:a';
const B = 'iqn.2026-12.test:b';
const C = 'iqn.2026-12.test:c';
const cfg: ServerConfig = { portals: ['127.0.0.1:0'], targets: [A, B, C].map((iqn) => ({ iqn, luns: ['mem:1M'] })) };
const log = pino({ level: 'silent' });

describe('routeAdmin', () => {
  let local: TargetServer;
  let w1: TargetServer;
  let w2: TargetServer;
  let scope: AdminScope;
  const asked: string[] = [];
  beforeAll(async () => {
    local = await buildServer(cfg, log, { sessionIds: sessionIdsOf(0, 2, 0) }, { serve: new Set() });
    w1 = await buildServer(cfg, log, { sessionIds: sessionIdsOf(1, 2, 0) }, { serve: new Set([0, 2]) });
    w2 = await buildServer(cfg, log, { sessionIds: sessionIdsOf(2, 2, 0) }, { serve: new Set([1]) });
    const run = (name: string, s: TargetServer) => (req: AdminRequest) => {
      asked.push(name);
      return runAdmin(s, req);
    };
    const owner = new Map([
      [A, run('w1', w1)],
      [B, run('w2', w2)],
      [C, run('w1', w1)],
    ]);
    const bySlot = [run('local', local), run('w1', w1), run('w2', w2)];
    scope = {
      targets: [A, B, C],
      ownerOf: (t) => owner.get(t)!,
      sessionOwner: (id) => bySlot[slotOfSession(id, 2)],
      everyone: () => bySlot,
    };
  });
  afterAll(async () => {
    for (const s of [local, w1, w2]) await s.close({ graceMs: 0 });
  });
  const ask = async (req: AdminRequest): Promise<AdminAnswer> => {
    asked.length = 0;
    return routeAdmin(scope, req);
  };

  it('lists the LUNs of every worker in configuration order', async () => {
    const a = await ask({ cmd: 'lun-list' });
    expect(a.ok && (a.result as { target: string }[]).map((r) => r.target)).toEqual([A, B, C]);
    expect(asked.sort()).toEqual(['local', 'w1', 'w2']);
  });

  it("sends a LUN added to a target to the worker that owns it, and only there", async () => {
    const a = await ask({ cmd: 'lun-add', lun: 1, spec: 'mem:2M', target: B });
    expect(a).toEqual({ ok: true, result: { target: B, lun: 1, blocks: 4096, blockSize: 512 } });
    expect(asked).toEqual(['w2']);
    expect(w2.target(B)!.device.get(1)).toBeDefined();
    expect(w1.target(B)!.device.get(1)).toBeUndefined();
    expect(local.target(B)!.device.get(1)).toBeUndefined();
    const listed = await ask({ cmd: 'lun-list', target: B });
    expect(listed.ok && (listed.result as { lun: number }[]).map((r) => r.lun)).toEqual([0, 1]);
    expect(await ask({ cmd: 'lun-remove', lun: 1, target: B })).toEqual({ ok: true, result: { target: B, lun: 1, removed: true } });
  });

  it('answers as one process does when the target is missing or must be named', async () => {
    expect(await ask({ cmd: 'lun-add', lun: 1, spec: 'mem:1M' })).toEqual({ ok: false, error: 'several targets: name one with --target' });
    expect(await ask({ cmd: 'lun-remove', lun: 0, target: 'iqn.2026-12.test:nope' })).toEqual({ ok: false, error: 'no target iqn.2026-12.test:nope' });
    expect(await ask({ cmd: 'session-drop', id: 7 })).toEqual({ ok: false, error: 'no session 7' });
    expect(await ask({ cmd: 'frobnicate' } as unknown as AdminRequest)).toEqual({ ok: false, error: 'unknown admin command frobnicate' });
  });

  it('names the one target when there is only one', async () => {
    const one: AdminScope = { ...scope, targets: [B], ownerOf: () => (req) => runAdmin(w2, req) };
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
    const broken: AdminScope = { ...scope, everyone: () => [...scope.everyone(), async () => ({ ok: false, error: 'worker 3 is not running' })] };
    expect(await routeAdmin(broken, { cmd: 'session-list' })).toEqual({ ok: false, error: 'worker 3 is not running' });
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
