// Remote LUN specs: NBD URLs (NetworkBlockDevice/nbd doc/uri.md) and rbd:POOL/IMAGE, with options.

import { describe, expect, it } from 'vitest';
import { LunSpecError } from '../../../src/backend/errors.js';
import { isRemoteLunSpec, parseRemoteLunSpec } from '../../../src/backend/nbd/spec.js';
import { parseLunSpec } from '../../../src/backend/spec.js';

describe('parseRemoteLunSpec', () => {
  it('reads host, default port 10809 and export of nbd://', () => {
    expect(parseRemoteLunSpec('nbd://10.0.0.5/vol%201')).toMatchObject({
      kind: 'nbd',
      url: 'nbd://10.0.0.5/vol%201',
      endpoint: { host: '10.0.0.5', port: 10809 },
      exportName: 'vol 1',
      readOnly: false,
    });
  });

  it('reads a port, an IPv6 host, the empty default export and options', () => {
    expect(parseRemoteLunSpec('nbd://[::1]:10900,conns=4,timeout=5000,ro,bs=4096,removable')).toMatchObject({
      endpoint: { host: '::1', port: 10900 },
      exportName: '',
      conns: 4,
      timeoutMs: 5000,
      readOnly: true,
      removable: true,
      blockSize: 4096,
    });
  });

  it('reads nbd+unix:///EXPORT?socket=PATH', () => {
    expect(parseRemoteLunSpec('nbd+unix:///lun0?socket=/run/qemu-nbd.sock,conns=2')).toMatchObject({
      kind: 'nbd',
      endpoint: { path: '/run/qemu-nbd.sock' },
      exportName: 'lun0',
      conns: 2,
    });
  });

  it('reads rbd:POOL/IMAGE with conf, id and conns', () => {
    expect(parseRemoteLunSpec('rbd:rbd/lun0,conf=/etc/ceph/ceph.conf,id=iscsi,conns=2')).toEqual({
      kind: 'rbd',
      spec: 'rbd:rbd/lun0,conf=/etc/ceph/ceph.conf,id=iscsi,conns=2',
      pool: 'rbd',
      image: 'lun0',
      conf: '/etc/ceph/ceph.conf',
      id: 'iscsi',
      conns: 2,
      readOnly: false,
    });
  });

  it.each([
    ['nbd://', /needs a host|not an NBD URL/],
    ['nbd+unix:///x', /needs \?socket=PATH/],
    ['nbd+unix://host/x?socket=/s', /takes no host/],
    ['nbds://h/x', /TLS/],
    ['nbd://u:p@h/x', /no user/],
    ['nbd://h/x?tls=on', /no URL parameters/],
    ['nbd://h/x,conns=0', /conns must be a whole number from 1 to 16/],
    ['nbd://h/x,conns=17', /from 1 to 16/],
    ['nbd://h/x,timeout=10', /timeout must be a whole number from 100/],
    ['nbd://h/x,size=1G', /unknown option "size"/],
    ['nbd://h/x,conf=/c', /applies to rbd/],
    ['nbd://h/x,ro,ro', /given twice/],
    ['nbd://h/x,,ro', /stray comma/],
    ['rbd:pool', /rbd:POOL\/IMAGE/],
    ['rbd:pool/im:age', /rbd:POOL\/IMAGE/],
    ['rbd:p/i,id=client admin', /not a Ceph user name/],
    ['rbd:p/i,bs=1024', /512 or 4096/],
  ])('refuses %s', (spec, message) => {
    let e: unknown;
    try {
      parseRemoteLunSpec(spec);
    } catch (x) {
      e = x;
    }
    expect(e).toBeInstanceOf(LunSpecError);
    expect((e as Error).message).toMatch(message);
  });
});

describe('parseLunSpec with remote stores', () => {
  it('routes nbd://, nbd+unix:// and rbd: to the remote syntax and leaves paths alone', () => {
    expect(isRemoteLunSpec('NBD://h/x')).toBe(true);
    expect(isRemoteLunSpec('rbd:p/i')).toBe(true);
    expect(isRemoteLunSpec('./nbd/disk.img')).toBe(false);
    expect(parseLunSpec('nbd://h/x,ro')).toMatchObject({ kind: 'remote', readOnly: true, remote: { kind: 'nbd', exportName: 'x' } });
    expect(parseLunSpec('rbd:p/i')).toMatchObject({ kind: 'remote', remote: { kind: 'rbd', pool: 'p', image: 'i' } });
  });
});
