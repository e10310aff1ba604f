// The CLI's LUN spec: `PATH[,size=1G][,ro][,removable][,bs=512|4096][,pbs=N][,delay=MS]` for a file
// (or block device) and `mem:SIZE[,ro][,removable][,bs=...][,pbs=N][,delay=MS]` for memory. Sizes take
// binary K/M/G/T suffixes (util/size.ts). `removable` presents the LUN as a drive whose medium (the
// image) can be ejected; `pbs` sets the physical block size reported (a file reports its file system's block size
// unless told otherwise).
// A path containing a comma cannot be written in this syntax. `fault=RULE[+RULE]` injects I/O errors
// (src/backend/fault.ts), for tests of the error paths. Remote stores (`nbd://`, `nbd+unix://`,
// `rbd:`) have their own syntax in src/backend/nbd/spec.ts.

import type { Clock } from '../util/clock.js';
import { parseSize } from '../util/size.js';
import { BackendError, LunSpecError } from './errors.js';
import { DelayBackend } from './delay.js';
import { FaultBackend, parseFaultSpec, type FaultRule } from './fault.js';
import { FileBackend, type FileBackendOptions } from './file.js';
import { MemoryBackend } from './memory.js';
import type { BackendLog } from './nbd/backend.js';
import { openRemoteBackend } from './nbd/open.js';
import { isRemoteLunSpec, parseRemoteLunSpec, type RemoteLunSpec } from './nbd/spec.js';
import type { BlockBackend } from './types.js';

/** A parsed LUN spec. */
export interface LunSpec {
  kind: 'memory' | 'file' | 'remote';
  /** An NBD export or an RBD image (kind 'remote'). */
  remote?: RemoteLunSpec;
  /** The file or device (kind 'file'). */
  path?: string;
  /** Capacity in bytes: required for memory and for a file that does not exist yet. */
  size?: number;
  readOnly: boolean;
  /** The medium can be ejected (INQUIRY RMB, START STOP UNIT LOEJ); set only when the spec says so. */
  removable?: boolean;
  /** Logical block size, 512 or 4096. */
  blockSize: number;
  /** Physical block size to report, a power-of-two multiple of the block size; set only when given. */
  physicalBlockSize?: number;
  /** Milliseconds added to every I/O. */
  delay?: number;
  /** How a file LUN issues its I/O (see FileIoMode); default 'auto'. */
  io?: 'auto' | 'sync' | 'async';
  /** Injected I/O faults (tests): `fault=eio@LBA`, `fault=enospc`, ... */
  fault?: FaultRule[];
  /** The text it was parsed from. */
  spec: string;
}

