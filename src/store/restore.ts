/**
 * Restore: materialize a blob or tree. Everything is built in a hidden staging
 * directory beside DEST and renamed into place at the end, so a failure (a
 * corrupt object, a full disk) leaves nothing half-written at DEST.
 *
 * Trees are treated as untrusted input: names were validated when decoded (one
 * safe component each), files are created with O_EXCL, symlinks are created but
 * never followed, and a hard link may only point at a path this restore itself
 * created as a non-directory. Metadata order matters: chown clears setuid bits
 * and security.capability, so owner, then mode, then xattrs, then times;
 * directories get theirs last, deepest first, so read-only directories can be
 * filled first.
 */
import { randomBytes } from 'node:crypto';
import {
  chmod,
  copyFile,
  constants as fsConstants,
  lchown,
  link,
  lstat,
  mkdir,
  readFile,
  readdir,
  rename,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Digest } from '../core/digest.js';
import { digestHex, isDigest } from '../core/digest.js';
import { AslError, fsError } from '../core/errors.js';
import { locateObject } from './object-locate.js';
import { mapLimit } from '../core/map-limit.js';
import { hashFile } from './object-batch.js';
import { readObject, readObjectHead } from './object-read.js';
import { native } from './native.js';
import { PUT_REFS_DIR, type RootRecord } from './put.js';
import type { Store } from './store.js';
import { STORE_MODES } from './store-modes.js';
import { decodeTimes } from './times-model.js';
import { decodeTree, isTreeBytes, TREE_MAGIC, TYPE_MODE_BITS, type TreeEntry, type TreeSelf } from './tree-model.js';

const SLASH = Buffer.from('/');
const IN_MEMORY_LIMIT = 4 * 1024 * 1024;

export interface RestoreOptions {
  /** Timestamps object; default: the one recorded when the tree was put, if any. */
  times?: Digest;
  /** Whether to set owners and create device nodes (default: when running as root). */
  privileged?: boolean;
  onWarning?: (message: string) => void;
}

export interface RestoreResult {
  kind: 'tree' | 'blob';
  files: number;
  dirs: number;
  other: number;
  bytes: number;
  skippedDevices: number;
  timesApplied: boolean;
}

interface Pending {
  abs: Buffer;
  meta: { mode: number; uid: number; gid: number; xattrs?: Array<[Buffer, Buffer]> | undefined };
  mtime?: [number, number] | undefined;
  isSymlink?: boolean;
}

async function defaultTimes(store: Store, id: Digest): Promise<Digest | undefined> {
  try {
    const record = JSON.parse(await readFile(join(store.root, PUT_REFS_DIR, digestHex(id)), 'utf8')) as RootRecord;
    return isDigest(record.times) ? record.times : undefined;
  } catch {
    return undefined;
  }
}

/** Reads just the first bytes of an object to tell a tree from a blob. */
async function isTreeObject(store: Store, id: Digest): Promise<boolean> {
  return isTreeBytes(await readObjectHead(store, id, TREE_MAGIC.length));
}

async function assertDestinationFree(dest: string, allowEmptyDir: boolean): Promise<void> {
  let st;
  try {
    st = await lstat(dest);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw fsError(dest, err);
  }
  if (allowEmptyDir && st.isDirectory() && (await readdir(dest)).length === 0) return;
  throw new AslError('BAD_INPUT', `${dest}: already exists${allowEmptyDir ? ' and is not an empty directory' : ''}`);
}

/** DEST's parent must exist and be a directory: restore creates DEST only, never the folders above it. */
async function assertParentDirectory(dest: string): Promise<void> {
  const parent = dirname(resolve(dest));
  let st;
  try {
    st = await stat(parent);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      let missing = parent;
      while (
        dirname(missing) !== missing &&
        !(await stat(dirname(missing)).then(
          () => true,
          () => false,
        ))
      )
        missing = dirname(missing);
      const where = missing === parent ? '' : ` (${missing} does not exist)`;
      throw new AslError(
        'NOT_FOUND',
        `${parent}: no such directory${where}; restore creates ${basename(dest)} only, not the folders above it`,
        { data: { path: parent, missing } },
      );
    }
    if (code === 'ENOTDIR')
      throw new AslError('BAD_INPUT', `${parent}: a part of it is not a directory (the parent of ${dest})`, {
        data: { path: parent },
      });
    throw fsError(parent, err);
  }
  if (!st.isDirectory())
    throw new AslError('BAD_INPUT', `${parent}: is not a directory (the parent of ${dest})`, {
      data: { path: parent },
    });
}

