// `asl audit` on a real Debian root: the bookworm minbase fixture (debootstrap, cached)
// copied into a watched directory by a captured step, then changed by captured steps
// (a configuration file, a step that watched one file inside the root, an ingested file
// copied in, a package file patched) and once outside any capture. Package names,
// versions and md5 checks are compared with dpkg itself (dpkg-query, dpkg --verify) on
// the live root; control files with dpkg-deb's extraction of the .deb.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AuditResult } from '../../src/graph/audit.js';
import { bookwormMinbaseRoot } from '../fixtures.js';
import { runAsl, tempDir } from '../helpers.js';
import { aslOk, describeRun, digestOf, workWithStore } from '../capture/e2e-helpers.js';

const skip = process.getuid?.() !== 0 ? 'needs root (the debootstrap fixture)' : false;

/** `dpkg --verify` on a root: the paths whose md5 differs, conffiles marked. */
function dpkgVerify(root: string): Array<{ path: string; conffile: boolean }> {
  const r = spawnSync('dpkg', [`--root=${root}`, '--verify'], { encoding: 'utf8' });
  return r.stdout
    .split('\n')
    .filter((l) => /^..5/.test(l))
    .map((l) => ({ path: l.slice(12), conffile: l[10] === 'c' }));
}

test("audit of a captured Debian root: classes, dpkg's own checks, and what nothing recorded", {
  skip,
  timeout: 15 * 60_000,
}, async (t) => {
  const fixture = await bookwormMinbaseRoot();
  const { work, store } = await workWithStore(t);
  const root = join(work, 'root');
  await mkdir(root);
  const capture = async (name: string, cmd: string, watch = 'root') => {
    const outdir = join(store, 'per', name);
    const r = await runAsl(['--store', store, '--cmd', cmd, '--watch', watch, '--no-auto-watch', '--outdir', outdir], {
      program: 'asl-capture',
      cwd: work,
    });
    assert.equal(r.code, 0, describeRun(r));
    return digestOf(await readFile(join(outdir, 'per.dsse.json')));
  };
  const auditJson = async (ref: string) =>
    JSON.parse((await aslOk(['audit', '--store', store, ref, '--json'])).stdout) as AuditResult;
  const entry = (a: AuditResult, path: string) => {
    const e = a.entries.find((x) => x.path === path);
    assert.ok(e, `${path} in the audit`);
    return e;
  };

  // 1. the root, by a captured copy (the .debs come along: recorded as downloaded).
  const install = await capture('install', `cp -a ${fixture}/. root/`);
  // 2. a step that watched only one file inside the root (like the image's dpkg_config).
  await writeFile(join(work, 'inner.cfg'), 'path-exclude /usr/share/doc/*\n');
  const inner = await capture('inner', 'cp inner.cfg root/etc/asl-inner.cfg', 'root/etc/asl-inner.cfg');
  // 3. an ingested file, then a step that copies it in and writes a file of its own.
  await writeFile(join(work, 'tool.sh'), '#!/bin/sh\necho ingested tool\n', { mode: 0o755 });
  await aslOk(['--store', store, '--file', join(work, 'tool.sh'), '--outdir', join(store, 'per', 'overlay')], {
    program: 'asl-capture',
  });
  const configure = await capture(
    'configure',
    'cp tool.sh root/usr/local/bin/tool && printf "configured\\n" > root/etc/asl-configured',
  );

  const a = await auditJson(configure);
  assert.equal(a.target.receipt!.receipt, configure);
  assert.equal(
    a.summary.unattributed,
    0,
    JSON.stringify(a.entries.filter((e) => e.class === 'unattributed').slice(0, 5)),
  );
  assert.equal(a.summary.differs, 0);
  assert.deepEqual(
    a.history.map((h) => (h.kind === 'step' ? h.step : `gap ${h.afterSeq}-${h.beforeSeq} inner ${h.inner}`)),
    ['configure', 'gap 1-4 inner 2', 'install', 'gap null-1 inner '],
  ); // root/ existed, empty, before the copy
  // Every entry is there once: the tree's own counts.
  const listing = execFileSync('find', [root, '-mindepth', '1', '-printf', '%y\\n'], { encoding: 'utf8' })
    .trim()
    .split('\n');
  assert.equal(a.summary.files, listing.filter((y) => y === 'f').length);
  assert.equal(a.summary.symlinks, listing.filter((y) => y === 'l').length);
  assert.equal(a.summary.directories, listing.filter((y) => y === 'd').length);
  assert.equal(
    a.summary.package + a.summary.control + a.summary.ingested + a.summary.generated + a.summary.unattributed,
    a.entries.length,
  );

  // Packages: exactly dpkg's list of the root, each with the .deb the copy brought along.
  const dpkgList = execFileSync(
    'dpkg-query',
    [`--admindir=${join(root, 'var/lib/dpkg')}`, '-W', '-f=${Package} ${Version} ${Architecture}\\n'],
    { encoding: 'utf8' },
  )
    .trim()
    .split('\n')
    .sort();
  assert.deepEqual(
    a.packages
      .filter((p) => p.listed)
      .map((p) => `${p.name} ${p.version} ${p.architecture}`)
      .sort(),
    dpkgList,
  );
  assert.equal(a.summary.packagesWithDeb, dpkgList.length);
  const archives = join(fixture, 'var/cache/apt/archives');
  const aptDeb = join(archives, (await readdir(archives)).find((n) => /^apt_.*\.deb$/.test(n))!);
  const apt = a.packages.find((p) => p.name === 'apt')!;
  assert.deepEqual(
    [apt.deb!.digest, apt.deb!.step, apt.deb!.receipt],
    [digestOf(await readFile(aptDeb)), 'install', install],
  );

  // A package file: dpkg's md5 matches; /usr-merge (bash lists /bin/bash).
  const bash = entry(a, 'usr/bin/bash');
  assert.equal(bash.class, 'package');
  assert.deepEqual([bash.package!.name, bash.package!.listedAs, bash.package!.check], ['bash', '/bin/bash', 'match']);
  assert.equal(bash.step!.step, 'install');
  // Every regular file dpkg lists is checked: dpkg --verify finds no md5 failure either.
  assert.deepEqual(dpkgVerify(root), []);
  // A control file equal to the .deb's member (dpkg-deb extracts the same bytes); a .list, written by dpkg, is generated.
  const aptMd5sums = entry(a, 'var/lib/dpkg/info/apt.md5sums');
  assert.equal(aptMd5sums.class, 'control');
  assert.deepEqual(aptMd5sums.control, {
    package: 'apt',
    architecture: 'amd64',
    member: 'md5sums',
    deb: apt.deb!.digest,
  });
  const fromDeb = execFileSync('sh', ['-c', 'dpkg-deb --ctrl-tarfile "$1" | tar -xO ./md5sums', 'sh', aptDeb]);
  assert.equal(aptMd5sums.digest, digestOf(fromDeb));
  assert.ok(a.summary.control > 100, `${a.summary.control} control files`);
  const aptList = entry(a, 'var/lib/dpkg/info/apt.list');
  assert.deepEqual([aptList.class, aptList.step!.step, aptList.package], ['generated', 'install', undefined]);
  // The file the inner step watched, the ingested tool, the configured file.
  const innerCfg = entry(a, 'etc/asl-inner.cfg');
  assert.deepEqual([innerCfg.class, innerCfg.step!.receipt, innerCfg.step!.via], ['generated', inner, 'inner']);
  const tool = entry(a, 'usr/local/bin/tool');
  assert.deepEqual([tool.class, tool.ingested!.step, tool.step!.step], ['ingested', 'overlay', 'configure']);
  const configured = entry(a, 'etc/asl-configured');
  assert.deepEqual(
    [configured.class, configured.step!.receipt, configured.package],
    ['generated', configure, undefined],
  );
  // A file no package lists, written by the copy (debootstrap wrote it in the fixture).
  assert.equal(entry(a, 'etc/passwd').class, 'generated');
  assert.equal(a.summary.unlisted, a.entries.filter((e) => e.type === 'file' && !e.package).length);
  const strictOk = await runAsl(['audit', '--store', store, configure, '--strict']);
  assert.equal(strictOk.code, 0, describeRun(strictOk));
  assert.match(strictOk.stdout, /^ {2}unattributed {6}0 /m);

  // 4. written outside any capture, then a patched package file by a captured step.
  await mkdir(join(root, 'usr/local/sbin'), { recursive: true });
  await writeFile(join(root, 'usr/local/sbin/planted'), 'not recorded\n');
  const patch = await capture('patch', 'printf "extra" >> root/usr/bin/gpgv');
  const b = await auditJson('patch');
  assert.equal(b.target.receipt!.receipt, patch);
  const planted = entry(b, 'usr/local/sbin/planted');
  assert.equal(planted.class, 'unattributed');
  assert.deepEqual(
    [planted.step, planted.unrecorded],
    [null, { afterSeq: 4, afterStep: 'configure', beforeSeq: 5, beforeStep: 'patch' }],
  );
  assert.equal(b.summary.unattributed, 1);
  const gpgv = entry(b, 'usr/bin/gpgv');
  assert.deepEqual([gpgv.class, gpgv.package!.check, gpgv.step!.receipt], ['generated', 'differs', patch]);
  // dpkg --verify agrees on what differs.
  assert.deepEqual(dpkgVerify(root), [{ path: '/usr/bin/gpgv', conffile: false }]);
  assert.deepEqual(
    b.entries.filter((e) => e.package?.check === 'differs').map((e) => e.path),
    ['usr/bin/gpgv'],
  );

  // --strict fails naming both; the human summary lists them.
  const strict = await runAsl(['audit', '--store', store, patch, '--strict']);
  assert.equal(strict.code, 1, describeRun(strict));
  assert.match(
    strict.stderr,
    /^asl: audit --strict: 1 unattributed, 1 differ from their package: .*usr\/bin\/gpgv.*$/m,
  );
  assert.match(strict.stderr, /usr\/local\/sbin\/planted/);
  assert.match(
    strict.stdout,
    /^unattributed {2}usr\/local\/sbin\/planted .* written between #4 configure and #5 patch, outside any capture$/m,
  );
  assert.match(strict.stdout, /^differs {7}usr\/bin\/gpgv /m);
  const strictJson = await runAsl(['audit', '--store', store, patch, '--strict', '--json']);
  assert.equal(strictJson.code, 1);
  assert.deepEqual(JSON.parse(strictJson.stderr.trim().split('\n').pop()!).error.paths.sort(), [
    'usr/bin/gpgv',
    'usr/local/sbin/planted',
  ]);

  // Bad input: one line, exit 2.
  for (const [args, re] of [
    [['audit', '--store', store], /^asl: audit: expected one TREE, RECEIPT or STEP/],
    [
      ['audit', '--store', store, 'nosuchstep'],
      /^asl: nosuchstep: not a tree or receipt id, and no receipt has this step name/,
    ],
    [['audit', '--store', store, 'sha256:abc'], /^asl: sha256:abc: not a tree or receipt id/],
    [['audit', '--store', join(work, 'nostore'), 'patch'], /^asl: .*nostore/],
  ] as const) {
    const r = await runAsl([...args]);
    assert.equal(r.code, 2, describeRun(r));
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  }
});

