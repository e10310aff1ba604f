// The block backend interface: what a LUN stores its blocks in (ARCHITECTURE.md, "Backends").

export interface WriteOptions {
  /** Force Unit Access: the data must be durable before the promise resolves (the FUA bit of SBC-3 WRITE). */
  fua?: boolean;
}

/** Options of {@link BlockBackend.writeZeroes}. */
export interface WriteZeroesOptions extends WriteOptions {
  /**
   * The blocks must stay mapped (SBC-3 §4.7.3.3: WRITE SAME without UNMAP, or ANCHOR): zeros are
   * written, never a hole punched. Absent or false: the backend may deallocate them instead.
   */
  mapped?: boolean;
}

/**
 * The task management functions a backend may hear of (SAM-5 §7; RFC 7143 §11.5 carries them). The
 * backend layer states its own union rather than importing the SCSI layer's: it sits below it. The SCSI
 * layer's `TmfType` is the same union, so it passes its own value straight through.
 */
export type BackendTmfType =
  | 'abort-task'
  | 'abort-task-set'
  | 'clear-aca'
  | 'clear-task-set'
  | 'logical-unit-reset'
  | 'target-warm-reset'
  | 'target-cold-reset'
  | 'i-t-nexus-reset';

/**
 * A task management function as a backend hears of it (ARCHITECTURE.md, "Task management"): told
 * before the transport waits for the affected tasks, so a backend with its own queue can drop them.
 */
export interface BackendTaskManagement {
  type: BackendTmfType;
  /** The LUN the backend serves. */
  lun: number;
  /** Initiator task tags of the tasks aborted on this LUN; their AbortSignals fire too. */
  aborted: readonly number[];
}

/** How far one provisioning status extends from an LBA (GET LBA STATUS, SBC-3). */
export interface ExtentStatus {
  /** Whether the blocks are mapped (allocated); false: deallocated, reading back as zeros. */
  mapped: boolean;
  /** Blocks from the asked LBA with this same status (at least 1, at most what was asked). */
  blocks: number;
}

/**
 * Small state kept beside the medium that must survive a restart with it, e.g. persistent
 * reservations with APTPL (SPC-4 §5.13.5). Saving is atomic: after a crash the store holds either the
 * previous document or the new one, never a mix.
 */
export interface SidecarStore {
  /** Where the document lives, for logs. */
  readonly location: string;
  /** The saved document, or null when none was saved (read once, when a logical unit starts). */
  load(): unknown;
  /** Replaces the document durably; resolves once it is on stable storage. */
  save(doc: unknown): Promise<void>;
  /** Removes the document (nothing left to persist); idempotent. */
  remove(): Promise<void>;
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
  /**
   * The medium can be ejected and loaded (INQUIRY RMB, START STOP UNIT LOEJ): an image file is a
   * medium a drive can take out. Absent means fixed. A logical unit's own option overrides it.
   */
  readonly removable?: boolean;
  /**
   * Bytes the medium writes as one unit (the file system block for a file, e.g. 4096): reported as
   * LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT (READ CAPACITY(16)) so initiators align their I/O.
   * Absent or not a power-of-two multiple of `blockSize`: one logical block per physical block.
   */
  readonly physicalBlockSize?: number;
  /** Reads `count` blocks at `lba` into `into` (which holds count * blockSize bytes). */
  read(lba: number, count: number, into: Buffer, signal?: AbortSignal): Promise<void>;
  /** Writes `data` (a whole number of blocks) at `lba`; resolves once written (durable with fua). */
  write(lba: number, data: Buffer, opts?: WriteOptions, signal?: AbortSignal): Promise<void>;
  /** Makes every completed write durable (fdatasync for files). */
  flush(signal?: AbortSignal): Promise<void>;
  /** Deallocates blocks: they then read back as zeros. Optional: thin provisioning. */
  unmap?(lba: number, count: number, signal?: AbortSignal): Promise<void>;
  /**
   * Whether blocks deallocated by `unmap` read back as zeros (LBPRZ, SBC-3 §4.7.3.4). Absent means
   * true; a store whose deallocation leaves the old contents or leaves them undefined says false.
   */
  readonly unmapReadsZeros?: boolean;
  /**
   * Writes zeros to `count` blocks at `lba` without a data buffer (WRITE SAME of a zero block);
   * optional: without it the blocks are written from a buffer of zeros.
   */
  writeZeroes?(lba: number, count: number, opts?: WriteZeroesOptions, signal?: AbortSignal): Promise<void>;
  /** Whether a block range is mapped (for GET LBA STATUS); optional. */
  isMapped?(lba: number, count: number): Promise<boolean>;
  /**
   * The provisioning status at `lba` and how many of the next `maxBlocks` blocks share it (GET LBA
   * STATUS); optional: without it every block counts as mapped (SBC-4: "mapped or unknown").
   */
  extentStatus?(lba: number, maxBlocks: number): Promise<ExtentStatus>;
  /** A store named `name` kept beside the medium (e.g. `PATH.pr.json`); optional: volatile media have none. */
  sidecar?(name: string): SidecarStore;
  /** Changes the capacity (the LU reports CAPACITY DATA HAS CHANGED); optional. */
  resize?(blocks: number): Promise<void>;
  /** Told of a task management function before its tasks are waited for; optional. */
  onTaskManagement?(event: BackendTaskManagement): void;
  /** Releases the handle; idempotent. */
  close(): Promise<void>;
}
