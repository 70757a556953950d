// Exit status and signals end to end: asl-capture exits with the command's status
// (128+N for signal N), a failed or killed command still gets a receipt, and SIGTERM /
// SIGINT sent to asl-capture reach the command, which decides when it is done.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { REPO_ROOT, runAsl, type RunResult } from '../helpers.js';
import { aslOk, assertWellFormedReceipt, describeRun, logJson, readOutdir, workWithStore } from './e2e-helpers.js';

test('a failing command: asl-capture exits 3, the receipt records exit 3, the log shows it failed', async (t) => {
  const { work, store } = await workWithStore(t);
  const outdir = join(store, 'per', 'fails');
  const r = await runAsl(['--store', store, '--cmd', 'echo partial work; echo oops >&2; exit 3', '--outdir', outdir], {
    program: 'asl-capture',
    cwd: work,
  });
  assert.equal(r.code, 3, describeRun(r));
  assert.equal(r.stdout, 'partial work\n');
  const out = await readOutdir(outdir);
  const { core } = (await assertWellFormedReceipt(store, out)).predicate;
  assert.deepEqual(core.exit, { kind: 'exited', code: 3 });
  assert.equal(await readFile(join(outdir, 'stdout.log'), 'utf8'), 'partial work\n');
  assert.equal(await readFile(join(outdir, 'stderr.log'), 'utf8'), 'oops\n');
  const log = await logJson(store);
  assert.deepEqual(
    log.map((i) => [i.receipt, i.step, i.status, i.ok]),
    [[out.id, 'fails', 'failed (exit 3)', false]],
  );
  const text = (await aslOk(['log', '--store', store])).stdout;
  assert.match(text, /fails\s+failed \(exit 3\)/);
  const show = (await aslOk(['show', '--store', store, out.id])).stdout;
  assert.match(show, /^step {5}fails \(command\), failed \(exit 3\)$/m);
  await aslOk(['verify', '--store', store]);
});

test('a command killed by a signal (kill -9 $$): asl-capture exits 137 and the receipt says signaled SIGKILL', async (t) => {
  const { work, store } = await workWithStore(t);
  const outdir = join(store, 'per', 'killed');
  const r = await runAsl(
    ['--store', store, '--cmd', 'echo about to die; kill -9 $$; echo never', '--outdir', outdir, '--json'],
    { program: 'asl-capture', cwd: work },
  );
  assert.equal(r.code, 137, describeRun(r));
  const out = await readOutdir(outdir);
  const { core } = (await assertWellFormedReceipt(store, out)).predicate;
  assert.deepEqual(core.exit, { kind: 'signaled', signal: 'SIGKILL', code: 137 });
  assert.equal(await readFile(join(outdir, 'stdout.log'), 'utf8'), 'about to die\n');
  const json = JSON.parse(r.stdout.slice('about to die\n'.length)) as { receipt: string; exitCode: number };
  assert.deepEqual([json.receipt, json.exitCode], [out.id, 137]);
  const log = await logJson(store);
  assert.deepEqual(
    log.map((i) => [i.receipt, i.status, i.ok]),
    [[out.id, 'killed (SIGKILL)', false]],
  );
  await aslOk(['verify', '--store', store]);
});

/** Starts asl-capture as a process of its own, so a signal can be sent to it alone. */
function startCapture(
  args: string[],
  cwd: string,
  extraEnv: Record<string, string>,
): { pid: number; done: Promise<RunResult> } {
  const env = { ...process.env, ...extraEnv };
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'asl-capture'), ...args], {
    cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => out.push(c));
  child.stderr.on('data', (c: Buffer) => err.push(c));
  const done = new Promise<RunResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const stdoutBytes = Buffer.concat(out);
      resolve({ code, signal, stdout: stdoutBytes.toString(), stderr: Buffer.concat(err).toString(), stdoutBytes });
    });
  });
  return { pid: child.pid!, done };
}

