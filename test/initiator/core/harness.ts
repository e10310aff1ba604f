// A target in a test's hands: the InitiatorCore is fed PDUs written here and its output is collected.
// Time is a ManualClock; nothing touches a socket.

import { InitiatorCore, type CoreOptions, type LinkState } from '../../../src/initiator/core/initiator-core.js';
import type { SessionEvent } from '../../../src/initiator/events.js';
import { Opcode, RESERVED_TAG } from '../../../src/pdu/constants.js';
import type {
  DataInPdu,
  InitiatorPdu,
  NopInPdu,
  R2TPdu,
  ScsiCommandPdu,
  ScsiResponsePdu,
  TargetPdu,
  TaskManagementRequestPdu,
  TaskManagementResponsePdu,
} from '../../../src/pdu/types.js';
import { ManualClock } from '../../../src/util/clock.js';
import { defaultConnectionParams, defaultSessionParams, type ConnectionParams, type SessionParams } from '../../../src/login/keys.js';
import type { NegotiatedParams } from '../../../src/login/policy.js';

export const LUN1 = 0x0001000000000000n;
const EMPTY = Buffer.alloc(0);

export interface HarnessOptions extends Partial<Omit<CoreOptions, 'clock' | 'onLinkFailure' | 'onEvent'>> {
  session?: Partial<SessionParams>;
  connection?: Partial<ConnectionParams>;
  /** Commands the target's window holds (MaxCmdSN = ExpCmdSN + window - 1). */
  window?: number;
  /** First CmdSN. */
  cmdSN?: number;
  attach?: boolean;
}

export function params(session: Partial<SessionParams> = {}, connection: Partial<ConnectionParams> = {}): NegotiatedParams {
  return {
    session: { ...defaultSessionParams(), ...session },
    connection: { ...defaultConnectionParams(), maxRecvDataSegmentLength: 262144, maxSendDataSegmentLength: 8192, ...connection },
  };
}

export class Harness {
  readonly clock = new ManualClock();
  readonly sent: InitiatorPdu[] = [];
  readonly failures: Error[] = [];
  readonly events: SessionEvent[] = [];
  readonly core: InitiatorCore;
  congested = false;
  /** The target's view of the numbering. */
  statSN = 100;
  expCmdSN: number;
  window: number;
  readonly params: NegotiatedParams;
  readonly link = {
    send: (p: InitiatorPdu): void => void this.sent.push(p),
    congested: false,
  };

  constructor(o: HarnessOptions = {}) {
    this.window = o.window ?? 64;
    this.expCmdSN = o.cmdSN ?? 1;
    const h = this;
    Object.defineProperty(this.link, 'congested', { get: () => h.congested });
    this.core = new InitiatorCore({
      queueDepth: o.queueDepth ?? 16,
      lockMode: o.lockMode ?? 'split',
      clock: this.clock,
      tickMs: o.tickMs ?? 100,
      keepalive: o.keepalive ?? { interval: 5000, timeout: 5000, windowStall: 1000 },
      tmfTimeout: o.tmfTimeout ?? 2000,
      unitAttentionRetries: o.unitAttentionRetries ?? 3,
      onLinkFailure: (e) => {
        this.failures.push(e);
      },
      onEvent: (e) => void this.events.push(e),
    });
    this.params = params(o.session, o.connection);
    if (o.attach !== false) this.attach();
  }

  attach(state: Partial<LinkState> = {}): void {
    this.core.attach(this.link, { params: this.params, expCmdSN: this.expCmdSN, maxCmdSN: this.maxCmdSN, statSN: this.statSN, ...state });
  }

  get maxCmdSN(): number {
    return (this.expCmdSN + this.window - 1) >>> 0;
  }

  /** Removes and returns what the core sent (optionally only one opcode). */
  take<O extends InitiatorPdu['opcode']>(opcode?: O): Extract<InitiatorPdu, { opcode: O }>[] {
    const out: InitiatorPdu[] = [];
    for (let i = 0; i < this.sent.length; ) {
      if (opcode === undefined || this.sent[i]!.opcode === opcode) out.push(...this.sent.splice(i, 1));
      else i++;
    }
    return out as Extract<InitiatorPdu, { opcode: O }>[];
  }

