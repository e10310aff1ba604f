// Counters of the target kept on the command path: plain number fields and typed arrays allocated once
// per logical unit and per session, so that counting a command costs a few stores and no allocation,
// no label lookup and no Map. They are read (and turned into Prometheus metrics or `admin top` lines)
// only when someone asks: snapshot.ts.

import { OP, SENSE_KEY, STATUS } from '../../scsi/constants.js';

/** The classes of commands counted apart: block reads, block writes, and everything else. */
export const OP_READ = 0;
export const OP_WRITE = 1;
export const OP_OTHER = 2;
export const OP_CLASSES = ['read', 'write', 'other'] as const;
export type OpClass = (typeof OP_CLASSES)[number];

/**
 * Latency buckets: quarter octaves of microseconds. Bucket 0 holds what took up to 8 µs, bucket i
 * up to 2^((i + 12) / 4) µs, the last everything beyond 2^25 µs (about 34 s). Four buckets per
 * doubling keep a percentile estimate within 19 % of the truth; the Prometheus histogram publishes
 * every fourth bound (whole octaves), which the cumulative counts give exactly.
 */
export const LATENCY_BUCKETS = 4 * (25 - 3) + 2;
const FIRST_BOUND_EXP4 = 12;

/** The upper bound of latency bucket `i` in microseconds (Infinity for the last). */
export function bucketUpperUs(i: number): number {
  return i >= LATENCY_BUCKETS - 1 ? Infinity : 2 ** ((i + FIRST_BOUND_EXP4) / 4);
}

/** The bucket a latency of `us` microseconds falls in. */
export function latencyBucket(us: number): number {
  if (!(us > 8)) return 0;
  const k = Math.ceil(4 * Math.log2(us)) - FIRST_BOUND_EXP4;
  return k >= LATENCY_BUCKETS - 1 ? LATENCY_BUCKETS - 1 : k;
}

/** Command class by CDB operation code: the block reads and writes of SBC-3, the rest "other". */
const OP_CLASS_OF = new Uint8Array(256).fill(OP_OTHER);
for (const op of [OP.READ_6, OP.READ_10, OP.READ_12, OP.READ_16]) OP_CLASS_OF[op] = OP_READ;
for (const op of [
  OP.WRITE_6,
  OP.WRITE_10,
  OP.WRITE_12,
  OP.WRITE_16,
  OP.WRITE_AND_VERIFY_10,
  OP.WRITE_AND_VERIFY_12,
  OP.WRITE_AND_VERIFY_16,
  OP.COMPARE_AND_WRITE,
  OP.WRITE_ATOMIC_16,
  OP.ORWRITE_16,
]) {
  OP_CLASS_OF[op] = OP_WRITE;
}

/** The class (OP_READ, OP_WRITE, OP_OTHER) of a command by its operation code. */
export function opClass(opcode: number): number {
  return OP_CLASS_OF[opcode & 0xff]!;
}

/** SCSI statuses are even numbers up to TASK ABORTED (40h, SAM-5 §5.3): one slot per status >> 1. */
const STATUS_SLOTS = (STATUS.TASK_ABORTED >> 1) + 1;

/** Counters of one logical unit of one target. */
export class LunCounters {
  /** Commands completed with a status, by class. */
  readonly commands = new Float64Array(3);
  /** Data-In bytes sent (to the initiator) and Data-Out bytes taken (from it). */
  bytesIn = 0;
  bytesOut = 0;
  /** Latency counts by class: LATENCY_BUCKETS per class, class-major. */
  readonly latency = new Float64Array(3 * LATENCY_BUCKETS);
  /** Sum of latencies by class, in microseconds. */
  readonly latencySumUs = new Float64Array(3);
  /** CHECK CONDITIONs by sense key (SPC-4 §4.5): UNIT ATTENTION is key 6. */
  readonly senseKeys = new Float64Array(16);
  /** Completions by status, GOOD included, at status >> 1. */
  readonly statuses = new Float64Array(STATUS_SLOTS);
  /** Tasks that ended aborted (task management, a connection lost) instead of with a status. */
  aborts = 0;
}

/** Counters of one session: what `admin top` shows per session. */
export class SessionCounters {
  commands = 0;
  bytesIn = 0;
  bytesOut = 0;
  errors = 0;
  readonly latency = new Float64Array(LATENCY_BUCKETS);
  latencySumUs = 0;
}

/** TMF function codes (RFC 7143 §11.5.1) run up to 12 (QUERY ASYNC EVENT, RFC 7144). */
const TMF_SLOTS = 16;

/** Counters of one target: its LUNs (by number), task management, logins. */
export class TargetCounters {
  /** Per LUN, at its number; a LUN removed and added again starts from zero. */
  readonly luns: (LunCounters | undefined)[] = [];
  /** Task management requests answered, by function code. */
  readonly tmf = new Float64Array(TMF_SLOTS);
  /** Task management requests answered with other than Function complete, by function code. */
  readonly tmfFailed = new Float64Array(TMF_SLOTS);
  /** Logins that reached full feature phase on this target. */
  logins = 0;

  /** Counters for a LUN just added (a fresh set: Prometheus sees a counter reset). */
  addLun(lun: number): LunCounters {
    const c = new LunCounters();
    while (this.luns.length <= lun) this.luns.push(undefined);
    this.luns[lun] = c;
    return c;
  }

  removeLun(lun: number): void {
    if (lun < this.luns.length) this.luns[lun] = undefined;
  }
}

/**
 * Counts one completed command: on its LUN (when the LUN is known) and on its session. `cdb0` is the
 * operation code, `us` the latency from its arrival to its status, `sense` its sense data if any.
 */
export function countCompletion(
  lc: LunCounters | undefined,
  sc: SessionCounters,
  cdb0: number,
  status: number,
  sense: Buffer | undefined,
  bytesIn: number,
  bytesOut: number,
  us: number,
): void {
  const b = latencyBucket(us);
  sc.commands++;
  sc.bytesIn += bytesIn;
  sc.bytesOut += bytesOut;
  sc.latency[b]++;
  sc.latencySumUs += us;
  if (status !== STATUS.GOOD) sc.errors++;
  if (lc === undefined) return;
  const op = OP_CLASS_OF[cdb0]!;
  lc.commands[op]++;
  lc.bytesIn += bytesIn;
  lc.bytesOut += bytesOut;
  lc.latency[op * LATENCY_BUCKETS + b]++;
  lc.latencySumUs[op] += us;
  if (status < 2 * STATUS_SLOTS) lc.statuses[status >> 1]++;
  if (status === STATUS.CHECK_CONDITION && sense !== undefined && sense.length >= 3) {
    // Fixed format (70h/71h) keeps the key in byte 2, descriptor format (72h/73h) in byte 1 (SPC-4 §4.5).
    const code = sense[0]! & 0x7f;
    lc.senseKeys[(code >= 0x72 ? sense[1]! : sense[2]!) & 0x0f]++;
  }
}

/** Names of the sense keys, as metric labels (SPC-4 §4.5.6). */
export const SENSE_KEY_LABELS: readonly string[] = (() => {
  const out: string[] = Array.from({ length: 16 }, (_, i) => `key_${i.toString(16)}`);
  for (const [name, v] of Object.entries(SENSE_KEY)) out[v] = name.toLowerCase();
  return out;
})();

/** Names of the statuses, as metric labels (SAM-5 §5.3). */
export function statusLabel(slot: number): string {
  const status = slot << 1;
  for (const [name, v] of Object.entries(STATUS)) if (v === status) return name.toLowerCase();
  return `status_${status.toString(16).padStart(2, '0')}`;
}
