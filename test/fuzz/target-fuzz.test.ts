// The fuzzer's deterministic corpus, run in CI: fixed seeds, every scenario, no crash, hang or leak.
// The long run is `npm run fuzz -- --minutes 30`.

import { describe, expect, it } from 'vitest';
import { fuzzTarget } from '../../fuzz/target-fuzz.js';

describe('target fuzzer, CI corpus', () => {
  it('survives 1500 generated and mutated cases (seeds 1..1500) and still serves', async () => {
    const r = await fuzzTarget({ seed: 1, cases: 1500 });
    expect(r.failures).toEqual([]);
    expect(r.cases).toBe(1500);
    expect(Object.keys(r.byScenario)).toHaveLength(6);
    expect(r.healthChecks).toBeGreaterThan(1);
  }, 300_000);
});
