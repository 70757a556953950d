import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createdWatchRoots,
  planAutoWatch,
  selectWatchRoots,
  selectWorkingDirectory,
  watchCandidates,
  type PathProbe,
} from '../../src/capture/auto-watch.js';
import { splitCommand } from '../../src/capture/command-words.js';
import { tempDir } from '../helpers.js';

function probe(path: string, type: PathProbe['type'] = 'directory', word = path): PathProbe {
  return { word, path, inRoot: null, type, realPath: type === null ? null : path };
}

test('the rule, pure: system directories, pseudo file systems, programs, exclusions and nesting', () => {
  const sel = selectWatchRoots(
    [
      probe('/'),
      probe('/usr'),
      probe('/etc'),
      probe('/var/lib'),
      probe('/proc/self/status', 'file'),
      probe('/dev/null', 'other'),
      probe('/run/lock'),
      probe('/etc/apt/sources.list', 'file'),
      probe('/srv/build/iso_root'),
      probe('/srv/build/iso_root/etc/hosts', 'file'),
      probe('/srv/build/iso_root', 'directory', 'iso_root'),
      probe('/srv/build/build.sh', 'file'),
      probe('/srv/build/store/objects'),
      probe('/srv/build/out.log', null),
    ],
    { programPaths: ['/srv/build/build.sh'], exclude: ['/srv/build/store'] },
  );
  assert.deepEqual(sel.roots, [
    { path: '/etc/apt/sources.list', type: 'file', words: ['/etc/apt/sources.list'], excludes: [] },
    { path: '/srv/build/iso_root', type: 'directory', words: ['/srv/build/iso_root', 'iso_root'], excludes: [] },
  ]);
  assert.deepEqual(sel.pending, [{ word: '/srv/build/out.log', path: '/srv/build/out.log', inRoot: null }]);
  const reasons = Object.fromEntries(sel.skipped.map((s) => [s.path, s.reason]));
  assert.deepEqual(reasons, {
    '/': 'system-directory',
    '/usr': 'system-directory',
    '/etc': 'system-directory',
    '/var/lib': 'system-directory',
    '/proc/self/status': 'pseudo-filesystem',
    '/dev/null': 'pseudo-filesystem',
    '/run/lock': 'pseudo-filesystem',
    '/srv/build/iso_root/etc/hosts': 'covered',
    '/srv/build/build.sh': 'program',
    '/srv/build/store/objects': 'excluded',
  });
});

test('a root that contains the store lists it in excludes', () => {
  const sel = selectWatchRoots([probe('/srv/build')], { exclude: ['/srv/build/asl-preimage-store', '/elsewhere'] });
  assert.deepEqual(sel.roots[0]!.excludes, ['/srv/build/asl-preimage-store']);
});

test('candidates: option values, assignment values, redirections; not URLs, options, programs or scripts', () => {
  const line = splitCommand(
    "A=/a/x tool --out=/o -v -C rel http://h/p > log 'sh' -c 'x' ; chroot /r /bin/sh -c 'cat /etc/motd'",
  );
  const c = watchCandidates(line, '/cwd');
  assert.deepEqual(
    c.map((x) => [x.word, x.path, x.inRoot]),
    [
      ['/a/x', '/a/x', null],
      ['/o', '/o', null],
      ['rel', '/cwd/rel', null],
      ['log', '/cwd/log', null],
      ['sh', '/cwd/sh', null],
      ['x', '/cwd/x', null],
      ['/r', '/r', null],
      ['/etc/motd', '/r/etc/motd', '/etc/motd'],
    ],
  );
});

test('the seed debootstrap line on real files: the target is watched once created, the mirror URL never', async (t) => {
  const dir = await tempDir(t);
  const target = join(dir, 'iso_root');
  const line = splitCommand(`debootstrap --arch=amd64 bullseye ${target} http://deb.debian.org/debian`);
  const before = await planAutoWatch(line, { cwd: dir });
  assert.deepEqual(before.roots, []);
  assert.deepEqual(
    before.pending.map((p) => p.path),
    [join(dir, 'amd64'), join(dir, 'bullseye'), target],
  );
  await mkdir(join(target, 'etc'), { recursive: true }); // what the run creates
  const after = await createdWatchRoots(before);
  assert.deepEqual(after.roots, [{ path: target, type: 'directory', words: [target], excludes: [] }]);
  assert.deepEqual(
    after.pending.map((p) => p.path),
    [join(dir, 'amd64'), join(dir, 'bullseye')],
  );
});

