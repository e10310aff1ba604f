// Teardown leaves nothing scheduled: a late timer or completion must find nothing to act on. A full
// round trip (in-process target, library initiator: login, I/O, an aborted command, logout, server
// shutdown) must leave the process with the handles and timers it had before, and every closed
// connection must report no leftovers.
import { describe, expect, it } from 'vitest';
import { Session } from '../../src/initiator/session.js';
import { startTarget } from '../interop/tsiscsi.js';

/** Active resources by kind, without the ones vitest's own machinery comes and goes with. */
function resources(): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) m.set(r, (m.get(r) ?? 0) + 1);
  return m;
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

describe('teardown leaves nothing scheduled', () => {
  it('a target and an initiator session, used and closed, leave no handle or timer behind', async () => {
    await settle();
    const before = resources();
    const t = await startTarget({ luns: ['mem:16M', 'mem:16M,delay=1000'] });
    // (the delay LUN's flush at shutdown takes its delay too: the delay applies to every backend call)
    const s = await Session.connect(t.url(0), { timeout: 5000 });
    await s.write(0, Buffer.alloc(4096, 7));
    expect((await s.read(0, 8)).equals(Buffer.alloc(4096, 7))).toBe(true);
    const slow = await Session.connect(t.url(1), { timeout: 200 });
    await expect(slow.read(0, 1)).rejects.toThrow(/aborted/);
    await slow.close();
    await s.close();
    const summary = await t.server.close({ graceMs: 500 });
    expect(summary.clean).toBe(true);
    await t.stop();
    await settle();
    const after = resources();
    for (const [kind, n] of after) expect(n, `${kind}: ${n} after, ${before.get(kind) ?? 0} before`).toBeLessThanOrEqual(before.get(kind) ?? 0);
  }, 30_000);
});
