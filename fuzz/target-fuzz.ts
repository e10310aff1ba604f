// The target fuzzer: hostile byte streams against a target running in this process, over loopback.
// Inputs are generated (random PDUs, random CDBs, Data-Out sequences, TMFs) or mutated from real
// libiscsi <-> tgtd captures (test/fixtures), sent before and after a successful login. The oracle:
// no uncaught error, every connection closes once the peer is gone (no hang, no leak), and the target
// still serves a fresh session at the end of every batch. Every case is reproducible from its seed.

import { connect, type Socket } from 'node:net';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { encodePduToBuffer } from '../src/pdu/codec.js';
import { Opcode, RESERVED_TAG } from '../src/pdu/constants.js';
import { lunToField } from '../src/pdu/lun.js';
import { encodeTextKeys } from '../src/pdu/text-keys.js';
import type { InitiatorPdu } from '../src/pdu/types.js';
import { buildServer } from '../src/target/config.js';
import type { TargetServer } from '../src/target/server.js';
import { Rng, mutatePdu, reframe, splitPdus } from './mutate.js';
import { fdCount, sampler, settle, type ResourceSample } from './resources.js';

export const FUZZ_IQN = 'iqn.2026-11.io.tsiscsi.fuzz:target';

export interface FuzzReport {
  cases: number;
  byScenario: Record<string, number>;
  failures: { seed: number; scenario: string; error: string }[];
  healthChecks: number;
  elapsedMs: number;
  rssStartMiB: number;
  rssEndMiB: number;
  /** Open file descriptors before the target started, and once it closed after the load. */
  fdStart: number;
  fdEnd: number;
  /** RSS once warmed up (after the first sample period) and once the load stopped (after a GC if exposed). */
  rssWarmMiB: number;
  rssAfterLoadMiB: number;
  /** Resource samples over the run (every `sampleEveryMs`). */
  samples: ResourceSample[];
}

export type Scenario = 'random-bytes' | 'mutated-login' | 'session-mutated-capture' | 'session-random-cdb' | 'session-data-out' | 'session-mixed';
export const SCENARIOS: Scenario[] = ['random-bytes', 'mutated-login', 'session-mutated-capture', 'session-random-cdb', 'session-data-out', 'session-mixed'];

/** Initiator PDUs of the captured fixtures, split into login and full-feature parts. */
export function loadCorpus(): { login: Buffer[]; ffp: Buffer[] } {
  // From fuzz/ (vitest) or dist/fuzz/ (npm run fuzz): the fixtures are in the repository's test/.
  let dir = fileURLToPath(new URL('../test/fixtures/', import.meta.url));
  if (!existsSync(dir)) dir = fileURLToPath(new URL('../../test/fixtures/', import.meta.url));
  const login: Buffer[] = [];
  const ffp: Buffer[] = [];
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.i2t.bin'))) {
    for (const p of splitPdus(readFileSync(dir + f))) {
      if ((p[0]! & 0x3f) === Opcode.LoginRequest) login.push(Buffer.from(p));
      else ffp.push(Buffer.from(p));
    }
  }
  return { login, ffp };
}

const SUPPORTED_OPS = [
  0x00, 0x03, 0x08, 0x0a, 0x12, 0x15, 0x16, 0x17, 0x1a, 0x1b, 0x1e, 0x25, 0x28, 0x2a, 0x2e, 0x2f, 0x34, 0x35, 0x37, 0x41, 0x42, 0x55, 0x5a, 0x5e,
  0x5f, 0x83, 0x84, 0x88, 0x89, 0x8a, 0x8e, 0x8f, 0x90, 0x91, 0x93, 0x9e, 0xa0, 0xa3, 0xa8, 0xaa, 0xae, 0xaf, 0xb7,
];

