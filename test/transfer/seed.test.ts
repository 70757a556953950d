// `asl seed` on a real store made by the CLI: what the seed holds, how its log is
// signed, which keys travel, the readable folders, the rules for DIR, and that a
// failure leaves DIR as it was.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runAsl } from '../helpers.js';
import { flipStoredByte } from '../store/object-bytes.js';
import { objectIds } from '../store/tree-compare.js';
import { assertRefused, buildSource, copyTree, tempDir, treeDigest, type SourceFixture } from './fixture.js';

let fx: SourceFixture;
let fixtureDir: string;
before(async () => {
  fixtureDir = await mkdtemp(join(tmpdir(), 'asl-seed-fixture-'));
  fx = await buildSource(fixtureDir);
});
after(() => rm(fixtureDir, { recursive: true, force: true }));

interface SeedJson {
  receipts: number;
  objects: number;
  log: string;
  privateKey: boolean;
  alreadySeeded: boolean;
  views: { files: number; skipped: string[] } | null;
  verify: { ok: boolean };
}

async function seed(args: string[]): Promise<SeedJson> {
  const r = await runAsl(['seed', '--json', ...args]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as SeedJson;
}

/** Every object id of a store, loose or packed (a seed packs what it copies). */
function objectsOf(store: string): Promise<string[]> {
  return objectIds(store);
}

async function verifyOk(store: string): Promise<void> {
  const v = await runAsl(['verify', '--store', store]);
  assert.equal(v.code, 0, v.stdout + v.stderr);
}

function logLines(
  store: string,
): Array<{ seq: number; receipt: string; step: string; time: string; prev: string | null }> {
  const text = existsSync(join(store, 'log/receipts.log')) ? readFileSync(join(store, 'log/receipts.log'), 'utf8') : '';
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l.split('\t')[1]!));
}

test('the whole store: every object, the source log and signed head byte for byte, public keys only, the readable folders; verify passes', async (t) => {
  const dir = await tempDir(t);
  const into = join(dir, 'iso_root', 'var', 'lib', 'asl', 'personal');
  const result = await seed(['--store', fx.store, '--into', into]);
  assert.equal(result.receipts, 3);
  assert.equal(result.log, 'verbatim');
  assert.equal(result.privateKey, false);
  await verifyOk(into);
  assert.deepEqual(await objectsOf(into), await objectsOf(fx.store));
  for (const f of ['log/receipts.log', 'log/head.json']) {
    assert.deepEqual(await readFile(join(into, f)), await readFile(join(fx.store, f)), f);
  }
  assert.deepEqual(readdirSync(join(into, 'keys/trusted')), [`${fx.keyId}.pub`]);
  assert.equal(existsSync(join(into, 'keys/signing.key')), false, 'no private key');
  assert.equal(existsSync(join(into, 'keys/signing.pub')), false, 'no signing identity of its own');
  assert.equal(existsSync(join(into, 'keys/environment.key')), false, 'no environment HMAC key (a secret too)');
  assert.deepEqual(readdirSync(join(into, 'refs/put')).sort(), readdirSync(join(fx.store, 'refs/put')).sort());
  // The readable folders, as `cp -a` would have made them (per/ holds only files receipts back).
  for (const view of ['binaries', 'scripts', 'per'])
    assert.equal(treeDigest(join(into, view)), treeDigest(join(fx.store, view)), view);
  assert.equal(statSync(join(into, 'binaries/tool')).mode & 0o777, 0o755);
  assert.deepEqual(readdirSync(join(into, 'per')).sort(), ['final', 'gen', 'overlay']);
  assert.equal(statSync(into).mode & 0o777, 0o700, 'the seeded store is private to its owner (docs/security.md)');
  assert.deepEqual(readdirSync(join(dir, 'iso_root/var/lib/asl')), ['personal'], 'no temp directory left beside DIR');
  // The seeded log reads like the source's.
  const log = await runAsl(['log', '--store', into]);
  assert.equal(log.code, 0);
  assert.equal(log.stdout, (await runAsl(['log', '--store', fx.store])).stdout);
});

