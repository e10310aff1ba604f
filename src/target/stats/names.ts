// Label values for metrics and channel messages: fixed words from the RFC's own names, never anything an
// initiator sent (a label that echoed a CHAP name or an unknown target name would leak it and let a peer
// create series at will).

import { LOGIN_STATUS_NAMES, TmfFunction } from '../../pdu/constants.js';

function kebab(words: string): string {
  return words
    .replace(/'/g, '')
    .replace(/([a-z])([A-Z])/g, '$1-$2')
    .replace(/[^A-Za-z0-9]+/g, '-')
    .toLowerCase();
}

const TMF_LABELS: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(TmfFunction).map(([name, code]) => [code, kebab(name)]));

/** The name of a TMF function code (RFC 7143 §11.5.1): `abort-task`, `logical-unit-reset`, ... */
export function tmfFunctionLabel(fn: number): string {
  return TMF_LABELS[fn] ?? `function-${fn}`;
}

/**
 * Why a login failed, as a label: the status name of RFC 7143 §11.13.5 (`authentication-failure` for a
 * failed CHAP, `authorization-failure` for an ACL, `not-found`, ...), `timeout` when it did not complete
 * in time, `protocol-error` when it was dropped without an answer.
 */
export function loginFailureLabel(status: number | undefined, timedOut: boolean): string {
  if (status !== undefined) {
    const name = LOGIN_STATUS_NAMES[status];
    return name === undefined ? `status-${status.toString(16).padStart(4, '0')}` : kebab(name);
  }
  return timedOut ? 'timeout' : 'protocol-error';
}
