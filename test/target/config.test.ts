// The configuration schema: every problem named by its path with the message a person can act on, the
// checks across entries, and LUN numbering.

import { describe, expect, it } from 'vitest';
import { ConfigError, lunEntries, validateConfig } from '../../src/target/config.js';

const IQN = 'iqn.2026-11.io.tsiscsi.test:disk';

function problem(raw: unknown): string {
  try {
    validateConfig(raw);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('config validation messages', () => {
  it('refuses a config that is not an object', () => {
    expect(problem([])).toBe('config: must be a JSON object');
    expect(problem('x')).toBe('config: must be a JSON object');
  });

  it('names an unknown top-level setting and lists the known ones', () => {
    const m = problem({ targets: [{ iqn: IQN, luns: ['mem:1M'] }], typo: 1 });
    expect(m).toMatch(/^typo: unknown setting \(known: portals, targets, /);
  });

  it('names an unknown setting of a target by its path', () => {
    expect(problem({ targets: [{ iqn: IQN, luns: ['mem:1M'], lunz: [] }] })).toBe('targets[0].lunz: unknown setting');
  });

  it('requires a non-empty targets array', () => {
    expect(problem({})).toBe('targets: must be a non-empty array');
    expect(problem({ targets: [] })).toBe('targets: must be a non-empty array');
  });

  it('says why an iSCSI name is wrong', () => {
    expect(problem({ targets: [{ iqn: 'not an iqn', luns: ['mem:1M'] }] })).toMatch(/^targets\[0\]\.iqn: "not an iqn" /);
    expect(problem({ targets: [{ iqn: 5, luns: ['mem:1M'] }] })).toBe('targets[0].iqn: must be an iSCSI name string');
    expect(problem({ targets: [{ luns: ['mem:1M'] }] })).toBe('targets[0].iqn: must be an iSCSI name string');
  });

  it('names a bad LUN spec by its index with the spec parser message', () => {
    const m = problem({ targets: [{ iqn: IQN, luns: ['mem:1M', 'mem:1M,bs=1000'] }] });
    expect(m).toMatch(/^targets\[0\]\.luns\[1\]: .*block size must be 512 or 4096/);
    expect(problem({ targets: [{ iqn: IQN, luns: [3] }] })).toBe('targets[0].luns[0]: must be a LUN spec string or { "lun": N, "spec": "..." }');
    expect(problem({ targets: [{ iqn: IQN }] })).toBe('targets[0].luns: must be an array of LUN specs');
  });

  it('checks numbered LUNs and refuses a LUN defined twice', () => {
    expect(problem({ targets: [{ iqn: IQN, luns: [{ lun: 99999, spec: 'mem:1M' }] }] })).toBe('targets[0].luns[0].lun: must be an integer in 0..16383');
    expect(problem({ targets: [{ iqn: IQN, luns: ['mem:1M', { lun: 0, spec: 'mem:1M' }] }] })).toBe('targets[0].luns[1]: LUN 0 is defined twice');
    expect(problem({ targets: [{ iqn: IQN, luns: [{ lun: 2, spec: 'mem:1M', x: 1 }] }] })).toBe('targets[0].luns[0].x: unknown setting');
  });

  it('numbers plain LUN specs by position and numbered ones by their number', () => {
    expect(lunEntries({ luns: ['mem:1M', { lun: 7, spec: 'mem:2M' }] })).toEqual([
      { lun: 0, spec: 'mem:1M', index: 0 },
      { lun: 7, spec: 'mem:2M', index: 1 },
    ]);
  });

  it('refuses a target defined twice', () => {
    expect(problem({ targets: [{ iqn: IQN, luns: [] }, { iqn: IQN, luns: [] }] })).toBe(`targets[1].iqn: ${IQN} is defined twice`);
  });

  it('says the range of an integer setting', () => {
    expect(problem({ targets: [{ iqn: IQN, luns: [] }], queueDepth: 0 })).toBe('queueDepth: must be an integer in 1..4096');
    expect(problem({ targets: [{ iqn: IQN, luns: [] }], queueDepth: 1.5 })).toBe('queueDepth: must be an integer in 1..4096');
    expect(problem({ targets: [{ iqn: IQN, luns: [] }], maxBurstLength: 'big' })).toBe('maxBurstLength: must be an integer in 512..16777215');
  });

  it('names a bad portal and says what is wrong with it', () => {
    expect(problem({ targets: [{ iqn: IQN, luns: [] }], portals: ['127.0.0.1:99999'] })).toBe('portals[0]: port 99999 is outside 0..65535');
    expect(problem({ targets: [{ iqn: IQN, luns: [] }], portals: '127.0.0.1' })).toBe('portals: must be an array of "HOST:PORT"');
    expect(problem({ targets: [{ iqn: IQN, luns: [] }], portals: [7] })).toBe('portals[0]: must be "HOST:PORT"');
  });

  it('requires exactly one secret source per CHAP account', () => {
    const t = (chap: unknown) => ({ targets: [{ iqn: IQN, luns: [], chap }] });
    expect(problem(t({ user: 'alice' }))).toBe('targets[0].chap: give exactly one of secret, secretFile, secretEnv');
    expect(problem(t([{ user: 'alice', secretFile: '/a', secretEnv: 'B' }]))).toBe('targets[0].chap[0]: give exactly one of secret, secretFile, secretEnv');
    expect(problem(t([{ user: '', secretFile: '/a' }]))).toBe('targets[0].chap[0].user: needs a non-empty user');
    expect(problem(t(7))).toBe('targets[0].chap: must be a CHAP account or an array of them');
  });

  it('refuses mutual CHAP without CHAP', () => {
    const m = problem({ targets: [{ iqn: IQN, luns: [], mutualChap: { user: 't', secretEnv: 'X' } }] });
    expect(m).toBe('targets[0].mutualChap: mutual CHAP needs --chap (the initiator authenticates first)');
  });

  it('checks the initiator names of an ACL', () => {
    expect(problem({ targets: [{ iqn: IQN, luns: [], allow: ['bad name'] }] })).toMatch(/^targets\[0\]\.allow\[0\]: "bad name" /);
    expect(problem({ targets: [{ iqn: IQN, luns: [], allow: 'x' }] })).toBe('targets[0].allow: must be an array of initiator IQNs');
  });

  it('checks the metrics section', () => {
    expect(problem({ targets: [{ iqn: IQN, luns: [] }], metrics: { listen: 'x:y' } })).toBe('metrics.listen: "x:y" is not HOST:PORT');
    expect(problem({ targets: [{ iqn: IQN, luns: [] }], metrics: {} })).toBe('metrics.listen: must be "HOST:PORT"');
    expect(() => validateConfig({ targets: [{ iqn: IQN, luns: [] }], metrics: { listen: '9100' } })).not.toThrow();
  });

  it('accepts a full config', () => {
    const cfg = {
      portals: ['0.0.0.0:3260', '[::1]:3261'],
      targets: [{ iqn: IQN, alias: 'a', luns: ['mem:1M', { lun: 5, spec: 'mem:2M,ro' }], allow: [IQN], chap: [{ user: 'u', secretEnv: 'S' }], mutualChap: { user: 't', secretFile: '/x' } }],
      discoveryChap: { user: 'd', secret: 'abcdefghijkl' },
      adminSocket: '/run/tsiscsi.sock',
      adminGroup: 'tsiscsi',
      allowedPaths: ['/srv/iscsi', '/dev/sdb', 'nbd:'],
      persist: true,
      metrics: { listen: '127.0.0.1:9100', tokenFile: '/etc/tsiscsi/token' },
      queueDepth: 64,
      cluster: { url: 'etcd://127.0.0.1:2379', gateway: 'gw1', leaseTtlS: 5, tls: { caFile: '/etc/tsiscsi/ca.pem' } },
    };
    expect(validateConfig(cfg)).toBe(cfg);
  });
  it('names the cluster setting that is wrong', () => {
    const base = { targets: [{ iqn: IQN, luns: ['mem:1M'] }] };
    expect(() => validateConfig({ ...base, cluster: { url: 'etcd://127.0.0.1:2379' } })).toThrow(/^cluster\.gateway: /);
    expect(() => validateConfig({ ...base, cluster: { url: 'etcd://127.0.0.1:2379', gateway: 'gw1', leaseTtlS: 1 } })).toThrow('cluster.leaseTtlS: must be an integer number of seconds in 2..300');
    expect(() => validateConfig({ ...base, cluster: { gateway: 'gw1' } })).toThrow(/^cluster\.endpoints: /);
    expect(() => validateConfig({ ...base, cluster: { url: 'etcd://h:1', gateway: 'gw1', tls: { caFile: '/ca', certFile: '/c' } } })).toThrow('cluster.tls: certFile and keyFile go together');
    expect(() => validateConfig({ ...base, cluster: { url: 'etcd://h:1', gateway: 'gw1', tsl: {} } })).toThrow('cluster.tsl: unknown setting');
  });
});
