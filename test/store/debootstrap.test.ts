/**
 * The "Done when" check on real data: a debootstrap bookworm minbase root
 * (device nodes, setuid binaries, hard links, ~6,700 entries) put into the store and
 * restored elsewhere is identical to the original for find, sha256sum, getfattr and
 * stat, and the store verifies.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { runAsl, tempDir } from '../helpers.js';
import { bookwormMinbaseRoot, ensureDebianPackages } from '../fixtures.js';
import {
  cliInit,
  cliPut,
  cliRestore,
  deviceNumbers,
  findListing,
  hardlinkGroups,
  mtimeListing,
  sha256Listing,
  xattrDump,
} from './tree-compare.js';
import { referenceTreeId } from './reference-tree-id.js';

test('a debootstrap bookworm minbase root restores identically (find, sha256sum, getfattr, device numbers) and verifies', {
  timeout: 600_000,
}, async (t) => {
  await ensureDebianPackages('attr', 'findutils', 'coreutils');
  const root = await bookwormMinbaseRoot();
  const dir = await tempDir(t);
  const store = await cliInit(join(dir, 'S'));

  let started = Date.now();
  const put = await cliPut(store, root);
  t.diagnostic(
    `put: ${Date.now() - started} ms, ${put.stats.files} files, ${put.stats.dirs} dirs, ${put.stats.other} other, ${put.stats.bytes} bytes`,
  );
  assert.equal(put.kind, 'tree');
  // The put on both cores stores what a plain one-thread walk with encodeTree names: same tree ids, byte for byte.
  assert.equal(put.id, referenceTreeId(root), 'the root id of a one-thread reference walk');
  assert.ok(put.stats.files > 3000 && put.stats.bytes > 100e6, 'the fixture is a real root');

  const dest = join(dir, 'restored');
  started = Date.now();
  await cliRestore(store, put.id, dest);
  t.diagnostic(`restore: ${Date.now() - started} ms`);

  const [original, restored] = await Promise.all([findListing(root), findListing(dest)]);
  assert.ok(original.length > 5000, `${original.length} entries`);
  assert.ok(
    original.some((l) => /^f 4755 0 0 \d+ +usr\/bin\/su$/.test(l)),
    'has setuid binaries',
  );
  assert.ok(
    original.some((l) => l.startsWith('c ')),
    'has device nodes',
  );
  // A directory's st_size is the space its entries once took (dpkg unpacks through
  // *.dpkg-new temporaries), which no restore can set: `tar -xp` differs the same way.
  // So %s is compared for every entry but directories; everything else is exact.
  const isDirSizeOnly = (l: string) => l.startsWith('d ');
  const restoredSet = new Set(restored);
  const onlyLeft = original.filter((l) => !restoredSet.has(l));
  assert.ok(
    onlyLeft.every(isDirSizeOnly),
    `only directory sizes may differ: ${onlyLeft
      .filter((l) => !isDirSizeOnly(l))
      .slice(0, 5)
      .join(' | ')}`,
  );
  assert.deepEqual(
    await findListing(dest, { dirSizes: false }),
    await findListing(root, { dirSizes: false }),
    "find -printf '%y %m %U %G %s %l %P\\n'",
  );
  assert.deepEqual(await sha256Listing(dest), await sha256Listing(root), 'sha256sum of every file');
  assert.deepEqual(await xattrDump(dest), await xattrDump(root), 'getfattr -d -m -');
  const devices = await deviceNumbers(root);
  assert.ok(devices.length > 0);
  assert.deepEqual(await deviceNumbers(dest), devices, "stat -c '%t:%T' of every device");
  const links = hardlinkGroups(root);
  assert.ok(links.length > 0, 'has hard links');
  assert.deepEqual(hardlinkGroups(dest), links, 'hard-link groups');
  assert.deepEqual(mtimeListing(dest), mtimeListing(root), 'mtimes (ns)');

  const verify = await runAsl(['verify', '--store', store, '--json']);
  assert.equal(verify.code, 0, verify.stdout);
  const report = JSON.parse(verify.stdout) as { ok: boolean; problems: unknown[]; counts: Record<string, number> };
  assert.equal(report.ok, true);
  assert.deepEqual(report.problems, []);
  assert.equal(report.counts.roots, 1);

  // Unchanged re-put reads nothing; the restored copy has the same id.
  const again = await cliPut(store, root);
  assert.equal(again.id, put.id);
  assert.equal(again.stats.hashedFiles, 0);
  const copy = await cliPut(store, dest);
  assert.equal(copy.id, put.id);
});
