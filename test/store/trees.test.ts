import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, readFileSync } from 'node:fs';
import { chmod, chown, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runAsl, tempDir } from '../helpers.js';
import { ensureDebianPackages } from '../fixtures.js';
import {
  assertSameTree,
  cliInit,
  cliPut,
  cliRestore,
  deviceNumbers,
  findListing,
  hardlinkGroups,
  mtimeListing,
  NOBODY,
  objectIds,
  oneLine,
  prng,
  run,
  runAslAs,
  sh,
  sha256Hex,
  sha256Listing,
  xattrDump,
} from './tree-compare.js';
import { canonicalBytes } from '../../src/core/canonical-json.js';
import type { Digest } from '../../src/core/digest.js';
import { AslError } from '../../src/core/errors.js';
import { writeObject } from '../../src/store/object-batch.js';
import { openStore } from '../../src/store/store.js';
import { decodeTree, encodeTree, type EntryType, type Tree, type TreeEntry } from '../../src/store/tree-model.js';

/** A file name that is not valid UTF-8. */
const BAD_NAME = Buffer.from([0x62, 0x61, 0x64, 0xff, 0xfe, 0x2d, 0x6e, 0x61, 0x6d, 0x65]); // "bad\xff\xfe-name"
const BAD_TARGET = Buffer.from([0x74, 0x6f, 0xc3, 0x28]); // "to" + an invalid 2-byte sequence
const CAPABILITY = '0sAQAAAgAgAAAAAAAAAAAAAAAAAAA='; // cap_net_bind_service+ep

/**
 * Builds a tree holding everything an OS root can hold. Order matters: owners
 * before modes (chown clears setuid/setgid), security.capability after both,
 * and timestamps last, deepest first (creating an entry changes its directory's
 * mtime).
 */
async function makeExoticTree(root: string): Promise<void> {
  await mkdir(root);
  const b = (rel: string | Buffer) =>
    typeof rel === 'string' ? Buffer.from(join(root, rel)) : Buffer.concat([Buffer.from(`${root}/`), rel]);
  await writeFile(b(BAD_NAME), 'a file whose name is not UTF-8\n');
  const badDir = Buffer.concat([BAD_NAME, Buffer.from('.d')]);
  await mkdir(b(badDir));
  await writeFile(Buffer.concat([b(badDir), Buffer.from('/inner')]), 'inside a non-UTF-8 directory\n');
  await symlink(BAD_TARGET, b('link-bad-target'));
  const deep = Array.from({ length: 24 }, (_, i) => `level${i}`).join('/');
  const script = `
set -e
mkdir -p dir/sub empty sticky setgid-dir owned-dir '${deep}'
echo 'deep content' > '${deep}/leaf'
printf 'data\\n' > suid
printf 'g\\n' > sgid
printf '#!/bin/sh\\necho cap\\n' > capable
printf 'both\\n' > suid-sgid
printf 'nobody can read\\n' > mode000
printf 'shared by three names\\n' > linked
printf 'second group\\n' > pair-a
head -c 3000 /dev/urandom > random.bin
ln linked dir/linked-again
ln linked dir/sub/linked-deeper
ln pair-a pair-b
ln -s linked link-rel
ln -s /nonexistent/absolute link-abs-dangling
ln -s ../../.. dir/sub/link-up
ln -P link-rel link-rel-hard
mknod cdev c 1 3
mknod bdev b 7 42
mknod cdev-big c 240 1048575
mkfifo fifo
ln fifo fifo-hard
python3 -c "import socket; s=socket.socket(socket.AF_UNIX); s.bind('sock')"
chown 1000:2000 sgid
chown 3:4 suid
chown 65534:65534 mode000
chown 0:5 suid-sgid
chown -h 1234:5678 link-rel
chown 1001:1002 owned-dir
chown 42:43 cdev
chmod 4755 suid
chmod 2711 sgid
chmod 6755 suid-sgid
chmod 0755 capable
chmod 0000 mode000
chmod 1777 sticky
chmod 2775 setgid-dir
chmod 0700 owned-dir
chmod 0640 cdev
chmod 0600 linked
setfattr -n security.capability -v ${CAPABILITY} capable
setfattr -n user.origin -v 'https://deb.debian.org' linked
setfattr -n user.binary -v 0x00ff10 random.bin
setfattr -n user.empty random.bin
setfattr -n user.dir -v directory-attr dir
setfattr -n user.root -v on-the-root .
setfattr -h -n trusted.on-symlink -v yes link-rel
`;
  await sh(script, root);
  await sh(`setfattr -n user.name-not-utf8 -v x "$(printf 'bad\\377\\376-name')"`, root);
  // Distinct nanosecond mtimes everywhere, directories last and deepest first.
  await setDistinctMtimes(root, 1_600_000_000);
}

