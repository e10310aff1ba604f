// The initiator fuzzer: a hostile target (fuzz/hostile-target.ts) plays a generated plan against the
// initiator library in this process, or against the CLI (`tsiscsi read|inquiry|readcap|write`) in a
// child process. The oracle, for every case:
// - it ends: each command settles within its timeout (plus the slack the run allows), the session
//   closes, the CLI exits; a case still running after the watchdog is a hang;
// - a failure is a typed error (TsiscsiError, with a code) and, from the CLI, one line on stderr
//   (`tsiscsi CMD: ...`, no stack trace, no "internal error") with a non-zero exit;
// - no uncaught exception or unhandled rejection; no spin (CPU time well under wall time while
//   waiting); nothing left behind (sockets, timers, file descriptors) once the case is over.
// Every case is reproducible from its seed.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TsiscsiError } from '../src/errors.js';
import type { SessionOptions } from '../src/initiator/options.js';
import { Session } from '../src/initiator/session.js';
import { cdbSynchronizeCache10 } from '../src/scsi/cdb/index.js';
import { COMMAND_BEHAVIOURS, HOSTILE_BLOCK_SIZE, HostileTarget, LOGIN_BEHAVIOURS, type CommandBehaviour, type HostilePlan, type LoginBehaviour } from './hostile-target.js';
import { Rng } from './mutate.js';
import { cliEntry, cpuMeter, fdCount, sampler, settle, type ResourceSample } from './resources.js';

// ---------------------------------------------------------------------------------------------
// Plans and workloads

/** What the initiator side does in a case. */
export type Op = 'read' | 'write' | 'write-fua' | 'inquiry' | 'readcap' | 'sync' | 'tur' | 'execute-random';

export interface Workload {
  ops: Op[];
  /** Run the ops concurrently (else one after the other). */
  concurrent: boolean;
  /** Per-command timeout, ms. */
  timeout: number;
  /** Give the session the block size (else it asks READ CAPACITY, which the target may lie in). */
  knownBlockSize: boolean;
  blocks: number;
  lba: number;
}

/** One generated case: the target's plan and what the initiator does. */
export interface FuzzCase {
  seed: number;
  plan: HostilePlan;
  work: Workload;
}

const HOSTILE_LOGINS = LOGIN_BEHAVIOURS.filter((b) => b !== 'ok');
const HOSTILE_COMMANDS = COMMAND_BEHAVIOURS.filter((b) => b !== 'good');

/** Generates the case of a seed: mostly one hostile behaviour among good ones, sometimes chaos. */
export function generateCase(seed: number, timeouts: readonly number[] = [300, 600, 1000]): FuzzCase {
  const r = new Rng(seed);
  const mode = r.int(10);
  const logins: LoginBehaviour[] = [];
  const commands: CommandBehaviour[] = [];
  let tailLogin: LoginBehaviour = 'ok';
  let tailCommand: CommandBehaviour = 'good';
  if (mode < 4) {
    // One hostile command at a random position, good otherwise: the session must recover and go on.
    for (let i = r.int(4); i > 0; i--) commands.push('good');
    commands.push(r.pick(HOSTILE_COMMANDS));
    tailCommand = r.bool(0.7) ? 'good' : r.pick(HOSTILE_COMMANDS);
  } else if (mode < 6) {
    // A hostile login on the first connection(s), then good or hostile.
    for (let i = 1 + r.int(2); i > 0; i--) logins.push(r.pick(HOSTILE_LOGINS));
    tailLogin = r.bool(0.5) ? 'ok' : r.pick(HOSTILE_LOGINS);
    tailCommand = r.bool(0.7) ? 'good' : r.pick(HOSTILE_COMMANDS);
  } else if (mode < 9) {
    // Chaos: every command and every later login random.
    for (let i = 0; i < 8; i++) commands.push(r.bool(0.3) ? 'good' : r.pick(HOSTILE_COMMANDS));
    if (r.bool(0.3)) logins.push('ok', r.pick(HOSTILE_LOGINS));
    tailLogin = r.bool(0.5) ? 'ok' : r.pick(LOGIN_BEHAVIOURS);
    tailCommand = r.pick(COMMAND_BEHAVIOURS);
  } else {
    // Hostile for ever: nothing ever succeeds after the first misstep.
    commands.push(r.pick(HOSTILE_COMMANDS));
    tailCommand = r.pick(['silence', 'garbage', 'close-mid', 'half-pdu', 'slow-drip', 'huge-dsl'] as const);
    tailLogin = r.pick(['silence', 'hangup', 'garbage', 'fail-target', 'redirect-self', 'slow-drip'] as const);
  }
  const plan: HostilePlan = {
    seed,
    logins,
    tailLogin,
    commands,
    tailCommand,
    answerNops: r.bool(0.8),
    answerTmf: r.pick(['yes', 'yes', 'no', 'junk'] as const),
    window: r.pick([32, 32, 4, 1]),
  };
  const allOps: Op[] = ['read', 'read', 'write', 'write-fua', 'inquiry', 'readcap', 'sync', 'tur', 'execute-random'];
  const nOps = 1 + r.int(5);
  const work: Workload = {
    ops: Array.from({ length: nOps }, () => r.pick(allOps)),
    concurrent: r.bool(0.5),
    timeout: r.pick(timeouts),
    knownBlockSize: r.bool(0.7),
    blocks: r.pick([1, 1, 8, 64, 512]),
    lba: r.int(1024),
  };
  return { seed, plan, work };
}