test('audit of a tree no receipt names: every entry unattributed, already there before any capture', async (t) => {
  const dir = await tempDir(t);
  const store = join(dir, 'store');
  await aslOk(['init', '--store', store]);
  await mkdir(join(dir, 'tree', 'sub'), { recursive: true });
  await writeFile(join(dir, 'tree', 'a'), 'a\n');
  await writeFile(join(dir, 'tree', 'sub', 'b'), 'b\n');
  const tree = (await aslOk(['put', '--store', store, join(dir, 'tree')])).stdout.trim();
  const a = JSON.parse((await aslOk(['audit', '--store', store, tree, '--json'])).stdout) as AuditResult;
  assert.deepEqual(a.target, { tree });
  assert.deepEqual(
    a.entries.map((e) => [e.path, e.class, e.step, e.unrecorded]),
    [
      ['a', 'unattributed', null, { afterSeq: null, beforeSeq: null }],
      ['sub/b', 'unattributed', null, { afterSeq: null, beforeSeq: null }],
    ],
  );
  assert.deepEqual([a.summary.files, a.summary.directories, a.summary.unattributed, a.summary.packages], [2, 1, 2, 0]);
  const strict = await runAsl(['audit', '--store', store, tree, '--strict']);
  assert.equal(strict.code, 1);
  assert.match(
    strict.stdout,
    /^unattributed {2}a {2}file 0644 2 B sha256:[0-9a-f]{12} {2}already there before any capture, recorded by nothing$/m,
  );
  assert.equal(strict.stderr, 'asl: audit --strict: 2 unattributed, 0 differ from their package: a, sub/b\n');
});