/** Gives every entry a distinct mtime with nanoseconds, starting at `base` seconds. */
async function setDistinctMtimes(root: string, base: number): Promise<void> {
  const paths = (await sh('find . -depth -print0', root))
    .toString('latin1')
    .split('\0')
    .filter((p) => p.length > 0);
  const lines = paths.map(
    (p, i) =>
      `touch -c -h -d @${base + i * 7}.${String(123456789 - i * 1001).padStart(9, '0')} '${p.replace(/'/g, "'\\''")}'`,
  );
  // Written as bytes (latin1) so that non-UTF-8 names reach touch unchanged.
  const script = join(root, '..', `touch-${base}.sh`);
  await writeFile(script, Buffer.from(`${lines.join('\n')}\n`, 'latin1'));
  await sh(`sh '${script}'`, root);
  await rm(script);
}

async function lsJson(
  store: string,
  id: string,
  path?: string,
): Promise<Array<{ name: string; type: string; digest?: string; mode: string; uid: number }>> {
  const r = await runAsl(['ls', '--store', store, id, ...(path ? [path] : []), '--json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Array<{ name: string; type: string; digest?: string; mode: string; uid: number }>;
}

test('a tree with every file type, special modes, owners, hard links, xattrs and non-UTF-8 names restores identically', async (t) => {
  await ensureDebianPackages('attr', 'python3');
  const dir = await tempDir(t);
  const store = await cliInit(join(dir, 'S'));
  const src = join(dir, 'src');
  await makeExoticTree(src);
  // Sanity: the fixture really has what the test claims.
  const listing = await findListing(src);
  for (const want of [
    'f 4755 3 4 ',
    'f 2711 1000 2000 ',
    'f 6755 0 5 ',
    'f 0 65534 65534 ',
    'd 1777 ',
    'd 2775 ',
    'd 700 1001 1002 ',
    'c 640 42 43 ',
    'b 644 ',
    'p 644 ',
    's 755 ',
    'l 777 1234 5678 ',
  ]) {
    assert.ok(
      listing.some((l) => l.startsWith(want)),
      `fixture has an entry "${want}…"`,
    );
  }
  assert.equal(
    hardlinkGroups(src).length,
    4,
    'fixture has four hard-link groups (files across dirs, a symlink, a fifo)',
  );

  const put = await cliPut(store, src);
  assert.equal(put.kind, 'tree');
  const dest = join(dir, 'restored');
  await cliRestore(store, put.id, dest);
  await assertSameTree(src, dest);
  assert.deepEqual(await deviceNumbers(dest), [
    'block special file ./bdev 7:2a',
    'character special file ./cdev 1:3',
    'character special file ./cdev-big f0:fffff',
  ]);
  const capable = await sh('getfattr -h -n security.capability -e base64 capable', dest);
  assert.match(capable.toString(), new RegExp(`^security\\.capability=${CAPABILITY.replace(/[+/=]/g, '\\$&')}$`, 'm'));
  assert.equal(
    readFileSync(Buffer.from(join(dest, BAD_NAME.toString('latin1')), 'latin1'), 'utf8'),
    'a file whose name is not UTF-8\n',
  );

  // And the restored copy snapshots to the same id.
  const again = await cliPut(store, dest);
  assert.equal(again.id, put.id);
});

test('mtimes do not change a tree id; one mode bit, one owner, one xattr do', async (t) => {
  await ensureDebianPackages('attr', 'python3');
  const dir = await tempDir(t);
  const store = await cliInit(join(dir, 'S'));
  const src = join(dir, 'src');
  await makeExoticTree(src);
  const first = await cliPut(store, src);
  const firstMtimes = mtimeListing(src);

  await setDistinctMtimes(src, 1_300_000_000);
  const retimed = await cliPut(store, src);
  assert.equal(retimed.id, first.id, 'same content, different mtimes: same id');
  assert.notEqual(retimed.times, first.times, 'the timestamps object differs');
  const retimedMtimes = mtimeListing(src);
  assert.notDeepEqual(retimedMtimes, firstMtimes);

  // Each timestamps object restores its own snapshot's mtimes; the default is the latest put.
  const r1 = join(dir, 'r1');
  const withFirst = await runAsl(['restore', '--store', store, first.id, r1, '--times', first.times!]);
  assert.equal(withFirst.code, 0, withFirst.stderr);
  assert.deepEqual(mtimeListing(r1), firstMtimes);
  const r2 = join(dir, 'r2');
  await cliRestore(store, first.id, r2);
  assert.deepEqual(mtimeListing(r2), retimedMtimes);

  const changes: Array<[string, string, string]> = [
    ['one mode bit', 'chmod g+w dir/sub/linked-deeper', 'chmod g-w dir/sub/linked-deeper'],
    ['setuid bit', 'chmod u-s suid', 'chmod u+s suid'],
    ['sticky bit', 'chmod -t sticky', 'chmod +t sticky'],
    ['one owner', 'chown 1001 pair-a', 'chown 0 pair-a'],
    ['one group', 'chgrp 7 empty', 'chgrp 0 empty'],
    [
      'one xattr value',
      'setfattr -n user.origin -v http://other linked',
      "setfattr -n user.origin -v 'https://deb.debian.org' linked",
    ],
    ['one added xattr', 'setfattr -n user.extra -v 1 empty', 'setfattr -x user.extra empty'],
    ['a device number', 'rm bdev && mknod bdev b 7 43', 'rm bdev && mknod bdev b 7 42'],
    [
      'a symlink target',
      'rm link-abs-dangling && ln -s /nonexistent/absolutE link-abs-dangling',
      'rm link-abs-dangling && ln -s /nonexistent/absolute link-abs-dangling',
    ],
  ];
  const seen = new Set([first.id]);
  for (const [what, change, undo] of changes) {
    await sh(change, src);
    const changed = await cliPut(store, src);
    assert.notEqual(changed.id, first.id, `${what} changes the id`);
    assert.ok(!seen.has(changed.id), `${what}: a new id`);
    seen.add(changed.id);
    await sh(undo, src);
    const back = await cliPut(store, src);
    assert.equal(back.id, first.id, `undoing ${what} gives the original id back`);
  }
});

test('unchanged sub-trees are shared between two snapshots (same sub-tree digest in asl ls --json)', async (t) => {
  await ensureDebianPackages('attr', 'python3');
  const dir = await tempDir(t);
  const store = await cliInit(join(dir, 'S'));
  const src = join(dir, 'src');
  await makeExoticTree(src);
  const before = await cliPut(store, src);
  const rootBefore = await lsJson(store, before.id);
  const dirBefore = await lsJson(store, before.id, 'dir');
  const objectsBefore = await objectIds(store);

  await writeFile(join(src, 'dir', 'sub', 'new-file'), 'added later\n');
  const after = await cliPut(store, src);
  assert.notEqual(after.id, before.id);
  const rootAfter = await lsJson(store, after.id);
  const dirAfter = await lsJson(store, after.id, 'dir');

  const digestOf = (list: Array<{ name: string; digest?: string }>, name: string) =>
    list.find((e) => e.name === name)?.digest;
  assert.equal(rootAfter.length, rootBefore.length);
  for (const e of rootBefore) {
    if (e.name === 'dir') assert.notEqual(digestOf(rootAfter, 'dir'), e.digest, 'the changed directory has a new tree');
    else assert.equal(digestOf(rootAfter, e.name), e.digest, `${e.name}: unchanged entry keeps its digest`);
  }
  assert.ok(digestOf(rootBefore, 'level0'), 'the deep directory is a sub-tree');
  assert.equal(digestOf(rootAfter, 'level0'), digestOf(rootBefore, 'level0'), 'the deep sub-tree is shared');
  assert.notEqual(digestOf(dirAfter, 'sub'), digestOf(dirBefore, 'sub'));
  const subAfter = await lsJson(store, after.id, 'dir/sub');
  assert.equal(subAfter.find((e) => e.name === 'new-file')?.digest, `sha256:${sha256Hex('added later\n')}`);
  // Only the changed path wrote objects: the new blob, three trees (sub, dir, root), one times object.
  const added = (await objectIds(store)).filter((id) => !objectsBefore.includes(id));
  assert.deepEqual(
    added.sort(),
    [
      `sha256:${sha256Hex('added later\n')}`,
      digestOf(dirAfter, 'sub'),
      digestOf(rootAfter, 'dir'),
      after.id,
      after.times,
    ].sort(),
  );
});

/** Restores the exotic tree as nobody into a folder nobody owns. */
async function restoreAsNobody(t: Parameters<typeof tempDir>[0]) {
  await ensureDebianPackages('attr', 'python3', 'util-linux');
  const dir = await tempDir(t);
  await chmod(dir, 0o755);
  const store = await cliInit(join(dir, 'S'));
  const src = join(dir, 'src');
  await makeExoticTree(src);
  const put = await cliPut(store, src);
  const parent = join(dir, 'nobody');
  await mkdir(parent);
  await chown(parent, NOBODY, NOBODY);
  const dest = join(parent, 'R');
  // A store is private to its owner (docs/security.md): the unprivileged user restores from its own.
  await run('chown', ['-R', `${NOBODY}:${NOBODY}`, store]);
  const r = await runAslAs(NOBODY, ['restore', '--store', store, put.id, dest]);
  return { src, dest, parent, r };
}

test('restore as an unprivileged user: content, modes, links, times and user xattrs; devices and owners skipped with a warning', async (t) => {
  const { src, dest, r } = await restoreAsNobody(t);
  assert.equal(r.code, 0, r.stderr);
  const warnings = r.stderr.trimEnd().split('\n');
  assert.ok(
    warnings.every((l) => l.startsWith('asl: warning: ')),
    r.stderr,
  );
  assert.ok(
    warnings.includes('asl: warning: not running as root: device nodes are skipped and owners are not restored'),
    r.stderr,
  );
  assert.ok(
    warnings.some((l) => l.includes('security.capability')),
    'the dropped capability is named',
  );
  assert.ok(
    warnings.some((l) => l.includes('trusted.on-symlink')),
    'the dropped trusted.* attribute is named',
  );

  // Expected: the original minus devices, everything owned by the restoring user.
  const expected = (await findListing(src))
    .filter((l) => !/^[cb] /.test(l))
    .map((l) => l.replace(/^(\S+ \d+) \d+ \d+ /, `$1 ${NOBODY} ${NOBODY} `))
    .sort(); // latin1 strings: code-unit order is byte order
  assert.deepEqual(await findListing(dest), expected);
  assert.deepEqual(await sha256Listing(dest), await sha256Listing(src));
  assert.deepEqual(hardlinkGroups(dest), hardlinkGroups(src));
  assert.deepEqual(
    mtimeListing(dest),
    mtimeListing(src).filter((l) => !/^(cdev|bdev|cdev-big) /.test(l)),
  );
  const userOnly = (await xattrDump(src))
    .map((block) =>
      block
        .split('\n')
        .filter((l, i) => i === 0 || l.startsWith('user.'))
        .join('\n'),
    )
    .filter((block) => block.includes('\n'));
  assert.deepEqual(await xattrDump(dest), userOnly, 'user.* attributes restored, the others not');
});

test('warnings of an unprivileged restore name the restored path, not the hidden staging folder', async (t) => {
  const { dest, r } = await restoreAsNobody(t);
  assert.equal(r.code, 0, r.stderr);
  const capLine = r.stderr.split('\n').find((l) => l.includes('security.capability'));
  assert.ok(capLine, r.stderr);
  assert.ok(capLine.includes(join(dest, 'capable')), `names ${join(dest, 'capable')}: ${capLine}`);
  assert.ok(
    !r.stderr.includes('.asl-restore-'),
    `no warning names the staging folder, which no longer exists: ${r.stderr}`,
  );
});

// ---- the tree model: canonical encoding round trip and hostile input ----

const TYPES: EntryType[] = ['file', 'dir', 'symlink', 'char', 'block', 'fifo', 'socket'];

function randomBytesFrom(rand: () => number, min: number, max: number, avoid: number[] = []): Buffer {
  const len = min + Math.floor(rand() * (max - min + 1));
  const out = Buffer.alloc(len);
  for (let i = 0; i < len; i++) {
    let byte: number;
    do {
      // Mostly printable ASCII, some UTF-8 multibyte, some raw high bytes.
      const r = rand();
      byte =
        r < 0.7
          ? 0x20 + Math.floor(rand() * 95)
          : r < 0.85
            ? 0x80 + Math.floor(rand() * 128)
            : Math.floor(rand() * 256);
    } while (avoid.includes(byte));
    out[i] = byte;
  }
  return out;
}

function randomTree(rand: () => number): Tree {
  const names = new Map<string, Buffer>();
  const count = Math.floor(rand() * 12);
  while (names.size < count) {
    const name =
      rand() < 0.2 ? Buffer.from(`é€名-${Math.floor(rand() * 100)}`) : randomBytesFrom(rand, 1, 20, [0, 0x2f]);
    const s = name.toString('latin1');
    if (s === '.' || s === '..') continue;
    names.set(s, name);
  }
  const sorted = [...names.values()].sort(Buffer.compare);
  const digest = (): Digest => `sha256:${sha256Hex(String(rand()))}`;
  const entries: TreeEntry[] = sorted.map((name) => {
    const type = TYPES[Math.floor(rand() * TYPES.length)]!;
    const e: TreeEntry = {
      name,
      type,
      mode: Math.floor(rand() * 0o10000),
      uid: Math.floor(rand() * 70000),
      gid: Math.floor(rand() * 70000),
    };
    if (type === 'file') {
      e.size = Math.floor(rand() * 2 ** 40);
      e.digest = digest();
    }
    if (type === 'dir') e.digest = digest();
    if (type === 'symlink') e.target = randomBytesFrom(rand, 1, 40, [0]);
    if (type === 'char' || type === 'block') e.rdev = [Math.floor(rand() * 4096), Math.floor(rand() * 1048576)];
    if (rand() < 0.3) {
      const xn = new Map<string, [Buffer, Buffer]>();
      const n = 1 + Math.floor(rand() * 3);
      while (xn.size < n) {
        const xname = Buffer.from(
          `${['user', 'security', 'trusted'][Math.floor(rand() * 3)]}.${randomBytesFrom(rand, 1, 8, [0]).toString('hex')}`,
        );
        xn.set(xname.toString('latin1'), [xname, randomBytesFrom(rand, 0, 30)]);
      }
      e.xattrs = [...xn.values()].sort((a, b) => Buffer.compare(a[0], b[0]));
    }
    if (type !== 'dir' && rand() < 0.2) {
      e.hardlink = Buffer.concat([
        randomBytesFrom(rand, 1, 6, [0, 0x2f, 0x2e]),
        Buffer.from('/'),
        randomBytesFrom(rand, 1, 6, [0, 0x2f, 0x2e]),
      ]);
    }
    return e;
  });
  const self = { mode: Math.floor(rand() * 0o10000), uid: Math.floor(rand() * 70000), gid: Math.floor(rand() * 70000) };
  return {
    self,
    entries,
    totals: {
      files: Math.floor(rand() * 1e6),
      dirs: Math.floor(rand() * 1e4),
      other: Math.floor(rand() * 1e4),
      bytes: Math.floor(rand() * 2 ** 50),
    },
  };
}

test('tree encoding round trip: random trees encode → decode → encode to the same bytes', () => {
  for (let seed = 1; seed <= 500; seed++) {
    const tree = randomTree(prng(seed));
    const bytes = encodeTree(tree);
    const decoded = decodeTree(bytes, `seed ${seed}`);
    assert.deepEqual(decoded, tree, `seed ${seed}: decode gives the tree back`);
    assert.ok(encodeTree(decoded).equals(bytes), `seed ${seed}: re-encoding gives the same bytes`);
  }
});

/** The tree as the object RFC 8785 canonicalizes: what encodeTree must write, byte for byte. */
function objectForm(tree: Tree): unknown {
  const bytesField = (obj: Record<string, unknown>, field: string, b: Buffer) => {
    if (Buffer.from(b.toString('utf8'), 'utf8').equals(b)) obj[field] = b.toString('utf8');
    else obj[`${field}64`] = b.toString('base64');
  };
  const xattrs = (x: Array<[Buffer, Buffer]>) =>
    [...x].sort((a, b) => Buffer.compare(a[0], b[0])).map(([n, v]) => [n.toString('base64'), v.toString('base64')]);
  const entries = tree.entries.map((e) => {
    const o: Record<string, unknown> = { type: e.type, mode: e.mode, uid: e.uid, gid: e.gid };
    bytesField(o, 'name', e.name);
    if (e.size !== undefined) o.size = e.size;
    if (e.digest !== undefined) o.digest = e.digest;
    if (e.target !== undefined) bytesField(o, 'target', e.target);
    if (e.rdev !== undefined) o.rdev = e.rdev;
    if (e.xattrs && e.xattrs.length > 0) o.xattrs = xattrs(e.xattrs);
    if (e.hardlink !== undefined) bytesField(o, 'hardlink', e.hardlink);
    return o;
  });
  const self: Record<string, unknown> = { mode: tree.self.mode, uid: tree.self.uid, gid: tree.self.gid };
  if (tree.self.xattrs && tree.self.xattrs.length > 0) self.xattrs = xattrs(tree.self.xattrs);
  return { asl: 'tree/v1', entries, self, totals: tree.totals };
}

test('the tree encoder writes exactly the canonical JSON (RFC 8785) of the tree object, on random trees', () => {
  for (let seed = 1; seed <= 2000; seed++) {
    const rand = prng(seed);
    const tree = randomTree(rand);
    if (rand() < 0.3)
      tree.self.xattrs = [
        [Buffer.from('user.a'), randomBytesFrom(rand, 0, 12)],
        [Buffer.from('security.b'), randomBytesFrom(rand, 0, 12)],
      ];
    assert.ok(encodeTree(tree).equals(canonicalBytes(objectForm(tree))), `seed ${seed}`);
  }
  // A decoded tree keeps totals as it found them: an extra key still encodes canonically.
  const tree: Tree = {
    self: { mode: 0o755, uid: 0, gid: 0 },
    entries: [],
    totals: { files: 0, dirs: 0, other: 0, bytes: 0, zeta: 1 } as unknown as Tree['totals'],
  };
  assert.ok(encodeTree(tree).equals(canonicalBytes(objectForm(tree))));
});

/** A tree object built by hand (not by encodeTree), as an attacker would. */
function handTree(entries: Array<Record<string, unknown>>): Buffer {
  return canonicalBytes({
    asl: 'tree/v1',
    entries,
    self: { gid: 0, mode: 0o755, uid: 0 },
    totals: { bytes: 0, dirs: 0, files: entries.length, other: 0 },
  });
}
const BLOB_TEXT = 'payload\n';
const BLOB: Digest = `sha256:${sha256Hex(BLOB_TEXT)}`;
const file = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  type: 'file',
  mode: 0o644,
  uid: 0,
  gid: 0,
  size: BLOB_TEXT.length,
  digest: BLOB,
  ...extra,
});