test('--receipts STEP: only its closure, a log of just those receipts with a head signed by the source key', async (t) => {
  const dir = await tempDir(t);
  // gen is the first log entry: the source's line is kept, the head is new.
  const gen = join(dir, 'gen');
  const r1 = await seed(['--store', fx.store, '--into', gen, '--receipts', 'gen']);
  assert.equal(r1.log, 'prefix');
  await verifyOk(gen);
  assert.deepEqual(logLines(gen), logLines(fx.store).slice(0, 1));
  assert.ok((await objectsOf(gen)).length < (await objectsOf(fx.store)).length);
  assert.deepEqual(readdirSync(join(gen, 'per')), ['gen']);
  assert.ok(r1.views!.skipped.includes('per/overlay/tool.per.dsse.json'));
  // overlay is entry 2 alone: re-chained, same receipt, step and time.
  const overlay = join(dir, 'overlay');
  const r2 = await seed(['--store', fx.store, '--into', overlay, '--receipts', fx.receipts.overlay.slice(0, 20)]);
  assert.equal(r2.log, 'resigned');
  await verifyOk(overlay);
  const [entry] = logLines(overlay);
  const source = logLines(fx.store)[1]!;
  assert.deepEqual({ ...entry, prev: null, seq: 1 }, { ...source, prev: null, seq: 1 });
  assert.equal(entry!.prev, null);
  // The head is signed by the source key, which the seed trusts; no other key appears.
  const head = JSON.parse(await readFile(join(overlay, 'log/head.json'), 'utf8')) as {
    signatures: Array<{ keyid: string }>;
  };
  assert.equal(head.signatures[0]!.keyid, fx.keyId);
  assert.deepEqual(readdirSync(join(overlay, 'keys/trusted')), [`${fx.keyId}.pub`]);
});

test('--receipts final also takes the receipts it read from per/, transitively', async (t) => {
  const dir = await tempDir(t);
  const into = join(dir, 'final');
  const r = await seed(['--store', fx.store, '--into', into, '--receipts', fx.receipts.final]);
  assert.equal(r.receipts, 3, 'final named gen and overlay as receipt inputs');
  assert.equal(r.log, 'verbatim');
  await verifyOk(into);
});

test('--with-private-key copies the signing key, and the seed can then record its own steps', async (t) => {
  const dir = await tempDir(t);
  const into = join(dir, 'p');
  const r = await seed(['--store', fx.store, '--into', into, '--with-private-key']);
  assert.equal(r.privateKey, true);
  assert.equal(statSync(join(into, 'keys/signing.key')).mode & 0o777, 0o600);
  const cap = await runAsl([
    'capture',
    '--store',
    into,
    '--cmd',
    'true',
    '--outdir',
    join(dir, 'out'),
    '--no-auto-watch',
  ]);
  assert.equal(cap.code, 0, cap.stderr);
  await verifyOk(into);
  assert.equal(logLines(into).length, 4);
});

test('a seed without the private key: asl init gives the host a key of its own; its captures continue the history and verify', async (t) => {
  const dir = await tempDir(t);
  const into = join(dir, 'p');
  await seed(['--store', fx.store, '--into', into]);
  const refused = await runAsl([
    'capture',
    '--store',
    into,
    '--cmd',
    'true',
    '--outdir',
    join(dir, 'out0'),
    '--no-auto-watch',
  ]);
  assert.equal(refused.code, 2, 'no signing key yet: refused');
  assert.equal(refused.stderr.trim().split('\n').length, 1, refused.stderr);
  assert.equal(logLines(into).length, 3, 'nothing appended by the refused capture');

  const init = await runAsl(['init', '--store', into, '--json']);
  assert.equal(init.code, 0, init.stderr);
  const made = JSON.parse(init.stdout) as { created: boolean; keyGenerated: boolean; keyId: string };
  assert.deepEqual([made.created, made.keyGenerated], [false, true]);
  assert.notEqual(made.keyId, fx.keyId, 'the host key is not the build key');
  assert.deepEqual(readdirSync(join(into, 'keys/trusted')).sort(), [`${fx.keyId}.pub`, `${made.keyId}.pub`].sort());
  const again = JSON.parse((await runAsl(['init', '--store', into, '--json'])).stdout) as {
    keyGenerated: boolean;
    keyId: string;
  };
  assert.deepEqual([again.keyGenerated, again.keyId], [false, made.keyId], 'a second init keeps the key');

  const cap = await runAsl([
    'capture',
    '--store',
    into,
    '--cmd',
    'echo on-host',
    '--outdir',
    join(dir, 'out'),
    '--no-auto-watch',
    '--json',
  ]);
  assert.equal(cap.code, 0, cap.stderr);
  await verifyOk(into);
  const lines = logLines(into);
  assert.equal(lines.length, 4);
  assert.equal(lines[3]!.prev !== null, true, 'the host entry chains onto the build history');
  assert.equal(statSync(join(into, 'keys/environment.key')).mode & 0o777, 0o600, 'a new environment key of the host');
  assert.notDeepEqual(
    await readFile(join(into, 'keys/environment.key')),
    await readFile(join(fx.store, 'keys/environment.key')),
  );
});

