// `asl why` on a real Debian root: the bookworm minbase fixture (debootstrap, cached) is
// copied into a watched directory by a captured step, then one file is altered by a
// second step. The package, version and listed path come from the dpkg database inside
// the stored tree (checked here against dpkg-query on the fixture itself); the .deb is the
// one the capture recorded as downloaded; /usr-merge spellings and dpkg's md5sums apply.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { WhyResult } from '../../src/graph/why.js';
import { bookwormMinbaseRoot } from '../fixtures.js';
import { runAsl } from '../helpers.js';
import { aslOk, describeRun, digestOf, workWithStore } from '../capture/e2e-helpers.js';

const skip = process.getuid?.() !== 0 ? 'needs root (the debootstrap fixture)' : false;

test("why on a Debian root: package, version and .deb from the tree's own dpkg database; /usr-merge; md5sums", {
  skip,
  timeout: 10 * 60_000,
}, async (t) => {
  const fixture = await bookwormMinbaseRoot();
  const { work, store } = await workWithStore(t);
  await mkdir(join(work, 'root'));
  const capture = async (name: string, cmd: string) => {
    const outdir = join(store, 'per', name);
    const r = await runAsl(['--store', store, '--cmd', cmd, '--watch', 'root', '--no-auto-watch', '--outdir', outdir], {
      program: 'asl-capture',
      cwd: work,
    });
    assert.equal(r.code, 0, describeRun(r));
    return digestOf(await readFile(join(outdir, 'per.dsse.json')));
  };
  const install = await capture('install', `cp -a ${fixture}/. root/`);
  const tamper = await capture('tamper', 'printf "extra" >> root/usr/bin/gpgv');
  const why = async (path: string) =>
    JSON.parse((await aslOk(['why', '--store', store, path, '--json'])).stdout) as WhyResult;
  const dpkgVersion = (pkg: string) =>
    execFileSync('dpkg-query', [`--admindir=${join(fixture, 'var', 'lib', 'dpkg')}`, '-W', '-f=${Version}', pkg], {
      encoding: 'utf8',
    });
  const archives = join(fixture, 'var', 'cache', 'apt', 'archives');
  const debFile = async (pkg: string) =>
    join(archives, (await readdir(archives)).find((n) => n.startsWith(`${pkg}_`) && n.endsWith('.deb'))!);

  // usr/bin/apt: package apt, from the copy step, the .deb the copy brought along.
  const apt = await why('usr/bin/apt');
  assert.equal(apt.path, 'usr/bin/apt');
  assert.deepEqual(
    apt.history.map((s) => [s.step, s.kind, s.receipt]),
    [['install', 'added', install]],
  );
  assert.equal(apt.dpkg.database, true);
  assert.equal(apt.dpkg.owners.length, 1);
  const owner = apt.dpkg.owners[0]!;
  assert.equal(owner.package, 'apt');
  assert.equal(owner.version, dpkgVersion('apt'));
  assert.equal(owner.architecture, 'amd64');
  assert.equal(owner.status, 'install ok installed');
  assert.equal(owner.listedAs, '/usr/bin/apt');
  assert.equal(owner.check, 'match');
  assert.equal(owner.md5!.source, 'md5sums');
  assert.equal(owner.deb!.digest, digestOf(await readFile(await debFile('apt'))));
  assert.equal(owner.deb!.name, `package:apt_${dpkgVersion('apt')}_amd64`);
  assert.deepEqual([owner.deb!.step, owner.deb!.receipt, owner.deb!.seq], ['install', install, 1]);
  const text = (await aslOk(['why', '--store', store, 'usr/bin/apt'])).stdout;
  assert.match(
    text,
    new RegExp(
      `^package {3}apt ${dpkgVersion('apt').replace(/[.+]/g, '\\$&')} amd64 \\(dpkg lists /usr/bin/apt; bytes match its md5sums\\)$`,
      'm',
    ),
  );
  assert.match(text, /^ {10}downloaded by #1 install \(receipt sha256:[0-9a-f]{12}\)$/m);

  // /usr-merge: bash lists /bin/bash; /bin is a symlink to usr/bin in the tree.
  for (const query of ['bin/bash', '/usr/bin/bash']) {
    const bash = await why(query);
    assert.equal(bash.path, 'usr/bin/bash', query);
    assert.deepEqual(bash.followed, query === 'bin/bash' ? [{ at: 'bin', target: 'usr/bin' }] : []);
    assert.deepEqual(
      bash.dpkg.owners.map((o) => [o.package, o.listedAs, o.check, o.version]),
      [['bash', '/bin/bash', 'match', dpkgVersion('bash')]],
      query,
    );
    assert.equal(bash.dpkg.owners[0]!.deb!.digest, digestOf(await readFile(await debFile('bash'))));
  }

  // A file changed after installation: the second step, and dpkg's md5 no longer matches.
  const gpgv = await why('usr/bin/gpgv');
  assert.deepEqual(
    gpgv.history.map((s) => [s.step, s.kind, s.fields]),
    [
      ['install', 'added', []],
      ['tamper', 'modified', ['content']],
    ],
  );
  assert.equal(gpgv.history[1]!.receipt, tamper);
  assert.equal(gpgv.contentBy, 1);
  assert.equal(gpgv.dpkg.owners[0]!.package, 'gpgv');
  assert.equal(gpgv.dpkg.owners[0]!.check, 'differs');
  assert.match((await aslOk(['why', '--store', store, 'usr/bin/gpgv'])).stdout, /BYTES DIFFER from its md5sums/);

  // A conffile is checked against the status file's Conffiles md5.
  const conf = await why('etc/debian_version');
  assert.deepEqual(
    conf.dpkg.owners.map((o) => [o.package, o.check, o.md5?.source]),
    [['base-files', 'match', 'conffiles']],
  );
  // A symlink owned by a package; a file no package lists (written by a maintainer script).
  const sh = await why('bin/sh');
  assert.deepEqual(
    [sh.path, sh.entry.type, sh.resolvesTo, sh.dpkg.owners.map((o) => [o.package, o.listedAs, o.check])],
    ['usr/bin/sh', 'symlink', 'usr/bin/dash', [['dash', '/bin/sh', 'not-a-file']]],
  );
  const passwd = await why('etc/passwd');
  assert.deepEqual(passwd.dpkg, { database: true, owners: [] });
  // A directory is listed by many packages.
  const usrBin = await why('usr/bin');
  assert.ok(usrBin.dpkg.owners.length > 10, `${usrBin.dpkg.owners.length} owners of usr/bin`);
});
