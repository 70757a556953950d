// Complete by default: what a step writes is recorded without flags. The seed's own build
// line (only --artifact-inputs and --outdir) names the ISO it makes, by digest; a .deb a
// step builds is a product, never a download, while one in apt's archive cache is a
// download; --trace records packaged reads as their package, not as copies of the
// toolchain; a capture that recorded nothing but its logs says so.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ensureDebianPackages } from '../fixtures.js';
import { REPO_ROOT, runAsl } from '../helpers.js';
import {
  aslCat,
  assertWellFormedReceipt,
  aslOk,
  describeRun,
  digestOf,
  only,
  readOutdir,
  workWithStore,
} from './e2e-helpers.js';

before(async () => {
  await ensureDebianPackages('xorriso', 'dpkg-dev', 'build-essential', 'strace');
});

/** A Debian source package without debhelper: `dpkg-buildpackage -b` puts the .deb beside the source tree. */
async function helloSource(dir: string): Promise<string> {
  const src = join(dir, 'asl-hello-1.0');
  await mkdir(join(src, 'debian', 'source'), { recursive: true });
  await writeFile(join(src, 'hello.c'), '#include <stdio.h>\nint main(void) { puts("hello from asl"); return 0; }\n');
  await writeFile(
    join(src, 'debian', 'control'),
    [
      'Source: asl-hello',
      'Section: misc',
      'Priority: optional',
      'Maintainer: ASL Tests <asl@example.org>',
      'Standards-Version: 4.6.2',
      '',
      'Package: asl-hello',
      'Architecture: any',
      'Description: greeting built by an ASL test',
      ' A one-file C program packaged without debhelper.',
      '',
    ].join('\n'),
  );
  await writeFile(
    join(src, 'debian', 'changelog'),
    'asl-hello (1.0) unstable; urgency=low\n\n  * Built by an ASL test.\n\n -- ASL Tests <asl@example.org>  Thu, 01 Jan 2026 00:00:00 +0000\n',
  );
  await writeFile(join(src, 'debian', 'source', 'format'), '3.0 (native)\n');
  await writeFile(
    join(src, 'debian', 'rules'),
    [
      '#!/usr/bin/make -f',
      'build build-arch build-indep:',
      '\tgcc -O2 -o hello hello.c',
      'clean:',
      '\trm -rf hello debian/tmp debian/files',
      'binary-indep:',
      'binary-arch: build',
      '\tinstall -D -m 0755 hello debian/tmp/usr/bin/asl-hello',
      '\tmkdir -p debian/tmp/DEBIAN',
      '\tdpkg-gencontrol -pasl-hello -Pdebian/tmp',
      '\tdpkg-deb --root-owner-group --build debian/tmp ..',
      'binary: binary-arch',
      '.PHONY: build build-arch build-indep clean binary binary-arch binary-indep',
      '',
    ].join('\n'),
  );
  await chmod(join(src, 'debian', 'rules'), 0o755);
  return src;
}

const hostArch = () => execFileSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).trim();

