/**
 * Command capture (`asl-capture --cmd STRING`): snapshot what the command may
 * read or change, run it, snapshot again, and write a signed receipt linking the
 * inputs to the outputs. See docs/capture-rules.md for what is watched and why.
 *
 * Order of durability: every object (snapshots, logs, programs, change lists) is
 * staged in one batch and committed with one flush; only then is the receipt
 * written and appended to the log; only then are the outdir files written. A
 * crash before the receipt leaves unreferenced objects only.
 */
import { randomBytes } from 'node:crypto';
import { lstat, readdir, readFile, readlink, realpath, rm, stat } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { AslError, fsError } from '../core/errors.js';
import { signStatement, storeSigner } from '../receipt/sign.js';
import { buildStatement } from '../receipt/statement.js';
import { listReceipts, writeReceipt } from '../receipt/store-receipt.js';
import { digestBytes } from '../core/digest.js';
import type { ArtifactRef, CommandCore, ExitStatus, ProgramRef, WatchedRoot, WatchReason } from '../receipt/types.js';
import { loadEnvironmentKey } from '../store/keys.js';
import { TMP_DIR } from '../store/layout.js';
import { ObjectBatch } from '../store/object-batch.js';
import { recordRoot } from '../store/put.js';
import { snapshot, type SnapshotResult } from '../store/snapshot.js';
import { StatCache } from '../store/stat-cache.js';
import type { Store } from '../store/store.js';
import { makeDirs } from '../store/store-modes.js';
import { captureEnvironment } from './environment.js';
import { describeStdin } from './stdin.js';
import { isEnvelopeFileName, writeOutdir } from './outdir.js';
import { stepNameOf, type CaptureResult } from './capture-file.js';
import { runDetails } from './run-details.js';
import { summarizeChanges } from './changes.js';
import { runCommand } from './run-command.js';
import { readDebPackage } from './deb-package.js';
import { parseStraceFile, resolveTrace } from './trace.js';
import { splitObserved, type ObservedSplit } from './observed-packages.js';
import { canonicalize } from '../core/canonical-json.js';
import { splitCommand } from './command-words.js';
import { createdWatchRoots, isWithin, planAutoWatch, selectWorkingDirectory, type WatchSelection, type WorkingDirectoryWatch } from './auto-watch.js';
import { identifyPrograms, lookupProgramPackages } from './program.js';
import { DpkgLookup } from './dpkg.js';
import { DpkgCache } from './dpkg-cache.js';

export interface CommandCaptureOptions {
  cmd: string;
  /** The command's exact bytes when they are not UTF-8 (`cmd` then holds U+FFFD in their place): run and recorded as given. */
  cmdBytes?: Buffer;
  outdir: string;
  name?: string;
  artifactInputs?: string[];
  inputs?: string[];
  outputs?: string[];
  watch?: string[];
  /** Watch paths named on the command line and the working directory (default true). */
  autoWatch?: boolean;
  /** Run under strace and record files read outside the watched roots. */
  trace?: boolean;
  /** With trace: store the bytes of every observed file, packaged ones too (default false). */
  keepObserved?: boolean;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Where the command's output is streamed live (the terminal). */
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
  /** Progress and notices ("watching …") for the user. */
  onInfo?: (line: string) => void;
}

/**
 * A shell command that runs `bytes` exactly. Node passes arguments as UTF-8 text,
 * so bytes that are not UTF-8 cannot be handed to `/bin/sh -c` directly: every
 * byte becomes an octal escape that the shell's own printf turns back into it,
 * and eval runs the result in the same shell (trailing newlines aside, which a
 * shell ignores).
 */
