// The processes of a failover run: a private etcd and N `tsiscsi target` gateways serving one shared
// LUN (a file, or an NBD export), each on its own 127.0.0.1 port; any gateway can be SIGKILLed and started again on the same port.
// Every process runs under `timeout -s KILL` in a process group of its own, so that a kill reaches it
// (not just the timeout wrapper) and nothing outlives the run.

import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { cliEntry } from '../fuzz/resources.js';
import { freePort, waitForPort } from '../test/interop/peers.js';

/** How {@link GatewayCluster.start} sets the cluster up. */
export interface GatewayClusterOptions {
  /** Gateways (tsiscsi targets) in front of the one LUN. */
  gateways: number;
  /** Coordinate them through etcd (`--cluster`); without, independent targets of the same file. */
  cluster: boolean;
  /** Directory for etcd's data and the logs. */
  dir: string;
  /** The LUN spec every gateway serves: a shared file (exists, sized) or an `nbd://` export. */
  lun: string;
  iqn: string;
  /** Seconds after which every process is killed whatever happens (the run's bound plus a margin). */
  lifetimeS: number;
  /** More `tsiscsi target` arguments, for every gateway (e.g. a lease TTL). */
  gatewayArgs?: readonly string[];
}

interface Gateway {
  name: string;
  port: number;
  proc: ChildProcess | null;
  starts: number;
}

/** etcd and the gateways of one run. */
export class GatewayCluster {
  readonly #o: GatewayClusterOptions;
  readonly #gateways: Gateway[];
  readonly #logs: WriteStream;
  #etcd: ChildProcess | null = null;
  #etcdPort = 0;

  private constructor(o: GatewayClusterOptions, ports: number[]) {
    this.#o = o;
    this.#gateways = ports.map((port, i) => ({ name: `g${i + 1}`, port, proc: null, starts: 0 }));
    mkdirSync(o.dir, { recursive: true });
    this.#logs = createWriteStream(join(o.dir, 'processes.log'));
  }

  /** Starts etcd (with `cluster`) and every gateway, and waits until each listens. */
  static async start(o: GatewayClusterOptions): Promise<GatewayCluster> {
    const ports: number[] = [];
    for (let i = 0; i < o.gateways; i++) ports.push(await freePort());
    const c = new GatewayCluster(o, ports);
    try {
      if (o.cluster) await c.#startEtcd();
      for (let i = 0; i < o.gateways; i++) await c.startGateway(i);
    } catch (e) {
      await c.stop();
      throw e;
    }
    return c;
  }

  /** `etcd://127.0.0.1:PORT` of the private etcd (cluster mode). */
  get etcdUrl(): string {
    return `etcd://127.0.0.1:${this.#etcdPort}`;
  }

  /** The iSCSI URL of LUN 0 through each gateway, in gateway order. */
  get urls(): string[] {
    return this.#gateways.map((g) => `iscsi://127.0.0.1:${g.port}/${this.#o.iqn}/0`);
  }

  /** Gateway names, in order. */
  get names(): string[] {
    return this.#gateways.map((g) => g.name);
  }

  /** Whether gateway `i` runs. */
  running(i: number): boolean {
    const p = this.#gateways[i]!.proc;
    return p !== null && p.exitCode === null && p.signalCode === null;
  }

  /** TCP port of the private etcd's clients (cluster mode). */
  get etcdPort(): number {
    return this.#etcdPort;
  }

  /**
   * Starts gateway `i` on its port and waits until it listens. `etcdUrl` makes it reach etcd another
   * way (through a relay a test can cut, to partition it from etcd).
   */
  async startGateway(i: number, o: { etcdUrl?: string } = {}): Promise<void> {
    const g = this.#gateways[i]!;
    const args = ['target', '--portal', `127.0.0.1:${g.port}`, '--iqn', this.#o.iqn, '--lun', this.#o.lun, '--log-level', 'warn'];
    if (this.#o.cluster) args.push('--cluster', o.etcdUrl ?? this.etcdUrl, '--gateway', g.name);
    args.push(...(this.#o.gatewayArgs ?? []));
    g.proc = this.#spawn(g.name, [process.execPath, cliEntry(), ...args]);
    g.starts++;
    await waitForPort(g.port, 30_000);
  }

  /** SIGKILLs gateway `i` (its whole process group) and waits until it is gone. */
  async kill(i: number): Promise<void> {
    const g = this.#gateways[i]!;
    const p = g.proc;
    g.proc = null;
    if (p === null) return;
    await killGroup(p, 'SIGKILL');
  }

  /** Stops every gateway, then etcd. */
  async stop(): Promise<void> {
    await Promise.all(
      this.#gateways.map(async (g) => {
        const p = g.proc;
        g.proc = null;
        if (p !== null) await killGroup(p, 'SIGKILL');
      }),
    );
    if (this.#etcd !== null) await killGroup(this.#etcd, 'SIGKILL');
    this.#etcd = null;
    await new Promise<void>((r) => this.#logs.end(() => r()));
  }

  async #startEtcd(): Promise<void> {
    this.#etcdPort = await freePort();
    const peer = await freePort();
    const data = join(this.#o.dir, 'etcd');
    this.#etcd = this.#spawn('etcd', [
      'etcd',
      '--name',
      'soak',
      '--data-dir',
      data,
      '--listen-client-urls',
      `http://127.0.0.1:${this.#etcdPort}`,
      '--advertise-client-urls',
      `http://127.0.0.1:${this.#etcdPort}`,
      '--listen-peer-urls',
      `http://127.0.0.1:${peer}`,
      '--initial-advertise-peer-urls',
      `http://127.0.0.1:${peer}`,
      '--initial-cluster',
      `soak=http://127.0.0.1:${peer}`,
      '--logger',
      'zap',
      '--log-level',
      'error',
    ]);
    await waitForPort(this.#etcdPort, 30_000);
  }

  #spawn(name: string, argv: string[]): ChildProcess {
    const p = spawn('timeout', ['-s', 'KILL', String(this.#o.lifetimeS), ...argv], { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    p.stderr!.on('data', (d: Buffer) => this.#logs.write(`[${name}] ${d.toString()}`));
    p.on('exit', (code, signal) => this.#logs.write(`[${name}] exited ${signal ?? code}\n`));
    return p;
  }
}

/**
 * A `qemu-nbd` serving `file` as export `name` on a 127.0.0.1 port to up to `clients` connections at
 * once (every gateway opens its own), under `timeout -s KILL` in a process group of its own.
 */
export async function startNbdServer(file: string, name: string, clients: number, lifetimeS: number): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const p = spawn('timeout', ['-s', 'KILL', String(lifetimeS), 'qemu-nbd', '-f', 'raw', '-b', '127.0.0.1', '-p', String(port), '-e', String(clients), '-t', '-x', name, file], {
    detached: true,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    await waitForPort(port, 30_000);
  } catch (e) {
    await killGroup(p, 'SIGKILL');
    throw e;
  }
  return { url: `nbd://127.0.0.1:${port}/${name}`, stop: () => killGroup(p, 'SIGKILL') };
}

/** Signals a child's process group (timeout and what it runs) and waits for the child to exit. */
async function killGroup(p: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  try {
    process.kill(-p.pid!, signal);
  } catch {
    // Already gone.
  }
  await exited;
}
