// HOST:PORT as the config and the command line write a portal (IPv6 as [addr]:port; the port defaults
// to 3260, the IANA iSCSI port, RFC 7143 §13.9).

import type { Portal } from '../portal.js';

const PORTAL_RE = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::(\d+))?$/;

/** What is wrong with `text` as HOST:PORT, or undefined when it is fine. */
export function parsePortalProblem(text: string): string | undefined {
  const m = PORTAL_RE.exec(text.trim());
  if (m === null) return `"${text}" is not HOST:PORT`;
  if (m[3] !== undefined) {
    const port = Number(m[3]);
    if (!Number.isInteger(port) || port < 0 || port > 65535) return `port ${m[3]} is outside 0..65535`;
  }
  return undefined;
}

/** Parses HOST:PORT; undefined when it is not one (see {@link parsePortalProblem}). */
export function portalFromText(text: string): Portal | undefined {
  if (parsePortalProblem(text) !== undefined) return undefined;
  const m = PORTAL_RE.exec(text.trim())!;
  return { host: (m[1] ?? m[2])!, port: m[3] === undefined ? 3260 : Number(m[3]) };
}
