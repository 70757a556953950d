/**
 * The walk's tree encoder (ingest-tree-encode.ts) against encodeTree: the same
 * bytes, so the same tree ids, on random trees with every entry type, names that
 * are plain ASCII, need JSON escapes, are UTF-8 or are not UTF-8 at all, hard
 * links, xattrs, devices and the largest integers a listing can hold.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TreeEncoder, treeEntry, type EncodableEntry } from '../../src/store/ingest-tree-encode.js';
import { encodeTree, type EntryType, type TreeSelf, type TreeTotals } from '../../src/store/tree-model.js';
import { prng } from '../helpers.js';

const TYPES: EntryType[] = ['file', 'dir', 'symlink', 'char', 'block', 'fifo', 'socket'];

function pick<T>(rand: () => number, xs: readonly T[]): T {
  return xs[Math.floor(rand() * xs.length)]!;
}

/** Bytes of one of several kinds: plain ASCII, ASCII needing escapes, UTF-8, invalid UTF-8. */
function randomName(rand: () => number, i: number): Buffer {
  const kind = Math.floor(rand() * 6);
  const tail = Buffer.from(`-${i}`);
  switch (kind) {
    case 0:
      return Buffer.concat([Buffer.from('lib-x86_64.so.6'), tail]);
    case 1:
      return Buffer.concat([Buffer.from('quote"back\\slash\ttab\u0001\u001f\u007f'), tail]);
    case 2:
      return Buffer.concat([Buffer.from('naïve-日本語-😀-\u2028'), tail]);
    case 3:
      return Buffer.concat([Buffer.from([0xff, 0xfe, 0x80, 0x41]), tail]);
    case 4:
      return Buffer.concat([Buffer.from([0xed, 0xa0, 0x80]), tail]); // an encoded surrogate: not UTF-8
    default: {
      const n = 1 + Math.floor(rand() * 12);
      const b = Buffer.alloc(n);
      for (let k = 0; k < n; k++) b[k] = 1 + Math.floor(rand() * 255);
      for (let k = 0; k < n; k++) if (b[k] === 0x2f) b[k] = 0x5f;
      return Buffer.concat([b, tail]);
    }
  }
}

const BIG = [0, 1, 9, 10, 99, 100, 65_535, 2 ** 32 - 1, 2 ** 40 + 7, Number.MAX_SAFE_INTEGER];

function randomEntry(rand: () => number, i: number): EncodableEntry {
  const type = pick(rand, TYPES);
  const e: EncodableEntry = {
    name: randomName(rand, i),
    type,
    mode: (rand() < 0.5 ? 0o100000 : 0) | Math.floor(rand() * 0o10000),
    uid: rand() < 0.8 ? Math.floor(rand() * 70_000) : pick(rand, BIG),
    gid: rand() < 0.8 ? Math.floor(rand() * 70_000) : pick(rand, BIG),
    rdevMajor: Math.floor(rand() * 300),
    rdevMinor: rand() < 0.9 ? Math.floor(rand() * 300) : 2 ** 20 - 1,
  };
  if (type === 'file' || type === 'dir')
    e.digest = `sha256:${Buffer.from(randomName(rand, i)).toString('hex').padEnd(64, '0').slice(0, 64)}`;
  if (type === 'file') e.contentSize = rand() < 0.8 ? Math.floor(rand() * 1e6) : pick(rand, BIG);
  if (type === 'symlink' && rand() < 0.9) e.target = randomName(rand, i);
  if (type !== 'dir' && rand() < 0.1) e.hardlink = Buffer.concat([Buffer.from('usr/bin/'), randomName(rand, i)]);
  if (rand() < 0.1)
    e.xattrs = [
      [Buffer.from('user.b'), randomName(rand, i)],
      [Buffer.from('security.capability'), Buffer.from([1, 0, 0, 2])],
    ];
  return e;
}

function randomTree(seed: number): { self: TreeSelf; entries: EncodableEntry[]; totals: TreeTotals } {
  const rand = prng(seed);
  const entries = Array.from({ length: Math.floor(rand() * 40) }, (_, i) => randomEntry(rand, i)).sort((a, b) =>
    Buffer.compare(a.name, b.name),
  );
  const self: TreeSelf = { mode: Math.floor(rand() * 0o10000), uid: Math.floor(rand() * 70_000), gid: 0 };
  if (rand() < 0.2) self.xattrs = [[Buffer.from('user.z'), Buffer.from('v')]];
  const totals = {
    files: Math.floor(rand() * 1e6),
    dirs: Math.floor(rand() * 1e4),
    other: Math.floor(rand() * 1e4),
    bytes: rand() < 0.9 ? Math.floor(rand() * 2 ** 40) : Number.MAX_SAFE_INTEGER,
  };
  return { self, entries, totals };
}

test('the walk encoder writes the bytes encodeTree writes, on 3,000 random trees', () => {
  const encoder = new TreeEncoder();
  for (let seed = 1; seed <= 3000; seed++) {
    const { self, entries, totals } = randomTree(seed);
    const expected = encodeTree({ self, entries: entries.map(treeEntry), totals });
    const got = encoder.encode(self, entries, totals);
    assert.ok(got.equals(expected), `seed ${seed}:\n${got.toString('latin1')}\n${expected.toString('latin1')}`);
  }
});

test('the walk encoder falls back to encodeTree for numbers a listing never holds, and reuses its buffer safely', () => {
  const encoder = new TreeEncoder();
  const self: TreeSelf = { mode: 0o755, uid: 0, gid: 0 };
  const file: EncodableEntry = {
    name: Buffer.from('f'),
    type: 'file',
    mode: 0o100644,
    uid: 0,
    gid: 0,
    digest: `sha256:${'ab'.repeat(32)}`,
    contentSize: 2 ** 60,
    rdevMajor: 0,
    rdevMinor: 0,
  };
  const totals = { files: 1, dirs: 0, other: 0, bytes: 2 ** 60 };
  const big = encoder.encode(self, [file], totals);
  assert.ok(big.equals(encodeTree({ self, entries: [treeEntry(file)], totals })));
  assert.ok(big.toString().includes(`"size":${JSON.stringify(2 ** 60)}`));
  // A big tree grows the buffer; the next small one is still exact.
  const many = Array.from({ length: 5000 }, (_, i) => ({
    ...file,
    name: Buffer.from(`n${String(i).padStart(5, '0')}`),
    contentSize: i,
  }));
  const manyTotals = { files: 5000, dirs: 0, other: 0, bytes: 12_497_500 };
  assert.ok(
    encoder
      .encode(self, many, manyTotals)
      .equals(encodeTree({ self, entries: many.map(treeEntry), totals: manyTotals })),
  );
  const small = { ...file, contentSize: 3 };
  assert.equal(
    encoder.encode(self, [small], { files: 1, dirs: 0, other: 0, bytes: 3 }).toString(),
    `{"asl":"tree/v1","entries":[{"digest":"sha256:${'ab'.repeat(32)}","gid":0,"mode":420,"name":"f","size":3,"type":"file","uid":0}],"self":{"gid":0,"mode":493,"uid":0},"totals":{"bytes":3,"dirs":0,"files":1,"other":0}}`,
  );
});