function loginPdu(rng: Rng, name: string): Buffer {
  return encodePduToBuffer({
    opcode: Opcode.LoginRequest,
    transit: true,
    continue: false,
    csg: 1,
    nsg: 3,
    versionMax: 0,
    versionMin: 0,
    isid: '40' + rng.bytes(5).toString('hex'),
    tsih: 0,
    itt: 0x1000,
    cid: 0,
    cmdSN: 1,
    expStatSN: 0,
    data: encodeTextKeys([
      ['InitiatorName', name],
      ['TargetName', FUZZ_IQN],
      ['SessionType', 'Normal'],
      ['HeaderDigest', 'None'],
      ['DataDigest', 'None'],
      ['InitialR2T', rng.bool() ? 'Yes' : 'No'],
      ['ImmediateData', 'Yes'],
      ['MaxRecvDataSegmentLength', '65536'],
      ['MaxBurstLength', '262144'],
      ['FirstBurstLength', '65536'],
      ['MaxOutstandingR2T', '1'],
    ]),
  });
}

function scsiCommand(rng: Rng, itt: number, cmdSN: number): Buffer {
  const cdb = rng.bytes(16);
  cdb[0] = rng.pick(SUPPORTED_OPS);
  // Keep transfer lengths mostly small so commands run instead of being refused.
  if (rng.bool(0.7)) cdb.fill(0, 2, 16).writeUInt16BE(rng.int(16), 7);
  const write = rng.bool(0.4);
  const read = !write && rng.bool(0.8);
  const edtl = rng.bool(0.8) ? rng.int(16) * 512 : rng.u32() % (1 << 20);
  const imm = write && rng.bool(0.5) ? Math.min(edtl, rng.int(8) * 512) : 0;
  return encodePduToBuffer({
    opcode: Opcode.ScsiCommand,
    immediate: rng.bool(0.05),
    final: rng.bool(0.9),
    read,
    write,
    attr: rng.int(5),
    lun: lunToField(rng.bool(0.9) ? rng.int(2) : rng.int(300)),
    itt,
    expectedDataTransferLength: edtl,
    cmdSN,
    expStatSN: 0,
    cdb: rng.bool(0.95) ? cdb : Buffer.concat([cdb, rng.bytes(1 + rng.int(40))]),
    data: rng.bytes(imm),
  } as InitiatorPdu);
}

function otherPdu(rng: Rng, itt: number, cmdSN: number): Buffer {
  switch (rng.int(6)) {
    case 0:
      return encodePduToBuffer({ opcode: Opcode.NopOut, immediate: true, lun: 0n, itt: rng.bool() ? itt : RESERVED_TAG, ttt: RESERVED_TAG, cmdSN, expStatSN: 0, data: rng.bytes(rng.int(64)) });
    case 1:
      return encodePduToBuffer({
        opcode: Opcode.TaskManagementRequest,
        immediate: rng.bool(),
        function: 1 + rng.int(12),
        lun: lunToField(rng.int(3)),
        itt,
        referencedTaskTag: rng.bool() ? itt - 1 - rng.int(4) : rng.u32(),
        cmdSN,
        expStatSN: 0,
        refCmdSN: cmdSN - rng.int(4),
        expDataSN: 0,
      });
    case 2:
      return encodePduToBuffer({
        opcode: Opcode.TextRequest,
        immediate: rng.bool(),
        final: true,
        continue: false,
        lun: 0n,
        itt,
        ttt: RESERVED_TAG,
        cmdSN,
        expStatSN: 0,
        data: rng.bool() ? Buffer.from('SendTargets=All\0') : rng.bytes(rng.int(100)),
      });
    case 3:
      return encodePduToBuffer({ opcode: Opcode.SnackRequest, type: rng.int(4), lun: 0n, itt, ttt: rng.u32(), expStatSN: 0, begRun: rng.u32(), runLength: rng.u32() });
    case 4:
      return encodePduToBuffer({ opcode: Opcode.LogoutRequest, immediate: rng.bool(), reasonCode: rng.int(3), itt, cid: rng.int(2), cmdSN, expStatSN: 0 });
    default:
      return encodePduToBuffer({
        opcode: Opcode.DataOut,
        final: rng.bool(),
        lun: 0n,
        itt: itt - rng.int(3),
        ttt: rng.bool() ? RESERVED_TAG : rng.u32(),
        expStatSN: 0,
        dataSN: rng.int(4),
        bufferOffset: rng.int(8) * 512,
        data: rng.bytes(rng.int(4) * 512),
      });
  }
}

