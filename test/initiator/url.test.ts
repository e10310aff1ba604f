// libiscsi-style URLs: iscsi://[user[%secret]@]host[:port]/target-iqn/lun.
import { describe, expect, it } from 'vitest';
import { UrlError } from '../../src/initiator/errors.js';
import { formatIscsiUrl, parseIscsiUrl, redact } from '../../src/initiator/url.js';

describe('parseIscsiUrl', () => {
  it('parses host, port, target and LUN', () => {
    expect(parseIscsiUrl('iscsi://127.0.0.1:3261/iqn.2003-01.org.example:disk/1')).toMatchObject({ host: '127.0.0.1', port: 3261, target: 'iqn.2003-01.org.example:disk', lun: 1, user: undefined });
  });

  it('defaults the port to 3260', () => {
    expect(parseIscsiUrl('iscsi://example.com/iqn.x:y/0')).toMatchObject({ host: 'example.com', port: 3260, lun: 0 });
  });

  it('takes user and secret, the secret after the first %', () => {
    expect(parseIscsiUrl('iscsi://alice%s3cr%t@host/iqn.x:y/2')).toMatchObject({ user: 'alice', secret: 's3cr%t', host: 'host', lun: 2 });
  });

  it('takes the last @ before the host, so a secret may contain @', () => {
    expect(parseIscsiUrl('iscsi://alice%p@ss@host:3260/iqn.x:y/2')).toMatchObject({ user: 'alice', secret: 'p@ss', host: 'host' });
  });

  it('accepts IPv6 addresses in brackets', () => {
    expect(parseIscsiUrl('iscsi://[::1]:3260/iqn.x:y/1')).toMatchObject({ host: '::1', port: 3260 });
  });

  it('reads libiscsi\'s mutual CHAP and digest options', () => {
    expect(parseIscsiUrl('iscsi://u%p@h/iqn.x:y/1?target_user=t&target_password=tp&header_digest=crc32c')).toMatchObject({ targetUser: 't', targetSecret: 'tp', headerDigest: 'crc32c' });
  });

  it('accepts a URL without target or LUN (for discovery and ls)', () => {
    expect(parseIscsiUrl('iscsi://host:3260')).toMatchObject({ target: undefined, lun: undefined });
    expect(parseIscsiUrl('iscsi://host/iqn.x:y')).toMatchObject({ target: 'iqn.x:y', lun: undefined });
  });

  it.each([
    ['http://host/iqn/1', /not an iSCSI URL/],
    ['iscsi://host:99999/iqn.x:y/1', /port/],
    ['iscsi://host/iqn.x:y/abc', /LUN/],
    ['iscsi://host/iqn.x:y/20000', /LUN/],
    ['iscsi://host/iqn.x:y/1?bogus=1', /unknown URL option/],
    ['iscsi://%secret@host/iqn.x:y/1', /empty CHAP user/],
  ])('refuses %s', (url, msg) => {
    expect(() => parseIscsiUrl(url)).toThrow(UrlError);
    expect(() => parseIscsiUrl(url)).toThrow(msg);
  });

  it('redacts secrets for messages', () => {
    expect(redact('iscsi://alice%topsecret@host/iqn.x:y/1?target_password=zzz')).toBe('iscsi://alice%***@host/iqn.x:y/1?target_password=***');
  });

  it('formats back without secrets', () => {
    expect(formatIscsiUrl({ host: '::1', port: 3260, target: 'iqn.x:y', lun: 3, user: 'a' })).toBe('iscsi://a@[::1]:3260/iqn.x:y/3');
  });
});
