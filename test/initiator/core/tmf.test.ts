// Task management from the initiator (RFC 7143 §11.5, §11.6): an aborted AbortSignal or an expired timeout
// sends ABORT TASK and rejects the command at once; an unanswered ABORT TASK escalates to LUN RESET, an
// unanswered LUN RESET to connection recovery.
import { describe, expect, it } from 'vitest';
import { AbortError, TimeoutError } from '../../../src/errors.js';
import { Opcode, TmfFunction, TmfResponse } from '../../../src/pdu/constants.js';
import { Harness, LUN1, READ10, flush, track } from './harness.js';

describe('aborting commands', () => {
  it('rejects with AbortError and sends ABORT TASK when the signal fires', async () => {
    const h = new Harness();
    const ac = new AbortController();
    const r = h.core.submit({ lun: LUN1, cdb: READ10, readLength: 512, signal: ac.signal });
    const [cmd] = h.commands();
    ac.abort();
    await expect(r).rejects.toBeInstanceOf(AbortError);
    const [tmf] = h.take(Opcode.TaskManagementRequest);
    expect(tmf).toMatchObject({ function: TmfFunction.AbortTask, lun: LUN1, referencedTaskTag: cmd!.itt, refCmdSN: cmd!.cmdSN, immediate: true });
    // The slot is held until the target answers; a response racing the abort is dropped.
    h.dataIn(cmd!, { data: Buffer.alloc(512), statusPresent: true });
    expect(h.core.busy).toBe(1);
    h.tmfResponse(tmf!, TmfResponse.TaskDoesNotExist);
    expect(h.core.busy).toBe(0);
    expect(h.failures).toEqual([]);
  });

  it('rejects at once with an already aborted signal, sending nothing', async () => {
    const h = new Harness();
    await expect(h.core.submit({ lun: LUN1, cdb: READ10, signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError);
    expect(h.sent).toEqual([]);
  });

  it('drops a command that was never sent without any TMF', async () => {
    const h = new Harness({ window: 0 });
    const ac = new AbortController();
    const r = h.core.submit({ lun: LUN1, cdb: READ10, signal: ac.signal });
    ac.abort();
    await expect(r).rejects.toBeInstanceOf(AbortError);
    expect(h.sent).toEqual([]);
    expect(h.core.busy).toBe(0);
  });

  it('times out with TimeoutError and aborts the task', async () => {
    const h = new Harness();
    const r = track(h.core.submit({ lun: LUN1, cdb: READ10, readLength: 512, timeout: 1000 }));
    h.commands();
    h.clock.advance(900);
    await flush();
    expect(r.state).toBe('pending');
    h.clock.advance(200);
    await flush();
    expect(r.state).toBe('rejected');
    expect(r.error).toBeInstanceOf(TimeoutError);
    expect((r.error as Error).message).toMatch(/READ\(10\) timed out after 1000 ms/);
    expect(h.take(Opcode.TaskManagementRequest)).toHaveLength(1);
  });

  it('escalates an unanswered ABORT TASK to LOGICAL UNIT RESET, and that to connection recovery', async () => {
    const h = new Harness({ tmfTimeout: 2000 });
    const r = h.core.submit({ lun: LUN1, cdb: READ10, readLength: 512, timeout: 1000 });
    h.commands();
    h.clock.advance(1100);
    await expect(r).rejects.toBeInstanceOf(TimeoutError);
    expect(h.take(Opcode.TaskManagementRequest).map((t) => t.function)).toEqual([TmfFunction.AbortTask]);
    h.clock.advance(2100);
    expect(h.take(Opcode.TaskManagementRequest).map((t) => t.function)).toEqual([TmfFunction.LogicalUnitReset]);
    expect(h.failures).toEqual([]);
    h.clock.advance(2100);
    expect(h.failures).toHaveLength(1);
    expect(h.failures[0]).toMatchObject({ code: 'ERR_TMF_TIMEOUT' });
  });

  it('after a LUN RESET, finishes aborted tasks and sends the other commands of the LU again', async () => {
    const h = new Harness({ tmfTimeout: 2000 });
    const ac = new AbortController();
    const a = h.core.submit({ lun: LUN1, cdb: READ10, signal: ac.signal });
    const b = track(h.core.submit({ lun: LUN1, cdb: READ10 }));
    const [ca, cb] = h.commands();
    ac.abort();
    await expect(a).rejects.toBeInstanceOf(AbortError);
    h.take(Opcode.TaskManagementRequest);
    h.clock.advance(2100);
    const [reset] = h.take(Opcode.TaskManagementRequest);
    expect(reset!.function).toBe(TmfFunction.LogicalUnitReset);
    h.tmfResponse(reset!);
    const [again] = h.commands();
    expect(again).toMatchObject({ itt: cb!.itt });
    expect(again!.cmdSN).toBeGreaterThan(cb!.cmdSN);
    h.response(again!);
    await flush();
    expect(b.state).toBe('fulfilled');
    expect(h.core.busy).toBe(0);
    void ca;
  });

  it('resets the LU when the target refuses the ABORT TASK', async () => {
    const h = new Harness();
    const ac = new AbortController();
    const r = h.core.submit({ lun: LUN1, cdb: READ10, signal: ac.signal });
    h.commands();
    ac.abort();
    await expect(r).rejects.toBeInstanceOf(AbortError);
    const [tmf] = h.take(Opcode.TaskManagementRequest);
    h.tmfResponse(tmf!, TmfResponse.FunctionRejected);
    expect(h.take(Opcode.TaskManagementRequest).map((t) => t.function)).toEqual([TmfFunction.LogicalUnitReset]);
  });

  it('lets the caller reset a LUN and wait for the answer', async () => {
    const h = new Harness();
    const p = h.core.lunReset(LUN1, 1000);
    const [tmf] = h.take(Opcode.TaskManagementRequest);
    h.tmfResponse(tmf!, TmfResponse.FunctionComplete);
    await expect(p).resolves.toBe(0);
    const q = h.core.lunReset(LUN1, 1000);
    const [tmf2] = h.take(Opcode.TaskManagementRequest);
    h.tmfResponse(tmf2!, TmfResponse.FunctionNotSupported);
    await expect(q).rejects.toMatchObject({ code: 'ERR_TMF' });
  });
});
