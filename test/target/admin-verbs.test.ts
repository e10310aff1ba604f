// The admin verbs against a live target and a real initiator: targets added and removed, ACL and CHAP
// changes applied to the next login, LUN resize reported to every I_T nexus, session drop with a grace
// period, and each change recorded in the running configuration.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScsiError } from '../../src/errors.js';
import { Session } from '../../src/initiator/session.js';
import { ExportPolicy, RunningConfig, runAdmin, type AdminAnswer, type AdminContext, type AdminRequest } from '../../src/target/index.js';
import { ASC, SENSE_KEY } from '../../src/scsi/constants.js';
import { startTarget, type RunningTarget } from '../interop/tsiscsi.js';

const SECOND = 'iqn.2026-11.io.tsiscsi.test:second';
const FRIEND = 'iqn.2026-11.io.tsiscsi.test:friend';
const STRANGER = 'iqn.2026-11.io.tsiscsi.test:stranger';

describe('admin verbs', () => {
  let t: RunningTarget;
  let ctx: AdminContext;
  let config: RunningConfig;
  let dir: string;
  const admin = async (req: AdminRequest): Promise<AdminAnswer & { ok: true }> => {
    const a = await runAdmin(ctx, req);
    if (!a.ok) throw new Error(a.error);
    return a;
  };
  const url = (target: string, lun = 0) => `iscsi://127.0.0.1:${t.port}/${target}/${lun}`;

  beforeAll(async () => {
    t = await startTarget({ luns: ['mem:4M'] });
    dir = mkdtempSync(join(tmpdir(), 'tsiscsi-verbs-'));
    config = new RunningConfig({ targets: [{ iqn: t.iqn, luns: ['mem:4M'] }] });
    ctx = { server: t.server, config, exports: new ExportPolicy(undefined), stats: () => t.server.stats(), log: pino({ level: 'silent' }) };
  });
  afterAll(async () => {
    await t?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('adds a target with a LUN that an initiator then reaches, and records it', async () => {
    await admin({ cmd: 'target-add', iqn: SECOND, luns: ['mem:2M'] });
    const s = await Session.connect(url(SECOND));
    expect((await s.readCapacity()).blocks).toBe(4096);
    await s.close();
    expect(config.document.targets.map((x) => x.iqn)).toEqual([t.iqn, SECOND]);
  });

  it('applies an ACL to the next login and records it', async () => {
    await admin({ cmd: 'acl-add', target: SECOND, initiator: FRIEND });
    await expect(Session.connect(url(SECOND), { initiatorName: STRANGER, replacementTimeout: 0 })).rejects.toThrow(/[Aa]uthorization/);
    const s = await Session.connect(url(SECOND), { initiatorName: FRIEND });
    await s.close();
    expect(config.document.targets[1]!.allow).toEqual([FRIEND]);
    await admin({ cmd: 'acl-remove', target: SECOND, initiator: FRIEND });
    expect(config.document.targets[1]!.allow).toBeUndefined();
  });

  it('requires CHAP once an account is set, from a secret file kept as a reference', async () => {
    const secretFile = join(dir, 'alice.secret');
    writeFileSync(secretFile, 'alice-secret-123\n');
    const a = await admin({ cmd: 'chap-set', target: SECOND, user: 'alice', secretFile });
    expect(a.result).toMatchObject({ user: 'alice', secret: 'file' });
    await expect(Session.connect(url(SECOND), { replacementTimeout: 0 })).rejects.toThrow();
    const s = await Session.connect(url(SECOND), { chap: { user: 'alice', secret: 'alice-secret-123' } });
    await s.close();
    expect(config.document.targets[1]!.chap).toEqual([{ user: 'alice', secretFile }]);
    const listed = await admin({ cmd: 'chap-list', target: SECOND });
    expect(JSON.stringify(listed.result)).not.toContain('alice-secret');
    await admin({ cmd: 'chap-remove', target: SECOND, user: 'alice' });
    const open = await Session.connect(url(SECOND));
    await open.close();
  });

  it('refuses a short CHAP secret and a secret file it cannot read, saying why', async () => {
    const short = join(dir, 'short');
    writeFileSync(short, 'abc');
    expect(await runAdmin(ctx, { cmd: 'chap-set', target: SECOND, user: 'bob', secretFile: short })).toEqual({ ok: false, error: expect.stringMatching(/at least 12 bytes/) });
    expect(await runAdmin(ctx, { cmd: 'chap-set', target: SECOND, user: 'bob', secretFile: join(dir, 'missing') })).toEqual({ ok: false, error: expect.stringMatching(/cannot read secret file/) });
  });

  it('resizes a LUN and every I_T nexus hears CAPACITY DATA HAS CHANGED (2Ah/09h) once', async () => {
    // No automatic retry of a command that met a unit attention: the test sees it.
    const a = await Session.connect(url(t.iqn), { initiatorName: 'iqn.2026-11.io.tsiscsi.test:a', unitAttentionRetries: 0 });
    const b = await Session.connect(url(t.iqn), { initiatorName: 'iqn.2026-11.io.tsiscsi.test:b', unitAttentionRetries: 0 });
    await admin({ cmd: 'lun-resize', target: t.iqn, lun: 0, size: '8M' });
    for (const s of [a, b]) {
      const e = await s.testUnitReady().then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(e).toBeInstanceOf(ScsiError);
      expect((e as ScsiError).senseKey).toBe(SENSE_KEY.UNIT_ATTENTION);
      expect(((e as ScsiError).asc! << 8) | (e as ScsiError).ascq!).toBe(ASC.CAPACITY_DATA_HAS_CHANGED);
      await s.testUnitReady();
      expect((await s.readCapacity()).blocks).toBe(16384);
    }
    await a.close();
    await b.close();
    expect(config.document.targets[0]!.luns).toEqual(['mem:8M']);
  });

  it('drops a session after a grace period in which the initiator logs out', async () => {
    const s = await Session.connect(url(t.iqn), { initiatorName: 'iqn.2026-11.io.tsiscsi.test:dropme' });
    const id = t.server.sessions().find((x) => x.initiatorName === 'iqn.2026-11.io.tsiscsi.test:dropme')!.id;
    const r = await admin({ cmd: 'session-drop', id, graceMs: 3000 });
    expect(r.result).toEqual({ id, dropped: true, loggedOut: true });
    expect(t.server.sessions().some((x) => x.id === id)).toBe(false);
    await s.close().catch(() => {});
    expect(await runAdmin(ctx, { cmd: 'session-drop', id })).toEqual({ ok: false, error: `no session ${id}` });
  });

  it('removes a target: its initiators asked to log out, out of discovery, recorded', async () => {
    const s = await Session.connect(url(SECOND));
    const r = await admin({ cmd: 'target-remove', iqn: SECOND, graceMs: 3000 });
    expect(r.result).toEqual({ target: SECOND, removed: true });
    expect(t.server.target(SECOND)).toBeUndefined();
    await s.close().catch(() => {});
    await expect(Session.connect(url(SECOND), { replacementTimeout: 0 })).rejects.toThrow(/[Nn]ot found|no target/);
    expect(config.document.targets.map((x) => x.iqn)).toEqual([t.iqn]);
    expect(await runAdmin(ctx, { cmd: 'target-remove', iqn: t.iqn })).toEqual({ ok: false, error: expect.stringMatching(/last target/) });
  });

  it('shows the running configuration with inline secrets hidden', async () => {
    const c = new RunningConfig({ targets: [{ iqn: t.iqn, luns: [], chap: { user: 'u', secret: 'inline-secret-1234' } }] });
    const shown = JSON.stringify(await runAdmin({ ...ctx, config: c }, { cmd: 'config-show' }));
    expect(shown).not.toContain('inline-secret-1234');
    expect(shown).toContain('hidden');
  });
});
