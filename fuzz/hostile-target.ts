// A hostile iSCSI target for the initiator fuzzer. It logs in like a real target (the project's
// TargetLoginNegotiator) unless its plan says otherwise, then answers each SCSI command the way the
// plan's next behaviour says: correctly, or with bad Data-In offsets, DataSN gaps, overflowing data,
// huge segment lengths, wrong ITTs, StatSN/CmdSN out of window, R2T storms, NOP-In storms, Async
// Messages, Rejects, garbage, silence, a close in mid-PDU, a byte-by-byte drip, or mutated PDUs.
// Every random choice comes from a PRNG seeded from (plan seed, connection, command), so a plan replays.

import { createServer, type Server, type Socket } from 'node:net';
import { decodePdu, encodePdu } from '../src/pdu/codec.js';
import { AsyncEvent, Opcode, RESERVED_TAG, TmfResponse } from '../src/pdu/constants.js';
import { Framer } from '../src/pdu/framer.js';
import { TextAssembler, encodeTextKeys } from '../src/pdu/text-keys.js';
import type { DataOutPdu, InitiatorPdu, LoginRequestPdu, ScsiCommandPdu, TargetPdu } from '../src/pdu/types.js';
import type { NegotiatedParams } from '../src/login/policy.js';
import { TargetLoginNegotiator } from '../src/login/target-negotiator.js';
import { Rng, mutatePdu, reframe } from './mutate.js';

export const HOSTILE_IQN = 'iqn.2026-11.io.tsiscsi.fuzz:hostile';
/** Capacity the target reports (when it tells the truth). */
export const HOSTILE_BLOCKS = 2048;
export const HOSTILE_BLOCK_SIZE = 512;

/** What a connection does during login. */
export const LOGIN_BEHAVIOURS = [
  'ok',
  'silence',
  'garbage',
  'hangup',
  'huge-dsl',
  'wrong-itt',
  'redirect-self',
  'redirect-bogus',
  'fail-initiator',
  'fail-target',
  'continue-storm',
  'mutate',
  'odd-keys',
  'ffp-early',
  'slow-drip',
  'close-mid',
  'wrong-opcode',
] as const;
export type LoginBehaviour = (typeof LOGIN_BEHAVIOURS)[number];

/** What the target does with one SCSI command. */
export const COMMAND_BEHAVIOURS = [
  'good',
  'silence',
  'bad-offset',
  'datasn',
  'overflow',
  'huge-dsl',
  'wrong-itt',
  'statsn',
  'window-closed',
  'r2t-storm',
  'r2t-on-read',
  'garbage',
  'close-mid',
  'half-pdu',
  'nop-storm',
  'async',
  'reject',
  'tmf-junk',
  'mutate',
  'junk-pdus',
  'sense-garbage',
  'residual-lies',
  'slow-drip',
  'duplicate',
  'data-after-status',
  'bad-capacity',
  'busy',
] as const;
export type CommandBehaviour = (typeof COMMAND_BEHAVIOURS)[number];

/** The script of one fuzz case. */
export interface HostilePlan {
  seed: number;
  /** Login behaviour of the n-th connection; `tailLogin` after the list. */
  logins: LoginBehaviour[];
  tailLogin: LoginBehaviour;
  /** Behaviour for the n-th SCSI command received over the whole case; `tailCommand` after the list. */
  commands: CommandBehaviour[];
  tailCommand: CommandBehaviour;
  /** Answer the initiator's NOP-Out pings. */
  answerNops: boolean;
  /** Answer task management requests: properly, never, or with junk. */
  answerTmf: 'yes' | 'no' | 'junk';
  /** Commands the window holds (MaxCmdSN - ExpCmdSN + 1). */
  window: number;
}

interface WriteState {
  cmd: ScsiCommandPdu;
  buf: Buffer;
  got: number;
  nextR2T: number;
  r2tSN: number;
  outstanding: number;
}

/** Counters over a case (what the hostile target saw and did). */
export interface HostileStats {
  connections: number;
  logins: number;
  commands: number;
  pdusIn: number;
  bytesOut: number;
}

class HostileConnection {
  readonly #t: HostileTarget;
  readonly socket: Socket;
  readonly index: number;
  readonly #framer: Framer;
  readonly #login: TargetLoginNegotiator;
  readonly #asm = new TextAssembler();
  #ffp = false;
  #params: NegotiatedParams | undefined;
  #statSN = 1;
  #expCmdSN = 0;
  #windowShut = false;
  #loginSteps = 0;
  readonly #writes = new Map<number, WriteState>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #behaviour: LoginBehaviour;
  readonly #rng: Rng;

