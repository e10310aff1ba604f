// fast-check generators of valid PDUs of every opcode, for round-trip and framing properties.

import fc from 'fast-check';
import { Opcode, type Pdu } from '../../src/pdu/index.js';

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const lun = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const data = (max = 300) => fc.uint8Array({ maxLength: max }).map((a) => Buffer.from(a));
const isid = fc.uint8Array({ minLength: 6, maxLength: 6 }).map((a) => Buffer.from(a).toString('hex'));
const stage = fc.constantFrom(0, 1);
const tag = u32.filter((t) => t !== 0xffffffff);

export const nopOut = fc
  .record({ immediate: fc.boolean(), lun, itt: tag, ttt: u32, cmdSN: u32, expStatSN: u32, data: data() })
  .map((r) => ({ opcode: Opcode.NopOut, ...r }) as Pdu);

export const nopIn = fc
  .record({ lun, itt: tag, statSN: u32, expCmdSN: u32, maxCmdSN: u32, data: data() })
  .map((r) => ({ opcode: Opcode.NopIn, ttt: 0xffffffff, ...r }) as Pdu);

export const scsiCommand = fc
  .record({
    immediate: fc.boolean(),
    final: fc.boolean(),
    read: fc.boolean(),
    write: fc.boolean(),
    attr: fc.integer({ min: 0, max: 4 }),
    lun,
    itt: u32,
    expectedDataTransferLength: u32,
    cmdSN: u32,
    expStatSN: u32,
    cdb: fc.oneof(
      fc.uint8Array({ minLength: 16, maxLength: 16 }),
      fc.uint8Array({ minLength: 17, maxLength: 260 }),
    ).map((a) => Buffer.from(a)),
    bidi: fc.option(u32, { nil: undefined }),
    data: data(),
  })
  .map(({ bidi, ...r }) => {
    const p = { opcode: Opcode.ScsiCommand, ...r } as Pdu & { bidiReadExpectedDataTransferLength?: number };
    if (bidi !== undefined) p.bidiReadExpectedDataTransferLength = bidi;
    return p as Pdu;
  });

export const scsiResponse = fc
  .record({
    bidiReadResidualOverflow: fc.boolean(),
    residualOverflow: fc.boolean(),
    response: fc.constantFrom(0, 1),
    status: fc.integer({ min: 0, max: 255 }),
    itt: u32,
    snackTag: u32,
    statSN: u32,
    expCmdSN: u32,
    maxCmdSN: u32,
    expDataSN: u32,
    bidiReadResidualCount: u32,
    residualCount: u32,
    sense: data(96),
    responseData: data(20),
  })
  .map((r) => ({
    opcode: Opcode.ScsiResponse,
    ...r,
    bidiReadResidualUnderflow: !r.bidiReadResidualOverflow && r.bidiReadResidualCount % 2 === 1,
    residualUnderflow: !r.residualOverflow && r.residualCount % 2 === 1,
    responseData: r.sense.length === 0 ? Buffer.alloc(0) : r.responseData,
  }) as Pdu);

export const tmfRequest = fc
  .record({
    immediate: fc.boolean(),
    function: fc.integer({ min: 1, max: 12 }),
    lun,
    itt: u32,
    referencedTaskTag: u32,
    cmdSN: u32,
    expStatSN: u32,
    refCmdSN: u32,
    expDataSN: u32,
  })
  .map((r) => ({ opcode: Opcode.TaskManagementRequest, ...r }) as Pdu);

export const tmfResponse = fc
  .record({
    response: fc.constantFrom(0, 1, 2, 3, 4, 5, 6, 7, 255),
    itt: u32,
    statSN: u32,
    expCmdSN: u32,
    maxCmdSN: u32,
    additionalResponseInformation: fc.integer({ min: 0, max: 0xffffff }),
  })
  .map((r) => ({ opcode: Opcode.TaskManagementResponse, ...r }) as Pdu);

const loginCommon = {
  transit: fc.boolean(),
  csg: stage,
  nsg: fc.constantFrom(1, 3),
  versionMax: fc.integer({ min: 0, max: 255 }),
  isid,
  tsih: u16,
  itt: u32,
  data: data(),
};

export const loginRequest = fc
  .record({ ...loginCommon, versionMin: fc.integer({ min: 0, max: 255 }), cid: u16, cmdSN: u32, expStatSN: u32 })
  .map((r) => ({ opcode: Opcode.LoginRequest, ...r, continue: false, nsg: r.transit ? r.nsg : 0 }) as Pdu);

export const loginResponse = fc
  .record({
    ...loginCommon,
    versionActive: fc.integer({ min: 0, max: 255 }),
    statSN: u32,
    expCmdSN: u32,
    maxCmdSN: u32,
    statusClass: fc.integer({ min: 0, max: 3 }),
    statusDetail: fc.integer({ min: 0, max: 255 }),
    cont: fc.boolean(),
  })
  .map(({ cont, ...r }) => ({ opcode: Opcode.LoginResponse, ...r, continue: !r.transit && cont, nsg: r.transit ? r.nsg : 0 }) as Pdu);

