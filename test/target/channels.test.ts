// node:diagnostics_channel channels of the target: session up and down, command start and end, TMF and
// refused logins reach a subscriber with their documented payloads; nothing is published without one.

import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { describe, expect, it } from 'vitest';
import { Session } from '../../src/initiator/session.js';
import { CHANNEL_NAMES, type CommandEndMessage, type CommandStartMessage, type SessionDownMessage, type SessionUpMessage, type TmfMessage } from '../../src/target/index.js';
import { startTarget } from '../interop/tsiscsi.js';

describe('diagnostics channels', () => {
  it('publishes sessions, commands, TMFs and refused logins to subscribers', async () => {
    const t = await startTarget({
      luns: ['mem:4M'],
      config: { targets: [{ iqn: 'iqn.2026-11.io.tsiscsi.test:disk', luns: ['mem:4M'] }, { iqn: 'iqn.2026-11.io.tsiscsi.test:closed', luns: [], allow: ['iqn.2026-11.io.tsiscsi.test:nobody'] }] },
    });
    const got = new Map<string, unknown[]>(CHANNEL_NAMES.map((n) => [n, []]));
    const handlers = CHANNEL_NAMES.map((n) => [n, (m: unknown) => got.get(n)!.push(m)] as const);
    for (const [n, h] of handlers) subscribe(n, h);
    try {
      const s = await Session.connect(t.url(0), { initiatorName: 'iqn.2026-11.io.tsiscsi.test:watched' });
      await s.read(0, 8);
      await s.lunReset(0);
      const down = new Promise((r) => t.server.once('session-down', r));
      await s.close();
      await down;
      await expect(Session.connect(`iscsi://127.0.0.1:${t.port}/iqn.2026-11.io.tsiscsi.test:closed/0`, { replacementTimeout: 0 })).rejects.toThrow();
    } finally {
      for (const [n, h] of handlers) unsubscribe(n, h);
      await t.stop();
    }
    const up = got.get('tsiscsi:session:up')![0] as SessionUpMessage;
    expect(up.session).toMatchObject({ initiatorName: 'iqn.2026-11.io.tsiscsi.test:watched', targetName: t.iqn, type: 'Normal' });
    const down = got.get('tsiscsi:session:down')!.find((m) => (m as SessionDownMessage).session.initiatorName === 'iqn.2026-11.io.tsiscsi.test:watched') as SessionDownMessage;
    expect(down).toMatchObject({ logout: true });
    const starts = got.get('tsiscsi:command:start') as CommandStartMessage[];
    const read = starts.find((m) => m.cdb[0] === 0x28 || m.cdb[0] === 0x88)!;
    expect(read).toMatchObject({ target: t.iqn, lun: 0, expectedLength: 4096 });
    const end = (got.get('tsiscsi:command:end') as CommandEndMessage[]).find((m) => m.itt === read.itt && m.sessionId === read.sessionId)!;
    expect(end).toMatchObject({ status: 0, bytesIn: 4096, bytesOut: 0, aborted: false, lun: 0 });
    expect(end.durationMs).toBeGreaterThanOrEqual(0);
    expect(got.get('tsiscsi:tmf')![0] as TmfMessage).toMatchObject({ target: t.iqn, functionName: 'logical-unit-reset', function: 5, lun: 0, response: 0 });
    expect(got.get('tsiscsi:login:failed')![0]).toMatchObject({ reason: 'authorization-failure', status: 0x0202 });
  });
});
