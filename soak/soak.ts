// The soak: `npm run soak -- --minutes N [--sessions 16] [--seed S]`. A `tsiscsi target` child
// process serves a file LUN; many library sessions write and read checksummed blocks, each in its own
// LBA range (so what a block may hold is known exactly), while commands are aborted (ABORT TASK through
// AbortSignal), LUNs reset and sessions dropped and reconnected at random.
//
// Every 512-byte block written carries its LBA, a generation, the session and a CRC32C of the rest, so a
// read proves the block holds one whole version that was written there: the last acknowledged one, or
// one whose write was aborted or cut (uncertain: old or new, never a torn mix, never anything else).
// Any other content is a mismatch; the run exits 1 on any mismatch or untyped error.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TsiscsiError } from '../src/errors.js';
import { Session } from '../src/initiator/session.js';
import { crc32c } from '../src/pdu/crc32c.js';
import { cliEntry, fdCount, rssOfMiB } from '../fuzz/resources.js';
import { Rng } from '../fuzz/mutate.js';
import { freePort, waitForPort } from '../test/interop/peers.js';

const BS = 512;
const IQN = 'iqn.2026-11.io.tsiscsi.soak:target';

export interface SoakOptions {
  durationMs: number;
  sessions?: number;
  /** Blocks each session owns. */
  blocksPerSession?: number;
  seed?: number;
}

export interface SoakReport {
  ops: number;
  writes: number;
  reads: number;
  bytes: number;
  mismatches: string[];
  unexpectedErrors: string[];
  uncertainWrites: number;
  aborts: number;
  lunResets: number;
  reconnects: number;
  targetFds: { start: number; end: number };
  targetRssMiB: { start: number; end: number };
  elapsedMs: number;
}

function block(lba: number, gen: number, session: number): Buffer {
  const b = Buffer.allocUnsafe(BS);
  b.writeUInt32LE(lba, 0);
  b.writeUInt32LE(gen, 4);
  b.writeUInt32LE(session, 8);
  for (let i = 12; i < BS - 4; i += 4) b.writeUInt32LE((Math.imul(gen ^ i, 2654435761) + lba) >>> 0, i);
  b.writeUInt32LE(crc32c(b, 0, 0, BS - 4), BS - 4);
  return b;
}

/** The generation a block holds: 0 for never written (zeros), or -1 when it is no whole written version. */
function generationOf(b: Buffer, lba: number): number {
  if (b.every((x) => x === 0)) return 0;
  if (b.readUInt32LE(BS - 4) !== crc32c(b, 0, 0, BS - 4) || b.readUInt32LE(0) !== lba) return -1;
  return b.readUInt32LE(4);
}

const isTyped = (e: unknown): boolean => TsiscsiError.is(e) || (e instanceof Error && e.name === 'AbortError');