/** Writes one blob to `dest` (which must not exist), checking its digest. */
async function writeBlob(
  store: Store,
  digest: Digest,
  dest: Buffer | string,
  size: number | undefined,
): Promise<number> {
  if (size !== undefined && size <= IN_MEMORY_LIMIT) {
    const bytes = await readObject(store, digest);
    await writeFile(dest, bytes, { flag: 'wx', mode: 0o600 });
    return bytes.length;
  }
  const loc = await locateObject(store, digest);
  if (!loc) throw new AslError('NOT_FOUND', `${digest}: no such object in store ${store.root}`);
  if (loc.kind === 'packed') {
    // Packed objects are small (at most the in-memory limit): read and verified whole.
    const bytes = await readObject(store, digest);
    await writeFile(dest, bytes, { flag: 'wx', mode: 0o600 });
    return bytes.length;
  }
  try {
    await copyFile(loc.path, dest, fsConstants.COPYFILE_EXCL | fsConstants.COPYFILE_FICLONE);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw new AslError('NOT_FOUND', `${digest}: no such object in store ${store.root}`);
    throw fsError(String(dest), err);
  }
  const { digest: actual, size: got } = await hashFile(dest);
  if (actual !== digest)
    throw new AslError('CORRUPT', `object ${digest} is corrupt: content hashes to ${actual}`, {
      data: { id: digest, expected: digest, actual },
    });
  return got;
}

