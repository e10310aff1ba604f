// Data-In (RFC 7143 §11.7) and status (§11.4): sequence and offset checks, status collapse, residuals.
import { describe, expect, it } from 'vitest';
import { IscsiProtocolError, ScsiError } from '../../../src/errors.js';
import { Opcode, TmfFunction } from '../../../src/pdu/constants.js';
import { TargetFailureError } from '../../../src/initiator/errors.js';
import { Harness, LUN1, READ10, flush, sense, track } from './harness.js';

const bytes = (n: number, seed = 1): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff));

describe('Data-In', () => {
  it('hands over the data of a single Data-In with status without copying it (RFC 7143 §11.7.5)', async () => {
    const h = new Harness();
    const r = h.core.submit({ lun: LUN1, cdb: READ10, readLength: 4096 });
    const [cmd] = h.commands();
    expect(cmd).toMatchObject({ read: true, write: false, final: true, expectedDataTransferLength: 4096 });
    const data = bytes(4096);
    h.dataIn(cmd!, { data, statusPresent: true });
    const res = await r;
    expect(res.data.buffer).toBe(data.buffer);
    expect(res).toMatchObject({ status: 0, underflow: false, overflow: false, residualCount: 0 });
  });

  it('assembles several Data-In PDUs and takes the status from a separate SCSI Response', async () => {
    const h = new Harness();
    const r = h.core.submit({ lun: LUN1, cdb: READ10, readLength: 3000 });
    const [cmd] = h.commands();
    const data = bytes(3000);
    h.dataIn(cmd!, { data: data.subarray(0, 1000), dataSN: 0, bufferOffset: 0 });
    h.dataIn(cmd!, { data: data.subarray(1000, 2000), dataSN: 1, bufferOffset: 1000 });
    h.dataIn(cmd!, { data: data.subarray(2000), dataSN: 2, bufferOffset: 2000, final: true });
    h.response(cmd!, { expDataSN: 3 });
    expect((await r).data.equals(data)).toBe(true);
  });

  it('reads into the caller\'s buffer when given one', async () => {
    const h = new Harness();
    const into = Buffer.alloc(1024);
    const r = h.core.submit({ lun: LUN1, cdb: READ10, readLength: 1024, into });
    const [cmd] = h.commands();
    h.dataIn(cmd!, { data: bytes(1024), statusPresent: true });
    const res = await r;
    expect(res.data.buffer).toBe(into.buffer);
    expect(into.equals(bytes(1024))).toBe(true);
  });

  it('fails the command when a DataSN is skipped, and aborts it (RFC 7143 §11.7.4)', async () => {
    const h = new Harness();
    const r = h.core.submit({ lun: LUN1, cdb: READ10, readLength: 2048 });
    const [cmd] = h.commands();
    h.dataIn(cmd!, { data: bytes(1024), dataSN: 0 });
    h.dataIn(cmd!, { data: bytes(1024), dataSN: 2, bufferOffset: 1024 });
    const e = await r.catch((x: unknown) => x);
    expect(e).toBeInstanceOf(IscsiProtocolError);
    expect(e).toMatchObject({ code: 'ERR_DATA_IN_SEQUENCE' });
    const [tmf] = h.take(Opcode.TaskManagementRequest);
    expect(tmf).toMatchObject({ function: TmfFunction.AbortTask, referencedTaskTag: cmd!.itt, refCmdSN: cmd!.cmdSN, immediate: true });
    // Later PDUs for the aborted command are dropped; the ABORT TASK answer frees the slot.
    h.dataIn(cmd!, { data: bytes(1024), dataSN: 1, bufferOffset: 1024, statusPresent: true });
    expect(h.failures).toEqual([]);
    expect(h.core.busy).toBe(1);
    h.tmfResponse(tmf!);
    expect(h.core.busy).toBe(0);
  });

  it('fails the command on a Data-In at the wrong offset', async () => {
    const h = new Harness();
    const r = h.core.submit({ lun: LUN1, cdb: READ10, readLength: 2048 });
    const [cmd] = h.commands();
    h.dataIn(cmd!, { data: bytes(1024), dataSN: 0, bufferOffset: 512 });
    await expect(r).rejects.toMatchObject({ code: 'ERR_DATA_IN_OFFSET' });
  });

  it('fails the command on Data-In past the expected transfer length', async () => {
    const h = new Harness();
    const r = h.core.submit({ lun: LUN1, cdb: READ10, readLength: 1024 });
    const [cmd] = h.commands();
    h.dataIn(cmd!, { data: bytes(2048), statusPresent: true });
    await expect(r).rejects.toMatchObject({ code: 'ERR_DATA_IN_OVERRUN' });
  });

  it('fails a command that reads nothing when Data-In arrives', async () => {
    const h = new Harness();
    const r = h.core.submit({ lun: LUN1, cdb: READ10, readLength: 0 });
    const [cmd] = h.commands();
    h.dataIn(cmd!, { data: bytes(16), statusPresent: true });
    await expect(r).rejects.toMatchObject({ code: 'ERR_DATA_IN_UNEXPECTED' });
  });

  it('surfaces a residual underflow with the short data (RFC 7143 §11.4.5.1)', async () => {
    const h = new Harness();
    const r = h.core.submit({ lun: LUN1, cdb: READ10, readLength: 4096 });
    const [cmd] = h.commands();
    h.dataIn(cmd!, { data: bytes(1024), statusPresent: true, residualUnderflow: true, residualCount: 3072 });
    const res = await r;
    expect(res).toMatchObject({ underflow: true, overflow: false, residualCount: 3072 });
    expect(res.data.length).toBe(1024);
  });

  it('surfaces a residual overflow', async () => {
    const h = new Harness();
    const r = h.core.submit({ lun: LUN1, cdb: READ10, readLength: 36 });
    const [cmd] = h.commands();
    h.dataIn(cmd!, { data: bytes(36), final: true });
    h.response(cmd!, { residualOverflow: true, residualCount: 60 });
    expect(await r).toMatchObject({ overflow: true, residualCount: 60 });
  });

  it('fails a GOOD read whose data did not all arrive, without underflow', async () => {
    const h = new Harness();
    const r = h.core.submit({ lun: LUN1, cdb: READ10, readLength: 2048 });
    const [cmd] = h.commands();
    h.dataIn(cmd!, { data: bytes(1024), final: true });
    h.response(cmd!);
    await expect(r).rejects.toMatchObject({ code: 'ERR_DATA_IN_MISSING' });
  });

  it('turns CHECK CONDITION into a ScsiError with sense key, ASC/ASCQ and their names', async () => {
    const h = new Harness();
    const r = h.core.submit({ lun: LUN1, cdb: READ10, readLength: 512 });
    const [cmd] = h.commands();
    h.response(cmd!, { status: 2, sense: sense(0x05, 0x21, 0x00) });
    const e = (await r.catch((x: unknown) => x)) as ScsiError;
    expect(e).toBeInstanceOf(ScsiError);
    expect(e).toMatchObject({ status: 2, statusName: 'CHECK CONDITION', senseKey: 5, senseKeyName: 'ILLEGAL REQUEST', asc: 0x21, ascq: 0 });
    expect(e.ascName).toMatch(/LOGICAL BLOCK ADDRESS OUT OF RANGE/);
  });

  it('turns an iSCSI Target Failure response into TargetFailureError', async () => {
    const h = new Harness();
    const r = h.core.submit({ lun: LUN1, cdb: READ10, readLength: 0 });
    const [cmd] = h.commands();
    h.response(cmd!, { response: 1 });
    await expect(r).rejects.toBeInstanceOf(TargetFailureError);
  });

  it('sends a command again after a UNIT ATTENTION and reports the attention as an event', async () => {
    const h = new Harness();
    const r = track(h.core.submit({ lun: LUN1, cdb: READ10, readLength: 0 }));
    const [cmd] = h.commands();
    h.response(cmd!, { status: 2, sense: sense(0x06, 0x29, 0x00) });
    const [again] = h.commands();
    expect(again).toMatchObject({ itt: cmd!.itt, cmdSN: cmd!.cmdSN + 1 });
    h.response(again!);
    await flush();
    expect(r.state).toBe('fulfilled');
    expect(h.events).toContainEqual(expect.objectContaining({ type: 'unit-attention', lun: 1, asc: 0x29, ascq: 0 }));
  });

  it('stops retrying after the configured number of unit attentions', async () => {
    const h = new Harness({ unitAttentionRetries: 1 });
    const r = h.core.submit({ lun: LUN1, cdb: READ10, readLength: 0 });
    h.response(h.commands()[0]!, { status: 2, sense: sense(0x06, 0x29, 0x00) });
    h.response(h.commands()[0]!, { status: 2, sense: sense(0x06, 0x2a, 0x09) });
    await expect(r).rejects.toMatchObject({ senseKey: 6, asc: 0x2a });
  });

  it('advances ExpStatSN only on PDUs that carry status', () => {
    const h = new Harness();
    void h.core.submit({ lun: LUN1, cdb: READ10, readLength: 2048 });
    const [cmd] = h.commands();
    const before = h.core.expStatSN;
    h.dataIn(cmd!, { data: bytes(1024), statSN: 500 });
    expect(h.core.expStatSN).toBe(before);
    h.dataIn(cmd!, { data: bytes(1024), dataSN: 1, bufferOffset: 1024, statusPresent: true, statSN: 100 });
    expect(h.core.expStatSN).toBe(101);
  });
});