export async function runSoak(o: SoakOptions): Promise<SoakReport> {
  const sessions = o.sessions ?? 16;
  const per = o.blocksPerSession ?? 2048;
  const rng = new Rng(o.seed ?? 1);
  const dir = mkdtempSync(join(tmpdir(), 'tsiscsi-soak-'));
  const port = await freePort();
  const lunMiB = Math.ceil((sessions * per * BS) / 2 ** 20) + 1;
  const target: ChildProcess = spawn(process.execPath, [cliEntry(), 'target', '--portal', `127.0.0.1:${port}`, '--iqn', IQN, '--lun', `${join(dir, 'lun0.img')},size=${lunMiB}M`, '--log-level', 'error'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const report: SoakReport = {
    ops: 0,
    writes: 0,
    reads: 0,
    bytes: 0,
    mismatches: [],
    unexpectedErrors: [],
    uncertainWrites: 0,
    aborts: 0,
    lunResets: 0,
    reconnects: 0,
    targetFds: { start: 0, end: 0 },
    targetRssMiB: { start: 0, end: 0 },
    elapsedMs: 0,
  };
  const t0 = Date.now();
  try {
    await waitForPort(port);
    report.targetFds.start = fdCount(target.pid!);
    report.targetRssMiB.start = Math.round(rssOfMiB(target.pid!));
    const url = `iscsi://127.0.0.1:${port}/${IQN}/0`;
    const deadline = t0 + o.durationMs;
    const worker = async (id: number): Promise<void> => {
      const base = id * per;
      // What each block may hold: the generations it may show (0 = never written).
      const may: Set<number>[] = Array.from({ length: per }, () => new Set([0]));
      let gen = id << 20;
      let s = await Session.connect(url, { timeout: 10_000, tmfTimeout: 5000 });
      while (Date.now() < deadline) {
        report.ops++;
        const roll = rng.int(1000);
        const n = 1 + rng.int(16);
        const off = rng.int(per - n);
        try {
          if (roll < 5) {
            // Disconnect: drop the socket under whatever is running, come back with a new session.
            await s.close();
            s = await Session.connect(url, { timeout: 10_000, tmfTimeout: 5000 });
            report.reconnects++;
          } else if (roll < 10) {
            await s.lunReset();
            report.lunResets++;
          } else if (roll < 550) {
            const g = ++gen;
            const data = Buffer.concat(Array.from({ length: n }, (_, i) => block(base + off + i, g, id)));
            for (let i = 0; i < n; i++) may[off + i]!.add(g);
            const abort = roll < 60 ? new AbortController() : undefined;
            if (abort !== undefined) setTimeout(() => abort.abort(), rng.int(3));
            try {
              await s.write(base + off, data, { ...(abort !== undefined && { signal: abort.signal }), ...(rng.bool(0.2) && { fua: true }) });
              for (let i = 0; i < n; i++) may[off + i] = new Set([g]);
              report.writes++;
              report.bytes += data.length;
            } catch (e) {
              // Aborted or cut: the blocks may hold the old or the new version.
              if (!isTyped(e)) throw e;
              if (abort !== undefined) report.aborts++;
              report.uncertainWrites++;
            }
          } else {
            const got = await s.read(base + off, n);
            report.reads++;
            report.bytes += got.length;
            for (let i = 0; i < n; i++) {
              const g = generationOf(got.subarray(i * BS, (i + 1) * BS), base + off + i);
              if (g < 0 || !may[off + i]!.has(g)) {
                report.mismatches.push(`session ${id} LBA ${base + off + i}: holds ${g < 0 ? 'no whole written version' : `generation ${g}`}, expected one of ${[...may[off + i]!].join(',')}`);
              } else {
                may[off + i] = new Set([g]);
              }
            }
          }
        } catch (e) {
          if (!isTyped(e)) report.unexpectedErrors.push(`session ${id}: ${String(e)}`);
          else if (!s.connected) {
            await s.close().catch(() => undefined);
            s = await Session.connect(url, { timeout: 10_000, tmfTimeout: 5000 });
            report.reconnects++;
          }
        }
      }
      await s.close();
    };
    await Promise.all(Array.from({ length: sessions }, (_, i) => worker(i)));
    await new Promise((r) => setTimeout(r, 500));
    report.targetFds.end = fdCount(target.pid!);
    report.targetRssMiB.end = Math.round(rssOfMiB(target.pid!));
  } finally {
    target.kill('SIGTERM');
    await new Promise((r) => (target.exitCode !== null ? r(null) : target.once('exit', r)));
    rmSync(dir, { recursive: true, force: true });
    report.elapsedMs = Date.now() - t0;
  }
  return report;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (k: string) => {
    const i = process.argv.indexOf(k);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  const minutes = Number(arg('--minutes') ?? 1);
  const r = await runSoak({ durationMs: minutes * 60_000, sessions: Number(arg('--sessions') ?? 16), seed: Number(arg('--seed') ?? Date.now() % 1e9) });
  console.log(JSON.stringify({ ...r, mismatches: r.mismatches.slice(0, 20), unexpectedErrors: r.unexpectedErrors.slice(0, 20) }, null, 2));
  console.log(
    `summary: ${r.ops} ops (${r.writes} writes, ${r.reads} reads, ${(r.bytes / 2 ** 20).toFixed(0)} MiB) in ${Math.round(r.elapsedMs / 1000)} s; ` +
      `${r.mismatches.length} mismatches, ${r.unexpectedErrors.length} unexpected errors; ${r.uncertainWrites} uncertain writes, ${r.aborts} aborts, ${r.lunResets} LUN resets, ${r.reconnects} reconnects; ` +
      `target fds ${r.targetFds.start} -> ${r.targetFds.end}, RSS ${r.targetRssMiB.start} -> ${r.targetRssMiB.end} MiB`,
  );
  process.exit(r.mismatches.length > 0 || r.unexpectedErrors.length > 0 ? 1 : 0);
}
