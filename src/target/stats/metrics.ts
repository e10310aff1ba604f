// The Prometheus view of a stats snapshot, with prom-client's registry and text format. The counters
// live on the command path as plain numbers (counters.ts); here they become metrics only at scrape
// time, from one snapshot per scrape, so the hot path never hashes a label set. Label values are target
// names, LUN numbers and fixed words: never an initiator's name, a CHAP name or a secret.

import { Registry, collectDefaultMetrics } from 'prom-client';
import { bucketUpperUs, LATENCY_BUCKETS, OP_CLASSES } from './counters.js';
import type { LatencySnapshot, StatsSnapshot } from './snapshot.js';

type Labels = Record<string, string | number>;
interface MetricValue {
  labels: Labels;
  value: number;
  metricName?: string;
}
type MetricType = 'counter' | 'gauge' | 'histogram';

/**
 * A metric computed from the snapshot of the scrape under way: what prom-client's Registry asks of a
 * metric (name, help, type, get), without prom-client's per-label-set bookkeeping.
 */
class SnapshotMetric {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly aggregator = 'sum';
  readonly #values: (s: StatsSnapshot) => MetricValue[];
  readonly #current: () => StatsSnapshot | undefined;

  constructor(name: string, help: string, type: MetricType, current: () => StatsSnapshot | undefined, values: (s: StatsSnapshot) => MetricValue[]) {
    this.name = name;
    this.help = help;
    this.type = type;
    this.#current = current;
    this.#values = values;
  }

  get(): { name: string; help: string; type: MetricType; aggregator: string; values: MetricValue[] } {
    const s = this.#current();
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: s === undefined ? [] : this.#values(s) };
  }
}

/** Histogram bounds published: whole octaves of the counters' quarter-octave buckets, 16 µs to about 4 s. */
const PUBLISHED_BOUNDS: readonly number[] = (() => {
  const out: number[] = [];
  for (let i = 0; i < LATENCY_BUCKETS - 1; i++) {
    const us = bucketUpperUs(i);
    if (us >= 16 && us <= 4_194_304 && Number.isInteger(Math.log2(us))) out.push(i);
  }
  return out;
})();

function histogram(name: string, labels: Labels, h: LatencySnapshot): MetricValue[] {
  const out: MetricValue[] = [];
  let cum = 0;
  let next = 0;
  let count = 0;
  for (const c of h.buckets) count += c;
  for (const i of PUBLISHED_BOUNDS) {
    while (next <= i) cum += h.buckets[next++] ?? 0;
    out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: bucketUpperUs(i) / 1e6 }, value: cum });
  }
  out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: count });
  out.push({ metricName: `${name}_sum`, labels, value: h.sumUs / 1e6 });
  out.push({ metricName: `${name}_count`, labels, value: count });
  return out;
}

/** The metrics of the target, named `tsiscsi_...`; see docs/observability.md for the list. */
export class TargetMetrics {
  readonly registry = new Registry();
  readonly #source: () => Promise<StatsSnapshot> | StatsSnapshot;
  #current: StatsSnapshot | undefined;