test('the seed chroot line on real files: the root is watched, words inside it are covered, the chroot program is not', async (t) => {
  const dir = await tempDir(t);
  const root = join(dir, 'iso_root');
  await mkdir(join(root, 'usr/bin'), { recursive: true });
  await mkdir(join(root, 'var/cache/apt/archives'), { recursive: true });
  await symlink('usr/bin', join(root, 'bin'));
  await writeFile(join(root, 'usr/bin/bash'), '#!/bin/false\n');
  await chmod(join(root, 'usr/bin/bash'), 0o755);
  const line = splitCommand(
    `chroot ${root} /bin/bash -c 'apt-get update && apt-get install -y foo /var/cache/apt/archives'`,
  );
  const sel = await planAutoWatch(line, { cwd: '/', programPaths: [join(root, 'usr/bin/bash')] });
  assert.deepEqual(
    sel.roots.map((r) => r.path),
    [root],
  );
  const covered = sel.skipped.filter((s) => s.reason === 'covered').map((s) => s.path);
  assert.deepEqual(covered, [join(root, 'var/cache/apt/archives')]);
  assert.ok(!sel.roots.some((r) => r.path.endsWith('bash')));
});

test('relative words resolve against cwd, symlinks to their target, dangling links wait for the run', async (t) => {
  const dir = await tempDir(t);
  await mkdir(join(dir, 'real'));
  await writeFile(join(dir, 'real/in.txt'), 'x');
  await symlink(join(dir, 'real'), join(dir, 'link'));
  await symlink(join(dir, 'nowhere'), join(dir, 'dangling'));
  const line = splitCommand('tar -cf out.tar link/in.txt link dangling');
  const sel = await planAutoWatch(line, { cwd: dir });
  assert.deepEqual(sel.roots, [
    { path: join(dir, 'real'), named: join(dir, 'link'), type: 'directory', words: ['link'], excludes: [] },
  ]);
  assert.deepEqual(
    sel.skipped.map((s) => [s.word, s.reason, s.by]),
    [['link/in.txt', 'covered', join(dir, 'real')]],
  );
  assert.deepEqual(
    sel.pending.map((p) => p.word),
    ['out.tar', 'dangling'],
  );
});

test('paths under /proc, /sys, /dev, /run and system directories are not watched even when they exist', async () => {
  const line = splitCommand('cat /proc/cpuinfo /dev/null /sys/kernel /usr /etc /tmp / /run');
  const sel = await planAutoWatch(line, { cwd: '/' });
  assert.deepEqual(sel.roots, []);
  assert.deepEqual(sel.pending, []);
  assert.equal(sel.skipped.length, 8);
});

test('the working directory, pure: watched unless / , a system directory, the home directory, excluded or covered; its parent for dpkg-buildpackage', () => {
  const pick = (cwd: string, programs: string[] = ['make'], opts: Parameters<typeof selectWorkingDirectory>[2] = {}) =>
    selectWorkingDirectory(cwd, programs, opts);
  assert.deepEqual(pick('/srv/build/src'), { path: '/srv/build/src', parent: false });
  assert.deepEqual(pick('/'), { path: null, skipped: 'system-directory', parent: false });
  assert.deepEqual(pick('/usr/lib'), { path: null, skipped: 'system-directory', parent: false });
  assert.deepEqual(pick('/proc/1'), { path: null, skipped: 'pseudo-filesystem', parent: false });
  assert.deepEqual(pick('/home/ann', ['make'], { home: '/home/ann' }), {
    path: null,
    skipped: 'home-directory',
    parent: false,
  });
  assert.deepEqual(
    pick('/srv/users', ['make'], { home: '/srv/users/ann' }),
    { path: null, skipped: 'home-directory', parent: false },
    'a folder holding the home directory',
  );
  assert.deepEqual(
    pick('/home/ann/project', ['make'], { home: '/home/ann' }),
    { path: '/home/ann/project', parent: false },
    'a project below home is watched',
  );
  assert.deepEqual(pick('/srv/store/per', ['make'], { exclude: ['/srv/store'] }), {
    path: null,
    skipped: 'excluded',
    by: '/srv/store',
    parent: false,
  });
  assert.deepEqual(pick('/srv/root/etc', ['make'], { covered: ['/srv/root'] }), {
    path: null,
    skipped: 'covered',
    by: '/srv/root',
    parent: false,
  });
  assert.deepEqual(pick('/srv/build/hello-1.0', ['dpkg-buildpackage']), { path: '/srv/build', parent: true });
  assert.deepEqual(pick('/srv/build/hello-1.0', ['/usr/bin/debuild']), { path: '/srv/build', parent: true });
});
