// The cluster settings: the --cluster URL, the config file's object, and the errors that name the setting.
import { describe, expect, test } from 'vitest';
import { parseClusterUrl, validateClusterConfig } from '../../src/cluster/config.js';

describe('cluster configuration', () => {
  test('parses etcd://HOST:PORT,HOST:PORT into endpoints', () => {
    expect(parseClusterUrl('etcd://10.0.0.1:2379,etcd2.example:2379')).toEqual(['10.0.0.1:2379', 'etcd2.example:2379']);
  });

  test('refuses a URL of another scheme, naming the flag', () => {
    expect(() => parseClusterUrl('http://10.0.0.1:2379')).toThrow(/^--cluster: "http:\/\/10.0.0.1:2379" is not etcd:\/\//);
  });

  test('applies the defaults: prefix /tsiscsi/, a 5 s lease, implicit ALUA, acks awaited 2 x TTL', () => {
    const c = validateClusterConfig({ url: 'etcd://127.0.0.1:2379', gateway: 'gw1' });
    expect(c).toEqual({ endpoints: ['127.0.0.1:2379'], gateway: 'gw1', prefix: '/tsiscsi/', leaseTtlS: 5, alua: 'implicit', ackTimeoutMs: 10_000 });
  });

  test('takes TLS files and a password from a file', () => {
    const c = validateClusterConfig({
      endpoints: ['127.0.0.1:2379'],
      gateway: 'gw1',
      tls: { caFile: 'ca.pem', certFile: 'c.pem', keyFile: 'k.pem' },
      auth: { user: 'tsiscsi', passwordFile: '/etc/tsiscsi/etcd' },
      alua: 'explicit',
      leaseTtlS: 10,
      tpgId: 7,
    });
    expect(c.tls).toEqual({ caFile: 'ca.pem', certFile: 'c.pem', keyFile: 'k.pem' });
    expect(c.auth).toEqual({ user: 'tsiscsi', passwordFile: '/etc/tsiscsi/etcd' });
    expect([c.alua, c.leaseTtlS, c.tpgId]).toEqual(['explicit', 10, 7]);
  });

  test.each([
    [{ url: 'etcd://h:1' }, /^cluster.gateway: must be a non-empty string/],
    [{ url: 'etcd://h:1', gateway: 'a b' }, /^cluster.gateway: "a b" must match/],
    [{ url: 'etcd://h:1', gateway: 'g', leaseTtlS: 1 }, /^cluster.leaseTtlS: must be an integer number of seconds in 2..300/],
    [{ url: 'etcd://h:1', gateway: 'g', alua: 'both' }, /^cluster.alua: must be "implicit" or "explicit"/],
    [{ url: 'etcd://h:1', gateway: 'g', tls: { ca: 'x' } }, /^cluster.tls.ca: is not a TLS setting/],
    [{ url: 'etcd://h:1', gateway: 'g', tls: { caFile: 'x', certFile: 'c' } }, /^cluster.tls: certFile and keyFile go together/],
    [{ url: 'etcd://h:1', gateway: 'g', auth: { user: 'u' } }, /^cluster.auth: give exactly one of passwordFile, passwordEnv, password/],
    [{ url: 'etcd://h:1', gateway: 'g', tlsCa: 'x' }, /^cluster.tlsCa: is not a cluster setting/],
    [{ url: 'etcd://h:1', gateway: 'g', prefix: 'tsiscsi' }, /^cluster.prefix: must start and end with "\/"/],
    [{ endpoints: ['h:99999'], gateway: 'g' }, /^cluster.endpoints\[0\]: port 99999 is outside 1..65535/],
  ])('refuses %j with an error naming the setting', (raw, message) => {
    expect(() => validateClusterConfig(raw)).toThrow(message);
  });
});
