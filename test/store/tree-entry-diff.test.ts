// The entry diff the audit's history walk uses instead of decoding whole trees: on seeded
// random trees (names and targets holding quotes, backslashes, braces and `},{"`, names
// that are not UTF-8, xattrs, devices, hard links), the entries it reports equal a
// decode-both-and-compare reference; and hostile bytes are refused, never misread.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Digest } from '../../src/core/digest.js';
import { AslError } from '../../src/core/errors.js';
import { changedEntries, entryBounds, type EntryChange } from '../../src/store/tree-entry-diff.js';
import { decodeTree, encodeTree, type Tree, type TreeEntry } from '../../src/store/tree-model.js';
import { prng, testSeed } from '../helpers.js';

const NAME_PARTS = ['a', 'lib', '},{"', '"', '\\', '{', ']', 'é', 'x y', '.conf', '\u2028'];

function randomTree(random: () => number): Tree {
  const int = (n: number) => Math.floor(random() * n);
  const names = new Map<string, Buffer>();
  const count = int(40);
  while (names.size < count) {
    let name: Buffer;
    if (int(8) === 0) name = Buffer.from([0xff, 0x61 + int(20), 0xfe]);
    else name = Buffer.from(Array.from({ length: 1 + int(3) }, () => NAME_PARTS[int(NAME_PARTS.length)]).join(''));
    if (name.equals(Buffer.from('.')) || name.equals(Buffer.from('..')) || name.includes(0x2f)) continue;
    names.set(name.toString('latin1'), name);
  }
  const entries = [...names.values()].sort(Buffer.compare).map((name) => randomEntry(random, name));
  return {
    self: { mode: 0o755, uid: 0, gid: 0 },
    entries,
    totals: { files: entries.length, dirs: 0, other: 0, bytes: 0 },
  };
}

function digest(random: () => number): Digest {
  return `sha256:${Array.from({ length: 64 }, () => '0123456789abcdef'[Math.floor(random() * 16)]).join('')}` as Digest;
}

function randomEntry(random: () => number, name: Buffer): TreeEntry {
  const int = (n: number) => Math.floor(random() * n);
  const base = { name, mode: [0o644, 0o755, 0o4755][int(3)]!, uid: int(3), gid: int(3) };
  switch (int(6)) {
    case 0:
      return { ...base, type: 'dir', digest: digest(random) };
    case 1:
      return { ...base, type: 'symlink', target: Buffer.from(`../${NAME_PARTS[int(NAME_PARTS.length)]}},{"x`) };
    case 2:
      return { ...base, type: 'char', rdev: [int(300), int(300)] };
    case 3:
      return {
        ...base,
        type: 'file',
        size: int(1 << 20),
        digest: digest(random),
        xattrs: [[Buffer.from('user.k"}'), Buffer.from([0, 1, 2])]],
      };
    case 4:
      return { ...base, type: 'file', size: int(100), digest: digest(random), hardlink: Buffer.from('d/"},{"f') };
    default:
      return { ...base, type: 'file', size: int(1 << 16), digest: digest(random) };
  }
}

/** Another tree like `t`: some entries removed, changed (content or metadata only) or added. */
function mutate(random: () => number, t: Tree): Tree {
  const int = (n: number) => Math.floor(random() * n);
  const entries: TreeEntry[] = [];
  for (const e of t.entries) {
    const r = random();
    if (r < 0.1) continue;
    if (r < 0.2) entries.push(randomEntry(random, e.name));
    else if (r < 0.25) entries.push({ ...e, mode: e.mode ^ 0o100 });
    else entries.push(e);
  }
  const extra = randomTree(random).entries.slice(0, int(4));
  for (const e of extra) if (!entries.some((x) => x.name.equals(e.name))) entries.push(e);
  entries.sort((a, b) => Buffer.compare(a.name, b.name));
  return { ...t, entries };
}

/** The reference: both trees decoded whole, entries compared field by field, merged by name. */
function reference(a: Tree | null, b: Tree): Array<{ name: string; before?: TreeEntry; after?: TreeEntry }> {
  const byName = new Map<string, { name: Buffer; before?: TreeEntry; after?: TreeEntry }>();
  for (const e of a?.entries ?? []) byName.set(e.name.toString('latin1'), { name: e.name, before: e });
  for (const e of b.entries) {
    const k = e.name.toString('latin1');
    byName.set(k, { ...(byName.get(k) ?? { name: e.name }), after: e });
  }
  return [...byName.values()]
    .filter(
      (c) =>
        !c.before ||
        !c.after ||
        !encodeTree({ ...b, entries: [c.before] }).equals(encodeTree({ ...b, entries: [c.after] })),
    )
    .sort((x, y) => Buffer.compare(x.name, y.name))
    .map((c) => ({
      name: c.name.toString('latin1'),
      ...(c.before ? { before: c.before } : {}),
      ...(c.after ? { after: c.after } : {}),
    }));
}

