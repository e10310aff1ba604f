// The running configuration: the config file's document (or the one the command-line flags made), kept
// in step with every change the admin socket makes, shown on `admin config show` and written back to
// the file atomically (mode 0600) on `admin config save`, or after each change with "persist": true.
// Secrets stay as they came: a secretFile or secretEnv reference is written back as that reference; an
// inline secret is written only if it came inline, and then with a warning.

import { promises as fs } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { writeFileAtomic } from '../../util/atomic-file.js';
import type { ChapAccountConfig, LunEntryConfig, ServerConfig, TargetConfig } from './schema.js';
import { ConfigError, lunEntries, validateConfig } from './validate.js';

/** The mode of a saved config: it names secrets (and may hold some): the owner only. */
export const CONFIG_FILE_MODE = 0o600;

/** What the running config is told of a change (each made through the admin socket). */
export type ConfigChange =
  | { kind: 'lun-add'; target: string; lun: number; spec: string }
  | { kind: 'lun-remove'; target: string; lun: number }
  | { kind: 'lun-resize'; target: string; lun: number; bytes: number }
  | { kind: 'target-add'; target: TargetConfig }
  | { kind: 'target-remove'; target: string }
  | { kind: 'acl-add'; target: string; initiator: string }
  | { kind: 'acl-remove'; target: string; initiator: string }
  | { kind: 'chap-set'; target: string; account: ChapAccountConfig; mutual: boolean }
  | { kind: 'chap-remove'; target: string; user: string | undefined; mutual: boolean };

/** What a save did. */
export interface SaveResult {
  path: string;
  /** Inline secrets written in clear (they came inline), by setting path. */
  clearSecrets: string[];
}

/** Replaces the size of a LUN spec: `mem:SIZE` for memory, the `size=` option for a file. */
export function specWithSize(spec: string, bytes: number): string {
  const parts = spec.split(',');
  const size = sizeText(bytes);
  if (parts[0]!.trim().toLowerCase().startsWith('mem:')) {
    parts[0] = `mem:${size}`;
    return parts.join(',');
  }
  const i = parts.findIndex((p, k) => k > 0 && p.trim().toLowerCase().startsWith('size='));
  if (i > 0) parts[i] = `size=${size}`;
  else parts.splice(1, 0, `size=${size}`);
  return parts.join(',');
}

function sizeText(bytes: number): string {
  for (const [unit, n] of [['T', 2 ** 40], ['G', 2 ** 30], ['M', 2 ** 20], ['K', 2 ** 10]] as const) {
    if (bytes >= n && bytes % n === 0) return `${bytes / n}${unit}`;
  }
  return String(bytes);
}

/** LUN entries as the file writes them: plain specs while LUNs are 0..n-1, numbered ones otherwise. */
function lunsText(entries: { lun: number; spec: string }[]): LunEntryConfig[] {
  const sorted = [...entries].sort((a, b) => a.lun - b.lun);
  if (sorted.every((e, i) => e.lun === i)) return sorted.map((e) => e.spec);
  return sorted.map((e) => ({ lun: e.lun, spec: e.spec }));
}

function clone<T>(v: T): T {
  return structuredClone(v);
}

/** The running configuration of one server. */
export class RunningConfig {
  /** The config file, when the server was started with one. */
  readonly path: string | undefined;
  #doc: ServerConfig;
  /** Settings given on the command line over the file's: shown, never written back. */
  readonly #overrides: Partial<ServerConfig>;
  #chain: Promise<unknown> = Promise.resolve();
  #cleaned = false;

  constructor(doc: ServerConfig, opts: { path?: string; overrides?: Partial<ServerConfig> } = {}) {
    this.#doc = clone(doc);
    this.path = opts.path;
    this.#overrides = opts.overrides ?? {};
  }

  /** Whether every change is written back at once ("persist": true in the file). */
  get persist(): boolean {
    return this.path !== undefined && this.#doc.persist === true;
  }

