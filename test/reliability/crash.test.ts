// The SIGKILL crash test in CI (two runs; `npm run crash-test -- --runs 20` by hand): the target is
// killed under a write load mixing plain writes, FUA writes and SYNCHRONIZE CACHE; afterwards every
// write acknowledged with FUA or before a completed SYNCHRONIZE CACHE is in the file, and no block is torn.
import { describe, expect, it } from 'vitest';
import { crashRun } from '../../soak/crash-test.js';
import { interopDisabled } from '../interop/peers.js';

describe.skipIf(interopDisabled)('SIGKILL during writes', () => {
  it('loses no acknowledged durable write and tears no block (2 runs)', async () => {
    for (const seed of [11, 12]) {
      const r = await crashRun(seed);
      expect(r.lost, `seed ${seed}`).toEqual([]);
      expect(r.torn, `seed ${seed}`).toEqual([]);
      // The kill landed in the middle of real work.
      expect(r.acknowledged).toBeGreaterThan(100);
      expect(r.fuaWrites + r.syncs).toBeGreaterThan(0);
    }
  }, 120_000);
});
