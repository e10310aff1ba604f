// Bounded memory per connection against a peer that does not read: read commands start only
// while their Data-In fits the connection's read budget and the socket is not congested; the rest wait
// in arrival order. Before this, 128 READs of 8 MiB from a peer that never reads held 1 GiB.
// The engine is driven without a socket; `execute` is scripted, so what started is known exactly.

import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { encodePduToBuffer } from '../../src/pdu/codec.js';
import { Opcode, TmfFunction, TmfResponse } from '../../src/pdu/constants.js';
import { lunToField } from '../../src/pdu/lun.js';
import type { InitiatorPdu, ScsiCommandPdu, TargetPdu } from '../../src/pdu/types.js';
import { ManualClock } from '../../src/util/clock.js';
import { defaultConnectionParams, defaultSessionParams } from '../../src/login/keys.js';
import type { ScsiCommand, ScsiResponse } from '../../src/scsi/types.js';
import { FullFeatureConnection } from '../../src/target/ffp/index.js';
import { TargetSession } from '../../src/target/session.js';
import { TargetTextResponder } from '../../src/target/text.js';
import { TaskManager } from '../../src/target/tmf.js';

const silent = pino({ level: 'silent' });
const MiB = 1 << 20;

function engine(o: { maxReadInFlight: number }) {
  const clock = new ManualClock();
  const session = new TargetSession({
    tsih: 1,
    isid: '400000000001',
    initiatorName: 'iqn.2026-11.test:i',
    targetName: 'iqn.2026-11.test:t',
    tpgt: 1,
    type: 'Normal',
    params: defaultSessionParams(),
    queueDepth: 128,
    expCmdSN: 1,
  });
  const started: { cmd: ScsiCommand; done: (r: ScsiResponse) => void }[] = [];
  const sent: TargetPdu[] = [];
  const state = { congested: false };
  let ffp!: FullFeatureConnection;
  const tmf = new TaskManager({
    connections: () => [ffp],
    hasLun: (l) => l === 0,
    notify: () => {},
    pendingUnitAttentions: () => [],
    dropAll: () => {},
    log: silent,
  });
  ffp = new FullFeatureConnection(
    session,
    {
      send: (p) => {
        ffp.stamp(p);
        sent.push(p);
      },
      drop: () => {},
      closeAfterLogout: () => {},
      execute: (cmd) => new Promise((done) => started.push({ cmd, done })),
      tmf,
      text: new TargetTextResponder({ sendTargets: () => [] }),
      clock,
      log: silent,
      congested: () => state.congested,
    },
    { cid: 0, statSN: 1, connection: { ...defaultConnectionParams(), maxSendDataSegmentLength: 262144 }, maxReadInFlight: o.maxReadInFlight },
  );
  let cmdSN = 1;
  let itt = 1;
  const feed = (p: InitiatorPdu): void => ffp.handle(p, encodePduToBuffer(p).subarray(0, 48));
  const read = (bytes: number): number => {
    const cdb = Buffer.alloc(10);
    cdb[0] = 0x28;
    cdb.writeUInt16BE(bytes / 512, 7);
    const cmd: ScsiCommandPdu = {
      opcode: Opcode.ScsiCommand, immediate: false, final: true, read: true, write: false, attr: 1, lun: lunToField(0),
      itt: itt++, expectedDataTransferLength: bytes, cmdSN: cmdSN++, expStatSN: 0, cdb, data: Buffer.alloc(0),
    };
    feed(cmd);
    return cmd.itt;
  };
  const tur = (): number => {
    const cmd: ScsiCommandPdu = {
      opcode: Opcode.ScsiCommand, immediate: false, final: true, read: false, write: false, attr: 1, lun: lunToField(0),
      itt: itt++, expectedDataTransferLength: 0, cmdSN: cmdSN++, expStatSN: 0, cdb: Buffer.alloc(6), data: Buffer.alloc(0),
    };
    feed(cmd);
    return cmd.itt;
  };
  const abortTask = (ref: number): void =>
    feed({ opcode: Opcode.TaskManagementRequest, immediate: true, function: TmfFunction.AbortTask, lun: lunToField(0), itt: itt++, referencedTaskTag: ref, cmdSN, expStatSN: 0, refCmdSN: 0, expDataSN: 0 });
  const finish = (i: number): void => {
    const s = started[i]!;
    s.done({ status: 0, data: Buffer.alloc(s.cmd.dataInLength) });
  };
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
  };
  return { ffp, started, sent, state, read, tur, abortTask, finish, settle, session };
}

const itts = (xs: { cmd: ScsiCommand }[]): number[] => xs.map((s) => s.cmd.taskTag);

describe('read budget of a target connection', () => {
  it('starts reads only while their Data-In fits the budget; the others wait', () => {
    const e = engine({ maxReadInFlight: 32 * MiB });
    for (let i = 0; i < 16; i++) e.read(8 * MiB);
    expect(e.started).toHaveLength(4);
    expect(e.ffp.readBytesInFlight).toBe(32 * MiB);
    expect(e.session.tasks.size).toBe(16);
  });

  it('starts the next waiting read when one finishes, in arrival order', async () => {
    const e = engine({ maxReadInFlight: 32 * MiB });
    for (let i = 0; i < 6; i++) e.read(8 * MiB);
    e.finish(0);
    await e.settle();
    expect(itts(e.started)).toEqual([1, 2, 3, 4, 5]);
    expect(e.ffp.readBytesInFlight).toBe(32 * MiB);
  });

  it('lets one read through even when it alone exceeds the budget', () => {
    const e = engine({ maxReadInFlight: 1 * MiB });
    e.read(8 * MiB);
    e.read(512);
    expect(itts(e.started)).toEqual([1]);
  });

  it('starts no read while the socket is congested, and the waiting ones once it drains', () => {
    const e = engine({ maxReadInFlight: 32 * MiB });
    e.state.congested = true;
    e.read(4096);
    e.read(4096);
    expect(e.started).toHaveLength(0);
    e.state.congested = false;
    e.ffp.outputDrained();
    expect(itts(e.started)).toEqual([1, 2]);
  });

  it('keeps arrival order: a command without data waits behind a waiting read', async () => {
    const e = engine({ maxReadInFlight: 8 * MiB });
    e.read(8 * MiB);
    e.read(8 * MiB);
    e.tur();
    expect(itts(e.started)).toEqual([1]);
    e.finish(0);
    await e.settle();
    expect(itts(e.started)).toEqual([1, 2, 3]);
  });

  it('answers ABORT TASK for a waiting read at once; the read never reaches the SCSI layer', async () => {
    const e = engine({ maxReadInFlight: 8 * MiB });
    e.read(8 * MiB);
    const waiting = e.read(8 * MiB);
    e.abortTask(waiting);
    await e.settle();
    const r = e.sent.find((p) => p.opcode === Opcode.TaskManagementResponse);
    expect(r).toMatchObject({ response: TmfResponse.FunctionComplete });
    e.finish(0);
    await e.settle();
    expect(itts(e.started)).toEqual([1]);
    expect(e.ffp.readBytesInFlight).toBe(0);
  });

  it('stops with reads waiting: they are dropped and stop() resolves', async () => {
    const e = engine({ maxReadInFlight: 8 * MiB });
    e.read(8 * MiB);
    e.read(8 * MiB);
    e.read(8 * MiB);
    const stopped = e.ffp.stop('test');
    e.finish(0);
    await stopped;
    expect(itts(e.started)).toEqual([1]);
    expect(e.session.tasks.size).toBe(0);
  });
});
