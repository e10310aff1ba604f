// MultipathSession against a cluster of tsiscsi gateways (a private etcd, `tsiscsi target --cluster` on
// one shared file): it learns the ALUA states the gateways report (docs/cluster.md, the contract), sends
// I/O to the owner, follows ownership when the owner is SIGKILLed, and, with explicit ALUA, leaves the
// Standby gateways alone until one becomes the owner.
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MultipathSession } from '../../src/initiator/multipath/multipath-session.js';
import type { MultipathEvent } from '../../src/initiator/multipath/options.js';
import { GatewayCluster } from '../../soak/cluster.js';
import { TcpProxy } from '../initiator/proxy.js';
import { haveTools, interopDisabled } from './peers.js';

const IQN = 'iqn.2026-12.io.tsiscsi.test:mp-cluster';
const BS = 512;
const TTL_S = 2;

/** Until `cond` holds, or fails after `ms`. */
async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function cluster(gateways: number, alua: 'implicit' | 'explicit'): Promise<GatewayCluster> {
  haveTools('etcd');
  const dir = mkdtempSync(join(tmpdir(), 'tsiscsi-mpc-'));
  const lunFile = join(dir, 'shared.img');
  writeFileSync(lunFile, '');
  truncateSync(lunFile, 16 * 2 ** 20);
  const c = await GatewayCluster.start({ gateways, cluster: true, dir, lun: lunFile, iqn: IQN, lifetimeS: 300, gatewayArgs: ['--cluster-ttl', String(TTL_S), '--alua', alua] });
  cleanup.push(async () => {
    await c.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return c;
}

async function open(c: GatewayCluster, pathPolicy: 'alua' | 'multibus' = 'alua'): Promise<{ m: MultipathSession; events: MultipathEvent[] }> {
  const m = await MultipathSession.connect(c.urls, { checkInterval: 1000, pathPolicy });
  cleanup.push(() => m.close());
  const events: MultipathEvent[] = [];
  m.on('event', (e) => events.push(e));
  return { m, events };
}

const states = (m: MultipathSession): string[] => m.paths().map((p) => p.aluaStateName);
const owner = (m: MultipathSession): number => m.paths().findIndex((p) => p.usable && p.aluaStateName === 'active/optimized');

describe.skipIf(interopDisabled)('multipath: a cluster of tsiscsi gateways', () => {
  it('learns one Active/Optimized owner and Active/Non-Optimized others, and sends I/O to the owner', async () => {
    const c = await cluster(3, 'implicit');
    const { m } = await open(c);
    await until(() => states(m).filter((s) => s === 'active/optimized').length === 1, 15_000, 'one owner');
    expect(states(m).filter((s) => s === 'active/non-optimized')).toHaveLength(2);
    // Each gateway is its own target port group (docs/cluster.md): three distinct groups.
    expect(new Set(m.paths().map((p) => p.targetPortGroup)).size).toBe(3);
    const o = owner(m);
    const before = m.paths().map((p) => p.commands);
    for (let i = 0; i < 20; i++) await m.write(i, Buffer.alloc(BS, i));
    const after = m.paths().map((p) => p.commands);
    expect(after.map((n, i) => n - before[i]!)).toEqual(after.map((_, i) => (i === o ? 20 : 0)));
  });

  it('keeps writing when the owner is SIGKILLed, follows the new owner, and takes the old one back when it returns', async () => {
    const c = await cluster(2, 'implicit');
    const { m, events } = await open(c);
    await until(() => owner(m) >= 0 && states(m).includes('active/non-optimized'), 15_000, 'an owner and a non-owner');
    const first = owner(m);
    let stop = false;
    let writes = 0;
    const load = (async () => {
      for (let g = 1; !stop; g++) {
        // A write that found no path within the failover timeout would throw here and fail the test.
        await m.write(g % 256, Buffer.alloc(BS, g & 0xff));
        writes++;
      }
    })();
    await until(() => writes > 50, 10_000, 'writes flow');
    await c.kill(first);
    const at = writes;
    // The other gateway serves at once (Active/Non-Optimized serves all I/O), then owns the LUN once the
    // dead owner's lease ran out (TTL).
    await until(() => writes > at + 50, 10_000, 'writes continue through the other gateway');
    await until(() => owner(m) === 1 - first, (TTL_S + 10) * 1000, 'the other gateway is the owner');
    await c.startGateway(first);
    await until(() => m.paths()[first]!.status === 'up' && m.paths()[first]!.aluaStateName === 'active/non-optimized', 20_000, 'the restarted gateway is back, not the owner');
    stop = true;
    await load;
    expect(events.some((e) => e.type === 'path-down' && e.path === first)).toBe(true);
    expect(events.some((e) => e.type === 'alua-state' && e.path === 1 - first && e.aluaStateName === 'active/optimized')).toBe(true);
  });

  it('with explicit ALUA sends nothing to Standby gateways, and moves to the new owner when the owner dies', async () => {
    const c = await cluster(2, 'explicit');
    const { m } = await open(c);
    await until(() => owner(m) >= 0 && states(m).includes('standby'), 15_000, 'an owner and a standby');
    const first = owner(m);
    for (let i = 0; i < 10; i++) await m.write(i, Buffer.alloc(BS, 9));
    expect(m.paths()[1 - first]!.commands).toBe(0);
    await c.kill(first);
    // A write in flight waits for the new owner (the Standby port refuses it with 04h/0Bh until then).
    await m.write(100, Buffer.alloc(BS, 10));
    expect(owner(m)).toBe(1 - first);
    expect((await m.read(100, 1))[0]).toBe(10);
  });

  it('moves the writes of a gateway cut off from etcd (fenced: 04h/0Ch, Unavailable) to another, and takes it back when it rejoins', async () => {
    const c = await cluster(2, 'implicit');
    // Gateway 0 reaches etcd through a relay that the test cuts.
    const relay = await TcpProxy.start(c.etcdPort);
    cleanup.push(() => relay.close());
    await c.kill(0);
    await c.startGateway(0, { etcdUrl: `etcd://127.0.0.1:${relay.port}` });
    // multibus: both gateways carry writes whoever owns the LUN.
    const { m, events } = await open(c, 'multibus');
    await until(() => m.paths().every((p) => p.usable && p.aluaStateName.startsWith('active')), 15_000, 'both gateways active');
    let stop = false;
    let writes = 0;
    const load = (async () => {
      // A write refused by the fenced gateway goes to the other one; one that failed would throw here.
      for (let g = 1; !stop; g++) {
        await m.write(g % 256, Buffer.alloc(BS, g & 0xff));
        writes++;
      }
    })();
    await until(() => m.paths()[0]!.commands > 20, 10_000, 'gateway 0 carries writes');
    relay.refuse = true;
    relay.cut();
    await until(() => m.paths()[0]!.aluaStateName === 'unavailable', (TTL_S + 10) * 1000, 'the fenced gateway reports itself Unavailable');
    const fencedAt = m.paths()[0]!.commands;
    const at = writes;
    await until(() => writes > at + 50, 10_000, 'writes go on through the other gateway');
    expect(m.paths()[0]!.commands).toBe(fencedAt);
    relay.refuse = false;
    await until(() => m.paths()[0]!.usable && m.paths()[0]!.aluaStateName.startsWith('active'), 30_000, 'the gateway rejoined');
    await until(() => m.paths()[0]!.commands > fencedAt + 20, 10_000, 'it carries writes again');
    stop = true;
    await load;
    expect(events.some((e) => e.type === 'alua-state' && e.path === 0 && e.aluaStateName === 'unavailable')).toBe(true);
    expect(m.stats().noPath).toBe(0);
  });
});
