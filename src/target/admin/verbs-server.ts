// Admin verbs on the server as a whole: its sessions (listed, dropped with a grace period), its
// counters (`stats`, what `admin top` polls), and its running configuration (shown, saved).

import Type from 'typebox';
import { AdminError, request, verb } from './verb.js';

export const SERVER_VERBS = {
  'session-list': verb(request({ cmd: Type.Literal('session-list') }), false, async (ctx) => ({ result: ctx.server.sessions() })),

  'session-drop': verb(
    request({ cmd: Type.Literal('session-drop'), id: Type.Integer({ minimum: 0 }), graceMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 3_600_000 })) }),
    true,
    async (ctx, req) => {
      const r = await ctx.server.dropSession(req.id, req.graceMs === undefined ? {} : { graceMs: req.graceMs });
      if (!r.found) throw new AdminError(`no session ${req.id}`);
      return { result: { id: req.id, dropped: true, loggedOut: r.loggedOut } };
    },
  ),

  stats: verb(request({ cmd: Type.Literal('stats') }), false, async (ctx) => ({ result: await ctx.stats() })),

  'config-show': verb(request({ cmd: Type.Literal('config-show') }), false, async (ctx) => {
    if (ctx.config === undefined) throw new AdminError('this target keeps no running configuration');
    return { result: ctx.config.shown() };
  }),

  'config-save': verb(request({ cmd: Type.Literal('config-save') }), true, async (ctx) => {
    if (ctx.config === undefined) throw new AdminError('this target keeps no running configuration');
    const r = await ctx.config.save();
    return {
      result: { path: r.path, saved: true },
      ...(r.clearSecrets.length > 0 && { warning: `secrets written in clear (they were given inline): ${r.clearSecrets.join(', ')}; prefer secretFile or secretEnv` }),
    };
  }),
};
