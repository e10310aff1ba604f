// Errors only the initiator raises. The shared ones (ScsiError, TimeoutError, AbortError, ConnectionError,
// LoginError, IscsiProtocolError) live in src/errors.ts; these add what a command's caller must tell apart.

import { ConnectionError, TsiscsiError } from '../errors.js';
import { REJECT_REASON_NAMES, TMF_FUNCTION_NAMES, TMF_RESPONSE_NAMES } from '../pdu/constants.js';

/** The target answered a command with iSCSI Response "Target Failure" (RFC 7143 §11.4.3): no SCSI status. */
export class TargetFailureError extends TsiscsiError {
  /** The iSCSI Response code (RFC 7143 §11.4.3). */
  readonly response: number;
  constructor(response: number) {
    super('ERR_TARGET_FAILURE', `the target answered iSCSI response 0x${response.toString(16).padStart(2, '0')} (target failure, RFC 7143 §11.4.3): the command did not complete`);
    this.name = 'TargetFailureError';
    this.response = response;
  }
}

/** The target refused a PDU with a Reject (RFC 7143 §11.17): the command it carried is ended. */
export class CommandRejectedError extends TsiscsiError {
  /** The Reject reason code (RFC 7143 §11.17.1) and its name. */
  readonly reason: number;
  readonly reasonName: string;
  constructor(reason: number) {
    const name = REJECT_REASON_NAMES[reason] ?? `reason 0x${reason.toString(16)}`;
    super('ERR_REJECTED', `the target rejected the command: ${name} (RFC 7143 §11.17.1)`);
    this.name = 'CommandRejectedError';
    this.reason = reason;
    this.reasonName = name;
  }
}

/** The name RFC 7143 §11.6.1 gives a TMF response ("Function complete", ...), or `response N`. */
export function tmfResponseName(response: number): string {
  return TMF_RESPONSE_NAMES[response] ?? `response ${response}`;
}

/** A task management function was answered with something other than "Function complete" (RFC 7143 §11.6.1). */
export class TaskManagementError extends TsiscsiError {
  /** The function asked for and the response code it got (RFC 7143 §11.5.1, §11.6.1). */
  readonly function: number;
  readonly response: number;
  constructor(fn: number, response: number) {
    super('ERR_TMF', `${TMF_FUNCTION_NAMES[fn] ?? `TMF ${fn}`} answered "${tmfResponseName(response)}" (RFC 7143 §11.6.1)`);
    this.name = 'TaskManagementError';
    this.function = fn;
    this.response = response;
  }
}

/**
 * A READ or WRITE moved fewer (underflow) or would have moved more (overflow) bytes than asked
 * (RFC 7143 §11.4.5.1 residuals). `data` holds what was read.
 */
export class ResidualError extends TsiscsiError {
  /** The O and U bits of the response and the residual count they qualify. */
  readonly overflow: boolean;
  readonly underflow: boolean;
  readonly residualCount: number;
  /** What was read. */
  readonly data: Buffer;
  constructor(init: { overflow: boolean; underflow: boolean; residualCount: number; data: Buffer; expected: number }) {
    super(
      init.underflow ? 'ERR_RESIDUAL_UNDERFLOW' : 'ERR_RESIDUAL_OVERFLOW',
      init.underflow
        ? `the target transferred ${init.expected - init.residualCount} of ${init.expected} bytes (residual underflow ${init.residualCount}, RFC 7143 §11.4.5.1)`
        : `the target had ${init.residualCount} bytes more than the ${init.expected} asked (residual overflow, RFC 7143 §11.4.5.1)`,
    );
    this.name = 'ResidualError';
    this.overflow = init.overflow;
    this.underflow = init.underflow;
    this.residualCount = init.residualCount;
    this.data = init.data;
  }
}

/** What a command or a login gets once the session is closed (ERR_SESSION_CLOSED). */
export function sessionClosedError(): ConnectionError {
  return new ConnectionError('ERR_SESSION_CLOSED', 'the session is closed');
}

/** A malformed iSCSI URL (libiscsi's form: iscsi://[user[%secret]@]host[:port]/target-iqn/lun). */
export class UrlError extends TsiscsiError {
  constructor(message: string) {
    super('ERR_URL', message);
    this.name = 'UrlError';
  }
}

/**
 * A multipath command found no usable path within its failover time (every path down, failed, or in an
 * ALUA state that refuses media access: standby, unavailable, offline, transitioning, SPC-4 §5.15.2.4),
 * or no path of a {@link MultipathSession} could be opened. `errors` holds each path's last error, by
 * path index; `cause` the error that sent the command looking.
 */
export class NoPathError extends ConnectionError {
  /** The last error of each path, by path index (undefined where a path had none). */
  readonly errors: readonly (Error | undefined)[];
  /** True when MultipathSession.connect could open no path (nothing was ever reachable). */
  readonly atConnect: boolean;
  constructor(message: string, errors: readonly (Error | undefined)[], options?: { cause?: unknown; atConnect?: boolean }) {
    super('ERR_NO_PATH', message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'NoPathError';
    this.errors = errors;
    this.atConnect = options?.atConnect === true;
  }
}

/**
 * The URLs of a multipath session do not reach one logical unit: their Device Identification VPD pages
 * (SPC-4 §7.8.6) name different devices, or a path names none, or they disagree on the block size. Using
 * them as paths of one device would mix two disks' blocks, so the path is refused.
 */
export class PathIdentityError extends TsiscsiError {
  /** The path refused (its index among the URLs) and its redacted URL. */
  readonly path: number;
  readonly url: string;
  constructor(path: number, url: string, message: string) {
    super('ERR_PATH_IDENTITY', message);
    this.name = 'PathIdentityError';
    this.path = path;
    this.url = url;
  }
}
