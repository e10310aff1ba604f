// The NBD handshake as the client speaks it (proto.md "Fixed newstyle negotiation"): the greeting,
// NBD_OPT_STRUCTURED_REPLY, then NBD_OPT_GO with NBD_INFO_BLOCK_SIZE requested (falling back to
// NBD_OPT_EXPORT_NAME for a server without NBD_OPT_GO). It runs over a two-call byte interface, so
// tests drive it with scripted bytes; the socket lives in connection.ts.

import {
  NBD_CLISERV_MAGIC,
  NBD_DEFAULT_MAX_PAYLOAD,
  NBD_FLAG_C_FIXED_NEWSTYLE,
  NBD_FLAG_C_NO_ZEROES,
  NBD_FLAG_FIXED_NEWSTYLE,
  NBD_FLAG_NO_ZEROES,
  NBD_INFO,
  NBD_INIT_MAGIC,
  NBD_MAX_STRING,
  NBD_OPT,
  NBD_OPTS_MAGIC,
  NBD_REP,
  NBD_REP_ERR,
  NBD_REP_ERR_UNSUP,
  NBD_REP_FLAG_ERROR,
  NBD_REP_MAGIC,
} from './constants.js';
import { NbdProtocolError } from './errors.js';

/** What the handshake needs of a connection: exact reads and writes. */
export interface HandshakeIo {
  /** Resolves with exactly `n` bytes; rejects when the connection ends first. */
  read(n: number): Promise<Buffer>;
  write(data: Buffer): void;
}

/** What NBD_OPT_GO (or NBD_OPT_EXPORT_NAME) taught about the export. */
export interface ExportInfo {
  /** Size in bytes. */
  size: number;
  /** Transmission flags (NBD_FLAG_*). */
  flags: number;
  /** Minimum block size: requests are aligned to it (1 when the server gives none). */
  minBlock: number;
  /** Preferred block size (4096 when the server gives none). */
  preferredBlock: number;
  /** Largest payload of a READ or WRITE (capped at the 32 MiB every server takes). */
  maxPayload: number;
  /** Structured replies were negotiated: reads may come back in chunks, holes without data. */
  structuredReplies: boolean;
}

/** Options of {@link negotiate}. */
export interface NegotiateOptions {
  /** Ask for structured replies (default true). */
  structuredReplies?: boolean;
}

/** Bytes of an option reply header: magic, option, reply type, length. */
const OPTION_REPLY_HEADER = 20;
/** Option replies longer than this are refused before they are read (the largest we take is a short INFO). */
const MAX_OPTION_REPLY = 64 * 1024;
/** NBD_OPT_EXPORT_NAME's reply: size, flags, and 124 zero bytes unless NO_ZEROES was agreed. */
const EXPORT_NAME_ZEROES = 124;

/** An option request: IHAVEOPT, the option, the length of its data, the data (proto.md "Option haggling"). */
export function encodeOption(option: number, data: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.allocUnsafe(16 + data.length);
  b.writeBigUInt64BE(NBD_OPTS_MAGIC, 0);
  b.writeUInt32BE(option, 8);
  b.writeUInt32BE(data.length, 12);
  data.copy(b, 16);
  return b;
}

/** The data of NBD_OPT_GO / NBD_OPT_INFO: the export name and the information requests. */
export function encodeGoData(exportName: string, infos: readonly number[]): Buffer {
  const name = Buffer.from(exportName, 'utf8');
  if (name.length > NBD_MAX_STRING) throw new RangeError(`export name is ${name.length} bytes, more than ${NBD_MAX_STRING}`);
  const b = Buffer.allocUnsafe(4 + name.length + 2 + 2 * infos.length);
  b.writeUInt32BE(name.length, 0);
  name.copy(b, 4);
  b.writeUInt16BE(infos.length, 4 + name.length);
  infos.forEach((t, i) => b.writeUInt16BE(t, 6 + name.length + 2 * i));
  return b;
}

/** One option reply (proto.md "Option reply"). */
export interface OptionReply {
  option: number;
  type: number;
  data: Buffer;
}

