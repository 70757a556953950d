import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { readFile, readdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type { AslError } from '../../src/core/errors.js';
import { keyIdOfPublicKey } from '../../src/store/keys.js';
import { PUBLIC_KEY_FILE, TRUSTED_KEYS_DIR } from '../../src/store/layout.js';
import { initStore } from '../../src/store/store.js';
import { exportPublicKey, listTrustedKeys, loadTrustedKeys, trustKey } from '../../src/receipt/trusted-keys.js';
import { tempDir } from '../helpers.js';

test('a new store trusts exactly its own key; export gives that key', async (t) => {
  const { store, keyId } = await initStore(join(await tempDir(t), 'store'));
  const listed = await listTrustedKeys(store);
  assert.deepEqual(
    listed.map((k) => [k.keyId, k.path]),
    [[keyId, join(store.root, TRUSTED_KEYS_DIR, `${keyId}.pub`)]],
  );
  const exported = await exportPublicKey(store);
  assert.equal(exported.keyId, keyId);
  assert.equal(exported.pem, await readFile(join(store.root, PUBLIC_KEY_FILE), 'utf8'));
  assert.deepEqual([...(await loadTrustedKeys(store)).keys()], [keyId]);
});

test("trustKey adds another store's exported key once", async (t) => {
  const dir = await tempDir(t);
  const { store: a } = await initStore(join(dir, 'a'));
  const { store: b, keyId: bKey } = await initStore(join(dir, 'b'));
  const file = join(dir, 'b.pub');
  await writeFile(file, (await exportPublicKey(b)).pem);
  const first = await trustKey(a, file);
  assert.deepEqual({ keyId: first.keyId, added: first.added }, { keyId: bKey, added: true });
  assert.equal((await trustKey(a, file)).added, false);
  assert.equal((await listTrustedKeys(a)).length, 2);
  assert.ok((await loadTrustedKeys(a)).has(bKey));
  assert.deepEqual(
    (await readdir(join(a.root, TRUSTED_KEYS_DIR))).filter((n) => !n.endsWith('.pub')),
    [],
    'no temp files left',
  );
});

test('trustKey refuses private keys, non-Ed25519 keys and junk', async (t) => {
  const dir = await tempDir(t);
  const { store } = await initStore(join(dir, 'store'));
  const cases: Array<[string, string, RegExp]> = [
    [
      'priv.pem',
      await readFile(join(store.root, 'keys/signing.key'), 'utf8'),
      /is a private key; trust the public key instead/,
    ],
    [
      'rsa.pub',
      generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      /is a rsa key; ASL signs and verifies with Ed25519 only/,
    ],
    ['junk.pub', 'hello\n', /not a PEM public key/],
  ];
  for (const [name, content, message] of cases) {
    const file = join(dir, name);
    await writeFile(file, content);
    await assert.rejects(trustKey(store, file), (err: AslError) => {
      assert.equal(err.code, 'BAD_INPUT');
      assert.match(err.message, message);
      assert.ok(err.message.startsWith(file));
      return true;
    });
  }
  await assert.rejects(trustKey(store, join(dir, 'absent.pub')), (err: AslError) => err.code === 'NOT_FOUND');
  assert.equal((await listTrustedKeys(store)).length, 1);
});

test('a trusted key file whose name is not its key id is reported as corrupt', async (t) => {
  const { store, keyId } = await initStore(join(await tempDir(t), 'store'));
  const other = generateKeyPairSync('ed25519').publicKey;
  const dir = join(store.root, TRUSTED_KEYS_DIR);
  await writeFile(join(dir, `${keyIdOfPublicKey(other)}.pub`), other.export({ type: 'spki', format: 'pem' }));
  await rename(join(dir, `${keyIdOfPublicKey(other)}.pub`), join(dir, `${'0'.repeat(64)}.pub`));
  await assert.rejects(listTrustedKeys(store), (err: AslError) => {
    assert.equal(err.code, 'CORRUPT');
    assert.match(
      err.message,
      new RegExp(`${'0'.repeat(64)}\\.pub: trusted key file is misnamed: its key id is ${keyIdOfPublicKey(other)}`),
    );
    return true;
  });
  assert.ok(keyId);
});
