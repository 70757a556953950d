// Caches cannot lie: the stat cache maps a file's (device, inode, size, mtime, ctime) to
// its content digest, so `asl put` skips reading an unchanged file. Its header held a
// plain sha256 of its body, so anyone able to write cache/ could rewrite an entry
// consistently: a changed file's new stat, the old content's digest, and put recorded the
// old content. The header is now an HMAC under the store's cache key (keys/cache.key,
// 0600): a forged cache is ignored and put reads the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { chmod, readFile, stat, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { aslOk, runAsl, tempDir } from '../helpers.js';

const RECORD = 80;
const HEADER = 8 + 32;

/** Settles past the cache's racy margin (100 ms), so a file just written is cached. */
const settle = () => sleep(400);

/**
 * Rewrites the stat cache's record of `file` to claim its current stat has the content
 * digest `digest`, and recomputes the header the way someone without the store's key
 * can: sha256 of the body, or an HMAC under a key of their own.
 */
async function forgeStatCache(
  store: string,
  file: string,
  digest: string,
  headerOf: (magic: Buffer, body: Buffer) => Buffer,
): Promise<void> {
  const path = join(store, 'cache', 'stat-v1.bin');
  const buf = await readFile(path);
  const st = await stat(file, { bigint: true });
  const body = Buffer.from(buf.subarray(HEADER));
  let found = false;
  for (let o = 0; o < body.length; o += RECORD) {
    if (body.readDoubleLE(o) !== Number(st.dev) || body.readDoubleLE(o + 8) !== Number(st.ino)) continue;
    body.writeDoubleLE(Number(st.size), o + 16);
    body.writeDoubleLE(Number(st.mtimeNs / 1_000_000_000n), o + 24);
    body.writeDoubleLE(Number(st.ctimeNs / 1_000_000_000n), o + 32);
    body.writeUInt32LE(Number(st.mtimeNs % 1_000_000_000n), o + 40);
    body.writeUInt32LE(Number(st.ctimeNs % 1_000_000_000n), o + 44);
    body.write(digest.slice(7), o + 48, 32, 'hex');
    found = true;
  }
  assert.ok(found, 'the file has a record in the stat cache');
  const magic = buf.subarray(0, 8);
  await writeFile(path, Buffer.concat([magic, headerOf(magic, body), body]));
}

for (const [how, headerOf] of [
  ['a consistent sha256 header', (_magic: Buffer, body: Buffer) => createHash('sha256').update(body).digest()],
  [
    "an HMAC under a key of the forger's own",
    (magic: Buffer, body: Buffer) => createHmac('sha256', randomBytes(32)).update(magic).update(body).digest(),
  ],
] as const) {
  test(`a stat cache rewritten with ${how} is ignored: put records the file's new content`, async (t) => {
    const dir = await tempDir(t);
    const store = join(dir, 'S');
    await aslOk(['init', '--store', store]);
    const tree = join(dir, 'T');
    await mkdir(tree);
    const file = join(tree, 'config');
    const before = 'setting=old\n'.repeat(50);
    const after = 'setting=new\n'.repeat(50);
    await writeFile(file, before);
    await settle();
    await aslOk(['put', '--store', store, tree]);
    const oldDigest = `sha256:${createHash('sha256').update(before).digest('hex')}`;

    await writeFile(file, after); // same size, new content
    await settle();
    await forgeStatCache(store, file, oldDigest, headerOf);
    const id = (await aslOk(['put', '--store', store, tree])).stdout.trim();
    const cat = await runAsl(['cat', '--store', store, `${id}:config`]);
    assert.equal(cat.code, 0, cat.stderr);
    assert.equal(cat.stdout, after, 'the stored tree holds the file as it is, not the forged digest');
    assert.match((await aslOk(['verify', '--store', store])).stdout, /^OK: /m);
  });
}

test("the cache key is the store's own secret: 0600, and verify fails when others can read it", async (t) => {
  const dir = await tempDir(t);
  const store = join(dir, 'S');
  await aslOk(['init', '--store', store]);
  await writeFile(join(dir, 'f'), 'f\n');
  await aslOk(['put', '--store', store, join(dir, 'f')]);
  const key = join(store, 'keys', 'cache.key');
  assert.equal((await stat(key)).mode & 0o777, 0o600);
  assert.equal((await readFile(key)).length, 32);
  await chmod(key, 0o644);
  const r = await runAsl(['verify', '--store', store]);
  assert.equal(r.code, 1);
  assert.match(r.stdout, new RegExp(`^FAIL ${key} is a secret key readable by every local user \\(mode 0644\\)`, 'm'));
});
