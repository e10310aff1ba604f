// Real NBD servers for tests: qemu-nbd over a file and nbdkit (memory or file plugin, with its error
// and delay filters), each on a loopback port or a unix socket of its own, under `timeout -s KILL` so
// that none outlives a crashed test run. Both write a pid file once they listen: that is the signal
// that they are ready (a probe connection would make qemu-nbd log an error).

import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { NbdEndpoint } from '../../../src/backend/nbd/connection.js';

/** A running NBD server. */
export interface NbdServer {
  endpoint: NbdEndpoint;
  url: string;
  /** The server's own pid (not the `timeout` wrapper's). */
  pid(): number;
  stderr(): string;
  /** Stops it (SIGTERM, then SIGKILL) and waits for the wrapper to exit. */
  stop(): Promise<void>;
  /** SIGKILL to the server itself: a crash, connections reset without a word. */
  kill(): Promise<void>;
}

/** Longest a test server may live: a hung test cannot leave one behind for longer. */
const MAX_LIFE_S = 900;

function urlOf(ep: NbdEndpoint, exportName: string): string {
  return 'path' in ep ? `nbd+unix:///${exportName}?socket=${ep.path}` : `nbd://127.0.0.1:${ep.port}/${exportName}`;
}

async function launch(cmd: string, args: string[], ep: NbdEndpoint, exportName: string, pidFile: string): Promise<NbdServer> {
  rmSync(pidFile, { force: true });
  const proc = spawn('timeout', ['-s', 'KILL', String(MAX_LIFE_S), cmd, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const deadline = Date.now() + 15_000;
  // Both servers write their pid file once they listen.
  while (!existsSync(pidFile) || readFileSync(pidFile, 'utf8').trim() === '') {
    if (proc.exitCode !== null) throw new Error(`${cmd} exited: ${err}`);
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`${cmd} did not start: ${err}`);
    }
    await sleep(20);
  }
  const serverPid = Number(readFileSync(pidFile, 'utf8').trim());
  return {
    endpoint: ep,
    url: urlOf(ep, exportName),
    pid: () => serverPid,
    stderr: () => err,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        // timeout passes SIGTERM on to the server.
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(t);
      }
    },
    async kill() {
      try {
        process.kill(serverPid, 'SIGKILL');
      } catch {
        // already gone
      }
      await exited;
    },
  };
}

/** nbdkit PLUGIN ARGS with `filters`, on `ep`. */
export function startNbdkit(ep: NbdEndpoint, pidFile: string, filters: string[], plugin: string[], extra: string[] = []): Promise<NbdServer> {
  const where = 'path' in ep ? ['-U', ep.path] : ['-i', '127.0.0.1', '-p', String(ep.port)];
  const args = ['-f', '--exit-with-parent', '-P', pidFile, ...where, ...extra, ...filters.map((f) => `--filter=${f}`), ...plugin];
  return launch('nbdkit', args, ep, '', pidFile);
}

/** qemu-nbd serving `file` as `exportName`, accepting `shared` clients, until stopped. */
export function startQemuNbd(ep: NbdEndpoint, file: string, exportName: string, pidFile: string, opts: { shared?: number; format?: string } = {}): Promise<NbdServer> {
  const where = 'path' in ep ? [`--socket=${ep.path}`] : ['--bind=127.0.0.1', `--port=${ep.port}`];
  const args = [...where, `--export-name=${exportName}`, '--persistent', `--shared=${opts.shared ?? 8}`, '--discard=unmap', `--format=${opts.format ?? 'raw'}`, `--pid-file=${pidFile}`, file];
  return launch('qemu-nbd', args, ep, exportName, pidFile);
}
