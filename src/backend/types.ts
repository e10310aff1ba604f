// The block backend interface: what a LUN stores its blocks in (ARCHITECTURE.md, "Backends").

import type { TmfType } from '../scsi/types.js';

export interface WriteOptions {
  /** Force Unit Access: the data must be durable before the promise resolves (SBC-3 §5.x). */
  fua?: boolean;
}

/**
 * A task management function as a backend hears of it (ARCHITECTURE.md, "Task management"): told
 * before the transport waits for the affected tasks, so a backend with its own queue can drop them.
 */
export interface BackendTaskManagement {
  type: TmfType;
  /** The LUN the backend serves. */
  lun: number;
  /** Initiator task tags of the tasks aborted on this LUN; their AbortSignals fire too. */
  aborted: readonly number[];
}

/** A store of fixed-size blocks. Every method honours `signal` where it can cancel. */
export interface BlockBackend {
  /** A short name for logs and VPD, e.g. 'file' or 'memory'. */
  readonly kind: string;
  /** Logical block size in bytes (512 or 4096). */
  readonly blockSize: number;
  /** Capacity in logical blocks. */
  readonly blocks: number;
  readonly readOnly: boolean;
  /** Reads `count` blocks at `lba` into `into` (which holds count * blockSize bytes). */
  read(lba: number, count: number, into: Buffer, signal?: AbortSignal): Promise<void>;
  /** Writes `data` (a whole number of blocks) at `lba`; resolves once written (durable with fua). */
  write(lba: number, data: Buffer, opts?: WriteOptions, signal?: AbortSignal): Promise<void>;
  /** Makes every completed write durable (fdatasync for files). */
  flush(signal?: AbortSignal): Promise<void>;
  /** Deallocates blocks: they then read back as zeros. Optional: thin provisioning. */
  unmap?(lba: number, count: number, signal?: AbortSignal): Promise<void>;
  /** Whether a block range is mapped (for GET LBA STATUS); optional. */
  isMapped?(lba: number, count: number): Promise<boolean>;
  /** Changes the capacity (the LU reports CAPACITY DATA HAS CHANGED); optional. */
  resize?(blocks: number): Promise<void>;
  /** Told of a task management function before its tasks are waited for; optional. */
  onTaskManagement?(event: BackendTaskManagement): void;
  /** Releases the handle; idempotent. */
  close(): Promise<void>;
}
