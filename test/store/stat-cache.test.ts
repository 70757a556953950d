import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, statSync, writeFileSync } from 'node:fs';
import { link, mkdir, mkdtemp, open, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ASL_BIN, runAsl, tempDir } from '../helpers.js';
import { ensureDebianPackages } from '../fixtures.js';
import { cliInit, cliPut, must, run, sh, sha256Hex } from './tree-compare.js';
import type { Digest } from '../../src/core/digest.js';
import { native } from '../../src/store/native.js';
import { ObjectBatch, objectExistsSync, writeObject } from '../../src/store/object-batch.js';
import { putPath } from '../../src/store/put.js';
import { snapshot } from '../../src/store/snapshot.js';
import { RACY_MARGIN_NS, StatCache, type StatKey } from '../../src/store/stat-cache.js';
import { initStore, type Store } from '../../src/store/store.js';
import { findEntry, readTree } from '../../src/store/tree-lookup.js';

/** Waits until every file just written is older than the stat cache's racy margin. */
const settle = () => sleep(Number(RACY_MARGIN_NS / 1_000_000n) * 3);

async function makeTree(root: string): Promise<number> {
  let files = 0;
  for (let d = 0; d < 4; d++) {
    await mkdir(join(root, `dir${d}`, 'nested'), { recursive: true });
    for (let f = 0; f < 10; f++) {
      await writeFile(join(root, `dir${d}`, `file${f}.txt`), `content ${d}/${f}\n`.repeat(f + 1));
      await writeFile(join(root, `dir${d}`, 'nested', `n${f}`), `nested ${d}/${f}\n`);
      files += 2;
    }
  }
  await writeFile(join(root, 'big.bin'), Buffer.alloc(6 * 1024 * 1024, 7)); // beyond the in-memory limit
  await writeFile(join(root, 'same-a'), 'identical\n');
  await writeFile(join(root, 'same-b'), 'identical\n');
  await link(join(root, 'same-a'), join(root, 'dir0', 'hardlink'));
  await symlink('big.bin', join(root, 'link'));
  return files + 3;
}

/** Regular files inside `root` that a traced process opened (from `strace -y`, which names each returned fd). */
function filesOpenedInside(log: string, root: string): string[] {
  const opened = new Set<string>();
  for (const line of log.split('\n')) {
    // Threads interleave: a call may be split into "openat(... <unfinished ...>" and "<... openat resumed>) = 5</path>".
    const m = /\bopen(?:at2?)?\b.* = \d+<(.*)>$/.exec(line);
    if (!m) continue;
    const path = m[1]!;
    if (!path.startsWith(`${root}/`)) continue;
    if (statSync(path).isDirectory()) continue; // listing a directory is not reading a file
    opened.add(path.slice(root.length + 1));
  }
  return [...opened].sort();
}