// ---------------------------------------------------------------------------------------------
// Results

export interface CaseResult {
  seed: number;
  where: 'library' | 'cli';
  /** Per op (library) or per run (CLI): 'ok' or the error's name and code. */
  outcomes: string[];
  /** What went wrong by the oracle's rules (empty: the case passed). */
  problems: string[];
  wallMs: number;
  /** Longest time an op took past its own timeout (library), ms. */
  worstOvershootMs: number;
  /** CPU time of the case: this process (library, shared with the target) or the child (CLI). */
  cpuMs: number;
  behaviours: string[];
}

export interface RunOptions {
  /** Time a command may take beyond its timeout before it counts as late (ms); Infinity: only hangs count. */
  slackMs: number;
  /** A case still running after this long is a hang (ms). */
  watchdogMs: number;
}

/** What the library's errors look like: typed, with a code, named. */
function typed(e: unknown): boolean {
  return TsiscsiError.is(e) && typeof (e as TsiscsiError).code === 'string' && (e as Error).name !== 'Error';
}

function label(e: unknown): string {
  if (e instanceof Error) return `${e.name}${TsiscsiError.is(e) ? ` ${(e as TsiscsiError).code}` : ''}`;
  return `non-error ${String(e)}`;
}

function timeoutOptions(work: Workload): SessionOptions {
  return {
    timeout: work.timeout,
    connectTimeout: 1000,
    loginTimeout: 1000,
    replacementTimeout: 1500,
    tmfTimeout: 300,
    noopInterval: 300,
    noopTimeout: 600,
    maxRedirects: 2,
    queueDepth: 8,
    reconnect: { minDelay: 10, maxDelay: 100, stableAfter: 2000 },
    initiatorName: 'iqn.2026-11.io.tsiscsi.fuzz:initiator',
    ...(work.knownBlockSize && { blockSize: HOSTILE_BLOCK_SIZE }),
  };
}

function watchdog<T>(p: Promise<T>, ms: number): Promise<T | 'hang'> {
  let timer: NodeJS.Timeout;
  return Promise.race([p.finally(() => clearTimeout(timer)), new Promise<'hang'>((r) => (timer = setTimeout(() => r('hang'), ms)))]);
}

async function runOp(s: Session, op: Op, work: Workload, rng: Rng): Promise<void> {
  const bs = s.blockSize ?? HOSTILE_BLOCK_SIZE;
  switch (op) {
    case 'read':
      await s.read(work.lba, work.blocks);
      return;
    case 'write':
    case 'write-fua':
      await s.write(work.lba, Buffer.alloc(work.blocks * bs, 0x3c), { fua: op === 'write-fua' });
      return;
    case 'inquiry':
      await s.inquiry();
      return;
    case 'readcap':
      await s.readCapacity();
      return;
    case 'sync':
      await s.execute(cdbSynchronizeCache10());
      return;
    case 'tur':
      await s.testUnitReady();
      return;
    case 'execute-random': {
      const cdb = rng.bytes(rng.pick([6, 10, 12, 16]));
      const dir = rng.int(3);
      await s.execute(cdb, dir === 0 ? {} : dir === 1 ? { dataIn: rng.int(4096) } : { dataOut: rng.bytes(1 + rng.int(4096)) });
      return;
    }
  }
}

