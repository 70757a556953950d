// Bundles for the air gap, on a real store made by the CLI: the file is a plain
// POSIX tar that GNU tar reads, with the documented layout, deterministic; import
// adds exactly the closure, only with keys the operator named, and is idempotent.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ASL_BIN, runAsl } from '../helpers.js';
import {
  assertRefused,
  buildSource,
  readBundleEntries,
  sha256,
  tempDir,
  treeDigest,
  type SourceFixture,
} from './fixture.js';
import type { BundleManifest } from '../../src/transfer/bundle-manifest.js';

let fx: SourceFixture;
let fixtureDir: string;
before(async () => {
  fixtureDir = await mkdtemp(join(tmpdir(), 'asl-bundle-fixture-'));
  fx = await buildSource(fixtureDir);
});
after(() => rm(fixtureDir, { recursive: true, force: true }));

async function exportTo(
  file: string,
  ...extra: string[]
): Promise<{ receipts: number; objects: number; keys: string[] }> {
  const r = await runAsl(['bundle', 'export', '--store', fx.store, '-o', file, '--json', ...extra]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as { receipts: number; objects: number; keys: string[] };
}

async function newStore(dir: string, name: string): Promise<string> {
  const s = join(dir, name);
  assert.equal((await runAsl(['init', '--store', s])).code, 0);
  return s;
}

function logReceipts(store: string): string[] {
  const p = join(store, 'log/receipts.log');
  if (!existsSync(p)) return [];
  return readFileSync(p, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l.split('\t')[1]!) as { receipt: string }).receipt);
}

test('a bundle is a deterministic POSIX tar: manifest first, signer keys, objects by digest, each named by its sha256', async (t) => {
  const dir = await tempDir(t);
  const a = join(dir, 'a.tar');
  const result = await exportTo(a);
  assert.deepEqual(result.keys, [fx.keyId]);
  const names = execFileSync('tar', ['-tf', a], { encoding: 'utf8' }).trim().split('\n');
  assert.equal(names[0], 'asl-bundle.json');
  assert.equal(names[1], `keys/${fx.keyId}.pub`);
  const objects = names.slice(2);
  assert.deepEqual(objects, [...objects].sort());
  assert.equal(objects.length, result.objects);
  assert.ok(objects.every((n) => /^objects\/sha256\/[0-9a-f]{2}\/[0-9a-f]{62}$/.test(n)));
  // Every object checks with the operator's own tools: extract, sha256sum.
  const x = join(dir, 'x');
  await mkdir(x);
  execFileSync('tar', ['-xf', a, '-C', x]);
  const sums = execFileSync('sh', ['-c', 'find objects -type f -exec sha256sum {} +'], { cwd: x, encoding: 'utf8' })
    .trim()
    .split('\n');
  for (const line of sums) {
    const [hex, path] = line.split(/\s+/);
    assert.equal(path!.replace(/^objects\/sha256\/(..)\//, '$1'), hex);
  }
  const manifest = JSON.parse(readFileSync(join(x, 'asl-bundle.json'), 'utf8')) as BundleManifest;
  assert.equal(manifest.format, 'asl-bundle');
  assert.equal(manifest.version, 1);
  assert.deepEqual(
    manifest.receipts.map((r) => r.id),
    logReceipts(fx.store),
  );
  assert.deepEqual(
    manifest.objects.map((o) => `objects/sha256/${o.digest.slice(7, 9)}/${o.digest.slice(9)}`),
    objects,
  );
  // Same store, same closure: same bytes; and a seed of it exports the very same file.
  const b = join(dir, 'b.tar');
  await exportTo(b);
  assert.deepEqual(await readFile(b), await readFile(a));
  const seeded = join(dir, 'seeded');
  assert.equal((await runAsl(['seed', '--store', fx.store, '--into', seeded])).code, 0);
  const c = join(dir, 'c.tar');
  assert.equal((await runAsl(['bundle', 'export', '--store', seeded, '-o', c])).code, 0);
  assert.deepEqual(await readFile(c), await readFile(a));
});

test('import: refused until the operator names the signer; then the closure is added, the key trusted, the log extended; again, a no-op', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'all.tar');
  await exportTo(file);
  const target = await newStore(dir, 'T');
  const before = treeDigest(target);
  const r1 = await runAsl(['bundle', 'import', '--store', target, file]);
  assertRefused(
    r1,
    1,
    new RegExp(
      `signature check failed: no valid signature by a trusted key.*not a trusted key; if you trust the signer, check its key id out of band and pass --trust-key ${fx.keyId}`,
    ),
  );
  assert.equal(treeDigest(target), before, 'target unchanged');
  const r2 = await runAsl(['bundle', 'import', '--store', target, file, '--trust-key', fx.keyId, '--json']);
  assert.equal(r2.code, 0, r2.stderr);
  const out = JSON.parse(r2.stdout) as {
    receipts: { added: number };
    objects: { added: number; total: number };
    trusted: string[];
  };
  assert.equal(out.receipts.added, 3);
  assert.equal(out.objects.added, out.objects.total);
  assert.deepEqual(out.trusted, [fx.keyId]);
  assert.ok(readdirSync(join(target, 'keys/trusted')).includes(`${fx.keyId}.pub`));
  assert.equal((await runAsl(['verify', '--store', target])).code, 0);
  assert.deepEqual(logReceipts(target), logReceipts(fx.store));
  assert.deepEqual(readdirSync(join(target, 'refs/put')).sort(), readdirSync(join(fx.store, 'refs/put')).sort());
  // The imported tree restores with the source's timestamps (the root record travelled).
  const restored = join(dir, 'restored');
  assert.equal((await runAsl(['restore', '--store', target, fx.genAfter, restored])).code, 0);
  assert.equal(readFileSync(join(restored, 'f7'), 'utf8'), 'file 7\n');
  const afterImport = treeDigest(target);
  const r3 = await runAsl(['bundle', 'import', '--store', target, file, '--json']);
  assert.equal(r3.code, 0, r3.stderr);
  assert.equal((JSON.parse(r3.stdout) as { receipts: { added: number } }).receipts.added, 0);
  assert.equal(treeDigest(target), afterImport, 'a second import changes nothing');
});

