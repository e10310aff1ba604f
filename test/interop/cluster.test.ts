// Two `tsiscsi target --cluster` gateways (real processes) presenting one shared file as one LUN,
// coordinated by a private etcd with TLS and a password: the same device on both ports, reservations
// across gateways, libiscsi's suite with one URL on each gateway, and the split-brain guarantee: the
// owner cut off from etcd stops completing writes before the other gateway takes the LUN over.
//
// CI runs the reservation and multipath suites of iscsi-test-cu; TSISCSI_CLUSTER_FULL=1 runs the whole
// suite across the two gateways (about as long as the single-target conformance run).

import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Session } from '../../src/initiator/index.js';
import {
  ALUA_STATE,
  cdbPersistentReserveOut,
  cdbReportTargetPortGroups,
  cdbWrite10,
  parseInquiry,
  parseReportTargetPortGroups,
  parseVpd83,
  parseVpdSerialNumber,
  pathIdentity,
  cdbInquiry,
} from '../../src/scsi/cdb/index.js';
import { PR_TYPE, PROUT, STATUS } from '../../src/scsi/constants.js';
import { ScsiError } from '../../src/errors.js';
import { haveEtcd, startEtcd, type PrivateEtcd } from '../cluster/etcd.js';
import { parseCunitOutput } from './cunit.js';
import { haveTools, interopDisabled, runAsync } from './peers.js';
import { spawnTarget } from './tsiscsi.js';

const IQN = 'iqn.2026-11.io.tsiscsi.test:shared';
const TTL_S = 2;
const run = !interopDisabled && haveEtcd();

type Gateway = Awaited<ReturnType<typeof spawnTarget>> & { name: string; url: string };

/** pino lines of a gateway's stderr, parsed. */
function logOf(g: Gateway): { msg: string; time: number; [k: string]: unknown }[] {
  return g
    .stderr()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { msg: string; time: number });
}

async function startGateway(etcd: PrivateEtcd, name: string, file: string, endpoint = etcd.endpoint): Promise<Gateway> {
  const t = await spawnTarget([
    '--iqn',
    IQN,
    '--lun',
    file,
    '--cluster',
    `etcd://${endpoint}`,
    '--gateway',
    name,
    '--cluster-ttl',
    String(TTL_S),
    '--cluster-ca',
    etcd.ca,
    '--cluster-cert',
    etcd.cert,
    '--cluster-key',
    etcd.key,
    '--cluster-user',
    `${etcd.user}:@${etcd.passwordFile}`,
    '--lun-events',
    'unit-attention',
    '--log-level',
    'info',
  ]);
  return { ...t, name, url: `iscsi://127.0.0.1:${t.port}/${IQN}/0` };
}

