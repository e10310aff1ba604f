// What the admin socket may export (`allowedPaths`): a compromised or careless admin client must not
// export /etc or a raw disk by accident. A file is allowed when its real path (symlinks and `..`
// resolved, so neither can escape) lies under an allowed directory or is listed itself; a device node
// only when listed itself; memory LUNs always; a backend that is not a path (`nbd:`, `rbd:`, ...) only
// when its scheme is listed ("nbd:"). Without allowedPaths every spec is allowed (the admin socket is
// owner-only): docs/security.md.

import { promises as fs } from 'node:fs';
import { dirname, isAbsolute, join, sep } from 'node:path';
import { TsiscsiError } from '../../errors.js';

/** A LUN spec the admin socket refuses to open, and why. */
export class ExportRefused extends TsiscsiError {
  constructor(message: string) {
    super('ERR_EXPORT_REFUSED', message);
    this.name = 'ExportRefused';
  }
}

const SCHEME = /^([a-z][a-z0-9+.-]*):/i;

async function realOrUndefined(p: string): Promise<string | undefined> {
  try {
    return await fs.realpath(p);
  } catch {
    return undefined;
  }
}

/** The real path of `p`, which may not exist yet: its nearest existing ancestor resolved, the rest appended. */
async function realPathToBe(p: string): Promise<string> {
  const missing: string[] = [];
  let cur = p;
  for (;;) {
    const r = await realOrUndefined(cur);
    if (r !== undefined) return missing.length === 0 ? r : join(r, ...missing.reverse());
    const up = dirname(cur);
    if (up === cur) return p;
    missing.push(cur.slice(up.length).replace(/^[/\\]+/, ''));
    cur = up;
  }
}

/** The `allowedPaths` policy of one server. */
export class ExportPolicy {
  readonly entries: readonly string[] | undefined;

  constructor(entries: readonly string[] | undefined) {
    this.entries = entries;
  }

  /**
   * Checks a LUN spec; resolves with the spec to open (a file's path replaced by its real path, so that
   * what is opened is what was checked), or rejects with an {@link ExportRefused} saying why.
   */
  async check(spec: string): Promise<string> {
    const allowed = this.entries;
    if (allowed === undefined) return spec;
    const parts = spec.split(',');
    const head = parts[0]!.trim();
    if (head.toLowerCase().startsWith('mem:')) return spec;
    const scheme = SCHEME.exec(head)?.[1];
    if (scheme !== undefined) {
      if (allowed.some((e) => e.toLowerCase() === `${scheme.toLowerCase()}:`)) return spec;
      throw new ExportRefused(`${scheme}: LUNs are not allowed: list "${scheme}:" in allowedPaths to allow them`);
    }
    if (!isAbsolute(head)) throw new ExportRefused(`${head} is not an absolute path (allowedPaths is set: give the full path)`);
    const real = await realPathToBe(head);
    let st: import('node:fs').Stats | undefined;
    try {
      st = await fs.stat(real);
    } catch {
      st = undefined;
    }
    const listed = await Promise.all(allowed.filter((e) => isAbsolute(e)).map(async (e) => ({ entry: e, real: (await realOrUndefined(e)) ?? e })));
    const exact = listed.some((l) => l.real === real);
    if (st !== undefined && (st.isBlockDevice() || st.isCharacterDevice())) {
      if (exact) return [real, ...parts.slice(1)].join(',');
      throw new ExportRefused(`${head} is a device node: device nodes must be listed one by one in allowedPaths`);
    }
    if (st !== undefined && !st.isFile()) throw new ExportRefused(`${head} is not a regular file`);
    const under = listed.some((l) => real.startsWith(l.real.endsWith(sep) ? l.real : l.real + sep));
    if (exact || under) return [real, ...parts.slice(1)].join(',');
    const shown = real === head ? head : `${head} (really ${real})`;
    throw new ExportRefused(`${shown} is not under allowedPaths (${allowed.join(', ')})`);
  }
}
