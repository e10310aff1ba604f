// CHAP secrets never reach the logs: a target at --log-level trace, CHAP and mutual CHAP
// with secrets from the environment, logged into by our initiator (right and wrong secret) and by
// libiscsi's iscsi-inq. Neither secret, nor its hex, may appear in anything the target printed.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { Session } from '../../src/initiator/session.js';
import { haveTools, interopDisabled } from '../interop/peers.js';
import { spawnTarget } from '../interop/tsiscsi.js';

const IQN = 'iqn.2026-11.io.tsiscsi.test:secrets';
const SECRET = 'initiator-secret-4f1c9a';
const TARGET_SECRET = 'target-secret-77d2e0b3';

describe.skipIf(interopDisabled)('CHAP secrets and the logs', () => {
  it('never prints a secret, even at trace level, whatever the login outcome', async () => {
    const t = await spawnTarget(['--iqn', IQN, '--lun', 'mem:8M', '--chap', 'alice:env:T_SECRET', '--mutual-chap', 'tgt:env:T_MUTUAL', '--log-level', 'trace'], {
      env: { T_SECRET: SECRET, T_MUTUAL: TARGET_SECRET },
    });
    try {
      const url = `iscsi://127.0.0.1:${t.port}/${IQN}/0`;
      const ok = await Session.connect(url, { chap: { user: 'alice', secret: SECRET, targetUser: 'tgt', targetSecret: TARGET_SECRET } });
      await ok.testUnitReady();
      await ok.close();
      await expect(Session.connect(url, { chap: { user: 'alice', secret: 'wrong-secret-000000' } })).rejects.toThrow(/auth/i);
      if (haveTools('iscsi-inq')) {
        const r = spawnSync('iscsi-inq', [`iscsi://alice%${SECRET}@127.0.0.1:${t.port}/${IQN}/0`], { encoding: 'utf8', timeout: 20_000 });
        expect(r.status).toBe(0);
      }
    } finally {
      await t.stop('SIGTERM');
    }
    const printed = t.stdout() + t.stderr();
    expect(printed).toMatch(/"level":20/); // the debug detail (logins, keys) really was on
    for (const s of [SECRET, TARGET_SECRET]) {
      expect(printed).not.toContain(s);
      expect(printed).not.toContain(Buffer.from(s).toString('hex'));
      expect(printed).not.toContain(Buffer.from(s).toString('base64'));
    }
  }, 60_000);
});
