#!/usr/bin/env node
// Writes docs/config.schema.json from the configuration schema declared in src/target/config/schema.ts
// (run through `npm run config-schema`, which builds first). test/target/config-schema.test.ts fails
// when the committed file is out of date.
import { writeFileSync } from 'node:fs';

const { configJsonSchema } = await import(new URL('../dist/src/target/config.js', import.meta.url).href);
const out = new URL('../docs/config.schema.json', import.meta.url);
writeFileSync(out, `${JSON.stringify(configJsonSchema(), null, 2)}\n`);
process.stdout.write(`wrote ${out.pathname}\n`);
