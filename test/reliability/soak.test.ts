// A short soak in CI (the long one is `npm run soak -- --minutes 30`): 8 sessions of checksummed I/O
// against a `tsiscsi target` child process with aborts, LUN resets and reconnects; no block may ever
// hold anything but a whole version written to it, and no error may be untyped.
import { describe, expect, it } from 'vitest';
import { runSoak } from '../../soak/soak.js';
import { interopDisabled } from '../interop/peers.js';

describe.skipIf(interopDisabled)('soak (short)', () => {
  it('reads back only whole written versions through aborts, LUN resets and reconnects', async () => {
    const r = await runSoak({ durationMs: 15_000, sessions: 8, blocksPerSession: 1024, seed: 42 });
    expect(r.mismatches).toEqual([]);
    expect(r.unexpectedErrors).toEqual([]);
    // The run really exercised what it is about.
    expect(r.reads).toBeGreaterThan(100);
    expect(r.writes).toBeGreaterThan(100);
    expect(r.reconnects + r.lunResets + r.aborts).toBeGreaterThan(0);
  }, 120_000);
});