test("the seed's build line, literally: the ISO the script writes is an output by digest, the image root it reads an input", async (t) => {
  const { work, store } = await workWithStore(t);
  for (const d of ['binaries', 'scripts', 'per']) await mkdir(join(store, d), { recursive: true });
  await writeFile(join(store, 'binaries', 'tool'), 'a binary of the overlay\n');
  await mkdir(join(work, 'iso_root', 'etc'), { recursive: true });
  await writeFile(join(work, 'iso_root', 'etc', 'hostname'), 'asl-auth-host\n');
  await writeFile(
    join(work, 'build_asl_auth_host_iso.sh'),
    [
      '#!/bin/sh',
      'set -e',
      'mkdir -p out',
      'xorriso -as mkisofs -quiet -V ASL_TEST -o out/asl-auth-host.iso iso_root',
      '(cd out && sha256sum asl-auth-host.iso > asl-auth-host.iso.sha256)',
      '',
    ].join('\n'),
  );
  await chmod(join(work, 'build_asl_auth_host_iso.sh'), 0o755);
  const PRESTORE = store;
  // Exactly the seed's words: no --watch, no --input, no --output.
  const r = await runAsl(
    [
      '--store',
      PRESTORE,
      '--cmd',
      './build_asl_auth_host_iso.sh',
      '--artifact-inputs',
      `${PRESTORE}/binaries`,
      '--artifact-inputs',
      `${PRESTORE}/scripts`,
      '--artifact-inputs',
      `${PRESTORE}/per`,
      '--outdir',
      `${PRESTORE}/per/build_iso`,
    ],
    { program: 'asl-capture', cwd: work },
  );
  assert.equal(r.code, 0, describeRun(r));
  assert.ok(!r.stderr.includes('recorded no output'), r.stderr);
  const { core } = (await assertWellFormedReceipt(store, await readOutdir(join(store, 'per', 'build_iso')))).predicate;

  const isoPath = join(work, 'out', 'asl-auth-host.iso');
  const isoBytes = await readFile(isoPath);
  const iso = only(core.outputs, (o) => o.path === isoPath, 'the ISO among the outputs');
  assert.deepEqual(
    [iso.role, iso.kind, iso.digest, iso.size],
    ['product', 'blob', digestOf(isoBytes), isoBytes.length],
  );
  const sum = only(core.outputs, (o) => o.path === `${isoPath}.sha256`, 'the ISO checksum file');
  assert.equal(sum.digest, digestOf(await readFile(`${isoPath}.sha256`)));
  assert.ok((await aslCat(store, iso.digest)).equals(isoBytes), "the ISO's bytes are in the store");

  // The working directory is the watched root: before = input (the image root in it), after = output.
  const w = only(core.watched!, (x) => x.reason === 'cwd', 'the working directory root');
  assert.equal(w.path, work);
  const beforeRoot = only(core.inputs, (i) => i.name === `before:${work}`, 'the working directory before');
  assert.equal((await aslCat(store, `${beforeRoot.digest}:iso_root/etc/hostname`)).toString(), 'asl-auth-host\n');
  assert.equal((await aslCat(store, `${w.after}:out/asl-auth-host.iso`)).length, isoBytes.length);
  // The store (and the outdir in it) is left out of the working directory's trees.
  assert.equal((await runAsl(['cat', '--store', store, `${w.after}:store/binaries/tool`])).code, 2);
});

test("dpkg-buildpackage: the .deb it builds is an output of kind package with its name and version, never a downloaded input; the same file in apt's archive cache is a download", {
  timeout: 120_000,
}, async (t) => {
  const { work, store } = await workWithStore(t);
  const src = await helloSource(join(work, 'src'));
  const r = await runAsl(
    ['capture', '--store', store, '--cmd', 'dpkg-buildpackage -b -uc -us', '--outdir', join(store, 'per', 'build')],
    { cwd: src },
  );
  assert.equal(r.code, 0, describeRun(r));
  const build = await readOutdir(join(store, 'per', 'build'));
  const { core } = (await assertWellFormedReceipt(store, build)).predicate;
  const debPath = join(work, 'src', `asl-hello_1.0_${hostArch()}.deb`);
  const debBytes = await readFile(debPath);

  // dpkg-buildpackage writes beside the source tree: the parent of the working directory is watched.
  assert.deepEqual(
    core.watched!.map((w) => [w.path, w.reason]),
    [[join(work, 'src'), 'cwd']],
  );
  const deb = only(core.outputs, (o) => o.path === debPath, 'the built .deb');
  assert.deepEqual(
    [deb.role, deb.kind, deb.digest, deb.size, deb.package],
    [
      'product',
      'package',
      digestOf(debBytes),
      debBytes.length,
      { name: 'asl-hello', version: '1.0', architecture: hostArch() },
    ],
  );
  assert.ok(
    !core.inputs.some((i) => i.role === 'downloaded'),
    `nothing was downloaded: ${core.inputs.map((i) => `${i.role} ${i.name}`).join(', ')}`,
  );
  for (const f of [`asl-hello_1.0_${hostArch()}.changes`, `asl-hello_1.0_${hostArch()}.buildinfo`]) {
    const o = only(core.outputs, (x) => x.path === join(work, 'src', f), f);
    assert.equal(o.digest, digestOf(await readFile(join(work, 'src', f))));
  }

  // SLSA: the product is a subject, never a resolved dependency.
  const outDir = join(work, 'slsa');
  await aslOk(['export', '--store', store, '--format', 'slsa', '-o', outDir, build.id]);
  const env = JSON.parse(await readFile(join(outDir, `build.${build.id.slice(7, 19)}.slsa.dsse.json`), 'utf8')) as {
    payload: string;
  };
  const slsa = JSON.parse(Buffer.from(env.payload, 'base64').toString('utf8')) as {
    subject: Array<{ name: string; digest: { sha256: string } }>;
    predicate: { buildDefinition: { resolvedDependencies: Array<{ name?: string; digest?: { sha256: string } }> } };
  };
  const hex = digestOf(debBytes).slice(7);
  assert.ok(
    slsa.subject.some((s) => s.digest.sha256 === hex && s.name === debPath),
    'the .deb is a subject',
  );
  assert.ok(
    !slsa.predicate.buildDefinition.resolvedDependencies.some((d) => d.digest?.sha256 === hex),
    'the .deb is no dependency',
  );

  // The same bytes appearing in an archive cache (as apt and debootstrap fetch them): downloaded.
  const root = join(work, 'root');
  await mkdir(join(root, 'var', 'cache', 'apt', 'archives'), { recursive: true });
  await copyFile(debPath, join(work, 'fetched.deb'));
  const r2 = await runAsl(
    [
      'capture',
      '--store',
      store,
      '--cmd',
      `cp ${join(work, 'fetched.deb')} ${root}/var/cache/apt/archives/asl-hello_1.0_${hostArch()}.deb`,
      '--watch',
      root,
      '--outdir',
      join(store, 'per', 'fetch'),
    ],
    { cwd: work },
  );
  assert.equal(r2.code, 0, describeRun(r2));
  const fetch = (await readOutdir(join(store, 'per', 'fetch'))).statement.predicate.core;
  const got = only(fetch.inputs, (i) => i.role === 'downloaded', 'the downloaded package');
  assert.deepEqual(
    [got.kind, got.digest, got.name],
    ['package', digestOf(debBytes), `package:asl-hello_1.0_${hostArch()}`],
  );
  assert.ok(!fetch.outputs.some((o) => o.kind === 'package'), 'a download is no product');
});