const shape = (changes: EntryChange[]) =>
  changes.map((c) => ({
    name: c.name.toString('latin1'),
    ...(c.before ? { before: c.before } : {}),
    ...(c.after ? { after: c.after } : {}),
  }));

test('changed entries equal a whole-tree decode and compare, on random trees with hostile-looking names', (t) => {
  const random = prng(testSeed(t));
  for (let round = 0; round < 300; round++) {
    const a = randomTree(random);
    const b = random() < 0.1 ? a : mutate(random, a);
    const ba = encodeTree(a);
    const bb = encodeTree(b);
    // The trees are valid and canonical: the whole-tree decoder takes them back unchanged.
    assert.deepEqual(decodeTree(ba), a);
    assert.equal(entryBounds(bb, 'b').length, b.entries.length * 2);
    assert.deepEqual(
      shape(changedEntries({ bytes: ba, id: 'a' }, { bytes: bb, id: 'b' })),
      reference(a, b),
      `round ${round}`,
    );
    assert.deepEqual(
      shape(changedEntries({ bytes: bb, id: 'b' }, { bytes: ba, id: 'a' })),
      reference(b, a),
      `round ${round}, reversed`,
    );
    assert.deepEqual(
      shape(changedEntries(null, { bytes: bb, id: 'b' })),
      reference(null, b),
      `round ${round}, from nothing`,
    );
  }
});

test('hostile tree bytes: refused as CORRUPT, never read as other entries', () => {
  const entry = (name: string, digit: string) =>
    ({
      name: Buffer.from(name),
      type: 'file',
      mode: 0o644,
      uid: 0,
      gid: 0,
      size: 1,
      digest: `sha256:${digit.repeat(64)}`,
    }) as TreeEntry;
  const tree = (entries: TreeEntry[]): Tree => ({
    self: { mode: 0o755, uid: 0, gid: 0 },
    entries,
    totals: { files: 0, dirs: 0, other: 0, bytes: 0 },
  });
  const good = encodeTree(tree([entry('a', '1'), entry('b', '2')]));
  const corrupt = (bytes: Buffer, message: RegExp) =>
    assert.throws(
      () => changedEntries({ bytes: good, id: 'good' }, { bytes, id: 'bad' }),
      (err: unknown) => err instanceof AslError && err.code === 'CORRUPT' && message.test(err.message),
    );
  const text = good.toString();
  // Cut anywhere inside the entries: never a shorter list, always refused.
  for (const cut of [30, 60, text.indexOf('"b"'), text.indexOf('],"self"')])
    corrupt(Buffer.from(text.slice(0, cut)), /ends inside|no comma|does not start|other than an object/);
  // A changed entry that is not canonical (a space) is refused, as decodeTree refuses it.
  corrupt(
    Buffer.from(text.replace('"gid":0,"mode":420,"name":"b"', '"gid":0, "mode":420,"name":"b"')),
    /not in canonical form/,
  );
  // Something other than an object in the entries.
  corrupt(Buffer.from(text.replace('{"digest"', '7,{"digest"')), /other than an object/);
  // A name that holds `},{"` stays one entry: the scanner knows strings.
  const tricky = encodeTree(tree([entry('a},{"digest":"x', '3'), entry('b', '2')]));
  assert.equal(entryBounds(tricky, 'tricky').length, 4);
  assert.deepEqual(
    changedEntries({ bytes: good, id: 'good' }, { bytes: tricky, id: 'tricky' }).map((c) => [
      c.name.toString(),
      !!c.before,
      !!c.after,
    ]),
    [
      ['a', true, false],
      ['a},{"digest":"x', false, true],
    ],
  );
  // Entries out of order among those that differ.
  const unsorted = encodeTree(tree([entry('c', '4'), entry('b', '5')]));
  corrupt(unsorted, /strictly increasing/);
  // A differing entry that breaks a rule decodeTree enforces (an unsafe name).
  corrupt(Buffer.from(text.replace('"name":"b"', '"name":".."')), /unsafe or missing name/);
});