const HOSTILE: Array<[string, Buffer]> = [
  ['name ".."', handTree([file('..')])],
  ['name "."', handTree([file('.')])],
  ['name with "/"', handTree([file('a/b')])],
  ['absolute name', handTree([file('/etc/asl-escape')])],
  ['name with NUL', handTree([file('a\u0000b')])],
  ['empty name', handTree([file('')])],
  ['".." as base64 name', handTree([{ ...file('x'), name: undefined, name64: Buffer.from('..').toString('base64') }])],
  ['unsorted names', handTree([file('b'), file('a')])],
  ['duplicate names', handTree([file('same'), file('same')])],
  ['hard link "../x"', handTree([file('a'), file('b', { hardlink: '../x' })])],
  ['absolute hard link', handTree([file('a'), file('b', { hardlink: '/etc/passwd' })])],
  ['hard link with ".." inside', handTree([file('a'), file('b', { hardlink: 'a/../../x' })])],
  [
    'directory as a hard link',
    handTree([{ name: 'd', type: 'dir', mode: 0o755, uid: 0, gid: 0, digest: BLOB, hardlink: 'a' }]),
  ],
];

test('decodeTree rejects hostile trees, naming the problem', () => {
  for (const [what, bytes] of HOSTILE) {
    assert.throws(
      () => decodeTree(bytes, 'sha256:hostile'),
      (err: unknown) => {
        assert.ok(err instanceof AslError, `${what}: an AslError`);
        assert.equal(err.code, 'CORRUPT', what);
        assert.match(err.message, /^sha256:hostile: invalid tree: /, what);
        return true;
      },
      what,
    );
  }
  // The unsafe name is named in the message.
  assert.throws(() => decodeTree(HOSTILE[0]![1]), /unsafe or missing name "\.\."/);
  assert.throws(() => decodeTree(HOSTILE[7]![1]), /names not in strictly increasing byte order/);
  assert.throws(() => decodeTree(HOSTILE[9]![1]), /unsafe hard-link path/);
});