test('DIR: an empty directory is used; a non-empty one, a symlink or another store is refused and left as it was; a re-run is a no-op', async (t) => {
  const dir = await tempDir(t);
  const empty = join(dir, 'empty');
  await mkdir(empty);
  await seed(['--store', fx.store, '--into', empty]);
  await verifyOk(empty);
  const before = treeDigest(empty);
  const again = await seed(['--store', fx.store, '--into', empty]);
  assert.equal(again.alreadySeeded, true);
  assert.equal(treeDigest(empty), before);

  const full = join(dir, 'full');
  await mkdir(full);
  await writeFile(join(full, 'keep.txt'), 'mine\n');
  assertRefused(
    await runAsl(['seed', '--store', fx.store, '--into', full]),
    2,
    /directory is not empty \(found "keep\.txt"\)/,
  );
  assert.deepEqual(readdirSync(full), ['keep.txt']);

  const target = join(dir, 'elsewhere');
  await mkdir(target);
  await symlink(target, join(dir, 'link'));
  assertRefused(await runAsl(['seed', '--store', fx.store, '--into', join(dir, 'link')]), 2, /is a symbolic link/);
  assert.deepEqual(readdirSync(target), []);

  const other = join(dir, 'other');
  assert.equal((await runAsl(['init', '--store', other])).code, 0);
  const otherBefore = treeDigest(other);
  assertRefused(
    await runAsl(['seed', '--store', fx.store, '--into', other]),
    2,
    /already an ASL store that does not hold this seed/,
  );
  assert.equal(treeDigest(other), otherBefore);

  assertRefused(await runAsl(['seed', '--store', fx.store, '--into', join(fx.store, 'per', 'x')]), 2, /into itself/);
  assertRefused(
    await runAsl(['seed', '--store', fx.store, '--into', join(dir, 'n'), '--receipts', 'no-such-step']),
    2,
    /no-such-step: no logged receipt/,
  );
});

test('a seeded copy with one byte flipped is caught by verify, naming the object', async (t) => {
  const dir = await tempDir(t);
  const into = join(dir, 'flip');
  await seed(['--store', fx.store, '--into', into]);
  await flipStoredByte(into, fx.genAfter, 10);
  const v = await runAsl(['verify', '--store', into]);
  assert.equal(v.code, 1);
  assert.match(v.stdout, new RegExp(`FAIL object ${fx.genAfter} is corrupt`));
  // and the seed's per/ files: a flipped byte in a log the receipt records is refused at seed time
  const src = join(dir, 'src');
  copyTree(fx.store, src);
  const log = join(src, 'per/gen/stdout.log');
  await writeFile(log, 'not what ran\n');
  assertRefused(
    await runAsl(['seed', '--store', src, '--into', join(dir, 'x')]),
    1,
    /per\/gen\/stdout\.log: hashes to sha256:[0-9a-f]{64}, but receipt sha256:[0-9a-f]{64} records stdout/,
  );
  assert.equal(existsSync(join(dir, 'x')), false);
});
