// NBD LUNs against what NBD itself gives, in one run: 4 KiB random reads at QD32 from one qemu-nbd
// export (a prefilled file) by
//   bare     a minimal pipelined NBD client (handshake, then raw READs and simple replies, TCP_NODELAY),
//   client-1 tsiscsi's NBD client alone (NbdBackend, 32 reads in flight), one connection,
//   client-4 the same with conns=4,
//   nbd-1    iscsi-perf on a tsiscsi NBD LUN with one NBD connection,
//   nbd-4    the same LUN with conns=4,
//   file     iscsi-perf on a tsiscsi file LUN over the same file (no NBD at all).
// Runs alternate (bare client-1 client-4 nbd-1 nbd-4 file, bare ...) so machine drift hits all alike;
// medians and ratios.
//
//   npm run bench:nbd -- [--time S] [--repeats N] [--mib N] [--unix]

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { negotiate, type HandshakeIo } from '../src/backend/nbd/handshake.js';
import { NBD_CMD, NBD_REQUEST_LENGTH, NBD_SIMPLE_REPLY_LENGTH } from '../src/backend/nbd/constants.js';
import { encodeRequest } from '../src/backend/nbd/replies.js';
import { NbdBackend } from '../src/backend/nbd/backend.js';
import type { NbdEndpoint } from '../src/backend/nbd/connection.js';
import { freePort, waitForPort } from '../test/interop/peers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(ROOT, 'bin', 'tsiscsi');
const RESULTS = join(ROOT, 'bench', 'results');

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const seconds = Number(arg('--time') ?? 5);
const repeats = Number(arg('--repeats') ?? 3);
const MIB = Number(arg('--mib') ?? 512);
const QD = 32;
const BS = 4096;
const useUnix = process.argv.includes('--unix');

type Kind = 'bare' | 'client-1' | 'client-4' | 'nbd-1' | 'nbd-4' | 'file';
const KINDS: Kind[] = ['bare', 'client-1', 'client-4', 'nbd-1', 'nbd-4', 'file'];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

// ---------------------------------------------------------------------------------------------
// The bare client: runs in a child process of its own (as iscsi-perf does), prints IOPS.

async function bareClient(target: string, exportName: string, secs: number): Promise<number> {
  const sock = target.startsWith('/') ? connect({ path: target }) : connect({ host: '127.0.0.1', port: Number(target) });
  await new Promise<void>((r, j) => {
    sock.once('connect', r);
    sock.once('error', j);
  });
  sock.setNoDelay(true);
  let chunks: Buffer[] = [];
  let waiter: (() => void) | null = null;
  const onData = (d: Buffer) => {
    chunks.push(d);
    waiter?.();
  };
  sock.on('data', onData);
  const io: HandshakeIo = {
    async read(n) {
      for (;;) {
        const all = Buffer.concat(chunks);
        if (all.length >= n) {
          chunks = [all.subarray(n)];
          return all.subarray(0, n);
        }
        await new Promise<void>((r) => (waiter = r));
        waiter = null;
      }
    },
    write: (b) => sock.write(b),
  };
  // Simple replies only: the smallest client there is.
  const info = await negotiate(io, exportName, { structuredReplies: false });
  sock.off('data', onData);
  const blocks = Math.floor(info.size / BS);
  let done = 0;
  let stop = false;
  const t0 = performance.now();
  const send = (slot: number) => {
    const h = Buffer.allocUnsafe(NBD_REQUEST_LENGTH);
    encodeRequest(h, 0, 0, NBD_CMD.READ, 0, slot, Math.floor(Math.random() * blocks) * BS, BS);
    sock.write(h);
  };
  // Replies: 16-byte header then 4 KiB, in order of arrival; any chunking.
  let pending: Buffer = Buffer.concat(chunks);
  const finished = new Promise<void>((resolve) => {
    const onReply = (slot: number) => {
      done++;
      if (!stop) send(slot);
      else if (--inflight === 0) resolve();
    };
    let inflight = QD;
    const consume = () => {
      while (pending.length >= NBD_SIMPLE_REPLY_LENGTH + BS) {
        if (pending.readUInt32BE(4) !== 0) throw new Error(`NBD error ${pending.readUInt32BE(4)}`);
        const slot = pending.readUInt32BE(12);
        pending = pending.subarray(NBD_SIMPLE_REPLY_LENGTH + BS);
        onReply(slot);
      }
    };
    sock.on('data', (d: Buffer) => {
      pending = pending.length === 0 ? d : Buffer.concat([pending, d]);
      consume();
    });
  });
  sock.cork();
  for (let i = 0; i < QD; i++) send(i);
  sock.uncork();
  setTimeout(() => (stop = true), secs * 1000);
  await finished;
  const iops = done / ((performance.now() - t0) / 1000);
  sock.destroy();
  return iops;
}

