// The base of wrapper backends (delay, fault, and wrappers to come such as NBD or a cluster's):
// every BlockBackend member forwarded to an inner backend; a subclass overrides only what it changes.

import type { BackendTaskManagement, BlockBackend, ExtentStatus, SidecarStore, WriteOptions, WriteZeroesOptions } from './types.js';

/** The names of BlockBackend's optional methods. */
export type OptionalBackendMethod = {
  [K in keyof BlockBackend]-?: undefined extends BlockBackend[K] ? (NonNullable<BlockBackend[K]> extends (...args: never[]) => unknown ? K : never) : never;
}[keyof BlockBackend];

/**
 * Every optional method, once: a Record so that a method added to BlockBackend and not listed here
 * fails to compile, rather than being silently exposed (or hidden) by every wrapper.
 */
const OPTIONAL_METHODS: Record<OptionalBackendMethod, true> = {
  unmap: true,
  writeZeroes: true,
  isMapped: true,
  extentStatus: true,
  sidecar: true,
  resize: true,
  onTaskManagement: true,
};
const OPTIONAL_METHOD_NAMES = Object.keys(OPTIONAL_METHODS) as OptionalBackendMethod[];

/**
 * A backend that forwards every call to `inner`. An optional method exists on the wrapper exactly when
 * it exists on the inner backend, whether or not a subclass overrides it: the SCSI layer reads a
 * capability from the method's presence (UNMAP, SBC-3 §5.28, and the Logical Block Provisioning VPD
 * page, SBC-3 §6.5, from `typeof backend.unmap === 'function'`), so a wrapper must neither add nor
 * drop one. Subclasses override the members they change and call `this.inner` for the rest; an
 * override of an optional method runs only when the inner backend has it, so it may call
 * `this.inner.method!` without a check.
 *
 * Getters read `this.inner` (a public field, not a private one) so that a Proxy around a wrapper, as
 * tests use to record calls, still reads them.
 */
export class ForwardingBackend implements BlockBackend {
  /** The wrapped backend. */
  readonly inner: BlockBackend;

  constructor(inner: BlockBackend) {
    this.inner = inner;
    // Hide what the inner backend lacks: an own property `undefined` shadows the forwarding method.
    const self: { [K in OptionalBackendMethod]?: BlockBackend[K] } = this;
    for (const name of OPTIONAL_METHOD_NAMES) if (typeof inner[name] !== 'function') self[name] = undefined;
  }

  get kind(): string {
    return this.inner.kind;
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
  get removable(): boolean {
    return this.inner.removable === true;
  }
  get physicalBlockSize(): number | undefined {
    return this.inner.physicalBlockSize;
  }
  get unmapReadsZeros(): boolean | undefined {
    return this.inner.unmapReadsZeros;
  }

  read(lba: number, count: number, into: Buffer, signal?: AbortSignal): Promise<void> {
    return this.inner.read(lba, count, into, signal);
  }
  write(lba: number, data: Buffer, opts?: WriteOptions, signal?: AbortSignal): Promise<void> {
    return this.inner.write(lba, data, opts, signal);
  }
  flush(signal?: AbortSignal): Promise<void> {
    return this.inner.flush(signal);
  }
  unmap?(lba: number, count: number, signal?: AbortSignal): Promise<void> {
    return this.inner.unmap!(lba, count, signal);
  }
  writeZeroes?(lba: number, count: number, opts?: WriteZeroesOptions, signal?: AbortSignal): Promise<void> {
    return this.inner.writeZeroes!(lba, count, opts, signal);
  }
  isMapped?(lba: number, count: number): Promise<boolean> {
    return this.inner.isMapped!(lba, count);
  }
  extentStatus?(lba: number, maxBlocks: number): Promise<ExtentStatus> {
    return this.inner.extentStatus!(lba, maxBlocks);
  }
  sidecar?(name: string): SidecarStore {
    return this.inner.sidecar!(name);
  }
  resize?(blocks: number): Promise<void> {
    return this.inner.resize!(blocks);
  }
  onTaskManagement?(event: BackendTaskManagement): void {
    this.inner.onTaskManagement!(event);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
