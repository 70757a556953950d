// tmp/ folders of writers that died (SIGKILL) are swept by the next commit once their
// process is gone and they are an hour old; live writers' folders are never touched.
// Also: the portable (JS) ingest path reads a file from the descriptor it opened.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runAsl, tempDir } from '../helpers.js';
import { cliInit, cliPut, sha256Hex } from './tree-compare.js';
import { abandonedTmpEntries, ABANDONED_AFTER_MS } from '../../src/store/tmp-sweep.js';

/** A pid that was just used and has exited. */
function deadPid(): number {
  const r = spawnSync('/bin/sh', ['-c', 'echo $$'], { encoding: 'utf8' });
  return Number(r.stdout.trim());
}

async function writerFolder(store: string, name: string, ageMs: number): Promise<void> {
  const dir = join(store, 'tmp', name);
  await mkdir(join(dir, 'ab'), { recursive: true });
  await writeFile(join(dir, 'ab', 'cdef'), 'staged bytes of a writer\n');
  const when = (Date.now() - ageMs) / 1000;
  await utimes(dir, when, when);
}

test('abandoned writer folders: pid gone and an hour old; a live pid, a young folder or a foreign name stay', async (t) => {
  const store = await cliInit(join(await tempDir(t), 'S'));
  const dead = deadPid();
  await writerFolder(store, `${dead}-aa11`, 2 * ABANDONED_AFTER_MS);
  await writerFolder(store, `capture-${dead}-bb22`, 2 * ABANDONED_AFTER_MS);
  await writerFolder(store, `import-${dead}-cc33`, 2 * ABANDONED_AFTER_MS);
  await writerFolder(store, `${dead}-dd44`, 60_000);
  await writerFolder(store, `${process.pid}-ee55`, 2 * ABANDONED_AFTER_MS);
  await writerFolder(store, 'notes-of-someone', 2 * ABANDONED_AFTER_MS);
  const found = await abandonedTmpEntries({ root: store }, { alive: (pid) => pid !== dead });
  assert.deepEqual(found, [`${dead}-aa11`, `capture-${dead}-bb22`, `import-${dead}-cc33`]);
  assert.deepEqual(
    await abandonedTmpEntries({ root: store }, { alive: () => true }),
    [],
    'a live pid keeps its folder',
  );

  // The next commit (a put of new content, in another process) sweeps them.
  const file = join(store, '..', 'f');
  await writeFile(file, randomBytes(100));
  await cliPut(store, file);
  assert.deepEqual(
    (await readdir(join(store, 'tmp'))).sort(),
    [`${dead}-dd44`, `${process.pid}-ee55`, 'notes-of-someone'].sort(),
  );
  const v = await runAsl(['verify', '--store', store]);
  assert.equal(v.code, 0, v.stdout + v.stderr);
});

test('the portable ingest path (ASL_NO_NATIVE_INGEST=1) stores small and large files byte for byte, nothing left in tmp/', async (t) => {
  const dir = await tempDir(t);
  const store = await cliInit(join(dir, 'S'));
  const tree = join(dir, 'T');
  await mkdir(tree);
  const small = randomBytes(1000);
  const large = randomBytes(9 * 1024 * 1024 + 7);
  await writeFile(join(tree, 'small'), small);
  await writeFile(join(tree, 'large'), large);
  const env = { ...process.env, ASL_NO_NATIVE_INGEST: '1' };
  const put = await runAsl(['put', '--store', store, tree, '--json'], { env });
  assert.equal(put.code, 0, put.stderr);
  const id = (JSON.parse(put.stdout) as { id: string }).id;
  for (const [name, bytes] of [
    ['small', small],
    ['large', large],
  ] as const) {
    const ls = await runAsl(['ls', '--store', store, id, '--json']);
    const entry = (JSON.parse(ls.stdout) as Array<{ name: string; digest?: string }>).find((e) => e.name === name);
    assert.equal(entry?.digest, `sha256:${sha256Hex(bytes)}`, name);
    const obj = join(store, 'objects-v1', 'sha256', sha256Hex(bytes).slice(0, 2), sha256Hex(bytes).slice(2));
    assert.deepEqual(await readFile(obj), bytes, `${name}: the object holds the file's bytes`);
  }
  assert.deepEqual(await readdir(join(store, 'tmp')), [], 'no staging left');
  const v = await runAsl(['verify', '--store', store]);
  assert.equal(v.code, 0, v.stdout + v.stderr);
});