  /** `source` gives the snapshot of one scrape (the server's own, or the merge of several processes'). */
  constructor(source: () => Promise<StatsSnapshot> | StatsSnapshot, opts: { processMetrics?: boolean } = {}) {
    this.#source = source;
    const cur = () => this.#current;
    const add = (name: string, help: string, type: MetricType, values: (s: StatsSnapshot) => MetricValue[]) =>
      this.registry.registerMetric(new SnapshotMetric(name, help, type, cur, values) as never);
    const perLun = (f: (l: StatsSnapshot['targets'][number]['luns'][number], labels: Labels) => MetricValue[]) => (s: StatsSnapshot) =>
      s.targets.flatMap((t) => t.luns.flatMap((l) => f(l, { target: t.name, lun: l.lun })));
    const perTarget = (f: (t: StatsSnapshot['targets'][number], labels: Labels) => MetricValue[]) => (s: StatsSnapshot) =>
      s.targets.flatMap((t) => f(t, { target: t.name }));

    add('tsiscsi_lun_commands_total', 'SCSI commands answered with a status, by class (read, write, other)', 'counter',
      perLun((l, lb) => OP_CLASSES.map((op) => ({ labels: { ...lb, op }, value: l.commands[op] }))));
    add('tsiscsi_lun_data_in_bytes_total', 'Data-In bytes sent to initiators (reads, and the data of other commands)', 'counter', perLun((l, labels) => [{ labels, value: l.bytesIn }]));
    add('tsiscsi_lun_data_out_bytes_total', 'Data-Out bytes received from initiators (writes, and the data of other commands)', 'counter', perLun((l, labels) => [{ labels, value: l.bytesOut }]));
    add('tsiscsi_lun_latency_seconds', 'From a command admitted to its status sent, by class', 'histogram',
      perLun((l, lb) => OP_CLASSES.flatMap((op) => histogram('tsiscsi_lun_latency_seconds', { ...lb, op }, l.latency[op]))));
    add('tsiscsi_lun_errors_total', 'CHECK CONDITION answers, by sense key (SPC-4 4.5.6)', 'counter',
      perLun((l, lb) => Object.entries(l.senseKeys).map(([sense_key, value]) => ({ labels: { ...lb, sense_key }, value }))));
    add('tsiscsi_lun_status_total', 'Answers by SCSI status (SAM-5 5.3)', 'counter',
      perLun((l, lb) => Object.entries(l.statuses).map(([status, value]) => ({ labels: { ...lb, status }, value }))));
    add('tsiscsi_lun_unit_attentions_total', 'Unit attentions reported (CHECK CONDITION, sense key UNIT ATTENTION)', 'counter',
      perLun((l, labels) => [{ labels, value: l.unitAttentions }]));
    add('tsiscsi_lun_aborts_total', 'Tasks ended aborted (task management, connection lost) instead of answered', 'counter',
      perLun((l, labels) => [{ labels, value: l.aborts }]));
    add('tsiscsi_lun_in_flight', 'Commands the logical unit is running', 'gauge', perLun((l, labels) => [{ labels, value: l.inFlight }]));
    add('tsiscsi_lun_capacity_bytes', 'Capacity of the logical unit', 'gauge', perLun((l, labels) => [{ labels, value: l.blocks * l.blockSize }]));

    add('tsiscsi_target_sessions', 'Sessions logged in to the target', 'gauge', perTarget((t, labels) => [{ labels, value: t.sessions }]));
    add('tsiscsi_target_connections', 'Connections in full feature phase on the target', 'gauge', perTarget((t, labels) => [{ labels, value: t.connections }]));
    add('tsiscsi_target_commands_in_flight', 'Commands received and not yet answered, all sessions', 'gauge', perTarget((t, labels) => [{ labels, value: t.inFlight }]));
    add('tsiscsi_target_cmdsn_window', 'Commands the sessions may still send (MaxCmdSN - ExpCmdSN + 1, summed)', 'gauge',
      perTarget((t, labels) => [{ labels, value: t.cmdsnWindow }]));
    add('tsiscsi_target_logins_total', 'Logins that reached full feature phase', 'counter', perTarget((t, labels) => [{ labels, value: t.logins }]));
    add('tsiscsi_target_tmf_total', 'Task management requests answered, by function (RFC 7143 11.5.1)', 'counter',
      perTarget((t, lb) => Object.entries(t.tmf).map(([fn, value]) => ({ labels: { ...lb, function: fn }, value }))));
    add('tsiscsi_target_tmf_failed_total', 'Task management requests not answered Function complete, by function', 'counter',
      perTarget((t, lb) => Object.entries(t.tmfFailed).map(([fn, value]) => ({ labels: { ...lb, function: fn }, value }))));

    add('tsiscsi_login_failures_total', 'Logins refused or dropped, by reason (RFC 7143 11.13.5 status names, timeout, protocol-error)', 'counter',
      (s) => Object.entries(s.loginFailures).map(([reason, value]) => ({ labels: { reason }, value })));
    add('tsiscsi_connections', 'TCP connections open, logged in or not', 'gauge', (s) => [{ labels: {}, value: s.connections }]);
    add('tsiscsi_command_counting', '1 when command counters are kept', 'gauge', (s) => [{ labels: {}, value: s.counting ? 1 : 0 }]);
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'tsiscsi_' });
  }

  /** The content type of {@link render}'s text (Prometheus text format 0.0.4). */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** Takes a snapshot and renders every metric in the Prometheus text format. */
  async render(): Promise<string> {
    this.#current = await this.#source();
    return this.registry.metrics();
  }
}
