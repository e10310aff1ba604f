// Counts the results of libiscsi's iscsi-test-cu from its verbose (default) output.
//
// Why the console output and not `-x` (CUnitAutomated-Results.xml): a skipped test is a CU_PASS
// whose message says "[SKIPPED]", and CUnit's XML records only failed assertions, so a skip and a
// pass look the same there. In verbose mode every test is framed as "  Test: NAME ..." followed by
// what the test logs and then "passed" or "FAILED" at the start of a line; the "[SKIPPED]" lines a
// test logs sit inside that frame. Run the tool with `stdbuf -oL`: its stdout is block-buffered and
// the buffer is duplicated when it forks, which repeats chunks of the log.

/** The counts of one run, each test counted once. */
export interface CunitResult {
  pass: number;
  skip: number;
  fail: number;
  failedNames: string[];
  skippedNames: string[];
  /** For each skipped test, the first "[SKIPPED] ..." reason it logged. */
  skipReasons: Map<string, string>;
  /** Distinct tests seen (Suite.Test). */
  total: number;
  /** Test frames seen, repeats included (the same suite runs once per test family without -t). */
  runs: number;
}

type Outcome = 'pass' | 'skip' | 'fail';
const RANK: Record<Outcome, number> = { pass: 0, skip: 1, fail: 2 };

/**
 * Parses iscsi-test-cu's verbose output. A test that appears more than once (iscsi-test-cu without
 * -t runs the suites of the ALL, SCSI, iSCSI and LINUX families) counts once, with its worst
 * outcome: failed, else skipped, else passed.
 */
export function parseCunitOutput(stdout: string): CunitResult {
  const outcomes = new Map<string, Outcome>();
  const reasons = new Map<string, string>();
  let runs = 0;
  let suite = '';
  // Split into suite headers, test headers and the text between them, keeping the delimiters.
  const parts = stdout.split(/(^Suite: [^\n]+$|  Test: \S+ \.\.\.)/m);
  let current: string | undefined;
  for (const part of parts) {
    const suiteHeader = /^Suite: (.+)$/.exec(part);
    if (suiteHeader !== null) {
      suite = suiteHeader[1]!.trim();
      current = undefined;
      continue;
    }
    const testHeader = /^ {2}Test: (\S+) \.\.\.$/.exec(part);
    if (testHeader !== null) {
      current = `${suite}.${testHeader[1]}`;
      continue;
    }
    if (current === undefined) continue;
    // The verdict is the first "passed" or "FAILED" at the start of a line (or right after
    // "..."); a test's own "[FAILED] ..." log lines are indented and bracketed.
    const verdict = /^(passed|FAILED)/m.exec(part);
    const body = verdict === null ? part : part.slice(0, verdict.index);
    let outcome: Outcome;
    if (verdict === null || verdict[1] === 'FAILED') outcome = 'fail';
    else if (body.includes('[SKIPPED]')) outcome = 'skip';
    else outcome = 'pass';
    if (outcome === 'skip' && !reasons.has(current)) {
      const reason = /\[SKIPPED\][ \t]*([^\n]*)/.exec(body);
      reasons.set(current, (reason?.[1] ?? '').trim());
    }
    const prev = outcomes.get(current);
    if (prev === undefined || RANK[outcome] > RANK[prev]) outcomes.set(current, outcome);
    runs++;
    current = undefined;
  }
  const names = (o: Outcome) => [...outcomes].filter(([, v]) => v === o).map(([k]) => k);
  const skippedNames = names('skip');
  return {
    pass: names('pass').length,
    skip: skippedNames.length,
    fail: names('fail').length,
    failedNames: names('fail'),
    skippedNames,
    skipReasons: new Map(skippedNames.map((n) => [n, reasons.get(n) ?? ''])),
    total: outcomes.size,
    runs,
  };
}
