// The "Done when", for real: the seed's own lines (DESIGN.md), run by bash against a
// fresh store in a temp WORKDIR — debootstrap of a bookworm minbase from the host's mirror,
// apt-get install in the chroot, the overlay --file loop, the build step with
// --artifact-inputs — then the receipts are checked to link by content, list every
// downloaded package and program, and `asl verify` passes. Slow: about 1–2 minutes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { debianMirror, ensureDebianPackages } from '../fixtures.js';
import { REPO_ROOT, mountingTempDir, runBashLogged } from '../helpers.js';
import {
  aslCat,
  aslOk,
  assertWellFormedReceipt,
  digestOf,
  logJson,
  only,
  readOutdir,
  type Core,
  type Outdir,
} from './e2e-helpers.js';

/** The seed's lines as DESIGN.md writes them; only the suite (bookworm) and --variant=minbase are chosen here. */
const WORKFLOW = `#!/bin/bash
set -euo pipefail
set -x
mkdir -p $PRESTORE/{binaries,scripts,per}
asl-init-store --store $PRESTORE
asl-capture --store $PRESTORE --cmd "debootstrap --variant=minbase --arch=amd64 bookworm $ISO_ROOT $MIRROR" --outdir $PRESTORE/per/debootstrap
asl-capture --store $PRESTORE --cmd "chroot $ISO_ROOT /bin/bash -c 'apt-get update && apt-get install -y hello'" --outdir $PRESTORE/per/apt_install
cp -a $WORKDIR/binaries/. $PRESTORE/binaries/
cp -a $WORKDIR/scripts/. $PRESTORE/scripts/
for f in $WORKDIR/binaries/* $WORKDIR/scripts/*; do
asl-capture --store $PRESTORE --file $f --outdir $PRESTORE/per/overlay
done
cd $WORKDIR
cp $WORKDIR/scripts/build_asl_auth_host_iso.sh ./build_asl_auth_host_iso.sh
asl-capture --store $PRESTORE --cmd "./build_asl_auth_host_iso.sh" --artifact-inputs $PRESTORE/binaries --artifact-inputs $PRESTORE/scripts --artifact-inputs $PRESTORE/per --input $ISO_ROOT --watch $WORKDIR/out --outdir $PRESTORE/per/build_iso
asl verify --store $PRESTORE
`;

const HELLO_BINARY = '#!/bin/sh\necho "ASL-AUTH-HOST: this host carries its own build history"\n';

const sha256File = async (path: string) => digestOf(await readFile(path));

