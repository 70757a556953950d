import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { runCommand, type RunCommandOptions } from '../../src/capture/run-command.js';
import { parseStraceFile } from '../../src/capture/trace.js';
import { ensureDebianPackages } from '../fixtures.js';
import { tempDir } from '../helpers.js';

/** A writable that keeps what it gets; `delayMs` makes it slow, to exercise back-pressure. */
class Sink extends Writable {
  readonly chunks: Buffer[] = [];
  private waiters: Array<{ text: string; resolve: () => void }> = [];
  constructor(private readonly delayMs = 0) {
    super({ highWaterMark: 64 * 1024 });
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.chunks.push(chunk);
    if (this.waiters.length > 0) {
      const text = this.text();
      this.waiters = this.waiters.filter((w) => {
        if (!text.includes(w.text)) return true;
        w.resolve();
        return false;
      });
    }
    if (this.delayMs > 0) setTimeout(cb, this.delayMs);
    else cb();
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
  /** Resolves once `text` has been written. */
  waitFor(text: string): Promise<void> {
    if (this.text().includes(text)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ text, resolve }));
  }
}

async function run(t: Parameters<typeof tempDir>[0], command: string, extra: Partial<RunCommandOptions> = {}) {
  const dir = await tempDir(t);
  const stdout = new Sink();
  const stderr = new Sink();
  const result = await runCommand({
    command,
    cwd: dir,
    stdin: 'ignore',
    stdout,
    stderr,
    stdoutFile: join(dir, 'stdout.log'),
    stderrFile: join(dir, 'stderr.log'),
    ...extra,
  });
  return { dir, result, stdout, stderr };
}

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

test('exit status, streams to the terminal and to files, byte counts and digests, times', async (t) => {
  const { result, stdout, stderr } = await run(t, 'printf "out\\n"; printf "err\\n" >&2; exit 3');
  assert.equal(result.exitCode, 3);
  assert.equal(result.signal, null);
  assert.deepEqual(result.argv.slice(0, 2), ['/bin/sh', '-c']);
  assert.equal(stdout.text(), 'out\n');
  assert.equal(stderr.text(), 'err\n');
  assert.equal(await readFile(result.stdout.file, 'utf8'), 'out\n');
  assert.equal(await readFile(result.stderr.file, 'utf8'), 'err\n');
  assert.deepEqual([result.stdout.bytes, result.stdout.digest], [4, sha(Buffer.from('out\n'))]);
  assert.deepEqual([result.stderr.bytes, result.stderr.digest], [4, sha(Buffer.from('err\n'))]);
  assert.ok(result.finishedAt >= result.startedAt);
  assert.ok(result.durationMs > 0 && result.durationMs < 10_000);
  assert.equal(result.outputComplete, true);
});

test('a command killed by a signal: the signal name and number, no exit code', async (t) => {
  const { result } = await run(t, 'kill -KILL $$');
  assert.equal(result.exitCode, null);
  assert.deepEqual(result.signal, { name: 'SIGKILL', number: 9 });
});

test('SIGTERM to this process is forwarded to the command, which handles it; this process waits and survives', async (t) => {
  const dir = await tempDir(t);
  const stdout = new Sink();
  const script = 'trap \'echo "got TERM"; exit 7\' TERM; echo ready; while :; do sleep 0.05; done';
  const pending = runCommand({
    command: script,
    cwd: dir,
    stdin: 'ignore',
    stdout,
    stderr: null,
    stdoutFile: join(dir, 'out'),
    stderrFile: join(dir, 'err'),
  });
  await stdout.waitFor('ready');
  process.kill(process.pid, 'SIGTERM');
  const result = await pending;
  assert.equal(result.exitCode, 7);
  assert.deepEqual(result.forwardedSignals, ['SIGTERM']);
  assert.equal(stdout.text(), 'ready\ngot TERM\n');
  assert.equal(process.listenerCount('SIGTERM'), 0, 'handlers are removed afterwards');
});

test('SIGINT reaches every process of the command (its process group), not only the shell', async (t) => {
  const dir = await tempDir(t);
  const stdout = new Sink();
  // The inner sh is a separate process; both trap INT.
  const script = `trap 'echo outer; exit 5' INT; sh -c 'trap "echo inner; exit 4" INT; echo ready; while :; do sleep 0.05; done'; echo "inner status $?"`;
  const pending = runCommand({
    command: script,
    cwd: dir,
    stdin: 'ignore',
    stdout,
    stdoutFile: join(dir, 'o'),
    stderrFile: join(dir, 'e'),
  });
  await stdout.waitFor('ready');
  process.kill(process.pid, 'SIGINT');
  const result = await pending;
  assert.match(stdout.text(), /inner/);
  assert.match(stdout.text(), /outer/);
  assert.equal(result.exitCode, 5);
});

