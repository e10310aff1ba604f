// A small iSCSI target for the initiator's tests: one memory disk as LUN 0, login through the project's
// TargetLoginNegotiator, READ/WRITE (immediate data and R2T), INQUIRY, READ CAPACITY, NOP, TMF, Logout.
// Hooks let a test make it misbehave: drop connections, stay silent, send odd PDUs.

import { createServer, type Server, type Socket } from 'node:net';
import { decodePdu, encodePdu } from '../../src/pdu/codec.js';
import { AsyncEvent, Opcode, RESERVED_TAG, TmfResponse } from '../../src/pdu/constants.js';
import { Framer } from '../../src/pdu/framer.js';
import { TextAssembler, encodeTextKeys } from '../../src/pdu/text-keys.js';
import type { DataOutPdu, InitiatorPdu, LoginRequestPdu, ScsiCommandPdu, TargetPdu } from '../../src/pdu/types.js';
import type { NegotiatedParams, NegotiationPolicy } from '../../src/login/policy.js';
import { TargetLoginNegotiator, type TargetAuthConfig } from '../../src/login/target-negotiator.js';

export const FAKE_IQN = 'iqn.2026-01.dev.tsiscsi.test:fake';

export interface FakeTargetOptions {
  blocks?: number;
  blockSize?: number;
  auth?: TargetAuthConfig;
  /** Commands the window holds. */
  window?: number;
  policy?: Partial<Omit<NegotiationPolicy, 'authMethod'>>;
  /** Called for each SCSI command before it runs: 'ignore' drops it silently. */
  onCommand?: (cmd: ScsiCommandPdu, conn: FakeConnection) => 'ignore' | undefined;
  /** Answer ABORT TASK (default true). */
  answerTmf?: boolean;
}

interface WriteState {
  cmd: ScsiCommandPdu;
  lba: number;
  buf: Buffer;
  got: number;
  nextR2T: number;
  r2tSN: number;
  outstanding: number;
}

export class FakeConnection {
  readonly socket: Socket;
  readonly #t: FakeTarget;
  readonly #framer: Framer;
  #login: TargetLoginNegotiator;
  #asm = new TextAssembler();
  #ffp = false;
  #params: NegotiatedParams | undefined;
  statSN = 1;
  expCmdSN = 0;
  readonly #writes = new Map<number, WriteState>();

