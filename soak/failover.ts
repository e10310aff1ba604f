// The failover soak: `npm run soak -- --gateways 3 --kill-every 20 [--minutes 10] [--down 6] [--workers 8]
// [--sessions 2] [--no-cluster] [--backend nbd] [--seed S]`. A private etcd and N `tsiscsi target
// --cluster` gateways serve one shared file (or a qemu-nbd export of it) as one LUN (cluster.ts); MultipathSessions over every gateway's URL drive
// checksummed writes and reads while, every `kill-every` seconds, a gateway (the Active/Optimized one
// when the initiator knows it) is SIGKILLed and started again `down` seconds later.
//
// Every 512-byte block carries its LBA, a generation, the writer and a CRC32C of the rest. Each writer
// owns its blocks and knows, per block, the last acknowledged generation and the generations written
// but not acknowledged since (a write that failed may or may not have landed). A read must show one of
// those: a block that fails its CRC or names another LBA is torn; an older generation than the last
// acknowledged one is an acknowledged write lost; anything else is a mismatch too. After the run every
// block is read once more with every gateway up. The longest stall is the longest op that spanned a kill.

import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TsiscsiError } from '../src/errors.js';
import { MultipathSession } from '../src/initiator/multipath/multipath-session.js';
import { crc32c } from '../src/pdu/crc32c.js';
import { Rng } from '../fuzz/mutate.js';
import { GatewayCluster, startNbdServer } from './cluster.js';

const BS = 512;
const IQN = 'iqn.2026-12.io.tsiscsi.soak:failover';

/** What {@link runFailoverSoak} runs. */
export interface FailoverSoakOptions {
  durationMs: number;
  gateways?: number;
  /** Time between kills. */
  killEveryMs?: number;
  /** How long a killed gateway stays down before it is started again. */
  downMs?: number;
  /** Writers/readers, each on blocks of its own. */
  workers?: number;
  /** MultipathSessions the workers share. */
  sessions?: number;
  blocksPerWorker?: number;
  /** Coordinate the gateways through etcd (default); false: independent targets of the same backing. */
  cluster?: boolean;
  /** The shared backing: a file every gateway opens (default), or a qemu-nbd export of it every gateway connects to. */
  backend?: 'file' | 'nbd';
  /** More `tsiscsi target` arguments for every gateway. */
  gatewayArgs?: string[];
  seed?: number;
  /** Keep the run's directory (etcd data, process logs). */
  keep?: boolean;
  /** Called with a line of progress now and then. */
  onProgress?: (line: string) => void;
}

/** What a failover soak saw. */
export interface FailoverSoakReport {
  ops: number;
  writes: number;
  reads: number;
  bytes: number;
  /** Reads (during the run and in the final pass) that showed something a block may not hold. */
  mismatches: string[];
  /** Of those: a block older than its last acknowledged write. */
  lostWrites: number;
  /** Of those: a block that is no whole written version (bad CRC32C or another LBA). */
  tornBlocks: number;
  /** Errors that are not the library's typed ones. */
  unexpectedErrors: string[];
  /** Commands that failed (typed): writes then uncertain, reads not counted. */
  failedOps: number;
  failedOpSamples: string[];
  kills: { gateway: string; atMs: number; owner: boolean }[];
  /** The longest op that was in flight while a gateway was killed, ms (the stall at failover). */
  longestStallMs: number;
  /** The slowest op of the whole run, ms. */
  maxLatencyMs: number;
  /** Ops per second over the run. */
  opsPerSecond: number;
  /** How often each path went down, and the commands it carried (first session). */
  paths: { url: string; commands: number; downs: number; aluaState: string }[];
  finalBlocksChecked: number;
  elapsedMs: number;
  dir: string | undefined;
}

function stamp(lba: number, gen: number, worker: number): Buffer {
  const b = Buffer.allocUnsafe(BS);
  b.writeUInt32LE(lba, 0);
  b.writeUInt32LE(gen, 4);
  b.writeUInt32LE(worker, 8);
  for (let i = 12; i < BS - 4; i += 4) b.writeUInt32LE((Math.imul(gen ^ i, 2654435761) + lba) >>> 0, i);
  b.writeUInt32LE(crc32c(b, 0, 0, BS - 4), BS - 4);
  return b;
}

/** The generation a block holds: 0 never written (zeros), -1 no whole written version of this LBA. */
function generationOf(b: Buffer, lba: number): number {
  if (b.every((x) => x === 0)) return 0;
  if (b.readUInt32LE(BS - 4) !== crc32c(b, 0, 0, BS - 4) || b.readUInt32LE(0) !== lba) return -1;
  return b.readUInt32LE(4);
}

