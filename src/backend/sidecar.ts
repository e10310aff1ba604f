// A JSON document kept in a file beside a medium (`PATH.NAME.json`), replaced atomically: write a
// temporary file, fdatasync it, rename it over the old one, then fsync the directory so the rename
// itself survives a power loss (the POSIX recipe; rename(2) is atomic within one file system).

import { readFileSync } from 'node:fs';
import { promises as fs } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { BackendError } from './errors.js';
import type { SidecarStore } from './types.js';

let seq = 0;

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

  async #write(text: string): Promise<void> {
    const dir = dirname(this.location);
    const tmp = join(dir, `.${basename(this.location)}.${process.pid}.${++seq}.tmp`);
    const fh = await fs.open(tmp, 'w', 0o644);
    try {
      await fh.writeFile(text, 'utf8');
      await fh.datasync();
    } finally {
      await fh.close();
    }
    try {
      await fs.rename(tmp, this.location);
    } catch (e) {
      await fs.unlink(tmp).catch(() => {});
      throw e;
    }
    await syncDir(dir);
  }
}

async function syncDir(dir: string): Promise<void> {
  let dh: fs.FileHandle;
  try {
    dh = await fs.open(dir, 'r');
  } catch {
    return; // some platforms cannot open a directory; the rename is still atomic
  }
  try {
    await dh.sync();
  } catch {
    // fsync of a directory is refused on some file systems (EINVAL); nothing more can be done.
  } finally {
    await dh.close();
  }
}