export function evalBytesCommand(bytes: Buffer): string {
  let escaped = '';
  for (const b of bytes) escaped += `\\${b.toString(8).padStart(3, '0')}`;
  return `eval "$(printf '${escaped}')"`;
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

/** Receipt envelopes under `path` (a file or a directory), as [path, bytes]. */
async function findEnvelopes(path: string): Promise<Array<[string, Buffer]>> {
  const found: Array<[string, Buffer]> = [];
  const visit = async (p: string) => {
    const st = await lstat(p);
    if (st.isDirectory()) {
      for (const name of (await readdir(p)).sort()) await visit(join(p, name));
    } else if (st.isFile() && isEnvelopeFileName(p.split('/').pop()!)) {
      found.push([p, await readFile(p)]);
    }
  };
  await visit(path);
  return found;
}

/** The ids of the receipts in the store's log (a damaged log fails the capture, as appending to it would). */
async function loggedReceiptIds(store: Store): Promise<Set<string>> {
  return new Set((await listReceipts(store)).map((r) => r.entry.receipt as string));
}

export async function captureCommand(store: Store, opts: CommandCaptureOptions): Promise<CaptureResult> {
  const started = new Date();
  const cwd = resolve(opts.cwd ?? process.cwd());
  const env = opts.env ?? process.env;
  const step = stepNameOf(opts.outdir, opts.name);
  const outdir = resolve(cwd, opts.outdir);
  const info = opts.onInfo ?? (() => {});
  // asl's own stdout and stderr, when they go to a file (`asl-capture … > build.log`): that
  // file holds what asl writes, the command's streams (recorded as its logs) and asl's notes.
  const ownOutput = await ownOutputFiles();
  const excludedPaths = [store.root, outdir, ...ownOutput];
  const excluded = excludedPaths.map((p) => Buffer.from(p));

  // A --watch path may not exist yet: the command may create it.
  for (const p of [...(opts.artifactInputs ?? []), ...(opts.inputs ?? [])]) {
    if (!(await exists(resolve(cwd, p)))) throw new AslError('NOT_FOUND', `${p}: no such file or directory`);
  }

  const line = splitCommand(opts.cmd, { env });
  const dpkg = new DpkgLookup({ cache: DpkgCache.forStore(store.root) });
  // /bin/sh runs the string, so it is the first program of every command capture.
  const shell = { word: '/bin/sh', root: null, dir: null, kind: 'executable' as const, wrapped: true };
  const programs = (await identifyPrograms([shell, ...line.programs], { cwd, env, packages: false })).filter((p) => !p.builtin);
  // The packages are looked up (dpkg-query, unless the store's dpkg cache answers)
  // while the roots are snapshotted, and awaited before the command runs: the
  // command may change the very database being asked.
  const packagesFound = lookupProgramPackages(programs, dpkg).then(() => undefined, (err: unknown) => ({ err }));
  for (const p of programs) if (!p.hostPath) info(`note: program ${p.word} not identified (${p.error ?? 'not found'})`);
  const programPaths = programs.map((p) => p.hostPath).filter((p): p is string => !!p);
  const watchedPaths = new Map<string, WatchReason>();
  for (const p of opts.watch ?? []) watchedPaths.set(resolve(cwd, p), 'flag');
  const excludeDirs = [store.root, outdir];
  let plan: WatchSelection | null = null;
  let workingDir: WorkingDirectoryWatch | null = null;
  if (opts.autoWatch ?? true) {
    plan = await planAutoWatch(line, { cwd, programPaths, exclude: excludeDirs, covered: [...watchedPaths.keys()] });
    for (const r of plan.roots) if (!watchedPaths.has(r.path)) watchedPaths.set(r.path, 'auto');
    const cwdReal = await realpath(cwd).catch(() => cwd);
    const home = env.HOME ? await realpath(env.HOME).catch(() => env.HOME) : undefined;
    workingDir = selectWorkingDirectory(cwdReal, line.programs.map((p) => p.word), { exclude: excludeDirs, covered: [...watchedPaths.keys()], ...(home ? { home } : {}) });
    if (workingDir.path !== null && !watchedPaths.has(workingDir.path)) watchedPaths.set(workingDir.path, 'cwd');
  }
  for (const p of watchedPaths.keys()) {
    if (inside(store.root, p) && p !== store.root) info(`note: watched root ${p} contains the store; the store is left out of its snapshots`);
  }
  if (watchedPaths.size > 0) info(`watching: ${[...watchedPaths.keys()].join(', ')}`);

  const cache = await StatCache.load(store);
  const batch = new ObjectBatch(store);
  const workDir = join(store.root, TMP_DIR, `capture-${process.pid}-${randomBytes(4).toString('hex')}`);
  // Every root is snapshotted whole (but for the store, the outdir and asl's own log), also
  // the working directory around other roots: a recorded tree is always the true state of its
  // path, so its sub-trees are true states of theirs. Files hashed for one root are found in
  // the stat cache by the next: a nested root costs a second walk, not a second read.
  const snap = (path: string) => snapshot(batch, path, { cache, exclude: (abs: Buffer) => excluded.some((e) => abs.equals(e)) });
  const roots: Array<[SnapshotResult, string]> = [];

  try {
    // Declared inputs, and the receipts found in them.
    const inputs: ArtifactRef[] = [];
    let logged: Set<string> | undefined;
    for (const p of [...(opts.artifactInputs ?? []), ...(opts.inputs ?? [])]) {
      const path = resolve(cwd, p);
      if (inputs.some((i) => i.name === path)) continue;
      const s = await snap(path);
      roots.push([s, path]);
      inputs.push({ name: path, role: 'declared', kind: s.kind, digest: s.id, path, size: s.size });
      for (const [file, bytes] of await findEnvelopes(path)) {
        // Only a receipt this store has logged (its signature checked when it was
        // written) is a receipt input; other bytes under that name stay part of the tree.
        logged ??= await loggedReceiptIds(store);
        if (!logged.has(digestBytes(bytes))) {
          info(`note: ${file} is not a receipt of this store's log (edited, or from elsewhere); not taken as a receipt input`);
          continue;
        }
        const id = await batch.addBytes(bytes);
        if (!inputs.some((i) => i.digest === id && i.kind === 'receipt')) {
          inputs.push({ name: `receipt:${file}`, role: 'declared', kind: 'receipt', digest: id, path: file, size: bytes.length });
        }
      }
    }

    // Watched roots, before.
    const before = new Map<string, SnapshotResult | null>();
    for (const path of watchedPaths.keys()) {
      const s = (await exists(path)) ? await snap(path) : null;
      before.set(path, s);
      if (s) {
        roots.push([s, path]);
        inputs.push({ name: `before:${path}`, role: 'watched', kind: s.kind, digest: s.id, path, size: s.size });
      }
    }

    // The programs the command line names.
    const lookup = await packagesFound;
    if (lookup) throw lookup.err;
    const program: ProgramRef[] = [];
    for (const prog of programs) {
      if (!prog.hostPath || !prog.path) continue;
      const { digest, size } = await batch.addFile(prog.hostPath, Number.MAX_SAFE_INTEGER);
      if (program.some((p) => p.path === prog.path && (p.root ?? null) === prog.root)) continue;
      program.push({
        path: prog.path, digest,
        ...(prog.root ? { root: prog.root } : {}),
        ...(prog.package ? { package: prog.package.name, version: prog.package.version } : {}),
      });
      if (!inputs.some((i) => i.digest === digest && i.role === 'program')) {
        inputs.push({ name: `program:${prog.hostPath}`, role: 'program', kind: 'blob', digest, path: prog.hostPath, size });
      }
    }

    // A capture that could not sign its receipt must not run the command: the key is loaded first.
    const signer = await storeSigner(store);
    const envKey = await loadEnvironmentKey(store.root);
    const environment = captureEnvironment(env, envKey);
    const stdin = await describeStdin(envKey);

    // Run. What the snapshots staged is written back while the command runs.
    batch.flushSoon();
    await makeDirs(workDir);
    const stdoutPath = join(workDir, 'stdout.log');
    const stderrPath = join(workDir, 'stderr.log');
    const tracePath = join(workDir, 'trace.log');
    const executed = opts.cmdBytes ? evalBytesCommand(opts.cmdBytes) : opts.cmd;
    const argv = ['/bin/sh', '-c', executed];
    const run = await runCommand({
      command: executed,
      cwd, env, stdoutFile: stdoutPath, stderrFile: stderrPath,
      ...(opts.trace ? { traceFile: tracePath } : {}),
      stdout: opts.stdout ?? null,
      stderr: opts.stderr ?? null,
    });
    // The command is done; from here on a Ctrl-C or SIGTERM must not leave the
    // step without its receipt, so they are held until the receipt is written.
    holdSignals();
    const exit: ExitStatus = run.signal
      ? { kind: 'signaled', signal: run.signal.name, code: 128 + run.signal.number }
      : { kind: 'exited', code: run.exitCode ?? 0 };
    if (!run.outputComplete) info('warning: a process left behind by the command kept its output open; the logs end when the command exited');

    // Outputs: logs, watched roots after, declared outputs.
    const outputs: ArtifactRef[] = [];
    const declaredOutputs = new Set((opts.outputs ?? []).map((p) => resolve(cwd, p)));
    const out = await batch.addFile(stdoutPath, Number.MAX_SAFE_INTEGER);
    const err = await batch.addFile(stderrPath, Number.MAX_SAFE_INTEGER);
    outputs.push({ name: 'stdout', role: 'stdout', kind: 'log', digest: out.digest, size: out.size });
    outputs.push({ name: 'stderr', role: 'stderr', kind: 'log', digest: err.digest, size: err.size });

    if (plan) {
      // A path the run created inside the working directory is a root of its own (the cwd root leaves it out).
      const covered = [...watchedPaths].filter(([, reason]) => reason !== 'cwd').map(([p]) => p);
      const created = await createdWatchRoots(plan, { programPaths, exclude: excludeDirs, covered });
      for (const r of created.roots) {
        if (!watchedPaths.has(r.path)) { watchedPaths.set(r.path, 'auto'); before.set(r.path, null); info(`watching (created by the command): ${r.path}`); }
      }
    }
    const after = new Map<string, SnapshotResult | null>();
    for (const path of watchedPaths.keys()) {
      const a = (await exists(path)) ? await snap(path) : null;
      after.set(path, a);
      // An unchanged root is an input only; a changed (or new) one is an output.
      if (a && a.id !== before.get(path)?.id) {
        roots.push([a, path]);
        outputs.push({ name: path, role: 'watched', kind: a.kind, digest: a.id, path, size: a.size });
      }
    }
    // The diff reads the new trees back, so they must be in the store (still
    // unreferenced: nothing points at them until the receipt is written).
    await batch.commit();
    const watched: WatchedRoot[] = [];
    for (const [path, reason] of watchedPaths) {
      const b = before.get(path) ?? null;
      const a = after.get(path) ?? null;
      const changes = await summarizeChanges(store, batch, b, a);
      if (changes.paths) outputs.push({ name: `changes:${path}`, role: 'changes', kind: 'paths', digest: changes.paths, size: changes.pathsSize });
      // The outermost only (the outdir usually lies in the store).
      const inside = excludedPaths.filter((e) => e !== path && isWithin(e, path));
      const left = [...new Set(inside.filter((e) => !inside.some((o) => o !== e && isWithin(e, o))))].sort();
      watched.push({
        path, reason, before: b?.id ?? null, after: a?.id ?? null, added: changes.added, modified: changes.modified, removed: changes.removed,
        ...(changes.paths ? { paths: changes.paths } : {}), ...(left.length > 0 ? { excluded: left } : {}),
      });
      const hostPathOf = (rel: string) => (rel === '' ? path : join(path, rel));
      for (const deb of changes.debs) {
        const hostPath = hostPathOf(deb.path);
        const pkg = await readDebPackage(hostPath).catch(() => undefined);
        if (!pkg) { info(`warning: ${hostPath}: not a readable .deb; not listed as a package`); continue; }
        if (isArchiveCachePath(hostPath)) {
          // Fetched: apt and debootstrap keep what they download in the archive cache.
          const name = `package:${pkg.name}_${pkg.version}_${pkg.architecture}`;
          if (!inputs.some((i) => i.name === name)) {
            inputs.push({ name, role: 'downloaded', kind: 'package', digest: deb.digest, path: hostPath, size: deb.size, package: pkg });
          }
        } else if (!outputs.some((o) => o.name === hostPath)) {
          // Anywhere else the step made it: a product, never a download.
          outputs.push({ name: hostPath, role: 'product', kind: 'package', digest: deb.digest, path: hostPath, size: deb.size, package: pkg });
        }
      }
      if (a?.kind === 'tree') {
        const debs = new Set(changes.debs.map((d) => d.path));
        for (const f of changes.files ?? []) {
          if (debs.has(f.path)) continue; // a package: listed above, as a download or a product
          const hostPath = hostPathOf(f.path);
          if (!outputs.some((o) => o.name === hostPath) && !declaredOutputs.has(hostPath)) outputs.push({ name: hostPath, role: 'product', kind: 'blob', digest: f.digest, path: hostPath, size: f.size });
        }
      }
    }
    for (const p of opts.outputs ?? []) {
      const path = resolve(cwd, p);
      if (!(await exists(path))) { info(`warning: declared output ${p} does not exist after the command`); continue; }
      const s = await snap(path);
      roots.push([s, path]);
      if (!outputs.some((o) => o.name === path)) outputs.push({ name: path, role: 'declared', kind: s.kind, digest: s.id, path, size: s.size });
    }

    // Files the process tree read that nobody declared.
    if (opts.trace) {
      const watchedRoots = [...watchedPaths.keys(), ...inputs.filter((i) => i.role === 'declared' && i.path).map((i) => i.path!)];
      const parsed = await parseStraceFile(tracePath, { cwd });
      if (parsed.processes === 0) {
        throw new AslError('BAD_INPUT', `--trace: strace traced no process (is ptrace permitted here?); the command did not run under the trace`);
      }
      const trace = await resolveTrace(parsed, { exclude: [store.root, outdir, workDir, ...watchedRoots] });
      const roots = await Promise.all(parsed.roots.map((r) => realpath(r).catch(() => r)));
      const split: ObservedSplit = opts.keepObserved
        ? { packages: [], databases: [], other: trace.files, changed: 0 }
        : await splitObserved(trace.files, roots);
      for (const { path } of split.other) {
        let st;
        try { st = await lstat(path); } catch { continue; }
        if (!st.isFile()) continue;
        const { digest, size } = await batch.addFile(path, st.size);
        const name = `observed:${path}`;
        if (!inputs.some((i) => i.name === name)) inputs.push({ name, role: 'observed', kind: 'blob', digest, path, size });
      }
      // Packaged files and dpkg's database: one input each, the files listed (path, sha256) in a paths artifact.
      const listOf = async (files: ReadonlyArray<{ path: string; digest: string; size: number; listedAs?: string }>) => {
        const bytes = Buffer.from(files.map((f) => canonicalize(f)).join('\n') + '\n');
        return { digest: await batch.addBytes(bytes), size: bytes.length };
      };
      for (const p of split.packages) {
        const { digest, size } = await listOf(p.files);
        const where = p.root === '/' ? '' : `@${p.root}`;
        inputs.push({ name: `observed-package:${p.package.name}_${p.package.version}_${p.package.architecture}${where}`, role: 'observed', kind: 'paths', digest, size, package: p.package, ...(p.root === '/' ? {} : { path: p.root }) });
      }
      for (const d of split.databases) {
        const { digest, size } = await listOf(d.files);
        inputs.push({ name: `observed-dpkg-database:${d.admindir}`, role: 'observed', kind: 'paths', digest, size, path: d.admindir });
      }
      // What the process tree wrote outside the watched roots: products, with their bytes.
      for (const w of trace.written) {
        if (outputs.some((o) => o.name === w.path) || declaredOutputs.has(w.path)) continue;
        let st;
        try { st = await lstat(w.path); } catch { continue; }
        if (!st.isFile()) continue;
        const { digest, size } = await batch.addFile(w.path, st.size);
        outputs.push({ name: w.path, role: 'product', kind: 'blob', digest, path: w.path, size });
      }
      if (trace.written.length > 0) info(`trace: ${trace.written.length} files written outside the watched roots, recorded as products: ${trace.written.slice(0, 3).map((w) => w.path).join(', ')}${trace.written.length > 3 ? ', …' : ''}`);
      const packagedFiles = split.packages.reduce((n, p) => n + p.files.length, 0);
      const dbFiles = split.databases.reduce((n, d) => n + d.files.length, 0);
      info(`trace: ${trace.files.length} files read outside the watched roots: ${packagedFiles} from ${split.packages.length} packages (bytes match dpkg's checksums; not copied)`
        + `, ${dbFiles} of dpkg's database, ${split.other.length} recorded with their bytes${split.changed ? ` (${split.changed} differ from their package's checksum)` : ''}`);
    }

    await batch.commit();
    for (const [s, source] of roots) if (s.kind === 'tree') await recordRoot(store, s, source);
    if (!outputs.some((o) => o.kind !== 'log' && o.role !== 'changes')) info(noOutputWarning(step, watchedPaths, workingDir, opts.autoWatch ?? true));

    const core: CommandCore = {
      kind: 'command',
      step,
      command: { shell: opts.cmd, ...(opts.cmdBytes ? { shellBase64: opts.cmdBytes.toString('base64') } : {}), argv, cwd },
      program,
      inputs,
      outputs,
      environment,
      stdin,
      exit,
      watched,
      traced: opts.trace ?? false,
    };
    const statement = buildStatement(core, runDetails(started, new Date(), run.peakRssBytes !== null ? { peakRssBytes: run.peakRssBytes } : {}));
    const envelope = signStatement(statement, signer);
    const { id } = await writeReceipt(store, envelope);
    await cache.save();
    const files = await writeOutdir(outdir, statement, envelope, { stdout: stdoutPath, stderr: stderrPath });
    return { receiptId: id, statement, envelope, exitCode: exit.code, files };
  } catch (err) {
    await batch.abort();
    if (err instanceof AslError) throw err;
    throw fsError(opts.outdir, err, `capture of step ${step} failed`);
  } finally {
    releaseSignals();
    await rm(workDir, { recursive: true, force: true });
  }
}

/**
 * Where apt and debootstrap keep the packages they fetch (Dir::Cache::archives,
 * and its partial/ folder), on the host or inside a chroot: a `.deb` that
 * appears there was downloaded.
 */
export function isArchiveCachePath(hostPath: string): boolean {
  return /(^|\/)var\/cache\/apt\/archives\/(partial\/)?[^/]+\.u?deb$/.test(hostPath);
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
    } catch { /* no such descriptor, or no /proc */ }
  }
  return out;
}

/** The one line a capture prints when it recorded nothing the command wrote. */
function noOutputWarning(step: string, watched: ReadonlyMap<string, WatchReason>, wd: WorkingDirectoryWatch | null, auto: boolean): string {
  const where = watched.size > 0 ? `nothing changed in ${[...watched.keys()].join(', ')}` : 'no path was watched';
  const why = !auto ? '--no-auto-watch is set'
    : wd?.skipped === 'system-directory' ? 'the working directory is a system directory and is not watched'
      : wd?.skipped === 'pseudo-filesystem' ? 'the working directory is in a pseudo file system and is not watched'
        : wd?.skipped === 'home-directory' ? 'the working directory is (or holds) the home directory and is not watched'
        : undefined;
  return `warning: step ${step} recorded no output besides its logs (${where}${why ? `; ${why}` : ''}); if the command wrote files elsewhere, name them with --watch PATH or --output PATH`;
}

const HELD_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
const ignoreSignal = () => {};
let held = false;

function holdSignals(): void {
  if (held) return;
  held = true;
  for (const sig of HELD_SIGNALS) process.on(sig, ignoreSignal);
}

function releaseSignals(): void {
  if (!held) return;
  held = false;
  for (const sig of HELD_SIGNALS) process.off(sig, ignoreSignal);
}
