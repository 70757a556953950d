import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runAsl, tempDir } from '../helpers.js';
import { oneLine, sha256Hex } from './tree-compare.js';

const STORE_DIRS = ['objects-v1', 'objects-v1/sha256', 'tmp', 'keys', 'binaries', 'scripts', 'per'];

async function snapshotDir(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const visit = async (abs: string, rel: string) => {
    const st = await stat(abs);
    out.set(
      rel,
      st.isDirectory()
        ? `dir ${(st.mode & 0o7777).toString(8)}`
        : `file ${(st.mode & 0o7777).toString(8)} ${sha256Hex(await readFile(abs))}`,
    );
    if (st.isDirectory())
      for (const name of await readdir(abs)) await visit(join(abs, name), rel ? `${rel}/${name}` : name);
  };
  await visit(dir, '');
  return out;
}

test('init creates the layout: marker, objects, tmp, an Ed25519 key pair (private 0600), the seed view folders', async (t) => {
  const store = join(await tempDir(t), 'S');
  const r = await runAsl(['init', '--store', store, '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  const out = JSON.parse(r.stdout) as { store: string; created: boolean; keyId: string };
  assert.equal(out.store, store);
  assert.equal(out.created, true);

  const marker = JSON.parse(await readFile(join(store, 'asl-store.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(marker.format, 'asl-store');
  assert.equal(marker.layout, 1);
  assert.ok(!Number.isNaN(Date.parse(String(marker.created))), 'marker records its creation time');

  for (const d of STORE_DIRS) assert.ok((await stat(join(store, d))).isDirectory(), `${d}/ exists`);
  assert.deepEqual(await readdir(join(store, 'tmp')), []);
  assert.deepEqual(await readdir(join(store, 'objects-v1', 'sha256')), []);

  const privSt = await stat(join(store, 'keys', 'signing.key'));
  assert.equal(privSt.mode & 0o777, 0o600, 'private key is mode 0600');
  const privPem = await readFile(join(store, 'keys', 'signing.key'), 'utf8');
  const pubPem = await readFile(join(store, 'keys', 'signing.pub'), 'utf8');
  const priv = createPrivateKey(privPem);
  const pub = createPublicKey(pubPem);
  assert.equal(priv.asymmetricKeyType, 'ed25519');
  assert.equal(pub.asymmetricKeyType, 'ed25519');
  // The two halves belong together.
  const msg = Buffer.from('asl init test');
  assert.ok(verify(null, msg, pub, sign(null, msg, priv)));
  // The key id is the sha256 of the public key's SPKI DER.
  assert.equal(out.keyId, sha256Hex(pub.export({ type: 'spki', format: 'der' })));
});

test('init again on a store is a no-op: same key id, same key bytes, same marker', async (t) => {
  const store = join(await tempDir(t), 'S');
  const first = await runAsl(['init', '--store', store, '--json']);
  assert.equal(first.code, 0, first.stderr);
  const before = await snapshotDir(store);
  const second = await runAsl(['init', '--store', store, '--json']);
  assert.equal(second.code, 0, second.stderr);
  assert.equal(second.stderr, '');
  const a = JSON.parse(first.stdout) as { keyId: string };
  const b = JSON.parse(second.stdout) as { keyId: string; created: boolean };
  assert.equal(b.created, false);
  assert.equal(b.keyId, a.keyId);
  assert.deepEqual(await snapshotDir(store), before, 'nothing in the store changed (keys, marker, folders)');
  const human = await runAsl(['init', '--store', store]);
  assert.equal(human.code, 0);
  assert.match(human.stdout, new RegExp(`^already a store: ${store} \\(signing key ${a.keyId.slice(0, 16)}\\)\\n$`));
});

test("the seed's sequence: mkdir -p S/{binaries,scripts,per}, then asl-init-store --store S", async (t) => {
  const store = join(await tempDir(t), 'asl-preimage-store');
  for (const d of ['binaries', 'scripts', 'per']) await mkdir(join(store, d), { recursive: true });
  // A view folder may already hold the operator's files; init must keep them.
  await writeFile(join(store, 'scripts', 'build.sh'), '#!/bin/sh\necho build\n');
  const r = await runAsl(['--store', store], { program: 'asl-init-store' });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^created ${store} \\(signing key [0-9a-f]{16}\\)\\n$`));
  for (const d of STORE_DIRS) assert.ok((await stat(join(store, d))).isDirectory(), `${d}/ exists`);
  assert.equal(await readFile(join(store, 'scripts', 'build.sh'), 'utf8'), '#!/bin/sh\necho build\n');
  // The result is a working store.
  const put = await runAsl(['put', '--store', store, join(store, 'scripts', 'build.sh')]);
  assert.equal(put.code, 0, put.stderr);
  assert.equal(put.stdout, `sha256:${sha256Hex('#!/bin/sh\necho build\n')}\n`);
  // And the alias is idempotent too.
  const again = await runAsl(['--store', store], { program: 'asl-init-store' });
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /^already a store: /);
});

test('init refuses a non-empty directory that is not a store: exit 2, one line naming it, nothing created', async (t) => {
  const dir = join(await tempDir(t), 'data');
  await mkdir(dir);
  await writeFile(join(dir, 'precious.txt'), 'do not adopt me\n');
  await mkdir(join(dir, 'per')); // a view folder name does not make it a store
  const before = await snapshotDir(dir);
  const r = await runAsl(['init', '--store', dir]);
  assert.equal(r.code, 2);
  assert.equal(r.stdout, '');
  const line = oneLine(r.stderr);
  assert.ok(line.includes(dir), `names the path: ${line}`);
  assert.match(line, /not empty and is not an ASL store/);
  assert.match(line, /precious\.txt/);
  assert.deepEqual(await snapshotDir(dir), before, 'nothing was created or changed');

  const json = await runAsl(['init', '--store', dir, '--json']);
  assert.equal(json.code, 2);
  const err = JSON.parse(oneLine(json.stderr)) as { error: { code: string; message: string } };
  assert.equal(err.error.code, 'NOT_A_STORE');
  assert.ok(err.error.message.includes(dir));
});

test('init refuses a path that is a file: exit 2, one line naming it, nothing created', async (t) => {
  const parent = await tempDir(t);
  const file = join(parent, 'S');
  await writeFile(file, 'a file\n');
  const r = await runAsl(['init', '--store', file]);
  assert.equal(r.code, 2);
  assert.equal(r.stdout, '');
  const line = oneLine(r.stderr);
  assert.ok(line.includes(file), `names the path: ${line}`);
  assert.match(line, /not a directory/);
  assert.equal(await readFile(file, 'utf8'), 'a file\n');
  assert.deepEqual(await readdir(parent), ['S']);
  // A store path below a file is refused the same way.
  const below = await runAsl(['init', '--store', join(file, 'sub')]);
  assert.equal(below.code, 2);
  assert.ok(oneLine(below.stderr).includes(join(file, 'sub')));
  assert.deepEqual(await readdir(parent), ['S']);
});

test('init without --store is a usage error (exit 2, one line)', async () => {
  const r = await runAsl(['init']);
  assert.equal(r.code, 2);
  assert.match(oneLine(r.stderr), /--store DIR is required/);
});
