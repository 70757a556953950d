import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, readdir, readlink, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runAsl, tempDir, type RunResult } from '../helpers.js';
import { ensureDebianPackages } from '../fixtures.js';
import {
  cliInit,
  cliPut,
  cliRestore,
  NOBODY,
  objectIds,
  oneLine,
  run,
  runAslAs,
  tmpEntries,
} from '../store/tree-compare.js';

const ZERO_ID = `sha256:${'0'.repeat(64)}`;

/** Exit 2, nothing on stdout, one stderr line that contains every `mentions`. */
function assertBadInput(r: RunResult, mentions: Array<string | RegExp>, what: string): string {
  assert.equal(r.code, 2, `${what}: exit 2 (stderr: ${r.stderr})`);
  assert.equal(r.stdout, '', `${what}: nothing on stdout`);
  const line = oneLine(r.stderr);
  assert.match(line, /^asl: /, what);
  for (const m of mentions) {
    if (typeof m === 'string') assert.ok(line.includes(m), `${what}: "${line}" should name ${m}`);
    else assert.match(line, m, what);
  }
  return line;
}

const runAslAsNobody = (args: string[]) => runAslAs(NOBODY, args);

/** A store with one tree in it, and a snapshot of its objects to prove failures add none. */
async function storeWithContent(t: Parameters<typeof tempDir>[0]) {
  const dir = await tempDir(t);
  const store = await cliInit(join(dir, 'S'));
  await mkdir(join(dir, 'T'));
  await writeFile(join(dir, 'T', 'a'), 'a\n');
  const put = await cliPut(store, join(dir, 'T'));
  return { dir, store, treeId: put.id, objects: await objectIds(store) };
}

async function assertNothingWritten(store: string, objects: string[], what: string): Promise<void> {
  assert.deepEqual(await objectIds(store), objects, `${what}: no new objects`);
  assert.deepEqual(await tmpEntries(store), [], `${what}: tmp/ is empty`);
}

test('put of a missing path: exit 2, one line naming it, nothing written', async (t) => {
  const { dir, store, objects } = await storeWithContent(t);
  const missing = join(dir, 'does', 'not', 'exist');
  assertBadInput(
    await runAsl(['put', '--store', store, missing]),
    [missing, 'no such file or directory'],
    'missing path',
  );
  const json = await runAsl(['put', '--store', store, missing, '--json']);
  assert.equal(json.code, 2);
  const err = JSON.parse(oneLine(json.stderr)) as { error: { code: string; message: string; path: string } };
  assert.equal(err.error.code, 'NOT_FOUND');
  assert.equal(err.error.path, missing);
  await assertNothingWritten(store, objects, 'missing path');
});

test('put of a symlink loop given as the path: exit 2, one line naming it, nothing written', async (t) => {
  const { dir, store, objects } = await storeWithContent(t);
  const loop = join(dir, 'loop');
  await symlink('loop', loop);
  const a = join(dir, 'ping');
  await symlink('pong', a);
  await symlink('ping', join(dir, 'pong'));
  assertBadInput(
    await runAsl(['put', '--store', store, loop]),
    [loop, 'too many levels of symbolic links'],
    'self loop',
  );
  assertBadInput(await runAsl(['put', '--store', store, a]), [a, 'too many levels of symbolic links'], 'two-link loop');
  await assertNothingWritten(store, objects, 'symlink loop');
});

test('a symlink loop inside a tree is fine: symlinks are recorded, not followed', async (t) => {
  const { dir, store } = await storeWithContent(t);
  const tree = join(dir, 'with-loops');
  await mkdir(join(tree, 'sub'), { recursive: true });
  await symlink('self', join(tree, 'self'));
  await symlink('b', join(tree, 'a'));
  await symlink('a', join(tree, 'b'));
  await symlink('..', join(tree, 'sub', 'up')); // a directory cycle through a symlink
  await writeFile(join(tree, 'sub', 'file'), 'x\n');
  const put = await cliPut(store, tree);
  assert.equal(put.stats.other, 4);
  const ls = JSON.parse((await runAsl(['ls', '--store', store, put.id, '--json'])).stdout) as Array<{
    name: string;
    type: string;
    target?: string;
  }>;
  assert.deepEqual(
    ls.filter((e) => e.type === 'symlink').map((e) => [e.name, e.target]),
    [
      ['a', 'b'],
      ['b', 'a'],
      ['self', 'self'],
    ],
  );
  const dest = join(dir, 'restored');
  await cliRestore(store, put.id, dest);
  assert.equal(await readlink(join(dest, 'self')), 'self');
  assert.equal(await readlink(join(dest, 'a')), 'b');
  assert.equal(await readlink(join(dest, 'sub', 'up')), '..');
});

