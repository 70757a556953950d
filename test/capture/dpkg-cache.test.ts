import { test } from 'node:test';
import { randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DpkgCache, databaseStamp } from '../../src/capture/dpkg-cache.js';
import { DpkgLookup } from '../../src/capture/dpkg.js';
import { RACY_MARGIN_NS } from '../../src/store/stat-cache.js';
import { tempDir } from '../helpers.js';

/** A store's cache key (keys/cache.key holds 32 random bytes like these). */
const CACHE_KEY = randomBytes(32);

/** Waits until every file just written is older than the racy margin. */
const settle = () => sleep(Number(RACY_MARGIN_NS / 1_000_000n) * 3);

/** A dpkg-query that logs which query it runs (-S or -W), then runs the real one. */
async function loggingDpkgQuery(dir: string): Promise<{ path: string; calls: () => Promise<string[]> }> {
  const log = join(dir, 'calls.log');
  const path = join(dir, 'dpkg-query');
  await writeFile(
    path,
    `#!/bin/sh\nfor a; do case $a in -S|-W) echo "$a" >> ${log}; break;; esac; done\nexec dpkg-query "$@"\n`,
  );
  await chmod(path, 0o755);
  return {
    path,
    calls: async () =>
      (await readFile(log, 'utf8').catch(() => ''))
        .trim()
        .split('\n')
        .filter((l) => l !== ''),
  };
}

/** A chroot-like root whose dpkg database holds one package, foo, owning /usr/bin/foo. */
async function fakeDatabase(root: string, version: string): Promise<string> {
  const admindir = join(root, 'var/lib/dpkg');
  await mkdir(join(admindir, 'info'), { recursive: true });
  await mkdir(join(admindir, 'updates'), { recursive: true });
  await writeStatus(admindir, version);
  await writeFile(join(admindir, 'info', 'foo.list'), '/.\n/usr\n/usr/bin\n/usr/bin/foo\n');
  return admindir;
}

/** Replaces `status` the way dpkg does: a new file renamed over the old one. */
async function writeStatus(admindir: string, version: string): Promise<void> {
  const stanza = `Package: foo\nStatus: install ok installed\nPriority: optional\nSection: misc\nMaintainer: x <x@example.org>\nArchitecture: all\nVersion: ${version}\nDescription: test\n\n`;
  await writeFile(join(admindir, 'status-new'), stanza);
  await rename(join(admindir, 'status-new'), join(admindir, 'status'));
}

test('dpkg answers are kept in the store cache: a second capture asks dpkg-query nothing, and gets the same answers', async (t) => {
  const dir = await tempDir(t);
  const dpkgQuery = await loggingDpkgQuery(dir);
  const cacheFile = join(dir, 'dpkg-v1.json');
  const paths = ['/usr/bin/cat', '/bin/dash', '/usr/lib/x86_64-linux-gnu/libc.so.6', '/no/such/file'];
  const first = await new DpkgLookup({
    dpkgQuery: dpkgQuery.path,
    cache: new DpkgCache(cacheFile, CACHE_KEY),
  }).packagesOf(paths);
  assert.equal(first.get('/usr/bin/cat')?.name, 'coreutils');
  assert.equal(first.get('/no/such/file'), null);
  const calls = await dpkgQuery.calls();
  if (databaseStamp('/var/lib/dpkg') === null) {
    t.skip("the host's dpkg database changed moments ago: its answers are not cacheable yet");
    return;
  }
  assert.deepEqual(calls, ['-S', '-W']);
  const second = await new DpkgLookup({
    dpkgQuery: dpkgQuery.path,
    cache: new DpkgCache(cacheFile, CACHE_KEY),
  }).packagesOf(paths);
  assert.deepEqual(second, first);
  assert.deepEqual(await dpkgQuery.calls(), ['-S', '-W'], 'no dpkg-query the second time');
  // Same answers as a lookup without any cache.
  assert.deepEqual(await new DpkgLookup().packagesOf(paths), first);
  // A path not asked before is asked (and only it).
  const more = await new DpkgLookup({
    dpkgQuery: dpkgQuery.path,
    cache: new DpkgCache(cacheFile, CACHE_KEY),
  }).packagesOf([...paths, '/usr/bin/ls']);
  assert.equal(more.get('/usr/bin/ls')?.name, 'coreutils');
  assert.deepEqual(await dpkgQuery.calls(), ['-S', '-W', '-S'], "coreutils' version was known already");
});

test('a changed dpkg database is asked again; a database changed moments ago is not cached', async (t) => {
  const dir = await tempDir(t);
  const root = join(dir, 'root');
  const admindir = await fakeDatabase(root, '1.0');
  const dpkgQuery = await loggingDpkgQuery(dir);
  const cacheFile = join(dir, 'dpkg-v1.json');
  const lookup = () =>
    new DpkgLookup({ dpkgQuery: dpkgQuery.path, cache: new DpkgCache(cacheFile, CACHE_KEY) }).packagesOf(
      ['/usr/bin/foo'],
      root,
    );

  // Just written: the stamp is within the racy margin, so nothing is saved.
  assert.equal(databaseStamp(admindir), null);
  assert.equal((await lookup()).get('/usr/bin/foo')?.version, '1.0');
  await assert.rejects(stat(cacheFile), { code: 'ENOENT' });

  await settle();
  assert.notEqual(databaseStamp(admindir), null);
  assert.equal((await lookup()).get('/usr/bin/foo')?.version, '1.0');
  assert.equal((await lookup()).get('/usr/bin/foo')?.version, '1.0');
  assert.deepEqual(await dpkgQuery.calls(), ['-S', '-W', '-S', '-W'], 'the third lookup came from the cache');

  // An upgrade replaces status: the saved answers no longer apply.
  await writeStatus(admindir, '2.0');
  await settle();
  assert.equal((await lookup()).get('/usr/bin/foo')?.version, '2.0');
  assert.equal((await lookup()).get('/usr/bin/foo')?.version, '2.0');
  assert.equal((await dpkgQuery.calls()).length, 6);

  // A package's file list appearing or going away changes the info folder.
  await writeFile(join(admindir, 'info', 'foo.list-new'), '/.\n/usr\n/usr/bin\n/usr/bin/foo2\n');
  await rename(join(admindir, 'info', 'foo.list-new'), join(admindir, 'info', 'foo.list'));
  await settle();
  const moved = await new DpkgLookup({
    dpkgQuery: dpkgQuery.path,
    cache: new DpkgCache(cacheFile, CACHE_KEY),
  }).packagesOf(['/usr/bin/foo', '/usr/bin/foo2'], root);
  assert.equal(moved.get('/usr/bin/foo'), null);
  assert.equal(moved.get('/usr/bin/foo2')?.version, '2.0');

  // A corrupt cache file is ignored.
  await writeFile(cacheFile, '{"format":"asl-dpkg-cache-v1","databases":[{"admindir":');
  assert.equal((await lookup()).get('/usr/bin/foo'), null);
});
