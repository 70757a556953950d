// receiveObject, the one loop bundle import and OCI pull take untrusted bytes
// through: accepted bytes land in the batch and the store after commit, refused
// ones never reach objects/, and no staging file outlives the call.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers.js';
import type { Digest } from '../../src/core/digest.js';
import { AslError } from '../../src/core/errors.js';
import { objectPath } from '../../src/store/layout.js';
import { ObjectBatch } from '../../src/store/object-batch.js';
import { readObject } from '../../src/store/object-read.js';
import { initStore } from '../../src/store/store.js';
import { TREE_MAGIC } from '../../src/store/tree-model.js';
import { receiveObject, type ReceiveErrors, type ReceiveInto } from '../../src/transfer/receive-object.js';

const sha256 = (b: Buffer): Digest => `sha256:${createHash('sha256').update(b).digest('hex')}`;
/** Bigger than what is checked in memory, so it goes through a staging file. */
const BIG = 5 * 1024 * 1024 + 17;

async function setup(t: TestContext, keep: Digest[] = []) {
  const dir = await tempDir(t, 'asl-receive-');
  const { store } = await initStore(join(dir, 'S'));
  const into: ReceiveInto = { batch: new ObjectBatch(store), keep: new Set(keep), trees: new Map(), kept: new Map() };
  // A big object's staging file, in the batch's folder under tmp/, until the batch stages it.
  const tmp = join(store.root, 'tmp');
  const stagingFiles = () =>
    (existsSync(tmp) ? readdirSync(tmp) : []).flatMap((d) =>
      (existsSync(join(tmp, d)) ? readdirSync(join(tmp, d)) : []).filter((n) => n.startsWith('received-')),
    );
  return { store, into, stagingFiles };
}

/** The bytes in chunks of 64 KiB, as a stream gives them; `stopped` tells whether the reader left early. */
function source(bytes: Buffer) {
  const state = { stopped: false, sent: 0 };
  async function* chunks(): AsyncGenerator<Buffer> {
    try {
      for (let o = 0; o < bytes.length; o += 65536) {
        const c = bytes.subarray(o, o + 65536);
        state.sent += c.length;
        yield c;
      }
    } finally {
      if (state.sent < bytes.length) state.stopped = true;
    }
  }
  return { chunks: chunks(), state };
}

const errors: ReceiveErrors = {
  where: 'test source',
  mismatch: (actual, received) => new AslError('CORRUPT', `mismatch: ${actual} (${received} bytes)`),
  overrun: () => new AslError('CORRUPT', 'overrun'),
};

for (const [kind, size] of [
  ['in memory', 1000],
  ['through a staging file', BIG],
] as const) {
  test(`an object ${kind}: accepted bytes are staged, collected for the checks and committed intact`, async (t) => {
    const tree = Buffer.concat([TREE_MAGIC, randomBytes(size - TREE_MAGIC.length)]);
    const blob = randomBytes(size);
    const { store, into, stagingFiles } = await setup(t, [sha256(blob)]);
    await receiveObject(into, sha256(tree), size, source(tree).chunks, errors);
    await receiveObject(into, sha256(blob), size, source(blob).chunks, errors);
    assert.deepEqual([...into.trees.keys()], [sha256(tree)]);
    assert.deepEqual(into.trees.get(sha256(tree)), tree);
    assert.deepEqual([...into.kept.keys()], [sha256(blob)]);
    assert.deepEqual(into.kept.get(sha256(blob)), blob);
    assert.deepEqual(stagingFiles(), []);
    assert.equal(existsSync(objectPath(store.root, sha256(blob))), false, 'nothing is visible before commit');
    await into.batch.commit();
    assert.deepEqual(await readObject(store, sha256(tree)), tree);
    assert.deepEqual(await readObject(store, sha256(blob)), blob);
  });

  test(`an object ${kind}: bytes that do not hash to the claimed digest are refused and leave nothing behind`, async (t) => {
    const bytes = randomBytes(size);
    const claimed = sha256(randomBytes(size));
    const { store, into, stagingFiles } = await setup(t, [claimed]);
    await assert.rejects(receiveObject(into, claimed, size, source(bytes).chunks, errors), {
      message: `mismatch: ${sha256(bytes)} (${size} bytes)`,
    });
    assert.equal(into.batch.pendingCount, 0);
    assert.equal(into.kept.size, 0);
    assert.deepEqual(stagingFiles(), []);
    await into.batch.commit();
    assert.equal(existsSync(objectPath(store.root, claimed)), false);
    assert.equal(existsSync(objectPath(store.root, sha256(bytes))), false);
  });

  test(`an object ${kind}: a source sending more than the claimed size is stopped at once`, async (t) => {
    const bytes = randomBytes(size + 200000);
    const { into, stagingFiles } = await setup(t);
    const src = source(bytes);
    await assert.rejects(receiveObject(into, sha256(bytes.subarray(0, size)), size, src.chunks, errors), {
      message: 'overrun',
    });
    assert.equal(src.state.stopped, true);
    assert.ok(src.state.sent <= size + 65536, `read ${src.state.sent} bytes of a ${size}-byte object`);
    assert.equal(into.batch.pendingCount, 0);
    assert.deepEqual(stagingFiles(), []);
  });

  test(`an object ${kind}: bytes that hash right but are shorter than the claimed size are refused`, async (t) => {
    const bytes = randomBytes(size - 1);
    const { into, stagingFiles } = await setup(t);
    await assert.rejects(receiveObject(into, sha256(bytes), size, source(bytes).chunks, errors), {
      message: `mismatch: ${sha256(bytes)} (${size - 1} bytes)`,
    });
    assert.equal(into.batch.pendingCount, 0);
    assert.deepEqual(stagingFiles(), []);
  });
}
