// Packs on real files: a tree put appends its small files to one pack + index,
// every reader gets the exact bytes back, and verify catches a damaged pack or
// index (naming the object and the pack) and notes a pack without an index.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { runAsl, tempDir } from '../helpers.js';
import { cliInit, cliPut, looseObjectIds, objectIds, sha256Hex } from './tree-compare.js';
import { flipStoredByte, objectBytesAt, packFiles, packedObjectIds, readStoredBytes } from './object-bytes.js';

const MB = 1024 * 1024;

interface Fixture {
  dir: string;
  store: string;
  tree: string;
  /** Relative path -> content, every regular file of the tree. */
  files: Map<string, Buffer>;
  put: Awaited<ReturnType<typeof cliPut>>;
}

/** A tree with many small files (some identical), an empty one, and one above the in-memory limit. */
async function fixture(t: TestContext): Promise<Fixture> {
  const dir = await tempDir(t);
  const store = await cliInit(join(dir, 'S'));
  const tree = join(dir, 'T');
  const files = new Map<string, Buffer>();
  for (let d = 0; d < 6; d++) {
    await mkdir(join(tree, `d${d}`), { recursive: true });
    for (let i = 0; i < 50; i++)
      files.set(
        `d${d}/f${i}`,
        i % 10 === 0 ? Buffer.from(`shared ${i}\n`) : randomBytes(100 + (((d * 50 + i) * 37) % 9000)),
      );
  }
  files.set('empty', Buffer.alloc(0));
  files.set('big.bin', randomBytes(5 * MB));
  for (const [rel, bytes] of files) await writeFile(join(tree, rel), bytes);
  const put = await cliPut(store, tree);
  return { dir, store, tree, files, put };
}

const sha = (b: Buffer | string) => `sha256:${sha256Hex(b)}`;

async function verify(store: string): Promise<{
  code: number | null;
  out: string;
  problems: Array<{ step: string; subject: string; message: string }>;
  notes: string[];
}> {
  const human = await runAsl(['verify', '--store', store]);
  const json = await runAsl(['verify', '--store', store, '--json']);
  const report = JSON.parse(json.stdout) as {
    problems: Array<{ step: string; subject: string; message: string }>;
    notes: string[];
  };
  assert.equal(json.code, human.code);
  return { code: human.code, out: human.stdout, problems: report.problems, notes: report.notes };
}

function onlyPack(store: string): { name: string; pack: string; index: string } {
  const names = packFiles(store);
  assert.equal(names.length, 2, `one pack and its index: ${names.join(' ')}`);
  const name = names[0]!.slice(0, 64);
  assert.deepEqual(names, [`${name}.idx`, `${name}.pack`]);
  const packs = join(store, 'objects-v1', 'packs');
  return { name, pack: join(packs, `${name}.pack`), index: join(packs, `${name}.idx`) };
}