/** A write followed by a Data-Out sequence that is right, or wrong in one way. */
function dataOutSequence(rng: Rng, itt: number, cmdSN: number): Buffer[] {
  const blocks = 1 + rng.int(16);
  const edtl = blocks * 512;
  const cdb = Buffer.alloc(16);
  cdb[0] = 0x2a;
  cdb.writeUInt32BE(rng.int(1000), 2);
  cdb.writeUInt16BE(blocks, 7);
  const out = [
    encodePduToBuffer({
      opcode: Opcode.ScsiCommand, immediate: false, final: rng.bool(0.5), read: false, write: true, attr: 1, lun: 0n, itt,
      expectedDataTransferLength: edtl, cmdSN, expStatSN: 0, cdb, data: Buffer.alloc(0),
    }),
  ];
  let off = 0;
  for (let sn = 0; off < edtl; sn++) {
    const n = Math.min(edtl - off, 512 * (1 + rng.int(4)));
    out.push(
      encodePduToBuffer({
        opcode: Opcode.DataOut,
        final: off + n >= edtl,
        lun: 0n,
        itt,
        ttt: rng.bool(0.7) ? RESERVED_TAG : 1 + rng.int(8),
        expStatSN: 0,
        dataSN: rng.bool(0.9) ? sn : rng.u32(),
        bufferOffset: rng.bool(0.9) ? off : rng.u32() % (edtl * 2),
        data: rng.bytes(n),
      }),
    );
    off += n;
  }
  return out;
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, noDelay: true }, () => resolve(s));
    s.once('error', reject);
  });
}

/** Sends the login and waits for its response; resolves false if the target refused or closed. */
function login(s: Socket, pdu: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    let got = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (got.length >= 48) {
        s.off('data', onData);
        resolve((got[0]! & 0x3f) === Opcode.LoginResponse && got[36] === 0);
      }
    };
    s.on('data', onData);
    s.once('close', () => resolve(false));
    s.write(pdu);
  });
}

export async function runCase(port: number, seed: number, scenario: Scenario, corpus: { login: Buffer[]; ffp: Buffer[] }): Promise<void> {
  const rng = new Rng(seed);
  const s = await open(port);
  s.on('error', () => {});
  s.on('data', () => {});
  const closed = new Promise<void>((r) => s.once('close', () => r()));
  const send: Buffer[] = [];
  if (scenario === 'random-bytes') {
    send.push(rng.bytes(rng.int(4096)));
  } else if (scenario === 'mutated-login') {
    const base = rng.bool() ? rng.pick(corpus.login) : loginPdu(rng, 'iqn.2026-11.fuzz:i');
    send.push(rng.bool(0.5) ? reframe(mutatePdu(rng, base)) : mutatePdu(rng, base));
  } else {
    if (!(await login(s, loginPdu(rng, `iqn.2026-11.fuzz:i${seed % 7}`)))) {
      s.destroy();
      await closed;
      return;
    }
    let itt = 1;
    let cmdSN = 1;
    const n = 1 + rng.int(24);
    for (let i = 0; i < n; i++) {
      const sn = rng.bool(0.9) ? cmdSN++ : rng.u32();
      switch (scenario) {
        case 'session-mutated-capture': {
          const p = Buffer.from(rng.pick(corpus.ffp));
          p.writeUInt32BE(itt++, 16);
          if ((p[0]! & 0x3f) !== Opcode.DataOut && (p[0]! & 0x3f) !== Opcode.SnackRequest) p.writeUInt32BE(sn, 24);
          send.push(rng.bool(0.7) ? reframe(mutatePdu(rng, p)) : p);
          break;
        }
        case 'session-random-cdb':
          send.push(scsiCommand(rng, itt++, sn));
          break;
        case 'session-data-out':
          send.push(...dataOutSequence(rng, itt++, sn));
          break;
        default:
          send.push(rng.bool(0.6) ? scsiCommand(rng, itt++, sn) : otherPdu(rng, itt++, sn));
      }
    }
  }
  // Any chunking: the target must not care how the bytes arrive.
  const all = Buffer.concat(send);
  for (let off = 0; off < all.length; ) {
    const n = rng.bool(0.7) ? all.length - off : 1 + rng.int(Math.min(256, all.length - off));
    s.write(all.subarray(off, off + n));
    off += n;
  }
  // Give the target a moment to answer (and to hit whatever it will hit), then hang up.
  await Promise.race([closed, new Promise((r) => setTimeout(r, rng.bool(0.2) ? 30 : 3))]);
  s.destroy();
  await closed;
}

