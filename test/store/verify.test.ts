import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, stat, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { runAsl, tempDir } from '../helpers.js';
import { cliInit, cliPut, objectIds, sha256Hex } from './tree-compare.js';
import type { Digest } from '../../src/core/digest.js';
import { objectPath } from '../../src/store/layout.js';
import { writeObject } from '../../src/store/object-batch.js';
import { openStore } from '../../src/store/store.js';
import { encodeTree } from '../../src/store/tree-model.js';

interface Report {
  ok: boolean;
  counts: Record<string, number>;
  problems: Array<{ step: string; subject: string; message: string; expected?: string; actual?: string }>;
  notes: string[];
}

async function verifyJson(store: string): Promise<{ code: number | null; report: Report; human: string; humanCode: number | null }> {
  const json = await runAsl(['verify', '--store', store, '--json']);
  const human = await runAsl(['verify', '--store', store]);
  assert.equal(json.stderr, '');
  return { code: json.code, report: JSON.parse(json.stdout) as Report, human: human.stdout, humanCode: human.code };
}

interface Fixture {
  store: string;
  tree: string;
  root: Digest;
  times: Digest;
  sub: Digest;
  smallBlob: Digest;
  largeBlob: Digest;
}

async function fixture(t: Parameters<typeof tempDir>[0]): Promise<Fixture> {
  const dir = await tempDir(t);
  const store = await cliInit(join(dir, 'S'));
  const tree = join(dir, 'T');
  await mkdir(join(tree, 'sub'), { recursive: true });
  const small = Buffer.from('a small file in a sub-directory\n');
  const large = randomBytes(5 * 1024 * 1024 + 3);
  await writeFile(join(tree, 'sub', 'small.txt'), small);
  await writeFile(join(tree, 'large.bin'), large);
  await writeFile(join(tree, 'top.txt'), 'top\n');
  const put = await cliPut(store, tree);
  const ls = JSON.parse((await runAsl(['ls', '--store', store, put.id, '--json'])).stdout) as Array<{ name: string; digest: string }>;
  return {
    store, tree, root: put.id as Digest, times: put.times as Digest,
    sub: ls.find((e) => e.name === 'sub')!.digest as Digest,
    smallBlob: `sha256:${sha256Hex(small)}`,
    largeBlob: `sha256:${sha256Hex(large)}`,
  };
}

async function flipByte(path: string, offset: number): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, offset);
    b[0] = b[0]! ^ 0x20;
    await fh.write(b, 0, 1, offset);
  } finally {
    await fh.close();
  }
}

test('a clean store verifies: exit 0, counts match the objects on disk', async (t) => {
  const f = await fixture(t);
  const { code, report, human, humanCode } = await verifyJson(f.store);
  assert.equal(code, 0);
  assert.equal(humanCode, 0);
  assert.equal(report.ok, true);
  assert.deepEqual(report.problems, []);
  assert.deepEqual(report.notes, []);
  const ids = await objectIds(f.store);
  assert.deepEqual(ids, [f.root, f.sub, f.times, f.smallBlob, f.largeBlob, `sha256:${sha256Hex('top\n')}`].sort());
  assert.equal(report.counts.objects, 6);
  assert.equal(report.counts.trees, 2);
  assert.equal(report.counts.roots, 1);
  let bytes = 0;
  for (const id of ids) bytes += (await stat(objectPath(f.store, id as Digest))).size;
  assert.equal(report.counts.bytes, bytes);
  assert.match(human, new RegExp(`^OK: 6 objects \\(2 trees\\), ${bytes} bytes`));
});

