import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readlink, realpath, stat } from 'node:fs/promises';
import { posix } from 'node:path';
import type { Digest } from '../core/digest.js';
import { describeSystemError } from '../core/errors.js';
import type { ProgramWord } from './command-words.js';
import { DpkgLookup, type DebianPackage } from './dpkg.js';

/** What /bin/sh uses when PATH is unset (dash and bash agree on the directories). */
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Words a shell runs itself, without executing a file (union of dash and bash).
 * `true` or `echo` also exist in /usr/bin, but `sh -c 'true'` never runs those.
 */
const SHELL_BUILTINS: ReadonlySet<string> = new Set([
  '.',
  ':',
  '[',
  '[[',
  'alias',
  'bg',
  'break',
  'builtin',
  'caller',
  'cd',
  'chdir',
  'command',
  'compgen',
  'complete',
  'continue',
  'declare',
  'dirs',
  'disown',
  'echo',
  'enable',
  'eval',
  'exec',
  'exit',
  'export',
  'false',
  'fc',
  'fg',
  'getopts',
  'hash',
  'help',
  'history',
  'jobs',
  'kill',
  'let',
  'local',
  'logout',
  'mapfile',
  'popd',
  'printf',
  'pushd',
  'pwd',
  'read',
  'readarray',
  'readonly',
  'return',
  'set',
  'shift',
  'shopt',
  'source',
  'suspend',
  'test',
  'times',
  'trap',
  'true',
  'type',
  'typeset',
  'ulimit',
  'umask',
  'unalias',
  'unset',
  'wait',
]);

export interface ProgramIdentity {
  word: string;
  /** Host path of the chroot the program ran in (absolute), or null. */
  root: string | null;
  kind: ProgramWord['kind'];
  /** A shell builtin: nothing was executed, nothing to hash. */
  builtin: boolean;
  /** Where PATH lookup found it, inside `root` when set (e.g. /usr/bin/awk). */
  path: string | null;
  /** `path` with every symlink followed, inside `root` (e.g. /usr/bin/mawk). */
  realPath: string | null;
  /** The host file that was hashed: root + realPath. */
  hostPath: string | null;
  digest: Digest | null;
  size: number | null;
  /** The Debian package owning realPath (or path), when dpkg knows it. */
  package: DebianPackage | null;
  /** Why path is null: e.g. "not found in PATH". */
  error?: string;
}

export interface IdentifyOptions {
  /** The capture's working directory (relative words and roots resolve against it). */
  cwd: string;
  /** The command's environment: PATH and SHELL come from here. */
  env?: NodeJS.ProcessEnv;
  /** Reuse one per capture so dpkg answers are cached. */
  dpkg?: DpkgLookup;
  /**
   * Ask dpkg for packages now (default true). Pass false before running the
   * command and call lookupProgramPackages afterwards: dpkg-query is a child
   * process, and a child reaped before the command can mask the command's peak
   * RSS (run-command.ts, peakRssIsUpperBound).
   */
  packages?: boolean;
}

/**
 * Resolves, hashes and identifies the programs a command line names (from
 * splitCommand's `programs`). Inside a chroot, PATH (inherited through
 * chroot(8)) is searched inside the root and the owning package is looked up
 * in the root's own dpkg database. Each distinct file is hashed once.
 */
export async function identifyPrograms(
  programs: readonly ProgramWord[],
  opts: IdentifyOptions,
): Promise<ProgramIdentity[]> {
  const env = opts.env ?? process.env;
  const dpkg = opts.dpkg ?? new DpkgLookup();
  const searchPath = env.PATH ?? DEFAULT_PATH;
  const hashes = new Map<string, Promise<{ digest: Digest; size: number }>>();
  const out: ProgramIdentity[] = [];
  for (const p of programs) {
    const root = p.root === null ? null : posix.resolve(opts.cwd, p.root);
    const id: ProgramIdentity = {
      word: p.word,
      root,
      kind: p.kind,
      builtin: false,
      path: null,
      realPath: null,
      hostPath: null,
      digest: null,
      size: null,
      package: null,
    };
    out.push(id);
    if (p.kind === 'executable' && !p.wrapped && !p.word.includes('/') && SHELL_BUILTINS.has(p.word)) {
      id.builtin = true;
      continue;
    }
    try {
      const found =
        p.kind === 'script'
          ? await resolveFile(p.word, { cwd: opts.cwd, root, dir: p.dir })
          : await resolveProgram(p.word, { cwd: opts.cwd, root, dir: p.dir, path: searchPath });
      if (!found) {
        id.error = p.word.includes('/') || p.kind === 'script' ? 'not an executable file' : 'not found in PATH';
        continue;
      }
      Object.assign(id, found);
      let h = hashes.get(found.hostPath);
      if (!h) {
        h = hashFile(found.hostPath);
        hashes.set(found.hostPath, h);
      }
      const { digest, size } = await h;
      id.digest = digest;
      id.size = size;
    } catch (err) {
      id.error = describeSystemError(err);
    }
  }
  if (opts.packages !== false) await lookupProgramPackages(out, dpkg);
  return out;
}

