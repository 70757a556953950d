// The tar model, writer and reader against GNU tar, the reference implementation
// on this machine: what we write, tar lists and extracts byte for byte; what tar
// writes (ustar and pax), we read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { tempDir } from './fixture.js';
import { readTar } from '../../src/core/tar-reader.js';
import { TarWriter, fileSink } from '../../src/transfer/tar-writer.js';
import {
  BLOCK,
  decodeHeader,
  decodePaxRecords,
  encodeHeader,
  encodePaxRecords,
  USTAR_MAX_SIZE,
} from '../../src/core/tar-format.js';
import type { AslError } from '../../src/core/errors.js';

async function readAll(source: AsyncIterable<Buffer>): Promise<Array<{ name: string; type: string; data: Buffer }>> {
  const out = [];
  for await (const e of readTar(source, 'test.tar')) {
    const parts: Buffer[] = [];
    for await (const c of e.body()) parts.push(c);
    out.push({ name: e.header.name, type: e.header.type, data: Buffer.concat(parts) });
  }
  return out;
}

test('what TarWriter writes, GNU tar lists and extracts byte for byte', async (t) => {
  const dir = await tempDir(t);
  const big = randomBytes(3 * 1024 * 1024 + 17);
  const file = join(dir, 'w.tar');
  const fh = await open(file, 'w');
  const tar = new TarWriter(fileSink(fh));
  await tar.addBuffer('asl-bundle.json', Buffer.from('{"a":1}\n'));
  await tar.addBuffer('objects/sha256/ab/empty', Buffer.alloc(0));
  await tar.addStream('objects/sha256/cd/big', big.length, Readable.from([big.subarray(0, 1000), big.subarray(1000)]));
  await tar.finish();
  await fh.close();
  const size = (await readFile(file)).length;
  assert.equal(size % 10240, 0, 'padded to whole 10 KiB records like tar');
  const listing = execFileSync('tar', ['-tvf', file], { encoding: 'utf8' }).trim().split('\n');
  assert.equal(listing.length, 3);
  assert.match(listing[0]!, /^-r-------- 0\/0 +8 1970-01-01 00:00 asl-bundle\.json$/); // owner-only (docs/security.md)
  const out = join(dir, 'x');
  await mkdir(out);
  execFileSync('tar', ['-xf', file, '-C', out]);
  assert.deepEqual(await readFile(join(out, 'objects/sha256/cd/big')), big);
  assert.equal((await readFile(join(out, 'objects/sha256/ab/empty'))).length, 0);
  const back = await readAll((await open(file, 'r')).createReadStream());
  assert.deepEqual(
    back.map((e) => e.name),
    ['asl-bundle.json', 'objects/sha256/ab/empty', 'objects/sha256/cd/big'],
  );
  assert.deepEqual(back[2]!.data, big);
});

test('GNU tar archives (ustar and pax, long names, links) read back as tar wrote them', async (t) => {
  const dir = await tempDir(t);
  const src = join(dir, 'src');
  const longDir = 'd'.repeat(90);
  await mkdir(join(src, longDir), { recursive: true });
  await writeFile(join(src, longDir, `file-with-a-long-name-${'x'.repeat(40)}`), 'long\n');
  await writeFile(join(src, 'a.txt'), 'hello\n');
  execFileSync('ln', ['-s', 'a.txt', join(src, 'link')]);
  for (const format of ['ustar', 'pax']) {
    const file = join(dir, `${format}.tar`);
    execFileSync('tar', [`--format=${format}`, '-cf', file, '-C', src, '.']);
    const entries = await readAll((await open(file, 'r')).createReadStream());
    const byName = new Map(entries.map((e) => [e.name.replace(/^\.\//, ''), e]));
    assert.equal(byName.get('a.txt')!.data.toString(), 'hello\n', format);
    assert.equal(byName.get('link')!.type, 'symlink', format);
    assert.equal(
      byName.get(`${longDir}/file-with-a-long-name-${'x'.repeat(40)}`)!.data.toString(),
      'long\n',
      `${format}: prefix or pax path joined`,
    );
  }
});

test("pax records round-trip, and a pax size beyond ustar's 8 GiB applies to the next entry", () => {
  const body = encodePaxRecords({ size: String(USTAR_MAX_SIZE + 10), path: 'objects/é' });
  assert.deepEqual(
    [...decodePaxRecords(body, 'x')],
    [
      ['size', String(USTAR_MAX_SIZE + 10)],
      ['path', 'objects/é'],
    ],
  );
  for (const rec of body.toString('utf8').split('\n').filter(Boolean))
    assert.equal(Number(rec.split(' ')[0]), Buffer.byteLength(rec) + 1, 'length counts itself');
  // A header for an entry too big for ustar says 0; the pax record carries the size.
  const h = decodeHeader(encodeHeader({ name: 'big', size: USTAR_MAX_SIZE + 1 }), 'x');
  assert.equal(h.size, 0);
});

test('a damaged header, a lone zero block and a cut archive are refused as malformed', async () => {
  const good = encodeHeader({ name: 'f', size: 3 });
  const bad = Buffer.from(good);
  bad[0] = 0x67; // name changed, checksum not
  await assert.rejects(
    readAll(Readable.from([bad])),
    (e: AslError) => e.code === 'BAD_INPUT' && /checksum/.test(e.message),
  );
  const data = Buffer.concat([good, Buffer.from('abc'), Buffer.alloc(BLOCK - 3)]);
  await assert.rejects(
    readAll(Readable.from([data])),
    (e: AslError) => e.code === 'BAD_INPUT' && /truncated.*end-of-archive/.test(e.message),
  );
  await assert.rejects(
    readAll(Readable.from([data.subarray(0, BLOCK + 2)])),
    (e: AslError) => e.code === 'BAD_INPUT' && /truncated: the archive ends inside "f"/.test(e.message),
  );
  await assert.rejects(readAll(Readable.from([Buffer.concat([data, Buffer.alloc(BLOCK), good])])), (e: AslError) =>
    /lone zero block/.test(e.message),
  );
  const ok = await readAll(Readable.from([Buffer.concat([data, Buffer.alloc(2 * BLOCK)])]));
  assert.equal(ok[0]!.data.toString(), 'abc');
});
