// The initiator fuzzer's deterministic corpus, run in CI: fixed seeds against a hostile target, through
// the library in-process and through the CLI (dist/, built by `npm test`). No timing threshold here: a
// case fails on an untyped error, an uncaught exception, a CLI that prints more than one line or a stack
// trace, or a case that never ends (the watchdog is far above any timeout). The long run, with its
// timing bounds, is `npm run fuzz:initiator -- --minutes 30`.

import { describe, expect, it } from 'vitest';
import { fuzzInitiator, generateCase, runCliCase, runLibraryCase } from '../../fuzz/initiator-fuzz.js';

const RUN = { slackMs: Infinity, watchdogMs: 30_000 };

describe('initiator fuzzer, CI corpus', () => {
  it('ends every one of 400 library cases (seeds 1..400) in success or a typed error, leaving nothing behind', async () => {
    const r = await fuzzInitiator({ seed: 1, cases: 400, batch: 8, cliShare: 0, slackMs: Infinity, watchdogMs: 30_000, timeouts: [200, 400] });
    expect(r.failures.map((f) => ({ seed: f.seed, problems: f.problems }))).toEqual([]);
    expect(r.libraryCases).toBe(400);
    // The corpus reaches well past the login: most hostile command behaviours are played.
    expect(Object.keys(r.behaviours).length).toBeGreaterThan(20);
    expect(r.fdEnd).toBe(r.fdStart);
  }, 300_000);

  it('ends every one of 24 CLI cases (seeds 1000..1023) with exit 0, or one line on stderr and a non-zero exit', async () => {
    const r = await fuzzInitiator({ seed: 1000, cases: 24, batch: 4, cliShare: 1, slackMs: Infinity, watchdogMs: 30_000, timeouts: [300] });
    expect(r.failures.map((f) => ({ seed: f.seed, problems: f.problems, outcomes: f.outcomes }))).toEqual([]);
    expect(r.cliCases).toBe(24);
  }, 300_000);
});

describe('initiator fuzzer, regressions', () => {
  it('a READ CAPACITY with an absurd block size or capacity is a typed protocol error (seeds 103, 150, 230, 403)', async () => {
    for (const seed of [103, 150, 230, 403]) {
      const r = await runLibraryCase(generateCase(seed), RUN);
      expect(r.problems, `seed ${seed}`).toEqual([]);
    }
  }, 120_000);

  it('the hostile target sends over-long odd login keys itself instead of failing to encode them (seed 20266442, 30-minute run)', async () => {
    const r = await runLibraryCase(generateCase(20266442), RUN);
    expect(r.problems).toEqual([]);
  }, 60_000);

  it('close() while a target-requested logout is under way shares that logout: the CLI exits, never with 13 (unsettled await) (seed 20264498, 30-minute run)', async () => {
    // The race is timing-dependent (2 runs in 3 failed before the fix): run it several times.
    for (let i = 0; i < 5; i++) {
      const r = await runCliCase(generateCase(20264498), { ...RUN, command: 'inquiry', scratch: '/tmp' });
      expect(r.problems, `run ${i}`).toEqual([]);
    }
  }, 120_000);

  for (const behaviour of ['silence', 'slow-drip'] as const) {
    it(`the CLI bounds the login by --timeout: a target whose login answer is ${behaviour === 'silence' ? 'never sent' : 'sent a byte at a time'}`, async () => {
      const c = generateCase(1000, [600]);
      c.plan.logins = [];
      c.plan.tailLogin = behaviour;
      const r = await runCliCase(c, { ...RUN, command: 'inquiry', scratch: '/tmp' });
      expect(r.problems).toEqual([]);
      expect(r.outcomes[0]).toMatch(/^inquiry exit 1: tsiscsi inquiry: no Login Response from .* within \d+ ms$/);
      // The login waited at most the command's 600 ms, not the library's 15 s default.
      expect(Number(/within (\d+) ms/.exec(r.outcomes[0]!)![1])).toBeLessThanOrEqual(600);
    }, 60_000);
  }
});
