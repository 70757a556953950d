import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import {
  debControlFiles,
  isDebFileName,
  parseControl,
  readDebPackage,
  readDebPackages,
  tarFiles,
} from '../../src/capture/deb-package.js';
import { encodeHeader } from '../../src/core/tar-format.js';
import { tempDir } from '../helpers.js';

const run = promisify(execFile);

test('every control compression dpkg-deb can build: gzip, xz, zstd, none', async (t) => {
  const dir = await tempDir(t);
  const src = join(dir, 'pkg');
  await mkdir(join(src, 'DEBIAN'), { recursive: true });
  await mkdir(join(src, 'usr/share/asl-test'), { recursive: true });
  await writeFile(join(src, 'usr/share/asl-test/file'), 'content\n');
  await writeFile(
    join(src, 'DEBIAN/control'),
    [
      'Package: asl-test-pkg',
      'Version: 1:2.3-4~bpo12+1',
      'Architecture: all',
      'Maintainer: ASL <asl@example.org>',
      'Description: a test package',
      ' with a continuation line',
      '',
    ].join('\n'),
  );
  const debs: string[] = [];
  for (const z of ['gzip', 'xz', 'zstd', 'none']) {
    const deb = join(dir, `t-${z}.deb`);
    await run('dpkg-deb', [`-Z${z}`, '--root-owner-group', '--build', src, deb]);
    debs.push(deb);
  }
  const expected = { name: 'asl-test-pkg', version: '1:2.3-4~bpo12+1', architecture: 'all' };
  for (const deb of debs) assert.deepEqual(await readDebPackage(deb), expected, deb);
  assert.deepEqual(
    await readDebPackages(debs, 2),
    debs.map(() => expected),
  );
  // Every control file, from the package's bytes streamed in small chunks, as dpkg-deb extracts them.
  await writeFile(join(src, 'DEBIAN/postinst'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  await writeFile(join(src, 'DEBIAN/triggers'), 'interest-noawait /usr/share/asl-test\n');
  for (const z of ['gzip', 'xz', 'zstd', 'none']) {
    const deb = join(dir, `c-${z}.deb`);
    await run('dpkg-deb', [`-Z${z}`, '--root-owner-group', '--build', src, deb]);
    const out = join(dir, `c-${z}`);
    await run('dpkg-deb', ['--control', deb, out]);
    const bytes = await readFile(deb);
    const chunks = async function* () {
      for (let i = 0; i < bytes.length; i += 100) yield bytes.subarray(i, i + 100);
    };
    const files = await debControlFiles(chunks(), deb);
    assert.deepEqual([...files.keys()].sort(), (await readdir(out)).sort(), z);
    for (const [name, body] of files) assert.deepEqual(body, await readFile(join(out, name)), `${z} ${name}`);
  }
  await assert.rejects(
    debControlFiles(
      (async function* () {
        yield Buffer.from('!<arch>\n');
      })(),
      'empty.deb',
    ),
    /empty\.deb: not a Debian package: no control\.tar member/,
  );
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
  const tar = controlTar(control);
  const gz = gzipSync(tar);
  const deb = join(dir, 'handmade.deb');
  await writeFile(
    deb,
    Buffer.concat([
      Buffer.from('!<arch>\n'),
      arMember('debian-binary/', Buffer.from('2.0\n\n\n')),
      arMember('control.tar.gz/', gz),
    ]),
  );
  assert.deepEqual(await readDebPackage(deb), { name: 'handmade', version: '0.1', architecture: 'arm64' });
  assert.deepEqual([...(await tarFiles(tar, 'control.tar'))], [['control', control]]);
});

/** A ustar archive of one file, ./control (one header, the body in one block, the end-of-archive marker). */
function controlTar(control: Buffer): Buffer {
  const tar = Buffer.alloc(1024 + 1024);
  encodeHeader({ name: './control', size: control.length, mode: 0o644 }).copy(tar, 0);
  control.copy(tar, 512);
  return tar;
}

/** One ar member (name field as given, e.g. GNU-style `name/`), padded to 2 bytes. */
function arMember(name: string, body: Buffer): Buffer {
  const h = `${name.padEnd(16)}${'0'.padEnd(12)}${'0'.padEnd(6)}${'0'.padEnd(6)}${'100644'.padEnd(8)}${String(body.length).padEnd(10)}\`\n`;
  return Buffer.concat([Buffer.from(h, 'latin1'), body, body.length % 2 ? Buffer.from('\n') : Buffer.alloc(0)]);
}

test('the control member is read by the strict tar reader: a damaged or truncated one is refused by name', async (t) => {
  const dir = await tempDir(t);
  const tar = controlTar(Buffer.from('Package: strict\nVersion: 1\nArchitecture: all\n'));
  const debOf = async (name: string, member: Buffer) => {
    const deb = join(dir, name);
    await writeFile(
      deb,
      Buffer.concat([
        Buffer.from('!<arch>\n'),
        arMember('debian-binary', Buffer.from('2.0\n')),
        arMember('control.tar', member),
      ]),
    );
    return deb;
  };
  assert.deepEqual(await readDebPackage(await debOf('good.deb', tar)), {
    name: 'strict',
    version: '1',
    architecture: 'all',
  });
  // One byte of the header's name changed: the checksum no longer adds up (the lenient reader took it).
  const damaged = Buffer.from(tar);
  damaged[2] = 0x78;
  const bad = await debOf('damaged.deb', damaged);
  await assert.rejects(readDebPackage(bad), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'BAD_INPUT');
    assert.match(
      err.message,
      /damaged\.deb: control\.tar: entry 1 \(byte 0\): header checksum is \d+, the header sums to \d+/,
    );
    return true;
  });
  // Cut inside the control file: truncated, never a shorter archive.
  const cut = await debOf('cut.deb', tar.subarray(0, 512 + 10));
  await assert.rejects(readDebPackage(cut), /cut\.deb: control\.tar: truncated: the archive ends inside "\.\/control"/);
  // No end-of-archive marker.
  const open = await debOf('open.deb', tar.subarray(0, 1024));
  await assert.rejects(
    readDebPackage(open),
    /open\.deb: control\.tar: truncated: the archive ends without its end-of-archive marker/,
  );
});

test('GNU tar long names in a control member: the name applies to the entry after it', async (t) => {
  const dir = await tempDir(t);
  const src = join(dir, 'ctl');
  const long = `${'d'.repeat(60)}/${'f'.repeat(60)}`;
  await mkdir(join(src, 'd'.repeat(60)), { recursive: true });
  await writeFile(join(src, 'control'), 'Package: long\nVersion: 2\nArchitecture: all\n');
  await writeFile(join(src, long), 'long body\n');
  const tarPath = join(dir, 'control.tar');
  await run('tar', ['--format=gnu', '-cf', tarPath, '-C', src, './control', `./${long}`]);
  const files = await tarFiles(await readFile(tarPath), 'control.tar');
  assert.deepEqual([...files.keys()], ['control', long]);
  assert.equal(files.get(long)!.toString(), 'long body\n');
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
