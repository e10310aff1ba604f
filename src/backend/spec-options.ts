// The `,NAME[=VALUE]` options after the head of a LUN spec, split and checked once for every syntax.

import { LunSpecError } from './errors.js';

/** One option: its name in lower case, and its value when it has `=`. */
export interface SpecOption {
  name: string;
  value: string | undefined;
}

/**
 * The options of `spec` after its head (everything after the first comma), each name once.
 * @throws LunSpecError on an empty option (a stray comma) or a name given twice.
 */
export function specOptions(spec: string): SpecOption[] {
  const out: SpecOption[] = [];
  const seen = new Set<string>();
  for (const raw of spec.split(',').slice(1)) {
    const opt = raw.trim();
    if (opt === '') throw new LunSpecError(spec, 'syntax', 'empty option (stray comma)');
    const eq = opt.indexOf('=');
    const name = (eq < 0 ? opt : opt.slice(0, eq)).toLowerCase();
    if (seen.has(name)) throw new LunSpecError(spec, 'duplicate-option', `option "${name}" given twice`);
    seen.add(name);
    out.push({ name, value: eq < 0 ? undefined : opt.slice(eq + 1) });
  }
  return out;
}
