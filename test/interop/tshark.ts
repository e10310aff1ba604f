// Wireshark's iSCSI dissector as an independent decoder: runs tshark on a capture and lines its
// per-PDU fields up with ours, field by field.

import { execFileSync } from 'node:child_process';

export interface TsharkPdu {
  stream: number;
  /** 'initiator' when the PDU went to the target port. */
  from: 'initiator' | 'target';
  fields: Record<string, string | string[]>;
}

/** All iSCSI PDUs in a capture, in wire order, with tshark's leaf fields. */
export function tsharkPdus(pcap: string, targetPort: number): TsharkPdu[] {
  const out = execFileSync(
    'tshark',
    ['-r', pcap, '-d', `tcp.port==${targetPort},iscsi`, '-Y', 'iscsi', '-T', 'json', '--no-duplicate-keys', '-j', 'tcp iscsi'],
    { maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'ignore'] },
  ).toString();
  const frames = JSON.parse(out) as { _source: { layers: Record<string, unknown> } }[];
  const result: TsharkPdu[] = [];
  for (const fr of frames) {
    const layers = fr._source.layers;
    const tcp = layers.tcp as Record<string, string>;
    const from = Number(tcp['tcp.dstport']) === targetPort ? 'initiator' : 'target';
    const stream = Number(tcp['tcp.stream']);
    const iscsi = layers.iscsi;
    const pdus = Array.isArray(iscsi) ? iscsi : [iscsi];
    for (const p of pdus) {
      const fields: Record<string, string | string[]> = {};
      collect(p, fields);
      result.push({ stream, from, fields });
    }
  }
  return result;
}

function collect(o: unknown, into: Record<string, string | string[]>): void {
  if (o === null || typeof o !== 'object') return;
  for (const [k, v] of Object.entries(o as Record<string, unknown>)) {
    if ((k.startsWith('iscsi.') || k === 'scsi.lun') && (typeof v === 'string' || Array.isArray(v))) {
      if (Array.isArray(v) && v.every((x) => typeof x === 'string')) into[k] = v as string[];
      else if (typeof v === 'string') into[k] = v;
      else collect(v, into);
    } else {
      collect(v, into);
    }
  }
}

type Conv = (v: string | string[]) => unknown;
const num: Conv = (v) => Number(v as string);
const bool: Conv = (v) => v === '1';

/** tshark field → [our JSON field, converter]. */
const MAP: Record<string, [string, Conv]> = {
  'iscsi.opcode': ['opcode', num],
  'iscsi.I': ['immediate', bool],
  'iscsi.totalahslength': ['totalAHSLength', num],
  'iscsi.datasegmentlength': ['dataSegmentLength', num],
  'scsi.lun': ['lun', num],
  'iscsi.initiatortasktag': ['itt', num],
  'iscsi.targettransfertag': ['ttt', num],
  'iscsi.cmdsn': ['cmdSN', num],
  'iscsi.expstatsn': ['expStatSN', num],
  'iscsi.statsn': ['statSN', num],
  'iscsi.expcmdsn': ['expCmdSN', num],
  'iscsi.maxcmdsn': ['maxCmdSN', num],
  'iscsi.datasn': ['dataSN', num],
  'iscsi.expdatasn': ['expDataSN', num],
  'iscsi.bufferOffset': ['bufferOffset', num],
  'iscsi.r2tsn': ['r2tSN', num],
  'iscsi.desireddatalength': ['desiredDataTransferLength', num],
  'iscsi.scsicommand.expecteddatatransferlength': ['expectedDataTransferLength', num],
  'iscsi.scsicommand.F': ['final', bool],
  'iscsi.scsicommand.R': ['read', bool],
  'iscsi.scsicommand.W': ['write', bool],
  'iscsi.scsicommand.attr': ['attr', num],
  'iscsi.scsiresponse.response': ['response', num],
  'iscsi.scsiresponse.status': ['status', num],
  'iscsi.scsiresponse.residualcount': ['residualCount', num],
  'iscsi.scsiresponse.bidireadresidualcount': ['bidiReadResidualCount', num],
  'iscsi.scsiresponse.o': ['bidiReadResidualOverflow', bool],
  'iscsi.scsiresponse.u': ['bidiReadResidualUnderflow', bool],
  'iscsi.scsiresponse.O': ['residualOverflow', bool],
  'iscsi.scsiresponse.U': ['residualUnderflow', bool],
  'iscsi.scsidata.readresidualcount': ['residualCount', num],
  'iscsi.scsidata.F': ['final', bool],
  'iscsi.scsidata.A': ['acknowledge', bool],
  'iscsi.scsidata.O': ['residualOverflow', bool],
  'iscsi.scsidata.U': ['residualUnderflow', bool],
  'iscsi.scsidata.S': ['statusPresent', bool],
  'iscsi.isid': ['isid', (v) => (v as string).replaceAll(':', '')],
  'iscsi.tsih': ['tsih', num],
  'iscsi.cid': ['cid', num],
  'iscsi.login.T': ['transit', bool],
  'iscsi.login.C': ['continue', bool],
  'iscsi.login.csg': ['csg', num],
  'iscsi.login.nsg': ['nsg', num],
  'iscsi.versionmax': ['versionMax', num],
  'iscsi.versionmin': ['versionMin', num],
  'iscsi.versionactive': ['versionActive', num],
  'iscsi.text.F': ['final', bool],
  'iscsi.text.C': ['continue', bool],
  'iscsi.keyvalue': ['textKeys', (v) => (Array.isArray(v) ? v : [v])],
  'iscsi.logout.reason': ['reasonCode', num],
  'iscsi.logout.response': ['response', num],
  'iscsi.time2wait': ['time2Wait', num],
  'iscsi.time2retain': ['time2Retain', num],
  'iscsi.flags': ['flags', num],
  'iscsi.task_management.function': ['function', num],
  'iscsi.referencedtasktag': ['referencedTaskTag', num],
  'iscsi.refcmdsn': ['refCmdSN', num],
  'iscsi.reject.reason': ['reason', num],
  'iscsi.asyncevent': ['asyncEvent', num],
};

