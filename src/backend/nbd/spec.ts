// LUN specs of remote block stores: `nbd://HOST[:PORT]/EXPORT`, `nbd+unix:///EXPORT?socket=PATH`
// (the NBD URI syntax, NetworkBlockDevice/nbd doc/uri.md) and `rbd:POOL/IMAGE` (a Ceph RBD image
// served by a qemu-nbd child), each followed by `,OPTION` as in every LUN spec.

import { LunSpecError } from '../errors.js';
import { specOptions } from '../spec-options.js';
import { NBD_DEFAULT_PORT } from './constants.js';
import type { NbdEndpoint } from './connection.js';

interface RemoteCommon {
  /** The text it was parsed from. */
  spec: string;
  /** Connections to open when the server allows several. */
  conns?: number;
  /** Milliseconds a request may take, resends included. */
  timeoutMs?: number;
  readOnly: boolean;
  /** Present the LUN as an ejectable medium (INQUIRY RMB, START STOP UNIT LOEJ), as a file LUN can be. */
  removable?: boolean;
  /** Logical block size, when the spec sets one (else the server's decides). */
  blockSize?: number;
}

/** An NBD export. */
export interface NbdLunSpec extends RemoteCommon {
  kind: 'nbd';
  /** The URL without options, for messages. */
  url: string;
  endpoint: NbdEndpoint;
  exportName: string;
}

/** A Ceph RBD image, served through qemu-nbd (qemu's rbd driver, librbd). */
export interface RbdLunSpec extends RemoteCommon {
  kind: 'rbd';
  pool: string;
  image: string;
  /** ceph.conf to use (librbd's default search otherwise). */
  conf?: string;
  /** The cephx user without `client.` (librbd's default: admin). */
  id?: string;
}

/** A parsed remote LUN spec. */
export type RemoteLunSpec = NbdLunSpec | RbdLunSpec;

const PREFIXES = ['nbd://', 'nbd+unix://', 'nbds://', 'nbds+unix://', 'rbd:'];

/** Whether the head of a LUN spec names a remote store (and {@link parseRemoteLunSpec} must parse it). */
export function isRemoteLunSpec(spec: string): boolean {
  const s = spec.trim().toLowerCase();
  return PREFIXES.some((p) => s.startsWith(p));
}

/** Pool, image and user names as Ceph allows them (no separators that qemu or librbd would read). */
const CEPH_NAME = /^[A-Za-z0-9_.-]+$/;
const MAX_CONNS = 16;
const MIN_TIMEOUT_MS = 100;
const MAX_TIMEOUT_MS = 3_600_000;

/** Parses a remote LUN spec, refusing anything ambiguous with a {@link LunSpecError}. */
export function parseRemoteLunSpec(spec: string): RemoteLunSpec {
  const head = spec.split(',')[0]!.trim();
  const base = head.toLowerCase().startsWith('rbd:') ? parseRbdHead(spec, head) : parseNbdHead(spec, head);
  for (const { name, value } of specOptions(spec)) {
    switch (name) {
      case 'conns':
        base.conns = intOption(spec, name, value, 1, MAX_CONNS);
        break;
      case 'timeout':
        base.timeoutMs = intOption(spec, name, value, MIN_TIMEOUT_MS, MAX_TIMEOUT_MS);
        break;
      case 'ro':
        if (value !== undefined) throw new LunSpecError(spec, 'syntax', '"ro" takes no value');
        base.readOnly = true;
        break;
      case 'removable':
        if (value !== undefined) throw new LunSpecError(spec, 'syntax', '"removable" takes no value');
        base.removable = true;
        break;
      case 'bs':
        if (value !== '512' && value !== '4096') throw new LunSpecError(spec, 'bad-block-size', `block size must be 512 or 4096, not "${value ?? ''}"`);
        base.blockSize = Number(value);
        break;
      case 'conf':
      case 'id':
        if (base.kind !== 'rbd') throw new LunSpecError(spec, 'unknown-option', `"${name}" applies to rbd: LUNs only`);
        if (value === undefined || value === '') throw new LunSpecError(spec, 'syntax', `"${name}" needs a value`);
        if (name === 'id' && !CEPH_NAME.test(value)) throw new LunSpecError(spec, 'syntax', `"${value}" is not a Ceph user name`);
        if (name === 'conf') base.conf = value;
        else base.id = value;
        break;
      default: {
        const known = base.kind === 'rbd' ? 'conf, id, conns, timeout, ro, removable, bs' : 'conns, timeout, ro, removable, bs';
        throw new LunSpecError(spec, 'unknown-option', `unknown option "${name}" (known: ${known})`);
      }
    }
  }
  return base;
}

function intOption(spec: string, name: string, value: string | undefined, min: number, max: number): number {
  if (value === undefined || !/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new LunSpecError(spec, 'syntax', `${name} must be a whole number from ${min} to ${max}, not "${value ?? ''}"`);
  }
  return Number(value);
}

function parseRbdHead(spec: string, head: string): RbdLunSpec {
  const m = /^rbd:([^/]+)\/([^/]+)$/i.exec(head);
  if (m === null || !CEPH_NAME.test(m[1]!) || !CEPH_NAME.test(m[2]!)) {
    throw new LunSpecError(spec, 'syntax', 'an RBD LUN is rbd:POOL/IMAGE (letters, digits, _ . -)');
  }
  return { kind: 'rbd', spec, pool: m[1]!, image: m[2]!, readOnly: false };
}

function parseNbdHead(spec: string, head: string): NbdLunSpec {
  let u: URL;
  try {
    u = new URL(head);
  } catch {
    throw new LunSpecError(spec, 'syntax', `"${head}" is not an NBD URL (nbd://HOST[:PORT]/EXPORT or nbd+unix:///EXPORT?socket=PATH)`);
  }
  const scheme = u.protocol.toLowerCase();
  if (scheme === 'nbds:' || scheme === 'nbds+unix:') throw new LunSpecError(spec, 'syntax', 'NBD over TLS (nbds://) is not supported; use nbd:// on a trusted network');
  if (u.username !== '' || u.password !== '' || u.hash !== '') throw new LunSpecError(spec, 'syntax', 'an NBD URL has no user, password or fragment');
  let exportName: string;
  try {
    exportName = decodeURIComponent(u.pathname.replace(/^\//, ''));
  } catch {
    throw new LunSpecError(spec, 'syntax', `the export name in "${head}" is not valid percent-encoding`);
  }
  const params = [...u.searchParams.keys()];
  if (scheme === 'nbd+unix:') {
    if (u.hostname !== '') throw new LunSpecError(spec, 'syntax', 'nbd+unix:// takes no host: nbd+unix:///EXPORT?socket=PATH');
    const path = u.searchParams.get('socket');
    if (path === null || path === '') throw new LunSpecError(spec, 'syntax', 'nbd+unix:// needs ?socket=PATH');
    if (params.some((k) => k !== 'socket')) throw new LunSpecError(spec, 'unknown-option', `unknown URL parameter (known: socket)`);
    return { kind: 'nbd', spec, url: head, endpoint: { path }, exportName, readOnly: false };
  }
  if (u.hostname === '') throw new LunSpecError(spec, 'syntax', 'nbd:// needs a host: nbd://HOST[:PORT]/EXPORT');
  if (params.length > 0) throw new LunSpecError(spec, 'unknown-option', 'nbd:// takes no URL parameters (options follow a comma)');
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  const port = u.port === '' ? NBD_DEFAULT_PORT : Number(u.port);
  return { kind: 'nbd', spec, url: head, endpoint: { host, port }, exportName, readOnly: false };
}
