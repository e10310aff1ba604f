// Shared fixtures for the SCSI emulation tests: nexuses, commands and a logical unit over memory.

import { expect } from 'vitest';
import { MemoryBackend } from '../../src/backend/memory.js';
import { LogicalUnit, type LogicalUnitOptions } from '../../src/scsi/logical-unit.js';
import { parseSense, type FieldPointer, type ParsedSense } from '../../src/scsi/sense.js';
import type { ItNexus, ScsiCommand, ScsiResponse, TaskAttribute } from '../../src/scsi/types.js';

export const TARGET = 'iqn.2024-01.io.tsiscsi:test';

/** A distinct I_T nexus per `n`. */
export function nexus(n = 1): ItNexus {
  const initiatorName = `iqn.2024-01.io.tsiscsi:initiator${n}`;
  const isid = `80000000000${n.toString(16)}`.slice(-12);
  const initiatorPortName = `${initiatorName},i,0x${isid}`;
  const targetPortName = `${TARGET},t,0x0001`;
  return {
    id: `${initiatorPortName}|${targetPortName}`,
    initiatorName,
    isid,
    initiatorPortName,
    targetName: TARGET,
    tpgt: 1,
    targetPortName,
    relativeTargetPortId: 1,
  };
}

export interface CmdOptions {
  nexus?: ItNexus;
  lun?: number;
  dataOut?: Buffer | null;
  attr?: TaskAttribute;
  signal?: AbortSignal;
  dataInLength?: number;
  taskTag?: number;
}

let tag = 1;

export function cmd(cdb: Buffer, o: CmdOptions = {}): ScsiCommand {
  return {
    nexus: o.nexus ?? nexus(1),
    lun: o.lun ?? 0,
    cdb,
    taskAttribute: o.attr ?? 'simple',
    taskTag: o.taskTag ?? tag++,
    dataOut: o.dataOut ?? null,
    dataInLength: o.dataInLength ?? 0,
    signal: o.signal ?? new AbortController().signal,
  };
}

export interface Fixture {
  lu: LogicalUnit;
  backend: MemoryBackend;
  run(cdb: Buffer, o?: CmdOptions): Promise<ScsiResponse>;
}

/** A LU of `blocks` blocks (1 MiB of 512-byte blocks by default) over a fresh memory backend. */
export function makeLu(opts: Partial<LogicalUnitOptions> & { blocks?: number; blockSize?: number; backendReadOnly?: boolean } = {}): Fixture {
  const backend = new MemoryBackend({
    blocks: opts.blocks ?? 2048,
    blockSize: opts.blockSize ?? 512,
    readOnly: opts.backendReadOnly === true,
  });
  const { blocks: _b, blockSize: _bs, backendReadOnly: _ro, ...rest } = opts;
  const lu = new LogicalUnit({ lun: 0, targetName: TARGET, ...rest, backend });
  return { lu, backend, run: (cdb, o) => lu.execute(cmd(cdb, o)) };
}

/** Parses the sense of a CHECK CONDITION response. */
export function senseOf(res: ScsiResponse): ParsedSense {
  expect(res.status).toBe(0x02);
  expect(res.sense).toBeDefined();
  return parseSense(res.sense as Buffer);
}

/** Asserts CHECK CONDITION with this sense key, ASC/ASCQ (`asc << 8 | ascq`) and field pointer. */
export function expectSense(res: ScsiResponse, key: number, ascAscq: number, fp?: FieldPointer | null): ParsedSense {
  const s = senseOf(res);
  expect({ key: s.senseKey, asc: s.asc, ascq: s.ascq }).toEqual({ key, asc: ascAscq >> 8, ascq: ascAscq & 0xff });
  if (fp === null) expect(s.fieldPointer).toBeUndefined();
  else if (fp !== undefined) expect(s.fieldPointer).toEqual(fp);
  return s;
}

/** A buffer of `blocks` blocks filled with `byte`. */
export function pattern(blocks: number, byte: number, bs = 512): Buffer {
  return Buffer.alloc(blocks * bs, byte);
}

/**
 * Wraps a backend so every read/write/flush waits until the test releases it: lets a test hold a
 * command inside the backend to observe ordering and aborts without timers.
 */
export class GatedBackend {
  readonly calls: string[] = [];
  readonly #gates: (() => void)[] = [];
  constructor(readonly inner: MemoryBackend) {}
  get kind(): string {
    return 'gated';
  }
  get blockSize(): number {
    return this.inner.blockSize;
  }
  get blocks(): number {
    return this.inner.blocks;
  }
  get readOnly(): boolean {
    return this.inner.readOnly;
  }
  /** Operations waiting for {@link release}. */
  get pending(): number {
    return this.#gates.length;
  }
  /** Lets the oldest waiting operation proceed. */
  release(): void {
    this.#gates.shift()?.();
  }
  #gate(name: string, signal?: AbortSignal): Promise<void> {
    this.calls.push(name);
    return new Promise((resolve, reject) => {
      this.#gates.push(resolve);
      signal?.addEventListener('abort', () => reject(Object.assign(new Error('aborted'), { name: 'AbortError' })), { once: true });
    });
  }
  async read(lba: number, count: number, into: Buffer, signal?: AbortSignal): Promise<void> {
    await this.#gate(`read ${lba}`, signal);
    await this.inner.read(lba, count, into);
  }
  async write(lba: number, data: Buffer, opts?: { fua?: boolean }, signal?: AbortSignal): Promise<void> {
    await this.#gate(`write ${lba}`, signal);
    await this.inner.write(lba, data, opts);
  }
  async flush(signal?: AbortSignal): Promise<void> {
    await this.#gate('flush', signal);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/** Runs queued microtasks and one macrotask turn so pending promise chains settle. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
