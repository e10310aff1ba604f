// The published JSON Schema (docs/config.schema.json): up to date with the schema in the code, and
// every config example of README.md and docs/ valid against it and against the target's own checks.

import { readFileSync, readdirSync } from 'node:fs';
import Schema from 'typebox/schema';
import { describe, expect, it } from 'vitest';
import { configJsonSchema, validateConfig } from '../../src/target/config.js';

const root = new URL('../../', import.meta.url);
const published = JSON.parse(readFileSync(new URL('docs/config.schema.json', root), 'utf8')) as Record<string, unknown>;

/** Every ```json block of a Markdown file whose object has `targets`: a config example. */
function configExamples(file: string): { where: string; value: unknown }[] {
  const text = readFileSync(new URL(file, root), 'utf8');
  const out: { where: string; value: unknown }[] = [];
  const re = /```json\n([\s\S]*?)```/g;
  for (let m; (m = re.exec(text)) !== null; ) {
    const line = text.slice(0, m.index).split('\n').length;
    let value: unknown;
    try {
      value = JSON.parse(m[1]!);
    } catch (e) {
      throw new Error(`${file}:${line}: a json block that does not parse: ${(e as Error).message}`);
    }
    if (typeof value === 'object' && value !== null && 'targets' in value) out.push({ where: `${file}:${line}`, value });
  }
  return out;
}

const examples = ['README.md', ...readdirSync(new URL('docs/', root)).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)].flatMap(configExamples);

describe('docs/config.schema.json', () => {
  it('is what `npm run config-schema` writes from the schema in the code', () => {
    expect(published).toEqual(JSON.parse(JSON.stringify(configJsonSchema())));
  });

  it('finds config examples in README.md and docs/', () => {
    expect(examples.length).toBeGreaterThanOrEqual(3);
  });

  it.each(examples.map((e) => [e.where, e.value] as const))('validates the example at %s (schema file and the target)', (_where, value) => {
    const [ok, errors] = Schema.Errors(published as never, value);
    expect(errors.map((e) => `${e.instancePath}: ${e.message}`)).toEqual([]);
    expect(ok).toBe(true);
    expect(() => validateConfig(value)).not.toThrow();
  });

  it('refuses what the target refuses for its structure', () => {
    const bad = { targets: [{ iqn: 'iqn.2026-11.io.tsiscsi:x', luns: ['mem:1M'], typo: 1 }] };
    expect(Schema.Errors(published as never, bad)[0]).toBe(false);
  });
});