test("--trace: packaged reads are recorded as their package with each file's sha256, bytes not copied; dpkg's database is summed up; --keep-observed keeps the bytes", {
  timeout: 120_000,
}, async (t) => {
  const { work, store } = await workWithStore(t);
  const src = await helloSource(join(work, 'src'));
  const r = await runAsl(
    [
      'capture',
      '--store',
      store,
      '--cmd',
      'dpkg-buildpackage -b -uc -us',
      '--trace',
      '--outdir',
      join(store, 'per', 'traced'),
    ],
    { cwd: src },
  );
  assert.equal(r.code, 0, describeRun(r));
  assert.match(r.stderr, /trace: \d+ files read outside the watched roots: \d+ from \d+ packages/);
  const { core } = (await assertWellFormedReceipt(store, await readOutdir(join(store, 'per', 'traced')))).predicate;
  assert.equal(core.traced, true);

  // gcc's driver, as dpkg knows it on this machine.
  const gccReal = execFileSync('readlink', ['-f', '/usr/bin/gcc'], { encoding: 'utf8' }).trim();
  const owner = execFileSync('dpkg-query', ['-S', gccReal], { encoding: 'utf8' }).split(':')[0]!;
  const version = execFileSync('dpkg-query', ['-W', '-f', '${Version} ${Architecture}', owner], {
    encoding: 'utf8',
  }).split(' ');
  const pkg = only(
    core.inputs,
    (i) => i.role === 'observed' && i.package?.name === owner,
    `the observed package ${owner}`,
  );
  assert.deepEqual([pkg.kind, pkg.package], ['paths', { name: owner, version: version[0], architecture: version[1] }]);
  const files = (await aslCat(store, pkg.digest))
    .toString('utf8')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as { path: string; digest: string; size: number });
  const gcc = only(files, (f) => f.path === gccReal, "gcc in its package's list");
  const gccBytes = await readFile(gccReal);
  assert.deepEqual([gcc.digest, gcc.size], [digestOf(gccBytes), gccBytes.length]);
  assert.equal(
    (await runAsl(['cat', '--store', store, gcc.digest])).code,
    2,
    "a packaged file's bytes are not copied into the store",
  );
  assert.ok(
    !core.inputs.some((i) => i.role === 'observed' && i.path === gccReal),
    'no observed blob for a packaged file',
  );

  // dpkg's database: one input for all of it.
  const db = only(core.inputs, (i) => i.name === 'observed-dpkg-database:/var/lib/dpkg', 'dpkg database reads');
  assert.equal(db.kind, 'paths');
  const dbFiles = (await aslCat(store, db.digest))
    .toString('utf8')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as { path: string });
  assert.ok(dbFiles.length >= 1 && dbFiles.every((f) => f.path.startsWith('/var/lib/dpkg/')), JSON.stringify(dbFiles));
  assert.ok(
    !core.inputs.some((i) => i.role === 'observed' && i.kind === 'blob' && i.path!.startsWith('/var/lib/dpkg/')),
  );
  // What is left one by one is what no package vouches for, few files.
  const blobs = core.inputs.filter((i) => i.role === 'observed' && i.kind === 'blob');
  assert.ok(blobs.length < 20, blobs.map((b) => b.path).join(', '));

  // --keep-observed: every read file is an observed blob with its bytes, as before.
  const r2 = await runAsl(
    [
      'capture',
      '--store',
      store,
      '--cmd',
      'dpkg-buildpackage -b -uc -us',
      '--trace',
      '--keep-observed',
      '--outdir',
      join(store, 'per', 'kept'),
    ],
    { cwd: src },
  );
  assert.equal(r2.code, 0, describeRun(r2));
  const kept = (await readOutdir(join(store, 'per', 'kept'))).statement.predicate.core;
  const keptGcc = only(kept.inputs, (i) => i.role === 'observed' && i.path === gccReal, 'gcc as an observed blob');
  assert.equal(keptGcc.digest, digestOf(gccBytes));
  assert.ok((await aslCat(store, keptGcc.digest)).equals(gccBytes));
  assert.ok(!kept.inputs.some((i) => i.kind === 'paths' && i.role === 'observed'));
  await aslOk(['verify', '--store', store]);
});

