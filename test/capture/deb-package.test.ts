import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { debControlFiles, isDebFileName, parseControl, readDebPackage, readDebPackages, tarEntry } from '../../src/capture/deb-package.js';
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

test('every control compression dpkg-deb can build: gzip, xz, zstd, none', async (t) => {
  const dir = await tempDir(t);
  const src = join(dir, 'pkg');
  await mkdir(join(src, 'DEBIAN'), { recursive: true });
  await mkdir(join(src, 'usr/share/asl-test'), { recursive: true });
  await writeFile(join(src, 'usr/share/asl-test/file'), 'content\n');
  await writeFile(join(src, 'DEBIAN/control'), [
    'Package: asl-test-pkg',
    'Version: 1:2.3-4~bpo12+1',
    'Architecture: all',
    'Maintainer: ASL <asl@example.org>',
    'Description: a test package',
    ' with a continuation line',
    '',
  ].join('\n'));
  const debs: string[] = [];
  for (const z of ['gzip', 'xz', 'zstd', 'none']) {
    const deb = join(dir, `t-${z}.deb`);
    await run('dpkg-deb', [`-Z${z}`, '--root-owner-group', '--build', src, deb]);
    debs.push(deb);
  }
  const expected = { name: 'asl-test-pkg', version: '1:2.3-4~bpo12+1', architecture: 'all' };
  for (const deb of debs) assert.deepEqual(await readDebPackage(deb), expected, deb);
  assert.deepEqual(await readDebPackages(debs, 2), debs.map(() => expected));
  // Every control file, from the package's bytes streamed in small chunks, as dpkg-deb extracts them.
  await writeFile(join(src, 'DEBIAN/postinst'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  await writeFile(join(src, 'DEBIAN/triggers'), 'interest-noawait /usr/share/asl-test\n');
  for (const z of ['gzip', 'xz', 'zstd', 'none']) {
    const deb = join(dir, `c-${z}.deb`);
    await run('dpkg-deb', [`-Z${z}`, '--root-owner-group', '--build', src, deb]);
    const out = join(dir, `c-${z}`);
    await run('dpkg-deb', ['--control', deb, out]);
    const bytes = await readFile(deb);
    const chunks = async function* () { for (let i = 0; i < bytes.length; i += 100) yield bytes.subarray(i, i + 100); };
    const files = await debControlFiles(chunks(), deb);
    assert.deepEqual([...files.keys()].sort(), (await readdir(out)).sort(), z);
    for (const [name, body] of files) assert.deepEqual(body, await readFile(join(out, name)), `${z} ${name}`);
  }
  await assert.rejects(debControlFiles((async function* () { yield Buffer.from('!<arch>\n'); })(), 'empty.deb'), /empty\.deb: not a Debian package: no control\.tar member/);
});

test('not a package: one clear error naming the file', async (t) => {
  const dir = await tempDir(t);
  const bogus = join(dir, 'bogus.deb');
  await writeFile(bogus, 'hello world, not an ar archive');
  await assert.rejects(readDebPackage(bogus), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'BAD_INPUT');
    assert.match(err.message, /bogus\.deb: not a Debian package: not an ar archive/);
    return true;
  });
  await assert.rejects(readDebPackage(join(dir, 'absent.deb')), { code: 'NOT_FOUND' });
  const arOnly = join(dir, 'ar-only.deb');
  await writeFile(arOnly, '!<arch>\ndebian-binary   0           0     0     100644  4         `\n2.0\n');
  await assert.rejects(readDebPackage(arOnly), /no control\.tar member/);
});

test('a hand-made ar with GNU-style names and an odd-sized first member', async (t) => {
  const dir = await tempDir(t);
  const control = Buffer.from('Package: handmade\nVersion: 0.1\nArchitecture: arm64\n');
  const tar = Buffer.alloc(1024 + 512);
  tar.write('./control', 0, 'utf8');
  tar.write('0000644\0', 100);
  tar.write(control.length.toString(8).padStart(11, '0') + '\0', 124);
  tar.write('0', 156);
  control.copy(tar, 512);
  const gz = gzipSync(tar);
  const member = (name: string, body: Buffer): Buffer => {
    const h = `${name.padEnd(16)}${'0'.padEnd(12)}${'0'.padEnd(6)}${'0'.padEnd(6)}${'100644'.padEnd(8)}${String(body.length).padEnd(10)}\`\n`;
    return Buffer.concat([Buffer.from(h, 'latin1'), body, body.length % 2 ? Buffer.from('\n') : Buffer.alloc(0)]);
  };
  const deb = join(dir, 'handmade.deb');
  await writeFile(deb, Buffer.concat([Buffer.from('!<arch>\n'), member('debian-binary/', Buffer.from('2.0\n\n\n')), member('control.tar.gz/', gz)]));
  assert.deepEqual(await readDebPackage(deb), { name: 'handmade', version: '0.1', architecture: 'arm64' });
  assert.deepEqual(tarEntry(tar, 'control'), control);
  assert.equal(tarEntry(tar, 'md5sums'), null);
});

test('file names and control parsing', () => {
  assert.ok(isDebFileName('/var/cache/apt/archives/libc6_2.36-9%2bdeb12u4_amd64.deb'));
  assert.ok(isDebFileName('x.udeb'));
  assert.ok(!isDebFileName('x.deb.partial'));
  const f = parseControl('Package: a\nDescription: short\n long\n .\n more\nVersion: 1\n\nPackage: second\n');
  assert.equal(f.get('Description'), 'short\nlong\n.\nmore');
  assert.equal(f.get('Version'), '1');
  assert.equal(f.get('Package'), 'a');
});
