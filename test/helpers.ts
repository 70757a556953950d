import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
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

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
}

/**
 * Runs the real CLI as a separate process. `program` selects an alias binary;
 * `direct` runs the launcher as an executable (its #!/bin/sh line first, as a
 * user's shell does) rather than as `node bin/asl`.
 */
export function runAsl(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string | Buffer; program?: string; direct?: boolean } = {}): Promise<RunResult> {
  const script = opts.program ? join(REPO_ROOT, 'bin', opts.program) : ASL_BIN;
  return new Promise((resolvePromise, reject) => {
    const child = spawn(opts.direct ? script : process.execPath, opts.direct ? args : [script, ...args], {
      cwd: opts.cwd ?? REPO_ROOT,
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
