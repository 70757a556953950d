/**
 * Stage 1 of a command capture: decide, before anything is read, what the
 * command is, which programs it names and which paths are watched.
 */
import { lstat, readlink, realpath, stat } from 'node:fs/promises';
import { relative, resolve, sep } from 'node:path';
import { AslError } from '../core/errors.js';
import type { WatchReason } from '../receipt/types.js';
import type { Store } from '../store/store.js';
import {
  planAutoWatch,
  selectWorkingDirectory,
  type WatchSelection,
  type WorkingDirectoryWatch,
} from './auto-watch.js';
import { stepNameOf } from './capture-file.js';
import type { CommandCaptureOptions } from './capture-options.js';
import { splitCommand } from './command-words.js';
import { DpkgCache } from './dpkg-cache.js';
import { DpkgLookup } from './dpkg.js';
import { identifyPrograms, lookupProgramPackages, type ProgramIdentity } from './program.js';

export interface CapturePlan {
  step: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
  outdir: string;
  info: (line: string) => void;
  /** Left out of every snapshot: the store, the outdir, and the files asl's own output goes to. */
  excludedPaths: string[];
  /** Never chosen as a watched root: the store and the outdir. */
  excludeDirs: string[];
  /** --artifact-input and --input paths, as given. */
  declaredInputs: string[];
  /** The programs the command line names, /bin/sh first (builtins left out). */
  programs: ProgramIdentity[];
  programPaths: string[];
  /**
   * The programs' packages, looked up while the roots are snapshotted and awaited
   * before the command runs (the command may change the very database being asked):
   * an error, or undefined when found.
   */
  packagesFound: Promise<{ err: unknown } | undefined>;
  /** Every watched root and why; a root the command creates is added after the run. */
  watchedPaths: Map<string, WatchReason>;
  /** What auto-watch chose from the command line (null with --no-auto-watch). */
  autoWatch: WatchSelection | null;
  workingDir: WorkingDirectoryWatch | null;
}

export async function planCapture(store: Store, opts: CommandCaptureOptions): Promise<CapturePlan> {
  const cwd = resolve(opts.cwd ?? process.cwd());
  const env = opts.env ?? process.env;
  const step = stepNameOf(opts.outdir, opts.name);
  const outdir = resolve(cwd, opts.outdir);
  const info = opts.onInfo ?? (() => {});
  // asl's own stdout and stderr, when they go to a file (`asl-capture … > build.log`): that
  // file holds what asl writes, the command's streams (recorded as its logs) and asl's notes.
  const ownOutput = await ownOutputFiles();
  const excludedPaths = [store.root, outdir, ...ownOutput];

  // A --watch path may not exist yet: the command may create it.
  const declaredInputs = [...(opts.artifactInputs ?? []), ...(opts.inputs ?? [])];
  for (const p of declaredInputs) {
    if (!(await exists(resolve(cwd, p)))) throw new AslError('NOT_FOUND', `${p}: no such file or directory`);
  }

  const line = splitCommand(opts.cmd, { env });
  const dpkg = new DpkgLookup({ cache: DpkgCache.forStore(store.root) });
  // /bin/sh runs the string, so it is the first program of every command capture.
  const shell = { word: '/bin/sh', root: null, dir: null, kind: 'executable' as const, wrapped: true };
  const programs = (await identifyPrograms([shell, ...line.programs], { cwd, env, packages: false })).filter(
    (p) => !p.builtin,
  );
  const packagesFound = lookupProgramPackages(programs, dpkg).then(
    () => undefined,
    (err: unknown) => ({ err }),
  );
  for (const p of programs) if (!p.hostPath) info(`note: program ${p.word} not identified (${p.error ?? 'not found'})`);
  const programPaths = programs.map((p) => p.hostPath).filter((p): p is string => !!p);
  const watchedPaths = new Map<string, WatchReason>();
  for (const p of opts.watch ?? []) watchedPaths.set(resolve(cwd, p), 'flag');
  const excludeDirs = [store.root, outdir];
  let autoWatch: WatchSelection | null = null;
  let workingDir: WorkingDirectoryWatch | null = null;
  if (opts.autoWatch ?? true) {
    autoWatch = await planAutoWatch(line, {
      cwd,
      programPaths,
      exclude: excludeDirs,
      covered: [...watchedPaths.keys()],
    });
    for (const r of autoWatch.roots) if (!watchedPaths.has(r.path)) watchedPaths.set(r.path, 'auto');
    const cwdReal = await realpath(cwd).catch(() => cwd);
    const home = env.HOME ? await realpath(env.HOME).catch(() => env.HOME) : undefined;
    workingDir = selectWorkingDirectory(
      cwdReal,
      line.programs.map((p) => p.word),
      { exclude: excludeDirs, covered: [...watchedPaths.keys()], ...(home ? { home } : {}) },
    );
    if (workingDir.path !== null && !watchedPaths.has(workingDir.path)) watchedPaths.set(workingDir.path, 'cwd');
  }
  for (const p of watchedPaths.keys()) {
    if (inside(store.root, p) && p !== store.root)
      info(`note: watched root ${p} contains the store; the store is left out of its snapshots`);
  }
  if (watchedPaths.size > 0) info(`watching: ${[...watchedPaths.keys()].join(', ')}`);
  return {
    step,
    cwd,
    env,
    outdir,
    info,
    excludedPaths,
    excludeDirs,
    declaredInputs,
    programs,
    programPaths,
    packagesFound,
    watchedPaths,
    autoWatch,
    workingDir,
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

function inside(path: string, root: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith('..') && !rel.startsWith(sep) && rel !== '..');
}

/** The regular files this process's stdout and stderr are writing to (Linux: /proc/self/fd). */
async function ownOutputFiles(): Promise<string[]> {
  const out: string[] = [];
  for (const fd of [1, 2]) {
    try {
      const st = await lstat(`/proc/self/fd/${fd}`).then(() => stat(`/proc/self/fd/${fd}`));
      if (!st.isFile()) continue;
      const target = await readlink(`/proc/self/fd/${fd}`);
      if (target.startsWith('/') && !target.endsWith(' (deleted)') && !out.includes(target)) out.push(target);
    } catch {
      /* no such descriptor, or no /proc */
    }
  }
  return out;
}