/** tsiscsi's NBD client alone: QD readers over one NbdBackend. */
async function backendClient(target: string, conns: number, secs: number): Promise<number> {
  const endpoint: NbdEndpoint = target.startsWith('/') ? { path: target } : { host: '127.0.0.1', port: Number(target) };
  const b = await NbdBackend.open({ endpoint, exportName: 'bench', url: target, conns });
  const slots = Math.floor((b.blocks * b.blockSize) / BS);
  let done = 0;
  const t0 = performance.now();
  const end = t0 + secs * 1000;
  const reader = async () => {
    const buf = Buffer.allocUnsafe(BS);
    while (performance.now() < end) {
      await b.read(Math.floor(Math.random() * slots) * (BS / b.blockSize), BS / b.blockSize, buf);
      done++;
    }
  };
  await Promise.all(Array.from({ length: QD }, reader));
  const iops = done / ((performance.now() - t0) / 1000);
  await b.close();
  return iops;
}

function runChild(mode: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [fileURLToPath(import.meta.url), ...mode, '--time', String(seconds)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const kill = setTimeout(() => p.kill('SIGKILL'), (seconds + 20) * 1000);
    p.on('close', () => {
      clearTimeout(kill);
      const n = Number(out.trim());
      if (Number.isFinite(n) && n > 0) resolve(n);
      else reject(new Error(`${mode.join(' ')} gave no result: ${out}`));
    });
  });
}

function runIscsiPerf(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const p = spawn('timeout', ['-s', 'KILL', String(seconds + 20), 'iscsi-perf', '-t', String(seconds), '-m', String(QD), '-b', String(BS / 512), '-r', url], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('close', () => {
      const m = [...out.matchAll(/iops average (\d+)/g)].at(-1);
      if (m === undefined) reject(new Error(`iscsi-perf gave no result: ${out.slice(-200)}`));
      else resolve(Number(m[1]));
    });
  });
}

