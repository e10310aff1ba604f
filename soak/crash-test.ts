// The SIGKILL crash test: `npm run crash-test -- --runs 20`. Each run starts `tsiscsi target`
// on a file LUN, writes checksummed blocks from 4 sessions (plain writes, FUA writes, and SYNCHRONIZE
// CACHE now and then), kills the target with SIGKILL at a random moment, then reads the file and checks:
// - every write acknowledged with FUA, or acknowledged before a SYNCHRONIZE CACHE that completed, is
//   there (the block holds that generation or a later one written to it);
// - no block holds anything but a whole version written to it (or zeros, if none was durable).
// What it proves and what it cannot: a SIGKILL keeps the kernel's page cache, so this shows that the
// target acknowledges only what it has handed to the kernel and never tears a block. Surviving a power
// cut also needs the data on the medium; that is what the backend's fdatasync for FUA and SYNCHRONIZE
// CACHE provides, and what no test on this machine can cut the power to check.

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Session } from '../src/initiator/session.js';
import { crc32c } from '../src/pdu/crc32c.js';
import { cliEntry } from '../fuzz/resources.js';
import { Rng } from '../fuzz/mutate.js';
import { freePort, waitForPort } from '../test/interop/peers.js';

const BS = 512;
const IQN = 'iqn.2026-11.io.tsiscsi.crash:target';
const WORKERS = 4;
const PER = 1024;

function block(lba: number, gen: number): Buffer {
  const b = Buffer.allocUnsafe(BS);
  b.writeUInt32LE(lba, 0);
  b.writeUInt32LE(gen, 4);
  for (let i = 8; i < BS - 4; i += 4) b.writeUInt32LE((Math.imul(gen ^ i, 2654435761) + lba) >>> 0, i);
  b.writeUInt32LE(crc32c(b, 0, 0, BS - 4), BS - 4);
  return b;
}

export interface CrashRun {
  acknowledged: number;
  durable: number;
  fuaWrites: number;
  syncs: number;
  lost: string[];
  torn: string[];
  killedAfterMs: number;
}

export async function crashRun(seed: number): Promise<CrashRun> {
  const rng = new Rng(seed);
  const dir = mkdtempSync(join(tmpdir(), 'tsiscsi-crash-'));
  const file = join(dir, 'lun0.img');
  const port = await freePort();
  const target = spawn(process.execPath, [cliEntry(), 'target', '--portal', `127.0.0.1:${port}`, '--iqn', IQN, '--lun', `${file},size=8M`, '--log-level', 'error'], {
    stdio: ['ignore', 'ignore', 'ignore'],
  });
  const run: CrashRun = { acknowledged: 0, durable: 0, fuaWrites: 0, syncs: 0, lost: [], torn: [], killedAfterMs: 0 };
  // Per LBA: every generation sent, and the lowest generation that must have survived.
  const sent = new Map<number, Set<number>>();
  const mustHave = new Map<number, number>();
  try {
    await waitForPort(port);
    const url = `iscsi://127.0.0.1:${port}/${IQN}/0`;
    let killed = false;
    const killAfter = 1000 + rng.int(2000);
    const t0 = Date.now();
    const killer = setTimeout(() => {
      killed = true;
      run.killedAfterMs = Date.now() - t0;
      target.kill('SIGKILL');
    }, killAfter);
    const worker = async (id: number): Promise<void> => {
      const s = await Session.connect(url, { timeout: 3000 });
      let gen = 0;
      // Acknowledged but not yet known durable: made durable by the next completed SYNCHRONIZE CACHE.
      let pending: [number, number][] = [];
      try {
        while (!killed) {
          if (rng.int(20) === 0) {
            const covered = pending;
            pending = [];
            await s.synchronizeCache();
            run.syncs++;
            for (const [lba, g] of covered) if ((mustHave.get(lba) ?? 0) < g) mustHave.set(lba, g);
            continue;
          }
          const lba = id * PER + rng.int(PER);
          const g = ++gen;
          if (!sent.has(lba)) sent.set(lba, new Set());
          sent.get(lba)!.add(g);
          const fua = rng.bool(0.3);
          await s.write(lba, block(lba, g), { fua });
          run.acknowledged++;
          if (fua) {
            run.fuaWrites++;
            if ((mustHave.get(lba) ?? 0) < g) mustHave.set(lba, g);
          } else {
            pending.push([lba, g]);
          }
        }
      } catch {
        // The target was killed under the command: what it acknowledged is all that counts.
      } finally {
        await s.close().catch(() => undefined);
      }
    };
    await Promise.all(Array.from({ length: WORKERS }, (_, i) => worker(i)));
    clearTimeout(killer);
    if (!killed) target.kill('SIGKILL');
    await new Promise((r) => (target.exitCode !== null || target.signalCode !== null ? r(null) : target.once('exit', r)));
    // The file as a restarted target would serve it.
    const disk = readFileSync(file);
    run.durable = mustHave.size;
    for (const [lba, gens] of sent) {
      const b = disk.subarray(lba * BS, (lba + 1) * BS);
      const zero = b.every((x) => x === 0);
      const ok = !zero && b.readUInt32LE(BS - 4) === crc32c(b, 0, 0, BS - 4) && b.readUInt32LE(0) === lba && gens.has(b.readUInt32LE(4));
      if (!zero && !ok) run.torn.push(`LBA ${lba}: not a whole written version`);
      const need = mustHave.get(lba);
      if (need !== undefined && (zero || !ok || b.readUInt32LE(4) < need)) run.lost.push(`LBA ${lba}: generation ${need} was durable, found ${zero ? 'zeros' : b.readUInt32LE(4)}`);
    }
  } finally {
    if (target.exitCode === null && target.signalCode === null) target.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
  return run;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--runs');
  const runs = i >= 0 ? Number(process.argv[i + 1]) : 20;
  const seed0 = Date.now() % 1e9;
  let clean = 0;
  for (let r = 0; r < runs; r++) {
    const x = await crashRun(seed0 + r);
    const good = x.lost.length === 0 && x.torn.length === 0;
    if (good) clean++;
    console.log(
      `run ${r + 1} (seed ${seed0 + r}): killed after ${x.killedAfterMs} ms; ${x.acknowledged} writes acknowledged (${x.fuaWrites} FUA), ${x.syncs} SYNCHRONIZE CACHE, ` +
        `${x.durable} blocks durable; lost ${x.lost.length}, torn ${x.torn.length}${good ? '' : `: ${[...x.lost, ...x.torn].slice(0, 5).join('; ')}`}`,
    );
  }
  console.log(`summary: ${clean}/${runs} runs lost no acknowledged durable write and tore no block`);
  process.exit(clean === runs ? 0 : 1);
}
