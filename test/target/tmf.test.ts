// Task management on the target (RFC 7143 §11.5, RFC 7144, SAM-5 §7): aborted tasks are told to the
// logical units before the wait, the answer comes once they are finished, their ITT is free after it.

import { describe, expect, it } from 'vitest';
import { Opcode, TmfFunction, TmfResponse } from '../../src/pdu/constants.js';
import { lunToField } from '../../src/pdu/lun.js';
import type { TaskManagementRequestPdu } from '../../src/pdu/types.js';
import { AbortError } from '../../src/errors.js';
import type { ScsiCommand, ScsiResponse } from '../../src/scsi/types.js';
import { command, harness, ofType } from './harness.js';

function tmf(fn: number, over: Partial<TaskManagementRequestPdu> = {}): TaskManagementRequestPdu {
  return {
    opcode: Opcode.TaskManagementRequest,
    immediate: true,
    function: fn,
    lun: lunToField(0),
    itt: 1000,
    referencedTaskTag: 0xffffffff,
    cmdSN: 0,
    expStatSN: 0,
    refCmdSN: 0,
    expDataSN: 0,
    ...over,
  };
}

/** A SCSI layer whose commands hang until aborted, recording what it saw and when. */
function slowLayer(events: string[]) {
  const running: ScsiCommand[] = [];
  const execute = (cmd: ScsiCommand): Promise<ScsiResponse> =>
    new Promise((resolve, reject) => {
      running.push(cmd);
      events.push(`start ${cmd.taskTag}`);
      cmd.signal.addEventListener('abort', () => {
        events.push(`signal ${cmd.taskTag}`);
        // The backend gives up a little later, as a real one would.
        setImmediate(() => {
          events.push(`finished ${cmd.taskTag}`);
          reject(new AbortError());
        });
      });
      void resolve;
    });
  return { execute, running };
}

describe('ABORT TASK', () => {
  it('aborts a running task, tells the backend before waiting, answers after the task finished', async () => {
    const events: string[] = [];
    const layer = slowLayer(events);
    const h = harness({ execute: layer.execute });
    h.feed(command({ cmdSN: 10, itt: 7 }));
    await h.settle();
    h.feed(tmf(TmfFunction.AbortTask, { referencedTaskTag: 7, cmdSN: 11, refCmdSN: 10 }));
    events.push('tmf received');
    expect(h.notices).toEqual([{ type: 'abort-task', lun: 0, aborted: [{ sessionId: h.session.id, itt: 7 }] }]);
    events.push('notified');
    expect(ofType(h.take(), Opcode.TaskManagementResponse)).toHaveLength(0);
    await h.settle();
    const out = h.take();
    const [r] = ofType(out, Opcode.TaskManagementResponse);
    expect(r!.response).toBe(TmfResponse.FunctionComplete);
    // The aborted task never answers for itself.
    expect(ofType(out, Opcode.ScsiResponse)).toHaveLength(0);
    expect(events).toEqual(['start 7', 'signal 7', 'tmf received', 'notified', 'finished 7']);
  });

  it('accepts a new command with the aborted ITT once the TMF is answered', async () => {
    const events: string[] = [];
    const layer = slowLayer(events);
    let slow = true;
    const h = harness({ execute: (c) => (slow ? layer.execute(c) : Promise.resolve({ status: 0 })) });
    h.feed(command({ cmdSN: 10, itt: 7 }));
    h.feed(tmf(TmfFunction.AbortTask, { referencedTaskTag: 7, cmdSN: 11, refCmdSN: 10 }));
    await h.settle();
    h.take();
    slow = false;
    h.feed(command({ cmdSN: 11, itt: 7 }));
    await h.settle();
    expect(ofType(h.take(), Opcode.ScsiResponse).map((r) => [r.itt, r.status])).toEqual([[7, 0]]);
  });

  it('answers "task does not exist" for a task that already completed (never silence)', async () => {
    const h = harness();
    h.feed(command({ cmdSN: 10, itt: 7 }));
    await h.settle();
    h.take();
    h.feed(tmf(TmfFunction.AbortTask, { referencedTaskTag: 7, cmdSN: 11, refCmdSN: 10 }));
    await h.settle();
    expect(ofType(h.take(), Opcode.TaskManagementResponse)[0]!.response).toBe(TmfResponse.TaskDoesNotExist);
  });

  it('treats a command not yet received but inside the window as received and discards it (RFC 7143 §11.6.1)', async () => {
    const h = harness();
    h.feed(tmf(TmfFunction.AbortTask, { referencedTaskTag: 7, cmdSN: 11, refCmdSN: 10 }));
    await h.settle();
    expect(ofType(h.take(), Opcode.TaskManagementResponse)[0]!.response).toBe(TmfResponse.FunctionComplete);
    expect(h.session.expCmdSN).toBe(11);
    // The late command is outside the window now: never executed.
    h.feed(command({ cmdSN: 10, itt: 7 }));
    await h.settle();
    expect(ofType(h.take(), Opcode.ScsiResponse)).toHaveLength(0);
  });

  it('finishes a task still waiting for Data-Out without it ever reaching the SCSI layer', async () => {
    let executed = 0;
    const h = harness({ session: { initialR2T: true, immediateData: false }, execute: async () => (executed++, { status: 0 }) });
    h.feed(command({ cmdSN: 10, itt: 7, write: true, expectedDataTransferLength: 512, cdb: Buffer.from('2a00000000000000010000000000000000', 'hex').subarray(0, 16) }));
    expect(ofType(h.take(), Opcode.R2T)).toHaveLength(1);
    h.feed(tmf(TmfFunction.AbortTask, { referencedTaskTag: 7, cmdSN: 11, refCmdSN: 10 }));
    await h.settle();
    expect(ofType(h.take(), Opcode.TaskManagementResponse)[0]!.response).toBe(TmfResponse.FunctionComplete);
    expect(executed).toBe(0);
  });
});

