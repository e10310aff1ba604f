// A private etcd for the cluster tests (Debian etcd-server): data in a temp folder, client and peer URLs
// on free 127.0.0.1 ports, TLS with a CA, server and client certificates made by openssl here, client
// certificates required, and auth enabled with a user whose password is in a file. Stopped after.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../interop/peers.js';
import type { ClusterConfig } from '../../src/cluster/config.js';

export interface PrivateEtcd {
  /** `127.0.0.1:PORT` of the client URL (https). */
  endpoint: string;
  port: number;
  dir: string;
  ca: string;
  cert: string;
  key: string;
  user: string;
  passwordFile: string;
  /** A cluster config for gateway `name` reaching this etcd with TLS, a client certificate and the password. */
  config(name: string, extra?: Partial<ClusterConfig>): ClusterConfig;
  /** etcdctl with the root user, for inspecting and planting keys. */
  ctl(args: string[], endpoint?: string): string;
  stop(): Promise<void>;
}

/** Whether etcd and openssl are installed (.ci/run installs etcd-server and openssl). */
export function haveEtcd(): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v etcd && command -v etcdctl && command -v openssl'], { stdio: 'ignore' });
    return true;
  } catch {
    if (process.env.TSISCSI_INTEROP === '0') return false;
    throw new Error('the cluster tests need etcd, etcdctl (Debian etcd-server, etcd-client) and openssl; set TSISCSI_INTEROP=0 to skip them');
  }
}

function ossl(dir: string, args: string[]): void {
  execFileSync('timeout', ['-s', 'KILL', '30', 'openssl', ...args], { cwd: dir, stdio: 'ignore' });
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate, in `dir`. */
function makeCertificates(dir: string): void {
  ossl(dir, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=tsiscsi-test-ca']);
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n');
  writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const [name, cn] of [
    ['server', 'etcd-test'],
    ['client', 'tsiscsi'],
    ['root', 'root'],
  ] as const) {
    ossl(dir, ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
    ossl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', name === 'server' ? 'server.ext' : 'client.ext']);
  }
}

/** Starts a private etcd with TLS and auth; `prefix` is the one the test user may read and write. */
export async function startEtcd(opts: { prefix?: string } = {}): Promise<PrivateEtcd> {
  const dir = mkdtempSync(join(tmpdir(), 'tsiscsi-etcd-'));
  makeCertificates(dir);
  const port = await freePort();
  const peer = await freePort();
  const url = `https://127.0.0.1:${port}`;
  const proc: ChildProcess = spawn(
    'timeout',
    [
      '-s',
      'KILL',
      '1800',
      'etcd',
      '--name',
      'test',
      '--data-dir',
      join(dir, 'data'),
      '--listen-client-urls',
      url,
      '--advertise-client-urls',
      url,
      '--listen-peer-urls',
      `http://127.0.0.1:${peer}`,
      '--initial-advertise-peer-urls',
      `http://127.0.0.1:${peer}`,
      '--initial-cluster',
      `test=http://127.0.0.1:${peer}`,
      '--cert-file',
      join(dir, 'server.crt'),
      '--key-file',
      join(dir, 'server.key'),
      '--trusted-ca-file',
      join(dir, 'ca.crt'),
      '--client-cert-auth',
      '--log-level',
      'error',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  const ctl = (args: string[], endpoint = `127.0.0.1:${port}`): string =>
    execFileSync(
      'timeout',
      ['-s', 'KILL', '20', 'etcdctl', `--endpoints=https://${endpoint}`, `--cacert=${join(dir, 'ca.crt')}`, `--cert=${join(dir, 'root.crt')}`, `--key=${join(dir, 'root.key')}`, ...args],
      { env: { ...process.env, ETCDCTL_API: '3' }, stdio: ['ignore', 'pipe', 'pipe'] },
    ).toString();
  const stop = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      await Promise.race([new Promise((r) => proc.once('exit', r)), sleep(5000)]);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      ctl(['endpoint', 'health']);
      break;
    } catch {
      if (Date.now() > deadline || proc.exitCode !== null) {
        await stop();
        throw new Error(`etcd did not start: ${err}`);
      }
      await sleep(100);
    }
  }
  const prefix = opts.prefix ?? '/tsiscsi/';
  const user = 'tsiscsi';
  const password = 'gateway-password-for-tests';
  const passwordFile = join(dir, 'etcd-password');
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
  // Auth: root (by its client certificate's CN), and a user allowed only the cluster prefix.
  ctl(['user', 'add', 'root', '--new-user-password', 'root-password-for-tests']);
  ctl(['user', 'add', user, '--new-user-password', password]);
  ctl(['role', 'add', 'gateway']);
  ctl(['role', 'grant-permission', 'gateway', '--prefix=true', 'readwrite', prefix]);
  ctl(['user', 'grant-role', user, 'gateway']);
  ctl(['auth', 'enable']);
  return {
    endpoint: `127.0.0.1:${port}`,
    port,
    dir,
    ca: join(dir, 'ca.crt'),
    cert: join(dir, 'client.crt'),
    key: join(dir, 'client.key'),
    user,
    passwordFile,
    config: (name, extra = {}) => ({
      endpoints: [`127.0.0.1:${port}`],
      gateway: name,
      prefix,
      leaseTtlS: 2,
      alua: 'implicit',
      ackTimeoutMs: 4000,
      tls: { caFile: join(dir, 'ca.crt'), certFile: join(dir, 'client.crt'), keyFile: join(dir, 'client.key') },
      auth: { user, passwordFile },
      ...extra,
    }),
    ctl,
    stop,
  };
}