test('a capture that records no output besides its logs says so, naming what it watched', async (t) => {
  const { work, store } = await workWithStore(t);
  const r = await runAsl(['capture', '--store', store, '--cmd', 'true', '--outdir', join(store, 'per', 'nothing')], {
    cwd: work,
  });
  assert.equal(r.code, 0, describeRun(r));
  assert.match(
    r.stderr,
    new RegExp(`warning: step nothing recorded no output besides its logs \\(nothing changed in ${work}\\)`),
  );
  const sys = await runAsl(
    ['capture', '--store', store, '--cmd', 'echo x > /dev/null', '--outdir', join(store, 'per', 'sys')],
    { cwd: '/' },
  );
  assert.equal(sys.code, 0, describeRun(sys));
  assert.match(
    sys.stderr,
    /warning: step sys recorded no output besides its logs \(no path was watched; the working directory is a system directory and is not watched\)/,
  );
  const wrote = await runAsl(
    ['capture', '--store', store, '--cmd', 'echo x > made.txt', '--outdir', join(store, 'per', 'wrote')],
    { cwd: work },
  );
  assert.equal(wrote.code, 0, describeRun(wrote));
  assert.ok(!wrote.stderr.includes('recorded no output'), wrote.stderr);
});

test("asl's own output file in the working directory (`asl-capture … > build.log`) is not part of its trees; the home directory is never watched", async (t) => {
  const { work, store } = await workWithStore(t);
  const log = join(work, 'build.log');
  execFileSync(
    '/bin/sh',
    [
      '-c',
      `${JSON.stringify(process.execPath)} ${JSON.stringify(join(REPO_ROOT, 'bin', 'asl'))} capture --store ${store} --cmd 'echo made > made.txt; echo to-the-log' --outdir ${store}/per/logged > ${log} 2>&1`,
    ],
    { cwd: work },
  );
  assert.match(await readFile(log, 'utf8'), /to-the-log/);
  const core = (await readOutdir(join(store, 'per', 'logged'))).statement.predicate.core;
  const w = only(core.watched!, (x) => x.reason === 'cwd', 'the working directory');
  assert.equal(
    (await runAsl(['cat', '--store', store, `${w.before}:build.log`])).code,
    2,
    'the log asl writes is not in the before-tree',
  );
  assert.equal((await runAsl(['cat', '--store', store, `${w.after}:build.log`])).code, 2, 'nor in the after-tree');
  assert.deepEqual([w.added, w.modified, w.removed], [1, 0, 0], 'made.txt only');
  const made = only(core.watched!, (x) => x.path === join(work, 'made.txt'), 'made.txt, named on the command line');
  assert.equal(made.after, digestOf('made\n'));
  assert.ok(!core.outputs.some((o) => o.path === log));

  const home = await runAsl(['capture', '--store', store, '--cmd', 'true', '--outdir', join(store, 'per', 'home')], {
    cwd: work,
    env: { ...process.env, HOME: work },
  });
  assert.equal(home.code, 0, describeRun(home));
  assert.match(home.stderr, /the working directory is \(or holds\) the home directory and is not watched/);
  assert.deepEqual((await readOutdir(join(store, 'per', 'home'))).statement.predicate.core.watched, []);
});
