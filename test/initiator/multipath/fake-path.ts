// Scripted path sessions for MultipathSession's unit tests: several target ports of one in-memory LU,
// each with its ALUA group, that a test can hold, drop, reconnect, make answer a sense, or turn into
// another device. They behave as Session does where MultipathSession relies on it: commands submitted
// while disconnected wait for the reconnection (re-issued then) unless failQueued ends them; events
// arrive after a microtask, as Session delivers them.
import { EventEmitter } from 'node:events';
import { ConnectionError, ScsiError } from '../../../src/errors.js';
import type { CommandResult } from '../../../src/initiator/core/result.js';
import type { SessionEvent } from '../../../src/initiator/events.js';
import type { PathSession } from '../../../src/initiator/multipath/options.js';
import type { Capacity } from '../../../src/initiator/options.js';
import { ALUA_STATE, encodeReportTargetPortGroups } from '../../../src/scsi/cdb/alua.js';
import type { StandardInquiry } from '../../../src/scsi/cdb/spc.js';
import { ascName, senseKeyName, statusName, SENSE_KEY, STATUS } from '../../../src/scsi/constants.js';
import { vpd83 } from '../../scsi/vpd83.js';

export const BS = 512;

/** A logical unit several fake ports reach: its blocks, its NAA, its groups' states and its TPGS. */
export class FakeLu {
  readonly disk: Buffer;
  readonly naa: Buffer;
  /** Target port group -> asymmetric access state. */
  readonly groups = new Map<number, number>();
  tpgs: number;
  /** SET TARGET PORT GROUPS received: [tpg, state]. */
  readonly stpg: [number, number][] = [];

  constructor(opts: { blocks?: number; naa?: string; tpgs?: number } = {}) {
    this.disk = Buffer.alloc((opts.blocks ?? 1024) * BS);
    this.naa = Buffer.from(opts.naa ?? '6001405aaaaaaaaaaaaaaaaaaaaaaaaa', 'hex');
    this.tpgs = opts.tpgs ?? 0;
  }
}

export function scsiError(status: number, senseKey?: number, asc?: number, ascq?: number): ScsiError {
  return new ScsiError(
    senseKey === undefined
      ? { status, statusName: statusName(status) }
      : { status, statusName: statusName(status), senseKey, senseKeyName: senseKeyName(senseKey), asc: asc!, ascq: ascq!, ascName: ascName(asc!, ascq!) },
  );
}

interface Cmd {
  run: () => unknown;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  media: boolean;
  capacity: boolean;
}

/** One target port of a {@link FakeLu}, as a path's session sees it. */
export class FakePath implements PathSession {
  readonly lu: FakeLu;
  readonly tpg: number;
  readonly rtpi: number;
  readonly emitter = new EventEmitter();
  connected = true;
  closed = false;
  /** Commands stay pending until release() (a port that does not answer). */
  hold = false;
  /** Errors the next media commands (read, write) fail with, in order. */
  readonly failNext: Error[] = [];
  /** Commands held (sent, unanswered). */
  readonly held: Cmd[] = [];
  /** Commands waiting for the connection to come back. */
  readonly queued: Cmd[] = [];
  /** Media commands this port executed (ran against the LU). */
  executed = 0;
  /** The LU this port reports in its Device Identification page (another device's when changed). */
  naa: Buffer;

  constructor(lu: FakeLu, tpg: number, rtpi: number) {
    this.lu = lu;
    this.tpg = tpg;
    this.rtpi = rtpi;
    this.naa = lu.naa;
  }

  get busy(): number {
    return this.held.length + this.queued.length;
  }

  on(event: 'event', listener: (e: SessionEvent) => void): this {
    this.emitter.on(event, listener);
    return this;
  }

