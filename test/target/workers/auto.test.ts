// `--workers auto` and the default: one process below AUTO_MIN_CORES cores or for one target, else a
// worker per target up to one per core; a number is capped at the number of targets.

import { describe, expect, it } from 'vitest';
import { AUTO_MIN_CORES, resolveWorkers } from '../../../src/target/workers/auto.js';

describe('resolveWorkers', () => {
  it('serves everything in one process below the core threshold', () => {
    expect(resolveWorkers('auto', 8, AUTO_MIN_CORES - 1)).toBe(0);
    expect(resolveWorkers(undefined, 8, 2)).toBe(0);
  });
  it('serves one target in one process whatever the cores', () => {
    expect(resolveWorkers('auto', 1, 64)).toBe(0);
  });
  it('gives each target a worker, up to one per core', () => {
    expect(resolveWorkers('auto', 3, 16)).toBe(3);
    expect(resolveWorkers('auto', 40, 16)).toBe(16);
    expect(resolveWorkers(undefined, 8, AUTO_MIN_CORES)).toBe(Math.min(8, AUTO_MIN_CORES));
  });
  it('takes a number as given, capped at the number of targets', () => {
    expect(resolveWorkers(0, 8, 64)).toBe(0);
    expect(resolveWorkers(2, 8, 2)).toBe(2);
    expect(resolveWorkers(5, 2, 2)).toBe(2);
  });
});
