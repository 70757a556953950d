import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';

/** Repository root (tests run from dist/test/...). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const ASL_BIN = join(REPO_ROOT, 'bin', 'asl');

/** A fresh temp directory removed when the test ends. */
export async function tempDir(t: TestContext, prefix = 'asl-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * A fresh temp directory for a test that mounts file systems below it (a chroot's
 * /proc, /dev): when the test ends, what is still mounted below it is unmounted
 * (deepest first, lazily) and the directory removed without ever leaving its
 * own file system.
 */
export async function mountingTempDir(t: TestContext, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => {
    for (const m of mountsUnder(dir)) execFileSync('umount', ['-l', m]);
    execFileSync('rm', ['-rf', '--one-file-system', '--', dir]);
  });
  return dir;
}

function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => (l.split(' ')[1] ?? '').replace(/\\040/g, ' '))
    .filter((m) => m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

/** Runs a bash script; its stdout and stderr, interleaved as they came, are returned and written to `logFile`. */
export function runBashLogged(
  script: string,
  env: NodeJS.ProcessEnv,
  logFile: string,
  cwd?: string,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolvePromise, reject) => {
    // A capture watches its working directory: the script runs where its operator would, never in the repository.
    const child = spawn('bash', [script], { env, cwd: cwd ?? dirname(script), stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.stderr.on('data', (c: Buffer) => chunks.push(c));
    child.on('error', reject);
    child.on('close', async (code) => {
      const output = Buffer.concat(chunks).toString('utf8');
      await writeFile(logFile, output);
      resolvePromise({ code, output });
    });
  });
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
}

export interface RunAslOptions {
  /**
   * Where the CLI runs. By default a fresh empty folder of its own, removed after the run:
   * a capture runs its command there and watches it, as an operator's would, and never
   * writes into `/` or the repository.
   */
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: string | Buffer;
  /** An alias binary (bin/asl-capture …) instead of bin/asl. */
  program?: string;
  /** Runs the launcher as an executable (its #!/bin/sh line first, as a user's shell does) rather than as `node bin/asl`. */
  direct?: boolean;
  /** The umask to run under (set by sh; the test process's own is left alone). */
  umask?: string;
  /** Runs as this user (uid = gid, no groups, by setpriv), from a copy of the CLI that user can reach (stagedCli). */
  uid?: number;
}

/** Runs the real CLI as a separate process. */
export function runAsl(args: string[], opts: RunAslOptions = {}): Promise<RunResult> {
  const bin = opts.uid === undefined ? join(REPO_ROOT, 'bin') : dirname(stagedCli());
  const script = join(bin, opts.program ?? 'asl');
  let argv = opts.direct ? [script, ...args] : [process.execPath, script, ...args];
  if (opts.uid !== undefined)
    argv = ['setpriv', `--reuid=${opts.uid}`, `--regid=${opts.uid}`, '--clear-groups', ...argv];
  if (opts.umask !== undefined) argv = ['sh', '-c', `umask ${opts.umask}; exec "$0" "$@"`, ...argv];
  let cwd = opts.cwd;
  if (cwd === undefined) {
    cwd = mkdtempSync(join(tmpdir(), 'asl-cwd-'));
    chmodSync(cwd, 0o755); // reachable when run as another user
  }
  const ownCwd = opts.cwd === undefined ? cwd : undefined;
  return new Promise<RunResult>((resolvePromise, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd,
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const stdoutBytes = Buffer.concat(out);
      resolvePromise({
        code,
        signal,
        stdout: stdoutBytes.toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        stdoutBytes,
      });
    });
    // A command that exits without reading its input closes the pipe: not an error of the test.
    child.stdin.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') reject(e);
    });
    child.stdin.end(opts.input ?? '');
  }).finally(() => {
    if (ownCwd) rmSync(ownCwd, { recursive: true, force: true });
  });
}

/**
 * A copy of the built CLI (bin/, dist/src, dist/bundle with its times kept so bin/asl still
 * takes it, package.json, the native addon; node_modules linked) in `dir`, readable by every
 * user. Returns its bin/asl. For a test that runs the CLI as another user, who may not reach
 * the repository (a clone in /root is 0700), and for one that must not see a rebuild of the
 * working tree while it runs.
 */
