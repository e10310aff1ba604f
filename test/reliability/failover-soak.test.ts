// A short failover soak in CI (the long one is `npm run soak -- --gateways 3 --kill-every 20`): three
// gateways of one LUN in an etcd cluster, the owner SIGKILLed and restarted every 12 s under checksummed
// multipath I/O; no read may show a torn block, a lost acknowledged write or anything never written.
import { describe, expect, it } from 'vitest';
import { runFailoverSoak } from '../../soak/failover.js';
import { haveTools, interopDisabled } from '../interop/peers.js';

describe.skipIf(interopDisabled)('failover soak (short)', () => {
  it('reads back only whole acknowledged versions while gateways are killed and restarted', async () => {
    haveTools('etcd');
    const r = await runFailoverSoak({ durationMs: 45_000, gateways: 3, killEveryMs: 12_000, downMs: 5000, workers: 4, sessions: 2, blocksPerWorker: 512, seed: 16 });
    expect(r.mismatches).toEqual([]);
    expect(r.lostWrites).toBe(0);
    expect(r.tornBlocks).toBe(0);
    expect(r.unexpectedErrors).toEqual([]);
    // The run really exercised what it is about: kills, owners among them, I/O on both sides of each.
    expect(r.kills.length).toBeGreaterThanOrEqual(3);
    expect(r.kills.some((k) => k.owner)).toBe(true);
    expect(r.reads).toBeGreaterThan(100);
    expect(r.writes).toBeGreaterThan(100);
    expect(r.finalBlocksChecked).toBe(4 * 512);
  }, 240_000);
});
