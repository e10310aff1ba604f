// The Linux kernel initiator with dm-multipath against two gateways of a cluster: etcd, two
// `tsiscsi target --cluster ... --gateway NAME` processes serving one shared file, and the VM of
// tools/open-iscsi-vm in multipath mode. The guest's multipath-tools must see one device over both
// gateways with ALUA priorities (the owner Active/Optimized: 50, the other Active/Non-Optimized: 10);
// the owner is SIGKILLed in the middle of an O_DIRECT write, the write must go on through the other
// gateway and the data must read back identical.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveEtcd, startEtcd, type PrivateEtcd } from '../cluster/etcd.js';
import { resultLine, VM_HARNESS, vmCanRun } from './open-iscsi-vm.js';
import { runAsync } from './peers.js';
import { spawnTarget } from './tsiscsi.js';

type Gateway = Awaited<ReturnType<typeof spawnTarget>> & { name: string; exit: Promise<NodeJS.Signals | null> };

const IQN = 'iqn.2026-11.io.tsiscsi.test:mpvm';
const canRun = vmCanRun('multipath') && haveEtcd();

describe.skipIf(!canRun)('Linux dm-multipath (open-iscsi + multipath-tools in a VM) over two cluster gateways', () => {
  let dir: string;
  let etcd: PrivateEtcd;
  const gateways: Gateway[] = [];

  /** The gateway that owns the LUN, as etcd says (`luns/<lunId>/owner`), or undefined. */
  function owner(): string | undefined {
    const out = etcd.ctl(['get', '--prefix', '/tsiscsi/luns/']).split('\n');
    const i = out.findIndex((l) => l.endsWith('/owner'));
    return i < 0 ? undefined : (JSON.parse(out[i + 1]!) as { gateway: string }).gateway;
  }

  /** `tsiscsi target` as users run it: etcd over TLS with a client certificate and a password file. */
  async function startGateway(name: string): Promise<Gateway> {
    const t = await spawnTarget([
      '--iqn', IQN, '--lun', join(dir, 'shared.img') + ',size=256M',
      '--cluster', `etcd://${etcd.endpoint}`, '--gateway', name,
      '--cluster-ca', etcd.ca, '--cluster-cert', etcd.cert, '--cluster-key', etcd.key, '--cluster-user', `${etcd.user}:@${etcd.passwordFile}`,
      '--log-level', 'warn',
    ]);
    const exit = new Promise<NodeJS.Signals | null>((r) => t.proc.once('exit', (_code, signal) => r(signal)));
    const g = { ...t, name, exit };
    gateways.push(g);
    return g;
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tsiscsi-mpvm-'));
    etcd = await startEtcd();
    // The first gateway finds no owner and takes the LUN; the second joins as Active/Non-Optimized.
    await startGateway('gw-a');
    for (let i = 0; i < 200 && owner() === undefined; i++) await sleep(100);
    expect(owner()).toBe('gw-a');
    await startGateway('gw-b');
  }, 120_000);

  afterAll(async () => {
    for (const g of gateways) await g.stop();
    await etcd?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('sees one device over both gateways with ALUA priorities, and keeps writing when the owner is killed mid-write', async () => {
    const [a, b] = gateways as [Gateway, Gateway];
    // --failover-cmd: SIGKILL the gateway behind the path the guest writes through, and say which.
    const killed = join(dir, 'killed');
    const script = join(dir, 'failover.sh');
    writeFileSync(
      script,
      [
        'case "$OPEN_ISCSI_VM_FAILOVER_PORT" in',
        ...gateways.map((g) => `  ${g.port}) kill -KILL ${g.proc.pid!} ;;`),
        '  *) exit 3 ;;',
        'esac',
        `printf '%s' "$OPEN_ISCSI_VM_FAILOVER_PORT" > '${killed}'`,
      ].join('\n'),
    );
    const started = Date.now();
    const r = await runAsync(VM_HARNESS, ['--port', String(a.port), '--portal2', String(b.port), '--iqn', IQN, '--failover-cmd', `sh ${script}`, '--timeout', '600'], {
      timeoutMs: 900_000,
      env: { ...process.env, OPEN_ISCSI_VM_INITIATOR: 'iqn.2024-01.io.open-iscsi-vm:multipath' },
    });
    const seconds = (Date.now() - started) / 1000;
    const out = r.stdout;
    const info = (re: RegExp): RegExpMatchArray | null => out.match(re);
    // What the run measured, for the record (no threshold: the VM runs under emulation).
    const longest = info(/longest 1 MiB write ([\d.]+) s/)?.[1];
    const stall = info(/failover stall: ([\d.]+) s from the lost connection/)?.[1];
    console.log(
      `open-iscsi VM multipath run: ${seconds.toFixed(0)} s; I/O stall at failover: ${stall ?? '?'} s from the lost connection to the next completed write (longest 1 MiB O_DIRECT write ${longest ?? '?'} s)`,
    );
    // multipath -ll before the failover, after it and at the end, as the guest printed them
    console.log(out.split('\n').filter((l) => /^OPEN-ISCSI-VM INFO: (multipath |  |path |failover)/.test(l)).join('\n'));

    expect(resultLine(out), `${out.split('\n').filter((l) => !l.startsWith('OPEN-ISCSI-VM INFO')).join('\n')}\n${r.stderr}`).toBe(
      'OPEN-ISCSI-VM RESULT: discovery=ok login=ok device=ok write=ok verify=ok inquiry=ok readcap=ok logout=ok multipath=ok paths=2 failover=ok',
    );
    expect(r.status).toBe(0);

    // One map, ALUA handler attached, one path group per gateway: the owner's at 50, the other's at 10.
    expect(out).toContain("hwhandler='1 alua'");
    const prio = (ip: string): number => Number(info(new RegExp(`path ${ip.replaceAll('.', '\\.')}:3260 is /dev/sd[a-z]+: prio (\\d+), group \\w+, dm state A\\n`))?.[1]);
    const prios = [prio('10.0.2.100'), prio('10.0.2.101')];

    // gw-a (10.0.2.100) owns the LUN: 50; gw-b (10.0.2.101) is Active/Non-Optimized: 10.
    expect(prios).toEqual([50, 10]);
    // The guest wrote through the owner's path, and that gateway is the one killed, mid-write.
    expect(out).toMatch(/failover: writing through 10\.0\.2\.100:3260 \(\/dev\/sd[a-z]+, prio 50\)/);
    expect(readFileSync(killed, 'utf8')).toBe(String(a.port));
    expect(await a.exit).toBe('SIGKILL');
    expect(b.proc.exitCode).toBeNull();
    expect(out).toMatch(/failover: path 10\.0\.2\.100:3260 failed [\d.]+ s after the request/);
    // Every MiB of the second half was written again after the path failed, through gw-b.
    expect(out).toMatch(/failover: \d+ MiB written in \d+ pass\(es\) over MiB 8\.\.15, 8 after the path failed/);

    // gw-b took the LUN over once gw-a's lease ended, and the guest saw it (ASYMMETRIC ACCESS STATE
    // CHANGED made scsi_dh_alua read the states again): its path is Active/Optimized by the end.
    expect(owner()).toBe('gw-b');
    // (The group's own status, active or enabled, depends on whether multipathd reloaded the map
    // after regrouping and whether I/O has gone through it since: not part of the contract.)
    expect(out).toMatch(/path 10\.0\.2\.101:3260 is \/dev\/sd[a-z]+: prio 50, group \w+, dm state A \(at the end\)/);
  }, 900_000);
});