test('the seed workflow: debootstrap -> apt_install -> overlay -> build, linked by content, every package and program listed, verify passes', {
  timeout: 15 * 60_000,
}, async (t) => {
  await ensureDebianPackages('debootstrap');
  const WORKDIR = await mountingTempDir(t, 'asl-e2e-seed-');
  const ISO_ROOT = join(WORKDIR, 'iso_root');
  const PRESTORE = join(WORKDIR, 'asl-preimage-store');
  const MIRROR = debianMirror();
  await mkdir(join(WORKDIR, 'binaries'));
  await mkdir(join(WORKDIR, 'scripts'));
  await writeFile(join(WORKDIR, 'binaries', 'asl-hello'), HELLO_BINARY);
  await chmod(join(WORKDIR, 'binaries', 'asl-hello'), 0o755);
  await copyFile(
    join(REPO_ROOT, 'examples', 'seed-workflow', 'build_asl_auth_host_iso.sh'),
    join(WORKDIR, 'scripts', 'build_asl_auth_host_iso.sh'),
  );
  await chmod(join(WORKDIR, 'scripts', 'build_asl_auth_host_iso.sh'), 0o755);
  const script = join(WORKDIR, 'asl-workflow.sh');
  await writeFile(script, WORKFLOW);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: `${join(REPO_ROOT, 'bin')}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`,
    WORKDIR,
    ISO_ROOT,
    PRESTORE,
    MIRROR,
    DEBIAN_FRONTEND: 'noninteractive',
    SOURCE_DATE_EPOCH: '1700000000',
  };
  const t0 = Date.now();
  const run = await runBashLogged(script, env, join(WORKDIR, 'workflow.log'));
  t.diagnostic(`workflow ran in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  if (run.code !== 0) {
    // debootstrap's "I: ..." progress would drown the reason: keep the script's own lines and the end.
    const kept = join(tmpdir(), `asl-e2e-seed-failed-${process.pid}.log`);
    await writeFile(kept, run.output);
    const lines = [`(full output kept in ${kept})`, ...run.output.split('\n')];
    const shown = [...lines.filter((l) => !l.startsWith('I: ')).slice(-60), '...', ...lines.slice(-15)];
    assert.fail(`the seed workflow exited ${run.code}:\n${shown.join('\n')}`);
  }
  assert.match(run.output, /^OK: .* 5 receipts, 5 log entries$/m, 'asl verify passed');

  // The five receipts, from their outdirs, in log order.
  const per = join(PRESTORE, 'per');
  const deb = await readOutdir(join(per, 'debootstrap'));
  const apt = await readOutdir(join(per, 'apt_install'));
  const ovHello = await readOutdir(join(per, 'overlay'), 'asl-hello.');
  const ovBuild = await readOutdir(join(per, 'overlay'), 'build_asl_auth_host_iso.sh.');
  const build = await readOutdir(join(per, 'build_iso'));
  const all: Outdir[] = [deb, apt, ovHello, ovBuild, build];
  for (const o of all) await assertWellFormedReceipt(PRESTORE, o);
  assert.deepEqual(
    (await logJson(PRESTORE)).map((i) => [i.seq, i.step, i.receipt, i.ok]),
    [
      [1, 'debootstrap', deb.id, true],
      [2, 'apt_install', apt.id, true],
      [3, 'overlay', ovHello.id, true],
      [4, 'overlay', ovBuild.id, true],
      [5, 'build_iso', build.id, true],
    ],
  );
  const d: Core = deb.statement.predicate.core;
  const a: Core = apt.statement.predicate.core;
  const b: Core = build.statement.predicate.core;

  // --- debootstrap: the root it created is its output; a small receipt however big the tree.
  assert.deepEqual(d.exit, { kind: 'exited', code: 0 });
  const dRoot = only(d.watched!, (w) => w.path === ISO_ROOT, 'debootstrap watched ISO_ROOT');
  assert.equal(dRoot.before, null, 'ISO_ROOT did not exist before debootstrap');
  assert.ok(dRoot.added > 5000, `a minbase root has thousands of paths: ${dRoot.added}`);
  const T1 = dRoot.after!;
  assert.equal(
    only(d.outputs, (o) => o.role === 'watched' && o.path === ISO_ROOT, 'debootstrap output root').digest,
    T1,
  );
  assert.ok(
    deb.envelopeBytes.length < 64 * 1024,
    `debootstrap's per.dsse.json is ${deb.envelopeBytes.length} bytes, over 64 KB`,
  );
  t.diagnostic(`debootstrap per.dsse.json: ${deb.envelopeBytes.length} bytes, ${d.inputs.length} inputs`);
  const debPackages = d.inputs.filter((i) => i.role === 'downloaded');
  const debNames = new Set(debPackages.map((i) => i.package!.name));
  for (const name of ['dpkg', 'base-files', 'libc6', 'apt', 'bash', 'coreutils'])
    assert.ok(debNames.has(name), `debootstrap lists ${name}`);
  for (const p of debPackages) {
    assert.equal(p.kind, 'package');
    assert.match(p.path!, new RegExp(`^${ISO_ROOT}/var/cache/apt/archives/[^/]+\\.deb$`));
    assert.ok(p.package!.version && ['amd64', 'all'].includes(p.package!.architecture!), JSON.stringify(p));
    // The digest is the .deb in the root as debootstrap left it (its tree entry).
    const rel = p.path!.slice(ISO_ROOT.length + 1);
    assert.equal(digestOf(await aslCat(PRESTORE, `${T1}:${rel}`)), p.digest, rel);
  }
  const debootstrap = only(d.program!, (p) => p.path === '/usr/sbin/debootstrap', 'program /usr/sbin/debootstrap');
  assert.equal(debootstrap.package, 'debootstrap');
  assert.equal(
    debootstrap.version,
    execFileSync('dpkg-query', ['-W', '-f=${Version}', 'debootstrap'], { encoding: 'utf8' }),
  );
  assert.equal(debootstrap.digest, await sha256File('/usr/sbin/debootstrap'));

  // --- apt_install: its before-input is debootstrap's output, by content.
  assert.deepEqual(a.exit, { kind: 'exited', code: 0 });
  const aRoot = only(a.watched!, (w) => w.path === ISO_ROOT, 'apt_install watched ISO_ROOT');
  assert.equal(aRoot.before, T1, "lineage: debootstrap's output tree is apt_install's input tree");
  assert.equal(only(a.inputs, (i) => i.role === 'watched' && i.path === ISO_ROOT, 'apt_install input root').digest, T1);
  const T2 = aRoot.after!;
  assert.notEqual(T2, T1);
  assert.ok(aRoot.added > 0);
  assert.equal(
    only(a.outputs, (o) => o.role === 'watched' && o.path === ISO_ROOT, 'apt_install output root').digest,
    T2,
  );
  const archives = join(ISO_ROOT, 'var', 'cache', 'apt', 'archives');
  const helloFile = only(
    (await readdir(archives)).filter((n) => n.endsWith('.deb')),
    (n) => n.startsWith('hello_'),
    'hello .deb in the archives',
  );
  const hello = only(a.inputs, (i) => i.role === 'downloaded' && i.package?.name === 'hello', 'downloaded hello');
  assert.equal(hello.kind, 'package');
  assert.equal(hello.path, join(archives, helloFile));
  assert.equal(hello.digest, await sha256File(join(archives, helloFile)), "hello's digest is the sha256 of the .deb");
  const field = (f: string) =>
    execFileSync('dpkg-deb', ['-f', join(archives, helloFile), f], { encoding: 'utf8' }).trim();
  assert.deepEqual(hello.package, { name: 'hello', version: field('Version'), architecture: field('Architecture') });
  // Every .deb that is in the archives now and was not after debootstrap is listed, and nothing else.
  const before = new Set(debPackages.map((p) => p.digest));
  const nowDebs = await Promise.all(
    (await readdir(archives)).filter((n) => n.endsWith('.deb')).map((n) => sha256File(join(archives, n))),
  );
  assert.deepEqual(
    a.inputs
      .filter((i) => i.role === 'downloaded')
      .map((i) => i.digest)
      .sort(),
    nowDebs.filter((x) => !before.has(x)).sort(),
    'apt_install lists every .deb it downloaded',
  );
  // Programs: chroot on the host, bash and apt-get inside the root, from the root's own dpkg database.
  const chroot = only(a.program!, (p) => p.path === '/usr/sbin/chroot' && !p.root, 'program /usr/sbin/chroot');
  assert.equal(chroot.package, 'coreutils');
  const bash = only(
    a.program!,
    (p) => p.path.endsWith('/bin/bash') && p.root === ISO_ROOT,
    'program /bin/bash inside ISO_ROOT',
  );
  assert.equal(
    bash.digest,
    await sha256File(join(ISO_ROOT, 'usr', 'bin', 'bash')),
    "the chroot's bash, not the host's",
  );
  assert.equal(bash.package, 'bash');
  const rootDpkg = (pkg: string) =>
    execFileSync('dpkg-query', [`--admindir=${join(ISO_ROOT, 'var', 'lib', 'dpkg')}`, '-W', '-f=${Version}', pkg], {
      encoding: 'utf8',
    });
  assert.equal(bash.version, rootDpkg('bash'));
  const aptGet = only(
    a.program!,
    (p) => p.path.endsWith('/bin/apt-get') && p.root === ISO_ROOT,
    'program apt-get inside ISO_ROOT',
  );
  assert.equal(aptGet.package, 'apt');
  assert.equal(aptGet.version, rootDpkg('apt'));

  // --- overlay: one ingest receipt per file, its digest the file's.
  for (const [o, path] of [
    [ovHello, join(WORKDIR, 'binaries', 'asl-hello')],
    [ovBuild, join(WORKDIR, 'scripts', 'build_asl_auth_host_iso.sh')],
  ] as const) {
    const c = o.statement.predicate.core;
    assert.equal(c.kind, 'ingest');
    assert.deepEqual(c.source, { path, type: 'file', mode: 0o755 });
    assert.equal(only(c.outputs, (x) => x.role === 'source', 'ingest output').digest, await sha256File(path));
  }

  // --- build: its input root is apt_install's output, and it names the four earlier receipts.
  assert.deepEqual(b.exit, { kind: 'exited', code: 0 });
  assert.equal(
    only(b.inputs, (i) => i.role === 'declared' && i.path === ISO_ROOT, 'build input root').digest,
    T2,
    "lineage: apt_install's output tree is the build's input tree",
  );
  assert.deepEqual(
    b.inputs
      .filter((i) => i.kind === 'receipt')
      .map((i) => i.digest)
      .sort(),
    [deb.id, apt.id, ovHello.id, ovBuild.id].sort(),
    'the build lists the four earlier receipts as inputs',
  );
  const binaries = only(b.inputs, (i) => i.path === join(PRESTORE, 'binaries'), 'build input binaries/');
  assert.equal(
    digestOf(await aslCat(PRESTORE, `${binaries.digest}:asl-hello`)),
    only(ovHello.statement.predicate.core.outputs, (x) => x.role === 'source', 'overlay output').digest,
    "lineage: the overlay artifact is in the build's binaries input",
  );
  // The image is the build's output artifact; its sha256 is the one the build script wrote.
  const out = only(b.watched!, (w) => w.path === join(WORKDIR, 'out'), 'build watched out/');
  const tarSum = (await readFile(join(WORKDIR, 'out', 'asl-auth-host-root.tar.sha256'), 'utf8')).split(' ')[0];
  const listing = JSON.parse((await aslOk(['ls', '--store', PRESTORE, out.after!, '--json'])).stdout) as Array<{
    name: string;
    size: number;
    digest: string;
  }>;
  const tar = only(listing, (e) => e.name === 'asl-auth-host-root.tar', "the image in the build's output tree");
  assert.ok(tar.size > 100 * 1024 * 1024, `image size ${tar.size}`);
  assert.equal(tar.digest, `sha256:${tarSum}`, 'the stored image is the one the build wrote');

  // The store verifies (again, after everything above read it).
  const v = await aslOk(['verify', '--store', PRESTORE]);
  assert.match(v.stdout, /^OK: .* 5 receipts, 5 log entries$/m);
});