  constructor(socket: Socket, t: FakeTarget) {
    this.socket = socket;
    this.#t = t;
    socket.setNoDelay(true);
    this.#login = new TargetLoginNegotiator({ ...(t.o.auth !== undefined && { auth: t.o.auth }), ...(t.o.policy !== undefined && { policy: t.o.policy }), portalGroupTag: 1 });
    this.#framer = new Framer({ onFrame: (f) => this.#pdu(decodePdu('initiator', f.bhs, f.ahs, f.data)), onError: () => socket.destroy() }, { maxRecvDataSegmentLength: 1 << 20 });
    socket.on('data', (c: Buffer) => this.#framer.push(c));
    socket.on('error', () => {});
    socket.on('close', () => t.connections.delete(this));
  }

  get maxCmdSN(): number {
    return (this.expCmdSN + (this.#t.o.window ?? 32) - 1) >>> 0;
  }

  send(pdu: TargetPdu): void {
    if (this.socket.destroyed) return;
    if ('expCmdSN' in pdu && pdu.opcode !== Opcode.LoginResponse) {
      (pdu as { expCmdSN: number }).expCmdSN = this.expCmdSN;
      (pdu as { maxCmdSN: number }).maxCmdSN = this.maxCmdSN;
    }
    const digests = this.#ffp && this.#params !== undefined ? { header: this.#params.connection.headerDigest === 'CRC32C', data: this.#params.connection.dataDigest === 'CRC32C' } : undefined;
    this.socket.cork();
    for (const b of encodePdu(pdu, digests)) this.socket.write(b);
    this.socket.uncork();
  }

  /** Asks the initiator to log out within `seconds` (RFC 7143 §11.9.1 AsyncEvent 1). */
  requestLogout(seconds: number): void {
    this.send({ opcode: Opcode.AsyncMessage, lun: 0n, statSN: this.statSN, expCmdSN: 0, maxCmdSN: 0, asyncEvent: AsyncEvent.LogoutRequest, asyncVCode: 0, parameter1: 0, parameter2: 0, parameter3: seconds, sense: Buffer.alloc(0), eventData: Buffer.alloc(0) });
  }

  #pdu(pdu: InitiatorPdu): void {
    if (!this.#ffp) {
      if (pdu.opcode === Opcode.LoginRequest) this.#onLogin(pdu);
      else this.socket.destroy();
      return;
    }
    this.#t.pdus++;
    if ('cmdSN' in pdu && !('immediate' in pdu && pdu.immediate)) this.expCmdSN = (pdu.cmdSN + 1) >>> 0;
    switch (pdu.opcode) {
      case Opcode.ScsiCommand:
        return this.#onCommand(pdu);
      case Opcode.DataOut:
        return this.#onDataOut(pdu);
      case Opcode.NopOut:
        if (pdu.itt !== RESERVED_TAG) this.send({ opcode: Opcode.NopIn, lun: pdu.lun, itt: pdu.itt, ttt: RESERVED_TAG, statSN: this.statSN++, expCmdSN: 0, maxCmdSN: 0, data: pdu.data });
        return;
      case Opcode.TaskManagementRequest:
        this.#t.tmfs.push(pdu.function);
        if (this.#t.o.answerTmf === false) return;
        this.#writes.delete(pdu.referencedTaskTag);
        this.send({ opcode: Opcode.TaskManagementResponse, response: TmfResponse.FunctionComplete, itt: pdu.itt, statSN: this.statSN++, expCmdSN: 0, maxCmdSN: 0, additionalResponseInformation: 0 });
        return;
      case Opcode.TextRequest: {
        // SendTargets (RFC 7143 Appendix C): this target, at the address the initiator reached.
        const keys = new TextAssembler().push(pdu.data, pdu.continue) ?? [];
        const data = keys.some(([k]) => k === 'SendTargets') ? encodeTextKeys([['TargetName', FAKE_IQN], ['TargetAddress', `127.0.0.1:${this.#t.port},1`]]) : Buffer.alloc(0);
        this.send({ opcode: Opcode.TextResponse, final: true, continue: false, lun: 0n, itt: pdu.itt, ttt: RESERVED_TAG, statSN: this.statSN++, expCmdSN: 0, maxCmdSN: 0, data });
        return;
      }
      case Opcode.LogoutRequest:
        this.#t.logouts++;
        this.send({ opcode: Opcode.LogoutResponse, response: 0, itt: pdu.itt, statSN: this.statSN++, expCmdSN: 0, maxCmdSN: 0, time2Wait: 0, time2Retain: 0 });
        this.socket.end();
        return;
      default:
        return;
    }
  }

  #onLogin(req: LoginRequestPdu): void {
    const pairs = this.#asm.push(req.data, req.continue);
    const base = { opcode: Opcode.LoginResponse, continue: false, versionMax: 0, versionActive: 0, isid: req.isid, itt: req.itt, statSN: this.statSN, expCmdSN: req.cmdSN, maxCmdSN: req.cmdSN + (this.#t.o.window ?? 32) - 1 } as const;
    if (pairs === undefined) {
      this.send({ ...base, transit: false, csg: req.csg, nsg: 0, tsih: 0, statusClass: 0, statusDetail: 0, data: Buffer.alloc(0) });
      return;
    }
    let out;
    try {
      out = this.#login.handleRequest({ stage: req.csg as 0 | 1, transit: req.transit, nextStage: req.nsg as 0 | 1 | 3, pairs });
    } catch (e) {
      const status = (e as { loginStatus?: number }).loginStatus ?? 0x0200;
      this.send({ ...base, transit: false, csg: req.csg, nsg: 0, tsih: 0, statusClass: status >> 8, statusDetail: status & 0xff, data: Buffer.alloc(0) });
      this.socket.end();
      return;
    }
    const tsih = out.complete ? ++this.#t.logins : 0;
    this.statSN++;
    this.send({ ...base, transit: out.transit, csg: out.stage, nsg: out.transit ? out.nextStage : 0, tsih, statusClass: 0, statusDetail: 0, data: encodeTextKeys(out.pairs) });
    if (out.complete) {
      this.#ffp = true;
      this.#params = this.#login.params;
      this.expCmdSN = req.cmdSN;
      const p = this.#params.connection;
      this.#framer.setDigests(p.headerDigest === 'CRC32C', p.dataDigest === 'CRC32C');
      // A reinstatement (same ISID) ends the older connections of that session (RFC 7143 §6.3.5).
      for (const c of this.#t.connections) if (c !== this && c.isid === req.isid) c.socket.destroy();
      this.isid = req.isid;
    }
  }

  isid = '';

  #status(cmd: ScsiCommandPdu, status: number, sense?: Buffer): void {
    this.send({
      opcode: Opcode.ScsiResponse,
      bidiReadResidualOverflow: false,
      bidiReadResidualUnderflow: false,
      residualOverflow: false,
      residualUnderflow: false,
      response: 0,
      status,
      itt: cmd.itt,
      snackTag: 0,
      statSN: this.statSN++,
      expCmdSN: 0,
      maxCmdSN: 0,
      expDataSN: 0,
      bidiReadResidualCount: 0,
      residualCount: 0,
      sense: sense ?? Buffer.alloc(0),
      responseData: Buffer.alloc(0),
    });
  }

  #dataIn(cmd: ScsiCommandPdu, data: Buffer): void {
    const max = this.#params!.connection.maxSendDataSegmentLength;
    const n = Math.min(data.length, cmd.expectedDataTransferLength);
    let dataSN = 0;
    for (let off = 0; off < n || (n === 0 && off === 0); ) {
      const len = Math.min(max, n - off);
      const last = off + len >= n;
      this.send({
        opcode: Opcode.DataIn,
        final: last,
        acknowledge: false,
        residualOverflow: false,
        residualUnderflow: last && n < cmd.expectedDataTransferLength,
        statusPresent: last,
        status: 0,
        lun: cmd.lun,
        itt: cmd.itt,
        ttt: RESERVED_TAG,
        statSN: last ? this.statSN++ : this.statSN,
        expCmdSN: 0,
        maxCmdSN: 0,
        dataSN: dataSN++,
        bufferOffset: off,
        residualCount: last ? cmd.expectedDataTransferLength - n : 0,
        data: data.subarray(off, off + len),
      });
      off += len;
      if (n === 0) break;
    }
  }

  #onCommand(cmd: ScsiCommandPdu): void {
    this.#t.commands++;
    if (this.#t.o.onCommand?.(cmd, this) === 'ignore') return;
    const t = this.#t;
    const c = cmd.cdb;
    const bs = t.blockSize;
    switch (c[0]) {
      case 0x00: // TEST UNIT READY
        return this.#status(cmd, 0);
      case 0x12: {
        // INQUIRY
        const inq = Buffer.alloc(96);
        inq[2] = 5;
        inq[3] = 2;
        inq[4] = 91;
        inq[7] = 0x02;
        inq.write('TSISCSI ', 8, 'latin1');
        inq.write('FAKE DISK       ', 16, 'latin1');
        inq.write('0001', 32, 'latin1');
        return this.#dataIn(cmd, inq);
      }
      case 0x25: {
        const b = Buffer.alloc(8);
        b.writeUInt32BE(t.blocks - 1, 0);
        b.writeUInt32BE(bs, 4);
        return this.#dataIn(cmd, b);
      }
      case 0x9e: {
        const b = Buffer.alloc(32);
        b.writeUInt32BE(0, 0);
        b.writeUInt32BE(t.blocks - 1, 4);
        b.writeUInt32BE(bs, 8);
        return this.#dataIn(cmd, b);
      }
      case 0xa0: {
        const b = Buffer.alloc(16);
        b.writeUInt32BE(8, 0);
        return this.#dataIn(cmd, b);
      }
      case 0x28:
      case 0x88: {
        const lba = c[0] === 0x28 ? c.readUInt32BE(2) : c.readUInt32BE(6);
        const n = c[0] === 0x28 ? c.readUInt16BE(7) : c.readUInt32BE(10);
        t.reads++;
        return this.#dataIn(cmd, t.disk.subarray(lba * bs, (lba + n) * bs));
      }
      case 0x2a:
      case 0x8a: {
        const lba = c[0] === 0x2a ? c.readUInt32BE(2) : c.readUInt32BE(6);
        const w: WriteState = { cmd, lba, buf: Buffer.alloc(cmd.expectedDataTransferLength), got: 0, nextR2T: 0, r2tSN: 0, outstanding: 0 };
        cmd.data.copy(w.buf, 0);
        w.got = cmd.data.length;
        w.nextR2T = cmd.data.length;
        this.#writes.set(cmd.itt, w);
        if (cmd.final) this.#moreR2T(w);
        return;
      }
      default: {
        const sense = Buffer.alloc(18);
        sense[0] = 0x70;
        sense[2] = 0x05;
        sense[7] = 10;
        sense[12] = 0x20;
        return this.#status(cmd, 2, sense);
      }
    }
  }

  #moreR2T(w: WriteState): void {
    if (w.got >= w.buf.length) {
      this.#t.disk.set(w.buf, w.lba * this.#t.blockSize);
      this.#t.writes++;
      this.#writes.delete(w.cmd.itt);
      return this.#status(w.cmd, 0);
    }
    // Up to MaxOutstandingR2T bursts asked at once (RFC 7143 §13.17).
    const s = this.#params!.session;
    while (w.outstanding < s.maxOutstandingR2T && w.nextR2T < w.buf.length) {
      const len = Math.min(s.maxBurstLength, w.buf.length - w.nextR2T);
      this.send({ opcode: Opcode.R2T, lun: w.cmd.lun, itt: w.cmd.itt, ttt: 0x1000 + w.r2tSN, statSN: this.statSN, expCmdSN: 0, maxCmdSN: 0, r2tSN: w.r2tSN++, bufferOffset: w.nextR2T, desiredDataTransferLength: len });
      w.nextR2T += len;
      w.outstanding++;
      this.#t.maxOutstandingSeen = Math.max(this.#t.maxOutstandingSeen, w.outstanding);
    }
  }

  #onDataOut(d: DataOutPdu): void {
    const w = this.#writes.get(d.itt);
    if (w === undefined) return;
    d.data.copy(w.buf, d.bufferOffset);
    w.got += d.data.length;
    // Unsolicited data (TTT 0xffffffff) moves the start of what R2Ts must ask for.
    if (d.ttt === RESERVED_TAG) w.nextR2T = Math.max(w.nextR2T, d.bufferOffset + d.data.length);
    else if (d.final) w.outstanding--;
    if (d.final) this.#moreR2T(w);
  }
}

export class FakeTarget {
  readonly o: FakeTargetOptions;
  readonly server: Server;
  readonly connections = new Set<FakeConnection>();
  readonly blockSize: number;
  readonly blocks: number;
  readonly disk: Buffer;
  port = 0;
  accepted = 0;
  logins = 0;
  logouts = 0;
  commands = 0;
  reads = 0;
  writes = 0;
  pdus = 0;
  readonly tmfs: number[] = [];
  /** Most R2Ts one write had outstanding at once. */
  maxOutstandingSeen = 0;
  /** Accept TCP connections and close them at once (a peer that hangs up). */
  hangUp = false;

