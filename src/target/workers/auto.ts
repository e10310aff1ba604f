// How many worker processes `--workers auto` (and the default) runs: measured in bench/README.md
// ("Multi-core"). Each worker owns whole targets, so more workers than targets would sit idle.

import { availableParallelism } from 'node:os';

/**
 * Below this many cores `auto` serves everything in one process. On 2 cores the initiators on the same
 * machine (or the machine's other work) need a core too; bench/README.md has the figures.
 */
export const AUTO_MIN_CORES = 4;

/**
 * The number of worker processes for `setting` (`--workers`): a number N gives min(N, targets), 0 none;
 * `'auto'` or nothing gives none below {@link AUTO_MIN_CORES} cores or for one target, else one worker
 * per target up to one per core.
 */
export function resolveWorkers(setting: number | 'auto' | undefined, targets: number, cores: number = availableParallelism()): number {
  if (setting !== undefined && setting !== 'auto') return Math.min(setting, targets);
  if (cores < AUTO_MIN_CORES || targets < 2) return 0;
  return Math.min(targets, cores);
}
