import assert from 'node:assert/strict';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { TEMP_MARK, writeFileAtomic, type Durability } from '../../src/core/write-file-atomic.js';
import { tempDir } from '../helpers.js';

test('each durability replaces the file whole with exactly the given mode and leaves no temp file', async (t) => {
  const dir = await tempDir(t);
  const old = process.umask(0o077);
  try {
    for (const [i, durable] of (['none', 'file', 'file-and-dir'] as Durability[]).entries()) {
      const path = join(dir, `f${i}`);
      await writeFile(path, 'old contents, longer than the new ones\n');
      await writeFileAtomic(path, `new ${durable}\n`, { durable, mode: 0o644 });
      assert.equal(await readFile(path, 'utf8'), `new ${durable}\n`);
      // 0644 under a umask of 077: the mode is set, not left to the umask.
      assert.equal((await stat(path)).mode & 0o777, 0o644);
    }
    assert.deepEqual((await readdir(dir)).sort(), ['f0', 'f1', 'f2']);
  } finally {
    process.umask(old);
  }
});

test('streamed content goes through the open temp file, named <target>.tmp-<12 hex> beside it', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'bundle.tar');
  let seen: string[] = [];
  await writeFileAtomic(
    path,
    async (fh) => {
      seen = await readdir(dir);
      for (let i = 0; i < 3; i++) await fh.write(Buffer.alloc(1000, 0x41 + i));
    },
    { durable: 'file-and-dir', mode: 0o600 },
  );
  assert.equal(seen.length, 1);
  assert.match(seen[0]!, new RegExp(`^bundle\\.tar${TEMP_MARK.replace('.', '\\.')}[0-9a-f]{12}$`));
  const bytes = await readFile(path);
  assert.equal(bytes.length, 3000);
  assert.equal(bytes.toString('latin1'), 'A'.repeat(1000) + 'B'.repeat(1000) + 'C'.repeat(1000));
  assert.deepEqual(await readdir(dir), ['bundle.tar']);
});

test('a write that fails leaves the old file as it was and removes its temp file', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'head.json');
  await writeFile(path, '{"seq":1}\n');
  await assert.rejects(
    writeFileAtomic(
      path,
      async (fh) => {
        await fh.write('{"seq":2');
        throw new Error('disk went away');
      },
      { durable: 'file', mode: 0o600 },
    ),
    /disk went away/,
  );
  assert.equal(await readFile(path, 'utf8'), '{"seq":1}\n');
  assert.deepEqual(await readdir(dir), ['head.json']);
  // A target in a folder that does not exist: the error is the open's, nothing is left.
  await assert.rejects(writeFileAtomic(join(dir, 'missing', 'x'), 'x', { durable: 'none', mode: 0o600 }), {
    code: 'ENOENT',
  });
  assert.deepEqual(await readdir(dir), ['head.json']);
});