async function tracedPut(
  dir: string,
  store: string,
  tree: string,
  extra: string[] = [],
): Promise<{ json: { id: string; stats: Record<string, number> }; opened: string[] }> {
  const logFile = join(dir, `strace-${Date.now()}.log`);
  const r = await run('strace', [
    '-f',
    '-y',
    '-s',
    '4096',
    '-e',
    'trace=open,openat,openat2',
    '-o',
    logFile,
    process.execPath,
    ASL_BIN,
    'put',
    '--store',
    store,
    tree,
    '--json',
    ...extra,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const json = JSON.parse(r.stdout.toString()) as { id: string; stats: Record<string, number> };
  return { json, opened: filesOpenedInside(await readFile(logFile, 'utf8'), tree) };
}

test('re-putting an unchanged tree reads no file content (strace shows no file inside it opened; hashedFiles 0)', async (t) => {
  await ensureDebianPackages('strace');
  const dir = await tempDir(t);
  const store = await cliInit(join(dir, 'S'));
  const tree = join(dir, 'T');
  await mkdir(tree);
  const contentFiles = await makeTree(tree);
  await settle();

  // The method sees reads: a put without the cache opens every content file.
  const cold = await tracedPut(dir, store, tree, ['--no-cache']);
  assert.equal(
    cold.opened.length,
    contentFiles,
    `a --no-cache put opens each distinct file once: ${cold.opened.join(' ')}`,
  );
  assert.ok(cold.opened.includes('big.bin') && cold.opened.includes('dir3/nested/n9'));

  const first = await cliPut(store, tree);
  assert.equal(first.id, cold.json.id);
  assert.equal(first.stats.hashedFiles, contentFiles);

  const warm = await tracedPut(dir, store, tree);
  assert.deepEqual(warm.opened, [], 'no file inside the tree was opened');
  assert.equal(warm.json.id, first.id);
  assert.equal(warm.json.stats.hashedFiles, 0);
  assert.equal(warm.json.stats.hashedBytes, 0);
  assert.equal(warm.json.stats.cachedFiles, contentFiles);
  assert.equal(warm.json.stats.files, contentFiles + 1, 'the hard link is a file too, but has no content of its own');
});

test('a same-size change with the mtime set back is still detected (ctime)', async (t) => {
  const dir = await tempDir(t);
  const store = await cliInit(join(dir, 'S'));
  const tree = join(dir, 'T');
  await mkdir(tree);
  await writeFile(join(tree, 'keep'), 'unchanged\n');
  await writeFile(join(tree, 'f'), 'A'.repeat(1000));
  await sh("touch -d '@1500000000.123456789' f keep", tree);
  await settle();
  const first = await cliPut(store, tree);
  const second = await cliPut(store, tree);
  assert.equal(second.stats.cachedFiles, 2, 'the cache is in use');
  assert.equal(second.id, first.id);

  const before = lstatSync(join(tree, 'f'), { bigint: true });
  await writeFile(join(tree, 'f'), 'B'.repeat(1000));
  await sh("touch -d '@1500000000.123456789' f", tree);
  const after = lstatSync(join(tree, 'f'), { bigint: true });
  assert.equal(after.size, before.size);
  assert.equal(after.mtimeNs, before.mtimeNs);
  assert.equal(after.ino, before.ino);
  assert.notEqual(after.ctimeNs, before.ctimeNs);

  const third = await cliPut(store, tree);
  assert.notEqual(third.id, first.id);
  assert.equal(third.stats.hashedFiles, 1);
  assert.equal(third.stats.cachedFiles, 1);
  const cat = await runAsl(['cat', '--store', store, `${third.id}:f`]);
  assert.equal(cat.code, 0, cat.stderr);
  assert.equal(cat.stdout, 'B'.repeat(1000));
});

async function fileDigestIn(store: Store, treeId: Digest, name: string): Promise<Digest | undefined> {
  return findEntry(await readTree(store, treeId), Buffer.from(name))?.digest;
}

test('racy: a file rewritten (same size, same mtime) right after a put gets the right digest, repeatedly', async (t) => {
  const dir = await tempDir(t);
  const { store } = await initStore(join(dir, 'S'));
  const tree = join(dir, 'T');
  await mkdir(tree);
  const f = join(tree, 'f');
  let identicalStat = 0;
  for (let i = 0; i < 8; i++) {
    const a = `A${i}`.padEnd(4096, 'a');
    const b = `B${i}`.padEnd(4096, 'b');
    writeFileSync(f, a);
    const k1 = lstatSync(f, { bigint: true });
    const r1 = await putPath(store, tree);
    assert.equal(await fileDigestIn(store, r1.id, 'f'), `sha256:${sha256Hex(a)}`, `round ${i}: first put`);
    const blob1 = await putPath(store, f);
    assert.equal(blob1.id, `sha256:${sha256Hex(a)}`);
    writeFileSync(f, b);
    native().lutimens(f, Number(k1.mtimeNs / 1_000_000_000n), Number(k1.mtimeNs % 1_000_000_000n));
    const k2 = lstatSync(f, { bigint: true });
    assert.equal(k2.mtimeNs, k1.mtimeNs);
    if (k2.ctimeNs === k1.ctimeNs) identicalStat++;
    const r2 = await putPath(store, tree);
    assert.equal(await fileDigestIn(store, r2.id, 'f'), `sha256:${sha256Hex(b)}`, `round ${i}: the rewrite is seen`);
    const blob2 = await putPath(store, f);
    assert.equal(blob2.id, `sha256:${sha256Hex(b)}`, `round ${i}: the rewrite is seen (file root)`);
  }
  t.diagnostic(`${identicalStat} of 8 rewrites left (size, mtime, ctime) unchanged`);

  // The same through the CLI, one process per put.
  const cliStore = await cliInit(join(dir, 'S2'));
  for (let i = 0; i < 3; i++) {
    const a = `a${i}`.padEnd(100, '.');
    const b = `b${i}`.padEnd(100, '.');
    writeFileSync(f, a);
    await sh("touch -d '@1600000000.5' f", tree);
    assert.equal(await fileOf(cliStore, tree, 'f'), a);
    writeFileSync(f, b);
    await sh("touch -d '@1600000000.5' f", tree);
    assert.equal(await fileOf(cliStore, tree, 'f'), b, `CLI round ${i}`);
  }
});

async function fileOf(store: string, tree: string, name: string): Promise<string> {
  const put = await cliPut(store, tree);
  const cat = await runAsl(['cat', '--store', store, `${put.id}:${name}`]);
  assert.equal(cat.code, 0, cat.stderr);
  return cat.stdout;
}

test('racy: on a file system with 1-second timestamps, a same-size rewrite within the same second is seen', {
  skip: process.getuid?.() !== 0 ? 'needs root (loop mount)' : false,
  timeout: 60_000,
}, async (t) => {
  await ensureDebianPackages('e2fsprogs', 'mount');
  // Not tempDir(): the file system must be unmounted before its mount point is removed.
  const dir = await mkdtemp(join(tmpdir(), 'asl-test-coarse-'));
  t.after(async () => {
    await run('umount', [join(dir, 'mnt')]);
    await rm(dir, { recursive: true, force: true });
  });
  const img = join(dir, 'coarse.img');
  const mnt = join(dir, 'mnt');
  await mkdir(mnt);
  await must('truncate', ['-s', '32M', img]);
  // 128-byte inodes have no room for nanoseconds: every timestamp is whole seconds (like ext3, FAT, some NFS).
  await must('mkfs.ext4', ['-q', '-F', '-I', '128', img]);
  const mounted = await run('mount', ['-o', 'loop', img, mnt]);
  if (mounted.code !== 0) {
    t.skip(`cannot loop-mount a test file system here: ${mounted.stderr.trim()}`);
    return;
  }
  const { store } = await initStore(join(dir, 'S'));
  const tree = join(mnt, 'T');
  await mkdir(tree);
  const f = join(tree, 'f');

  // Rounds run back to back, with no wait for a moment in the wall-clock second: a round
  // takes milliseconds, so at most one in a row straddles a second boundary (its rewrite
  // gets another ctime, so it is not the racy case and is not counted).
  let raced = 0;
  let rounds = 0;
  for (let i = 0; i < 8 && raced < 3; i++) {
    rounds++;
    const a = `A${i}`.padEnd(512, 'a');
    const b = `B${i}`.padEnd(512, 'b');
    writeFileSync(f, a);
    const k1 = lstatSync(f, { bigint: true });
    assert.equal(k1.mtimeNs % 1_000_000_000n, 0n, 'the file system keeps whole seconds');
    const r1 = await putPath(store, f);
    assert.equal(r1.id, `sha256:${sha256Hex(a)}`);
    writeFileSync(f, b);
    const k2 = lstatSync(f, { bigint: true });
    if (k2.mtimeNs !== k1.mtimeNs || k2.ctimeNs !== k1.ctimeNs) continue; // crossed a second: not the racy case
    raced++;
    const r2 = await putPath(store, f);
    assert.equal(
      r2.id,
      `sha256:${sha256Hex(b)}`,
      `round ${i}: a rewrite in the same second with the same size must not be served from the cache`,
    );
  }
  assert.ok(
    raced >= 3,
    `${raced} of ${rounds} rounds kept every stamp across the rewrite (the racy case); 3 were wanted`,
  );
});

function key(over: Partial<StatKey> = {}): StatKey {
  return {
    dev: 2049,
    ino: 1234567,
    size: 4096,
    mtimeSec: 1_700_000_000,
    mtimeNsec: 0,
    ctimeSec: 1_700_000_000,
    ctimeNsec: 0,
    ...over,
  };
}

test('StatCache.remember: entries within the racy margin of the examination time are not kept', async (t) => {
  const dir = await tempDir(t);
  const { store } = await initStore(join(dir, 'S'));
  const examinedAt = 1_700_000_001_000_000_000n;
  const limit = examinedAt - RACY_MARGIN_NS; // 1_700_000_000_900_000_000 with a 100 ms margin
  const at = (ns: bigint) => ({ sec: Number(ns / 1_000_000_000n), nsec: Number(ns % 1_000_000_000n) });
  const stamp = (m: bigint, c: bigint, ino: number): StatKey =>
    key({ ino, mtimeSec: at(m).sec, mtimeNsec: at(m).nsec, ctimeSec: at(c).sec, ctimeNsec: at(c).nsec });
  const d = (n: number): Digest => `sha256:${sha256Hex(`digest ${n}`)}`;

  const cases: Array<[string, StatKey, boolean]> = [
    ['well before the margin', stamp(limit - 5_000_000_000n, limit - 5_000_000_000n, 1), true],
    ['1 ns before the margin', stamp(limit - 1n, limit - 1n, 2), true],
    ['mtime exactly at the margin', stamp(limit, limit - 1n, 3), false],
    ['ctime exactly at the margin', stamp(limit - 1n, limit, 4), false],
    ['ctime inside the margin, old mtime (touch -d)', stamp(limit - 9_000_000_000n, examinedAt - 1n, 5), false],
    ['mtime inside the margin', stamp(examinedAt - 50_000_000n, limit - 1n, 6), false],
    ['in the future', stamp(examinedAt + 1_000_000_000n, examinedAt + 1_000_000_000n, 7), false],
  ];
  const cache = await StatCache.load(store);
  for (const [what, k] of cases) {
    cache.remember(k, d(k.ino), examinedAt);
    assert.equal(cache.lookup(k), undefined, `${what}: not visible before save`);
  }
  assert.equal(cache.dirty, true);
  await cache.save();
  const reloaded = await StatCache.load(store);
  assert.equal(reloaded.size, 2);
  for (const [what, k, kept] of cases) assert.equal(reloaded.lookup(k), kept ? d(k.ino) : undefined, what);

  // Any stat field that differs is a miss.
  const good = cases[1]![1];
  for (const field of ['dev', 'ino', 'size', 'mtimeSec', 'mtimeNsec', 'ctimeSec', 'ctimeNsec'] as const) {
    assert.equal(reloaded.lookup({ ...good, [field]: good[field] + 1 }), undefined, `${field} changed: miss`);
  }

  // Only racy entries: nothing to write.
  const racyOnly = await StatCache.load(store);
  racyOnly.remember(stamp(limit, limit, 99), d(99), examinedAt);
  assert.equal(racyOnly.dirty, false);

  // A corrupted cache file is ignored, never trusted.
  const path = join(store.root, 'cache', 'stat-v1.bin');
  const fh = await open(path, 'r+');
  const byte = Buffer.alloc(1);
  const size = (await fh.stat()).size;
  await fh.read(byte, 0, 1, size - 1);
  byte[0] = byte[0]! ^ 0xff;
  await fh.write(byte, 0, 1, size - 1);
  await fh.close();
  const corrupted = await StatCache.load(store);
  assert.equal(corrupted.size, 0);
  assert.equal(corrupted.lookup(good), undefined);
});

test("two snapshots of one tree in one process (a capture's before and after), fresh store: the second reads no file", async (t) => {
  const dir = await tempDir(t);
  const { store } = await initStore(join(dir, 'S'));
  const tree = join(dir, 'T');
  await mkdir(tree);
  const contentFiles = await makeTree(tree);
  await settle();
  const cache = await StatCache.load(store);
  const batch = new ObjectBatch(store);
  const before = await snapshot(batch, tree, { cache });
  assert.equal(before.stats.hashedFiles, contentFiles);
  const staged = batch.pendingCount;
  // Nothing is committed yet: the tree cache may still answer with the trees this batch staged.
  assert.ok(batch.hasSync(before.id) && !objectExistsSync(store, before.id));
  const after = await snapshot(batch, tree, { cache });
  assert.equal(after.id, before.id);
  assert.equal(after.times, before.times);
  assert.equal(after.stats.hashedFiles, 0);
  assert.equal(after.stats.cachedFiles, contentFiles);
  assert.equal(batch.pendingCount, staged, 'the second pass staged nothing');
  await batch.commit();
  await cache.save();

  // What the first pass learnt was saved, though it was folded in before the save.
  const again = await cliPut(store.root, tree);
  assert.equal(again.id, before.id);
  assert.equal(again.stats.hashedFiles, 0);
  assert.equal((await runAsl(['verify', '--store', store.root])).code, 0);
});

test("ObjectBatch.hasSync: committed objects and this batch's staged ones, nothing else", async (t) => {
  const dir = await tempDir(t);
  const { store } = await initStore(join(dir, 'S'));
  const committed = await writeObject(store, Buffer.from('committed\n'));
  const batch = new ObjectBatch(store);
  const staged = await batch.addBytes(Buffer.from('staged\n'));
  const other = new ObjectBatch(store);
  assert.equal(batch.hasSync(committed), true);
  assert.equal(batch.hasSync(staged), true);
  assert.equal(other.hasSync(staged), false, "another batch's staged object is not there for this one");
  assert.equal(batch.hasSync(`sha256:${sha256Hex('never stored')}`), false);
  await batch.abort();
  assert.equal(batch.hasSync(staged), false);
});
