// The forwarding base of wrapper backends: every member forwarded, an optional method present exactly
// when the inner backend has it (overridden or not), the backend's TMF type the SCSI layer's.
import { describe, expect, expectTypeOf, test, vi } from 'vitest';
import { DelayBackend } from '../../src/backend/delay.js';
import { FaultBackend } from '../../src/backend/fault.js';
import { ForwardingBackend, type OptionalBackendMethod } from '../../src/backend/forwarding.js';
import { MemoryBackend } from '../../src/backend/memory.js';
import type { BackendTmfType, BlockBackend, SidecarStore } from '../../src/backend/types.js';
import type { TmfType } from '../../src/scsi/types.js';

const OPTIONAL: OptionalBackendMethod[] = ['unmap', 'isMapped', 'extentStatus', 'sidecar', 'resize', 'onTaskManagement'];

/** A backend with only the required members. */
function bare(): BlockBackend {
  const m = new MemoryBackend({ blocks: 16 });
  return {
    kind: 'bare',
    blockSize: 512,
    blocks: 16,
    readOnly: false,
    read: (lba, count, into, signal) => m.read(lba, count, into, signal),
    write: (lba, data, opts, signal) => m.write(lba, data, opts, signal),
    flush: (signal) => m.flush(signal),
    close: () => m.close(),
  };
}

/** A backend with every optional method, each recording its call. */
function full(calls: string[]): BlockBackend {
  const store: SidecarStore = { location: 'x', load: () => null, save: async () => {}, remove: async () => {} };
  return {
    ...bare(),
    kind: 'full',
    removable: true,
    physicalBlockSize: 4096,
    unmap: async (lba, count) => void calls.push(`unmap ${lba} ${count}`),
    isMapped: async (lba, count) => (calls.push(`isMapped ${lba} ${count}`), true),
    extentStatus: async (lba, max) => (calls.push(`extentStatus ${lba} ${max}`), { mapped: true, blocks: 1 }),
    sidecar: (name) => (calls.push(`sidecar ${name}`), store),
    resize: async (blocks) => void calls.push(`resize ${blocks}`),
    onTaskManagement: (ev) => void calls.push(`tmf ${ev.type} ${ev.lun}`),
  };
}

/** A wrapper overriding one optional method, as NBD or cluster wrappers will. */
class Counting extends ForwardingBackend {
  unmaps = 0;
  override unmap?(lba: number, count: number, signal?: AbortSignal): Promise<void> {
    this.unmaps++;
    return this.inner.unmap!(lba, count, signal);
  }
}

describe('ForwardingBackend', () => {
  test('forwards the geometry and every required method', async () => {
    const inner = new MemoryBackend({ blocks: 8, removable: true, physicalBlockSize: 4096 });
    const f = new ForwardingBackend(inner);
    expect([f.kind, f.blockSize, f.blocks, f.readOnly, f.removable, f.physicalBlockSize]).toEqual(['memory', 512, 8, false, true, 4096]);
    await f.write(1, Buffer.alloc(512, 7));
    await f.flush();
    const into = Buffer.alloc(512);
    await f.read(1, 1, into);
    expect(into[0]).toBe(7);
    const close = vi.spyOn(inner, 'close');
    await f.close();
    expect(close).toHaveBeenCalledOnce();
  });
  test('forwards every optional method the inner backend has, with its arguments', async () => {
    const calls: string[] = [];
    const f = new ForwardingBackend(full(calls));
    for (const m of OPTIONAL) expect(typeof f[m], m).toBe('function');
    await f.unmap!(1, 2);
    expect(await f.isMapped!(3, 4)).toBe(true);
    expect(await f.extentStatus!(5, 6)).toEqual({ mapped: true, blocks: 1 });
    expect(f.sidecar!('pr').location).toBe('x');
    await f.resize!(32);
    f.onTaskManagement!({ type: 'logical-unit-reset', lun: 3, aborted: [] });
    expect(calls).toEqual(['unmap 1 2', 'isMapped 3 4', 'extentStatus 5 6', 'sidecar pr', 'resize 32', 'tmf logical-unit-reset 3']);
  });
  test('lacks every optional method the inner backend lacks, overridden ones included', () => {
    for (const w of [new ForwardingBackend(bare()), new Counting(bare()), new DelayBackend(bare(), 1), new FaultBackend(bare(), [])]) {
      for (const m of OPTIONAL) expect(typeof w[m], `${w.constructor.name}.${m}`).toBe('undefined');
      expect(w.removable).toBe(false);
      expect(w.physicalBlockSize).toBeUndefined();
    }
  });
  test('a subclass override runs in place of the forwarding', async () => {
    const calls: string[] = [];
    const c = new Counting(full(calls));
    await c.unmap!(0, 1);
    expect([c.unmaps, calls]).toEqual([1, ['unmap 0 1']]);
  });
  test('a Proxy around a wrapper reads its getters', () => {
    const d = new DelayBackend(new MemoryBackend({ blocks: 8 }), 1);
    const p = new Proxy(d, {});
    expect([p.kind, p.blocks, p.blockSize]).toEqual(['memory+delay', 8, 512]);
  });
  test('lists exactly the optional methods of BlockBackend', () => {
    expectTypeOf<OptionalBackendMethod>().toEqualTypeOf<'unmap' | 'writeZeroes' | 'isMapped' | 'extentStatus' | 'sidecar' | 'resize' | 'onTaskManagement'>();
  });
});

describe('BackendTmfType', () => {
  test('is the SCSI layer’s TmfType, so the SCSI layer passes its own value through', () => {
    expectTypeOf<BackendTmfType>().toEqualTypeOf<TmfType>();
  });
});