for (const kind of ['small blob', 'large blob (streamed)', 'root tree', 'sub-tree', 'times object'] as const) {
  test(`flipping one byte of a ${kind} makes verify exit 1 naming it with expected and actual digest`, async (t) => {
    const f = await fixture(t);
    const id = { 'small blob': f.smallBlob, 'large blob (streamed)': f.largeBlob, 'root tree': f.root, 'sub-tree': f.sub, 'times object': f.times }[kind];
    const path = objectPath(f.store, id);
    const size = (await stat(path)).size;
    await flipByte(path, Math.floor(size / 2));
    const actual = `sha256:${sha256Hex(await readFile(path))}`;
    assert.notEqual(actual, id);

    const { code, report, human, humanCode } = await verifyJson(f.store);
    assert.equal(code, 1);
    assert.equal(humanCode, 1);
    assert.equal(report.ok, false);
    assert.deepEqual(report.problems, [{ step: 'objects', subject: id, message: `object ${id} is corrupt (${path})`, expected: id, actual }],
      'exactly one problem: the corrupt object (nothing else is blamed for it)');
    const lines = human.trimEnd().split('\n');
    assert.equal(lines[0], `FAIL object ${id} is corrupt (${path}) (expected ${id}, actual ${actual})`);
    assert.match(lines.at(-1)!, /^CORRUPT: 6 objects .* 1 problem\(s\)$/);

    await flipByte(path, Math.floor(size / 2));
    assert.equal((await verifyJson(f.store)).code, 0, 'clean again once the byte is restored');
  });
}

test('a blob missing from a tree: verify names the tree, the entry and the missing id', async (t) => {
  const f = await fixture(t);
  const aside = join(f.store, 'aside');
  await rename(objectPath(f.store, f.smallBlob), aside);
  const { code, report, human } = await verifyJson(f.store);
  assert.equal(code, 1);
  assert.equal(report.problems.length, 1);
  const p = report.problems[0]!;
  assert.equal(p.subject, f.sub);
  assert.equal(p.message, `tree ${f.sub} entry "small.txt" names missing blob ${f.smallBlob}`);
  assert.ok(human.includes(`FAIL tree ${f.sub} entry "small.txt" names missing blob ${f.smallBlob}`), human);
  await rename(aside, objectPath(f.store, f.smallBlob));
  assert.equal((await verifyJson(f.store)).code, 0);
});

test('a sub-tree, the root tree or the times object missing: verify names what refers to it', async (t) => {
  const f = await fixture(t);
  const cases: Array<[Digest, RegExp]> = [
    [f.sub, new RegExp(`^tree ${f.root} entry "sub" names missing tree ${f.sub}$`)],
    [f.root, new RegExp(`^${f.tree}: stored tree ${f.root} is missing$`)],
    [f.times, new RegExp(`^timestamps ${f.times} of ${f.root} are missing$`)],
  ];
  for (const [id, message] of cases) {
    const aside = join(f.store, 'aside');
    await rename(objectPath(f.store, id), aside);
    const { code, report } = await verifyJson(f.store);
    assert.equal(code, 1, `${id} missing`);
    assert.ok(report.problems.some((p) => message.test(p.message)), `${message}: ${JSON.stringify(report.problems)}`);
    await rename(aside, objectPath(f.store, id));
  }
  assert.equal((await verifyJson(f.store)).code, 0);
});

test('an unreferenced, incomplete tree (an interrupted write) is a note, not a failure', async (t) => {
  const f = await fixture(t);
  const store = await openStore(f.store);
  const missing: Digest = `sha256:${sha256Hex('never written')}`;
  const orphan = await writeObject(store, encodeTree({
    self: { mode: 0o755, uid: 0, gid: 0 },
    entries: [{ name: Buffer.from('lost'), type: 'file', mode: 0o644, uid: 0, gid: 0, size: 13, digest: missing }],
    totals: { files: 1, dirs: 0, other: 0, bytes: 13 },
  }));
  const { code, report } = await verifyJson(f.store);
  assert.equal(code, 0);
  assert.deepEqual(report.problems, []);
  assert.equal(report.notes.length, 1);
  assert.ok(report.notes[0]!.includes(orphan) && report.notes[0]!.includes(missing), report.notes[0]);
});