/** Parses a LUN spec, refusing anything ambiguous with a {@link LunSpecError}. */
export function parseLunSpec(spec: string): LunSpec {
  if (isRemoteLunSpec(spec)) {
    const remote = parseRemoteLunSpec(spec);
    return { kind: 'remote', remote, readOnly: remote.readOnly, ...(remote.removable === true && { removable: true }), blockSize: remote.blockSize ?? 512, spec };
  }
  const parts = spec.split(',');
  const head = parts[0]!.trim();
  if (head === '') throw new LunSpecError(spec, 'syntax', 'no path or mem:SIZE before the options');
  const out: LunSpec = { kind: 'file', readOnly: false, blockSize: 512, spec };
  if (head.toLowerCase().startsWith('mem:')) {
    out.kind = 'memory';
    try {
      out.size = parseSize(head.slice(4));
    } catch (e) {
      throw new LunSpecError(spec, 'bad-size', (e as Error).message, { cause: e });
    }
  } else {
    out.path = head;
  }
  const seen = new Set<string>();
  for (const raw of parts.slice(1)) {
    const opt = raw.trim();
    if (opt === '') throw new LunSpecError(spec, 'syntax', 'empty option (stray comma)');
    const eq = opt.indexOf('=');
    const name = (eq < 0 ? opt : opt.slice(0, eq)).toLowerCase();
    const value = eq < 0 ? undefined : opt.slice(eq + 1);
    if (seen.has(name)) throw new LunSpecError(spec, 'duplicate-option', `option "${name}" given twice`);
    seen.add(name);
    switch (name) {
      case 'ro':
        if (value !== undefined) throw new LunSpecError(spec, 'syntax', '"ro" takes no value');
        out.readOnly = true;
        break;
      case 'removable':
        if (value !== undefined) throw new LunSpecError(spec, 'syntax', '"removable" takes no value');
        out.removable = true;
        break;
      case 'size':
        if (out.kind === 'memory') throw new LunSpecError(spec, 'duplicate-option', 'a memory LUN takes its size as mem:SIZE, not size=');
        if (value === undefined) throw new LunSpecError(spec, 'syntax', '"size" needs a value, e.g. size=1G');
        try {
          out.size = parseSize(value);
        } catch (e) {
          throw new LunSpecError(spec, 'bad-size', (e as Error).message, { cause: e });
        }
        break;
      case 'bs':
        if (value !== '512' && value !== '4096') throw new LunSpecError(spec, 'bad-block-size', `block size must be 512 or 4096, not "${value ?? ''}"`);
        out.blockSize = Number(value);
        break;
      case 'pbs': {
        if (value === undefined || !/^\d+[kK]?$/.test(value)) throw new LunSpecError(spec, 'bad-block-size', `pbs must be a size in bytes, not "${value ?? ''}"`);
        out.physicalBlockSize = parseSize(value);
        break;
      }
      case 'io':
        if (out.kind === 'memory') throw new LunSpecError(spec, 'syntax', 'io= applies to file LUNs only');
        if (value !== 'auto' && value !== 'sync' && value !== 'async') throw new LunSpecError(spec, 'syntax', `io must be auto, sync or async, not "${value ?? ''}"`);
        out.io = value;
        break;
      case 'delay': {
        if (value === undefined || !/^\d+$/.test(value)) throw new LunSpecError(spec, 'bad-delay', `delay must be whole milliseconds, not "${value ?? ''}"`);
        out.delay = Number(value);
        break;
      }
      case 'fault':
        try {
          out.fault = parseFaultSpec(value ?? '');
        } catch (e) {
          throw new LunSpecError(spec, 'syntax', (e as Error).message, { cause: e });
        }
        break;
      default:
        throw new LunSpecError(spec, 'unknown-option', `unknown option "${name}" (known: size, ro, removable, bs, pbs, io, delay, fault)`);
    }
  }
  const pbs = out.physicalBlockSize;
  if (pbs !== undefined) {
    const ratio = pbs / out.blockSize;
    // READ CAPACITY(16) carries it as a 4-bit exponent of logical blocks per physical block.
    if (!Number.isInteger(ratio) || (ratio & (ratio - 1)) !== 0 || ratio > 1 << 15) {
      throw new LunSpecError(spec, 'bad-block-size', `pbs ${pbs} is not the block size ${out.blockSize} times a power of two up to 2^15`);
    }
  }
  if (out.size !== undefined && out.size % out.blockSize !== 0) {
    throw new LunSpecError(spec, 'size-not-multiple', `size ${out.size} is not a multiple of the block size ${out.blockSize}`);
  }
  return out;
}

/** Options of {@link openBackend}. */
export interface OpenBackendOptions {
  /** Timers for the delay wrapper (tests inject fake ones). */
  clock?: Clock;
  /** Where a remote backend logs reconnects and its qemu-nbd's stderr. */
  log?: BackendLog;
}

const BACKEND_PROBLEMS: Partial<Record<string, 'missing-size' | 'not-found' | 'size-not-multiple' | 'not-a-file'>> = {
  ERR_BACKEND_SIZE: 'size-not-multiple',
  ERR_BACKEND_NOT_A_FILE: 'not-a-file',
};

/** Opens the backend a LUN spec describes (creating a missing file when a size is given). */
export async function openBackend(spec: string | LunSpec, opts: OpenBackendOptions = {}): Promise<BlockBackend> {
  const s = typeof spec === 'string' ? parseLunSpec(spec) : spec;
  if (s.kind === 'remote') return openRemoteBackend(s.remote!, opts.log === undefined ? {} : { log: opts.log });
  let backend: BlockBackend;
  if (s.kind === 'memory') {
    if (s.size === undefined) throw new LunSpecError(s.spec, 'missing-size', 'a memory LUN needs a size: mem:SIZE');
    backend = new MemoryBackend({
      blocks: s.size / s.blockSize,
      blockSize: s.blockSize,
      readOnly: s.readOnly,
      removable: s.removable === true,
      ...(s.physicalBlockSize !== undefined && { physicalBlockSize: s.physicalBlockSize }),
    });
  } else {
    try {
      const fo: FileBackendOptions = {
        path: s.path as string,
        blockSize: s.blockSize,
        readOnly: s.readOnly,
        removable: s.removable === true,
      };
      if (s.size !== undefined) fo.size = s.size;
      if (s.physicalBlockSize !== undefined) fo.physicalBlockSize = s.physicalBlockSize;
      if (s.io !== undefined) fo.io = s.io;
      backend = await FileBackend.open(fo);
    } catch (e) {
      if (e instanceof BackendError) {
        let problem = BACKEND_PROBLEMS[e.code] ?? 'not-found';
        if (e.code === 'ERR_BACKEND_NOT_FOUND') problem = s.size === undefined ? 'missing-size' : 'not-found';
        throw new LunSpecError(s.spec, problem, e.message, { cause: e });
      }
      throw e;
    }
  }
  if (s.fault !== undefined) backend = new FaultBackend(backend, s.fault);
  return s.delay !== undefined && s.delay > 0 ? new DelayBackend(backend, s.delay, opts.clock) : backend;
}
