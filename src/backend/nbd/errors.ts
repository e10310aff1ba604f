// Typed errors of the NBD client: the server broke the protocol, could not be reached, or failed a
// request. A failed request looks like Node's own errno errors (`code`, `errno`), so the SCSI layer
// maps it as it maps a failing file: EIO to MEDIUM ERROR, ENOSPC to SPACE ALLOCATION FAILED.

import { TsiscsiError } from '../../errors.js';
import { NBD_ERRNO } from './constants.js';

/** Stable codes of {@link NbdProtocolError}. */
export type NbdProtocolErrorCode =
  /** The greeting is not fixed newstyle NBD (an oldstyle server, or not NBD at all). */
  | 'ERR_NBD_GREETING'
  /** An option reply the negotiation cannot use (bad magic, wrong option, bad length). */
  | 'ERR_NBD_OPTION_REPLY'
  /** The server refused an option we need (export unknown, TLS required, ...). */
  | 'ERR_NBD_OPTION_REFUSED'
  /** A transmission reply that breaks the protocol (bad magic, unknown cookie, bad length). */
  | 'ERR_NBD_REPLY';

/** The server broke the NBD protocol, or refused what the client needs; the connection is unusable. */
export class NbdProtocolError extends TsiscsiError {
  declare readonly code: NbdProtocolErrorCode;
  /** The proto.md section the server broke. */
  readonly rule: string;
  constructor(code: NbdProtocolErrorCode, message: string, rule: string, options?: { cause?: unknown }) {
    super(code, `${message} (NBD ${rule})`, options);
    this.name = 'NbdProtocolError';
    this.rule = rule;
  }
}

/** The server could not be reached (refused, unreachable, timed out) or hung up during the handshake. */
export class NbdConnectError extends TsiscsiError {
  /** The URL of the export, for a message that names it. */
  readonly url: string;
  /** `what` starts the message (default "cannot reach NBD server"). */
  constructor(url: string, message: string, options?: { cause?: unknown; what?: string }) {
    super('ERR_NBD_CONNECT', `${options?.what ?? 'cannot reach NBD server'} ${url}: ${message}`, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'NbdConnectError';
    this.url = url;
  }
}

/** The errno names a failed request carries (the NBD error values, plus timeouts and lost links). */
export type NbdErrnoCode = 'EPERM' | 'EIO' | 'ENOMEM' | 'EINVAL' | 'ENOSPC' | 'EOVERFLOW' | 'ENOTSUP' | 'ESHUTDOWN' | 'ETIMEDOUT';

const ERRNO_NUMBERS: Readonly<Record<NbdErrnoCode, number>> = {
  EPERM: 1,
  EIO: 5,
  ENOMEM: 12,
  EINVAL: 22,
  ENOSPC: 28,
  EOVERFLOW: 75,
  ENOTSUP: 95,
  ESHUTDOWN: 108,
  ETIMEDOUT: 110,
};

/**
 * A request the server failed (its NBD error value), or one that could not be carried out within the
 * LUN's timeout (ETIMEDOUT). Shaped like a Node errno error: `code` is the errno name.
 */
export class NbdIoError extends TsiscsiError {
  declare readonly code: NbdErrnoCode;
  /** The errno number, negative as libuv reports it. */
  readonly errno: number;
  /** The NBD request that failed, e.g. 'NBD_CMD_READ'. */
  readonly syscall: string;
  constructor(code: NbdErrnoCode, syscall: string, message: string, options?: { cause?: unknown }) {
    super(code, `${code}: ${message}, ${syscall}`, options);
    this.name = 'NbdIoError';
    this.errno = -ERRNO_NUMBERS[code];
    this.syscall = syscall;
  }
}

/** The errno name of an NBD error value; values proto.md does not list count as EIO. */
export function nbdErrnoName(value: number): NbdErrnoCode {
  return (NBD_ERRNO[value] ?? 'EIO') as NbdErrnoCode;
}