  commands(): ScsiCommandPdu[] {
    const cmds = this.take(Opcode.ScsiCommand);
    // The target's ExpCmdSN follows what it received.
    for (const c of cmds) if (((c.cmdSN - this.expCmdSN) | 0) >= 0) this.expCmdSN = (c.cmdSN + 1) >>> 0;
    return cmds;
  }

  feed(pdu: TargetPdu): void {
    this.core.receive(pdu);
  }

  #sn(): { expCmdSN: number; maxCmdSN: number } {
    return { expCmdSN: this.expCmdSN, maxCmdSN: this.maxCmdSN };
  }

  dataIn(cmd: { itt: number }, o: Partial<DataInPdu> & { data: Buffer }): DataInPdu {
    const status = o.statusPresent === true;
    const p: DataInPdu = {
      opcode: Opcode.DataIn,
      final: o.final ?? status,
      acknowledge: false,
      residualOverflow: false,
      residualUnderflow: false,
      statusPresent: status,
      status: 0,
      lun: LUN1,
      itt: cmd.itt,
      ttt: RESERVED_TAG,
      statSN: status ? this.statSN++ : this.statSN,
      ...this.#sn(),
      dataSN: 0,
      bufferOffset: 0,
      residualCount: 0,
      ...o,
    };
    this.feed(p);
    return p;
  }

  response(cmd: { itt: number }, o: Partial<ScsiResponsePdu> = {}): ScsiResponsePdu {
    const p: ScsiResponsePdu = {
      opcode: Opcode.ScsiResponse,
      bidiReadResidualOverflow: false,
      bidiReadResidualUnderflow: false,
      residualOverflow: false,
      residualUnderflow: false,
      response: 0,
      status: 0,
      itt: cmd.itt,
      snackTag: 0,
      statSN: this.statSN++,
      ...this.#sn(),
      expDataSN: 0,
      bidiReadResidualCount: 0,
      residualCount: 0,
      sense: EMPTY,
      responseData: EMPTY,
      ...o,
    };
    this.feed(p);
    return p;
  }

  r2t(cmd: { itt: number }, o: Partial<R2TPdu> & { bufferOffset: number; desiredDataTransferLength: number }): R2TPdu {
    const p: R2TPdu = { opcode: Opcode.R2T, lun: LUN1, itt: cmd.itt, ttt: 0x1000, statSN: this.statSN, ...this.#sn(), r2tSN: 0, ...o };
    this.feed(p);
    return p;
  }

  nopIn(o: Partial<NopInPdu> = {}): NopInPdu {
    const p: NopInPdu = { opcode: Opcode.NopIn, lun: 0n, itt: RESERVED_TAG, ttt: RESERVED_TAG, statSN: this.statSN, ...this.#sn(), data: EMPTY, ...o };
    if (p.itt !== RESERVED_TAG && o.statSN === undefined) p.statSN = this.statSN++;
    this.feed(p);
    return p;
  }

  tmfResponse(req: TaskManagementRequestPdu, response = 0): TaskManagementResponsePdu {
    const p: TaskManagementResponsePdu = { opcode: Opcode.TaskManagementResponse, response, itt: req.itt, statSN: this.statSN++, ...this.#sn(), additionalResponseInformation: 0 };
    this.feed(p);
    return p;
  }
}

/** Lets settled promises' callbacks run. */
export function flush(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

/** Follows a promise: after `await flush()`, `state` says where it is. */
export interface Tracked<T> {
  state: 'pending' | 'fulfilled' | 'rejected';
  value: T | undefined;
  error: unknown;
}

export function track<T>(p: Promise<T>): Tracked<T> {
  const t: Tracked<T> = { state: 'pending', value: undefined, error: undefined };
  p.then(
    (v) => {
      t.state = 'fulfilled';
      t.value = v;
    },
    (e: unknown) => {
      t.state = 'rejected';
      t.error = e;
    },
  );
  return t;
}

/** Fixed-format sense data: key, ASC, ASCQ. */
export function sense(key: number, asc: number, ascq: number): Buffer {
  const b = Buffer.alloc(18);
  b[0] = 0x70;
  b[2] = key;
  b[7] = 10;
  b[12] = asc;
  b[13] = ascq;
  return b;
}

export const READ10 = Buffer.from('28000000000000000800', 'hex');
export const WRITE10 = Buffer.from('2a000000000000000800', 'hex');