export function stageCli(dir: string): string {
  execFileSync('mkdir', ['-p', join(dir, 'dist'), join(dir, 'build/Release')]);
  execFileSync('cp', ['-a', join(REPO_ROOT, 'dist/src'), join(dir, 'dist/src')]);
  if (existsSync(join(REPO_ROOT, 'dist/bundle')))
    execFileSync('cp', ['-a', join(REPO_ROOT, 'dist/bundle'), join(dir, 'dist/bundle')]);
  execFileSync('cp', ['-a', join(REPO_ROOT, 'bin'), join(REPO_ROOT, 'package.json'), dir]);
  execFileSync('cp', ['-a', join(REPO_ROOT, 'build/Release/asl_native.node'), join(dir, 'build/Release/')]);
  execFileSync('ln', ['-s', join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules')]);
  // Modes only (times stay): chmod -R does not follow the node_modules link.
  execFileSync('chmod', ['-R', 'a+rX', dir]);
  return join(dir, 'bin', 'asl');
}

let staged: string | undefined;

/** This process's staged CLI (stageCli) in a 0755 temp folder, made on first use and removed at exit. */
function stagedCli(): string {
  if (staged === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'asl-cli-'));
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    chmodSync(dir, 0o755);
    staged = stageCli(dir);
  }
  return staged;
}

/** Shows the command's streams when an exit code is not the expected one. */
export function describeRun(r: RunResult): string {
  return `exit ${r.code} signal ${r.signal}\n--- stdout\n${r.stdout.slice(-4000)}\n--- stderr\n${r.stderr.slice(-4000)}`;
}

/** Runs the CLI (or the alias `opts.program`) and asserts it exits 0. */
export async function aslOk(args: string[], opts: RunAslOptions = {}): Promise<RunResult> {
  const r = await runAsl(args, opts);
  assert.equal(r.code, 0, `${opts.program ?? 'asl'} ${args.join(' ')}: ${describeRun(r)}`);
  return r;
}

/** A small, fast, seeded PRNG (mulberry32): floats in [0, 1); a failure reproduces from the seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000;
  };
}

/**
 * A start barrier for child processes, a pipe rather than a clock: a script that starts
 * with this waits until every process started by startTogether has loaded and reached it,
 * however slowly the machine starts them. It says "ready" on fd 3 and waits for its
 * stdin to close (at once when stdin is not a pipe).
 */
export const START_BARRIER = `
import { writeSync as barrierWrite } from 'node:fs';
try { barrierWrite(3, 'ready\\n'); } catch {}
await new Promise((resolve) => process.stdin.once('end', resolve).once('error', resolve).resume());
`;

export interface Started {
  child: ChildProcess;
  /** Resolves when the process has exited, with everything it wrote. */
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

/**
 * Starts `argsOf.length` node processes running `script` (which begins with START_BARRIER)
 * and releases them together once all of them are ready. A process that exits before it
 * is ready fails the start, naming its stderr.
 */
export async function startTogether(script: string, argsOf: string[][]): Promise<Started[]> {
  const started = argsOf.map((args) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['pipe', 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr!.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.stdin!.on('error', () => {}); // a process that died before the release is reported by `ready`
    const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>(
      (resolve, reject) => {
        child.on('error', reject);
        child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
      },
    );
    const ready = new Promise<void>((resolve, reject) => {
      (child.stdio[3] as Readable).once('data', () => resolve());
      void done.then(
        (r) =>
          reject(new Error(`${script} exited (${r.code ?? r.signal}) before the start barrier: ${r.stderr.trim()}`)),
        reject,
      );
    });
    return { child, done, ready };
  });
  try {
    await Promise.all(started.map((s) => s.ready));
  } catch (err) {
    for (const s of started) s.child.kill('SIGKILL');
    throw err;
  }
  for (const s of started) s.child.stdin!.end();
  return started.map(({ child, done }) => ({ child, done }));
}

/** The seed of a randomized test: ASL_TEST_SEED when set (to replay a failure), else a fresh one; logged either way. */
export function testSeed(t: TestContext): number {
  const given = process.env.ASL_TEST_SEED;
  const seed = given === undefined || given === '' ? Math.floor(Math.random() * 0x1_0000_0000) : Number(given);
  if (!Number.isSafeInteger(seed) || seed < 0 || seed > 0xffff_ffff)
    throw new Error(`ASL_TEST_SEED must be an integer in 0..4294967295, not ${given}`);
  t.diagnostic(`random seed ${seed}: replay with ASL_TEST_SEED=${seed}`);
  return seed;
}
