// A target connection engine with no socket: PDUs in, PDUs out, a manual clock, and a real SCSI
// device over memory (or a scripted `execute`).

import { pino } from 'pino';
import { MemoryBackend } from '../../src/backend/memory.js';
import { Opcode, RESERVED_TAG } from '../../src/pdu/constants.js';
import { lunToField } from '../../src/pdu/lun.js';
import type { InitiatorPdu, ScsiCommandPdu, TargetPdu, DataOutPdu, PduOf } from '../../src/pdu/types.js';
import { encodePduToBuffer } from '../../src/pdu/codec.js';
import { ManualClock } from '../../src/util/clock.js';
import { defaultConnectionParams, defaultSessionParams, type ConnectionParams, type SessionParams } from '../../src/login/keys.js';
import { ScsiTargetDevice } from '../../src/scsi/target-device.js';
import type { ScsiCommand, ScsiResponse } from '../../src/scsi/types.js';
import { FullFeatureConnection, type FfpHost } from '../../src/target/ffp/index.js';
import { TargetSession } from '../../src/target/session.js';
import { TargetTextResponder } from '../../src/target/text.js';
import { TaskManager, type TaskManagementNotice } from '../../src/target/tmf.js';

export const silent = pino({ level: 'silent' });

export interface Harness {
  ffp: FullFeatureConnection;
  session: TargetSession;
  device: ScsiTargetDevice;
  backend: MemoryBackend;
  clock: ManualClock;
  sent: TargetPdu[];
  dropped: string[];
  loggedOut: number;
  notices: TaskManagementNotice[];
  /** Feeds a PDU (its BHS is encoded for Reject answers). */
  feed(p: InitiatorPdu): void;
  /** Lets promises and setImmediate callbacks run. */
  settle(): Promise<void>;
  /** PDUs sent since the last call. */
  take(): TargetPdu[];
  nextCmdSN(): number;
}

export interface HarnessOptions {
  session?: Partial<SessionParams>;
  connection?: Partial<ConnectionParams>;
  queueDepth?: number;
  type?: 'Normal' | 'Discovery';
  execute?: (cmd: ScsiCommand) => Promise<ScsiResponse>;
  nopInterval?: number;
  nopTimeout?: number;
  blocks?: number;
  maxBufferedWrite?: number;
}

export function harness(o: HarnessOptions = {}): Harness {
  const clock = new ManualClock();
  const backend = new MemoryBackend({ blocks: o.blocks ?? 8192, blockSize: 512 });
  const device = new ScsiTargetDevice({ targetName: 'iqn.2026-11.test:t' });
  device.add(0, backend);
  const session = new TargetSession({
    tsih: 1,
    isid: '400000000001',
    initiatorName: 'iqn.2026-11.test:i',
    targetName: o.type === 'Discovery' ? undefined : 'iqn.2026-11.test:t',
    tpgt: 1,
    type: o.type ?? 'Normal',
    params: { ...defaultSessionParams(), ...o.session },
    queueDepth: o.queueDepth ?? 32,
    expCmdSN: 10,
  });
  if (session.nexus) device.attachNexus(session.nexus);
  const sent: TargetPdu[] = [];
  let taken = 0;
  const h: Partial<Harness> & { dropped: string[]; loggedOut: number; notices: TaskManagementNotice[] } = { dropped: [], loggedOut: 0, notices: [] };
  let ffp!: FullFeatureConnection;
  const tmf = new TaskManager({
    connections: () => [ffp],
    hasLun: (l) => device.get(l) !== undefined,
    notify: (type, lun, by, aborted) => {
      for (const l of lun === undefined ? device.luns() : [lun]) {
        const mine = aborted.filter((a) => a.task.lun === l);
        device.get(l)?.taskManagement({ type, nexus: by.nexus!, aborted: mine.map((a) => a.task.itt), abortedNexuses: mine.map((a) => a.session.nexus!.id) });
      }
    },
    pendingUnitAttentions: (l, s) => device.get(l)?.pendingUnitAttentions(s.nexus!.id) ?? [],
    dropAll: (r) => h.dropped.push(r),
    onTaskManagement: (n) => h.notices.push(n),
    log: silent,
  });
  const host: FfpHost = {
    send: (p) => {
      ffp.stamp(p);
      sent.push(p);
    },
    drop: (r) => h.dropped.push(r),
    closeAfterLogout: () => h.loggedOut++,
    execute: o.type === 'Discovery' ? undefined : (o.execute ?? ((cmd) => device.execute(cmd))),
    tmf,
    text: new TargetTextResponder({
      sendTargets: (_c, v) =>
        v === 'All' ? Array.from({ length: 40 }, (_, i) => ({ name: `iqn.2026-11.test:target-number-${i}`, addresses: ['127.0.0.1:3260,1', '[::1]:3260,1'] })) : [],
    }),
    clock,
    log: silent,
  };
  ffp = new FullFeatureConnection(session, host, {
    cid: 0,
    statSN: 100,
    connection: { ...defaultConnectionParams(), maxSendDataSegmentLength: 8192, maxRecvDataSegmentLength: 65536, ...o.connection },
    nopInterval: o.nopInterval ?? 0,
    nopTimeout: o.nopTimeout ?? 1000,
    ...(o.maxBufferedWrite !== undefined && { maxBufferedWrite: o.maxBufferedWrite }),
  });
  let cmdSN = 10;
  return Object.assign(h, {
    ffp,
    session,
    device,
    backend,
    clock,
    sent,
    feed: (p: InitiatorPdu) => ffp.handle(p, encodePduToBuffer(p).subarray(0, 48)),
    settle: async () => {
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    },
    take: () => {
      const out = sent.slice(taken);
      taken = sent.length;
      return out;
    },
    nextCmdSN: () => cmdSN++,
  }) as Harness;
}

export function cdb10(op: number, lba: number, blocks: number): Buffer {
  const b = Buffer.alloc(16);
  b[0] = op;
  b.writeUInt32BE(lba, 2);
  b.writeUInt16BE(blocks, 7);
  return b;
}

export function command(over: Partial<ScsiCommandPdu> & { cmdSN: number }): ScsiCommandPdu {
  return {
    opcode: Opcode.ScsiCommand,
    immediate: false,
    final: true,
    read: false,
    write: false,
    attr: 1,
    lun: lunToField(0),
    itt: 1,
    expectedDataTransferLength: 0,
    expStatSN: 0,
    cdb: Buffer.alloc(16),
    data: Buffer.alloc(0),
    ...over,
  };
}

export function dataOut(over: Partial<DataOutPdu>): DataOutPdu {
  return {
    opcode: Opcode.DataOut,
    final: false,
    lun: lunToField(0),
    itt: 1,
    ttt: RESERVED_TAG,
    expStatSN: 0,
    dataSN: 0,
    bufferOffset: 0,
    data: Buffer.alloc(0),
    ...over,
  };
}

export function ofType<O extends number>(pdus: TargetPdu[], opcode: O): PduOf<O>[] {
  return pdus.filter((p) => p.opcode === opcode) as PduOf<O>[];
}