test('a tree put writes one pack + index: small blobs, trees and times packed, the big file loose; cat, restore and verify give the exact bytes', async (t) => {
  const f = await fixture(t);
  const { name, pack, index } = onlyPack(f.store);
  const idx = await readFile(index);
  assert.equal(sha256Hex(idx), name, 'the index is named by its own sha256');
  assert.equal(idx.subarray(0, 12).toString('latin1'), 'asl-pidx v1\n');
  const packBytes = await readFile(pack);
  assert.equal(packBytes.subarray(0, 12).toString('latin1'), 'asl-pack v1\n');
  assert.equal(Number(idx.readBigUInt64BE(20)), packBytes.length, 'the index records the pack size');

  const small = new Set([...f.files.values()].filter((b) => b.length <= 4 * MB).map(sha));
  const packed = packedObjectIds(f.store);
  for (const id of small) assert.ok(packed.includes(id), `small file ${id} is packed`);
  const others = packed.filter((id) => !small.has(id));
  let sizes = 0;
  for (const id of packed) {
    const bytes = await readStoredBytes(f.store, id);
    assert.equal(sha(bytes), id, `${id} reads back as itself`);
    sizes += bytes.length;
    if (!small.has(id))
      assert.match(
        bytes.subarray(0, 17).toString('latin1'),
        /^\{"asl":"(tree|times)\/v1"/,
        `packed ${id} is a small file, a tree or a times object`,
      );
  }
  assert.equal(others.length, 7 + 1, 'seven trees and one times object are packed with the files');
  assert.equal(Number(idx.readBigUInt64BE(12)), small.size + others.length, 'each distinct object once');
  assert.equal(packBytes.length, 12 + sizes, 'no gaps, no copies');
  assert.deepEqual(
    await looseObjectIds(f.store),
    [sha(f.files.get('big.bin')!)],
    'only the file above 4 MB is a loose file',
  );

  for (const rel of ['d0/f0', 'd3/f17', 'empty', 'big.bin']) {
    const want = f.files.get(rel)!;
    const byId = await runAsl(['cat', '--store', f.store, sha(want)]);
    assert.equal(byId.code, 0, byId.stderr);
    assert.ok(byId.stdoutBytes.equals(want), `cat ${rel}`);
    const byPath = await runAsl(['cat', '--store', f.store, `${f.put.id}:${rel}`]);
    assert.ok(byPath.stdoutBytes.equals(want), `cat ID:${rel}`);
  }
  const dest = join(f.dir, 'R');
  const r = await runAsl(['restore', '--store', f.store, f.put.id, dest]);
  assert.equal(r.code, 0, r.stderr);
  for (const [rel, bytes] of f.files) assert.ok((await readFile(join(dest, rel))).equals(bytes), `restored ${rel}`);
  const blobDest = join(f.dir, 'one-blob');
  assert.equal((await runAsl(['restore', '--store', f.store, sha(f.files.get('d5/f49')!), blobDest])).code, 0);
  assert.ok((await readFile(blobDest)).equals(f.files.get('d5/f49')!));
  const v = await verify(f.store);
  assert.equal(v.code, 0, v.out);
  assert.match(v.out, new RegExp(`^OK: ${(await objectIds(f.store)).length} objects`, 'm'));

  // Unchanged content is not written again, whether in a pack or loose.
  const again = await cliPut(f.store, f.tree, ['--no-cache']);
  assert.equal(again.id, f.put.id);
  assert.equal(packFiles(f.store).length, 2, 'a second put of the same tree writes no new pack');
  const single = join(f.dir, 'single.txt');
  await writeFile(single, 'one file on its own\n');
  await cliPut(f.store, single);
  assert.equal(packFiles(f.store).length, 2, 'a single file is a loose object, not a pack');
  assert.equal(objectBytesAt(f.store, sha('one file on its own\n')).packed, false);
});

test('one byte flipped inside a pack: verify exits 1 naming the object and the pack; cat refuses it', async (t) => {
  const f = await fixture(t);
  const { name } = onlyPack(f.store);
  const victim = f.files.get('d2/f33')!;
  const id = sha(victim);
  const at = await flipStoredByte(f.store, id, 7);
  const v = await verify(f.store);
  assert.equal(v.code, 1, v.out);
  const fails = v.out.split('\n').filter((l) => l.startsWith('FAIL '));
  assert.equal(fails.length, 1, v.out);
  assert.ok(fails[0]!.startsWith(`FAIL object ${id} is corrupt (in pack ${name} at offset ${at.offset})`), fails[0]);
  assert.deepEqual(
    v.problems.map((p) => [p.step, p.subject]),
    [['packs', id]],
  );
  const cat = await runAsl(['cat', '--store', f.store, id]);
  assert.equal(cat.code, 1);
  assert.match(
    cat.stderr,
    new RegExp(`object ${id} is corrupt: content hashes to sha256:[0-9a-f]{64} \\(in pack ${name}\\)`),
  );
  const r = await runAsl(['restore', '--store', f.store, f.put.id, join(f.dir, 'R')]);
  assert.equal(r.code, 1, 'restore checks packed blobs too');
  assert.match(r.stderr, new RegExp(id));
});

test('a truncated pack or an edited index: verify exits 1 with a clear line', async (t) => {
  const f = await fixture(t);
  const { name, pack, index } = onlyPack(f.store);
  const size = (await readFile(pack)).length;
  const saved = await readFile(pack);
  await chmod(pack, 0o644);
  await truncate(pack, size - 5);
  let v = await verify(f.store);
  assert.equal(v.code, 1, v.out);
  assert.ok(
    v.out.includes(`FAIL pack ${name}.pack is ${size - 5} bytes but its index says ${size} (truncated or appended to)`),
    v.out,
  );
  assert.ok(/FAIL object sha256:[0-9a-f]{64} is corrupt: pack [0-9a-f]{64} ends before its bytes/.test(v.out), v.out);
  await writeFile(pack, saved);
  assert.equal((await verify(f.store)).code, 0, 'clean again');

  const idx = await readFile(index);
  const edited = Buffer.from(idx);
  edited[28 + 48 + 40 + 7]! ^= 0x01; // the second entry's size
  await chmod(index, 0o644);
  await writeFile(index, edited);
  v = await verify(f.store);
  assert.equal(v.code, 1, v.out);
  assert.ok(
    v.out.includes(`FAIL pack index ${name}.idx is corrupt: it hashes to sha256:${sha256Hex(edited)}, not its name`),
    v.out,
  );
});

test('a pack whose index is gone is invisible: a note; the objects it held are missing until a put writes them again', async (t) => {
  const f = await fixture(t);
  const { name, index } = onlyPack(f.store);
  await rename(index, join(f.dir, 'index-aside'));
  let v = await verify(f.store);
  assert.equal(v.code, 1, 'the stored root (packed with its files) is gone');
  assert.ok(
    v.notes.some((n) => n.includes(`${name}.pack: pack without an index`)),
    v.notes.join('\n'),
  );
  assert.ok(
    v.problems.some((p) => p.message === `${f.tree}: stored tree ${f.put.id} is missing`),
    v.out,
  );
  const again = await cliPut(f.store, f.tree, ['--no-cache']);
  assert.equal(again.id, f.put.id);
  v = await verify(f.store);
  assert.equal(v.code, 0, v.out);
  // The same staging order gives the same index, hence the same name: the old pack is replaced by identical bytes.
  const indexes = packFiles(f.store).filter((n) => n.endsWith('.idx'));
  if (indexes.includes(`${name}.idx`)) assert.equal(packFiles(f.store).length, 2);
  else
    assert.ok(
      v.notes.some((n) => n.includes(`${name}.pack: pack without an index`)),
      'still noted (garbage)',
    );
  const dest = join(f.dir, 'R');
  assert.equal((await runAsl(['restore', '--store', f.store, f.put.id, dest])).code, 0);
  assert.ok((await readFile(join(dest, 'd4/f21'))).equals(f.files.get('d4/f21')!));
});
