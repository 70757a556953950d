// The file hashing of verify --tree: never through a symlink, only the inode that was
// listed, the same digests on worker threads as on the calling thread, and a pool whose
// workers die still answers (on the calling thread).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { lstatSync, statSync } from 'node:fs';
import { symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '../helpers.js';
import { HashPool, hashListedFileSync } from '../../src/store/verify-tree-hasher.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

test('hashListedFileSync: content digest; refuses a symlink, another inode, a non-file', async (t) => {
  const dir = await tempDir(t);
  const big = randomBytes(3 * 1024 * 1024 + 17); // several read chunks
  const file = join(dir, 'big');
  await writeFile(file, big);
  const st = statSync(file);
  assert.deepEqual(hashListedFileSync(Buffer.from(file), st.dev, st.ino), {
    ok: true,
    digest: sha(big),
    size: big.length,
  });
  await symlink(file, join(dir, 'link'));
  const lst = lstatSync(join(dir, 'link'));
  assert.deepEqual(hashListedFileSync(Buffer.from(join(dir, 'link')), lst.dev, lst.ino), {
    ok: false,
    error: 'replaced by a symlink while being checked',
  });
  assert.deepEqual(hashListedFileSync(Buffer.from(file), st.dev, st.ino + 1), {
    ok: false,
    error: 'replaced while being checked',
  });
  assert.deepEqual(hashListedFileSync(Buffer.from(join(dir, 'gone')), st.dev, st.ino), {
    ok: false,
    error: 'vanished while being checked',
  });
  const d = statSync(dir);
  assert.equal(hashListedFileSync(Buffer.from(dir), d.dev, d.ino).ok, false);
});

async function files(t: Parameters<typeof tempDir>[0], n: number) {
  const dir = await tempDir(t);
  const out: Array<{ path: Buffer; dev: number; ino: number; size: number; digest: string }> = [];
  for (let i = 0; i < n; i++) {
    const bytes = randomBytes((i * 37) % 5000);
    const path = join(dir, `f${i}`);
    await writeFile(path, bytes);
    const st = statSync(path);
    out.push({ path: Buffer.from(path), dev: st.dev, ino: st.ino, size: st.size, digest: sha(bytes) });
  }
  return out;
}

test('HashPool on worker threads gives the digests the calling thread gives', async (t) => {
  const list = await files(t, 300);
  const pool = new HashPool(2);
  try {
    const results = await Promise.all(
      list.map(async (f) => {
        await pool.room();
        return pool.hash(f.path, f.dev, f.ino, f.size);
      }),
    );
    pool.flush();
    assert.deepEqual(
      results.map((r) => (r.ok ? r.digest : r.error)),
      list.map((f) => f.digest),
    );
  } finally {
    await pool.close();
  }
});

test('HashPool whose workers die hashes what is left on the calling thread', async (t) => {
  const list = await files(t, 200);
  const pool = new HashPool(2);
  try {
    const pending = list.map((f) => pool.hash(f.path, f.dev, f.ino, f.size));
    // Kill the workers mid-flight, as a crash would.
    for (const w of (pool as unknown as { workers: Array<{ worker: { terminate(): Promise<number> } }> }).workers)
      void w.worker.terminate();
    const results = await Promise.all(pending);
    assert.deepEqual(
      results.map((r) => (r.ok ? r.digest : r.error)),
      list.map((f) => f.digest),
    );
    const after = await pool.hash(list[0]!.path, list[0]!.dev, list[0]!.ino, list[0]!.size);
    assert.deepEqual(after, { ok: true, digest: list[0]!.digest, size: list[0]!.size });
  } finally {
    await pool.close();
  }
});
