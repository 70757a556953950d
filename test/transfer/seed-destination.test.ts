// `asl seed --into ROOT/var/lib/asl/personal` where the image root is hostile: ROOT/var
// is an absolute link to a folder of the build host (a maintainer script can make one).
// Without --root the seed follows no link: refused with one line, the host folder and
// the image byte-for-byte unchanged. With --root ROOT the path is resolved inside ROOT
// as the booted image will see it, and the seed says where it actually wrote.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { aslOk, runAsl } from '../helpers.js';
import { assertRefused, buildSource, listAll, tempDir, treeDigest, type SourceFixture } from './fixture.js';

let fx: SourceFixture;
let fixtureDir: string;
before(async () => {
  fixtureDir = await mkdtemp(join(tmpdir(), 'asl-seed-dest-fixture-'));
  fx = await buildSource(fixtureDir, 5);
});
after(() => rm(fixtureDir, { recursive: true, force: true }));

/** A build host folder (with var/lib, as a real one) and an image root whose var is an absolute link to it. */
async function hostileImage(dir: string, link: (host: string) => string = (host) => join(host, 'var')) {
  const host = join(dir, 'host');
  await mkdir(join(host, 'var', 'lib'), { recursive: true });
  const root = join(dir, 'iso_root');
  await mkdir(join(root, 'etc'), { recursive: true });
  await symlink(link(host), join(root, 'var'));
  return { host, root, hostBefore: treeDigest(host), rootBefore: treeDigest(root) };
}

test('seed: an absolute link in the image root on the way to DIR is refused; nothing is written on the host or in the image', async (t) => {
  const dir = await tempDir(t);
  const { host, root, hostBefore, rootBefore } = await hostileImage(dir);
  const r = await runAsl(['seed', '--store', fx.store, '--into', join(root, 'var', 'lib', 'asl', 'personal')]);
  assertRefused(
    r,
    2,
    new RegExp(
      `^asl: ${join(root, 'var')}: is a symbolic link \\(to ${join(host, 'var')}\\) on the way to ${join(root, 'var', 'lib', 'asl', 'personal')}; the seed follows no link, since one inside an image root can lead out of it: give --root IMAGE_ROOT`,
    ),
  );
  assert.equal(treeDigest(host), hostBefore, 'the host folder is byte-for-byte unchanged');
  assert.equal(treeDigest(root), rootBefore, 'the image root is unchanged');
  assert.deepEqual(listAll(join(host, 'var')), ['lib'], 'no folder was created on the host');
  assert.equal(r.stdout, '');
});

test('seed: a relative link that climbs out of the image root is refused the same way', async (t) => {
  const dir = await tempDir(t);
  const { host, root, hostBefore } = await hostileImage(dir, () => join('..', 'host', 'var'));
  const r = await runAsl(['seed', '--store', fx.store, '--into', join(root, 'var', 'lib', 'asl', 'personal')]);
  assertRefused(r, 2, new RegExp(`^asl: ${join(root, 'var')}: is a symbolic link \\(to \\.\\./host/var\\)`));
  assert.equal(treeDigest(host), hostBefore);
});

test('seed --root: links are resolved inside the image root, and the seed prints the path it wrote', async (t) => {
  const dir = await tempDir(t);
  const { host, root, hostBefore } = await hostileImage(dir);
  const into = join(root, 'var', 'lib', 'asl', 'personal');
  // Inside the image, /var points at <dir>/host/var: that is ROOT<dir>/host/var, not the host's folder.
  const expected = join(root, host, 'var', 'lib', 'asl', 'personal');
  const r = await aslOk(['seed', '--store', fx.store, '--root', root, '--into', into]);
  assert.match(r.stdout, new RegExp(`^seeded ${expected}: \\d+ receipts, `));
  assert.equal(
    r.stderr,
    `note: --into ${into} resolves to ${expected} inside ${root} (links followed as the image sees them)\n`,
  );
  assert.equal(treeDigest(host), hostBefore, 'the host folder is byte-for-byte unchanged');
  assert.match((await aslOk(['verify', '--store', expected])).stdout, /^OK: /m);

  // The same seed named as the image sees it is already there; --json says where.
  const again = JSON.parse(
    (await aslOk(['seed', '--store', fx.store, '--root', root, '--into', '/var/lib/asl/personal', '--json'])).stdout,
  ) as { into: string; root: string; alreadySeeded: boolean };
  assert.deepEqual(again, { ...again, into: expected, root, alreadySeeded: true });

  // `..` stops at the image root, as it does for the booted system.
  const climbing = join(dir, 'climb');
  await mkdir(climbing);
  await symlink('../../../../../../../../opt', join(climbing, 'var'));
  const r2 = JSON.parse(
    (await aslOk(['seed', '--store', fx.store, '--root', climbing, '--into', '/var/asl', '--json'])).stdout,
  ) as { into: string };
  assert.equal(r2.into, join(climbing, 'opt', 'asl'));
  assert.match((await aslOk(['verify', '--store', r2.into])).stdout, /^OK: /m);
  assert.deepEqual(await readdir(climbing), ['opt', 'var'], 'nothing was written beside the image root');
  assert.equal(existsSync('/opt/asl'), false);
});

test('seed --root: a relative --into, DIR as a link, or the root itself are refused with one line', async (t) => {
  const dir = await tempDir(t);
  const root = join(dir, 'img');
  await mkdir(join(root, 'var', 'lib'), { recursive: true });
  assertRefused(
    await runAsl(['seed', '--store', fx.store, '--root', root, '--into', 'var/lib/asl']),
    2,
    /--into var\/lib\/asl is relative; with --root give it as the image sees it/,
  );
  assertRefused(
    await runAsl(['seed', '--store', fx.store, '--root', root, '--into', '/']),
    2,
    /--into names the image root itself/,
  );
  await symlink('/tmp', join(root, 'var', 'lib', 'asl'));
  assertRefused(
    await runAsl(['seed', '--store', fx.store, '--root', root, '--into', '/var/lib/asl']),
    2,
    new RegExp(`${join(root, 'var', 'lib', 'asl')}: is a symbolic link; the seed is never written through a link`),
  );
  assertRefused(
    await runAsl(['seed', '--store', fx.store, '--root', join(dir, 'nope'), '--into', '/var']),
    2,
    new RegExp(`${join(dir, 'nope')}: --root: no such file or directory`),
  );
});
