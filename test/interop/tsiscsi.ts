// Starts the project's own target for tests: in-process (a TargetServer on port 0) or as the CLI a
// user runs (`bin/tsiscsi target` in a child process).

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { buildServer, type ServerConfig } from '../../src/target/config.js';
import type { TargetServer, TargetServerOptions } from '../../src/target/server.js';
import { freePort, waitForPort } from './peers.js';

export const CLI = new URL('../../bin/tsiscsi', import.meta.url).pathname;

export interface RunningTarget {
  port: number;
  iqn: string;
  dir: string;
  url(lun?: number, auth?: string): string;
  server: TargetServer;
  stop(): Promise<void>;
}

/** An in-process target. `luns` specs may use `{dir}` for a fresh temp directory. */
export async function startTarget(
  opts: { iqn?: string; luns?: string[]; config?: Partial<ServerConfig>; target?: Partial<ServerConfig['targets'][number]>; server?: Partial<TargetServerOptions> } = {},
): Promise<RunningTarget> {
  const dir = mkdtempSync(join(tmpdir(), 'tsiscsi-test-'));
  const iqn = opts.iqn ?? 'iqn.2026-11.io.tsiscsi.test:disk';
  const luns = (opts.luns ?? ['{dir}/lun0.img,size=64M']).map((l) => l.replaceAll('{dir}', dir));
  const level = process.env.TSISCSI_TEST_LOG ?? 'silent';
  const server = await buildServer(
    { portals: ['127.0.0.1:0'], targets: [{ iqn, luns, ...opts.target }], ...opts.config },
    pino({ level }, pino.destination(2)),
    opts.server ?? {},
  );
  const [bound] = await server.listen();
  return {
    port: bound!.port,
    iqn,
    dir,
    server,
    url: (lun = 0, auth) => `iscsi://${auth === undefined ? '' : auth + '@'}127.0.0.1:${bound!.port}/${iqn}/${lun}`,
    async stop() {
      await server.close({ graceMs: 200 });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** `bin/tsiscsi target ARGS` in a child process, listening on a free port. */
export async function spawnTarget(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{
  port: number;
  proc: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}> {
  const port = await freePort();
  const proc = spawn(CLI, ['target', '--portal', `127.0.0.1:${port}`, ...args], {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  try {
    await waitForPort(port, 20_000);
  } catch (e) {
    proc.kill('SIGKILL');
    throw new Error(`target did not start: ${err}`, { cause: e });
  }
  return {
    port,
    proc,
    stdout: () => out,
    stderr: () => err,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      // Gone already (exited, or killed by a signal, which leaves exitCode null): no exit event to wait for.
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill(signal);
      return new Promise((r) => proc.once('exit', (code) => r(code)));
    },
  };
}