/** Parses an option reply header; returns the option, the reply type and the payload length. */
export function parseOptionReplyHeader(h: Buffer): { option: number; type: number; length: number } {
  if (h.readBigUInt64BE(0) !== NBD_REP_MAGIC) {
    throw new NbdProtocolError('ERR_NBD_OPTION_REPLY', `option reply magic is 0x${h.readBigUInt64BE(0).toString(16)}`, '"Option reply"');
  }
  const length = h.readUInt32BE(16);
  if (length > MAX_OPTION_REPLY) throw new NbdProtocolError('ERR_NBD_OPTION_REPLY', `option reply of ${length} bytes is too long`, '"Option reply"');
  return { option: h.readUInt32BE(8), type: h.readUInt32BE(12), length };
}

function isPowerOfTwo(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0;
}

/** Applies one NBD_REP_INFO payload to `info` (unknown information types are ignored, proto.md says so). */
export function applyInfo(data: Buffer, info: ExportInfo): void {
  if (data.length < 2) throw new NbdProtocolError('ERR_NBD_OPTION_REPLY', 'NBD_REP_INFO without a type', '"NBD_REP_INFO"');
  const type = data.readUInt16BE(0);
  if (type === NBD_INFO.EXPORT) {
    if (data.length !== 12) throw new NbdProtocolError('ERR_NBD_OPTION_REPLY', `NBD_INFO_EXPORT of ${data.length} bytes, not 12`, '"NBD_INFO_EXPORT"');
    info.size = checkedSize(data.readBigUInt64BE(2));
    info.flags = data.readUInt16BE(10);
  } else if (type === NBD_INFO.BLOCK_SIZE) {
    if (data.length !== 14) throw new NbdProtocolError('ERR_NBD_OPTION_REPLY', `NBD_INFO_BLOCK_SIZE of ${data.length} bytes, not 14`, '"NBD_INFO_BLOCK_SIZE"');
    const min = data.readUInt32BE(2);
    const preferred = data.readUInt32BE(6);
    const max = data.readUInt32BE(10);
    // proto.md "Block size constraints": powers of two, min <= preferred, max a multiple of min.
    if (!isPowerOfTwo(min) || min > 65536 || !isPowerOfTwo(preferred) || preferred < min || max < preferred || (max !== 0xffffffff && max % min !== 0)) {
      throw new NbdProtocolError('ERR_NBD_OPTION_REPLY', `block sizes min ${min}, preferred ${preferred}, max ${max} break the constraints`, '"Block size constraints"');
    }
    info.minBlock = min;
    info.preferredBlock = preferred;
    info.maxPayload = Math.min(max, NBD_DEFAULT_MAX_PAYLOAD);
  }
}

function checkedSize(n: bigint): number {
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new NbdProtocolError('ERR_NBD_OPTION_REPLY', `export size ${n} is beyond 2^53`, '"NBD_INFO_EXPORT"');
  return Number(n);
}

/** The name and message of an error reply, for the error the caller throws. */
function describeError(r: OptionReply): string {
  const name = NBD_REP_ERR[r.type] ?? `error 0x${r.type.toString(16)}`;
  const text = r.data.length > 0 ? `: ${r.data.toString('utf8', 0, Math.min(r.data.length, 512))}` : '';
  return `${name}${text}`;
}

async function readReply(io: HandshakeIo, option: number): Promise<OptionReply> {
  const h = parseOptionReplyHeader(await io.read(OPTION_REPLY_HEADER));
  // proto.md "Option reply": the reply names the option it answers, and options are answered in order.
  if (h.option !== option) throw new NbdProtocolError('ERR_NBD_OPTION_REPLY', `reply to option ${h.option} while ${option} was asked`, '"Option reply"');
  const data = h.length === 0 ? Buffer.alloc(0) : await io.read(h.length);
  return { option: h.option, type: h.type, data };
}

/**
 * Runs the client side of the fixed newstyle handshake up to the transmission phase and returns what
 * the server said about `exportName`.
 * @throws NbdProtocolError when the server is not fixed newstyle, breaks the protocol, or refuses the export.
 */