test('import of a part, then of the whole: only the missing receipts and objects are added; --trust FILE works like --trust-key', async (t) => {
  const dir = await tempDir(t);
  const part = join(dir, 'gen.tar');
  const partInfo = await exportTo(part, '--receipts', 'gen');
  assert.equal(partInfo.receipts, 1);
  const whole = join(dir, 'all.tar');
  await exportTo(whole);
  const target = await newStore(dir, 'T');
  assert.equal((await runAsl(['bundle', 'import', '--store', target, part, '--trust', fx.publicKey])).code, 0);
  assert.deepEqual(logReceipts(target), [fx.receipts.gen]);
  const r = await runAsl(['bundle', 'import', '--store', target, whole, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as {
    receipts: { added: number; present: number };
    objects: { added: number; present: number };
  };
  assert.deepEqual(out.receipts, { added: 2, present: 1 });
  assert.equal(out.objects.present, partInfo.objects);
  assert.deepEqual(logReceipts(target), [fx.receipts.gen, fx.receipts.overlay, fx.receipts.final]);
  assert.equal((await runAsl(['verify', '--store', target])).code, 0);
});

test('a store that cannot sign (a seed without its private key) refuses new receipts before anything is staged', async (t) => {
  const dir = await tempDir(t);
  const part = join(dir, 'gen.tar');
  await exportTo(part, '--receipts', 'gen');
  const whole = join(dir, 'all.tar');
  await exportTo(whole);
  const seeded = join(dir, 'seeded');
  assert.equal((await runAsl(['seed', '--store', fx.store, '--into', seeded, '--receipts', 'gen'])).code, 0);
  const before = treeDigest(seeded);
  assertRefused(
    await runAsl(['bundle', 'import', '--store', seeded, whole]),
    2,
    /has no signing key to sign its log head, so it cannot take new receipts .*nothing imported/,
  );
  assert.equal(treeDigest(seeded), before);
  // What it already holds imports as a no-op.
  assert.equal((await runAsl(['bundle', 'import', '--store', seeded, part])).code, 0);
  assert.equal(treeDigest(seeded), before);
});

test('export to stdout piped into import from stdin', async (t) => {
  const dir = await tempDir(t);
  const target = await newStore(dir, 'T');
  const code = await new Promise<number | null>((resolve, reject) => {
    const exp = spawn(
      process.execPath,
      [ASL_BIN, 'bundle', 'export', '--store', fx.store, '-o', '-', '--receipts', 'overlay'],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    const imp = spawn(
      process.execPath,
      [ASL_BIN, 'bundle', 'import', '--store', target, '-', '--trust-key', fx.keyId],
      { stdio: ['pipe', 'ignore', 'inherit'] },
    );
    exp.stdout.pipe(imp.stdin);
    imp.on('error', reject);
    imp.on('close', resolve);
  });
  assert.equal(code, 0);
  assert.deepEqual(logReceipts(target), [fx.receipts.overlay]);
  assert.equal((await runAsl(['verify', '--store', target])).code, 0);
});

test('the bundle carries exactly the closure it lists, and the manifest names the source log order', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'final.tar');
  await exportTo(file, '--receipts', fx.receipts.final);
  const entries = await readBundleEntries(file);
  const manifest = JSON.parse(entries[0]!.data.toString()) as BundleManifest;
  assert.deepEqual(
    manifest.receipts.map((r) => r.step),
    ['gen', 'overlay', 'final'],
  );
  for (const e of entries.slice(2)) assert.equal(sha256(e.data), `sha256:${e.name.slice(15, 17)}${e.name.slice(18)}`);
  assert.equal(entries.length, 2 + manifest.objects.length);
});
