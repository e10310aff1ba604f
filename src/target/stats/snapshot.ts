// A snapshot of the target's counters and state, as plain JSON: what `tsiscsi admin stats` answers,
// what `admin top` turns into rates, and what the Prometheus endpoint publishes. Plain data, so that a
// process serving other targets (a worker) can send its own and the main process sum them
// ({@link mergeSnapshots}).

import { snLt } from '../../util/serial.js';
import type { TargetNode } from '../target-node.js';
import { LATENCY_BUCKETS, OP_CLASSES, SENSE_KEY_LABELS, statusLabel, type LunCounters, type OpClass } from './counters.js';
import { tmfFunctionLabel } from './names.js';

/** Latency counts of one class of commands: bucket counts (see LATENCY_BUCKETS) and their sum. */
export interface LatencySnapshot {
  /** Counts per bucket, trailing empty buckets left out. */
  buckets: number[];
  sumUs: number;
}

/** One logical unit. */
export interface LunSnapshot {
  lun: number;
  blocks: number;
  blockSize: number;
  /** Commands the logical unit is running now. */
  inFlight: number;
  commands: Record<OpClass, number>;
  /** Data-In bytes sent to initiators, Data-Out bytes taken from them. */
  bytesIn: number;
  bytesOut: number;
  latency: Record<OpClass, LatencySnapshot>;
  /** CHECK CONDITIONs by sense key name (`unit_attention`, `medium_error`, ...); zero ones left out. */
  senseKeys: Record<string, number>;
  /** Completions by status name (`good`, `check_condition`, `busy`, ...); zero ones left out. */
  statuses: Record<string, number>;
  aborts: number;
  unitAttentions: number;
}

/** One session of a target (never labelled in metrics: it carries the initiator's name). */
export interface SessionSnapshot {
  id: number;
  tsih: number;
  initiatorName: string;
  isid: string;
  peer: string;
  commands: number;
  bytesIn: number;
  bytesOut: number;
  errors: number;
  /** Commands received and not yet answered. */
  inFlight: number;
  /** Commands the initiator may still send: MaxCmdSN - ExpCmdSN + 1 (RFC 7143 §4.2.2.1). */
  cmdsnWindow: number;
  latency: LatencySnapshot;
}

/** One target. */
export interface TargetSnapshot {
  name: string;
  sessions: number;
  connections: number;
  inFlight: number;
  /** The CmdSN window open to all its sessions together. */
  cmdsnWindow: number;
  logins: number;
  /** TMF requests answered by function name, and those not answered Function complete. */
  tmf: Record<string, number>;
  tmfFailed: Record<string, number>;
  luns: LunSnapshot[];
  sessionList: SessionSnapshot[];
}

/** The whole server (or, merged, every process of it). */
export interface StatsSnapshot {
  /** When it was taken (ms since the epoch). */
  at: number;
  /** Whether command counters are kept (metrics or the admin socket on); sessions and gauges are always live. */
  counting: boolean;
  connections: number;
  /** Logins refused or dropped, by reason (`authentication-failure`, `authorization-failure`, `timeout`, ...). */
  loginFailures: Record<string, number>;
  targets: TargetSnapshot[];
}

function latencyOf(counts: Float64Array, from: number, sumUs: number): LatencySnapshot {
  let end = from + LATENCY_BUCKETS;
  while (end > from && counts[end - 1] === 0) end--;
  return { buckets: Array.from(counts.subarray(from, end)), sumUs };
}

function nonZero(values: ArrayLike<number>, label: (i: number) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 0; i < values.length; i++) if (values[i]! > 0) out[label(i)] = values[i]!;
  return out;
}