export const textRequest = fc
  .record({ immediate: fc.boolean(), final: fc.boolean(), lun, itt: u32, ttt: u32, cmdSN: u32, expStatSN: u32, data: data() })
  .map((r) => ({ opcode: Opcode.TextRequest, ...r, continue: !r.final }) as Pdu);

export const textResponse = fc
  .record({ final: fc.boolean(), lun, itt: u32, ttt: u32, statSN: u32, expCmdSN: u32, maxCmdSN: u32, data: data() })
  .map((r) => ({ opcode: Opcode.TextResponse, ...r, continue: !r.final }) as Pdu);

export const dataOut = fc
  .record({ final: fc.boolean(), lun, itt: u32, ttt: u32, expStatSN: u32, dataSN: u32, bufferOffset: u32, data: data(2000) })
  .map((r) => ({ opcode: Opcode.DataOut, ...r }) as Pdu);

export const dataIn = fc
  .record({
    final: fc.boolean(),
    acknowledge: fc.boolean(),
    statusPresent: fc.boolean(),
    over: fc.boolean(),
    status: fc.integer({ min: 0, max: 255 }),
    lun,
    itt: u32,
    ttt: u32,
    statSN: u32,
    expCmdSN: u32,
    maxCmdSN: u32,
    dataSN: u32,
    bufferOffset: u32,
    residualCount: u32,
    data: data(2000),
  })
  .map(({ over, ...r }) => {
    const s = r.statusPresent;
    return {
      opcode: Opcode.DataIn,
      ...r,
      final: s ? true : r.final,
      status: s ? r.status : 0,
      residualOverflow: s && over,
      residualUnderflow: s && !over,
    } as Pdu;
  });

export const logoutRequest = fc
  .record({ immediate: fc.boolean(), reasonCode: fc.integer({ min: 0, max: 2 }), itt: u32, cid: u16, cmdSN: u32, expStatSN: u32 })
  .map((r) => ({ opcode: Opcode.LogoutRequest, ...r }) as Pdu);

export const logoutResponse = fc
  .record({ response: fc.integer({ min: 0, max: 3 }), itt: u32, statSN: u32, expCmdSN: u32, maxCmdSN: u32, time2Wait: u16, time2Retain: u16 })
  .map((r) => ({ opcode: Opcode.LogoutResponse, ...r }) as Pdu);

export const r2t = fc
  .record({
    lun,
    itt: u32,
    ttt: tag,
    statSN: u32,
    expCmdSN: u32,
    maxCmdSN: u32,
    r2tSN: u32,
    bufferOffset: u32,
    desiredDataTransferLength: fc.integer({ min: 1, max: 0xffffffff }),
  })
  .map((r) => ({ opcode: Opcode.R2T, ...r }) as Pdu);

export const snack = fc
  .record({ type: fc.integer({ min: 0, max: 3 }), lun, itt: u32, ttt: u32, expStatSN: u32, begRun: u32, runLength: u32 })
  .map((r) => ({ opcode: Opcode.SnackRequest, ...r }) as Pdu);

export const asyncMessage = fc
  .record({
    lun,
    statSN: u32,
    expCmdSN: u32,
    maxCmdSN: u32,
    asyncEvent: fc.constantFrom(0, 1, 2, 3, 4, 255),
    asyncVCode: fc.integer({ min: 0, max: 255 }),
    parameter1: u16,
    parameter2: u16,
    parameter3: u16,
    sense: data(40),
    eventData: data(20),
  })
  .map((r) => ({ opcode: Opcode.AsyncMessage, ...r, eventData: r.sense.length === 0 ? Buffer.alloc(0) : r.eventData }) as Pdu);

export const reject = fc
  .record({
    reason: fc.integer({ min: 2, max: 12 }),
    statSN: u32,
    expCmdSN: u32,
    maxCmdSN: u32,
    dataSN: u32,
    data: fc.uint8Array({ minLength: 48, maxLength: 48 }).map((a) => Buffer.from(a)),
  })
  .map((r) => ({ opcode: Opcode.Reject, ...r }) as Pdu);

export const initiatorPdu = fc.oneof(nopOut, scsiCommand, tmfRequest, loginRequest, textRequest, dataOut, logoutRequest, snack);
export const targetPdu = fc.oneof(nopIn, scsiResponse, tmfResponse, loginResponse, textResponse, dataIn, logoutResponse, r2t, asyncMessage, reject);

export const ALL = {
  nopOut,
  nopIn,
  scsiCommand,
  scsiResponse,
  tmfRequest,
  tmfResponse,
  loginRequest,
  loginResponse,
  textRequest,
  textResponse,
  dataOut,
  dataIn,
  logoutRequest,
  logoutResponse,
  r2t,
  snack,
  asyncMessage,
  reject,
};