/** Fields tshark derives or shows that have no one-to-one BHS counterpart. */
const IGNORED = new Set([
  'iscsi.padding',
  'iscsi.request_frame',
  'iscsi.response_frame',
  'iscsi.time',
  'iscsi.isid.a',
  'iscsi.isid.b',
  'iscsi.isid.c',
  'iscsi.isid.d',
  'iscsi.isid.t',
  'iscsi.isid.type',
  'iscsi.isid.namingauthority',
  'iscsi.isid.qualifier',
  'iscsi.scsiresponse.senselength',
  'iscsi.login.status',
  'iscsi.datadigest',
  'iscsi.headerdigest32',
  'iscsi.datadigest32',
  'iscsi.async_message',
  'iscsi.immediatedata',
  'iscsi.data_out_frame',
]);

export interface Mismatch {
  index: number;
  field: string;
  ours: unknown;
  theirs: unknown;
}

/** Compares our dump of one direction with tshark's PDUs of that direction. */
export function compareDumps(
  ours: Record<string, unknown>[],
  theirs: TsharkPdu[],
): { compared: number; mismatches: Mismatch[]; unmapped: Set<string> } {
  const mismatches: Mismatch[] = [];
  const unmapped = new Set<string>();
  let compared = 0;
  if (ours.length !== theirs.length) {
    mismatches.push({ index: -1, field: 'pdu count', ours: ours.length, theirs: theirs.length });
  }
  const n = Math.min(ours.length, theirs.length);
  for (let i = 0; i < n; i++) {
    const o = ours[i]!;
    for (const [k, v] of Object.entries(theirs[i]!.fields)) {
      const m = MAP[k];
      if (m === undefined) {
        if (!IGNORED.has(k)) unmapped.add(k);
        continue;
      }
      const [ourKey, conv] = m;
      const theirValue = conv(v);
      let ourValue = o[ourKey];
      if (k === 'iscsi.login.status') continue;
      if (ourValue === undefined && k === 'iscsi.scsiresponse.status' && o.statusPresent === false) continue;
      compared++;
      if (JSON.stringify(ourValue) !== JSON.stringify(theirValue)) {
        mismatches.push({ index: i, field: ourKey, ours: ourValue, theirs: theirValue });
      }
      ourValue = undefined;
    }
    const status = theirs[i]!.fields['iscsi.login.status'];
    if (typeof status === 'string') {
      compared++;
      const ourStatus = ((o.statusClass as number) << 8) | (o.statusDetail as number);
      if (ourStatus !== Number(status)) mismatches.push({ index: i, field: 'loginStatus', ours: ourStatus, theirs: status });
    }
  }
  return { compared, mismatches, unmapped };
}

/** The two byte streams of every TCP connection in a capture, reassembled by tshark. */
export function tsharkStreams(pcap: string): { stream: number; i2t: Buffer; t2i: Buffer }[] {
  const ids = execFileSync('tshark', ['-r', pcap, '-T', 'fields', '-e', 'tcp.stream', '-Y', 'tcp.len > 0'], {
    maxBuffer: 1 << 28,
    stdio: ['ignore', 'pipe', 'ignore'],
  })
    .toString()
    .split('\n')
    .filter((s) => s !== '')
    .map(Number);
  const result: { stream: number; i2t: Buffer; t2i: Buffer }[] = [];
  for (const s of [...new Set(ids)].sort((a, b) => a - b)) {
    const text = execFileSync('tshark', ['-r', pcap, '-q', '-z', `follow,tcp,raw,${s}`], {
      maxBuffer: 1 << 30,
      stdio: ['ignore', 'pipe', 'ignore'],
    }).toString();
    const lines = text.split('\n');
    const start = lines.findIndex((l) => l.startsWith('Node 1:'));
    const i2t: Buffer[] = [];
    const t2i: Buffer[] = [];
    for (const l of lines.slice(start + 1)) {
      if (l.startsWith('====')) break;
      if (l.startsWith('\t')) t2i.push(Buffer.from(l.slice(1), 'hex'));
      else if (l.length > 0) i2t.push(Buffer.from(l, 'hex'));
    }
    result.push({ stream: s, i2t: Buffer.concat(i2t), t2i: Buffer.concat(t2i) });
  }
  return result;
}
