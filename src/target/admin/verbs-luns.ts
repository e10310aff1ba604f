// Admin verbs on logical units: list, add (within allowedPaths), remove (what is in flight answered
// first), resize (initiators hear CAPACITY DATA HAS CHANGED, 2Ah/09h, as a unit attention on every
// I_T nexus and as an Async Message, SPC-4 §6.6 and RFC 7143 §11.9.1, as the target's lunEvents says).

import Type from 'typebox';
import { MAX_LUN } from '../../pdu/lun.js';
import { parseSize } from '../../util/size.js';
import { openLun } from '../config/build.js';
import { AdminError, pickTarget, request, verb } from './verb.js';

const Target = Type.Optional(Type.String({ minLength: 1 }));
const Lun = Type.Integer({ minimum: 0, maximum: MAX_LUN });

export const LUN_VERBS = {
  'lun-list': verb(request({ cmd: Type.Literal('lun-list'), target: Target }), false, async (ctx, req) => {
    const targets = req.target === undefined ? ctx.server.targets() : [pickTarget(ctx, req.target)];
    const out = [];
    for (const t of targets) {
      for (const lun of t.device.luns()) {
        const lu = t.device.get(lun)!;
        out.push({ target: t.name, lun, state: 'serving', blocks: lu.blocks, blockSize: lu.blockSize, bytes: lu.blocks * lu.blockSize, readOnly: lu.readOnly, inFlight: lu.inFlight });
      }
      // A LUN whose removal is under way: out of the inventory, its last commands still finishing.
      for (const lun of t.device.removing) out.push({ target: t.name, lun, state: 'removing' });
    }
    return { result: out };
  }),

  'lun-add': verb(request({ cmd: Type.Literal('lun-add'), lun: Lun, spec: Type.String({ minLength: 1 }), target: Target }), true, async (ctx, req) => {
    const t = pickTarget(ctx, req.target);
    if (t.device.get(req.lun) !== undefined) throw new AdminError(`LUN ${req.lun} already exists on ${t.name}`);
    const spec = await ctx.exports.check(req.spec);
    // A cluster gateway joins the shared LUN of that backing first: its identity, ALUA and reservations.
    const joined = await t.joinLun?.(spec);
    const backend = await openLun(spec, ctx.log);
    try {
      const lu = t.addLun(req.lun, backend, joined?.options);
      await joined?.attach(lu);
    } catch (e) {
      await backend.close();
      throw e;
    }
    return {
      result: { target: t.name, lun: req.lun, blocks: backend.blocks, blockSize: backend.blockSize },
      changes: [{ kind: 'lun-add', target: t.name, lun: req.lun, spec }],
    };
  }),

  'lun-remove': verb(request({ cmd: Type.Literal('lun-remove'), lun: Lun, target: Target }), true, async (ctx, req) => {
    // Answers once the three steps are done: the LUN refuses new work at once, what was in flight is
    // answered, the backend is closed, the LU's state reset.
    const t = pickTarget(ctx, req.target);
    const removed = await t.removeLun(req.lun);
    if (!removed) throw new AdminError(`no LUN ${req.lun} on ${t.name}`);
    return { result: { target: t.name, lun: req.lun, removed: true }, changes: [{ kind: 'lun-remove', target: t.name, lun: req.lun }] };
  }),

  'lun-resize': verb(request({ cmd: Type.Literal('lun-resize'), lun: Lun, size: Type.String({ minLength: 1 }), target: Target }), true, async (ctx, req) => {
    const t = pickTarget(ctx, req.target);
    const lu = t.device.get(req.lun);
    if (lu === undefined) throw new AdminError(`no LUN ${req.lun} on ${t.name}`);
    const bytes = parseSize(req.size);
    if (bytes <= 0 || bytes % lu.blockSize !== 0) throw new AdminError(`${req.size} is not a positive multiple of the ${lu.blockSize}-byte block`);
    await ctx.server.resizeLun(t.name, req.lun, bytes / lu.blockSize);
    return {
      result: { target: t.name, lun: req.lun, blocks: bytes / lu.blockSize, bytes },
      changes: [{ kind: 'lun-resize', target: t.name, lun: req.lun, bytes }],
    };
  }),
};