test('large output through a slow terminal: no deadlock, files byte-exact', async (t) => {
  const dir = await tempDir(t);
  const data = randomBytes(24 * 1024 * 1024);
  await writeFile(join(dir, 'data.bin'), data);
  const stdout = new Sink(1);
  const stderr = new Sink();
  const result = await runCommand({
    command: 'cat data.bin; head -c 5000000 data.bin >&2; cat data.bin',
    cwd: dir,
    stdin: 'ignore',
    stdout,
    stderr,
    stdoutFile: join(dir, 'stdout.log'),
    stderrFile: join(dir, 'stderr.log'),
  });
  assert.equal(result.exitCode, 0);
  const expectedOut = Buffer.concat([data, data]);
  const expectedErr = data.subarray(0, 5_000_000);
  assert.ok((await readFile(join(dir, 'stdout.log'))).equals(expectedOut));
  assert.ok((await readFile(join(dir, 'stderr.log'))).equals(expectedErr));
  assert.ok(stdout.bytes().equals(expectedOut));
  assert.ok(stderr.bytes().equals(expectedErr));
  assert.equal(result.stdout.digest, sha(expectedOut));
  assert.equal(result.stderr.bytes, 5_000_000);
});

test('a terminal that fails (EPIPE) does not stop the command or the files', async (t) => {
  const dir = await tempDir(t);
  const broken = new Writable({
    write(_c, _e, cb) {
      cb(Object.assign(new Error('EPIPE'), { code: 'EPIPE' }));
    },
  });
  broken.on('error', () => {});
  const result = await runCommand({
    command: 'seq 1 100000',
    cwd: dir,
    stdin: 'ignore',
    stdout: broken,
    stdoutFile: join(dir, 'o'),
    stderrFile: join(dir, 'e'),
  });
  assert.equal(result.exitCode, 0);
  const out = await readFile(join(dir, 'o'), 'utf8');
  assert.equal(out.split('\n').length, 100001);
  assert.ok(out.endsWith('99999\n100000\n'));
});

test('a background process holding the pipes open: the run ends after drainTimeoutMs, output so far kept', async (t) => {
  const { result } = await run(t, 'echo before; sleep 2 & echo after', { drainTimeoutMs: 300 });
  assert.equal(result.exitCode, 0);
  assert.equal(result.outputComplete, false);
  assert.equal(await readFile(result.stdout.file, 'utf8'), 'before\nafter\n');
});

test('peak RSS is the largest process of the command, in bytes', async (t) => {
  const node = process.execPath;
  const { result } = await run(
    t,
    `${JSON.stringify(node)} -e "const b = Buffer.alloc(200 * 1024 * 1024, 1); console.log(b[12345])"`,
  );
  assert.equal(result.exitCode, 0);
  assert.ok(result.peakRssBytes !== null && result.peakRssBytes >= 200 * 1024 * 1024, String(result.peakRssBytes));
  assert.ok(result.peakRssBytes! < 2 * 1024 * 1024 * 1024);
});

test('under strace: same output, and the trace file records what was read', async (t) => {
  await ensureDebianPackages('strace');
  const dir = await tempDir(t);
  await writeFile(join(dir, 'input.txt'), 'traced input\n');
  const traceFile = join(dir, 'trace.txt');
  const stdout = new Sink();
  const result = await runCommand({
    command: 'cat input.txt; echo to-stderr >&2',
    cwd: dir,
    stdin: 'ignore',
    stdout,
    traceFile,
    stdoutFile: join(dir, 'o'),
    stderrFile: join(dir, 'e'),
  });
  assert.equal(result.exitCode, 0);
  assert.equal(result.argv[0], 'strace');
  assert.equal(stdout.text(), 'traced input\n');
  assert.equal(await readFile(join(dir, 'e'), 'utf8'), 'to-stderr\n', "strace writes nothing to the command's stderr");
  const trace = await parseStraceFile(traceFile, { cwd: dir });
  assert.ok(trace.reads.some((r) => r.path === join(dir, 'input.txt')));
});

test('strace missing: a clear error, nothing left running', async (t) => {
  const dir = await tempDir(t);
  await assert.rejects(
    runCommand({
      command: 'true',
      cwd: dir,
      stdin: 'ignore',
      traceFile: join(dir, 't'),
      strace: join(dir, 'no-strace'),
      stdoutFile: join(dir, 'o'),
      stderrFile: join(dir, 'e'),
    }),
    (err: Error & { code?: string }) => err.code === 'UNSUPPORTED' && /strace package/.test(err.message),
  );
  assert.equal(process.listenerCount('SIGINT'), 0);
});