  private constructor(o: FakeTargetOptions) {
    this.o = o;
    this.blockSize = o.blockSize ?? 512;
    this.blocks = o.blocks ?? 8192;
    this.disk = Buffer.alloc(this.blocks * this.blockSize);
    this.server = createServer((s) => {
      this.accepted++;
      if (this.hangUp) {
        s.destroy();
        return;
      }
      this.connections.add(new FakeConnection(s, this));
    });
  }

  static async start(o: FakeTargetOptions = {}, port = 0): Promise<FakeTarget> {
    const t = new FakeTarget(o);
    await new Promise<void>((resolve, reject) => {
      t.server.once('error', reject);
      t.server.listen(port, '127.0.0.1', () => resolve());
    });
    t.port = (t.server.address() as { port: number }).port;
    return t;
  }

  url(lun = 0, userinfo = ''): string {
    return `iscsi://${userinfo}127.0.0.1:${this.port}/${FAKE_IQN}/${lun}`;
  }

  /** Destroys every connection (the network drops). */
  killAll(): void {
    for (const c of this.connections) c.socket.destroy();
  }

  /** Stops listening and drops every connection. */
  async close(): Promise<void> {
    this.killAll();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  /** Listens again on the same port after close(). */
  async reopen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, '127.0.0.1', () => resolve());
    });
  }
}
