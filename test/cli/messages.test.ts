// Two messages that named the wrong thing: a damaged asl-store.json (exit 1, or an internal
// error for `null`), and `asl restore` into a folder whose parent is missing (which blamed
// the object). Each is now one line, exit 2, naming the file or the missing folder, and
// nothing is written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { aslOk, runAsl, tempDir, type RunResult } from '../helpers.js';
import { treeDigest } from '../transfer/fixture.js';

function oneLineExit2(r: RunResult): string {
  assert.equal(r.code, 2, `exit 2: ${r.stdout}${r.stderr}`);
  assert.equal(r.stdout, '');
  const lines = r.stderr.split('\n').filter((l) => l.length > 0);
  assert.equal(lines.length, 1, r.stderr);
  return lines[0]!;
}

test('a damaged asl-store.json: exit 2, one line naming the file, for every command', async (t) => {
  const dir = await tempDir(t);
  const store = join(dir, 'S');
  await aslOk(['init', '--store', store]);
  const marker = join(store, 'asl-store.json');
  const cases: Array<[string, string]> = [
    [
      '{"format":"asl-st',
      `asl: ${marker}: store marker is not valid JSON (17 bytes); expected {"format":"asl-store","layout":1,"created":…}`,
    ],
    [
      '',
      `asl: ${marker}: store marker is not valid JSON (empty file); expected {"format":"asl-store","layout":1,"created":…}`,
    ],
    [
      'null\n',
      `asl: ${marker}: store marker is not a JSON object; expected {"format":"asl-store","layout":1,"created":…}`,
    ],
    [
      '[1]\n',
      `asl: ${marker}: store marker is not a JSON object; expected {"format":"asl-store","layout":1,"created":…}`,
    ],
    [
      '{"format":"other"}\n',
      `asl: ${marker}: does not describe an ASL store (format "other"); expected {"format":"asl-store","layout":1,"created":…}`,
    ],
    ['{"format":"asl-store","layout":7}\n', `asl: ${marker}: store layout v7 is not supported (this asl reads v1)`],
  ];
  for (const [text, line] of cases) {
    await writeFile(marker, text);
    const before = treeDigest(store);
    for (const args of [
      ['verify', '--store', store],
      ['log', '--store', store],
      ['init', '--store', store],
    ]) {
      assert.equal(oneLineExit2(await runAsl(args)), line, `${args[0]} with marker ${JSON.stringify(text)}`);
    }
    const json = await runAsl(['verify', '--store', store, '--json']);
    assert.equal(json.code, 2);
    assert.equal((JSON.parse(json.stderr) as { error: { path: string } }).error.path, marker);
    assert.equal(treeDigest(store), before, 'nothing written');
  }
});

test('restore into a missing parent names the missing folder, not the object; nothing is created', async (t) => {
  const dir = await tempDir(t);
  const store = join(dir, 'S');
  await aslOk(['init', '--store', store]);
  await mkdir(join(dir, 'tree'));
  await writeFile(join(dir, 'tree', 'a'), 'a\n');
  const blob = (await aslOk(['put', '--store', store, join(dir, 'tree', 'a')])).stdout.trim();
  const tree = (await aslOk(['put', '--store', store, join(dir, 'tree')])).stdout.trim();
  const parent = join(dir, 'nope', 'deeper');
  for (const id of [blob, tree]) {
    const r = await runAsl(['restore', '--store', store, id, join(parent, 'out')]);
    assert.equal(
      oneLineExit2(r),
      `asl: ${parent}: no such directory (${join(dir, 'nope')} does not exist); restore creates out only, not the folders above it`,
    );
    assert.equal(existsSync(join(dir, 'nope')), false);
  }
  await writeFile(join(dir, 'file'), 'x');
  assert.equal(
    oneLineExit2(await runAsl(['restore', '--store', store, blob, join(dir, 'file', 'out')])),
    `asl: ${join(dir, 'file')}: is not a directory (the parent of ${join(dir, 'file', 'out')})`,
  );
  // With the parent there, the same restore works.
  await mkdir(parent, { recursive: true });
  await aslOk(['restore', '--store', store, tree, join(parent, 'out')]);
  assert.ok(existsSync(join(parent, 'out', 'a')));
});