/** A fresh session logs in and reads LBA 0: the target still serves. */
export async function healthCheck(port: number): Promise<void> {
  const rng = new Rng(1);
  const s = await open(port);
  s.on('error', () => {});
  try {
    await readOnce(s, rng);
  } finally {
    s.destroy();
  }
}

async function readOnce(s: Socket, rng: Rng): Promise<void> {
  const ok = await login(s, loginPdu(rng, 'iqn.2026-11.fuzz:health'));
  if (!ok) throw new Error('health check: login refused');
  // Any status counts: a reservation or a unit attention left by an earlier case is a fine answer.
  await new Promise<void>((resolve, reject) => {
    let got = Buffer.alloc(0);
    const t = setTimeout(() => reject(new Error('health check: READ(10) not answered within 5 s')), 5000);
    s.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      for (const p of splitPdus(got)) {
        const op = p[0]! & 0x3f;
        if (op === Opcode.ScsiResponse || (op === Opcode.DataIn && (p[1]! & 0x01) !== 0)) {
          clearTimeout(t);
          resolve();
          return;
        }
      }
    });
    const cdb = Buffer.alloc(16);
    cdb[0] = 0x28;
    cdb.writeUInt16BE(1, 7);
    s.write(
      encodePduToBuffer({
        opcode: Opcode.ScsiCommand, immediate: false, final: true, read: true, write: false, attr: 1, lun: 0n, itt: 1,
        expectedDataTransferLength: 512, cmdSN: 1, expStatSN: 0, cdb, data: Buffer.alloc(0),
      }),
    );
  });
}

export async function startFuzzTarget(): Promise<TargetServer> {
  const server = await buildServer(
    {
      portals: ['127.0.0.1:0'],
      targets: [{ iqn: FUZZ_IQN, luns: ['mem:16M', 'mem:16M,delay=2'] }],
      loginTimeoutMs: 2000,
      nopIntervalMs: 0,
      queueDepth: 32,
    },
    pino({ level: process.env.TSISCSI_FUZZ_LOG ?? 'silent' }),
  );
  await server.listen();
  return server;
}

