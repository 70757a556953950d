import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Worker } from 'node:worker_threads';
import { ASL_BIN, REPO_ROOT, runAsl, tempDir } from '../helpers.js';

const run = promisify(execFile);

async function hasEsbuild(): Promise<boolean> {
  try {
    await import('esbuild');
    return true;
  } catch {
    return false;
  }
}

/** What bin/asl says it loads (ASL_DEBUG), run from `bin`. */
async function loaded(bin: string): Promise<string> {
  const { stderr } = await run(process.execPath, [bin, '--version'], { env: { ...process.env, ASL_DEBUG: '1' } });
  return /asl: loading (\S+)/.exec(stderr)?.[1] ?? `(nothing said: ${stderr})`;
}

test('bin/asl loads the bundle only while every file it was built from is unchanged', async (t) => {
  // A fake checkout: the real bin/asl, stub entry points, and an inputs list naming one file.
  const dir = await tempDir(t);
  await mkdir(join(dir, 'bin'));
  await copyFile(ASL_BIN, join(dir, 'bin', 'asl'));
  await mkdir(join(dir, 'dist', 'bundle'), { recursive: true });
  await mkdir(join(dir, 'dist', 'src', 'cli'), { recursive: true });
  const stub = (which: string) =>
    `export async function main(argv, io) { io.stdout.write('${which}\\n'); return 0; }\n`;
  await writeFile(join(dir, 'dist', 'bundle', 'asl.js'), stub('bundle'));
  await writeFile(join(dir, 'dist', 'src', 'cli', 'main.js'), stub('src'));
  const input = join(dir, 'dist', 'src', 'cli', 'main.js');
  const list = async () => {
    const now = await stat(input);
    await writeFile(
      join(dir, 'dist', 'bundle', 'inputs.json'),
      JSON.stringify({ inputs: [['dist/src/cli/main.js', now.size, now.mtimeMs]] }),
    );
  };
  await list();
  const st = await stat(input);
  const bin = join(dir, 'bin', 'asl');
  const say = async (env: NodeJS.ProcessEnv = {}) =>
    (await run(process.execPath, [bin], { env: { ...process.env, ...env } })).stdout.trim();

  assert.equal(await say(), 'bundle');
  assert.equal(await say({ ASL_NO_BUNDLE: '1' }), 'src');
  // tsc rewrote the file (same bytes, new mtime): the bundle is no longer trusted.
  await utimes(input, st.atime, new Date(st.mtimeMs + 1000));
  assert.equal(await say(), 'src');
  await list(); // bundled again
  assert.equal(await say(), 'bundle');
  await writeFile(join(dir, 'dist', 'bundle', 'inputs.json'), '{"inputs":[["dist/src/cli/main.js",');
  assert.equal(await say(), 'src', 'an unreadable list counts as stale');
  await rm(join(dir, 'dist', 'bundle', 'inputs.json'));
  assert.equal(await say(), 'src');
});

test('the bundle runs the CLI: capture, verify, verify --tree on its hashing workers', {
  timeout: 120_000,
}, async (t) => {
  if (!(await hasEsbuild())) {
    t.skip('esbuild is not installed');
    return;
  }
  await run(process.execPath, [join(REPO_ROOT, 'scripts', 'bundle-cli.mjs')]);
  assert.equal(await loaded(ASL_BIN), join(REPO_ROOT, 'dist', 'bundle', 'asl.js'));

  const dir = await tempDir(t);
  const store = join(dir, 'S');
  const tree = join(dir, 'T');
  await mkdir(tree);
  for (let i = 0; i < 50; i++) await writeFile(join(tree, `f${i}`), `file ${i}\n`.repeat(i + 1));
  assert.equal((await runAsl(['init', '--store', store])).code, 0);
  const cap = await runAsl([
    'capture',
    '--store',
    store,
    '--watch',
    tree,
    '--cmd',
    `echo new > ${tree}/g`,
    '--outdir',
    join(store, 'per', 'one'),
    '--json',
  ]);
  assert.equal(cap.code, 0, cap.stderr);
  const receipt = JSON.parse(cap.stdout) as { receipt: string };
  const show = await runAsl(['show', '--store', store, receipt.receipt, '--json']);
  assert.equal(show.code, 0, show.stderr);
  assert.ok(show.stdout.includes('/bin/sh'));
  assert.equal((await runAsl(['verify', '--store', store])).code, 0);
  const put = await runAsl(['put', '--store', store, tree]);
  const checked = await runAsl(['verify', '--store', store, '--tree', put.stdout.trim(), '--root', tree]);
  assert.equal(checked.code, 0, checked.stderr);

  // A worker started from the bundle answers as verify-tree-hasher's workers do
  // (the pool would quietly hash on the main thread instead if it did not).
  const file = join(tree, 'f3');
  const fst = await stat(file);
  const worker = new Worker(join(REPO_ROOT, 'dist', 'bundle', 'asl.js'), {
    workerData: { role: 'asl-verify-tree-hasher' },
  });
  t.after(() => worker.terminate());
  const reply = await new Promise<Array<{ id: number; outcome: { ok: boolean; size: number } }>>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.postMessage([{ id: 7, path: new Uint8Array(Buffer.from(file)), dev: fst.dev, ino: fst.ino }]);
  });
  assert.deepEqual(
    reply.map((r) => [r.id, r.outcome.ok, r.outcome.size]),
    [[7, true, fst.size]],
  );
});
