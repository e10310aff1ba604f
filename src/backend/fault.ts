// A backend wrapper that injects I/O faults, for tests of the error paths a real disk takes rarely:
// EIO on reads, writes or flushes of chosen LBAs (MEDIUM ERROR sense), ENOSPC on writes (DATA PROTECT,
// SPACE ALLOCATION FAILED WRITE PROTECT). The failures look like Node's own errno errors (`code`,
// `errno`, `syscall`), so the SCSI layer maps them exactly as it maps a real one (mediumError, src/scsi/block-io.ts).
//
// LUN spec: `fault=RULE[+RULE...]`, RULE = KIND[@LBA | @FIRST-LAST | @FIRST-], KIND one of
// eio (reads, writes and unmaps), eio-read, eio-write, eio-flush, enospc (writes). Without @ a rule
// covers the whole LUN. Example: `mem:16M,fault=eio@100+enospc@4096-`.

import { ForwardingBackend } from './forwarding.js';
import type { BlockBackend, WriteOptions, WriteZeroesOptions } from './types.js';

/** What a fault rule makes fail. */
export type FaultKind = 'eio' | 'eio-read' | 'eio-write' | 'eio-flush' | 'enospc';

/** One fault: a kind over an inclusive LBA range (the whole LUN when absent). */
export interface FaultRule {
  kind: FaultKind;
  first?: number;
  last?: number;
}

const KINDS: ReadonlySet<string> = new Set<FaultKind>(['eio', 'eio-read', 'eio-write', 'eio-flush', 'enospc']);

/**
 * Parses `KIND[@LBA|@FIRST-LAST|@FIRST-]` rules joined by `+`.
 * @throws RangeError naming the rule that is wrong.
 */
export function parseFaultSpec(text: string): FaultRule[] {
  const rules: FaultRule[] = [];
  for (const raw of text.split('+')) {
    const m = /^([a-z-]+)(?:@(\d+)(?:(-)(\d+)?)?)?$/.exec(raw.trim().toLowerCase());
    if (m === null || !KINDS.has(m[1]!)) {
      throw new RangeError(`fault rule "${raw}" is not KIND[@LBA|@FIRST-LAST|@FIRST-] with KIND one of ${[...KINDS].join(', ')}`);
    }
    const rule: FaultRule = { kind: m[1] as FaultKind };
    if (m[2] !== undefined) {
      rule.first = Number(m[2]);
      if (m[3] === undefined) rule.last = rule.first;
      else if (m[4] !== undefined) rule.last = Number(m[4]);
      if (rule.last !== undefined && rule.last < rule.first) throw new RangeError(`fault rule "${raw}": range ends before it starts`);
    }
    if (rule.kind === 'eio-flush' && rule.first !== undefined) throw new RangeError(`fault rule "${raw}": a flush has no LBA`);
    rules.push(rule);
  }
  return rules;
}

/** The error a failing system call would have raised (what `fs` rejects with). */
export class InjectedFaultError extends Error {
  readonly code: 'EIO' | 'ENOSPC';
  readonly errno: number;
  readonly syscall: string;
  constructor(code: 'EIO' | 'ENOSPC', syscall: string, where: string) {
    super(`${code}: ${code === 'EIO' ? 'i/o error' : 'no space left on device'}, ${syscall} (injected fault ${where})`);
    this.name = 'InjectedFaultError';
    this.code = code;
    this.errno = code === 'EIO' ? -5 : -28;
    this.syscall = syscall;
  }
}

/** Wraps `inner`, failing the I/O its rules cover; `rules` may be changed at any time (tests). */
export class FaultBackend extends ForwardingBackend {
  rules: FaultRule[];
  /** Operations failed so far, by kind of operation. */
  readonly injected = { read: 0, write: 0, flush: 0, unmap: 0 };

  constructor(inner: BlockBackend, rules: FaultRule[]) {
    super(inner);
    this.rules = rules;
  }

  override get kind(): string {
    return `${this.inner.kind}+fault`;
  }

  override async read(lba: number, count: number, into: Buffer, signal?: AbortSignal): Promise<void> {
    const hit = this.#hit(['eio', 'eio-read'], lba, count);
    if (hit !== undefined) {
      this.injected.read++;
      throw new InjectedFaultError('EIO', 'read', `at LBA ${hit}`);
    }
    return this.inner.read(lba, count, into, signal);
  }

  override async write(lba: number, data: Buffer, opts?: WriteOptions, signal?: AbortSignal): Promise<void> {
    this.#writeFault(lba, Math.floor(data.length / this.inner.blockSize));
    return this.inner.write(lba, data, opts, signal);
  }

  override async flush(signal?: AbortSignal): Promise<void> {
    if (this.rules.some((r) => r.kind === 'eio-flush')) {
      this.injected.flush++;
      throw new InjectedFaultError('EIO', 'fdatasync', 'on flush');
    }
    return this.inner.flush(signal);
  }

  override async unmap?(lba: number, count: number, signal?: AbortSignal): Promise<void> {
    // Deallocating writes the medium (zeros, or a truncate): an EIO region fails it.
    const hit = this.#hit(['eio', 'eio-write'], lba, count);
    if (hit !== undefined) {
      this.injected.unmap++;
      throw new InjectedFaultError('EIO', 'write', `at LBA ${hit}`);
    }
    return this.inner.unmap!(lba, count, signal);
  }

  override async writeZeroes?(lba: number, count: number, opts?: WriteZeroesOptions, signal?: AbortSignal): Promise<void> {
    // Zeroing writes the medium like any write: an EIO or ENOSPC region fails it.
    this.#writeFault(lba, count);
    return this.inner.writeZeroes!(lba, count, opts, signal);
  }

  /** Throws the injected error of a write to [lba, lba+count), if a rule covers it. */
  #writeFault(lba: number, count: number): void {
    const eio = this.#hit(['eio', 'eio-write'], lba, count);
    if (eio !== undefined) {
      this.injected.write++;
      throw new InjectedFaultError('EIO', 'write', `at LBA ${eio}`);
    }
    const full = this.#hit(['enospc'], lba, count);
    if (full !== undefined) {
      this.injected.write++;
      throw new InjectedFaultError('ENOSPC', 'write', `at LBA ${full}`);
    }
  }

  /** The first LBA of [lba, lba+count) a rule of one of `kinds` covers, if any. */
  #hit(kinds: readonly FaultKind[], lba: number, count: number): number | undefined {
    const end = lba + Math.max(count, 1) - 1;
    let first: number | undefined;
    for (const r of this.rules) {
      if (!kinds.includes(r.kind)) continue;
      const lo = Math.max(lba, r.first ?? 0);
      const hi = Math.min(end, r.last ?? Number.MAX_SAFE_INTEGER);
      if (lo <= hi && (first === undefined || lo < first)) first = lo;
    }
    return first;
  }
}