test('decodeTree rejects non-canonical encodings of a valid tree (one tree, one id)', () => {
  const canonical = handTree([file('a')]);
  assert.doesNotThrow(() => decodeTree(canonical));
  const variants: Array<[string, Buffer]> = [
    ['whitespace', Buffer.from(canonical.toString('utf8').replace('"entries":', '"entries": '))],
    [
      'a UTF-8 name as name64',
      handTree([{ ...file('a'), name: undefined, name64: Buffer.from('a').toString('base64') }]),
    ],
    [
      'base64 without padding',
      handTree([{ ...file('x'), name: undefined, name64: Buffer.from([0xff]).toString('base64').replace(/=+$/, '') }]),
    ],
  ];
  const accepted: string[] = [];
  for (const [what, bytes] of variants) {
    let decoded: Tree;
    try {
      decoded = decodeTree(bytes);
    } catch {
      continue;
    }
    if (!encodeTree(decoded).equals(bytes)) accepted.push(what);
  }
  assert.deepEqual(
    accepted,
    [],
    'decodeTree accepted bytes that are not the canonical encoding of the tree they decode to',
  );
});

test('asl restore of a hostile tree object fails, creates nothing at DEST and nothing outside it', async (t) => {
  const dir = await tempDir(t);
  const storeDir = await cliInit(join(dir, 'S'));
  const store = await openStore(storeDir);
  assert.equal(await writeObject(store, Buffer.from(BLOB_TEXT)), BLOB);
  const work = join(dir, 'work');
  await mkdir(work);
  // Targets an escaping restore would hit.
  await writeFile(join(work, 'x'), 'outside, must stay untouched\n');

  const cases: Array<[string, Buffer, Digest?]> = [...HOSTILE];
  // Decodable trees that are still hostile at restore time.
  cases.push([
    'hard link through a symlink the tree creates',
    handTree([
      { name: 'evil', type: 'symlink', mode: 0o777, uid: 0, gid: 0, target: work },
      file('z', { hardlink: 'evil/x' }),
    ]),
  ]);
  cases.push([
    'hard link to a path the tree never creates',
    handTree([file('a'), file('b', { hardlink: 'nothing/here' })]),
  ]);
  const hostileSub = await writeObject(store, HOSTILE[0]![1]);
  cases.push([
    'a valid root with a hostile sub-tree',
    handTree([file('a'), { name: 'sub', type: 'dir', mode: 0o755, uid: 0, gid: 0, digest: hostileSub }, file('z')]),
    hostileSub,
  ]);

  for (const [what, bytes, culprit] of cases) {
    const id = await writeObject(store, bytes);
    const dest = join(work, 'dest');
    const r = await runAsl(['restore', '--store', storeDir, id, dest]);
    assert.notEqual(r.code, 0, `${what}: restore must fail`);
    const line = oneLine(r.stderr);
    assert.ok(line.includes(culprit ?? id), `${what}: the error names the hostile tree: ${line}`);
    assert.deepEqual(await readdir(work), ['x'], `${what}: nothing created at DEST or beside it`);
    assert.equal(await readFile(join(work, 'x'), 'utf8'), 'outside, must stay untouched\n');
    assert.equal(lstatSync(join(work, 'x')).nlink, 1, `${what}: no hard link to the outside file`);
    assert.deepEqual((await readdir(dir)).sort(), ['S', 'work'], `${what}: nothing created outside DEST's folder`);
    for (const p of ['/etc/asl-escape', join(dir, 'asl-escape')])
      assert.throws(() => lstatSync(p), `${what}: ${p} not created`);
  }

  // The store's own checks see the hostile trees too.
  const v = await runAsl(['verify', '--store', storeDir]);
  assert.equal(v.code, 1);
  assert.match(v.stdout, /invalid tree/);
});