  constructor(socket: Socket, t: HostileTarget, index: number) {
    this.socket = socket;
    this.#t = t;
    this.index = index;
    const plan = t.plan;
    this.#behaviour = plan.logins[index] ?? plan.tailLogin;
    this.#rng = new Rng((plan.seed * 7919 + index * 104729) | 0);
    socket.setNoDelay(true);
    this.#login = new TargetLoginNegotiator({ portalGroupTag: 1 });
    this.#framer = new Framer(
      {
        onFrame: (f) => {
          let pdu: InitiatorPdu;
          try {
            pdu = decodePdu('initiator', f.bhs, f.ahs, f.data);
          } catch {
            // The fuzzer tests the initiator: anything it sends that does not decode ends the connection.
            this.destroy();
            return;
          }
          t.stats.pdusIn++;
          try {
            this.#pdu(pdu);
          } catch (e) {
            t.internalErrors.push(e);
            this.destroy();
          }
        },
        onError: () => this.destroy(),
      },
      { maxRecvDataSegmentLength: 0xffffff },
    );
    socket.on('data', (c: Buffer) => this.#framer.push(c));
    socket.on('error', () => {});
    socket.on('close', () => {
      for (const tm of this.#timers) clearTimeout(tm);
      this.#timers.clear();
      t.connections.delete(this);
    });
    if (this.#behaviour === 'hangup') this.destroy();
    else if (this.#behaviour === 'garbage' && this.#rng.bool(0.3)) this.raw(this.#rng.bytes(1 + this.#rng.int(2048)));
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Later, unless the connection is gone by then. */
  #later(ms: number, fn: () => void): void {
    const tm = setTimeout(() => {
      this.#timers.delete(tm);
      if (!this.socket.destroyed) fn();
    }, ms);
    this.#timers.add(tm);
  }

  raw(b: Buffer): void {
    if (this.socket.destroyed) return;
    this.#t.stats.bytesOut += b.length;
    this.socket.write(b);
  }

  get #digests(): { header: boolean; data: boolean } | undefined {
    if (!this.#ffp || this.#params === undefined) return undefined;
    return { header: this.#params.connection.headerDigest === 'CRC32C', data: this.#params.connection.dataDigest === 'CRC32C' };
  }

  /** Encodes a PDU as it would go out now (window stamped unless `keepWindow`). */
  encode(pdu: TargetPdu, keepWindow = false): Buffer {
    if (!keepWindow && 'expCmdSN' in pdu && pdu.opcode !== Opcode.LoginResponse) {
      (pdu as { expCmdSN: number }).expCmdSN = this.#expCmdSN;
      (pdu as { maxCmdSN: number }).maxCmdSN = this.#maxCmdSN;
    }
    return Buffer.concat(encodePdu(pdu, this.#digests));
  }

  send(pdu: TargetPdu, keepWindow = false): void {
    this.raw(this.encode(pdu, keepWindow));
  }

  get #maxCmdSN(): number {
    // A shut window: MaxCmdSN = ExpCmdSN - 1 (RFC 7143 §4.2.2.1), and it never opens again.
    return this.#windowShut ? (this.#expCmdSN - 1) >>> 0 : (this.#expCmdSN + this.#t.plan.window - 1) >>> 0;
  }

  #nextStatSN(): number {
    return this.#statSN++ >>> 0;
  }

  // --- login ------------------------------------------------------------------------------------

  #pdu(pdu: InitiatorPdu): void {
    if (!this.#ffp) {
      if (pdu.opcode !== Opcode.LoginRequest) return this.destroy();
      return this.#onLogin(pdu);
    }
    if ('cmdSN' in pdu && !('immediate' in pdu && pdu.immediate)) this.#expCmdSN = (pdu.cmdSN + 1) >>> 0;
    switch (pdu.opcode) {
      case Opcode.ScsiCommand:
        return this.#onCommand(pdu);
      case Opcode.DataOut:
        return this.#onDataOut(pdu);
      case Opcode.NopOut:
        if (pdu.itt !== RESERVED_TAG && this.#t.plan.answerNops) {
          this.send({ opcode: Opcode.NopIn, lun: pdu.lun, itt: pdu.itt, ttt: RESERVED_TAG, statSN: this.#nextStatSN(), expCmdSN: 0, maxCmdSN: 0, data: pdu.data });
        }
        return;
      case Opcode.TaskManagementRequest: {
        const mode = this.#t.plan.answerTmf;
        if (mode === 'no') return;
        this.#writes.delete(pdu.referencedTaskTag);
        const r = this.#rng;
        this.send({
          opcode: Opcode.TaskManagementResponse,
          response: mode === 'junk' ? r.pick([TmfResponse.TaskDoesNotExist, TmfResponse.FunctionRejected, TmfResponse.FunctionNotSupported, r.int(256)]) : TmfResponse.FunctionComplete,
          itt: mode === 'junk' && r.bool(0.3) ? r.u32() : pdu.itt,
          statSN: this.#nextStatSN(),
          expCmdSN: 0,
          maxCmdSN: 0,
          additionalResponseInformation: 0,
        });
        return;
      }
      case Opcode.LogoutRequest:
        this.send({ opcode: Opcode.LogoutResponse, response: 0, itt: pdu.itt, statSN: this.#nextStatSN(), expCmdSN: 0, maxCmdSN: 0, time2Wait: 0, time2Retain: 0 });
        this.socket.end();
        return;
      case Opcode.TextRequest:
        this.send({ opcode: Opcode.TextResponse, final: true, continue: false, lun: 0n, itt: pdu.itt, ttt: RESERVED_TAG, statSN: this.#nextStatSN(), expCmdSN: 0, maxCmdSN: 0, data: Buffer.alloc(0) });
        return;
      default:
        return;
    }
  }

  #onLogin(req: LoginRequestPdu): void {
    const r = this.#rng;
    const b = this.#behaviour;
    this.#loginSteps++;
    const base = {
      opcode: Opcode.LoginResponse,
      continue: false,
      versionMax: 0,
      versionActive: 0,
      isid: req.isid,
      itt: req.itt,
      statSN: this.#statSN,
      expCmdSN: req.cmdSN,
      maxCmdSN: (req.cmdSN + this.#t.plan.window - 1) >>> 0,
    } as const;
    const fail = (status: number): void => {
      this.send({ ...base, transit: false, csg: req.csg, nsg: 0, tsih: 0, statusClass: status >> 8, statusDetail: status & 0xff, data: Buffer.alloc(0) });
      if (r.bool(0.7)) this.socket.end();
    };
    switch (b) {
      case 'silence':
        return;
      case 'garbage':
        this.raw(r.bytes(1 + r.int(4096)));
        if (r.bool(0.5)) this.destroy();
        return;
      case 'huge-dsl': {
        // A header announcing 16 MiB of data: the initiator must refuse it before buffering.
        const h = this.encode({ ...base, transit: true, csg: req.csg, nsg: 3, tsih: 1, statusClass: 0, statusDetail: 0, data: Buffer.alloc(0) });
        h.writeUIntBE(0xffffff - r.int(16), 5, 3);
        this.raw(h);
        if (r.bool(0.5)) this.raw(r.bytes(r.int(65536)));
        return;
      }
      case 'wrong-itt':
        this.send({ ...base, itt: r.u32(), transit: true, csg: req.csg, nsg: 3, tsih: 1, statusClass: 0, statusDetail: 0, data: Buffer.alloc(0) });
        return;
      case 'redirect-self':
        this.send({ ...base, transit: false, csg: req.csg, nsg: 0, tsih: 0, statusClass: 1, statusDetail: r.pick([1, 2]), data: encodeTextKeys([['TargetAddress', `127.0.0.1:${this.#t.port},1`]]) });
        this.socket.end();
        return;
      case 'redirect-bogus': {
        const addr = r.pick(['256.1.1.1:3260', '127.0.0.1:1', '[::1', 'example.invalid:3260', '', '127.0.0.1:99999', 'x'.repeat(250)]);
        this.send({ ...base, transit: false, csg: req.csg, nsg: 0, tsih: 0, statusClass: 1, statusDetail: r.pick([1, 2, 3, 0]), data: r.bool(0.8) ? encodeTextKeys([['TargetAddress', addr]]) : Buffer.alloc(0) });
        this.socket.end();
        return;
      }
      case 'fail-initiator':
        return fail(0x0200 | r.int(12));
      case 'fail-target':
        return fail(0x0300 | r.int(3));
      case 'continue-storm':
        // Partial responses (C=1) forever: the login never completes.
        for (let i = 0; i < 1 + r.int(200); i++) {
          this.send({ ...base, continue: true, transit: false, csg: req.csg, nsg: 0, tsih: 0, statusClass: 0, statusDetail: 0, data: Buffer.from(`X${i}=${'y'.repeat(r.int(200))}\0`) });
        }
        return;
      case 'ffp-early':
        // A full feature phase PDU before the login completed.
        this.send({ opcode: Opcode.NopIn, lun: 0n, itt: RESERVED_TAG, ttt: 0x1234, statSN: 1, expCmdSN: 1, maxCmdSN: 1, data: Buffer.alloc(0) }, true);
        if (r.bool()) this.#okLogin(req, base);
        return;
      case 'wrong-opcode': {
        const h = this.encode({ ...base, transit: true, csg: req.csg, nsg: 3, tsih: 1, statusClass: 0, statusDetail: 0, data: Buffer.alloc(0) });
        h[0] = r.int(64);
        this.raw(h);
        return;
      }
      case 'close-mid':
      case 'slow-drip':
      case 'mutate':
      case 'odd-keys': {
        const out = this.#okLoginBytes(req, base, b === 'odd-keys');
        if (out === undefined) return;
        if (b === 'close-mid') {
          this.raw(out.subarray(0, r.int(out.length)));
          this.destroy();
        } else if (b === 'slow-drip') {
          this.#drip(out, 20 + r.int(80));
        } else if (b === 'mutate') {
          const m = mutatePdu(r, out);
          this.raw(r.bool(0.6) ? reframe(m) : m);
        } else {
          this.raw(out);
        }
        return;
      }
      default:
        this.#okLogin(req, base);
    }
  }

  #okLogin(req: LoginRequestPdu, base: Record<string, unknown>): void {
    const out = this.#okLoginBytes(req, base, false);
    if (out !== undefined) this.raw(out);
  }

  /** The correct answer to a login request (or a status the negotiator chose), as bytes. */
  #okLoginBytes(req: LoginRequestPdu, base: Record<string, unknown>, oddKeys: boolean): Buffer | undefined {
    const pairs = this.#asm.push(req.data, req.continue);
    if (pairs === undefined) {
      return this.encode({ ...(base as object), transit: false, csg: req.csg, nsg: 0, tsih: 0, statusClass: 0, statusDetail: 0, data: Buffer.alloc(0) } as TargetPdu);
    }
    let out;
    try {
      out = this.#login.handleRequest({ stage: req.csg as 0 | 1, transit: req.transit, nextStage: req.nsg as 0 | 1 | 3, pairs });
    } catch (e) {
      const status = (e as { loginStatus?: number }).loginStatus ?? 0x0200;
      this.socket.end();
      return this.encode({ ...(base as object), transit: false, csg: req.csg, nsg: 0, tsih: 0, statusClass: status >> 8, statusDetail: status & 0xff, data: Buffer.alloc(0) } as TargetPdu);
    }
    let answer = out.pairs;
    if (oddKeys) {
      const r = this.#rng;
      const odd: [string, string][] = [
        ['MaxRecvDataSegmentLength', r.pick(['0', '1', '511', '16777215', '16777216', '4294967296', 'abc', ''])],
        ['MaxBurstLength', r.pick(['0', '1', '16777215', '-1'])],
        ['FirstBurstLength', r.pick(['0', '16777215', '99999999999'])],
        ['MaxOutstandingR2T', r.pick(['0', '65535', '65536'])],
        ['HeaderDigest', r.pick(['CRC32C', 'MD5', 'None,CRC32C', ''])],
        ['DataDigest', r.pick(['CRC32C', 'Reject', 'NotUnderstood'])],
        ['ErrorRecoveryLevel', r.pick(['2', '0', '7'])],
        ['InitialR2T', r.pick(['No', 'Maybe'])],
        ['ImmediateData', r.pick(['Yes', 'No', '1'])],
        ['DefaultTime2Wait', r.pick(['3600', '0', '4000'])],
        ['X-evil', 'y'.repeat(r.int(300))],
        ['TargetPortalGroupTag', r.pick(['0', '65536', 'x'])],
        ['AuthMethod', r.pick(['CHAP', 'KRB5', 'None'])],
      ];
      answer = [...answer];
      for (let i = 0; i < 1 + r.int(3); i++) {
        const kv = r.pick(odd);
        const at = answer.findIndex(([k]) => k === kv[0]);
        if (at >= 0 && r.bool(0.7)) answer[at] = kv;
        else answer.push(kv);
      }
    }
    const tsih = out.complete ? ++this.#t.stats.logins : 0;
    this.#statSN++;
    const bytes = this.encode({
      ...(base as object),
      transit: out.transit,
      csg: out.stage,
      nsg: out.transit ? out.nextStage : 0,
      tsih,
      statusClass: 0,
      statusDetail: 0,
      // Odd keys are sent as they are, over-long values included: encodeTextKeys would refuse them.
      data: oddKeys ? Buffer.from(answer.map(([k, v]) => `${k}=${v}\0`).join(''), 'utf8') : encodeTextKeys(answer),
    } as TargetPdu);
    if (out.complete) {
      this.#ffp = true;
      this.#params = this.#login.params;
      this.#expCmdSN = req.cmdSN;
      const p = this.#params.connection;
      this.#framer.setDigests(p.headerDigest === 'CRC32C', p.dataDigest === 'CRC32C');
    }
    return bytes;
  }

  /** Sends `bytes` one at a time, every `everyMs` (a slowloris from the target's side). */
  #drip(bytes: Buffer, everyMs: number): void {
    let i = 0;
    const step = (): void => {
      if (i >= bytes.length) return;
      this.raw(bytes.subarray(i, i + 1));
      i++;
      this.#later(everyMs, step);
    };
    step();
  }

  // --- full feature phase -------------------------------------------------------------------------

  #onCommand(cmd: ScsiCommandPdu): void {
    const t = this.#t;
    const n = t.stats.commands++;
    const behaviour = t.plan.commands[n] ?? t.plan.tailCommand;
    const r = new Rng((t.plan.seed * 31 + n * 1_000_003) | 0);
    t.behaviours.push(behaviour);
    this.#act(behaviour, cmd, r);
  }

  #act(b: CommandBehaviour, cmd: ScsiCommandPdu, r: Rng): void {
    const isWrite = cmd.write && cmd.expectedDataTransferLength > 0;
    switch (b) {
      case 'good':
        return this.#good(cmd);
      case 'silence':
        return;
      case 'bad-offset':
      case 'datasn':
      case 'overflow':
      case 'data-after-status': {
        if (isWrite) return this.#act(r.pick(['r2t-storm', 'mutate', 'wrong-itt'] as const), cmd, r);
        const data = this.#dataFor(cmd);
        const n = Math.max(1, Math.min(cmd.expectedDataTransferLength || 512, data.length || 512));
        const seg = Math.max(1, Math.min(n, 1 + r.int(Math.max(1, n))));
        let off = 0;
        let sn = 0;
        const pdus: Buffer[] = [];
        while (off < n) {
          const len = Math.min(seg, n - off);
          const last = off + len >= n;
          let bufferOffset = off;
          let dataSN = sn;
          let payload = Buffer.alloc(len, 0xab);
          if (b === 'bad-offset' && r.bool(0.5)) bufferOffset = r.pick([0xffffffff, 0xfffffe00, n, n + 512, off + 1, Math.max(0, off - 512), r.u32()]);
          if (b === 'datasn' && r.bool(0.5)) dataSN = r.pick([sn + 1, sn + 2, 0, 0xffffffff, r.u32()]);
          if (b === 'overflow' && last) payload = Buffer.alloc(len + 512 * (1 + r.int(64)), 0xcd);
          pdus.push(this.encode(this.#dataIn(cmd, { final: last, status: last && b !== 'data-after-status', dataSN, bufferOffset, data: payload })));
          off += len;
          sn++;
        }
        if (b === 'data-after-status') {
          pdus.push(this.encode(this.#response(cmd, 0)));
          pdus.push(this.encode(this.#dataIn(cmd, { final: true, status: false, dataSN: sn, bufferOffset: 0, data: Buffer.alloc(512) })));
        }
        for (const p of pdus) this.raw(p);
        return;
      }
      case 'huge-dsl': {
        const h = this.encode(isWrite ? this.#response(cmd, 0) : this.#dataIn(cmd, { final: true, status: true, dataSN: 0, bufferOffset: 0, data: Buffer.alloc(0) }));
        h.writeUIntBE(r.pick([0xffffff, 0x1000000 - 4, 1 << 20, (1 << 20) + 4, 262148]), 5, 3);
        this.raw(h.subarray(0, 48));
        if (r.bool(0.4)) this.raw(r.bytes(r.int(1 << 16)));
        if (r.bool(0.3)) this.destroy();
        return;
      }
      case 'wrong-itt': {
        const pdus = this.#goodPdus(cmd);
        const itt = r.pick([r.u32(), RESERVED_TAG, (cmd.itt + 1) >>> 0, (cmd.itt ^ 0x10000) >>> 0]);
        for (const p of pdus) {
          if (p.readUInt32BE(16) === cmd.itt || r.bool(0.3)) p.writeUInt32BE(itt, 16);
          this.raw(p);
        }
        return;
      }
      case 'statsn': {
        // StatSN far out of sequence, and ExpCmdSN/MaxCmdSN the RFC says to ignore or that shut the window.
        const pdus = this.#goodPdus(cmd);
        for (const p of pdus) {
          if (r.bool(0.7)) p.writeUInt32BE((this.#statSN + r.pick([0x80000000, 0x7fffffff, 1000, -5 >>> 0, r.u32()])) >>> 0, 24);
          if (r.bool(0.5)) p.writeUInt32BE(r.u32(), 28); // ExpCmdSN
          if (r.bool(0.5)) p.writeUInt32BE(r.u32(), 32); // MaxCmdSN
          this.raw(p);
        }
        return;
      }
      case 'window-closed':
        this.#windowShut = true;
        return this.#good(cmd);
      case 'r2t-storm': {
        const count = 1 + r.int(r.bool(0.2) ? 5000 : 200);
        for (let i = 0; i < count; i++) {
          this.send({
            opcode: Opcode.R2T,
            lun: cmd.lun,
            itt: r.bool(0.9) ? cmd.itt : r.u32(),
            ttt: r.bool(0.1) ? RESERVED_TAG : r.u32() >>> 0,
            statSN: this.#statSN,
            expCmdSN: 0,
            maxCmdSN: 0,
            r2tSN: r.bool(0.5) ? i : r.u32(),
            bufferOffset: r.pick([0, 512, cmd.expectedDataTransferLength, 0xffffffff, r.u32(), r.int(Math.max(1, cmd.expectedDataTransferLength))]),
            desiredDataTransferLength: r.pick([0, 1, 512, 0xffffffff, 0x7fffffff, 1 << 24, r.u32(), cmd.expectedDataTransferLength]),
          });
        }
        if (r.bool(0.3)) this.send(this.#response(cmd, 0));
        return;
      }
      case 'r2t-on-read':
        this.send({ opcode: Opcode.R2T, lun: cmd.lun, itt: cmd.itt, ttt: 7, statSN: this.#statSN, expCmdSN: 0, maxCmdSN: 0, r2tSN: 0, bufferOffset: 0, desiredDataTransferLength: 512 * (1 + r.int(8)) });
        return;
      case 'garbage':
        this.raw(r.bytes(1 + r.int(8192)));
        if (r.bool(0.3)) this.destroy();
        return;
      case 'close-mid': {
        const all = Buffer.concat(this.#goodPdus(cmd));
        this.raw(all.subarray(0, r.int(all.length)));
        this.destroy();
        return;
      }
      case 'half-pdu': {
        const all = Buffer.concat(this.#goodPdus(cmd));
        this.raw(all.subarray(0, Math.max(1, Math.min(all.length - 1, r.int(all.length)))));
        return;
      }
      case 'nop-storm': {
        const count = 1 + r.int(r.bool(0.2) ? 3000 : 100);
        for (let i = 0; i < count; i++) {
          // Pings asking for an answer (TTT set), NOP-Ins for ITTs that never were, data of any size.
          const asking = r.bool(0.6);
          this.send({
            opcode: Opcode.NopIn,
            lun: 0n,
            itt: asking ? RESERVED_TAG : r.bool(0.5) ? r.u32() : cmd.itt,
            ttt: asking ? 1 + r.int(0xfffffffe) : RESERVED_TAG,
            statSN: asking ? this.#statSN : this.#nextStatSN(),
            expCmdSN: 0,
            maxCmdSN: 0,
            data: r.bytes(r.bool(0.9) ? r.int(64) : r.int(8192)),
          });
        }
        if (r.bool(0.5)) this.#good(cmd);
        return;
      }
      case 'async': {
        const ev = r.pick([AsyncEvent.LogoutRequest, AsyncEvent.ConnectionDrop, AsyncEvent.SessionDrop, AsyncEvent.Renegotiate, AsyncEvent.VendorSpecific, AsyncEvent.ScsiAsyncEvent, 5 + r.int(200)]);
        const sense = ev === AsyncEvent.ScsiAsyncEvent ? (r.bool() ? Buffer.from([0x70, 0, 6, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x2a, 0x09, 0, 0, 0, 0]) : r.bytes(r.int(40))) : Buffer.alloc(0);
        for (let i = 0; i < 1 + (r.bool(0.2) ? r.int(50) : 0); i++) {
          this.send({
            opcode: Opcode.AsyncMessage,
            lun: 0n,
            statSN: this.#nextStatSN(),
            expCmdSN: 0,
            maxCmdSN: 0,
            asyncEvent: ev,
            asyncVCode: r.int(256),
            parameter1: r.pick([0, 1, 0xffff, r.int(0x10000)]),
            parameter2: r.pick([0, 1, 3600, 0xffff]),
            parameter3: r.pick([0, 1, 3600, 0xffff]),
            sense,
            eventData: r.bytes(r.bool(0.8) ? 0 : r.int(64)),
          });
        }
        if (r.bool(0.5)) this.#good(cmd);
        return;
      }
      case 'reject': {
        const header = r.bool(0.7) ? this.#commandHeader(cmd) : r.bytes(r.pick([0, 4, 47, 48, 100]));
        this.send({ opcode: Opcode.Reject, reason: r.pick([2, 3, 4, 5, 6, 7, 8, 9, 0x0a, 0x0b, 0x0c, 0, 1, 0xff]), statSN: this.#nextStatSN(), expCmdSN: 0, maxCmdSN: 0, dataSN: 0, data: header });
        return;
      }
      case 'tmf-junk':
        for (let i = 0; i < 1 + r.int(20); i++) {
          this.send({ opcode: Opcode.TaskManagementResponse, response: r.int(256), itt: r.bool() ? cmd.itt : r.u32(), statSN: this.#nextStatSN(), expCmdSN: 0, maxCmdSN: 0, additionalResponseInformation: r.u32() });
        }
        if (r.bool(0.5)) this.#good(cmd);
        return;
      case 'mutate': {
        for (const p of this.#goodPdus(cmd)) {
          if (r.bool(0.6)) {
            const m = mutatePdu(r, p);
            this.raw(r.bool(0.6) ? reframe(m) : m);
          } else {
            this.raw(p);
          }
        }
        return;
      }
      case 'junk-pdus': {
        // Well-formed PDUs that have no business arriving now.
        for (let i = 0; i < 1 + r.int(10); i++) {
          const pick = r.int(5);
          if (pick === 0) this.send({ opcode: Opcode.LogoutResponse, response: r.int(4), itt: r.bool() ? cmd.itt : r.u32(), statSN: this.#nextStatSN(), expCmdSN: 0, maxCmdSN: 0, time2Wait: r.int(4000), time2Retain: r.int(4000) });
          else if (pick === 1) this.send({ opcode: Opcode.TextResponse, final: r.bool(), continue: r.bool(0.2), lun: 0n, itt: r.bool() ? cmd.itt : r.u32(), ttt: r.u32(), statSN: this.#nextStatSN(), expCmdSN: 0, maxCmdSN: 0, data: Buffer.from('SendTargets=All\0') });
          else if (pick === 2) this.send({ opcode: Opcode.LoginResponse, transit: true, continue: false, csg: 1, nsg: 3, versionMax: 0, versionActive: 0, isid: '800000000000', tsih: 1, itt: cmd.itt, statSN: this.#nextStatSN(), expCmdSN: 0, maxCmdSN: 0, statusClass: 0, statusDetail: 0, data: Buffer.alloc(0) });
          else if (pick === 3) this.send(this.#response({ ...cmd, itt: r.u32() }, r.int(256)));
          else this.send(this.#dataIn({ ...cmd, itt: r.u32() }, { final: true, status: r.bool(), dataSN: r.int(3), bufferOffset: 0, data: Buffer.alloc(512) }));
        }
        if (r.bool(0.5)) this.#good(cmd);
        return;
      }
      case 'sense-garbage': {
        const sense = r.pick([r.bytes(r.int(300)), Buffer.from([0x70, 0, 0x03, 0, 0, 0, 0, 250]), Buffer.from([0x72, 0, 0x04]), Buffer.alloc(0), Buffer.from([0xff, 0xff])]);
        const p = this.#response(cmd, r.pick([2, 0x08, 0x18, 0x28, 0x30, 0x40, r.int(256)]), sense);
        p.response = r.bool(0.8) ? 0 : r.int(256);
        const bytes = this.encode(p);
        // A SenseLength that lies about the segment.
        if (r.bool(0.3) && bytes.length > 50) bytes.writeUInt16BE(r.int(0x10000), 48);
        this.raw(bytes);
        return;
      }
      case 'residual-lies': {
        const pdus = this.#goodPdus(cmd);
        const last = pdus[pdus.length - 1]!;
        // Flags byte: O and U both, or U with a residual larger than the EDTL; a residual count of anything.
        last[2] = (last[2]! & ~0x06) | r.pick([0x06, 0x02, 0x04, 0x00]);
        if (last.length >= 48) last.writeUInt32BE(r.pick([0xffffffff, cmd.expectedDataTransferLength + 1, r.u32(), 0]), 44);
        for (const p of pdus) this.raw(p);
        return;
      }
      case 'slow-drip':
        this.#drip(Buffer.concat(this.#goodPdus(cmd)), 30 + r.int(100));
        return;
      case 'duplicate': {
        const pdus = this.#goodPdus(cmd);
        for (const p of pdus) this.raw(p);
        for (const p of pdus) this.raw(Buffer.from(p));
        return;
      }
      case 'bad-capacity': {
        const op = cmd.cdb[0];
        if (op !== 0x25 && op !== 0x9e) return this.#good(cmd);
        const data = Buffer.alloc(op === 0x25 ? 8 : 32);
        const bs = r.pick([0, 1, 3, 511, 0x80000000, 0xffffffff, (1 << 20) + 1, 65536, 4096]);
        if (op === 0x25) {
          data.writeUInt32BE(r.pick([0, 0xffffffff, 1, r.u32()]), 0);
          data.writeUInt32BE(bs, 4);
        } else {
          data.writeUInt32BE(r.pick([0, 0xffffffff, 0x1fffff]), 0);
          data.writeUInt32BE(r.u32(), 4);
          data.writeUInt32BE(bs, 8);
          data[13] = r.int(256);
        }
        this.#sendData(cmd, data);
        return;
      }
      case 'busy': {
        // BUSY, TASK SET FULL or a UNIT ATTENTION, again and again: the initiator's retries must end.
        const status = r.pick([0x08, 0x28, 0x02]);
        const sense = status === 0x02 ? Buffer.from([0x70, 0, 0x06, 0, 0, 0, 0, 10, 0, 0, 0, 0, r.pick([0x29, 0x2a, 0x3f]), r.int(4), 0, 0, 0, 0]) : undefined;
        this.send(this.#response(cmd, status, sense));
        return;
      }
    }
  }

  #commandHeader(cmd: ScsiCommandPdu): Buffer {
    const h = Buffer.alloc(48);
    h[0] = Opcode.ScsiCommand;
    h[1] = 0x80 | (cmd.read ? 0x40 : 0) | (cmd.write ? 0x20 : 0);
    h.writeUInt32BE(cmd.itt, 16);
    h.writeUInt32BE(cmd.expectedDataTransferLength, 20);
    h.writeUInt32BE(cmd.cmdSN, 24);
    cmd.cdb.copy(h, 32, 0, Math.min(16, cmd.cdb.length));
    return h;
  }

  #response(cmd: ScsiCommandPdu, status: number, sense?: Buffer): Extract<TargetPdu, { opcode: typeof Opcode.ScsiResponse }> {
    return {
      opcode: Opcode.ScsiResponse,
      bidiReadResidualOverflow: false,
      bidiReadResidualUnderflow: false,
      residualOverflow: false,
      residualUnderflow: false,
      response: 0,
      status,
      itt: cmd.itt,
      snackTag: 0,
      statSN: this.#nextStatSN(),
      expCmdSN: 0,
      maxCmdSN: 0,
      expDataSN: 0,
      bidiReadResidualCount: 0,
      residualCount: 0,
      sense: sense ?? Buffer.alloc(0),
      responseData: Buffer.alloc(0),
    };
  }

  #dataIn(cmd: ScsiCommandPdu, o: { final: boolean; status: boolean; dataSN: number; bufferOffset: number; data: Buffer; residual?: number }): TargetPdu {
    return {
      opcode: Opcode.DataIn,
      final: o.final,
      acknowledge: false,
      residualOverflow: false,
      residualUnderflow: (o.residual ?? 0) > 0,
      statusPresent: o.status,
      status: 0,
      lun: cmd.lun,
      itt: cmd.itt,
      ttt: RESERVED_TAG,
      statSN: o.status ? this.#nextStatSN() : this.#statSN,
      expCmdSN: 0,
      maxCmdSN: 0,
      dataSN: o.dataSN,
      bufferOffset: o.bufferOffset,
      residualCount: o.residual ?? 0,
      data: o.data,
    };
  }

  /** What a correct target returns for the command's Data-In (undefined for commands without data). */
  #dataFor(cmd: ScsiCommandPdu): Buffer {
    const c = cmd.cdb;
    switch (c[0]) {
      case 0x12: {
        const inq = Buffer.alloc(96);
        inq[2] = 5;
        inq[3] = 2;
        inq[4] = 91;
        inq[7] = 0x02;
        inq.write('TSISCSI ', 8, 'latin1');
        inq.write('HOSTILE DISK    ', 16, 'latin1');
        inq.write('0001', 32, 'latin1');
        if ((c[1]! & 1) !== 0) return Buffer.from([0, c[2]!, 0, 0]);
        return inq;
      }
      case 0x25: {
        const b = Buffer.alloc(8);
        b.writeUInt32BE(HOSTILE_BLOCKS - 1, 0);
        b.writeUInt32BE(HOSTILE_BLOCK_SIZE, 4);
        return b;
      }
      case 0x9e: {
        const b = Buffer.alloc(32);
        b.writeUInt32BE(HOSTILE_BLOCKS - 1, 4);
        b.writeUInt32BE(HOSTILE_BLOCK_SIZE, 8);
        return b;
      }
      case 0xa0: {
        const b = Buffer.alloc(16);
        b.writeUInt32BE(8, 0);
        return b;
      }
      case 0x28:
      case 0x88: {
        const n = c[0] === 0x28 ? c.readUInt16BE(7) : c.readUInt32BE(10);
        return Buffer.alloc(Math.min(n * HOSTILE_BLOCK_SIZE, 1 << 24), 0x5a);
      }
      default:
        return Buffer.alloc(0);
    }
  }

  /** The correct PDUs for a command with no Data-Out (Data-In with status collapsed, or a response). */
  #goodPdus(cmd: ScsiCommandPdu): Buffer[] {
    if (cmd.write && cmd.expectedDataTransferLength > 0) {
      // A write's first step: an R2T for what immediate data did not bring (or the status if it did).
      const s = this.#params!.session;
      const got = cmd.data.length;
      if (got >= cmd.expectedDataTransferLength) return [this.encode(this.#response(cmd, 0))];
      const len = Math.min(s.maxBurstLength, cmd.expectedDataTransferLength - got);
      return [this.encode({ opcode: Opcode.R2T, lun: cmd.lun, itt: cmd.itt, ttt: 0x1000, statSN: this.#statSN, expCmdSN: 0, maxCmdSN: 0, r2tSN: 0, bufferOffset: got, desiredDataTransferLength: len })];
    }
    const op = cmd.cdb[0];
    const known = op === 0x00 || op === 0x12 || op === 0x25 || op === 0x9e || op === 0xa0 || op === 0x28 || op === 0x88 || op === 0x35 || op === 0x91;
    if (!known) return [this.encode(this.#response(cmd, 2, Buffer.from([0x70, 0, 0x05, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x20, 0, 0, 0, 0, 0])))];
    return this.#dataInPdus(cmd, this.#dataFor(cmd));
  }

  #dataInPdus(cmd: ScsiCommandPdu, data: Buffer): Buffer[] {
    const edtl = cmd.read ? cmd.expectedDataTransferLength : 0;
    const n = Math.min(data.length, edtl);
    if (n === 0) {
      const p = this.#response(cmd, 0);
      if (edtl > 0) {
        p.residualUnderflow = true;
        p.residualCount = edtl;
      }
      return [this.encode(p)];
    }
    const max = this.#params!.connection.maxSendDataSegmentLength;
    const out: Buffer[] = [];
    let sn = 0;
    for (let off = 0; off < n; ) {
      const len = Math.min(max, n - off);
      const last = off + len >= n;
      out.push(this.encode(this.#dataIn(cmd, { final: last, status: last, dataSN: sn++, bufferOffset: off, data: data.subarray(off, off + len), residual: last ? edtl - n : 0 })));
      off += len;
    }
    return out;
  }

  #sendData(cmd: ScsiCommandPdu, data: Buffer): void {
    for (const p of this.#dataInPdus(cmd, data)) this.raw(p);
  }

  #good(cmd: ScsiCommandPdu): void {
    if (cmd.write && cmd.expectedDataTransferLength > 0) {
      const w: WriteState = { cmd, buf: Buffer.alloc(Math.min(cmd.expectedDataTransferLength, 1 << 24)), got: cmd.data.length, nextR2T: cmd.data.length, r2tSN: 0, outstanding: 0 };
      this.#writes.set(cmd.itt, w);
      if (cmd.final) this.#moreR2T(w);
      return;
    }
    for (const p of this.#goodPdus(cmd)) this.raw(p);
  }

  #moreR2T(w: WriteState): void {
    if (w.got >= w.cmd.expectedDataTransferLength) {
      this.#writes.delete(w.cmd.itt);
      this.send(this.#response(w.cmd, 0));
      return;
    }
    const s = this.#params!.session;
    while (w.outstanding < s.maxOutstandingR2T && w.nextR2T < w.cmd.expectedDataTransferLength) {
      const len = Math.min(s.maxBurstLength, w.cmd.expectedDataTransferLength - w.nextR2T);
      this.send({ opcode: Opcode.R2T, lun: w.cmd.lun, itt: w.cmd.itt, ttt: 0x1000 + w.r2tSN, statSN: this.#statSN, expCmdSN: 0, maxCmdSN: 0, r2tSN: w.r2tSN++, bufferOffset: w.nextR2T, desiredDataTransferLength: len });
      w.nextR2T += len;
      w.outstanding++;
    }
  }

  #onDataOut(d: DataOutPdu): void {
    const w = this.#writes.get(d.itt);
    if (w === undefined) return;
    if (d.bufferOffset + d.data.length <= w.buf.length) d.data.copy(w.buf, d.bufferOffset);
    w.got += d.data.length;
    if (d.ttt === RESERVED_TAG) w.nextR2T = Math.max(w.nextR2T, d.bufferOffset + d.data.length);
    else if (d.final) w.outstanding--;
    if (d.final) this.#moreR2T(w);
  }
}

/** A hostile target on 127.0.0.1 (port 0: any), playing one plan at a time. */
export class HostileTarget {
  readonly server: Server;
  readonly connections = new Set<HostileConnection>();
  plan: HostilePlan;
  port = 0;
  stats: HostileStats = { connections: 0, logins: 0, commands: 0, pdusIn: 0, bytesOut: 0 };
  /** Behaviours played, in order (for the report). */
  behaviours: CommandBehaviour[] = [];
  /** Exceptions of the hostile target itself (a bug of the fuzzer, reported apart). */
  internalErrors: unknown[] = [];

  private constructor(plan: HostilePlan) {
    this.plan = plan;
    this.server = createServer((s) => {
      const index = this.stats.connections++;
      try {
        this.connections.add(new HostileConnection(s, this, index));
      } catch (e) {
        this.internalErrors.push(e);
        s.destroy();
      }
    });
  }

  static async start(plan: HostilePlan): Promise<HostileTarget> {
    const t = new HostileTarget(plan);
    await new Promise<void>((resolve, reject) => {
      t.server.once('error', reject);
      t.server.listen(0, '127.0.0.1', () => resolve());
    });
    t.port = (t.server.address() as { port: number }).port;
    return t;
  }

  url(lun = 0): string {
    return `iscsi://127.0.0.1:${this.port}/${HOSTILE_IQN}/${lun}`;
  }

  async close(): Promise<void> {
    for (const c of this.connections) c.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
