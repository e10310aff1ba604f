// TargetServer events, a bounded channel that never says an event is pending without delivering it:
// every session up/down and LUN change is delivered, through the async iterator and through
// EventEmitter listeners alike; a misspelt event name is refused when registered.
import { describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../src/backend/memory.js';
import { Session } from '../../src/initiator/session.js';
import type { TargetEvent } from '../../src/target/index.js';
import { startTarget } from '../interop/tsiscsi.js';

describe('TargetServer events', () => {
  it('delivers session up/down and LUN added, resized, removing, removed to iterators and listeners, then ends', async () => {
    const t = await startTarget({ luns: ['mem:16M'] });
    const it = t.server.events();
    const heard: string[] = [];
    t.server.on('event', (e: TargetEvent) => heard.push(e.type));
    expect(() => t.server.on('lun-addded' as never, () => undefined)).toThrow(/unknown event "lun-addded"/);

    const s = await Session.connect(t.url(0));
    const node = t.server.target(t.iqn)!;
    node.addLun(1, new MemoryBackend({ blocks: 2048 }));
    await t.server.resizeLun(t.iqn, 1, 4096);
    await node.removeLun(1);
    // The target hears the logout a little after the initiator's close() resolves.
    const down = new Promise((r) => t.server.once('session-down', r));
    await s.close();
    await down;
    await t.stop();

    const got: string[] = [];
    for await (const e of it) got.push(e.type);
    const expected = ['session-up', 'lun-added', 'lun-resized', 'lun-removing', 'lun-removed', 'session-down', 'stopping', 'stopped'];
    expect(got).toEqual(expected);
    await new Promise((r) => setImmediate(r));
    expect(heard).toEqual(expected);
  });
});
