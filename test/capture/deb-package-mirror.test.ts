// readDebPackage on a real package from the Debian mirror (full tier: it may download).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseControl, readDebPackage } from '../../src/capture/deb-package.js';
import { tempDir } from '../helpers.js';

const run = promisify(execFile);

/** What dpkg-deb itself says, the reference. */
function dpkgDebFields(path: string): { name: string; version: string; architecture: string } {
  const out = execFileSync('dpkg-deb', ['-f', path, 'Package', 'Version', 'Architecture'], { encoding: 'utf8' });
  const f = parseControl(out);
  return { name: f.get('Package')!, version: f.get('Version')!, architecture: f.get('Architecture')! };
}

/** A real package from the mirror: from apt's cache when there, else `apt-get download hello`. */
async function realDeb(dir: string): Promise<string> {
  const cache = '/var/cache/apt/archives';
  const cached = (await readdir(cache).catch(() => [] as string[])).filter((n) => /^hello_.*\.deb$/.test(n));
  if (cached[0]) return join(cache, cached[0]);
  try {
    await run('apt-get', ['download', 'hello'], { cwd: dir });
  } catch {
    await run('apt-get', ['-q', 'update']); // a fresh machine may have no package lists yet
    await run('apt-get', ['download', 'hello'], { cwd: dir });
  }
  const got = (await readdir(dir)).find((n) => n.startsWith('hello_') && n.endsWith('.deb'));
  assert.ok(got, 'apt-get download hello produced no .deb');
  return join(dir, got);
}

test('a real Debian package from the mirror: fields equal what dpkg-deb reports', async (t) => {
  const dir = await tempDir(t);
  const deb = await realDeb(dir);
  const members = execFileSync('ar', ['t', deb], { encoding: 'utf8' }).split('\n');
  assert.ok(members.some((m) => /^control\.tar\.(xz|gz|zst)$/.test(m)));
  const pkg = await readDebPackage(deb);
  assert.equal(pkg.name, 'hello');
  assert.deepEqual(pkg, dpkgDebFields(deb));
});
