/**
 * Where `asl seed --into DIR` writes. DIR is usually inside an image root
 * (ISO_ROOT/var/lib/asl/personal), and an image root is not the operator's: a
 * package's maintainer script can make ISO_ROOT/var an absolute link to /var, and
 * following it would write the seed, and create folders, on the build host.
 *
 * Without `root`, no symbolic link on the way to DIR is followed: every existing
 * component must be a real directory (the refusal names the link and the way out).
 * With `root` (`--root ROOT`), DIR is a path inside ROOT and links are resolved as
 * the image will see them once booted: an absolute target starts again at ROOT,
 * `..` stops at ROOT. Either way the result is a real path, inside ROOT when given,
 * that the caller prints: the seed says where it actually wrote.
 */
import { lstat, readlink, realpath } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { AslError, fsError } from '../core/errors.js';

export interface SeedDestination {
  /** The real path the seed will be renamed onto. */
  dest: string;
  /** The image root it was resolved inside, when one was given. */
  root: string | null;
  /** Folders on the way that do not exist yet (created by the seed, outermost first). */
  missing: string[];
}

/** Links followed before giving up, as the kernel's ELOOP limit. */
const MAX_LINKS = 40;

function components(path: string): string[] {
  return path.split('/').filter((c) => c !== '' && c !== '.');
}

async function lstatOrNull(path: string) {
  try {
    return await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw fsError(path, err);
  }
}

/** DIR as given, every existing component a real directory (no link followed). */
async function withoutLinks(into: string): Promise<SeedDestination> {
  const dest = resolve(into);
  const parts = components(dest);
  let cur = '/';
  const missing: string[] = [];
  for (let i = 0; i < parts.length; i++) {
    cur = join(cur, parts[i]!);
    const last = i === parts.length - 1;
    if (missing.length > 0) {
      if (!last) missing.push(cur);
      continue;
    }
    const st = await lstatOrNull(cur);
    if (!st) {
      if (!last) missing.push(cur);
      continue;
    }
    if (st.isSymbolicLink()) {
      const target = await readlink(cur).catch(() => '?');
      if (last) throw new AslError('BAD_INPUT', `${cur}: is a symbolic link; the seed is never written through a link`);
      throw new AslError(
        'BAD_INPUT',
        `${cur}: is a symbolic link (to ${target}) on the way to ${dest}; the seed follows no link, since one inside an image root can lead out of it: give --root IMAGE_ROOT to resolve links inside the image, or the real path`,
        { data: { path: cur, target } },
      );
    }
    if (!last && !st.isDirectory())
      throw new AslError('BAD_INPUT', `${cur}: is not a directory (on the way to ${dest})`);
  }
  return { dest, root: null, missing };
}

/** DIR inside ROOT, links resolved as they resolve in the booted image. */
async function insideRoot(into: string, rootArg: string): Promise<SeedDestination> {
  let root: string;
  try {
    root = await realpath(rootArg);
  } catch (err) {
    throw fsError(resolve(rootArg), err, '--root');
  }
  if (!(await lstat(root)).isDirectory()) throw new AslError('BAD_INPUT', `${root}: --root is not a directory`);
  // DIR may be given as the image sees it (/var/lib/asl/personal) or under ROOT's own path.
  const given = resolve(into);
  const givenRoot = resolve(rootArg);
  const rel = [root, givenRoot]
    .map((r) => relative(r, given))
    .find((r) => r === '' || (!r.startsWith('..') && !isAbsolute(r)));
  const inImage = rel !== undefined ? rel : isAbsolute(into) ? into : null;
  if (inImage === null)
    throw new AslError(
      'USAGE',
      `seed: --into ${into} is relative; with --root give it as the image sees it (/var/lib/asl/personal) or under ${givenRoot}`,
    );
  const pending = components(inImage);
  if (pending.length === 0)
    throw new AslError('USAGE', `seed: --into names the image root itself; give a folder inside it`);
  const stack: string[] = [];
  const missing: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const name = pending.shift()!;
    if (name === '..') {
      if (stack.length > 0 && missing[missing.length - 1] === join(root, ...stack)) missing.pop();
      stack.pop();
      continue;
    }
    stack.push(name);
    const cur = join(root, ...stack);
    const last = pending.length === 0;
    const st = missing.length > 0 ? null : await lstatOrNull(cur);
    if (!st) {
      if (!last) missing.push(cur);
      continue;
    }
    if (st.isSymbolicLink()) {
      if (last) throw new AslError('BAD_INPUT', `${cur}: is a symbolic link; the seed is never written through a link`);
      if (++links > MAX_LINKS)
        throw new AslError('BAD_INPUT', `${join(root, inImage)}: too many levels of symbolic links inside ${root}`);
      const target = await readlink(cur);
      stack.pop();
      if (isAbsolute(target)) stack.length = 0;
      pending.unshift(...components(target));
      continue;
    }
    if (!last && !st.isDirectory())
      throw new AslError('BAD_INPUT', `${cur}: is not a directory (on the way to ${inImage} inside ${root})`);
  }
  const dest = join(root, ...stack);
  if (dest === root || !dest.startsWith(root.endsWith(sep) ? root : root + sep))
    throw new AslError(
      'USAGE',
      `seed: --into ${into} resolves to the image root ${root} itself; give a folder inside it`,
    );
  return { dest, root, missing };
}

export function resolveSeedDestination(into: string, root?: string): Promise<SeedDestination> {
  return root === undefined ? withoutLinks(into) : insideRoot(into, root);
}
