/**
 * The seed's readable folders: what the originating workflow copies with
 * `cp -a $PRESTORE/{binaries,scripts,per} $ISO_ROOT/var/lib/asl/personal/`.
 *
 * binaries/ and scripts/ are copied whole (files, directories, modes, owners
 * when root, mtimes). per/ is filtered so that every file in it is backed by the
 * seeded store: an envelope (`per.dsse.json`, `<name>.per.dsse.json`) only when
 * its receipt is in the closure (its bytes are the receipt object), its
 * statement (`per.json`) only beside such an envelope and only when it is the
 * envelope's payload, `stdout.log` / `stderr.log` only when they hash to the
 * receipt's recorded stdout / stderr. Anything else in per/ is left out and
 * listed.
 *
 * The source is read without following links: a symbolic link is copied as a
 * link only when it is relative and stays inside its folder; an absolute link,
 * one that climbs out, a device, FIFO or socket is refused. Destination files are
 * created with O_EXCL inside the seed's fresh temp directory.
 */
import { constants as fsConstants, type Dirent } from 'node:fs';
import {
  lchown,
  lstat,
  lutimes,
  mkdir,
  open,
  readdir,
  readlink,
  rmdir,
  symlink,
  chmod,
  utimes,
  type FileHandle,
} from 'node:fs/promises';
import { isAbsolute, join, posix } from 'node:path';
import { canonicalBytes } from '../core/canonical-json.js';
import { digestBytes, type Digest } from '../core/digest.js';
import { AslError, fsError } from '../core/errors.js';
import { VIEW_DIRS } from '../store/layout.js';
import type { Store } from '../store/store.js';
import { makeDirs } from '../store/store-modes.js';
import { ENVELOPE_FILE, PER_FILE, STDERR_FILE, STDOUT_FILE, isEnvelopeFileName } from '../capture/outdir.js';
import type { Statement } from '../receipt/types.js';
import type { Closure } from './closure.js';

export interface ViewCopyResult {
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
  /** per/ files left out because no receipt of the seed backs them (relative paths). */
  skipped: string[];
}

interface Ctx {
  closure: Closure;
  result: ViewCopyResult;
  asRoot: boolean;
  /** Directories whose times are set last (children change them). */
  dirTimes: Array<{ path: string; atime: Date; mtime: Date }>;
}

