// The state of one full feature connection, on one object of one shape. Every concern of the engine
// (window.ts, command.ts, data-out.ts, write-budget.ts, read-budget.ts, lifecycle.ts, data-in.ts,
// liveness.ts, logout.ts, messages.ts) is a module of plain functions over it: the per-PDU path loads
// fields from a single monomorphic object and makes direct calls, as one class would.

import { RESERVED_TAG } from '../../pdu/constants.js';
import { R2TTable } from '../../r2t/table.js';
import type { ConnectionParams } from '../../login/keys.js';
import type { TimerHandle } from '../../util/clock.js';
import { snAdd } from '../../util/serial.js';
import type { TargetSession } from '../session.js';
import type { TargetTask } from '../task.js';
import type { FfpHost, FfpOptions } from './host.js';

const DEFAULT_MAX_WRITE_BUFFER = 32 * 1024 * 1024;
const DEFAULT_MAX_BUFFERED_WRITE = 128 * 1024 * 1024;
const DEFAULT_MAX_READ_IN_FLIGHT = 32 * 1024 * 1024;
const DEFAULT_MAX_IMMEDIATE = 8;
const DEFAULT_NOP_TIMEOUT = 15_000;

/** The shared empty payload (no data segment, no sense). */
export const EMPTY: Buffer = Buffer.alloc(0);

/** The fields of one full feature connection; each group says which module owns it. */
export class FfpState {
  readonly session: TargetSession;
  readonly cid: number;
  readonly host: FfpHost;
  /** The negotiated connection values (MaxRecvDataSegmentLength may change in full feature phase). */
  readonly conn: ConnectionParams;
  /** The next StatSN to hand out (RFC 7143 §4.2.2.2); see {@link nextStatSN}. */
  statSN: number;
  /** The next Target Transfer Tag; R2Ts and NOP-In pings draw from it (see {@link takeTtt}). */
  nextTtt = 1;
  /** Set once by stop(): no PDU is handled and no response sent after it. */
  stopped = false;

  // window.ts: non-immediate PDUs that arrived ahead of ExpCmdSN, waiting for the gap to fill.
  readonly held = new Map<number, () => void>();

  // command.ts: immediate commands running beyond the window.
  immediateActive = 0;
  readonly maxImmediate: number;

  // data-out.ts: R2T descriptors of this connection's writes.
  readonly r2t: R2TTable;

  // write-budget.ts: bytes of write buffers allocated, and the writes waiting for room (oldest first).
  readonly maxWriteBuffer: number;
  readonly maxBufferedWrite: number;
  bufferedWrite = 0;
  readonly waitingForBuffer: TargetTask[] = [];

  // read-budget.ts: reads started and not finished, their Data-In bytes, and the commands waiting to start.
  readonly readsInFlight = new Set<TargetTask>();
  readBytesInFlight = 0;
  readonly maxReadInFlight: number;
  readonly waitingToRun: TargetTask[] = [];
  /** lifecycle.ts is starting waiting commands (a finish inside that loop must not restart it). */
  startingWaiters = false;

  // liveness.ts (RFC 7143 §11.18, §11.19): when the initiator was last heard, the ping in flight.
  lastHeard: number;
  pingTtt: number | undefined = undefined;
  pingTimer: TimerHandle | undefined = undefined;
  readonly nopInterval: number;
  readonly nopTimeout: number;

  // logout.ts: a Logout Request was accepted; new commands are rejected.
  loggingOut = false;

  constructor(session: TargetSession, host: FfpHost, opts: FfpOptions) {
    this.session = session;
    this.cid = opts.cid;
    this.statSN = opts.statSN >>> 0;
    this.host = host;
    this.conn = opts.connection;
    this.maxWriteBuffer = opts.maxWriteBuffer ?? DEFAULT_MAX_WRITE_BUFFER;
    this.maxBufferedWrite = opts.maxBufferedWrite ?? DEFAULT_MAX_BUFFERED_WRITE;
    this.maxImmediate = opts.maxImmediate ?? DEFAULT_MAX_IMMEDIATE;
    this.maxReadInFlight = opts.maxReadInFlight ?? DEFAULT_MAX_READ_IN_FLIGHT;
    // Enough descriptors for MaxOutstandingR2T on every command the window and the immediate slots allow.
    this.r2t = new R2TTable(Math.max(1, session.params.maxOutstandingR2T) * (session.queueDepth + this.maxImmediate));
    this.nopInterval = opts.nopInterval ?? 0;
    this.nopTimeout = opts.nopTimeout ?? DEFAULT_NOP_TIMEOUT;
    this.lastHeard = host.clock.now();
  }
}

/** Hands out the next StatSN: every status-carrying PDU consumes one (RFC 7143 §4.2.2.2). */
export function nextStatSN(st: FfpState): number {
  const sn = st.statSN;
  st.statSN = snAdd(sn, 1);
  return sn;
}

/**
 * Hands out a Target Transfer Tag, never the reserved 0xffffffff (RFC 7143 §11.8.3, §11.19.1). One
 * counter serves R2Ts and NOP-In pings, so a ping's TTT never matches an R2T in flight.
 */
export function takeTtt(st: FfpState): number {
  let ttt = st.nextTtt;
  st.nextTtt = st.nextTtt === 0xfffffffe ? 1 : st.nextTtt + 1;
  if (ttt === RESERVED_TAG) ttt = 1;
  return ttt;
}