test('put of an unreadable file or directory (as an unprivileged user): exit 2, one line naming it, nothing written', async (t) => {
  await ensureDebianPackages('util-linux');
  const dir = await tempDir(t);
  await chmod(dir, 0o755); // nobody must be able to reach the store and the tree
  const store = await cliInit(join(dir, 'S'));
  const tree = join(dir, 'T');
  await mkdir(join(tree, 'closed'), { recursive: true });
  await writeFile(join(tree, 'readable'), 'fine\n');
  await writeFile(join(tree, 'secret'), 'nobody may read this\n');
  await run('chown', ['-R', `${NOBODY}:${NOBODY}`, store, tree]);
  await chmod(join(tree, 'secret'), 0o000);
  const objects = await objectIds(store);

  const file = join(tree, 'secret');
  assertBadInput(await runAslAsNobody(['put', '--store', store, file]), [file, 'permission denied'], 'unreadable file');
  await assertNothingWritten(store, objects, 'unreadable file');

  assertBadInput(
    await runAslAsNobody(['put', '--store', store, tree]),
    [file, 'permission denied'],
    'unreadable file in a tree',
  );
  await assertNothingWritten(store, objects, 'unreadable file in a tree');

  await chmod(file, 0o644);
  await chmod(join(tree, 'closed'), 0o000);
  const closed = join(tree, 'closed');
  assertBadInput(
    await runAslAsNobody(['put', '--store', store, tree]),
    [closed, 'permission denied'],
    'unreadable directory in a tree',
  );
  await assertNothingWritten(store, objects, 'unreadable directory in a tree');

  // The same tree made readable goes in: the failures were about permissions, not the tree.
  await chmod(closed, 0o755);
  const ok = await runAslAsNobody(['put', '--store', store, tree]);
  assert.equal(ok.code, 0, ok.stderr);
});

test('a put that fails part-way through many files leaves no staged objects in tmp/', async (t) => {
  await ensureDebianPackages('util-linux');
  const dir = await tempDir(t);
  await chmod(dir, 0o755);
  const store = await cliInit(join(dir, 'S'));
  const tree = join(dir, 'T');
  await mkdir(tree);
  // "a-secret" sorts first, so it fails while the other files are being staged.
  await writeFile(join(tree, 'a-secret'), 'nobody may read this\n');
  for (let i = 0; i < 300; i++)
    await writeFile(join(tree, `file${String(i).padStart(3, '0')}`), `content ${i}\n`.repeat(i + 1));
  await run('chown', ['-R', `${NOBODY}:${NOBODY}`, store, tree]);
  await chmod(join(tree, 'a-secret'), 0o000);
  const objects = await objectIds(store);
  const r = await runAslAsNobody(['put', '--store', store, tree]);
  assertBadInput(r, [join(tree, 'a-secret'), 'permission denied'], 'unreadable file among many');
  await assertNothingWritten(store, objects, 'unreadable file among many');
});

test('store path that is a file, or that does not exist: every command exits 2 with one line naming it', async (t) => {
  const { dir, treeId } = await storeWithContent(t);
  const file = join(dir, 'a-file');
  await writeFile(file, 'not a store\n');
  const nowhere = join(dir, 'no-store-here');
  const dest = join(dir, 'dest');
  for (const [store, problem] of [
    [file, 'is a file, not an ASL store'],
    [nowhere, 'no such store'],
  ] as const) {
    const commands = [
      ['put', '--store', store, join(dir, 'T')],
      ['ls', '--store', store, treeId],
      ['cat', '--store', store, `${treeId}:a`],
      ['restore', '--store', store, treeId, dest],
      ['verify', '--store', store],
      ['audit', '--store', store, treeId],
      ['sbom', '--store', store, treeId, '--format', 'spdx', '-o', join(dir, 'sbom.json')],
    ];
    for (const args of commands) assertBadInput(await runAsl(args), [store, problem], `${args[0]} with ${problem}`);
  }
  assert.deepEqual((await readdir(dir)).sort(), ['S', 'T', 'a-file'], 'nothing was created');
});

