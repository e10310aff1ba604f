// The error hierarchy shared by both ends. Every error has a stable `code`, and the protocol ones carry
// what the peer must be answered (Reject reason, login status, or a dropped connection).
// Brands use Symbol.for so `isX()` survives two copies of the package (undici does the same).

const kTsiscsiError = Symbol.for('tsiscsi.error');

/** The base of every error tsiscsi throws: a stable `code` to match on. */
export class TsiscsiError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'TsiscsiError';
    Object.defineProperty(this, kTsiscsiError, { value: true });
  }
  /** True for a TsiscsiError from any copy of the package (see the brand above). */
  static is(e: unknown): e is TsiscsiError {
    return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[kTsiscsiError] === true;
  }
}

/** What the receiver of a broken PDU must do about it (RFC 7143 §11.17.1, §7). */
export type ProtocolAction =
  /** Answer with a Reject PDU carrying `rejectReason`; the connection survives. */
  | 'reject'
  /** The byte stream cannot be trusted any more: drop the connection. */
  | 'drop'
  /** During login: answer with a Login Response carrying `loginStatus`, then close. */
  | 'login-reject';

/** What an {@link IscsiProtocolError} carries besides its code and message. */
export interface ProtocolErrorInit {
  /** The rule that broke, e.g. 'RFC 7143 §11.2.1.5'. */
  rule: string;
  action: ProtocolAction;
  /** Reject reason code (RFC 7143 §11.17.1) when action is 'reject'. */
  rejectReason?: number;
  /** Login status class << 8 | detail (RFC 7143 §11.13.5) when action is 'login-reject'. */
  loginStatus?: number;
  /** The BHS of the offending PDU, returned in the Reject's data segment. */
  header?: Buffer;
  cause?: unknown;
}

/** A violation of RFC 7143 by the peer, or a framing failure. */
export class IscsiProtocolError extends TsiscsiError {
  readonly rule: string;
  readonly action: ProtocolAction;
  readonly rejectReason: number | undefined;
  readonly loginStatus: number | undefined;
  header: Buffer | undefined;
  constructor(code: string, message: string, init: ProtocolErrorInit) {
    super(code, `${message} (${init.rule})`, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'IscsiProtocolError';
    this.rule = init.rule;
    this.action = init.action;
    this.rejectReason = init.rejectReason;
    this.loginStatus = init.loginStatus;
    this.header = init.header;
  }
}

/** A CRC32C header or data digest did not match (RFC 7143 §7.8 and §11.2.1.9). */
export class DigestError extends IscsiProtocolError {
  readonly which: 'header' | 'data';
  readonly expected: number;
  readonly actual: number;
  constructor(which: 'header' | 'data', expected: number, actual: number, header?: Buffer) {
    super(
      which === 'header' ? 'ERR_HEADER_DIGEST' : 'ERR_DATA_DIGEST',
      `${which} digest mismatch: received 0x${actual.toString(16).padStart(8, '0')}, computed 0x${expected
        .toString(16)
        .padStart(8, '0')}`,
      which === 'header'
        ? // A bad header digest means the lengths in the header cannot be trusted: the stream is lost.
          { rule: 'RFC 7143 §7.8.1', action: 'drop', header }
        : // Reject reason 0x02, data (payload) digest error (RFC 7143 §11.17.1; RejectReason.DataDigestError
          // in pdu/constants.ts, which sits above this module).
          { rule: 'RFC 7143 §7.8.1', action: 'reject', rejectReason: 0x02, header },
    );
    this.name = 'DigestError';
    this.which = which;
    this.expected = expected;
    this.actual = actual;
  }
}

/** Login failed: carries the status class and detail the target answered (RFC 7143 §11.13.5). */
export class LoginError extends TsiscsiError {
  readonly statusClass: number;
  readonly statusDetail: number;
  constructor(statusClass: number, statusDetail: number, message: string) {
    super('ERR_LOGIN', message);
    this.name = 'LoginError';
    this.statusClass = statusClass;
    this.statusDetail = statusDetail;
  }
}

/** The status and decoded sense of a {@link ScsiError}. */
export interface ScsiErrorInit {
  status: number;
  statusName: string;
  senseKey?: number;
  senseKeyName?: string;
  asc?: number;
  ascq?: number;
  ascName?: string;
  sense?: Buffer;
}

/** A SCSI command ended with a status other than GOOD; sense decoded when present. */
export class ScsiError extends TsiscsiError {
  readonly status: number;
  readonly statusName: string;
  readonly senseKey: number | undefined;
  readonly senseKeyName: string | undefined;
  readonly asc: number | undefined;
  readonly ascq: number | undefined;
  readonly ascName: string | undefined;
  readonly sense: Buffer | undefined;
  constructor(init: ScsiErrorInit, message?: string) {
    const what =
      init.senseKey !== undefined
        ? `${init.statusName}: ${init.senseKeyName ?? init.senseKey} / ${init.ascName ?? 'ASC 0x' + hex2(init.asc ?? 0) + ' ASCQ 0x' + hex2(init.ascq ?? 0)}`
        : init.statusName;
    super('ERR_SCSI', message ?? `SCSI command failed: ${what}`);
    this.name = 'ScsiError';
    this.status = init.status;
    this.statusName = init.statusName;
    this.senseKey = init.senseKey;
    this.senseKeyName = init.senseKeyName;
    this.asc = init.asc;
    this.ascq = init.ascq;
    this.ascName = init.ascName;
    this.sense = init.sense;
  }
}

/** An operation exceeded its time budget. */
export class TimeoutError extends TsiscsiError {
  constructor(message: string) {
    super('ERR_TIMEOUT', message);
    this.name = 'TimeoutError';
  }
}

/** An operation was cancelled through its AbortSignal; named like Node's own AbortError. */
export class AbortError extends TsiscsiError {
  constructor(message = 'The operation was aborted', options?: { cause?: unknown }) {
    super('ABORT_ERR', message, options);
    this.name = 'AbortError';
  }
}

/** The connection or session went away and the command could not be completed. */
export class ConnectionError extends TsiscsiError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'ConnectionError';
  }
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}
