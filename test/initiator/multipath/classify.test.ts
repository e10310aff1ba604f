// What becomes of a failed command (classify.ts): the caller gets the device's answers; path failures,
// ALUA refusals and transient conditions are sent again.
import { describe, expect, test } from 'vitest';
import { AbortError, ConnectionError, IscsiProtocolError, LoginError, TimeoutError } from '../../../src/errors.js';
import { CommandRejectedError, ResidualError, TargetFailureError } from '../../../src/initiator/errors.js';
import { aluaStateFromSense, failoverAction, unitAttentionMovesStates } from '../../../src/initiator/multipath/classify.js';
import { ALUA_STATE } from '../../../src/scsi/cdb/alua.js';
import { SENSE_KEY, STATUS } from '../../../src/scsi/constants.js';
import { scsiError } from './fake-path.js';

const check = (key: number, asc: number, ascq: number) => scsiError(STATUS.CHECK_CONDITION, key, asc, ascq);

describe('failoverAction', () => {
  test('a lost connection, a timeout, a target failure and a protocol violation fail the path', () => {
    expect(failoverAction(new ConnectionError('ERR_SESSION_LOST', 'gone'))).toBe('path');
    expect(failoverAction(new LoginError(3, 1, 'service unavailable'))).toBe('path');
    expect(failoverAction(new TimeoutError('timed out'))).toBe('path');
    expect(failoverAction(new TargetFailureError(1))).toBe('path');
    expect(failoverAction(new IscsiProtocolError('ERR_DATASN', 'DataSN skipped', { rule: 'RFC 7143 §11.7.3', action: 'drop' }))).toBe('path');
  });

  test('NOT READY, LOGICAL UNIT NOT ACCESSIBLE (04/0A, 04/0B, 04/0C) and NOT READY, OFFLINE (04/12) ask for the ALUA states', () => {
    for (const ascq of [0x0a, 0x0b, 0x0c, 0x12]) expect(failoverAction(check(SENSE_KEY.NOT_READY, 0x04, ascq))).toBe('alua');
    expect(failoverAction(check(SENSE_KEY.UNIT_ATTENTION, 0x2a, 0x06))).toBe('alua');
    expect(failoverAction(check(SENSE_KEY.UNIT_ATTENTION, 0x2a, 0x07))).toBe('alua');
  });

  test('BUSY, TASK SET FULL, TASK ABORTED, other unit attentions, becoming ready and ABORTED COMMAND are sent again', () => {
    expect(failoverAction(scsiError(STATUS.BUSY))).toBe('retry');
    expect(failoverAction(scsiError(STATUS.TASK_SET_FULL))).toBe('retry');
    expect(failoverAction(scsiError(STATUS.TASK_ABORTED))).toBe('retry');
    expect(failoverAction(check(SENSE_KEY.UNIT_ATTENTION, 0x29, 0x00))).toBe('retry');
    expect(failoverAction(check(SENSE_KEY.NOT_READY, 0x04, 0x01))).toBe('retry');
    expect(failoverAction(check(SENSE_KEY.ABORTED_COMMAND, 0x47, 0x00))).toBe('retry');
  });

  test("the device's own answers and the caller's abort go to the caller", () => {
    expect(failoverAction(check(SENSE_KEY.ILLEGAL_REQUEST, 0x21, 0x00))).toBe('fail');
    expect(failoverAction(check(SENSE_KEY.MEDIUM_ERROR, 0x11, 0x00))).toBe('fail');
    expect(failoverAction(check(SENSE_KEY.NOT_READY, 0x3a, 0x00))).toBe('fail');
    expect(failoverAction(check(SENSE_KEY.ABORTED_COMMAND, 0x10, 0x01))).toBe('fail');
    expect(failoverAction(check(SENSE_KEY.DATA_PROTECT, 0x27, 0x00))).toBe('fail');
    expect(failoverAction(scsiError(STATUS.RESERVATION_CONFLICT))).toBe('fail');
    expect(failoverAction(new AbortError())).toBe('fail');
    expect(failoverAction(new CommandRejectedError(4))).toBe('fail');
    expect(failoverAction(new ResidualError({ overflow: false, underflow: true, residualCount: 512, data: Buffer.alloc(0), expected: 512 }))).toBe('fail');
    expect(failoverAction(new IscsiProtocolError('ERR_TARGET_DATA', 'bad data', { rule: 'SPC-4', action: 'reject' }))).toBe('fail');
    expect(failoverAction(new RangeError('LBA -1'))).toBe('fail');
  });
});

describe('aluaStateFromSense', () => {
  test('names the state the port refused in', () => {
    expect(aluaStateFromSense(SENSE_KEY.NOT_READY, 0x04, 0x0a)).toBe(ALUA_STATE.TRANSITIONING);
    expect(aluaStateFromSense(SENSE_KEY.NOT_READY, 0x04, 0x0b)).toBe(ALUA_STATE.STANDBY);
    expect(aluaStateFromSense(SENSE_KEY.NOT_READY, 0x04, 0x0c)).toBe(ALUA_STATE.UNAVAILABLE);
    expect(aluaStateFromSense(SENSE_KEY.NOT_READY, 0x04, 0x12)).toBe(ALUA_STATE.OFFLINE);
    expect(aluaStateFromSense(SENSE_KEY.ILLEGAL_REQUEST, 0x04, 0x0b)).toBe(-1);
  });
});

describe('unitAttentionMovesStates', () => {
  test('the ALUA unit attentions, changed inquiry data and every reset re-read the states; others do not', () => {
    expect(unitAttentionMovesStates(0x2a, 0x06)).toBe(true);
    expect(unitAttentionMovesStates(0x2a, 0x07)).toBe(true);
    expect(unitAttentionMovesStates(0x3f, 0x03)).toBe(true);
    expect(unitAttentionMovesStates(0x29, 0x01)).toBe(true);
    expect(unitAttentionMovesStates(0x2a, 0x09)).toBe(false);
    expect(unitAttentionMovesStates(0x3f, 0x0e)).toBe(false);
  });
});
