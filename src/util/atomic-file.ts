// A file replaced atomically, the POSIX recipe: write a temporary file in the same directory, fsync it,
// rename it over the old one (rename(2) is atomic within one file system: a reader, or a crash, sees the
// old file or the new one, never a mix), then fsync the directory so that the rename itself survives a
// power loss.

import { promises as fs } from 'node:fs';
import { basename, dirname, join } from 'node:path';

let seq = 0;

/** Options of {@link writeFileAtomic}. */
export interface AtomicWriteOptions {
  /** Mode of the new file (the umask cannot widen it: it only clears bits). Default 0o644. */
  mode?: number;
  /** Full fsync (metadata too) instead of fdatasync. */
  fullSync?: boolean;
}

/** Replaces `path` with `data`, atomically and durably (see the file's header). */
export async function writeFileAtomic(path: string, data: string | Uint8Array, opts: AtomicWriteOptions = {}): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${++seq}.tmp`);
  const mode = opts.mode ?? 0o644;
  // 'wx': never follow or reuse a file someone else placed at the temporary name.
  const fh = await fs.open(tmp, 'wx', mode);
  try {
    // open(2) applies the umask; chmod states the mode exactly (a narrower one is what was asked for).
    await fh.chmod(mode);
    await fh.writeFile(data);
    if (opts.fullSync) await fh.sync();
    else await fh.datasync();
  } catch (e) {
    await fh.close().catch(() => {});
    await fs.unlink(tmp).catch(() => {});
    throw e;
  }
  await fh.close();
  try {
    await fs.rename(tmp, path);
  } catch (e) {
    await fs.unlink(tmp).catch(() => {});
    throw e;
  }
  await syncDir(dir);
}

/** Makes a directory's entries (a rename, an unlink) durable; a no-op where directories cannot be fsynced. */
export async function syncDir(dir: string): Promise<void> {
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
