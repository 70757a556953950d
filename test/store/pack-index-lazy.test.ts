// A big pack index (over 1 MB: about 22,000 objects) is searched in its file, one
// positioned read per step, until the process has asked it LAZY_LOOKUPS (256) times;
// then it is read whole. The answers are the same either way: every object found with
// its exact bytes, absent digests absent, on both sides of the switch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Digest } from '../../src/core/digest.js';
import { ObjectBatch } from '../../src/store/object-batch.js';
import { loadedPackIndexes, locateObjectSync, packIndexState, packsDir } from '../../src/store/object-locate.js';
import { readObjectSync } from '../../src/store/object-read.js';
import { initStore } from '../../src/store/store.js';
import { tempDir } from '../helpers.js';

const OBJECTS = 23_000;

test('a big pack index answers from its file, then from memory after 256 lookups, with the same answers', async (t) => {
  const dir = await tempDir(t);
  const { store } = await initStore(join(dir, 'store'));
  const batch = new ObjectBatch(store);
  const ids: Digest[] = [];
  for (let i = 0; i < OBJECTS; i++) ids.push(batch.addBytesSync(Buffer.from(`object ${i}\n`), { packed: true }));
  await batch.commit();
  const idx = (await readdir(packsDir(store.root))).filter((n) => n.endsWith('.idx'));
  assert.equal(idx.length, 1);
  assert.ok((await stat(join(packsDir(store.root), idx[0]!))).size > 1 << 20, 'the index is over 1 MB');

  const absent = (i: number) => `sha256:${createHash('sha256').update(`absent ${i}`).digest('hex')}` as Digest;
  // From the file: present and absent alike, 200 lookups (one asked twice).
  for (let i = 0; i < 100; i++) {
    const k = (i * 229) % OBJECTS;
    assert.equal(readObjectSync(store, ids[k]!).toString(), `object ${k}\n`);
    assert.equal(locateObjectSync(store, absent(i), false), undefined);
  }
  assert.deepEqual(packIndexState(store.root), { packs: 1, readWhole: 0 });
  // Past 256 lookups: read whole, same answers, first and last records included.
  for (let i = 0; i < 100; i++) assert.equal(locateObjectSync(store, absent(1000 + i), false), undefined);
  assert.deepEqual(packIndexState(store.root), { packs: 1, readWhole: 1 });
  const sorted = [...ids].sort();
  for (const id of [sorted[0]!, sorted[sorted.length - 1]!, ...ids.filter((_, i) => i % 97 === 0)]) {
    const loc = locateObjectSync(store, id);
    assert.equal(loc?.kind, 'packed', id);
    assert.equal(createHash('sha256').update(readObjectSync(store, id)).digest('hex'), id.slice(7));
  }
  for (let i = 0; i < 50; i++) assert.equal(locateObjectSync(store, absent(5000 + i), false), undefined);
  assert.equal(loadedPackIndexes(store.root)[0]!.count, OBJECTS);
});
