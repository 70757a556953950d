/**
 * The modes of everything ASL creates. A store holds copies of whole system roots
 * (etc/shadow, private keys a command read) and the logs of commands: it is private
 * to its owner by design (docs/security.md). Every mode is set explicitly after
 * creation, because mkdir and open apply the umask: under `umask 000` the defaults
 * would let any local user plant a trusted key or cut the log; under `umask 077`
 * an object would lose the read bits every reader of a store relies on.
 */
import { chmod, lstat, mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';

export const STORE_MODES = {
  /** Every folder of a store, and the outdir and staging folders ASL makes. */
  dir: 0o700,
  /** Keys, log, head, refs, caches, locks, marker, per/ files, bundles, exports. */
  file: 0o600,
  /** Objects and packs: read-only because their bytes never change; private through their 0700 folders. */
  object: 0o444,
  /** Folders `asl seed` creates above the seeded store inside an image root (e.g. var/lib/asl): the image's own, not the store's. */
  imageDir: 0o755,
  /** A public key written for someone else to trust (`asl key export -o`). */
  publicFile: 0o644,
} as const;

/**
 * `mkdir -p` where every folder this call creates gets exactly `mode`; folders that
 * exist are left as they are. Returns the first folder created, if any.
 */
export async function makeDirs(path: string, mode: number = STORE_MODES.dir): Promise<string | undefined> {
  try {
    await mkdir(path, { mode });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      if ((await lstat(path)).isDirectory()) return undefined;
      throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${path}'`), { code: 'ENOTDIR', path });
    }
    if (code !== 'ENOENT' || dirname(path) === path) throw err;
    const first = await makeDirs(dirname(path), mode);
    try {
      await mkdir(path, { mode });
    } catch (again) {
      if ((again as NodeJS.ErrnoException).code !== 'EEXIST') throw again;
      return first;
    }
    await chmod(path, mode);
    return first ?? path;
  }
  await chmod(path, mode);
  return path;
}

/** Creates a new file (`flags`, 'wx' by default) with exactly `mode`. */
export async function openNew(
  path: string,
  mode: number = STORE_MODES.file,
  flags: string | number = 'wx',
): Promise<FileHandle> {
  const fh = await open(path, flags, mode);
  try {
    await fh.chmod(mode);
  } catch (err) {
    await fh.close();
    throw err;
  }
  return fh;
}

/** Writes a new file with exactly `mode` (no fsync: for caches and temp files). */
export async function writeNewFile(
  path: string,
  data: string | Buffer,
  mode: number = STORE_MODES.file,
  flags: string | number = 'wx',
): Promise<void> {
  const fh = await openNew(path, mode, flags);
  try {
    await fh.writeFile(data);
  } finally {
    await fh.close();
  }
}
