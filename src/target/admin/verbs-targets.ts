// Admin verbs on targets and who may reach them: targets added (with their LUNs, within allowedPaths)
// and removed (initiators asked to log out first), ACL entries, CHAP accounts. ACL and CHAP changes
// apply to the next login; sessions already logged in stay (as LIO does): drop them with
// `session drop` to make a change bite at once.

import Type from 'typebox';
import type { BlockBackend } from '../../backend/types.js';
import { iscsiNameProblem } from '../../login/keys.js';
import { buildTargetNode, chapAccount, openTargetLuns } from '../config/build.js';
import type { ChapAccountConfig, TargetConfig } from '../config/schema.js';
import { AdminError, pickTarget, request, verb } from './verb.js';

const Target = Type.Optional(Type.String({ minLength: 1 }));
const Grace = Type.Optional(Type.Integer({ minimum: 0, maximum: 3_600_000 }));

function checkName(name: string, what: string): void {
  const p = iscsiNameProblem(name);
  if (p !== undefined) throw new AdminError(`${what} "${name}" ${p}`);
}

export const TARGET_VERBS = {
  'target-list': verb(request({ cmd: Type.Literal('target-list') }), false, async (ctx) => ({
    result: ctx.server.targets().map((t) => ({
      target: t.name,
      alias: t.alias ?? '',
      luns: t.device.luns().length,
      sessions: t.sessions.size,
      allow: [...t.allow],
      chapUsers: t.chap.map((a) => a.user),
      mutualChap: t.mutualChap?.user ?? '',
    })),
  })),

  'target-add': verb(
    request({ cmd: Type.Literal('target-add'), iqn: Type.String({ minLength: 1 }), alias: Type.Optional(Type.String()), luns: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { maxItems: 256 })) }),
    true,
    async (ctx, req) => {
      checkName(req.iqn, 'target name');
      if (ctx.server.target(req.iqn) !== undefined) throw new AdminError(`target ${req.iqn} already exists`);
      const luns: string[] = [];
      for (const s of req.luns ?? []) luns.push(await ctx.exports.check(s));
      const cfg: TargetConfig = { iqn: req.iqn, ...(req.alias !== undefined && { alias: req.alias }), luns };
      const node = buildTargetNode(cfg, 'target', ctx.log);
      const opened: BlockBackend[] = [];
      try {
        await openTargetLuns(node, cfg, 'target', opened);
        ctx.server.addTarget(node);
      } catch (e) {
        await Promise.all(opened.map((b) => b.close().catch(() => {})));
        throw e;
      }
      return { result: { target: req.iqn, luns: luns.length }, changes: [{ kind: 'target-add', target: cfg }] };
    },
  ),

  'target-remove': verb(request({ cmd: Type.Literal('target-remove'), iqn: Type.String({ minLength: 1 }), graceMs: Grace }), true, async (ctx, req) => {
    if (ctx.server.target(req.iqn) === undefined) throw new AdminError(`no target ${req.iqn}`);
    // The config needs one target; refusing here keeps a saved config loadable.
    if (ctx.server.targets().length === 1) throw new AdminError(`${req.iqn} is the last target: add another before removing it`);
    await ctx.server.removeTarget(req.iqn, { graceMs: req.graceMs ?? 2000 });
    return { result: { target: req.iqn, removed: true }, changes: [{ kind: 'target-remove', target: req.iqn }] };
  }),

  'acl-list': verb(request({ cmd: Type.Literal('acl-list'), target: Target }), false, async (ctx, req) => {
    const targets = req.target === undefined ? ctx.server.targets() : [pickTarget(ctx, req.target)];
    return { result: targets.flatMap((t) => (t.allow.size === 0 ? [{ target: t.name, initiator: '*' }] : [...t.allow].map((initiator) => ({ target: t.name, initiator })))) };
  }),

  'acl-add': verb(request({ cmd: Type.Literal('acl-add'), initiator: Type.String({ minLength: 1 }), target: Target }), true, async (ctx, req) => {
    checkName(req.initiator, 'initiator name');
    const t = pickTarget(ctx, req.target);
    const opened = t.allow.size === 0;
    t.allow.add(req.initiator);
    return {
      result: { target: t.name, initiator: req.initiator, allowed: [...t.allow] },
      changes: [{ kind: 'acl-add', target: t.name, initiator: req.initiator }],
      ...(opened && { warning: `${t.name} admitted any initiator until now; only the listed ones may log in from now on` }),
    };
  }),

  'acl-remove': verb(request({ cmd: Type.Literal('acl-remove'), initiator: Type.String({ minLength: 1 }), target: Target }), true, async (ctx, req) => {
    const t = pickTarget(ctx, req.target);
    if (!t.allow.delete(req.initiator)) throw new AdminError(`${req.initiator} is not on the ACL of ${t.name}`);
    return {
      result: { target: t.name, initiator: req.initiator, allowed: [...t.allow] },
      changes: [{ kind: 'acl-remove', target: t.name, initiator: req.initiator }],
      ...(t.allow.size === 0 && { warning: `the ACL of ${t.name} is now empty: any initiator may log in (subject to CHAP)` }),
    };
  }),

  'chap-list': verb(request({ cmd: Type.Literal('chap-list'), target: Target }), false, async (ctx, req) => {
    const targets = req.target === undefined ? ctx.server.targets() : [pickTarget(ctx, req.target)];
    // Names only: a secret never leaves the target.
    return {
      result: targets.flatMap((t) => [
        ...t.chap.map((a) => ({ target: t.name, user: a.user, kind: 'initiator' })),
        ...(t.mutualChap === undefined ? [] : [{ target: t.name, user: t.mutualChap.user, kind: 'mutual' }]),
      ]),
    };
  }),

  'chap-set': verb(
    request({
      cmd: Type.Literal('chap-set'),
      user: Type.String({ minLength: 1 }),
      secret: Type.Optional(Type.String()),
      secretFile: Type.Optional(Type.String({ minLength: 1 })),
      secretEnv: Type.Optional(Type.String({ minLength: 1 })),
      mutual: Type.Optional(Type.Boolean()),
      target: Target,
    }),
    true,
    async (ctx, req) => {
      const t = pickTarget(ctx, req.target);
      const account: ChapAccountConfig = {
        user: req.user,
        ...(req.secret !== undefined && { secret: req.secret }),
        ...(req.secretFile !== undefined && { secretFile: req.secretFile }),
        ...(req.secretEnv !== undefined && { secretEnv: req.secretEnv }),
      };
      const resolved = chapAccount(account, 'chap', t.allowShortSecrets);
      const mutual = req.mutual === true;
      if (mutual) {
        if (t.chap.length === 0) throw new AdminError('mutual CHAP needs an initiator CHAP account first (the initiator authenticates first)');
        t.mutualChap = resolved;
      } else {
        t.chap = [...t.chap.filter((a) => a.user !== req.user), resolved];
      }
      return {
        result: { target: t.name, user: req.user, kind: mutual ? 'mutual' : 'initiator', secret: req.secretFile !== undefined ? 'file' : req.secretEnv !== undefined ? 'env' : 'inline' },
        changes: [{ kind: 'chap-set', target: t.name, account, mutual }],
      };
    },
  ),

  'chap-remove': verb(
    request({ cmd: Type.Literal('chap-remove'), user: Type.Optional(Type.String({ minLength: 1 })), mutual: Type.Optional(Type.Boolean()), target: Target }),
    true,
    async (ctx, req) => {
      const t = pickTarget(ctx, req.target);
      const mutual = req.mutual === true;
      if (mutual) {
        if (t.mutualChap === undefined) throw new AdminError(`${t.name} has no mutual CHAP`);
        t.mutualChap = undefined;
      } else {
        if (req.user === undefined) throw new AdminError('name the CHAP user to remove');
        if (!t.chap.some((a) => a.user === req.user)) throw new AdminError(`no CHAP user ${req.user} on ${t.name}`);
        t.chap = t.chap.filter((a) => a.user !== req.user);
        // Mutual CHAP rests on the initiator's (RFC 7143 §12.1.3): it goes with the last account.
        if (t.chap.length === 0) t.mutualChap = undefined;
      }
      return {
        result: { target: t.name, user: req.user ?? '', removed: true, chapRequired: t.chap.length > 0 },
        changes: [{ kind: 'chap-remove', target: t.name, user: req.user, mutual }],
        ...(t.chap.length === 0 && { warning: `${t.name} no longer requires CHAP` }),
      };
    },
  ),
};
