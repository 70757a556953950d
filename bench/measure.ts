// Runs one command the same way for every tool: dirty pages flushed, the tree it reads
// warmed into the page cache, then timed (monotonic clock) under GNU time for peak RSS.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const GNU_TIME = '/usr/bin/time';

export interface Measurement {
  wallS: number;
  /** Peak resident set size of the largest process in the command's tree (GNU time %M). */
  rssKB: number;
  stdout: string;
}

export interface RunOptions {
  cwd?: string;
  /** A directory the command reads: warmed (every file read once) before timing. */
  warm?: string;
}

/** Runs argv once, timed. Throws an Error whose message is one line if it fails. */
export async function measure(argv: string[], opts: RunOptions = {}): Promise<Measurement> {
  await settle(opts.warm);
  const dir = await mkdtemp(join(tmpdir(), 'asl-bench-time-'));
  const timeFile = join(dir, 'time');
  try {
    const started = process.hrtime.bigint();
    const result = await run(GNU_TIME, ['-f', '%e %M', '-o', timeFile, '--', ...argv], opts.cwd);
    const wallS = Number(process.hrtime.bigint() - started) / 1e9;
    if (result.code !== 0) {
      throw new Error(`exit status ${result.code}: ${lastLine(result.stderr) || 'no message'}`);
    }
    const rssKB = Number((await readFile(timeFile, 'utf8')).trim().split(/\s+/).pop());
    if (!Number.isFinite(rssKB)) throw new Error(`${GNU_TIME} gave no peak RSS for ${argv[0]}`);
    return { wallS, rssKB, stdout: result.stdout };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The same preparation before every timed command: `sync` so writeback left by the
 * previous command (e.g. a store's objects) is not charged to this one, then one
 * untimed pass that reads every file of the tree so all tools start from a warm cache.
 */
export async function settle(tree?: string): Promise<void> {
  await mustRun(['sync']);
  if (tree) await mustRun(['sh', '-c', 'find "$1" -type f -print0 | xargs -0r cat > /dev/null', 'warm', tree]);
}

/** Runs a command untimed; throws with one line (exit status and last line of stderr) if it fails. */
export async function mustRun([program, ...args]: string[], cwd?: string): Promise<string> {
  const result = await run(program!, args, cwd);
  if (result.code !== 0) throw new Error(`exit status ${result.code}: ${lastLine(result.stderr) || 'no message'}`);
  return result.stdout;
}

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function run(program: string, args: string[], cwd?: string): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(program, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', (e) => resolve({ code: 127, stdout: '', stderr: `${program}: ${e.message}` }));
    child.on('close', (code, signal) =>
      resolve({
        code: code ?? 128,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8') + (signal ? `\nkilled by ${signal}` : ''),
      }),
    );
  });
}

function lastLine(text: string): string {
  return text.trim().split('\n').pop()?.trim() ?? '';
}