function lunSnapshot(lun: number, c: LunCounters | undefined, lu: { blocks: number; blockSize: number; inFlight: number }): LunSnapshot {
  const commands = { read: 0, write: 0, other: 0 };
  const empty = { buckets: [], sumUs: 0 };
  const latency: Record<OpClass, LatencySnapshot> = { read: empty, write: empty, other: empty };
  if (c !== undefined) {
    OP_CLASSES.forEach((op, i) => {
      commands[op] = c.commands[i]!;
      latency[op] = latencyOf(c.latency, i * LATENCY_BUCKETS, c.latencySumUs[i]!);
    });
  }
  return {
    lun,
    blocks: lu.blocks,
    blockSize: lu.blockSize,
    inFlight: lu.inFlight,
    commands,
    bytesIn: c?.bytesIn ?? 0,
    bytesOut: c?.bytesOut ?? 0,
    latency,
    senseKeys: c === undefined ? {} : nonZero(c.senseKeys, (i) => SENSE_KEY_LABELS[i]!),
    statuses: c === undefined ? {} : nonZero(c.statuses, statusLabel),
    aborts: c?.aborts ?? 0,
    unitAttentions: c?.senseKeys[6] ?? 0,
  };
}

/** A snapshot of one target: its LUNs, sessions and counters. */
export function targetSnapshot(node: TargetNode, peerOf: (sessionId: number) => string): TargetSnapshot {
  const luns: LunSnapshot[] = [];
  for (const lun of node.device.luns()) {
    const lu = node.device.get(lun);
    if (lu !== undefined) luns.push(lunSnapshot(lun, node.counters.luns[lun], lu));
  }
  const sessionList: SessionSnapshot[] = [];
  let inFlight = 0;
  let window = 0;
  for (const s of node.connections.keys()) {
    // MaxCmdSN may sit one below ExpCmdSN: a closed window (RFC 7143 §4.2.2.1).
    const open = snLt(s.maxCmdSN, s.expCmdSN) ? 0 : ((s.maxCmdSN - s.expCmdSN) >>> 0) + 1;
    inFlight += s.tasks.size;
    window += open;
    const c = s.counters;
    sessionList.push({
      id: s.id,
      tsih: s.tsih,
      initiatorName: s.initiatorName,
      isid: s.isid,
      peer: peerOf(s.id),
      commands: c.commands,
      bytesIn: c.bytesIn,
      bytesOut: c.bytesOut,
      errors: c.errors,
      inFlight: s.tasks.size,
      cmdsnWindow: open,
      latency: latencyOf(c.latency, 0, c.latencySumUs),
    });
  }
  return {
    name: node.name,
    sessions: node.sessions.size,
    connections: node.connections.size,
    inFlight,
    cmdsnWindow: window,
    logins: node.counters.logins,
    tmf: nonZero(node.counters.tmf, tmfFunctionLabel),
    tmfFailed: nonZero(node.counters.tmfFailed, tmfFunctionLabel),
    luns,
    sessionList,
  };
}

function addRecords(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = (out[k] ?? 0) + v;
  return out;
}

/**
 * Sums the snapshots of several processes serving one configuration. A target lives in one process,
 * so targets are gathered; one reported by several (discovery-only copies hold no LUN and no session)
 * is summed field by field.
 */
export function mergeSnapshots(parts: readonly StatsSnapshot[]): StatsSnapshot {
  const byName = new Map<string, TargetSnapshot>();
  let loginFailures: Record<string, number> = {};
  let connections = 0;
  for (const p of parts) {
    connections += p.connections;
    loginFailures = addRecords(loginFailures, p.loginFailures);
    for (const t of p.targets) {
      const have = byName.get(t.name);
      if (have === undefined) {
        byName.set(t.name, t);
        continue;
      }
      byName.set(t.name, {
        name: t.name,
        sessions: have.sessions + t.sessions,
        connections: have.connections + t.connections,
        inFlight: have.inFlight + t.inFlight,
        cmdsnWindow: have.cmdsnWindow + t.cmdsnWindow,
        logins: have.logins + t.logins,
        tmf: addRecords(have.tmf, t.tmf),
        tmfFailed: addRecords(have.tmfFailed, t.tmfFailed),
        luns: [...have.luns, ...t.luns.filter((l) => !have.luns.some((h) => h.lun === l.lun))],
        sessionList: [...have.sessionList, ...t.sessionList],
      });
    }
  }
  return {
    at: Math.max(0, ...parts.map((p) => p.at)),
    counting: parts.some((p) => p.counting),
    connections,
    loginFailures,
    targets: [...byName.values()],
  };
}
