/**
 * The one way ASL writes a whole file: a temp file beside the target (same folder,
 * so the rename stays on one file system), created with 'wx' and exactly `mode`,
 * then renamed over the target. A reader sees the old file or the new one, never
 * part of either. How much survives a power cut is the caller's to state, because
 * it differs by file (docs/store-format.md):
 *
 *   'none'          no fsync: caches, which are checked when read and rebuilt
 *   'file'          fsync of the file before the rename: after a crash the name
 *                   holds the old bytes or all of the new ones
 *   'file-and-dir'  also fsync of the folder after the rename: once this returns,
 *                   the new file is what a crash leaves (a log head, a bundle)
 *
 * Temp names are `<target>.tmp-<12 hex>`: verify and the closure walk skip them, and
 * the receipt log removes its own under its lock. A failed write removes its temp file.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';

export type Durability = 'none' | 'file' | 'file-and-dir';

export interface WriteFileAtomicOptions {
  durable: Durability;
  /** The file's mode, set exactly (not left to the umask). */
  mode: number;
}

/** What every temp name has after the target's name (code that skips or removes temp files looks for it). */
export const TEMP_MARK = '.tmp-';

/**
 * Replaces `path` with `data`, or with what `write` puts into the open temp file
 * (streamed content, such as a bundle or a copied log).
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array | ((fh: FileHandle) => Promise<void>),
  opts: WriteFileAtomicOptions,
): Promise<void> {
  const tmp = `${path}${TEMP_MARK}${randomBytes(6).toString('hex')}`;
  const fh = await open(tmp, 'wx', opts.mode);
  try {
    try {
      await fh.chmod(opts.mode);
      if (typeof data === 'function') await data(fh);
      else await fh.writeFile(data);
      if (opts.durable !== 'none') await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  if (opts.durable === 'file-and-dir') await fsyncDir(dirname(path));
}

/** Makes a folder's entries (a rename, a new file) durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
