// iSCSI URLs as libiscsi writes them: iscsi://[user[%secret]@]host[:port][/target-iqn[/lun]][?key=value&...]
// with libiscsi's query keys for mutual CHAP (target_user, target_password) and digests.

import { UrlError } from './errors.js';

/** A parsed iSCSI URL. */
export interface IscsiUrl {
  host: string;
  /** Default 3260 (RFC 7143 §4.2.4). */
  port: number;
  /** Target IQN, if the URL names one. */
  target: string | undefined;
  /** LUN, if the URL names one. */
  lun: number | undefined;
  /** CHAP user (CHAP_N) and secret. */
  user: string | undefined;
  secret: string | undefined;
  /** Mutual CHAP: the target's name and secret (`?target_user=...&target_password=...`). */
  targetUser: string | undefined;
  targetSecret: string | undefined;
  /** `?header_digest=` / `?data_digest=`: crc32c, none, crc32c-none or none-crc32c (first preferred). */
  headerDigest: DigestPreference | undefined;
  dataDigest: DigestPreference | undefined;
}

/** Which digests to offer, in order of preference. */
export type DigestPreference = 'none' | 'crc32c' | 'crc32c-none' | 'none-crc32c';

const DIGESTS: readonly DigestPreference[] = ['none', 'crc32c', 'crc32c-none', 'none-crc32c'];

// The greedy user part takes everything up to the last "@" that is followed by a host.
const URL_RE = /^iscsi:\/\/(?:(.*)@)?(\[[0-9a-fA-F:.]+\]|[^/:@?[\]]+)(?::(\d{1,5}))?(?:\/([^/?]*)(?:\/([^/?]*))?)?\/?(?:\?(.*))?$/s;

/**
 * Parses `iscsi://[user[%secret]@]host[:port][/target-iqn[/lun]]`. The secret follows the first `%` of
 * the user part (libiscsi's form), so it cannot contain `@` followed by a host; pass it in the options
 * instead when it does.
 * @throws UrlError naming what is wrong.
 */
export function parseIscsiUrl(text: string): IscsiUrl {
  if (!/^iscsi:\/\//i.test(text)) throw new UrlError(`${JSON.stringify(text)} is not an iSCSI URL: expected iscsi://[user[%secret]@]host[:port]/target-iqn/lun`);
  const m = URL_RE.exec('iscsi://' + text.slice(8));
  if (m === null) throw new UrlError(`cannot parse ${JSON.stringify(redact(text))}: expected iscsi://[user[%secret]@]host[:port]/target-iqn/lun`);
  const [, userinfo, rawHost, rawPort, rawTarget, rawLun, query] = m;
  const host = rawHost!.startsWith('[') ? rawHost!.slice(1, -1) : rawHost!;
  const port = rawPort === undefined ? 3260 : Number(rawPort);
  if (port < 1 || port > 65535) throw new UrlError(`port ${rawPort} is outside 1..65535`);
  let user: string | undefined;
  let secret: string | undefined;
  if (userinfo !== undefined) {
    const pct = userinfo.indexOf('%');
    user = pct < 0 ? userinfo : userinfo.slice(0, pct);
    secret = pct < 0 ? undefined : userinfo.slice(pct + 1);
    if (user.length === 0) throw new UrlError('the URL has an empty CHAP user before "@"');
  }
  const target = rawTarget === undefined || rawTarget === '' ? undefined : decodeURIComponentSafe(rawTarget);
  let lun: number | undefined;
  if (rawLun !== undefined && rawLun !== '') {
    if (!/^\d{1,5}$/.test(rawLun) || Number(rawLun) > 16383) throw new UrlError(`LUN ${JSON.stringify(rawLun)} is not a number from 0 to 16383`);
    lun = Number(rawLun);
  }
  const out: IscsiUrl = { host, port, target, lun, user, secret, targetUser: undefined, targetSecret: undefined, headerDigest: undefined, dataDigest: undefined };
  if (query !== undefined && query !== '') {
    for (const part of query.split('&')) {
      if (part === '') continue;
      const eq = part.indexOf('=');
      const k = eq < 0 ? part : part.slice(0, eq);
      const v = eq < 0 ? '' : decodeURIComponentSafe(part.slice(eq + 1));
      switch (k) {
        case 'target_user':
          out.targetUser = v;
          break;
        case 'target_password':
          out.targetSecret = v;
          break;
        case 'header_digest':
        case 'data_digest': {
          const d = v.toLowerCase() as DigestPreference;
          if (!DIGESTS.includes(d)) throw new UrlError(`${k}=${v}: expected one of ${DIGESTS.join(', ')}`);
          if (k === 'header_digest') out.headerDigest = d;
          else out.dataDigest = d;
          break;
        }
        default:
          throw new UrlError(`unknown URL option ${JSON.stringify(k)} (known: target_user, target_password, header_digest, data_digest)`);
      }
    }
  }
  return out;
}

/** The URL without its secrets, for messages. */
export function redact(text: string): string {
  return text.replace(/^(iscsi:\/\/[^%@/]*)%[^@]*@/i, '$1%***@').replace(/(target_password=)[^&]*/, '$1***');
}

/** Formats a URL back (without secrets). */
export function formatIscsiUrl(u: Pick<IscsiUrl, 'host' | 'port' | 'target' | 'lun'> & { user?: string | undefined }): string {
  const host = u.host.includes(':') ? `[${u.host}]` : u.host;
  let s = `iscsi://${u.user !== undefined ? `${u.user}@` : ''}${host}:${u.port}`;
  if (u.target !== undefined) s += `/${u.target}`;
  if (u.target !== undefined && u.lun !== undefined) s += `/${u.lun}`;
  return s;
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