/** One case against the library, in this process. */
export async function runLibraryCase(c: FuzzCase, o: RunOptions): Promise<CaseResult> {
  const target = await HostileTarget.start(c.plan);
  const res: CaseResult = { seed: c.seed, where: 'library', outcomes: [], problems: [], wallMs: 0, worstOvershootMs: 0, cpuMs: 0, behaviours: [] };
  const meter = cpuMeter();
  const rng = new Rng(c.seed ^ 0x5bd1e995);
  const opts = timeoutOptions(c.work);
  // The whole login: every redirect and the CHAP retry may take a TCP connect and a login each.
  const connectBound = 4 * ((opts.connectTimeout ?? 0) + (opts.loginTimeout ?? 0)) + o.slackMs;
  const body = async (): Promise<void> => {
    let s: Session;
    const t0 = performance.now();
    try {
      s = await Session.connect(target.url(), opts);
    } catch (e) {
      res.outcomes.push(`connect: ${label(e)}`);
      if (!typed(e)) res.problems.push(`connect failed with an untyped error: ${(e as Error)?.stack ?? String(e)}`);
      const took = performance.now() - t0;
      if (took > connectBound) res.problems.push(`connect took ${Math.round(took)} ms (bound ${connectBound})`);
      return;
    }
    const one = async (op: Op): Promise<void> => {
      const t1 = performance.now();
      try {
        await runOp(s, op, c.work, rng);
        res.outcomes.push(`${op}: ok`);
      } catch (e) {
        res.outcomes.push(`${op}: ${label(e)}`);
        if (!typed(e)) res.problems.push(`${op} failed with an untyped error: ${(e as Error)?.stack ?? String(e)}`);
      }
      // A command that needs READ CAPACITY first may take two timeouts.
      const allowed = c.work.timeout * (c.work.knownBlockSize || op === 'inquiry' || op === 'tur' || op === 'sync' || op === 'readcap' || op === 'execute-random' ? 1 : 2);
      const over = performance.now() - t1 - allowed;
      res.worstOvershootMs = Math.max(res.worstOvershootMs, over);
      if (over > o.slackMs) res.problems.push(`${op} took ${Math.round(over)} ms past its ${allowed} ms timeout`);
    };
    try {
      if (c.work.concurrent) await Promise.all(c.work.ops.map(one));
      else for (const op of c.work.ops) await one(op);
    } finally {
      const t2 = performance.now();
      await s.close();
      const took = performance.now() - t2;
      // Logout waits at most 2 s for its answer, then 0.5 s for the socket to end.
      if (took > 2500 + o.slackMs) res.problems.push(`close took ${Math.round(took)} ms`);
    }
  };
  const uncaught: unknown[] = [];
  const onUncaught = (e: unknown): void => void uncaught.push(e);
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
  try {
    const r = await watchdog(body(), o.watchdogMs);
    if (r === 'hang') res.problems.push(`hang: the case did not end within ${o.watchdogMs} ms (outcomes so far: ${res.outcomes.join(', ')})`);
  } finally {
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onUncaught);
    await target.close();
  }
  for (const e of uncaught) res.problems.push(`uncaught: ${(e as Error)?.stack ?? String(e)}`);
  for (const e of target.internalErrors) res.problems.push(`hostile target bug (not the initiator's): ${(e as Error)?.stack ?? String(e)}`);
  const m = meter();
  res.wallMs = Math.round(m.wallMs);
  res.cpuMs = Math.round(m.cpuMs);
  res.behaviours = target.behaviours.slice(0, 12);
  return res;
}

// ---------------------------------------------------------------------------------------------
// The CLI

export type CliCommand = 'read' | 'inquiry' | 'readcap' | 'write';

