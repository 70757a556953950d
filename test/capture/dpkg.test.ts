import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DpkgLookup, runHelper, usrMergeAliases } from '../../src/capture/dpkg.js';
import { native } from '../../src/store/native.js';

// First in this file on purpose: no child has been reaped by this process yet.
test("dpkg-query never becomes a reaped child, so it cannot mask a command's peak RSS", async () => {
  const before = native().childrenMaxRss();
  const many = [
    '/usr/bin/cat',
    '/usr/bin/ls',
    '/usr/bin/dash',
    '/usr/sbin/chroot',
    '/usr/bin/apt-get',
    '/usr/bin/dpkg',
  ];
  const pkgs = await new DpkgLookup().packagesOf(many);
  assert.equal(pkgs.get('/usr/bin/dpkg')?.name, 'dpkg');
  const after = native().childrenMaxRss();
  // dpkg-query -S peaks near 27 MB; the throwaway sh that starts it, near 1.5 MB.
  assert.ok(after <= Math.max(before, 8 * 1024 * 1024), `children max RSS grew to ${after} bytes`);
});

test('runHelper: stdout, stderr and exit status of the helper', async () => {
  const ok = await runHelper('/bin/sh', ['-c', 'echo out; echo err >&2; exit 3']);
  assert.deepEqual(ok, { stdout: 'out\n', stderr: 'err\n', status: 3 });
  const missing = await runHelper('/no/such/helper', []);
  assert.equal(missing.status, 127);
  assert.equal(missing.stdout, '');
});

test('/usr-merge aliases both ways, nothing for other paths', () => {
  assert.deepEqual(usrMergeAliases('/usr/bin/cat'), ['/usr/bin/cat', '/bin/cat']);
  assert.deepEqual(usrMergeAliases('/sbin/ldconfig'), ['/sbin/ldconfig', '/usr/sbin/ldconfig']);
  assert.deepEqual(usrMergeAliases('/usr/lib/x86_64-linux-gnu/libc.so.6'), [
    '/usr/lib/x86_64-linux-gnu/libc.so.6',
    '/lib/x86_64-linux-gnu/libc.so.6',
  ]);
  assert.deepEqual(usrMergeAliases('/lib64/ld-linux-x86-64.so.2'), [
    '/lib64/ld-linux-x86-64.so.2',
    '/usr/lib64/ld-linux-x86-64.so.2',
  ]);
  assert.deepEqual(usrMergeAliases('/usr/share/doc/x'), ['/usr/share/doc/x']);
  assert.deepEqual(usrMergeAliases('/etc/passwd'), ['/etc/passwd']);
});

test('paths dpkg would read as patterns are not asked', async () => {
  const pkgs = await new DpkgLookup().packagesOf(['/usr/bin/c*t', 'relative/path']);
  assert.equal(pkgs.get('/usr/bin/c*t'), null);
  assert.equal(pkgs.get('relative/path'), null);
});
