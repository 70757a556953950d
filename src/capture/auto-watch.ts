import { lstat, realpath } from 'node:fs/promises';
import { posix } from 'node:path';
import { wordHostPath, type CommandLine } from './command-words.js';

/**
 * Which words of a command line become watched roots (docs/capture-rules.md,
 * "Automatic watched roots"). A watched root is snapshotted before and after
 * the command: before = input, after = output.
 *
 * A word is a candidate when it is a literal argument, redirection target or
 * assignment value (or the VALUE of `--opt=VALUE`), is not a URL, and is not
 * the program. It becomes a root when it names an existing file or directory
 * before the run, or one the run created (checked afterwards), unless it is
 * `/` or a system directory itself, lies in /proc, /sys, /dev or /run, is an
 * executable the command line runs, or lies inside another root.
 *
 * selectWatchRoots is the pure rule; planAutoWatch and createdWatchRoots probe
 * the file system around it.
 */

/** Never watched themselves (what is below them may be). */
const SYSTEM_DIRECTORIES: ReadonlySet<string> = new Set([
  '/',
  ...[
    'bin',
    'boot',
    'dev',
    'etc',
    'home',
    'lib',
    'lib32',
    'lib64',
    'libx32',
    'libo32',
    'lost+found',
    'media',
    'mnt',
    'opt',
    'proc',
    'root',
    'run',
    'sbin',
    'snap',
    'srv',
    'sys',
    'tmp',
    'usr',
    'var',
  ].map((d) => `/${d}`),
  ...['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32', 'libexec', 'include', 'share', 'src', 'local', 'games'].map(
    (d) => `/usr/${d}`,
  ),
  ...['bin', 'sbin', 'lib', 'share', 'include', 'src', 'etc', 'games', 'man'].map((d) => `/usr/local/${d}`),
  ...['backups', 'cache', 'lib', 'local', 'lock', 'log', 'mail', 'opt', 'run', 'spool', 'tmp'].map((d) => `/var/${d}`),
]);

/** Kernel and runtime file systems: nothing at or below them is watched. */
const PSEUDO_FILESYSTEMS: readonly string[] = ['/proc', '/sys', '/dev', '/run'];

export interface WatchCandidate {
  /** The command-line word (the VALUE part for `--opt=VALUE` and `NAME=VALUE`). */
  word: string;
  /** Absolute host path the word names, lexically resolved (symlinks not followed). */
  path: string;
  /** The path as the process sees it inside its chroot, when it runs in one. */
  inRoot: string | null;
}

export type FileType = 'file' | 'directory' | 'symlink' | 'other';

export interface PathProbe extends WatchCandidate {
  /** lstat type of `path`, null when it does not exist. */
  type: FileType | null;
  /** `path` with symlinks followed, null when it does not exist (or is a dangling link). */
  realPath: string | null;
}

export interface WatchRoot {
  /** What to snapshot: the real path (symlinks followed). */
  path: string;
  /** The path as the command line named it, when different from `path`. */
  named?: string;
  type: FileType;
  /** Words that led here (several when nested words were folded in). */
  words: string[];
  /** Excluded paths (store, outdir) that lie inside this root: the snapshot must skip them. */
  excludes: string[];
}

export type SkipReason = 'system-directory' | 'pseudo-filesystem' | 'program' | 'excluded' | 'covered';

export interface SkippedWord {
  word: string;
  path: string;
  reason: SkipReason;
  /** For 'covered': the root that already holds it. */
  by?: string;
}

export interface WatchSelection {
  /** Roots that exist, outermost only, sorted by path. */
  roots: WatchRoot[];
  /** Candidates that did not exist: created by the run, they become roots too. */
  pending: WatchCandidate[];
  skipped: SkippedWord[];
}

export interface SelectOptions {
  /** Host real paths of the executables the command runs (ProgramIdentity.hostPath). */
  programPaths?: readonly string[];
  /** Never watched, nor anything in them: the store, the outdir. */
  exclude?: readonly string[];
  /** Roots already watched (--watch, or the before-run selection): candidates inside them are covered. */
  covered?: readonly string[];
}

const URL_RE = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;

