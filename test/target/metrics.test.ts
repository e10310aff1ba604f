// The metrics endpoint: Prometheus text that a strict parser accepts, counters that move with the I/O
// a real initiator does (per LUN, by class, bytes, latency, sense keys, TMFs, logins refused), labels
// that never carry an initiator's name or a CHAP name, a bearer token, and bounds that keep it (and the
// target) answering under garbage, endless headers and 200 idle connections.

import { createConnection, type Socket } from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScsiError } from '../../src/errors.js';
import { Session } from '../../src/initiator/session.js';
import { METRICS_LIMITS, TargetMetrics, startMetricsServer, type MetricsServer } from '../../src/target/index.js';
import { startTarget, type RunningTarget } from '../interop/tsiscsi.js';
import { parsePrometheus, type Sample } from './prometheus.js';

function pick(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const s = samples.filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  return s.reduce((a, x) => a + x.value, 0);
}

function connect(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createConnection({ host: '127.0.0.1', port });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

const INITIATOR = 'iqn.2026-11.io.tsiscsi.test:metrics-initiator';

describe('metrics endpoint', () => {
  let t: RunningTarget;
  let m: MetricsServer;
  let base: string;
  const scrape = async (): Promise<Sample[]> => {
    const r = await fetch(`${base}/metrics`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return parsePrometheus(await r.text()).samples;
  };

  beforeAll(async () => {
    t = await startTarget({
      luns: ['mem:4M', 'mem:1M'],
      server: { counting: true },
      config: { targets: [{ iqn: 'iqn.2026-11.io.tsiscsi.test:disk', luns: ['mem:4M', 'mem:1M'] }, { iqn: 'iqn.2026-11.io.tsiscsi.test:closed', luns: ['mem:1M'], allow: ['iqn.2026-11.io.tsiscsi.test:nobody'] }] },
    });
    const exporter = new TargetMetrics(() => t.server.stats());
    m = await startMetricsServer({ listen: { host: '127.0.0.1', port: 0 }, render: () => exporter.render(), contentType: exporter.contentType, log: pino({ level: 'silent' }) });
    base = `http://127.0.0.1:${m.address.port}`;
  });
  afterAll(async () => {
    await m?.close();
    await t?.stop();
  });

  it('serves text that a strict parser accepts, with histograms whose buckets add up', async () => {
    const r = await fetch(`${base}/metrics`);
    const { types, samples } = parsePrometheus(await r.text());
    expect(types.get('tsiscsi_lun_latency_seconds')).toBe('histogram');
    expect(types.get('tsiscsi_lun_commands_total')).toBe('counter');
    expect(types.get('tsiscsi_process_cpu_seconds_total')).toBe('counter');
    for (const name of [...types.keys()]) expect(name.startsWith('tsiscsi_')).toBe(true);
    const buckets = samples.filter((s) => s.name === 'tsiscsi_lun_latency_seconds_bucket' && s.labels.lun === '0' && s.labels.op === 'read');
    for (let i = 1; i < buckets.length; i++) expect(buckets[i]!.value).toBeGreaterThanOrEqual(buckets[i - 1]!.value);
    expect(buckets.at(-1)!.labels.le).toBe('+Inf');
  });

  it('moves the counters with the I/O of a real initiator', async () => {
    const s = await Session.connect(t.url(0), { initiatorName: INITIATOR, unitAttentionRetries: 0 });
    const before = await scrape();
    for (let i = 0; i < 10; i++) await s.read(i * 8, 8);
    for (let i = 0; i < 5; i++) await s.write(i * 8, Buffer.alloc(4096, i));
    await expect(s.read(8192, 8)).rejects.toBeInstanceOf(ScsiError); // beyond 4 MiB: ILLEGAL REQUEST
    const during = await scrape();
    const lun0 = { target: t.iqn, lun: '0' };
    expect(pick(during, 'tsiscsi_lun_commands_total', { ...lun0, op: 'read' }) - pick(before, 'tsiscsi_lun_commands_total', { ...lun0, op: 'read' })).toBe(11);
    expect(pick(during, 'tsiscsi_lun_commands_total', { ...lun0, op: 'write' }) - pick(before, 'tsiscsi_lun_commands_total', { ...lun0, op: 'write' })).toBe(5);
    // Data-In counts every command's data: the reads, and a READ CAPACITY the initiator may send (32 bytes).
    const dataIn = pick(during, 'tsiscsi_lun_data_in_bytes_total', lun0) - pick(before, 'tsiscsi_lun_data_in_bytes_total', lun0);
    expect(dataIn).toBeGreaterThanOrEqual(10 * 4096);
    expect(dataIn).toBeLessThanOrEqual(10 * 4096 + 64);
    expect(pick(during, 'tsiscsi_lun_data_out_bytes_total', lun0) - pick(before, 'tsiscsi_lun_data_out_bytes_total', lun0)).toBe(5 * 4096);
    expect(pick(during, 'tsiscsi_lun_errors_total', { ...lun0, sense_key: 'illegal_request' }) - pick(before, 'tsiscsi_lun_errors_total', { ...lun0, sense_key: 'illegal_request' })).toBe(1);
    expect(pick(during, 'tsiscsi_lun_latency_seconds_count', { ...lun0, op: 'read' }) - pick(before, 'tsiscsi_lun_latency_seconds_count', { ...lun0, op: 'read' })).toBe(11);
    expect(pick(during, 'tsiscsi_target_sessions', { target: t.iqn })).toBe(1);
    expect(pick(during, 'tsiscsi_target_connections', { target: t.iqn })).toBe(1);
    expect(pick(during, 'tsiscsi_target_cmdsn_window', { target: t.iqn })).toBeGreaterThan(0);
    await s.lunReset(0);
    const after = await scrape();
    expect(pick(after, 'tsiscsi_target_tmf_total', { target: t.iqn, function: 'logical-unit-reset' })).toBe(1);
    expect(pick(after, 'tsiscsi_target_logins_total', { target: t.iqn })).toBeGreaterThanOrEqual(1);
    await s.close();
  });

  it('counts a refused login by its reason, and labels carry no initiator or CHAP name', async () => {
    const before = pick(await scrape(), 'tsiscsi_login_failures_total', { reason: 'authorization-failure' });
    await expect(Session.connect(`iscsi://127.0.0.1:${t.port}/iqn.2026-11.io.tsiscsi.test:closed/0`, { initiatorName: INITIATOR, replacementTimeout: 0 })).rejects.toThrow();
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(pick(parsePrometheus(text).samples, 'tsiscsi_login_failures_total', { reason: 'authorization-failure' })).toBe(before + 1);
    expect(text).not.toContain(INITIATOR);
  });

  it('answers 404 off /metrics and 405 for other methods', async () => {
    expect((await fetch(`${base}/`)).status).toBe(404);
    expect((await fetch(`${base}/metrics`, { method: 'POST', body: 'x' })).status).toBe(405);
  });

  it('stays answering, and the target serving, under garbage, an endless header and 200 idle connections', async () => {
    const garbage = await connect(m.address.port);
    const closedG = new Promise((r) => garbage.once('close', r));
    garbage.on('error', () => {});
    garbage.resume();
    garbage.write(Buffer.alloc(100_000, 0x07));
    const endless = await connect(m.address.port);
    const closedE = new Promise((r) => endless.once('close', r));
    endless.on('error', () => {});
    endless.resume();
    endless.write('GET /metrics HTTP/1.1\r\nx-long: ');
    for (let i = 0; i < 8 && !endless.destroyed; i++) endless.write(Buffer.alloc(4096, 0x61));
    const idle: Socket[] = [];
    let closed = 0;
    let enough!: () => void;
    // All but the cap are closed by the server to make room (the longest idle first).
    const evicted = new Promise<void>((r) => (enough = r));
    for (let i = 0; i < 200; i++) {
      const s = await connect(m.address.port);
      s.on('error', () => {});
      s.resume();
      s.once('close', () => ++closed === 200 - METRICS_LIMITS.maxConnections && enough());
      idle.push(s);
    }
    await Promise.all([closedG, closedE]);
    const session = await Session.connect(t.url(0));
    const [samples, data] = await Promise.all([scrape(), session.read(0, 8)]);
    expect(samples.length).toBeGreaterThan(0);
    expect(data.length).toBe(4096);
    await evicted;
    expect(closed).toBeGreaterThanOrEqual(200 - METRICS_LIMITS.maxConnections);
    for (const s of idle) s.destroy();
    await session.close();
  });
});

describe('metrics endpoint with a bearer token', () => {
  it('refuses a scrape without the token, in constant time, and serves one with it', async () => {
    const exporter = new TargetMetrics(() => ({ at: Date.now(), counting: false, connections: 0, loginFailures: {}, targets: [] }), { processMetrics: false });
    const m = await startMetricsServer({
      listen: { host: '127.0.0.1', port: 0 },
      render: () => exporter.render(),
      contentType: exporter.contentType,
      token: 'a-token-of-twenty-chars',
      log: pino({ level: 'silent' }),
    });
    const url = `http://127.0.0.1:${m.address.port}/metrics`;
    const no = await fetch(url);
    expect(no.status).toBe(401);
    expect(no.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect((await fetch(url, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    const yes = await fetch(url, { headers: { authorization: 'Bearer a-token-of-twenty-chars' } });
    expect(yes.status).toBe(200);
    parsePrometheus(await yes.text());
    await m.close();
  });
});