async function openNoFollow(path: string): Promise<FileHandle> {
  try {
    return await open(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP')
      throw new AslError('BAD_INPUT', `${path}: became a symbolic link while being copied; refusing to follow it`);
    throw fsError(path, err);
  }
}

async function readNoFollow(path: string): Promise<Buffer> {
  const fh = await openNoFollow(path);
  try {
    if (!(await fh.stat()).isFile()) throw new AslError('BAD_INPUT', `${path}: is not a regular file`);
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}

async function keepOwner(ctx: Ctx, path: string, uid: number, gid: number): Promise<void> {
  if (!ctx.asRoot) return;
  await lchown(path, uid, gid).catch(() => undefined);
}

async function copyContent(src: FileHandle, dst: FileHandle): Promise<void> {
  const buf = Buffer.allocUnsafe(1024 * 1024);
  let pos = 0;
  for (;;) {
    const { bytesRead } = await src.read(buf, 0, buf.length, pos);
    if (bytesRead === 0) return;
    let off = 0;
    while (off < bytesRead) off += (await dst.write(buf, off, bytesRead - off)).bytesWritten;
    pos += bytesRead;
  }
}

async function copyFileNoFollow(ctx: Ctx, from: string, to: string, data?: Buffer): Promise<void> {
  const src = await openNoFollow(from);
  try {
    const st = await src.stat();
    if (!st.isFile()) throw new AslError('BAD_INPUT', `${from}: is not a regular file`);
    const dst = await open(
      to,
      fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW,
      0o600,
    );
    try {
      if (data) await dst.writeFile(data);
      else await copyContent(src, dst);
    } finally {
      await dst.close();
    }
    await keepOwner(ctx, to, st.uid, st.gid);
    await chmod(to, st.mode & 0o7777);
    await utimes(to, st.atime, st.mtime);
    ctx.result.files++;
    ctx.result.bytes += st.size;
  } finally {
    await src.close();
  }
}

/** A relative link target that, from `linkDir` (relative to the view folder), stays inside it. */
function linkStaysInside(linkDir: string, target: string): boolean {
  if (target.length === 0 || isAbsolute(target) || target.includes('\0')) return false;
  const resolved = posix.normalize(posix.join(linkDir || '.', target));
  return resolved !== '..' && !resolved.startsWith('../') && !posix.isAbsolute(resolved);
}

async function makeDir(
  ctx: Ctx,
  path: string,
  st: { mode: number; uid: number; gid: number; atime: Date; mtime: Date },
): Promise<void> {
  await mkdir(path, { mode: 0o700 });
  await keepOwner(ctx, path, st.uid, st.gid);
  await chmod(path, st.mode & 0o7777);
  ctx.dirTimes.push({ path, atime: st.atime, mtime: st.mtime });
  ctx.result.dirs++;
}

/** Which files of one per/ directory the seed keeps, each checked against its receipt. */
async function selectPerFiles(
  ctx: Ctx,
  dir: string,
  rel: string,
  entries: Dirent[],
): Promise<Map<string, Buffer | null>> {
  const keep = new Map<string, Buffer | null>();
  const files = new Set(entries.filter((e) => e.isFile()).map((e) => e.name));
  for (const name of [...files].filter(isEnvelopeFileName).sort()) {
    const bytes = await readNoFollow(join(dir, name));
    const id: Digest = digestBytes(bytes);
    if (!ctx.closure.objects.has(id)) continue;
    keep.set(name, bytes);
    let statement: Statement;
    try {
      const env = JSON.parse(bytes.toString('utf8')) as { payload: string };
      statement = JSON.parse(Buffer.from(env.payload, 'base64').toString('utf8')) as Statement;
    } catch {
      continue; // a receipt object that is not a readable envelope: carried, nothing to pair it with
    }
    const prefix = name.slice(0, name.length - ENVELOPE_FILE.length);
    const statementName = prefix + PER_FILE;
    if (files.has(statementName)) {
      const text = await readNoFollow(join(dir, statementName));
      let same = false;
      try {
        same = canonicalBytes(JSON.parse(text.toString('utf8'))).equals(
          Buffer.from((JSON.parse(bytes.toString('utf8')) as { payload: string }).payload, 'base64'),
        );
      } catch {
        same = false;
      }
      if (!same)
        throw new AslError(
          'CORRUPT',
          `${join(dir, statementName)}: is not the statement of receipt ${id} in ${name} beside it`,
        );
      keep.set(statementName, text);
    }
    if (prefix === '') {
      for (const [logName, role] of [
        [STDOUT_FILE, 'stdout'],
        [STDERR_FILE, 'stderr'],
      ] as const) {
        if (!files.has(logName)) continue;
        const recorded = statement.predicate?.core?.outputs?.find((o) => o.role === role)?.digest;
        if (!recorded) continue;
        const data = await readNoFollow(join(dir, logName));
        const actual = digestBytes(data);
        if (actual !== recorded)
          throw new AslError(
            'CORRUPT',
            `${join(dir, logName)}: hashes to ${actual}, but receipt ${id} records ${role} ${recorded}`,
          );
        keep.set(logName, data);
      }
    }
  }
  for (const name of [...files].sort()) if (!keep.has(name)) ctx.result.skipped.push(posix.join('per', rel, name));
  return keep;
}

/** Copies one directory's content; `filtered` inside per/. */
async function copyTree(
  ctx: Ctx,
  from: string,
  to: string,
  top: string,
  rel: string,
  filtered: boolean,
): Promise<void> {
  let entries: Dirent[];
  try {
    entries = await readdir(from, { withFileTypes: true });
  } catch (err) {
    throw fsError(from, err);
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const keep = filtered ? await selectPerFiles(ctx, from, rel, entries) : null;
  for (const e of entries) {
    const src = join(from, e.name);
    const dst = join(to, e.name);
    const relPath = rel ? `${rel}/${e.name}` : e.name;
    const st = await lstat(src);
    if (st.isDirectory()) {
      await makeDir(ctx, dst, st);
      await copyTree(ctx, src, dst, top, relPath, filtered);
      if (filtered && (await readdir(dst)).length === 0) {
        // A per/ folder none of whose receipts is in the seed is left out.
        await rmdir(dst);
        ctx.dirTimes = ctx.dirTimes.filter((d) => d.path !== dst);
        ctx.result.dirs--;
      }
    } else if (st.isFile()) {
      if (keep && !keep.has(e.name)) continue;
      await copyFileNoFollow(ctx, src, dst, keep?.get(e.name) ?? undefined);
    } else if (st.isSymbolicLink()) {
      const target = await readlink(src);
      if (!linkStaysInside(rel, target)) {
        throw new AslError(
          'BAD_INPUT',
          `${src}: symbolic link to ${JSON.stringify(target)} points outside ${top}/; the seed copies no link that leaves its folder`,
        );
      }
      if (filtered) {
        ctx.result.skipped.push(posix.join('per', relPath));
        continue;
      }
      await symlink(target, dst);
      await keepOwner(ctx, dst, st.uid, st.gid);
      await lutimes(dst, st.atime, st.mtime);
      ctx.result.symlinks++;
    } else {
      throw new AslError(
        'BAD_INPUT',
        `${src}: is a ${st.isFIFO() ? 'FIFO' : st.isSocket() ? 'socket' : 'device'}; the seed's folders hold files, directories and links only`,
      );
    }
  }
}

/** Copies the source's view folders into `destRoot` (a fresh directory being built). */
export async function copyViews(source: Store, destRoot: string, closure: Closure): Promise<ViewCopyResult> {
  const ctx: Ctx = {
    closure,
    result: { files: 0, dirs: 0, symlinks: 0, bytes: 0, skipped: [] },
    asRoot: process.getuid?.() === 0,
    dirTimes: [],
  };
  for (const view of VIEW_DIRS) {
    const src = join(source.root, view);
    const dst = join(destRoot, view);
    let st;
    try {
      st = await lstat(src);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        await makeDirs(dst);
        continue;
      }
      throw fsError(src, err);
    }
    if (st.isSymbolicLink())
      throw new AslError('BAD_INPUT', `${src}: is a symbolic link; the seed never follows links out of the store`);
    if (!st.isDirectory()) throw new AslError('BAD_INPUT', `${src}: is not a directory`);
    await makeDir(ctx, dst, st);
    await copyTree(ctx, src, dst, view, '', view === 'per');
  }
  for (const d of ctx.dirTimes.reverse()) await utimes(d.path, d.atime, d.mtime);
  return ctx.result;
}
