// A JSON document kept in a file beside a medium (`PATH.NAME.json`), replaced atomically
// (util/atomic-file.ts: temporary file, fdatasync, rename, directory fsync).

import { readFileSync } from 'node:fs';
import { promises as fs } from 'node:fs';
import { dirname } from 'node:path';
import { syncDir, writeFileAtomic } from '../util/atomic-file.js';
import { BackendError } from './errors.js';
import type { SidecarStore } from './types.js';

/** A {@link SidecarStore} in the file `path`. Saves are serialised: the last one wins. */
export class JsonSidecar implements SidecarStore {
  readonly location: string;
  #chain: Promise<void> = Promise.resolve();

  constructor(path: string) {
    this.location = path;
  }

  load(): unknown {
    let text: string;
    try {
      // Read once when a logical unit starts, before it serves a command: synchronous on purpose.
      text = readFileSync(this.location, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    try {
      return JSON.parse(text) as unknown;
    } catch (e) {
      throw new BackendError('ERR_BACKEND_SIDECAR', `${this.location} is not valid JSON: ${(e as Error).message}`, { cause: e });
    }
  }

  save(doc: unknown): Promise<void> {
    const text = `${JSON.stringify(doc, null, 2)}\n`;
    const run = this.#chain.then(() => this.#write(text));
    // A failed save must not wedge later ones; its caller sees the failure.
    this.#chain = run.catch(() => {});
    return run;
  }

  remove(): Promise<void> {
    const run = this.#chain.then(async () => {
      try {
        await fs.unlink(this.location);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
      await syncDir(dirname(this.location));
    });
    this.#chain = run.catch(() => {});
    return run;
  }

  #write(text: string): Promise<void> {
    return writeFileAtomic(this.location, text);
  }
}
