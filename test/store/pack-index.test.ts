// The pack index model on its own: parse, search, and the strict checks verify uses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { AslError } from '../../src/core/errors.js';
import {
  INDEX_HEADER_BYTES,
  INDEX_MAGIC,
  PACK_MAGIC,
  entryDigest,
  findInPackIndex,
  parsePackIndex,
} from '../../src/store/pack-index.js';

interface Entry {
  digest: Buffer;
  offset: number;
  size: number;
}

/** An index as the native writer lays it out, over objects packed back to back. */
function indexBytes(entries: Entry[], packSize: number, sort = true): Buffer {
  const sorted = sort ? [...entries].sort((a, b) => Buffer.compare(a.digest, b.digest)) : entries;
  const header = Buffer.alloc(INDEX_HEADER_BYTES);
  INDEX_MAGIC.copy(header);
  header.writeBigUInt64BE(BigInt(sorted.length), INDEX_MAGIC.length);
  header.writeBigUInt64BE(BigInt(packSize), INDEX_MAGIC.length + 8);
  return Buffer.concat([
    header,
    ...sorted.map((e) => {
      const r = Buffer.alloc(48);
      e.digest.copy(r);
      r.writeBigUInt64BE(BigInt(e.offset), 32);
      r.writeBigUInt64BE(BigInt(e.size), 40);
      return r;
    }),
  ]);
}

function packOf(count: number): { entries: Entry[]; packSize: number } {
  let offset = PACK_MAGIC.length;
  const entries: Entry[] = [];
  for (let i = 0; i < count; i++) {
    const bytes = randomBytes(i % 7 === 0 ? 0 : 1 + ((i * 31) % 500));
    entries.push({ digest: createHash('sha256').update(bytes).update(String(i)).digest(), offset, size: bytes.length });
    offset += bytes.length;
  }
  return { entries, packSize: offset };
}

test('every entry is found at its offset and size; an absent digest is not', () => {
  for (const count of [0, 1, 2, 3, 100, 1000]) {
    const { entries, packSize } = packOf(count);
    const index = parsePackIndex('x'.repeat(64), indexBytes(entries, packSize), true);
    assert.equal(index.count, count);
    assert.equal(index.packSize, packSize);
    for (const e of entries) assert.deepEqual(findInPackIndex(index, e.digest), { offset: e.offset, size: e.size });
    for (let i = 0; i < 20; i++) assert.equal(findInPackIndex(index, randomBytes(32)), undefined);
    for (let i = 1; i < count; i++) assert.ok(entryDigest(index, i - 1) < entryDigest(index, i), 'sorted');
  }
});

test('a bad header, a wrong length, disorder or an entry outside the pack is corruption naming the index', () => {
  const { entries, packSize } = packOf(10);
  const good = indexBytes(entries, packSize);
  const name = 'a'.repeat(64);
  const corrupt = (bytes: Buffer, strict: boolean, what: RegExp) =>
    assert.throws(
      () => parsePackIndex(name, bytes, strict),
      (err: unknown) => {
        assert.ok(err instanceof AslError);
        assert.equal(err.code, 'CORRUPT');
        assert.match(err.message, new RegExp(`^pack index ${name}\\.idx is corrupt: `));
        assert.match(err.message, what);
        return true;
      },
    );
  const badMagic = Buffer.from(good);
  badMagic[0] = 0x41;
  corrupt(badMagic, false, /bad header/);
  corrupt(good.subarray(0, good.length - 1), false, /bytes for 10 entries/);
  const unsorted = indexBytes(
    [...entries].sort((a, b) => Buffer.compare(b.digest, a.digest)),
    packSize,
    false,
  );
  assert.doesNotThrow(() => parsePackIndex(name, unsorted, false), 'readers only check the shape');
  corrupt(unsorted, true, /entry 1 is out of order/);
  const repeated = indexBytes([entries[0]!, entries[0]!], packSize, false);
  corrupt(repeated, true, /out of order/);
  corrupt(indexBytes(entries, packSize - 1), true, /lies outside the pack/);
});