/** Waits until the target holds no connections (each one the fuzzer opened has been torn down). */
async function drained(server: TargetServer, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (server.connectionCount > 0) {
    if (Date.now() > deadline) throw new Error(`${server.connectionCount} connection(s) still open ${timeoutMs} ms after the peer left (hang or leak)`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export async function fuzzTarget(opts: {
  seed: number;
  cases?: number;
  durationMs?: number;
  batch?: number;
  sampleEveryMs?: number;
  onProgress?: (r: FuzzReport) => void;
}): Promise<FuzzReport> {
  const corpus = loadCorpus();
  const fdStart = fdCount();
  const server = await startFuzzTarget();
  const port = server.bound[0]!.port;
  const report: FuzzReport = {
    cases: 0,
    byScenario: {},
    failures: [],
    healthChecks: 0,
    elapsedMs: 0,
    rssStartMiB: process.memoryUsage().rss / 2 ** 20,
    rssEndMiB: 0,
    fdStart,
    fdEnd: -1,
    rssWarmMiB: 0,
    rssAfterLoadMiB: 0,
    samples: [],
  };
  const samples = sampler(opts.sampleEveryMs ?? 60_000, () => ({ cases: report.cases, connections: server.connectionCount }));
  const uncaught: unknown[] = [];
  const onUncaught = (e: unknown) => uncaught.push(e);
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
  const t0 = Date.now();
  const batch = opts.batch ?? 8;
  try {
    for (let i = 0; ; i += batch) {
      if (opts.cases !== undefined && i >= opts.cases) break;
      if (opts.durationMs !== undefined && Date.now() - t0 > opts.durationMs) break;
      const seeds = Array.from({ length: Math.min(batch, (opts.cases ?? Infinity) - i) }, (_, k) => opts.seed + i + k);
      await Promise.all(
        seeds.map(async (seed) => {
          const scenario = SCENARIOS[seed % SCENARIOS.length]!;
          report.byScenario[scenario] = (report.byScenario[scenario] ?? 0) + 1;
          try {
            await runCase(port, seed, scenario, corpus);
          } catch (e) {
            report.failures.push({ seed, scenario, error: (e as Error).message });
          }
          report.cases++;
        }),
      );
      try {
        await drained(server, 5000);
      } catch (e) {
        report.failures.push({ seed: seeds[0]!, scenario: 'batch', error: (e as Error).message });
      }
      if (uncaught.length > 0) {
        report.failures.push({ seed: seeds[0]!, scenario: 'batch', error: `uncaught: ${String((uncaught[0] as Error)?.stack ?? uncaught[0])}` });
        uncaught.length = 0;
      }
      if ((i / batch) % 25 === 0) {
        try {
          await healthCheck(port);
          report.healthChecks++;
        } catch (e) {
          report.failures.push({ seed: seeds[0]!, scenario: 'health', error: (e as Error).message });
        }
      }
      if (report.failures.length > 20) break;
      opts.onProgress?.(report);
    }
    await healthCheck(port);
    report.healthChecks++;
  } finally {
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onUncaught);
    await server.close({ graceMs: 100 });
    report.samples = samples.stop();
  }
  report.elapsedMs = Date.now() - t0;
  report.rssEndMiB = process.memoryUsage().rss / 2 ** 20;
  await settle();
  report.fdEnd = fdCount();
  report.rssAfterLoadMiB = Math.round(process.memoryUsage().rss / 2 ** 20);
  report.rssWarmMiB = report.samples[Math.min(1, report.samples.length - 1)]!.rssMiB;
  return report;
}

// `node dist/fuzz/target-fuzz.js [--minutes N] [--seed S] [--cases N]`
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (k: string) => {
    const i = process.argv.indexOf(k);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  const minutes = arg('--minutes');
  const cases = arg('--cases');
  const seed = Number(arg('--seed') ?? Date.now() % 1e9);
  console.log(`target fuzzer: seed ${seed}${minutes ? `, ${minutes} min` : ''}${cases ? `, ${cases} cases` : ''}`);
  let last = Date.now();
  const r = await fuzzTarget({
    seed,
    ...(cases !== undefined && { cases: Number(cases) }),
    ...(minutes !== undefined ? { durationMs: Number(minutes) * 60_000 } : cases === undefined ? { durationMs: 60_000 } : {}),
    onProgress: (p) => {
      if (Date.now() - last > 10_000) {
        last = Date.now();
        console.log(`  ${p.cases} cases, ${p.failures.length} failures, rss ${Math.round(process.memoryUsage().rss / 2 ** 20)} MiB, ${fdCount()} fds`);
      }
    },
  });
  console.log(JSON.stringify({ ...r, rssStartMiB: Math.round(r.rssStartMiB), rssEndMiB: Math.round(r.rssEndMiB) }, null, 2));
  console.log(
    `summary: ${r.cases} cases in ${Math.round(r.elapsedMs / 1000)} s, ${r.failures.length} failures, ${r.healthChecks} health checks; ` +
      `fds ${r.fdStart} before -> ${r.fdEnd} after; RSS ${r.rssWarmMiB} MiB warm -> ${r.rssAfterLoadMiB} MiB after the load`,
  );
  process.exit(r.failures.length > 0 ? 1 : 0);
}