export async function negotiate(io: HandshakeIo, exportName: string, opts: NegotiateOptions = {}): Promise<ExportInfo> {
  const greeting = await io.read(18);
  if (greeting.readBigUInt64BE(0) !== NBD_INIT_MAGIC) throw new NbdProtocolError('ERR_NBD_GREETING', 'the server does not speak NBD (no NBDMAGIC)', '"Handshake"');
  const second = greeting.readBigUInt64BE(8);
  if (second === NBD_CLISERV_MAGIC) throw new NbdProtocolError('ERR_NBD_GREETING', 'the server speaks oldstyle NBD only', '"Oldstyle negotiation"');
  if (second !== NBD_OPTS_MAGIC) throw new NbdProtocolError('ERR_NBD_GREETING', 'no IHAVEOPT after NBDMAGIC', '"Newstyle negotiation"');
  const hflags = greeting.readUInt16BE(16);
  if ((hflags & NBD_FLAG_FIXED_NEWSTYLE) === 0) throw new NbdProtocolError('ERR_NBD_GREETING', 'the server is not fixed newstyle', '"Fixed newstyle negotiation"');
  const noZeroes = (hflags & NBD_FLAG_NO_ZEROES) !== 0;
  const cflags = Buffer.allocUnsafe(4);
  cflags.writeUInt32BE(NBD_FLAG_C_FIXED_NEWSTYLE | (noZeroes ? NBD_FLAG_C_NO_ZEROES : 0), 0);
  io.write(cflags);

  const info: ExportInfo = { size: -1, flags: 0, minBlock: 1, preferredBlock: 4096, maxPayload: NBD_DEFAULT_MAX_PAYLOAD, structuredReplies: false };
  if (opts.structuredReplies !== false) {
    io.write(encodeOption(NBD_OPT.STRUCTURED_REPLY));
    const r = await readReply(io, NBD_OPT.STRUCTURED_REPLY);
    // An error reply (NBD_REP_ERR_UNSUP and the like) leaves simple replies in force.
    if (r.type === NBD_REP.ACK) info.structuredReplies = true;
    else if ((r.type & NBD_REP_FLAG_ERROR) === 0) throw new NbdProtocolError('ERR_NBD_OPTION_REPLY', `reply type ${r.type} to NBD_OPT_STRUCTURED_REPLY`, '"NBD_OPT_STRUCTURED_REPLY"');
  }

  io.write(encodeOption(NBD_OPT.GO, encodeGoData(exportName, [NBD_INFO.BLOCK_SIZE])));
  for (;;) {
    const r = await readReply(io, NBD_OPT.GO);
    if (r.type === NBD_REP.INFO) {
      applyInfo(r.data, info);
      continue;
    }
    if (r.type === NBD_REP.ACK) break;
    if (r.type === NBD_REP_ERR_UNSUP) return exportNameFallback(io, exportName, info, noZeroes);
    if ((r.type & NBD_REP_FLAG_ERROR) !== 0) {
      throw new NbdProtocolError('ERR_NBD_OPTION_REFUSED', `export "${exportName}" refused: ${describeError(r)}`, '"NBD_OPT_GO"');
    }
    // Other reply types (e.g. NBD_REP_SERVER) are not answers to GO: proto.md lets a client ignore them.
  }
  if (info.size < 0) throw new NbdProtocolError('ERR_NBD_OPTION_REPLY', 'NBD_OPT_GO succeeded without NBD_INFO_EXPORT', '"NBD_OPT_GO"');
  return info;
}

/** NBD_OPT_EXPORT_NAME, for servers without NBD_OPT_GO: no block sizes, and no error reply (the server hangs up). */
async function exportNameFallback(io: HandshakeIo, exportName: string, info: ExportInfo, noZeroes: boolean): Promise<ExportInfo> {
  io.write(encodeOption(NBD_OPT.EXPORT_NAME, Buffer.from(exportName, 'utf8')));
  const b = await io.read(10 + (noZeroes ? 0 : EXPORT_NAME_ZEROES));
  info.size = checkedSize(b.readBigUInt64BE(0));
  info.flags = b.readUInt16BE(8);
  return info;
}
