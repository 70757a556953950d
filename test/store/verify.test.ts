import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rename, writeFile, mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { runAsl, tempDir } from '../helpers.js';
import { cliInit, cliPut, objectIds, sha256Hex } from './tree-compare.js';
import type { Digest } from '../../src/core/digest.js';
import { objectPath } from '../../src/store/layout.js';
import { flipStoredByte, objectBytesAt, readStoredBytes } from './object-bytes.js';
import { writeObject } from '../../src/store/object-batch.js';
import { openStore } from '../../src/store/store.js';
import { encodeTree } from '../../src/store/tree-model.js';

interface Report {
  ok: boolean;
  counts: Record<string, number>;
  problems: Array<{ step: string; subject: string; message: string; expected?: string; actual?: string }>;
  notes: string[];
}

async function verifyJson(
  store: string,
): Promise<{ code: number | null; report: Report; human: string; humanCode: number | null }> {
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

/**
 * A store holding one small tree. `loose`: written by the portable (non-native) ingest,
 * which writes every object as its own file, for tests that take one object away.
 */
async function fixture(t: Parameters<typeof tempDir>[0], opts: { loose?: boolean } = {}): Promise<Fixture> {
  const dir = await tempDir(t);
  const store = await cliInit(join(dir, 'S'));
  const tree = join(dir, 'T');
  await mkdir(join(tree, 'sub'), { recursive: true });
  const small = Buffer.from('a small file in a sub-directory\n');
  const large = randomBytes(5 * 1024 * 1024 + 3);
  await writeFile(join(tree, 'sub', 'small.txt'), small);
  await writeFile(join(tree, 'large.bin'), large);
  await writeFile(join(tree, 'top.txt'), 'top\n');
  const put = opts.loose ? await loosePut(store, tree) : await cliPut(store, tree);
  const ls = JSON.parse((await runAsl(['ls', '--store', store, put.id, '--json'])).stdout) as Array<{
    name: string;
    digest: string;
  }>;
  return {
    store,
    tree,
    root: put.id as Digest,
    times: put.times as Digest,
    sub: ls.find((e) => e.name === 'sub')!.digest as Digest,
    smallBlob: `sha256:${sha256Hex(small)}`,
    largeBlob: `sha256:${sha256Hex(large)}`,
  };
}

async function loosePut(store: string, tree: string): Promise<{ id: string; times: string }> {
  const r = await runAsl(['put', '--store', store, tree, '--json'], {
    env: { ...process.env, ASL_NO_NATIVE_INGEST: '1' },
  });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as { id: string; times: string };
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
  for (const id of ids) bytes += objectBytesAt(f.store, id).size;
  assert.equal(report.counts.bytes, bytes);
  assert.match(human, new RegExp(`^OK: 6 objects \\(2 trees\\), ${bytes} bytes`));
});

for (const kind of ['small blob', 'large blob (streamed)', 'root tree', 'sub-tree', 'times object'] as const) {
  test(`flipping one byte of a ${kind} makes verify exit 1 naming it with expected and actual digest`, async (t) => {
    const f = await fixture(t);
    const id = {
      'small blob': f.smallBlob,
      'large blob (streamed)': f.largeBlob,
      'root tree': f.root,
      'sub-tree': f.sub,
      'times object': f.times,
    }[kind];
    // A tree put packs its small files, trees and timestamps; a big file stays a loose file.
    const at = objectBytesAt(f.store, id);
    assert.equal(at.packed, kind !== 'large blob (streamed)', `${kind}: ${at.packed ? 'packed' : 'loose'}`);
    const middle = Math.floor(at.size / 2);
    await flipStoredByte(f.store, id, middle, 0x20);
    const actual = `sha256:${sha256Hex(await readStoredBytes(f.store, id))}`;
    assert.notEqual(actual, id);
    const where = at.packed ? `in pack ${basename(at.file, '.pack')} at offset ${at.offset}` : at.file;
    const step = at.packed ? 'packs' : 'objects';

    const { code, report, human, humanCode } = await verifyJson(f.store);
    assert.equal(code, 1);
    assert.equal(humanCode, 1);
    assert.equal(report.ok, false);
    assert.deepEqual(
      report.problems,
      [{ step, subject: id, message: `object ${id} is corrupt (${where})`, expected: id, actual }],
      'exactly one problem: the corrupt object (nothing else is blamed for it)',
    );
    const lines = human.trimEnd().split('\n');
    assert.equal(lines[0], `FAIL object ${id} is corrupt (${where}) (expected ${id}, actual ${actual})`);
    assert.match(lines.at(-1)!, /^CORRUPT: 6 objects .* 1 problem\(s\)$/);

    await flipStoredByte(f.store, id, middle, 0x20);
    assert.equal((await verifyJson(f.store)).code, 0, 'clean again once the byte is restored');
  });
}

test('a blob missing from a tree: verify names the tree, the entry and the missing id', async (t) => {
  const f = await fixture(t);
  const aside = join(f.store, 'aside');
  // The large blob is a loose file (a missing packed blob: test/store/packs.test.ts).
  await rename(objectPath(f.store, f.largeBlob), aside);
  const { code, report, human } = await verifyJson(f.store);
  assert.equal(code, 1);
  assert.equal(report.problems.length, 1);
  const p = report.problems[0]!;
  assert.equal(p.subject, f.root);
  assert.equal(p.message, `tree ${f.root} entry "large.bin" names missing blob ${f.largeBlob}`);
  assert.ok(human.includes(`FAIL tree ${f.root} entry "large.bin" names missing blob ${f.largeBlob}`), human);
  await rename(aside, objectPath(f.store, f.largeBlob));
  assert.equal((await verifyJson(f.store)).code, 0);
});

test('a sub-tree, the root tree or the times object missing: verify names what refers to it', async (t) => {
  const f = await fixture(t, { loose: true });
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
    assert.ok(
      report.problems.some((p) => message.test(p.message)),
      `${message}: ${JSON.stringify(report.problems)}`,
    );
    await rename(aside, objectPath(f.store, id));
  }
  assert.equal((await verifyJson(f.store)).code, 0);
});

test('an unreferenced, incomplete tree (an interrupted write) is a note, not a failure', async (t) => {
  const f = await fixture(t);
  const store = await openStore(f.store);
  const missing: Digest = `sha256:${sha256Hex('never written')}`;
  const orphan = await writeObject(
    store,
    encodeTree({
      self: { mode: 0o755, uid: 0, gid: 0 },
      entries: [{ name: Buffer.from('lost'), type: 'file', mode: 0o644, uid: 0, gid: 0, size: 13, digest: missing }],
      totals: { files: 1, dirs: 0, other: 0, bytes: 13 },
    }),
  );
  const { code, report } = await verifyJson(f.store);
  assert.equal(code, 0);
  assert.deepEqual(report.problems, []);
  assert.equal(report.notes.length, 1);
  assert.ok(report.notes[0]!.includes(orphan) && report.notes[0]!.includes(missing), report.notes[0]);
});