  /** The document the file holds (or will hold once saved). */
  get document(): ServerConfig {
    return clone(this.#doc);
  }

  /** The configuration in force: the file's, with the command line's settings over it. */
  running(): ServerConfig {
    return { ...clone(this.#doc), ...clone(this.#overrides) };
  }

  /**
   * The running configuration with inline secrets hidden, for `admin config show` (a terminal, a
   * ticket, a log): references (secretFile, secretEnv) are shown as they are.
   */
  shown(): ServerConfig {
    const c = this.running();
    const hide = (a: ChapAccountConfig | ChapAccountConfig[] | undefined) => {
      for (const x of a === undefined ? [] : Array.isArray(a) ? a : [a]) if (x.secret !== undefined) x.secret = '(hidden: given inline)';
    };
    hide(c.discoveryChap);
    for (const t of c.targets) {
      hide(t.chap);
      hide(t.mutualChap);
    }
    return c;
  }

  /** Applies a change made at runtime; the new document is validated before it replaces the old. */
  apply(change: ConfigChange): void {
    const doc = clone(this.#doc);
    const target = (name: string): TargetConfig => {
      const t = doc.targets.find((x) => x.iqn === name);
      if (t === undefined) throw new ConfigError('targets', `no target ${name} in the running configuration`);
      return t;
    };
    switch (change.kind) {
      case 'lun-add': {
        const t = target(change.target);
        t.luns = lunsText([...lunEntries(t).filter((e) => e.lun !== change.lun), { lun: change.lun, spec: change.spec }]);
        break;
      }
      case 'lun-remove': {
        const t = target(change.target);
        t.luns = lunsText(lunEntries(t).filter((e) => e.lun !== change.lun));
        break;
      }
      case 'lun-resize': {
        const t = target(change.target);
        t.luns = lunsText(lunEntries(t).map((e) => (e.lun === change.lun ? { lun: e.lun, spec: specWithSize(e.spec, change.bytes) } : e)));
        break;
      }
      case 'target-add':
        doc.targets.push(clone(change.target));
        break;
      case 'target-remove':
        doc.targets = doc.targets.filter((t) => t.iqn !== change.target);
        break;
      case 'acl-add': {
        const t = target(change.target);
        t.allow = [...new Set([...(t.allow ?? []), change.initiator])];
        break;
      }
      case 'acl-remove': {
        const t = target(change.target);
        t.allow = (t.allow ?? []).filter((a) => a !== change.initiator);
        if (t.allow.length === 0) delete t.allow;
        break;
      }
      case 'chap-set': {
        const t = target(change.target);
        if (change.mutual) t.mutualChap = clone(change.account);
        else {
          const list = t.chap === undefined ? [] : Array.isArray(t.chap) ? t.chap : [t.chap];
          t.chap = [...list.filter((a) => a.user !== change.account.user), clone(change.account)];
        }
        break;
      }
      case 'chap-remove': {
        const t = target(change.target);
        if (change.mutual) delete t.mutualChap;
        else {
          const list = t.chap === undefined ? [] : Array.isArray(t.chap) ? t.chap : [t.chap];
          const left = change.user === undefined ? [] : list.filter((a) => a.user !== change.user);
          if (left.length === 0) {
            delete t.chap;
            // Mutual CHAP rests on the initiator's CHAP (RFC 7143 §12.1.3): it goes with the last account.
            delete t.mutualChap;
          } else t.chap = left;
        }
        break;
      }
    }
    validateConfig(doc);
    this.#doc = doc;
  }

  /**
   * Writes the document to the config file, atomically and with mode 0600 (saves are serialised: the
   * last one wins). Resolves with the inline secrets it had to write in clear.
   */
  save(): Promise<SaveResult> {
    const path = this.path;
    if (path === undefined) return Promise.reject(new ConfigError('config save', 'the target was started without --config: there is no file to save to'));
    const doc = this.#doc;
    const text = `${JSON.stringify(doc, null, 2)}\n`;
    const run = this.#chain.then(async () => {
      if (!this.#cleaned) {
        this.#cleaned = true;
        await removeStaleTemporaries(path);
      }
      await writeFileAtomic(path, text, { mode: CONFIG_FILE_MODE });
    });
    // A failed save must not wedge the later ones; its caller sees the failure.
    this.#chain = run.catch(() => {});
    return run.then(() => ({ path, clearSecrets: clearSecrets(doc) }));
  }
}

/** Settings whose secret is inline (`secret`), by path. */
export function clearSecrets(doc: ServerConfig): string[] {
  const out: string[] = [];
  const look = (a: ChapAccountConfig | ChapAccountConfig[] | undefined, where: string) => {
    if (a === undefined) return;
    if (Array.isArray(a)) a.forEach((x, i) => x.secret !== undefined && out.push(`${where}[${i}]`));
    else if (a.secret !== undefined) out.push(where);
  };
  look(doc.discoveryChap, 'discoveryChap');
  doc.targets.forEach((t, i) => {
    look(t.chap, `targets[${i}].chap`);
    look(t.mutualChap, `targets[${i}].mutualChap`);
  });
  return out;
}

/**
 * Removes the temporary files of saves that a crash interrupted (`.NAME.PID.N.tmp` beside the config,
 * from another process): the config itself is whole, the old or the new one; these are only litter.
 */
async function removeStaleTemporaries(path: string): Promise<void> {
  const dir = dirname(path);
  const prefix = `.${basename(path)}.`;
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return;
  }
  for (const n of names) {
    const m = n.startsWith(prefix) ? /^(\d+)\.\d+\.tmp$/.exec(n.slice(prefix.length)) : null;
    if (m !== null && Number(m[1]) !== process.pid) await fs.unlink(join(dir, n)).catch(() => {});
  }
}
