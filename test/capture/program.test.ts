import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdir, readFile, realpath, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { splitCommand } from '../../src/capture/command-words.js';
import { DpkgLookup } from '../../src/capture/dpkg.js';
import { identifyPrograms, resolveInRoot, resolveProgram } from '../../src/capture/program.js';
import { tempDir } from '../helpers.js';

async function sha256(path: string): Promise<string> {
  return `sha256:${createHash('sha256')
    .update(await readFile(path))
    .digest('hex')}`;
}

function dpkgVersion(pkg: string, admindir?: string): string {
  const args = [...(admindir ? [`--admindir=${admindir}`] : []), '-W', '-f', '${Version}', pkg];
  return execFileSync('dpkg-query', args, { encoding: 'utf8' });
}

/** A tiny root: merged /usr, a dpkg database, an alternatives-style absolute symlink, an escape attempt. */
async function fakeRoot(dir: string): Promise<string> {
  const root = join(dir, 'root');
  await mkdir(join(root, 'usr/bin'), { recursive: true });
  await mkdir(join(root, 'etc/alternatives'), { recursive: true });
  await mkdir(join(root, 'var/lib/dpkg/info'), { recursive: true });
  await symlink('usr/bin', join(root, 'bin'));
  await writeFile(join(root, 'usr/bin/real'), '#!/bin/sh\necho real\n');
  await chmod(join(root, 'usr/bin/real'), 0o755);
  await symlink('/etc/alternatives/alt', join(root, 'usr/bin/alt'));
  await symlink('/usr/bin/real', join(root, 'etc/alternatives/alt'));
  await symlink('../../../../../../../../etc/passwd', join(root, 'usr/bin/escape'));
  await writeFile(join(root, 'etc/passwd'), 'root-of-the-chroot\n');
  await writeFile(
    join(root, 'var/lib/dpkg/status'),
    [
      'Package: fakepkg',
      'Status: install ok installed',
      'Architecture: amd64',
      'Version: 1:1.2-3',
      'Maintainer: x <x@example.org>',
      'Description: fake',
      '',
      '',
    ].join('\n'),
  );
  // dpkg lists the pre-merge path, as bookworm's database does
  await writeFile(join(root, 'var/lib/dpkg/info/fakepkg.list'), '/.\n/bin\n/bin/real\n');
  return root;
}

test('host programs: PATH lookup, symlinks followed, sha256, Debian package and version from dpkg', async () => {
  const line = splitCommand('chroot /nonexistent true; sh -c "cat /etc/hostname"');
  const ids = await identifyPrograms(line.programs, {
    cwd: '/',
    env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' },
  });
  const chroot = ids.find((p) => p.word === 'chroot')!;
  assert.equal(chroot.path, '/usr/sbin/chroot');
  assert.equal(chroot.hostPath, await realpath('/usr/sbin/chroot'));
  assert.equal(chroot.digest, await sha256('/usr/sbin/chroot'));
  assert.deepEqual(chroot.package, { name: 'coreutils', version: dpkgVersion('coreutils'), architecture: 'amd64' });

  const sh = ids.find((p) => p.word === 'sh')!;
  assert.equal(sh.path, '/usr/bin/sh');
  assert.equal(sh.realPath, await realpath('/usr/bin/sh'));
  assert.equal(sh.package?.name, 'dash', 'found through the /usr-merge alias /bin/dash');
  assert.equal(sh.package?.version, dpkgVersion('dash'));

  const cat = ids.find((p) => p.word === 'cat')!;
  assert.equal(cat.package?.name, 'coreutils');
  assert.equal(cat.root, null);

  const inner = ids.find((p) => p.word === 'true')!;
  assert.equal(inner.root, '/nonexistent');
  assert.equal(inner.builtin, false, 'chroot execs true: not a shell builtin there');
  assert.equal(inner.path, null);
  assert.equal(inner.error, 'not found in PATH');
});