describe('other task management functions', () => {
  it('LOGICAL UNIT RESET aborts every task on the LUN and leaves a unit attention', async () => {
    const events: string[] = [];
    const layer = slowLayer(events);
    const h = harness({ execute: layer.execute });
    for (let i = 0; i < 3; i++) h.feed(command({ cmdSN: 10 + i, itt: 20 + i }));
    await h.settle();
    h.feed(tmf(TmfFunction.LogicalUnitReset));
    await h.settle();
    expect(ofType(h.take(), Opcode.TaskManagementResponse)[0]!.response).toBe(TmfResponse.FunctionComplete);
    expect(events.filter((e) => e.startsWith('finished'))).toHaveLength(3);
    expect(h.device.get(0)!.pendingUnitAttentions(h.session.nexus!.id)).toContain(0x2903);
  });

  it('answers LUN does not exist for a LUN-scoped function on a missing LUN', async () => {
    const h = harness();
    h.feed(tmf(TmfFunction.LogicalUnitReset, { lun: lunToField(9) }));
    await h.settle();
    expect(ofType(h.take(), Opcode.TaskManagementResponse)[0]!.response).toBe(TmfResponse.LunDoesNotExist);
  });

  it('QUERY TASK says whether a task exists (RFC 7144)', async () => {
    const h = harness({ execute: () => new Promise(() => {}) });
    h.feed(command({ cmdSN: 10, itt: 7 }));
    h.feed(tmf(TmfFunction.QueryTask, { referencedTaskTag: 7 }));
    h.feed(tmf(TmfFunction.QueryTask, { itt: 1001, referencedTaskTag: 8 }));
    await h.settle();
    expect(ofType(h.take(), Opcode.TaskManagementResponse).map((r) => r.response)).toEqual([TmfResponse.FunctionSucceeded, TmfResponse.FunctionComplete]);
  });

  it('QUERY ASYNCHRONOUS EVENT reports a pending unit attention in the additional response information', async () => {
    const h = harness();
    h.device.get(0)!.establishUnitAttention(0x2a09);
    h.feed(tmf(TmfFunction.QueryAsyncEvent));
    await h.settle();
    const [r] = ofType(h.take(), Opcode.TaskManagementResponse);
    expect(r!.response).toBe(TmfResponse.FunctionSucceeded);
    // UADE DEPTH 01b (one condition pending), SENSE KEY 6, ASC 2Ah, ASCQ 09h.
    expect(r!.additionalResponseInformation).toBe(0x162a09);
  });

  it('TASK REASSIGN is answered as unsupported at ERL 0', async () => {
    const h = harness();
    h.feed(tmf(TmfFunction.TaskReassign, { referencedTaskTag: 7 }));
    await h.settle();
    expect(ofType(h.take(), Opcode.TaskManagementResponse)[0]!.response).toBe(TmfResponse.TaskAllegianceReassignmentNotSupported);
  });

  it('TARGET COLD RESET answers first, then drops every connection', async () => {
    const h = harness();
    h.feed(tmf(TmfFunction.TargetColdReset));
    await h.settle();
    expect(ofType(h.take(), Opcode.TaskManagementResponse)[0]!.response).toBe(TmfResponse.FunctionComplete);
    expect(h.dropped).toEqual(['TARGET COLD RESET']);
  });

  it('every function gets an answer', async () => {
    const h = harness();
    for (let fn = 1; fn <= 12; fn++) h.feed(tmf(fn, { itt: 2000 + fn }));
    await h.settle();
    expect(ofType(h.take(), Opcode.TaskManagementResponse).map((r) => r.itt).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 12 }, (_, i) => 2001 + i),
    );
  });
});