/** One case against the CLI in a child process: `tsiscsi CMD URL ... --timeout T`. */
export async function runCliCase(c: FuzzCase, o: RunOptions & { command?: CliCommand; scratch: string }): Promise<CaseResult> {
  const target = await HostileTarget.start(c.plan);
  const r = new Rng(c.seed ^ 0x1234567);
  const command: CliCommand = o.command ?? r.pick(['read', 'read', 'inquiry', 'readcap', 'write'] as const);
  const t = c.work.timeout;
  const args = [cliEntry(), command, target.url(), '--timeout', String(t)];
  if (command === 'read') args.push('--lba', String(c.work.lba), '--blocks', String(c.work.blocks), '-o', '/dev/null');
  if (command === 'write') {
    const f = join(o.scratch, `w${c.work.blocks}.bin`);
    if (!existsSync(f)) writeFileSync(f, Buffer.alloc(c.work.blocks * HOSTILE_BLOCK_SIZE, 0x77));
    args.push('--lba', String(c.work.lba), '-i', f);
  }
  const res: CaseResult = { seed: c.seed, where: 'cli', outcomes: [], problems: [], wallMs: 0, worstOvershootMs: 0, cpuMs: 0, behaviours: [] };
  const t0 = performance.now();
  // GNU time reports the child's CPU time (user and system) on the last line of stderr.
  const child = spawn('/usr/bin/time', ['-f', 'CPU %U %S', process.execPath, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exit = await watchdog(new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code))), o.watchdogMs);
  if (exit === 'hang') {
    child.kill('SIGKILL');
    res.problems.push(`hang: tsiscsi ${command} still running after ${o.watchdogMs} ms`);
    await new Promise((r2) => child.once('close', r2));
  } else {
    await new Promise((r2) => (child.stderr!.readableEnded ? r2(undefined) : child.stderr!.once('end', r2)));
  }
  res.wallMs = Math.round(performance.now() - t0);
  await target.close();
  const lines = stderr.split('\n').filter((l) => l !== '');
  const cpuLine = lines.findLast((l) => l.startsWith('CPU '));
  if (cpuLine !== undefined) {
    const [, u, s] = cpuLine.split(' ');
    res.cpuMs = Math.round((Number(u) + Number(s)) * 1000);
  }
  const msgs = lines.filter((l) => l !== cpuLine && !l.startsWith('Command exited with non-zero status'));
  const code = exit === 'hang' ? null : exit;
  res.outcomes.push(`${command} exit ${code}${msgs.length > 0 ? `: ${msgs[0]}` : ''}`);
  res.behaviours = target.behaviours.slice(0, 12);
  if (exit !== 'hang') {
    if (code === 0) {
      if (msgs.length > 0) res.problems.push(`exit 0 with stderr: ${msgs.join(' | ')}`);
    } else {
      if (msgs.length !== 1) res.problems.push(`exit ${code} with ${msgs.length} lines on stderr: ${msgs.slice(0, 6).join(' | ')}`);
      const m = msgs[0] ?? '';
      if (!m.startsWith(`tsiscsi ${command}: `)) res.problems.push(`stderr does not start with "tsiscsi ${command}: ": ${m}`);
      if (/internal error|\n\s+at |^\s+at /.test(stderr)) res.problems.push(`stack trace or internal error on stderr: ${stderr.slice(0, 400)}`);
      if (code === null) res.problems.push('killed by a signal');
    }
    // The bound: login, the command(s) (READ CAPACITY then the read), logout, plus Node's start.
    const bound = 2 * t + 2 * t + 2500 + 1500 + o.slackMs;
    if (res.wallMs > bound) res.problems.push(`took ${res.wallMs} ms (bound ${bound})`);
    // A spin shows as CPU time close to wall time; Node's start and a storm of PDUs take some.
    if (res.cpuMs > 1500 && res.cpuMs > 0.6 * res.wallMs) res.problems.push(`spin: ${res.cpuMs} ms of CPU in ${res.wallMs} ms`);
  }
  return res;
}

// ---------------------------------------------------------------------------------------------
// Runs