test('shell builtins are not resolved; a missing program says so', async () => {
  const line = splitCommand('cd /tmp && echo hi && no-such-program-xyz');
  const ids = await identifyPrograms(line.programs, { cwd: '/' });
  assert.deepEqual(
    ids.map((p) => [p.word, p.builtin, p.path, p.error ?? null]),
    [
      ['cd', true, null, null],
      ['echo', true, null, null],
      ['no-such-program-xyz', false, null, 'not found in PATH'],
    ],
  );
});

test('a program in a chroot resolves inside the root, absolute symlinks stay inside it', async (t) => {
  const dir = await tempDir(t);
  const root = await fakeRoot(dir);
  const found = await resolveProgram('alt', { cwd: '/', root, dir: '/', path: '/usr/sbin:/usr/bin:/bin' });
  assert.deepEqual(found, { path: '/usr/bin/alt', realPath: '/usr/bin/real', hostPath: join(root, 'usr/bin/real') });
  assert.equal(await resolveInRoot(root, '/bin/escape'), '/etc/passwd');
  assert.equal(await resolveInRoot(root, '/usr/bin/../../bin/../../../bin/real'), '/usr/bin/real');
  await assert.rejects(resolveInRoot(root, '/no/such'), { code: 'ENOENT' });
  await symlink('loop', join(root, 'loop'));
  await assert.rejects(resolveInRoot(root, '/loop'), { code: 'ELOOP' });
});

test("a chroot's program is looked up in the chroot's own dpkg database, through /usr-merge aliases", async (t) => {
  const dir = await tempDir(t);
  const root = await fakeRoot(dir);
  const line = splitCommand(`chroot ${root} alt --flag`);
  const ids = await identifyPrograms(line.programs, { cwd: '/', env: { PATH: '/usr/bin:/bin' } });
  const alt = ids.find((p) => p.word === 'alt')!;
  assert.equal(alt.root, root);
  assert.equal(alt.path, '/usr/bin/alt');
  assert.equal(alt.realPath, '/usr/bin/real');
  assert.equal(alt.hostPath, join(root, 'usr/bin/real'));
  assert.equal(alt.digest, await sha256(join(root, 'usr/bin/real')));
  assert.equal(alt.size, 20);
  assert.deepEqual(alt.package, { name: 'fakepkg', version: '1:1.2-3', architecture: 'amd64' });
});

test('dpkg lookups are batched and cached: one -S and one -W for many paths, none the second time', async (t) => {
  const dir = await tempDir(t);
  const log = join(dir, 'calls.log');
  const wrapper = join(dir, 'dpkg-query');
  await writeFile(wrapper, `#!/bin/sh\necho "$1" >> ${log}\nexec dpkg-query "$@"\n`);
  await chmod(wrapper, 0o755);
  const dpkg = new DpkgLookup({ dpkgQuery: wrapper });
  const paths = ['/usr/bin/cat', '/usr/bin/ls', '/bin/dash', '/usr/lib/x86_64-linux-gnu/libc.so.6', '/no/such/file'];
  const first = await dpkg.packagesOf(paths);
  assert.equal(first.get('/usr/bin/cat')?.name, 'coreutils');
  assert.equal(first.get('/usr/bin/ls')?.name, 'coreutils');
  assert.equal(first.get('/bin/dash')?.name, 'dash');
  assert.equal(first.get('/usr/lib/x86_64-linux-gnu/libc.so.6')?.name, 'libc6');
  assert.equal(first.get('/no/such/file'), null);
  assert.deepEqual((await readFile(log, 'utf8')).trim().split('\n'), ['-S', '-W']);
  const second = await dpkg.packagesOf(paths);
  assert.deepEqual(second, first);
  assert.deepEqual((await readFile(log, 'utf8')).trim().split('\n'), ['-S', '-W']);
});

test('no dpkg database, or no dpkg-query at all: packages are null, not errors', async (t) => {
  const dir = await tempDir(t);
  const none = await new DpkgLookup().packagesOf(['/usr/bin/x'], dir);
  assert.equal(none.get('/usr/bin/x'), null);
  const missing = await new DpkgLookup({ dpkgQuery: join(dir, 'no-dpkg-query') }).packagesOf(['/usr/bin/cat']);
  assert.equal(missing.get('/usr/bin/cat'), null);
});
