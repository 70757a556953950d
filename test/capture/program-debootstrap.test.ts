// The program lookup of test/capture/program.test.ts against a real debootstrap root (full tier).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { splitCommand } from '../../src/capture/command-words.js';
import { identifyPrograms } from '../../src/capture/program.js';
import { bookwormMinbaseRoot } from '../fixtures.js';

async function sha256(path: string): Promise<string> {
  return `sha256:${createHash('sha256')
    .update(await readFile(path))
    .digest('hex')}`;
}

function dpkgVersion(pkg: string, admindir: string): string {
  return execFileSync('dpkg-query', [`--admindir=${admindir}`, '-W', '-f', '${Version}', pkg], { encoding: 'utf8' });
}

test('the seed chroot line against a real debootstrap root: /bin/bash and apt-get from the root, chroot from the host', async () => {
  const root = await bookwormMinbaseRoot();
  const line = splitCommand(`chroot ${root} /bin/bash -c 'apt-get update && apt-get install -y foo bar'`);
  const ids = await identifyPrograms(line.programs, { cwd: '/', env: process.env });
  assert.deepEqual(
    ids.map((p) => [p.word, p.root, p.realPath, p.package?.name]),
    [
      ['chroot', null, await realpath('/usr/sbin/chroot'), 'coreutils'],
      ['/bin/bash', root, '/usr/bin/bash', 'bash'],
      ['apt-get', root, '/usr/bin/apt-get', 'apt'],
    ],
  );
  const admindir = join(root, 'var/lib/dpkg');
  assert.equal(ids[1]!.package!.version, dpkgVersion('bash', admindir));
  assert.equal(ids[2]!.package!.version, dpkgVersion('apt', admindir));
  assert.equal(ids[2]!.digest, await sha256(join(root, 'usr/bin/apt-get')));
});