/**
 * Fills `package` of each identified program, in place: one dpkg round per
 * root, asking for the real path and, for alternatives-style symlinks that
 * no package owns, the path PATH found.
 */
export async function lookupProgramPackages(
  ids: ProgramIdentity[],
  dpkg: DpkgLookup = new DpkgLookup(),
): Promise<void> {
  const byRoot = new Map<string | null, ProgramIdentity[]>();
  for (const id of ids) {
    if (id.realPath === null || id.path === null) continue;
    const list = byRoot.get(id.root) ?? [];
    list.push(id);
    byRoot.set(id.root, list);
  }
  for (const [root, list] of byRoot) {
    const pkgs = await dpkg.packagesOf(
      list.flatMap((id) => [id.realPath!, id.path!]),
      root,
    );
    for (const id of list) id.package = pkgs.get(id.realPath!) ?? pkgs.get(id.path!) ?? null;
  }
}

export interface ResolvedPath {
  /** Inside root (or on the host when root is null), before symlinks. */
  path: string;
  /** Inside root, after symlinks. */
  realPath: string;
  /** On the host, after symlinks. */
  hostPath: string;
}

export interface ResolveOptions {
  cwd: string;
  /** Absolute host path of the chroot, or null. */
  root: string | null;
  /** Directory a `cd` moved to (inside root when set), or null. */
  dir: string | null;
  /** The PATH to search when the word has no slash. */
  path?: string;
}

/**
 * Resolves a program word like execvp(3): a word with a slash is a path
 * (relative to the cwd / dir); otherwise the first PATH directory holding an
 * executable regular file of that name. Null when there is none.
 */
export async function resolveProgram(word: string, opts: ResolveOptions): Promise<ResolvedPath | null> {
  if (word.includes('/')) return resolveFile(word, opts, true);
  for (const entry of (opts.path ?? DEFAULT_PATH).split(':')) {
    const dir = entry === '' ? '.' : entry;
    const found = await resolveFile(posix.join(dir, word), opts, true);
    if (found) return found;
  }
  return null;
}

/** Resolves a path word to a regular file (executable when asked), null when there is none. */
async function resolveFile(word: string, opts: ResolveOptions, executable = false): Promise<ResolvedPath | null> {
  const path =
    opts.root === null ? posix.resolve(opts.cwd, opts.dir ?? '.', word) : posix.resolve('/', opts.dir ?? '/', word);
  let realPath: string;
  try {
    realPath = opts.root === null ? await realpath(path) : await resolveInRoot(opts.root, path);
  } catch {
    return null;
  }
  const hostPath = hostPathIn(opts.root, realPath);
  try {
    const st = await stat(hostPath);
    if (!st.isFile() || (executable && (st.mode & 0o111) === 0)) return null;
  } catch {
    return null;
  }
  return { path, realPath, hostPath };
}

/** root + path, for a path inside root (root null: the host). */
export function hostPathIn(root: string | null, path: string): string {
  if (root === null || root === '/') return path;
  return path === '/' ? root : posix.join(root, path);
}

const MAX_SYMLINKS = 40;

/**
 * Follows every symlink of `path` as a process chrooted at `root` would:
 * absolute targets start again at root, and `..` never leaves it. Returns the
 * resolved path inside root. Throws the fs error (ENOENT, ENOTDIR, ELOOP) on
 * a missing component or too many links.
 */
export async function resolveInRoot(root: string, path: string): Promise<string> {
  if (root === '/') return realpath(path);
  const queue = path.split('/').filter((p) => p !== '' && p !== '.');
  const done: string[] = [];
  let links = 0;
  while (queue.length > 0) {
    const part = queue.shift()!;
    if (part === '.') continue;
    if (part === '..') {
      done.pop();
      continue;
    }
    const host = posix.join(root, ...done, part);
    const st = await lstat(host);
    if (!st.isSymbolicLink()) {
      if (queue.length > 0 && !st.isDirectory())
        throw Object.assign(new Error(`ENOTDIR: ${host}`), { code: 'ENOTDIR' });
      done.push(part);
      continue;
    }
    if (++links > MAX_SYMLINKS) throw Object.assign(new Error(`ELOOP: ${host}`), { code: 'ELOOP' });
    const target = await readlink(host);
    if (target.startsWith('/')) done.length = 0;
    queue.unshift(...target.split('/').filter((p) => p !== '' && p !== '.'));
  }
  return `/${done.join('/')}`;
}

/** sha256 and size of a file's bytes, streamed. */
function hashFile(path: string): Promise<{ digest: Digest; size: number }> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    let size = 0;
    createReadStream(path)
      .on('data', (c: string | Buffer) => {
        hash.update(c);
        size += c.length;
      })
      .on('error', reject)
      .on('end', () => resolve({ digest: `sha256:${hash.digest('hex')}`, size }));
  });
}