/** Polls `cond` for up to `ms`. */
async function eventually(cond: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function ownState(s: Session): Promise<number> {
  const r = await s.execute(cdbReportTargetPortGroups({ alloc: 1024 }), { dataIn: 1024 });
  const mine = pathIdentity(parseVpd83((await s.execute(cdbInquiry({ evpd: true, page: 0x83, alloc: 1024 }), { dataIn: 1024 })).data)).targetPortGroup;
  return parseReportTargetPortGroups(r.data).groups.find((g) => g.tpg === mine)?.state ?? -1;
}

/** A TCP relay between a gateway and etcd that can start dropping everything (a partition). */
async function partitionableProxy(target: number): Promise<{ port: number; cut(): void; close(): Promise<void> }> {
  let cut = false;
  const sockets = new Set<Socket>();
  const server: Server = createServer((down) => {
    const up = tcpConnect(target, '127.0.0.1');
    sockets.add(down).add(up);
    down.on('data', (d: Buffer) => {
      if (!cut) up.write(d);
    });
    up.on('data', (d: Buffer) => {
      if (!cut) down.write(d);
    });
    const end = () => {
      // Partitioned: no FIN or RST reaches either side either.
      if (cut) return;
      down.destroy();
      up.destroy();
    };
    down.on('close', end).on('error', () => {});
    up.on('close', end).on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    cut: () => {
      cut = true;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

describe.skipIf(!run)('two gateways of one LUN (etcd with TLS and a password)', () => {
  let etcd: PrivateEtcd;
  let dir: string;
  let a: Gateway;
  let b: Gateway;

  beforeAll(async () => {
    haveTools('iscsi-test-cu', 'stdbuf');
    etcd = await startEtcd();
    dir = mkdtempSync(join(tmpdir(), 'tsiscsi-cluster-'));
    const file = `${join(dir, 'shared.img')},size=1G,pbs=4096`;
    a = await startGateway(etcd, 'gw-a', file);
    b = await startGateway(etcd, 'gw-b', file);
  }, 120_000);

  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await etcd?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  test('both gateways present one device: the same NAA and serial, a port and target port group each, one Active/Optimized', async () => {
    const sa = await Session.connect(a.url);
    const sb = await Session.connect(b.url);
    try {
      const ids = [];
      for (const s of [sa, sb]) {
        const inq = parseInquiry((await s.execute(cdbInquiry({ alloc: 96 }), { dataIn: 96 })).data);
        expect(inq.tpgs).toBe(1);
        const id = pathIdentity(parseVpd83((await s.execute(cdbInquiry({ evpd: true, page: 0x83, alloc: 1024 }), { dataIn: 1024 })).data));
        const serial = parseVpdSerialNumber((await s.execute(cdbInquiry({ evpd: true, page: 0x80, alloc: 255 }), { dataIn: 255 })).data);
        ids.push({ ...id, serial });
      }
      expect(ids[0]!.lu).toBe(ids[1]!.lu);
      expect(ids[0]!.serial).toBe(ids[1]!.serial);
      expect(ids[0]!.targetPortGroup).not.toBe(ids[1]!.targetPortGroup);
      expect(ids[0]!.relativeTargetPort).toBe(ids[0]!.targetPortGroup);
      await eventually(async () => [await ownState(sa), await ownState(sb)].sort().join() === [ALUA_STATE.ACTIVE_OPTIMIZED, ALUA_STATE.ACTIVE_NON_OPTIMIZED].join());
      const rep = parseReportTargetPortGroups((await sa.execute(cdbReportTargetPortGroups(), { dataIn: 1024 })).data);
      expect(rep.groups.map((g) => g.tpg).sort()).toEqual([ids[0]!.targetPortGroup, ids[1]!.targetPortGroup].sort());
    } finally {
      await sa.close();
      await sb.close();
    }
  }, 60_000);

  test('a reservation taken at gateway A is enforced at gateway B as soon as A answered', async () => {
    const sa = await Session.connect(a.url);
    const sb = await Session.connect(b.url, { initiatorName: 'iqn.2026-11.io.tsiscsi.test:other-host' });
    try {
      const reg = cdbPersistentReserveOut(PROUT.REGISTER, { saKey: 0x1234n });
      await sa.execute(reg.cdb, { dataOut: reg.data });
      const res = cdbPersistentReserveOut(PROUT.RESERVE, { key: 0x1234n }, { type: PR_TYPE.WRITE_EXCLUSIVE });
      await sa.execute(res.cdb, { dataOut: res.data });
      const err = await sb.execute(cdbWrite10(0, 1), { dataOut: Buffer.alloc(512, 1) }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ScsiError);
      expect((err as ScsiError).status).toBe(STATUS.RESERVATION_CONFLICT);
      const clear = cdbPersistentReserveOut(PROUT.CLEAR, { key: 0x1234n });
      await sa.execute(clear.cdb, { dataOut: clear.data });
      await sb.execute(cdbWrite10(0, 1), { dataOut: Buffer.alloc(512, 1) });
    } finally {
      await sa.close();
      await sb.close();
    }
  }, 60_000);

  test('iscsi-test-cu with one URL on each gateway: no failure but the suite bug', async () => {
    const full = process.env.TSISCSI_CLUSTER_FULL === '1';
    const tests = full ? [] : ['-t', process.env.TSISCSI_CLUSTER_CU ?? 'ALL.Prout*,ALL.Prin*,ALL.MultipathIO*,ALL.Inquiry*,ALL.TestUnitReady*'];
    const r = await runAsync('stdbuf', ['-oL', 'iscsi-test-cu', '-d', ...tests, a.url, b.url], { timeoutMs: 1_500_000 });
    const result = parseCunitOutput(r.stdout);
    console.log(
      `iscsi-test-cu across gateways${full ? '' : ' (reservation, multipath, inquiry suites)'}: ${result.pass} passed, ${result.skip} skipped, ${result.fail} failed of ${result.total}` +
        `\nskipped: ${result.skippedNames.join(', ') || 'none'}\nfailed: ${result.failedNames.join(', ') || 'none'}`,
    );
    if (result.total === 0) console.log(r.stdout.slice(-3000), r.stderr.slice(-3000));
    for (const name of result.failedNames) {
      const at = r.stdout.indexOf(`Test: ${name.split('.')[1]} ...`);
      if (at >= 0) console.log(r.stdout.slice(at, at + 2500));
    }
    expect(result.total).toBeGreaterThan(full ? 230 : 20);
    expect(result.failedNames.filter((n) => n !== 'GetLBAStatus.UnmapSingle')).toEqual([]);
  }, 1_600_000);
});

/** IOPS of one iscsi-perf run (4 KiB random reads, queue depth 32) as initiator `name`. */
function iscsiPerf(url: string, name: string, seconds: number): Promise<number> {
  return runAsync('iscsi-perf', ['-i', name, '-t', String(seconds), '-m', '32', '-b', '8', '-r', url], { timeoutMs: (seconds + 30) * 1000 }).then((r) => {
    const m = [...r.stdout.matchAll(/iops average (\d+)/g)].at(-1);
    if (m === undefined) throw new Error(`iscsi-perf gave no result: ${r.stdout.slice(-300)} ${r.stderr.slice(-300)}`);
    return Number(m[1]);
  });
}

describe.skipIf(!run || process.env.TSISCSI_CLUSTER_PERF !== '1')('IOPS through one gateway and through two (TSISCSI_CLUSTER_PERF=1)', () => {
  let etcd: PrivateEtcd;
  let dir: string;
  let a: Gateway;
  let b: Gateway;
  beforeAll(async () => {
    etcd = await startEtcd();
    dir = mkdtempSync(join(tmpdir(), 'tsiscsi-perf-'));
    const file = `${join(dir, 'shared.img')},size=1G`;
    a = await startGateway(etcd, 'perf-a', file);
    b = await startGateway(etcd, 'perf-b', file);
    // Fill the first 64 MiB so reads hit written blocks; iscsi-perf reads the whole LUN at random.
  }, 120_000);
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await etcd?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  test('4K random reads at QD32: two sessions on one gateway vs one session on each, alternating', async () => {
    const seconds = Number(process.env.TSISCSI_CLUSTER_PERF_SECONDS ?? 8);
    const one: number[] = [];
    const two: number[] = [];
    for (let round = 0; round < 3; round++) {
      const x = await Promise.all([iscsiPerf(a.url, 'iqn.2026-11.io.tsiscsi.test:perf1', seconds), iscsiPerf(a.url, 'iqn.2026-11.io.tsiscsi.test:perf2', seconds)]);
      one.push(x[0] + x[1]);
      const y = await Promise.all([iscsiPerf(a.url, 'iqn.2026-11.io.tsiscsi.test:perf1', seconds), iscsiPerf(b.url, 'iqn.2026-11.io.tsiscsi.test:perf2', seconds)]);
      two.push(y[0] + y[1]);
    }
    const med = (v: number[]) => [...v].sort((p, q) => p - q)[Math.floor(v.length / 2)]!;
    console.log(`iscsi-perf 4K randread QD32, two sessions: one gateway ${one.join(' / ')} IOPS (median ${med(one)}); two gateways ${two.join(' / ')} IOPS (median ${med(two)}); ratio two/one ${(med(two) / med(one)).toFixed(2)}`);
    expect(med(one)).toBeGreaterThan(0);
    expect(med(two)).toBeGreaterThan(0);
  }, 600_000);
});

describe.skipIf(!run)('split brain: the owner cut off from etcd', () => {
  let etcd: PrivateEtcd;
  let dir: string;
  let a: Gateway | undefined;
  let b: Gateway | undefined;
  let proxy: Awaited<ReturnType<typeof partitionableProxy>> | undefined;

  beforeAll(async () => {
    etcd = await startEtcd();
    dir = mkdtempSync(join(tmpdir(), 'tsiscsi-split-'));
  }, 60_000);

  afterAll(async () => {
    await a?.stop('SIGKILL');
    await b?.stop();
    await proxy?.close();
    await etcd?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  test('stops completing writes before the other gateway takes the LUN', async () => {
    const file = `${join(dir, 'shared.img')},size=64M`;
    proxy = await partitionableProxy(etcd.port);
    a = await startGateway(etcd, 'gw-owner', file, `127.0.0.1:${proxy.port}`);
    const sa = await Session.connect(a.url, { timeout: 2000 });
    await eventually(async () => (await ownState(sa)) === ALUA_STATE.ACTIVE_OPTIMIZED);
    b = await startGateway(etcd, 'gw-standby', file);
    const sb = await Session.connect(b.url);
    await eventually(async () => (await ownState(sb)) === ALUA_STATE.ACTIVE_NON_OPTIMIZED);

    // Writes through A, back to back, each completion time noted as the initiator saw it.
    let lastGood = 0;
    let refused = 0;
    let stop = false;
    const writer = (async () => {
      let lba = 0;
      while (!stop) {
        try {
          await sa.execute(cdbWrite10(lba++ % 1024, 1), { dataOut: Buffer.alloc(512, lba & 0xff) });
          lastGood = Date.now();
        } catch {
          refused++;
          await new Promise((r) => setTimeout(r, 5));
        }
      }
    })();
    await new Promise((r) => setTimeout(r, 500));
    const cutAt = Date.now();
    proxy.cut();
    await eventually(() => logOf(b!).some((l) => l.msg === 'LUN owner' && l.owner === 'gw-standby'), 30_000);
    await new Promise((r) => setTimeout(r, 500));
    stop = true;
    await writer;
    const acquiredAt = logOf(b).find((l) => l.msg === 'LUN owner' && l.owner === 'gw-standby')!.time;
    const fencedAt = logOf(a).find((l) => l.msg.startsWith('gateway lease no longer valid'))?.time;
    console.log(
      `split brain (TTL ${TTL_S} s): partition at +0 ms; A fenced itself at +${fencedAt === undefined ? '?' : fencedAt - cutAt} ms; ` +
        `A's last write completed at +${lastGood - cutAt} ms; B took the LUN at +${acquiredAt - cutAt} ms ` +
        `(margin ${acquiredAt - lastGood} ms); writes refused by A after it: ${refused}`,
    );
    expect(lastGood).toBeGreaterThan(0);
    expect(lastGood).toBeLessThan(acquiredAt);
    expect(fencedAt).toBeDefined();
    expect(fencedAt!).toBeLessThan(acquiredAt);
    expect(refused).toBeGreaterThan(0);
    // B serves as the owner, and A's group is no longer in B's report.
    expect(await ownState(sb)).toBe(ALUA_STATE.ACTIVE_OPTIMIZED);
    await sa.close().catch(() => {});
    await sb.close();
  }, 120_000);
});