/** The words of a command line that may name files, as absolute host paths. Pure. */
export function watchCandidates(line: CommandLine, cwd: string): WatchCandidate[] {
  const out: WatchCandidate[] = [];
  const seen = new Set<string>();
  for (const w of line.words) {
    if (!w.literal) continue;
    let text: string;
    if (w.role === 'assignment') text = w.text.slice(w.text.indexOf('=') + 1);
    else if (w.role === 'argument' || w.role === 'redirect') {
      text = w.text;
      if (w.role === 'argument' && text.startsWith('-')) {
        const m = /^--?[A-Za-z0-9][^=]*=(.*)$/s.exec(text);
        if (!m) continue;
        text = m[1]!;
      }
    } else continue;
    if (text === '' || URL_RE.test(text) || /[\n\0]/.test(text)) continue;
    const path = wordHostPath({ text, root: w.root, dir: w.dir }, cwd);
    const inRoot = w.root === null ? null : posix.resolve('/', w.dir ?? '/', text);
    const key = `${path}\0${text}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ word: text, path, inRoot });
  }
  return out;
}

/** Applies the watch rule to probed candidates. Pure: no file system access. */
export function selectWatchRoots(probes: readonly PathProbe[], opts: SelectOptions = {}): WatchSelection {
  const programs = new Set(opts.programPaths ?? []);
  const exclude = (opts.exclude ?? []).map((p) => posix.resolve(p));
  const covered = (opts.covered ?? []).map((p) => posix.resolve(p));
  const skipped: SkippedWord[] = [];
  const pending: WatchCandidate[] = [];
  const kept: PathProbe[] = [];
  for (const p of probes) {
    const paths = [p.path, ...(p.realPath !== null && p.realPath !== p.path ? [p.realPath] : [])];
    const skip = (reason: SkipReason, by?: string): void => {
      skipped.push({ word: p.word, path: p.path, reason, ...(by ? { by } : {}) });
    };
    if (paths.some(isPseudo) || (p.inRoot !== null && isPseudo(p.inRoot))) {
      skip('pseudo-filesystem');
      continue;
    }
    if (paths.some((x) => SYSTEM_DIRECTORIES.has(x))) {
      skip('system-directory');
      continue;
    }
    const ex = exclude.find((e) => paths.some((x) => isWithin(x, e)));
    if (ex !== undefined) {
      skip('excluded', ex);
      continue;
    }
    if (paths.some((x) => programs.has(x))) {
      skip('program');
      continue;
    }
    const cov = covered.find((c) => paths.some((x) => isWithin(x, c)));
    if (cov !== undefined) {
      skip('covered', cov);
      continue;
    }
    if (p.type === null || p.realPath === null) {
      pending.push({ word: p.word, path: p.path, inRoot: p.inRoot });
      continue;
    }
    kept.push(p);
  }
  // Outermost first, so every nested candidate finds the root that holds it.
  kept.sort((a, b) => a.realPath!.length - b.realPath!.length || (a.realPath! < b.realPath! ? -1 : 1));
  const roots: WatchRoot[] = [];
  for (const p of kept) {
    const real = p.realPath!;
    const holder = roots.find((r) => isWithin(real, r.path));
    if (holder) {
      if (holder.path === real) {
        if (!holder.words.includes(p.word)) holder.words.push(p.word);
      } else skipped.push({ word: p.word, path: p.path, reason: 'covered', by: holder.path });
      continue;
    }
    roots.push({
      path: real,
      ...(p.path !== real ? { named: p.path } : {}),
      type: p.type === 'symlink' ? 'other' : p.type!,
      words: [p.word],
      excludes: exclude.filter((e) => e !== real && isWithin(e, real)),
    });
  }
  roots.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const pendingOut = pending.filter((c, i) => pending.findIndex((d) => d.path === c.path) === i);
  return { roots, pending: pendingOut, skipped };
}

/** lstat + realpath of each candidate. */
async function probePaths(candidates: readonly WatchCandidate[]): Promise<PathProbe[]> {
  return Promise.all(
    candidates.map(async (c): Promise<PathProbe> => {
      let type: FileType | null = null;
      let real: string | null = null;
      try {
        const st = await lstat(c.path);
        type = st.isDirectory() ? 'directory' : st.isFile() ? 'file' : st.isSymbolicLink() ? 'symlink' : 'other';
        real = await realpath(c.path);
        if (type === 'symlink') {
          const t = await lstat(real);
          type = t.isDirectory() ? 'directory' : t.isFile() ? 'file' : 'other';
        }
      } catch {
        real = null;
        if (type === 'symlink') type = null; // dangling: as if absent
      }
      return { ...c, type, realPath: real };
    }),
  );
}

export interface PlanOptions extends SelectOptions {
  cwd: string;
}

/** Before the run: the roots that exist now, and the candidates to check again afterwards. */
export async function planAutoWatch(line: CommandLine, opts: PlanOptions): Promise<WatchSelection> {
  return selectWatchRoots(await probePaths(watchCandidates(line, opts.cwd)), opts);
}

/**
 * After the run: the pending candidates that now exist, minus those inside a
 * root watched before the run (`before.roots`) or in `opts.covered`.
 * Their before-snapshot is "absent".
 */
export async function createdWatchRoots(before: WatchSelection, opts: SelectOptions = {}): Promise<WatchSelection> {
  const covered = [...(opts.covered ?? []), ...before.roots.map((r) => r.path)];
  const probes = await probePaths(before.pending);
  const after = selectWatchRoots(probes, { ...opts, covered });
  return after;
}

function isPseudo(path: string): boolean {
  return PSEUDO_FILESYSTEMS.some((p) => isWithin(path, p));
}

/** True when `path` is `dir` or lies below it (lexically). */
export function isWithin(path: string, dir: string): boolean {
  if (dir === '/') return path.startsWith('/');
  return path === dir || path.startsWith(`${dir}/`);
}

/**
 * Programs that write their products into the parent of the directory they run
 * in, by convention: dpkg-buildpackage and its front ends put the `.deb`,
 * `.changes` and `.buildinfo` files beside the source tree.
 */
const PARENT_PRODUCT_PROGRAMS: ReadonlySet<string> = new Set(['dpkg-buildpackage', 'debuild', 'pdebuild', 'gbp']);

export type WorkingDirectorySkip = 'system-directory' | 'pseudo-filesystem' | 'home-directory' | 'excluded' | 'covered';

export interface WorkingDirectoryWatch {
  /** The directory to watch: the working directory, or its parent (see PARENT_PRODUCT_PROGRAMS). */
  path: string | null;
  /** Why it is not watched, when `path` is null. */
  skipped?: WorkingDirectorySkip;
  /** The root that covers it, for 'covered'; the excluded path, for 'excluded'. */
  by?: string;
  /** True when the parent of the working directory is watched. */
  parent: boolean;
}

/**
 * The working-directory rule (docs/capture-rules.md, "The working directory"): a
 * command that names no path still writes somewhere, most often where it runs. The
 * real working directory is watched unless it is `/` or a system directory, is
 * (or holds) the home directory, lies in a pseudo file system, or lies in the
 * store or the outdir (`exclude`) or in
 * another watched root (`covered`). For a program in PARENT_PRODUCT_PROGRAMS the
 * parent is watched instead (when it passes the same test). Pure.
 */
export function selectWorkingDirectory(
  cwdReal: string,
  programWords: readonly string[],
  opts: SelectOptions & { home?: string } = {},
): WorkingDirectoryWatch {
  const parent = programWords.some((w) => PARENT_PRODUCT_PROGRAMS.has(posix.basename(w)));
  const dir = parent && cwdReal !== '/' ? posix.dirname(cwdReal) : cwdReal;
  const skip = (skipped: WorkingDirectorySkip, by?: string): WorkingDirectoryWatch => ({
    path: null,
    skipped,
    parent,
    ...(by ? { by } : {}),
  });
  if (isPseudo(dir)) return skip('pseudo-filesystem');
  if (SYSTEM_DIRECTORIES.has(dir)) return skip('system-directory');
  // A home directory holds a user's keys and everything else: never copied whole.
  if (opts.home !== undefined && opts.home !== '/' && isWithin(opts.home, dir)) return skip('home-directory');
  const ex = (opts.exclude ?? []).map((p) => posix.resolve(p)).find((e) => isWithin(dir, e));
  if (ex !== undefined) return skip('excluded', ex);
  const cov = (opts.covered ?? []).map((p) => posix.resolve(p)).find((c) => isWithin(dir, c));
  if (cov !== undefined) return skip('covered', cov);
  return { path: dir, parent };
}