export interface InitiatorFuzzReport {
  cases: number;
  libraryCases: number;
  cliCases: number;
  failures: CaseResult[];
  /** Outcomes by kind ("read: TimeoutError ERR_...": count). */
  outcomes: Record<string, number>;
  /** Command behaviours played, by name. */
  behaviours: Record<string, number>;
  worstOvershootMs: number;
  maxCliWallMs: number;
  maxCliCpuMs: number;
  /** CPU share of this process while idle after each batch (a spin left behind shows here), worst. */
  worstIdleCpuShare: number;
  elapsedMs: number;
  fdStart: number;
  fdEnd: number;
  handlesStart: string[];
  handlesEnd: string[];
  rssWarmMiB: number;
  rssAfterLoadMiB: number;
  samples: ResourceSample[];
}

function handleSummary(): string[] {
  const counts = new Map<string, number>();
  for (const h of process.getActiveResourcesInfo()) counts.set(h, (counts.get(h) ?? 0) + 1);
  return [...counts].map(([k, v]) => `${k}:${v}`).sort();
}

/** Handles other than timers (sockets, servers, child processes, fs requests). */
function ioHandles(): number {
  return process.getActiveResourcesInfo().filter((h) => h !== 'Timeout' && h !== 'Immediate').length;
}

export async function fuzzInitiator(opts: {
  seed: number;
  cases?: number;
  durationMs?: number;
  /** Share of cases run through the CLI (0..1). */
  cliShare?: number;
  /** Cases at once. */
  batch?: number;
  slackMs?: number;
  watchdogMs?: number;
  sampleEveryMs?: number;
  timeouts?: number[];
  onProgress?: (r: InitiatorFuzzReport) => void;
}): Promise<InitiatorFuzzReport> {
  const scratch = mkdtempSync(join(tmpdir(), 'tsiscsi-ifuzz-'));
  const batch = opts.batch ?? 4;
  const cliShare = opts.cliShare ?? 0;
  const run: RunOptions = { slackMs: opts.slackMs ?? Infinity, watchdogMs: opts.watchdogMs ?? 60_000 };
  const report: InitiatorFuzzReport = {
    cases: 0,
    libraryCases: 0,
    cliCases: 0,
    failures: [],
    outcomes: {},
    behaviours: {},
    worstOvershootMs: -Infinity,
    maxCliWallMs: 0,
    maxCliCpuMs: 0,
    worstIdleCpuShare: 0,
    elapsedMs: 0,
    fdStart: fdCount(),
    fdEnd: -1,
    handlesStart: handleSummary(),
    handlesEnd: [],
    rssWarmMiB: 0,
    rssAfterLoadMiB: 0,
    samples: [],
  };
  const baseIo = ioHandles();
  const samples = sampler(opts.sampleEveryMs ?? 60_000, () => ({ cases: report.cases }));
  const t0 = Date.now();
  try {
    for (let i = 0; ; i += batch) {
      if (opts.cases !== undefined && i >= opts.cases) break;
      if (opts.durationMs !== undefined && Date.now() - t0 > opts.durationMs) break;
      const seeds = Array.from({ length: Math.min(batch, (opts.cases ?? Infinity) - i) }, (_, k) => opts.seed + i + k);
      const results = await Promise.all(
        seeds.map((seed) => {
          const c = generateCase(seed, opts.timeouts);
          // Which seeds go to the CLI is a function of the seed too.
          const cli = cliShare > 0 && new Rng(seed ^ 0x2545f491).bool(cliShare);
          return cli ? runCliCase(c, { ...run, scratch }) : runLibraryCase(c, run);
        }),
      );
      for (const r of results) {
        report.cases++;
        if (r.where === 'cli') {
          report.cliCases++;
          report.maxCliWallMs = Math.max(report.maxCliWallMs, r.wallMs);
          report.maxCliCpuMs = Math.max(report.maxCliCpuMs, r.cpuMs);
        } else {
          report.libraryCases++;
          report.worstOvershootMs = Math.max(report.worstOvershootMs, r.worstOvershootMs);
        }
        for (const o of r.outcomes) {
          const k = o.replace(/: .*$/, (m) => m.slice(0, 90)).replace(/\d{3,}/g, 'N');
          report.outcomes[k] = (report.outcomes[k] ?? 0) + 1;
        }
        for (const b of r.behaviours) report.behaviours[b] = (report.behaviours[b] ?? 0) + 1;
        if (r.problems.length > 0) report.failures.push(r);
      }
      // Nothing may be left once the batch is over: sockets close, timers are cleared.
      const deadline = Date.now() + 3000;
      while (ioHandles() > baseIo && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      if (ioHandles() > baseIo) {
        report.failures.push({ seed: seeds[0]!, where: 'library', outcomes: [], problems: [`leak: handles left after the batch: ${handleSummary().join(' ')}`], wallMs: 0, worstOvershootMs: 0, cpuMs: 0, behaviours: [] });
      }
      // And nothing spins: 100 ms of idle must cost little CPU.
      const idle = cpuMeter();
      await new Promise((r) => setTimeout(r, 100));
      const m = idle();
      report.worstIdleCpuShare = Math.max(report.worstIdleCpuShare, m.cpuMs / m.wallMs);
      if (report.failures.length > 50) break;
      opts.onProgress?.(report);
    }
  } finally {
    report.samples = samples.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
  report.elapsedMs = Date.now() - t0;
  await settle();
  report.fdEnd = fdCount();
  report.handlesEnd = handleSummary();
  report.rssAfterLoadMiB = Math.round(process.memoryUsage().rss / 2 ** 20);
  report.rssWarmMiB = report.samples[Math.min(1, report.samples.length - 1)]!.rssMiB;
  return report;
}

// `node dist/fuzz/initiator-fuzz.js [--minutes N] [--cases N] [--seed S] [--cli-share 0.25] [--batch 4] [--slack MS]`
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (k: string): string | undefined => {
    const i = process.argv.indexOf(k);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  const minutes = arg('--minutes');
  const cases = arg('--cases');
  const seed = Number(arg('--seed') ?? Date.now() % 1e9);
  const cliShare = Number(arg('--cli-share') ?? 0.25);
  const slackMs = Number(arg('--slack') ?? 1500);
  console.log(`initiator fuzzer: seed ${seed}${minutes ? `, ${minutes} min` : ''}${cases ? `, ${cases} cases` : ''}, CLI share ${cliShare}, slack ${slackMs} ms`);
  let last = Date.now();
  const r = await fuzzInitiator({
    seed,
    cliShare,
    slackMs,
    batch: Number(arg('--batch') ?? 4),
    ...(cases !== undefined && { cases: Number(cases) }),
    ...(minutes !== undefined ? { durationMs: Number(minutes) * 60_000 } : cases === undefined ? { durationMs: 60_000 } : {}),
    onProgress: (p) => {
      if (Date.now() - last > 10_000) {
        last = Date.now();
        console.log(`  ${p.cases} cases (${p.cliCases} CLI), ${p.failures.length} failures, rss ${Math.round(process.memoryUsage().rss / 2 ** 20)} MiB, ${fdCount()} fds`);
      }
    },
  });
  for (const f of r.failures.slice(0, 20)) console.log(`FAIL seed ${f.seed} (${f.where}): ${f.problems.join(' || ').slice(0, 1500)}\n  outcomes: ${f.outcomes.join(', ')}\n  behaviours: ${f.behaviours.join(', ')}`);
  console.log(JSON.stringify({ ...r, failures: r.failures.length }, null, 2));
  console.log(
    `summary: ${r.cases} cases (${r.libraryCases} library, ${r.cliCases} CLI) in ${Math.round(r.elapsedMs / 1000)} s, ${r.failures.length} failures; ` +
      `worst overshoot ${Math.round(r.worstOvershootMs)} ms, CLI max wall ${r.maxCliWallMs} ms / CPU ${r.maxCliCpuMs} ms, idle CPU share max ${r.worstIdleCpuShare.toFixed(3)}; ` +
      `fds ${r.fdStart} -> ${r.fdEnd}; RSS ${r.rssWarmMiB} MiB warm -> ${r.rssAfterLoadMiB} MiB after the load`,
  );
  process.exit(r.failures.length > 0 ? 1 : 0);
}