test('unknown flags and unknown commands: exit 2, one line naming them', async (t) => {
  const { store, treeId } = await storeWithContent(t);
  const cases: Array<[string[], string]> = [
    [['put', '--store', store, '--bogus', '.'], '--bogus'],
    [['ls', '--store', store, treeId, '--frobnicate'], '--frobnicate'],
    [['verify', '--store', store, '-x'], '-x'],
    [['init', '--store', store, '--force'], '--force'],
    [['restore', '--store', store, '--times=abc', treeId, '/tmp/x', '--overwrite'], '--overwrite'],
    [['audit', '--store', store, treeId, '--all'], '--all'],
    [['sbom', '--store', store, treeId, '--format', 'spdx', '-o', '/tmp/x', '--pretty'], '--pretty'],
  ];
  for (const [args, flag] of cases) assertBadInput(await runAsl(args), [flag, /Unknown option/], `${args[0]} ${flag}`);
  assertBadInput(await runAsl(['frobnicate', '--store', store]), ['frobnicate', 'unknown command'], 'unknown command');
});

test('missing operands: exit 2, one line saying what is missing', async (t) => {
  const { store, treeId } = await storeWithContent(t);
  const cases: Array<[string[], string]> = [
    [['put', '.'], '--store S is required'],
    [['put', '--store', store], 'PATH is required'],
    [['ls', '--store', store], 'TREE_ID is required'],
    [['cat', '--store', store], 'ID[:PATH] is required'],
    [['restore', '--store', store, treeId], 'ID and DEST are required'],
    [['restore', '--store', store], 'ID and DEST are required'],
    [['verify'], '--store S is required'],
    [['init'], '--store DIR is required'],
    [['put', '--store'], "'--store <value>' argument missing"],
  ];
  for (const [args, message] of cases) assertBadInput(await runAsl(args), [message], args.join(' '));
});

test('bad id syntax, and ids or paths that are not there: exit 2, one line naming them', async (t) => {
  const { dir, store, treeId, objects } = await storeWithContent(t);
  const dest = join(dir, 'dest');
  const bad = [
    'abc',
    'sha256:xyz',
    `sha256:${'A'.repeat(64)}`,
    `sha512:${'0'.repeat(64)}`,
    `sha256:${'0'.repeat(63)}`,
    `${'0'.repeat(64)}`,
  ];
  for (const id of bad) {
    assertBadInput(await runAsl(['cat', '--store', store, id]), [id, 'not an artifact id'], `cat ${id}`);
    assertBadInput(await runAsl(['ls', '--store', store, id]), [id, 'not an artifact id'], `ls ${id}`);
    assertBadInput(await runAsl(['restore', '--store', store, id, dest]), [id, 'not an artifact id'], `restore ${id}`);
  }
  assertBadInput(
    await runAsl(['restore', '--store', store, treeId, dest, '--times', 'nope']),
    ['nope', 'not an artifact id'],
    'restore --times',
  );
  assertBadInput(await runAsl(['cat', '--store', store, ZERO_ID]), [ZERO_ID, 'no such object'], 'cat of an absent id');
  assertBadInput(
    await runAsl(['restore', '--store', store, ZERO_ID, dest]),
    [ZERO_ID, 'no such object'],
    'restore of an absent id',
  );
  assertBadInput(
    await runAsl(['ls', '--store', store, treeId, 'nope']),
    ['nope', treeId, 'no such path'],
    'ls of an absent path',
  );
  assertBadInput(
    await runAsl(['ls', '--store', store, treeId, '../etc']),
    ['../etc', '".." is not allowed'],
    'ls with ..',
  );
  assertBadInput(
    await runAsl(['cat', '--store', store, `${treeId}:missing`]),
    ['missing', 'no such path'],
    'cat of an absent path',
  );
  assert.deepEqual((await readdir(dir)).sort(), ['S', 'T'], 'no DEST was created');
  await assertNothingWritten(store, objects, 'bad ids');
});