  #emit(e: SessionEvent): void {
    queueMicrotask(() => this.emitter.emit('event', e));
  }

  #submit(run: () => unknown, media: boolean, capacity = false): Promise<never> {
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(new ConnectionError('ERR_SESSION_CLOSED', 'the session is closed'));
      const c: Cmd = { run, resolve: resolve as (v: unknown) => void, reject, media, capacity };
      if (!this.connected) this.queued.push(c);
      else if (this.hold) this.held.push(c);
      else this.#answer(c);
    });
  }

  #answer(c: Cmd): void {
    if (c.media || c.capacity) {
      // docs/cluster.md: Standby, Unavailable and Transitioning ports refuse media access and READ CAPACITY.
      const state = this.lu.tpgs === 0 ? ALUA_STATE.ACTIVE_OPTIMIZED : (this.lu.groups.get(this.tpg) ?? ALUA_STATE.ACTIVE_OPTIMIZED);
      const ascq = state === ALUA_STATE.STANDBY ? 0x0b : state === ALUA_STATE.UNAVAILABLE ? 0x0c : state === ALUA_STATE.TRANSITIONING ? 0x0a : -1;
      if (ascq >= 0) return c.reject(scsiError(STATUS.CHECK_CONDITION, SENSE_KEY.NOT_READY, 0x04, ascq));
    }
    if (c.media) {
      const e = this.failNext.shift();
      if (e !== undefined) return c.reject(e);
      this.executed++;
    }
    try {
      c.resolve(c.run());
    } catch (e) {
      c.reject(e);
    }
  }

  /** Answers every held command. */
  release(): void {
    for (const c of this.held.splice(0)) this.#answer(c);
  }

  /** The connection drops: held commands were not run; they wait for the reconnection, as Session re-queues them. */
  drop(reason = 'connection reset'): void {
    this.connected = false;
    this.queued.push(...this.held.splice(0));
    this.#emit({ type: 'connection-lost', reason, error: new ConnectionError('ERR_CONNECTION', reason) });
  }

  /** Logged in again: what waited is sent again, then `reconnected`. */
  reconnect(): void {
    this.connected = true;
    for (const c of this.queued.splice(0)) {
      if (this.hold) this.held.push(c);
      else this.#answer(c);
    }
    this.#emit({ type: 'reconnected', attempt: 1, downMs: 10 });
  }

  unitAttention(asc: number, ascq: number): void {
    this.#emit({ type: 'unit-attention', lun: 0, senseKey: SENSE_KEY.UNIT_ATTENTION, asc, ascq, ascName: ascName(asc, ascq), sense: Buffer.alloc(18) });
  }

  failQueued(error: Error): void {
    if (this.connected) return;
    for (const c of this.queued.splice(0)) c.reject(error);
  }

  read(lba: number, blocks: number): Promise<Buffer> {
    return this.#submit(() => Buffer.from(this.lu.disk.subarray(lba * BS, (lba + blocks) * BS)), true);
  }

  write(lba: number, data: Buffer): Promise<void> {
    return this.#submit(() => void data.copy(this.lu.disk, lba * BS), true);
  }

  execute(cdb: Buffer, o: { dataOut?: Buffer } = {}): Promise<CommandResult> {
    const result = (data: Buffer): CommandResult => ({ status: 0, data, sense: Buffer.alloc(0), overflow: false, underflow: false, residualCount: 0 });
    if (cdb[0] === 0xa3 && (cdb[1]! & 0x1f) === 0x0a) {
      return this.#submit(() => {
        return result(encodeReportTargetPortGroups([...this.lu.groups].map(([tpg, state]) => ({ tpg, state, ports: tpg === this.tpg ? [this.rtpi] : [], supported: { activeOptimized: true, activeNonOptimized: true, standby: true } }))));
      }, false);
    }
    if (cdb[0] === 0xa4 && (cdb[1]! & 0x1f) === 0x0a) {
      return this.#submit(() => {
        const d = o.dataOut!;
        for (let off = 4; off + 4 <= d.length; off += 4) {
          const tpg = d.readUInt16BE(off + 2);
          const state = d[off]! & 0x0f;
          this.lu.stpg.push([tpg, state]);
          // The asked group becomes Active/Optimized, the others Standby (explicit ALUA, one owner).
          for (const g of this.lu.groups.keys()) this.lu.groups.set(g, g === tpg ? state : ALUA_STATE.STANDBY);
        }
        return result(Buffer.alloc(0));
      }, false);
    }
    return this.#submit(() => result(Buffer.alloc(0)), true);
  }

  inquiry(): Promise<StandardInquiry> {
    return this.#submit(() => ({ deviceType: 0, tpgs: this.lu.tpgs, vendor: 'FAKE', product: 'PORT', revision: '1' }) as StandardInquiry, false);
  }

  inquiryVpd(page: number): Promise<Buffer> {
    const u16 = (n: number): Buffer => {
      const b = Buffer.alloc(4);
      b.writeUInt16BE(n, 2);
      return b;
    };
    return this.#submit(() => {
      if (page !== 0x83) throw new RangeError('only page 0x83');
      return vpd83([
        { assoc: 0, type: 3, value: this.naa },
        { assoc: 1, type: 4, value: u16(this.rtpi) },
        ...(this.lu.tpgs !== 0 ? [{ assoc: 1, type: 5, value: u16(this.tpg) }] : []),
      ]);
    }, false);
  }

  readCapacity(): Promise<Capacity> {
    const blocks = this.lu.disk.length / BS;
    return this.#submit(() => ({ blocks, blockSize: BS, lastLba: blocks - 1, bytes: this.lu.disk.length, thinProvisioning: false, logicalPerPhysicalExponent: 0 }), false, true);
  }

  testUnitReady(): Promise<void> {
    return this.#submit(() => undefined, false);
  }

  synchronizeCache(): Promise<void> {
    return this.#submit(() => undefined, true);
  }

  reportLuns(): Promise<number[]> {
    return this.#submit(() => [0], false);
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    this.connected = false;
    const err = new ConnectionError('ERR_SESSION_CLOSED', 'the session is closed');
    for (const c of [...this.held.splice(0), ...this.queued.splice(0)]) c.reject(err);
    this.#emit({ type: 'closed', error: err });
    return Promise.resolve();
  }
}
