// Typed errors of the block backends and of the LUN spec syntax.

import { TsiscsiError } from '../errors.js';

/** Stable codes of {@link BackendError}. */
export type BackendErrorCode =
  /** An I/O beyond the capacity, or a buffer whose length is not what the call needs. */
  | 'ERR_BACKEND_RANGE'
  /** A write, unmap or resize on a read-only backend. */
  | 'ERR_BACKEND_READ_ONLY'
  /** A call after close(). */
  | 'ERR_BACKEND_CLOSED'
  /** The backing file does not exist and cannot be created (no size given, or read-only). */
  | 'ERR_BACKEND_NOT_FOUND'
  /** The capacity is unknown, zero, or not a whole number of blocks. */
  | 'ERR_BACKEND_SIZE'
  /** The path is neither a regular file nor a block device. */
  | 'ERR_BACKEND_NOT_A_FILE'
  /** A sidecar document (e.g. `PATH.pr.json`) cannot be read back. */
  | 'ERR_BACKEND_SIDECAR';

/** A backend refused or failed an operation. */
export class BackendError extends TsiscsiError {
  declare readonly code: BackendErrorCode;
  constructor(code: BackendErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'BackendError';
  }
}

/** Why a LUN spec was refused. */
export type LunSpecProblem =
  | 'syntax'
  | 'unknown-option'
  | 'duplicate-option'
  | 'bad-size'
  | 'bad-block-size'
  | 'bad-delay'
  | 'size-not-multiple'
  | 'missing-size'
  | 'not-found'
  | 'not-a-file';

/**
 * A LUN spec (`PATH[,size=1G][,ro][,bs=512|4096][,delay=MS]` or `mem:SIZE[,...]`) that cannot be
 * used, with the rule it breaks in `problem`.
 */
export class LunSpecError extends TsiscsiError {
  readonly spec: string;
  readonly problem: LunSpecProblem;
  constructor(spec: string, problem: LunSpecProblem, message: string, options?: { cause?: unknown }) {
    super('ERR_LUN_SPEC', `invalid LUN spec "${spec}": ${message}`, options);
    this.name = 'LunSpecError';
    this.spec = spec;
    this.problem = problem;
  }
}
