// Real peers for interop tests: tgtd (Debian package tgt), dumpcap captures, libiscsi tools.
// Every peer listens on 127.0.0.1 on a port of its own and is killed when the test ends.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Tools an interop test needs; a missing one is a failure, unless TSISCSI_INTEROP=0 says skip. */
export function haveTools(...tools: string[]): boolean {
  const missing = tools.filter((t) => {
    try {
      execFileSync('sh', ['-c', `command -v ${t}`], { stdio: 'ignore' });
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length === 0) return true;
  if (process.env.TSISCSI_INTEROP === '0') return false;
  throw new Error(
    `interop test needs ${missing.join(', ')}: install tgt, libiscsi-bin, tshark (see .ci/run), or set TSISCSI_INTEROP=0 to skip interop tests`,
  );
}

export const interopDisabled = process.env.TSISCSI_INTEROP === '0';

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = createConnection({ host: '127.0.0.1', port });
      c.once('connect', () => {
        c.destroy();
        resolve(true);
      });
      c.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port}`);
    await sleep(50);
  }
}

export interface Tgtd {
  port: number;
  iqn: string;
  dir: string;
  /** Backing file of LUN 1 (tgtd's LUN 0 is its controller). */
  lunFile: string;
  url: string;
  ctl: number;
  tgtadm(...args: string[]): string;
  stop(): Promise<void>;
}

/** Starts a tgtd with one file-backed disk (LUN 1) of `sizeMiB`. */
export async function startTgtd(opts: { sizeMiB?: number; iqn?: string; lunFile?: string } = {}): Promise<Tgtd> {
  const port = await freePort();
  const ctl = 1000 + (port % 30000);
  const dir = mkdtempSync(join(tmpdir(), 'tsiscsi-tgtd-'));
  const lunFile = opts.lunFile ?? join(dir, 'lun1.img');
  if (opts.lunFile === undefined) execFileSync('truncate', ['-s', `${opts.sizeMiB ?? 64}M`, lunFile]);
  const iqn = opts.iqn ?? `iqn.2026-11.test.tgtd:${port}`;
  const proc: ChildProcess = spawn('tgtd', ['-f', '-C', String(ctl), '--iscsi', `portal=127.0.0.1:${port}`], {
    stdio: 'ignore',
  });
  const tgtadm = (...args: string[]) =>
    execFileSync('tgtadm', ['-C', String(ctl), '--lld', 'iscsi', ...args], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      execFileSync('tgtadm', ['-C', String(ctl), '--mode', 'sys', '--op', 'show'], { stdio: 'ignore' });
      break;
    } catch {
      if (Date.now() > deadline) throw new Error('tgtd did not start');
      await sleep(50);
    }
  }
  tgtadm('--mode', 'target', '--op', 'new', '--tid', '1', '-T', iqn);
  tgtadm('--mode', 'logicalunit', '--op', 'new', '--tid', '1', '--lun', '1', '-b', lunFile);
  tgtadm('--mode', 'target', '--op', 'bind', '--tid', '1', '-I', 'ALL');
  await waitForPort(port);
  return {
    port,
    iqn,
    dir,
    lunFile,
    ctl,
    url: `iscsi://127.0.0.1:${port}/${iqn}/1`,
    tgtadm,
    async stop() {
      // tgtd ignores SIGTERM while it serves a target.
      proc.kill('SIGKILL');
      await new Promise((r) => (proc.exitCode !== null ? r(null) : proc.once('exit', r)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A dumpcap capture of loopback traffic on one port, into a pcapng file. */
export async function startCapture(port: number, file: string): Promise<{ stop(): Promise<void> }> {
  const proc = spawn('dumpcap', ['-q', '-i', 'lo', '-B', '256', '-f', `tcp port ${port}`, '-w', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  // dumpcap says nothing when it starts with -q; give it time to open the interface.
  await sleep(1500);
  if (proc.exitCode !== null) throw new Error(`dumpcap failed: ${err}`);
  return {
    async stop() {
      await sleep(300);
      proc.kill('SIGTERM');
      await new Promise((r) => (proc.exitCode !== null ? r(null) : proc.once('exit', r)));
    },
  };
}

/** Runs a command, returning its output and exit status, never throwing on a non-zero exit. */
export function run(cmd: string, args: string[], timeoutMs = 120_000): { status: number | null; stdout: string; stderr: string } {
  try {
    const stdout = execFileSync(cmd, args, { timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 28 }).toString();
    return { status: 0, stdout, stderr: '' };
  } catch (e) {
    const x = e as { status: number | null; stdout?: Buffer; stderr?: Buffer };
    return { status: x.status, stdout: x.stdout?.toString() ?? '', stderr: x.stderr?.toString() ?? '' };
  }
}

/**
 * Runs a command without blocking the event loop (needed when the peer it talks to lives in this
 * process), returning output and exit status; never throws on a non-zero exit.
 */
export function runAsync(
  cmd: string,
  args: string[],
  opts: { timeoutMs?: number; input?: Buffer; env?: NodeJS.ProcessEnv } = {},
): Promise<{ status: number | null; stdout: string; stderr: string; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env });
    let stdout = '';
    let stderr = '';
    p.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    p.on('close', (status, signal) => {
      clearTimeout(t);
      resolve({ status, stdout, stderr, signal });
    });
    p.stdin!.end(opts.input);
  });
}

export interface Istgt {
  port: number;
  iqn: string;
  dir: string;
  lunFile: string;
  /** istgt's disk is LUN 0. */
  url: string;
  stop(): Promise<void>;
}

/** Starts istgt (`istgt -c CONFIG -D`) with one file-backed disk as LUN 0. */
export async function startIstgt(opts: { sizeMiB?: number; lunFile?: string } = {}): Promise<Istgt> {
  const port = await freePort();
  const ctlPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'tsiscsi-istgt-'));
  const lunFile = opts.lunFile ?? join(dir, 'disk.img');
  const size = opts.sizeMiB ?? 64;
  if (opts.lunFile === undefined) execFileSync('truncate', ['-s', `${size}M`, lunFile]);
  const conf = join(dir, 'istgt.conf');
  writeFileSync(join(dir, 'auth.conf'), '');
  writeFileSync(
    conf,
    `[Global]
  NodeBase "iqn.2026-11.test.istgt"
  PidFile ${dir}/istgt.pid
  AuthFile ${dir}/auth.conf
  MediaDirectory ${dir}
  Timeout 30
  NopInInterval 20
  DiscoveryAuthMethod None
  MaxSessions 300
  MaxConnections 4
  MaxR2T 32
  MaxOutstandingR2T 16
  FirstBurstLength 262144
  MaxBurstLength 1048576
  MaxRecvDataSegmentLength 262144
  InitialR2T Yes
  ImmediateData Yes
  ErrorRecoveryLevel 0
[UnitControl]
  AuthMethod None
  Portal UC1 127.0.0.1:${ctlPort}
  Netmask 127.0.0.1
[PortalGroup1]
  Portal DA1 127.0.0.1:${port}
[InitiatorGroup1]
  InitiatorName "ALL"
  Netmask 127.0.0.1/32
[LogicalUnit1]
  TargetName disk1
  Mapping PortalGroup1 InitiatorGroup1
  AuthMethod None
  UseDigest Auto
  UnitType Disk
  QueueDepth 128
  LUN0 Storage ${lunFile} ${size}MB
`,
  );
  const proc = spawn('istgt', ['-c', conf, '-D'], { stdio: 'ignore' });
  await waitForPort(port);
  const iqn = 'iqn.2026-11.test.istgt:disk1';
  return {
    port,
    iqn,
    dir,
    lunFile,
    url: `iscsi://127.0.0.1:${port}/${iqn}/0`,
    async stop() {
      proc.kill('SIGKILL');
      await new Promise((r) => (proc.exitCode !== null ? r(null) : proc.once('exit', r)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
