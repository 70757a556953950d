// `asl audit` writes its entries as the walk classes them (a million-file tree is never
// held whole): the streamed --json document is the library's audit() of the same tree, an
// empty tree is a well-formed document, and the messages of a tree with many problems
// name the first ones and count them all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { audit, type AuditResult } from '../../src/graph/audit.js';
import { openStore } from '../../src/store/store.js';
import { aslOk, runAsl, tempDir } from '../helpers.js';

test('audit --json streamed equals the library audit; empty trees; many problems counted whole', async (t) => {
  const dir = await tempDir(t);
  const store = join(dir, 'store');
  await aslOk(['init', '--store', store]);
  const tree = join(dir, 'tree');
  for (let d = 0; d < 15; d++) {
    await mkdir(join(tree, `d${d}`, 'deeper'), { recursive: true });
    for (let f = 0; f < 100; f++) await writeFile(join(tree, `d${d}`, `f${f}`), `file ${d} ${f}\n`);
    await writeFile(join(tree, `d${d}`, 'deeper', 'same'), 'the same bytes everywhere\n');
    await symlink(`../d${d}/f0`, join(tree, `d${d}`, 'link'));
  }
  await mkdir(join(tree, 'empty'));
  const id = (await aslOk(['put', '--store', store, tree])).stdout.trim();

  const streamed = JSON.parse((await aslOk(['audit', '--store', store, id, '--json'])).stdout) as AuditResult;
  const whole = await audit(await openStore(store), id);
  assert.equal(streamed.entries.length, 15 * 102);
  assert.deepEqual({ ...streamed, ms: 0 }, { ...whole, ms: 0 });
  assert.deepEqual(
    streamed.entries.slice(0, 3).map((e) => e.path),
    ['d0/deeper/same', 'd0/f0', 'd0/f1'],
    'depth first, names in byte order',
  );
  assert.equal(streamed.summary.directories, 31);

  // Human output: the first 100 problems, and how many more; --strict: the first 1000 paths
  // in the error's data, how many were left out, and the whole count in its message.
  const text = await runAsl(['audit', '--store', store, id]);
  assert.equal(text.code, 0);
  assert.equal(text.stdout.split('\n').filter((l) => l.startsWith('unattributed  ')).length, 100);
  assert.match(text.stdout, /^\.\.\. and 1430 more \(--json lists every entry\)$/m);
  const strict = await runAsl(['audit', '--store', store, id, '--strict', '--json']);
  assert.equal(strict.code, 1);
  const error = JSON.parse(strict.stderr.trim().split('\n').pop()!).error;
  assert.equal(error.paths.length, 1000);
  assert.deepEqual(error.paths.slice(0, 2), ['d0/deeper/same', 'd0/f0']);
  assert.equal(error.pathsNotListed, 530);
  assert.match(
    error.message,
    /^audit --strict: 1530 unattributed, 0 differ from their package: d0\/deeper\/same, .*, and 1520 more$/,
  );
  // The --json document went out whole before the error.
  assert.equal((JSON.parse(strict.stdout) as AuditResult).summary.unattributed, 1530);

  const emptyTree = join(dir, 'nothing');
  await mkdir(emptyTree);
  const empty = (await aslOk(['put', '--store', store, emptyTree])).stdout.trim();
  const none = JSON.parse((await aslOk(['audit', '--store', store, empty, '--json'])).stdout) as AuditResult;
  assert.deepEqual(none.entries, []);
  assert.equal(none.summary.entries, 0);
  assert.deepEqual({ ...none, ms: 0 }, { ...(await audit(await openStore(store), empty)), ms: 0 });
});
