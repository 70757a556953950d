import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
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
  return readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => (l.split(' ')[1] ?? '').replace(/\\040/g, ' '))
    .filter((m) => m.startsWith(`${dir}/`)).sort((a, b) => b.length - a.length);
}

/** Runs a bash script; its stdout and stderr, interleaved as they came, are returned and written to `logFile`. */
export function runBashLogged(script: string, env: NodeJS.ProcessEnv, logFile: string, cwd?: string): Promise<{ code: number | null; output: string }> {
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

/**
 * Runs the real CLI as a separate process, in `/` unless `cwd` is given (a
 * capture's working directory is watched). `program` selects an alias binary;
 * `direct` runs the launcher as an executable (its #!/bin/sh line first, as a
 * user's shell does) rather than as `node bin/asl`.
 */
export function runAsl(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string | Buffer; program?: string; direct?: boolean } = {}): Promise<RunResult> {
  const script = opts.program ? join(REPO_ROOT, 'bin', opts.program) : ASL_BIN;
  return new Promise((resolvePromise, reject) => {
    const child = spawn(opts.direct ? script : process.execPath, opts.direct ? args : [script, ...args], {
      // Not the repository: a capture watches its working directory, and `/` is never watched.
      cwd: opts.cwd ?? '/',
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
      resolvePromise({ code, signal, stdout: stdoutBytes.toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), stdoutBytes });
    });
    // A command that exits without reading its input closes the pipe: not an error of the test.
    child.stdin.on('error', (e: NodeJS.ErrnoException) => { if (e.code !== 'EPIPE') reject(e); });
    child.stdin.end(opts.input ?? '');
  });
}

/** Shows the command's streams when an exit code is not the expected one. */
export function describeRun(r: RunResult): string {
  return `exit ${r.code} signal ${r.signal}\n--- stdout\n${r.stdout.slice(-4000)}\n--- stderr\n${r.stderr.slice(-4000)}`;
}

/** Runs the CLI (or the alias `opts.program`) and asserts it exits 0. */
export async function aslOk(args: string[], opts: Parameters<typeof runAsl>[1] = {}): Promise<RunResult> {
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