export async function restore(
  store: Store,
  id: string,
  dest: string,
  opts: RestoreOptions = {},
): Promise<RestoreResult> {
  if (!isDigest(id)) throw new AslError('BAD_INPUT', `${id}: not an artifact id (expected sha256:<64 hex digits>)`);
  await assertParentDirectory(dest);
  const privileged = opts.privileged ?? process.getuid?.() === 0;
  const stage = join(dirname(dest), `.${basename(dest)}.asl-restore-${randomBytes(4).toString('hex')}`);
  const result: RestoreResult = {
    kind: 'tree',
    files: 0,
    dirs: 0,
    other: 0,
    bytes: 0,
    skippedDevices: 0,
    timesApplied: false,
  };

  if (!(await isTreeObject(store, id))) {
    // A blob: streamed (kernel copy, then re-hashed), never held in memory whole.
    await assertDestinationFree(dest, false);
    result.kind = 'blob';
    try {
      result.bytes = await writeBlob(store, id, stage, undefined);
      await chmod(stage, STORE_MODES.file);
      await rename(stage, dest);
    } catch (err) {
      await rm(stage, { force: true });
      if (err instanceof AslError) throw err;
      throw fsError(dest, err);
    }
    result.files = 1;
    return result;
  }

  await assertDestinationFree(dest, true);
  const timesId = opts.times ?? (await defaultTimes(store, id));
  let mtimes: number[] | undefined;
  if (timesId) {
    const times = decodeTimes(await readObject(store, timesId), timesId);
    if (times.tree !== id)
      throw new AslError('BAD_INPUT', `${timesId}: timestamps belong to tree ${times.tree}, not ${id}`);
    mtimes = times.mtimes;
  }
  let timeIndex = 0;
  const nextTime = (): [number, number] | undefined => {
    if (!mtimes || timeIndex + 1 >= mtimes.length) return undefined;
    const t: [number, number] = [mtimes[timeIndex]!, mtimes[timeIndex + 1]!];
    timeIndex += 2;
    return t;
  };

  const fileJobs: Array<{ entry: TreeEntry; abs: Buffer; rel: string; mtime?: [number, number] | undefined }> = [];
  const linkJobs: Array<{ abs: Buffer; target: string }> = [];
  const leafMeta: Pending[] = [];
  const dirMeta: Pending[] = [];
  const created = new Set<string>();
  let devicesWarned = false;

  const makeDir = async (treeId: Digest, abs: Buffer, rel: string | null, depth: number): Promise<void> => {
    const tree = decodeTree(await readObject(store, treeId), treeId);
    const self: TreeSelf = tree.self;
    const dirPending: Pending = { abs, meta: self, mtime: nextTime() };
    for (const entry of tree.entries) {
      const childAbs = Buffer.concat([abs, SLASH, entry.name]);
      const childRel = rel === null ? entry.name.toString('latin1') : `${rel}/${entry.name.toString('latin1')}`;
      if (entry.type === 'dir') {
        result.dirs++;
        await mkdir(childAbs, { mode: 0o700 });
        await makeDir(entry.digest!, childAbs, childRel, depth + 1);
        continue;
      }
      const mtime = nextTime();
      if (entry.hardlink) {
        linkJobs.push({ abs: childAbs, target: entry.hardlink.toString('latin1') });
        if (entry.type === 'file') result.files++;
        else result.other++;
        continue;
      }
      created.add(childRel);
      const meta = { mode: entry.mode, uid: entry.uid, gid: entry.gid, xattrs: entry.xattrs };
      switch (entry.type) {
        case 'file':
          result.files++;
          fileJobs.push({ entry, abs: childAbs, rel: childRel, mtime });
          break;
        case 'symlink':
          result.other++;
          await symlink(entry.target!, childAbs);
          leafMeta.push({ abs: childAbs, meta, mtime, isSymlink: true });
          break;
        case 'char':
        case 'block':
          if (!privileged) {
            result.skippedDevices++;
            created.delete(childRel);
            if (!devicesWarned) {
              opts.onWarning?.('not running as root: device nodes are skipped and owners are not restored');
              devicesWarned = true;
            }
            break;
          }
          result.other++;
          native().mknod(childAbs, TYPE_MODE_BITS[entry.type] | 0o600, entry.rdev![0], entry.rdev![1]);
          leafMeta.push({ abs: childAbs, meta, mtime });
          break;
        case 'fifo':
        case 'socket':
          result.other++;
          native().mknod(childAbs, TYPE_MODE_BITS[entry.type] | 0o600, 0, 0);
          leafMeta.push({ abs: childAbs, meta, mtime });
          break;
      }
    }
    dirMeta.push(dirPending);
  };

  // Messages name the final path, not the staging folder that is renamed away.
  const stagePrefix = Buffer.from(stage);
  const shownPath = (abs: Buffer): string =>
    abs.subarray(0, stagePrefix.length).equals(stagePrefix)
      ? dest + abs.subarray(stagePrefix.length).toString()
      : abs.toString();
  const applyMeta = async (p: Pending): Promise<void> => {
    const path = p.abs;
    if (privileged) await lchown(path, p.meta.uid, p.meta.gid);
    if (!p.isSymlink) await chmod(path, p.meta.mode);
    for (const [name, value] of p.meta.xattrs ?? []) {
      try {
        native().lsetxattr(path, name, value);
      } catch (err) {
        if (!privileged && (err as NodeJS.ErrnoException).code === 'EPERM') {
          opts.onWarning?.(`${shownPath(path)}: extended attribute ${name.toString()} not restored (needs root)`);
        } else throw err;
      }
    }
    if (p.mtime) native().lutimens(path, p.mtime[0], p.mtime[1]);
  };

  try {
    await mkdir(stage, { mode: 0o700 });
    const stageBuf = Buffer.from(stage);
    await makeDir(id, stageBuf, null, 0);
    await mapLimit(fileJobs, 16, async (job) => {
      const written = await writeBlob(store, job.entry.digest!, job.abs, job.entry.size);
      result.bytes += written;
      await applyMeta({
        abs: job.abs,
        meta: { mode: job.entry.mode, uid: job.entry.uid, gid: job.entry.gid, xattrs: job.entry.xattrs },
        mtime: job.mtime,
      });
    });
    for (const job of linkJobs) {
      if (!created.has(job.target)) {
        throw new AslError(
          'CORRUPT',
          `${id}: hard link ${job.abs.subarray(stageBuf.length + 1).toString()} points at ${job.target}, which this tree does not create before it`,
        );
      }
      await link(Buffer.concat([stageBuf, SLASH, Buffer.from(job.target, 'latin1')]), job.abs);
    }
    for (const p of leafMeta) await applyMeta(p);
    for (const p of dirMeta) await applyMeta(p); // pushed in post-order: children before parents
    result.timesApplied = mtimes !== undefined;
    await rename(stage, dest);
  } catch (err) {
    await rm(stage, { recursive: true, force: true }).catch(() => {});
    if (err instanceof AslError) throw err;
    throw fsError(dest, err, 'restore failed');
  }
  if (!privileged && !devicesWarned) opts.onWarning?.('not running as root: owners are not restored');
  return result;
}