async function startTarget(lun: string): Promise<{ url: string; proc: ChildProcess }> {
  const port = await freePort();
  const proc = spawn(CLI, ['target', '--portal', `127.0.0.1:${port}`, '--lun', lun, '--log-level', 'warn', '--queue-depth', '256'], { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitForPort(port, 30_000);
  return { url: `iscsi://127.0.0.1:${port}/iqn.2026-11.io.tsiscsi:target0/0`, proc };
}

async function main(): Promise<void> {
  if (process.argv.includes('--bare-client')) {
    process.stdout.write(`${Math.round(await bareClient(arg('--bare-client')!, 'bench', seconds))}\n`);
    return;
  }
  if (process.argv.includes('--backend-client')) {
    process.stdout.write(`${Math.round(await backendClient(arg('--backend-client')!, Number(arg('--conns')), seconds))}\n`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'tsiscsi-bench-nbd-'));
  const file = join(dir, 'lun.img');
  const children: ChildProcess[] = [];
  let qemu: ChildProcess | undefined;
  try {
    execFileSync('dd', ['if=/dev/urandom', `of=${file}`, 'bs=1M', `count=${MIB}`, 'status=none']);
    const port = await freePort();
    const sockPath = join(dir, 'nbd.sock');
    const pidFile = join(dir, 'qemu-nbd.pid');
    const where = useUnix ? [`--socket=${sockPath}`] : ['--bind=127.0.0.1', `--port=${port}`];
    qemu = spawn('timeout', ['-s', 'KILL', '3600', 'qemu-nbd', ...where, '--export-name=bench', '--persistent', '--shared=16', '--format=raw', `--pid-file=${pidFile}`, file], { stdio: ['ignore', 'ignore', 'inherit'] });
    for (let i = 0; i < 300 && !existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 20));
    const nbdUrl = useUnix ? `nbd+unix:///bench?socket=${sockPath}` : `nbd://127.0.0.1:${port}/bench`;
    const bareTarget = useUnix ? sockPath : String(port);
    const targets = {
      'nbd-1': await startTarget(`${nbdUrl},conns=1`),
      'nbd-4': await startTarget(`${nbdUrl},conns=4`),
      file: await startTarget(file),
    };
    for (const t of Object.values(targets)) children.push(t.proc);
    // Warm the page cache and every path once.
    execFileSync('cat', [file], { stdio: 'ignore', maxBuffer: 1 << 30 });
    const samples: Record<Kind, number[]> = { bare: [], 'client-1': [], 'client-4': [], 'nbd-1': [], 'nbd-4': [], file: [] };
    for (let r = 0; r < repeats; r++) {
      for (const k of KINDS) {
        const iops =
          k === 'bare'
            ? await runChild(['--bare-client', bareTarget])
            : k === 'client-1' || k === 'client-4'
              ? await runChild(['--backend-client', bareTarget, '--conns', k.slice(7)])
              : await runIscsiPerf(targets[k].url);
        samples[k].push(iops);
        process.stderr.write(`round ${r + 1}/${repeats} ${k}: ${Math.round(iops)} IOPS\n`);
      }
    }
    const med = Object.fromEntries(KINDS.map((k) => [k, median(samples[k])])) as Record<Kind, number>;
    const k = (n: number) => `${(n / 1000).toFixed(1)}K`;
    const ratio = (a: number, b: number) => (a / b).toFixed(2);
    const lines = [
      `4 KiB random read, QD32, ${MIB} MiB prefilled file, qemu-nbd over ${useUnix ? 'a unix socket' : 'TCP 127.0.0.1'}, ${seconds} s per run, medians of ${repeats} alternating runs:`,
      '',
      '| reader | IOPS | runs |',
      '|---|---|---|',
      `| bare pipelined NBD client (Node) on qemu-nbd | ${k(med.bare)} | ${samples.bare.map(k).join(', ')} |`,
      `| tsiscsi's NBD client alone, conns=1 | ${k(med['client-1'])} | ${samples['client-1'].map(k).join(', ')} |`,
      `| tsiscsi's NBD client alone, conns=4 | ${k(med['client-4'])} | ${samples['client-4'].map(k).join(', ')} |`,
      `| iscsi-perf on tsiscsi NBD LUN, conns=1 | ${k(med['nbd-1'])} | ${samples['nbd-1'].map(k).join(', ')} |`,
      `| iscsi-perf on tsiscsi NBD LUN, conns=4 | ${k(med['nbd-4'])} | ${samples['nbd-4'].map(k).join(', ')} |`,
      `| iscsi-perf on tsiscsi file LUN (same file) | ${k(med.file)} | ${samples.file.map(k).join(', ')} |`,
      '',
      '| ratio | value | goal |',
      '|---|---|---|',
      `| NBD LUN (conns=1) / bare NBD client | ${ratio(med['nbd-1'], med.bare)} | ≥ 0.7 |`,
      `| NBD LUN conns=4 / conns=1 | ${ratio(med['nbd-4'], med['nbd-1'])} | ≥ 1 |`,
      `| NBD client alone: conns=4 / conns=1 | ${ratio(med['client-4'], med['client-1'])} | |`,
      `| NBD client alone (conns=1) / bare NBD client | ${ratio(med['client-1'], med.bare)} | |`,
      `| NBD LUN (best of conns=1, 4) / file LUN | ${ratio(Math.max(med['nbd-1'], med['nbd-4']), med.file)} | |`,
    ];
    process.stdout.write(lines.join('\n') + '\n');
    mkdirSync(RESULTS, { recursive: true });
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    writeFileSync(join(RESULTS, `nbd-${stamp}.json`), JSON.stringify({ seconds, repeats, mib: MIB, unix: useUnix, samples, medians: med, load: readFileSync('/proc/loadavg', 'utf8').trim() }, null, 2));
  } finally {
    // Targets first (their NBD server still there), then qemu-nbd: SIGTERM for its `timeout`
    // wrapper, which passes it on (SIGKILL would orphan it).
    for (const c of children) c.kill('SIGKILL');
    qemu?.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