const isTyped = (e: unknown): boolean => TsiscsiError.is(e) || (e instanceof Error && e.name === 'AbortError');

/** Per block: the last acknowledged generation, and those written since without an acknowledgement. */
interface BlockState {
  acked: number;
  maybe: number[];
}

export async function runFailoverSoak(o: FailoverSoakOptions): Promise<FailoverSoakReport> {
  const gateways = o.gateways ?? 3;
  const killEvery = o.killEveryMs ?? 20_000;
  const downMs = o.downMs ?? Math.min(6000, killEvery / 2);
  const workers = o.workers ?? 8;
  const nSessions = Math.min(o.sessions ?? 2, workers);
  const per = o.blocksPerWorker ?? 1024;
  const rng = new Rng(o.seed ?? 1);
  const dir = mkdtempSync(join(tmpdir(), 'tsiscsi-failover-'));
  const lunFile = join(dir, 'shared.img');
  writeFileSync(lunFile, '');
  truncateSync(lunFile, Math.ceil((workers * per * BS) / 2 ** 20 + 1) * 2 ** 20);
  const report: FailoverSoakReport = {
    ops: 0,
    writes: 0,
    reads: 0,
    bytes: 0,
    mismatches: [],
    lostWrites: 0,
    tornBlocks: 0,
    unexpectedErrors: [],
    failedOps: 0,
    failedOpSamples: [],
    kills: [],
    longestStallMs: 0,
    maxLatencyMs: 0,
    opsPerSecond: 0,
    paths: [],
    finalBlocksChecked: 0,
    elapsedMs: 0,
    dir: o.keep === true ? dir : undefined,
  };
  const lifetimeS = Math.ceil(o.durationMs / 1000) + 300;
  const nbd = o.backend === 'nbd' ? await startNbdServer(lunFile, 'soak', 4 * gateways, lifetimeS) : undefined;
  let cluster: GatewayCluster;
  try {
    cluster = await GatewayCluster.start({
      gateways,
      cluster: o.cluster ?? true,
      dir,
      lun: nbd?.url ?? lunFile,
      iqn: IQN,
      lifetimeS,
      ...(o.gatewayArgs !== undefined && { gatewayArgs: o.gatewayArgs }),
    });
  } catch (e) {
    await nbd?.stop();
    throw e;
  }
  const sessions: MultipathSession[] = [];
  const t0 = Date.now();
  /** Kill times, for the stall measure; ops in flight record their start. */
  const killTimes: number[] = [];
  try {
    for (let i = 0; i < nSessions; i++) sessions.push(await MultipathSession.connect(cluster.urls, { failoverTimeout: 60_000, timeout: 30_000 }));
    const states: BlockState[][] = Array.from({ length: workers }, () => Array.from({ length: per }, () => ({ acked: 0, maybe: [] })));
    const deadline = t0 + o.durationMs;

    const check = (w: number, lba0: number, off: number, got: Buffer, n: number, when: string): void => {
      for (let i = 0; i < n; i++) {
        const lba = lba0 + i;
        const st = states[w]![off + i]!;
        const g = generationOf(got.subarray(i * BS, (i + 1) * BS), lba);
        if (g === st.acked) continue;
        const k = st.maybe.indexOf(g);
        if (g >= 0 && k >= 0) {
          // An unacknowledged write landed: from now on the block holds it (or a later one).
          st.acked = g;
          st.maybe = st.maybe.filter((x) => x > g);
          continue;
        }
        let what: string;
        if (g < 0) {
          report.tornBlocks++;
          what = 'no whole written version (torn)';
        } else if (g < st.acked) {
          report.lostWrites++;
          what = `generation ${g}, older than the acknowledged ${st.acked} (write lost)`;
        } else what = `generation ${g}, never written there`;
        report.mismatches.push(`${when}: worker ${w} LBA ${lba}: ${what}; may hold ${[st.acked, ...st.maybe].join(',')}`);
      }
    };

    const op = async (w: number, s: MultipathSession): Promise<void> => {
      const base = w * per;
      let gen = w << 22;
      while (Date.now() < deadline) {
        const n = 1 + rng.int(16);
        const off = rng.int(per - n);
        const write = rng.bool(0.55);
        const start = Date.now();
        report.ops++;
        try {
          if (write) {
            const g = ++gen;
            const data = Buffer.concat(Array.from({ length: n }, (_, i) => stamp(base + off + i, g, w)));
            for (let i = 0; i < n; i++) states[w]![off + i]!.maybe.push(g);
            try {
              await s.write(base + off, data);
            } catch (e) {
              report.failedOps++;
              if (report.failedOpSamples.length < 10) report.failedOpSamples.push(`write: ${(e as Error).message}`);
              if (!isTyped(e)) report.unexpectedErrors.push(`worker ${w}: ${String(e)}`);
              continue;
            }
            for (let i = 0; i < n; i++) states[w]![off + i] = { acked: g, maybe: [] };
            report.writes++;
            report.bytes += data.length;
          } else {
            let got: Buffer;
            try {
              got = await s.read(base + off, n);
            } catch (e) {
              report.failedOps++;
              if (report.failedOpSamples.length < 10) report.failedOpSamples.push(`read: ${(e as Error).message}`);
              if (!isTyped(e)) report.unexpectedErrors.push(`worker ${w}: ${String(e)}`);
              continue;
            }
            check(w, base + off, off, got, n, 'read');
            report.reads++;
            report.bytes += got.length;
          }
        } finally {
          const end = Date.now();
          const ms = end - start;
          if (ms > report.maxLatencyMs) report.maxLatencyMs = ms;
          for (const k of killTimes) if (k >= start && k <= end && ms > report.longestStallMs) report.longestStallMs = ms;
        }
      }
    };

    const killer = async (): Promise<void> => {
      let next = 0;
      for (;;) {
        const at = t0 + (report.kills.length + 1) * killEvery;
        if (at + downMs >= deadline) return;
        await sleepUntil(at);
        // The owner (the Active/Optimized path) when the initiator knows one, else the next in turn.
        // (Without ALUA every path is Active/Optimized: no owner to tell.)
        const paths = sessions[0]!.paths();
        const ao = paths.filter((p) => p.usable && p.aluaStateName === 'active/optimized');
        const owner = ao.length === 1 && paths.some((p) => p.aluaStateName !== 'active/optimized') ? ao[0]!.index : -1;
        const victim = owner >= 0 ? owner : next++ % gateways;
        killTimes.push(Date.now());
        await cluster.kill(victim);
        report.kills.push({ gateway: cluster.names[victim]!, atMs: Date.now() - t0, owner: victim === owner });
        o.onProgress?.(`${Math.round((Date.now() - t0) / 1000)} s: killed ${cluster.names[victim]}${victim === owner ? ' (owner)' : ''}; ${report.ops} ops, longest stall ${report.longestStallMs} ms`);
        await sleepUntil(Date.now() + downMs);
        await cluster.startGateway(victim);
      }
    };

    await Promise.all([killer(), ...Array.from({ length: workers }, (_, w) => op(w, sessions[w % nSessions]!))]);
    report.opsPerSecond = report.ops / ((Date.now() - t0) / 1000);

    // Every gateway back: every block once more, through the multipath session.
    for (let i = 0; i < gateways; i++) if (!cluster.running(i)) await cluster.startGateway(i);
    const s = sessions[0]!;
    for (let w = 0; w < workers; w++) {
      for (let off = 0; off < per; off += 64) {
        const n = Math.min(64, per - off);
        check(w, w * per + off, off, await s.read(w * per + off, n), n, 'final pass');
        report.finalBlocksChecked += n;
      }
    }
    report.paths = s.paths().map((p) => ({ url: p.url, commands: p.commands, downs: p.downs, aluaState: p.aluaStateName }));
  } finally {
    await Promise.all(sessions.map((s) => s.close()));
    await cluster.stop();
    await nbd?.stop();
    if (o.keep !== true) rmSync(dir, { recursive: true, force: true });
    report.elapsedMs = Date.now() - t0;
  }
  return report;
}

function sleepUntil(t: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.max(0, t - Date.now())));
}

/** The closing lines of a run, as `npm run soak` prints them. */
export function summarize(r: FailoverSoakReport): string {
  return (
    `failover soak: ${r.ops} ops (${r.writes} writes, ${r.reads} reads, ${(r.bytes / 2 ** 20).toFixed(0)} MiB, ${r.opsPerSecond.toFixed(0)} ops/s) in ${Math.round(r.elapsedMs / 1000)} s; ` +
    `${r.kills.length} gateways killed (${r.kills.filter((k) => k.owner).length} owners); ` +
    `${r.mismatches.length} mismatches, ${r.lostWrites} acknowledged writes lost, ${r.tornBlocks} torn blocks, ${r.unexpectedErrors.length} unexpected errors, ${r.failedOps} failed ops; ` +
    `longest stall at failover ${r.longestStallMs} ms (slowest op ${r.maxLatencyMs} ms); final pass ${r.finalBlocksChecked} blocks`
  );
}