async function waitForFile(path: string, done: Promise<RunResult>, timeoutMs = 20_000): Promise<void> {
  let finished: RunResult | undefined;
  void done.then((r) => {
    finished = r;
  });
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (
      await access(path).then(
        () => true,
        () => false,
      )
    )
      return;
    if (finished) assert.fail(`asl-capture ended before ${path} appeared: ${describeRun(finished)}`);
    if (Date.now() > until) assert.fail(`${path} did not appear within ${timeoutMs} ms`);
    await sleep(50);
  }
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`${signal} to asl-capture is forwarded to the command; its trap runs, asl exits with the command's status, the receipt is written`, async (t) => {
    const { work, store } = await workWithStore(t);
    const outdir = join(store, 'per', 'interrupted');
    const marker = join(work, 'trap-ran');
    const ready = join(work, 'ready');
    const trapName = signal.slice(3);
    const cmd = `trap 'echo trapped ${trapName} > "$MARK"; echo cleaning up; exit 42' ${trapName}; echo started; touch "$READY"; sleep 30; echo slept through`;
    // The paths go through the environment so that auto-watch does not pick them up.
    const capture = startCapture(['--store', store, '--cmd', cmd, '--outdir', outdir], work, {
      MARK: marker,
      READY: ready,
    });
    await waitForFile(ready, capture.done);
    const t0 = Date.now();
    process.kill(capture.pid, signal);
    const r = await capture.done;
    assert.ok(Date.now() - t0 < 15_000, 'the command did not sleep its 30 s');
    assert.equal(r.signal, null, `asl-capture must not die of the signal itself: ${describeRun(r)}`);
    assert.equal(r.code, 42, describeRun(r));
    assert.equal(await readFile(marker, 'utf8'), `trapped ${trapName}\n`, "the command's trap ran");
    const out = await readOutdir(outdir);
    const { core } = (await assertWellFormedReceipt(store, out)).predicate;
    assert.deepEqual(core.exit, { kind: 'exited', code: 42 });
    assert.equal(await readFile(join(outdir, 'stdout.log'), 'utf8'), 'started\ncleaning up\n');
    const log = await logJson(store);
    assert.deepEqual(
      log.map((i) => [i.receipt, i.status]),
      [[out.id, 'failed (exit 42)']],
    );
    await aslOk(['verify', '--store', store]);
  });
}

test('SIGTERM to asl-capture, command without a trap: it dies of SIGTERM, asl exits 143, the receipt says signaled', async (t) => {
  const { work, store } = await workWithStore(t);
  const outdir = join(store, 'per', 'terminated');
  const ready = join(work, 'ready');
  const capture = startCapture(['--store', store, '--cmd', 'touch "$READY"; exec sleep 30', '--outdir', outdir], work, {
    READY: ready,
  });
  await waitForFile(ready, capture.done);
  process.kill(capture.pid, 'SIGTERM');
  const r = await capture.done;
  assert.equal(r.code, 143, describeRun(r));
  const out = await readOutdir(outdir);
  const { core } = (await assertWellFormedReceipt(store, out)).predicate;
  assert.deepEqual(core.exit, { kind: 'signaled', signal: 'SIGTERM', code: 143 });
  assert.deepEqual(
    (await logJson(store)).map((i) => [i.receipt, i.status]),
    [[out.id, 'killed (SIGTERM)']],
  );
});

test('a command that cannot be found: sh exits 127, so does asl-capture, with a receipt and a note that the program was not identified', async (t) => {
  const { work, store } = await workWithStore(t);
  const outdir = join(store, 'per', 'missing');
  const r = await runAsl(['--store', store, '--cmd', 'no-such-program-asl-e2e --flag', '--outdir', outdir], {
    program: 'asl-capture',
    cwd: work,
  });
  assert.equal(r.code, 127, describeRun(r));
  assert.match(r.stderr, /no-such-program-asl-e2e/);
  const out = await readOutdir(outdir);
  const { core } = (await assertWellFormedReceipt(store, out)).predicate;
  assert.deepEqual(core.exit, { kind: 'exited', code: 127 });
  assert.ok(
    !core.program!.some((p) => p.path.includes('no-such-program')),
    'an unresolved program is not recorded with a digest',
  );
  assert.match(await readFile(join(outdir, 'stderr.log'), 'utf8'), /no-such-program-asl-e2e: not found/);
});

test('bad input (a missing --input): exit 2 with one line naming the path; the command does not run; no receipt, no log entry, no outdir', async (t) => {
  const { work, store } = await workWithStore(t);
  const outdir = join(store, 'per', 'never');
  const marker = join(work, 'ran');
  const r = await runAsl(
    ['--store', store, '--cmd', 'touch "$MARK"', '--input', join(work, 'missing-input'), '--outdir', outdir],
    { program: 'asl-capture', cwd: work, env: { ...process.env, MARK: marker } },
  );
  assert.equal(r.code, 2, describeRun(r));
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.ok(r.stderr.includes(join(work, 'missing-input')) || r.stderr.includes('missing-input'), r.stderr);
  assert.equal(
    await access(marker).then(
      () => true,
      () => false,
    ),
    false,
    'the command did not run',
  );
  assert.equal(
    await access(outdir).then(
      () => true,
      () => false,
    ),
    false,
    'no outdir',
  );
  assert.deepEqual(await logJson(store), []);
});
