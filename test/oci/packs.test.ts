// Packs through a real registry (Debian's docker-registry, plain http, no auth):
// a pull fetches only the objects it lacks (by Range, or from the whole pack when
// the registry ignores Range), closures pushed before packs still pull, and a
// registry serving packs that lie is refused with one line, the target store
// byte-for-byte unchanged and nothing left staged.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { prng, runAsl, type RunResult } from '../helpers.js';
import { ensureDebianPackages } from '../fixtures.js';
import { readStoredBytes } from '../store/object-bytes.js';
import { flipStoredByte } from '../store/object-bytes.js';
import { assertRefused, copyTree, listAll, sha256, tempDir, treeDigest } from '../transfer/fixture.js';
import { openStore } from '../../src/store/store.js';
import { INDEX_MAGIC } from '../../src/store/pack-index.js';
import { packIndexBytes } from '../../src/transfer/oci-pack.js';
import type { Digest } from '../../src/core/digest.js';
import { startCorruptingProxy, startRegistry, type Registry } from './registry.js';
import { pushWithoutPacks, readPushed, republish } from './pushed.js';

let reg: Registry;
let dir: string;
/** A store with two captures of a generated tree: all of it (step "all") and its big/ folder (step "big"). */
let source: string;
let publicKey: string;
/** A store that trusts the source key and holds the "big" step, pulled from the registry. */
let partial: string;

interface PullJson {
  receipts: { added: number; present: number };
  objects: { total: number; downloaded: number; present: number };
  transfer: { requests: number; bytes: number; packs: number };
}

const run = promisify(execFile);
const ref = (path: string) => `oci://${reg.host}/${path}`;
const asl = (args: string[]): Promise<RunResult> => runAsl([...args, '--plain-http']);
async function aslJson<T>(args: string[]): Promise<T> {
  const r = await asl([...args, '--json']);
  assert.equal(r.code, 0, `asl ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'asl-oci-packs-'));
  reg = await startRegistry({ tls: false, auth: 'none' });
  // 12 files of 500 KB (big/) and 100 of 1-8 KB (small/): one pack of about 6.5 MB, in which
  // the small files lie in a dozen runs between the big ones.
  const tree = join(dir, 'tree');
  const rand = prng(13);
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(rand() * 256)));
  await mkdir(join(tree, 'big'), { recursive: true });
  await mkdir(join(tree, 'small'), { recursive: true });
  for (let i = 0; i < 12; i++) await writeFile(join(tree, 'big', `b${i}`), bytes(500_000));
  for (let i = 0; i < 100; i++) await writeFile(join(tree, 'small', `s${i}`), bytes(1000 + Math.floor(rand() * 7000)));
  source = join(dir, 'S');
  assert.equal((await runAsl(['init', '--store', source])).code, 0);
  assert.equal(
    (await runAsl(['capture', '--store', source, '--file', join(tree, 'big'), '--outdir', join(dir, 'per', 'big')]))
      .code,
    0,
  );
  assert.equal(
    (await runAsl(['capture', '--store', source, '--file', tree, '--outdir', join(dir, 'per', 'all')])).code,
    0,
  );
  publicKey = join(dir, 'source.pub');
  await writeFile(publicKey, await readFile(join(source, 'keys', 'signing.pub')));
  // The whole store in one repository (one pack holding everything), the big step in another.
  assert.equal((await asl(['push', '--store', source, ref('packs/whole:all')])).code, 0);
  assert.equal((await asl(['push', '--store', source, ref('packs/part:big'), '--receipts', 'big'])).code, 0);
  partial = join(dir, 'P');
  assert.equal((await runAsl(['init', '--store', partial])).code, 0);
  assert.equal((await asl(['pull', '--store', partial, ref('packs/part:big'), '--trust', publicKey])).code, 0);
});
after(async () => {
  await reg?.stop();
  await rm(dir, { recursive: true, force: true });
});

function logSteps(store: string): string[] {
  const path = join(store, 'log/receipts.log');
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l.split('\t')[1]!) as { step: string }).step);
}

test('a store that holds part of a pack fetches only what it lacks, by Range', async (t) => {
  const work = await tempDir(t, 'asl-oci-packs-');
  const target = join(work, 'T');
  copyTree(partial, target);
  const held = await readPushed(reg, 'packs/whole', 'all');
  assert.equal(held.packs.length, 1);
  const pack = held.packs[0]!;
  const proxy = await startCorruptingProxy(reg, new Set());
  t.after(() => proxy.stop());
  const r = await runAsl(['pull', '--store', target, `oci://${proxy.host}/packs/whole:all`, '--plain-http', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const pulled = JSON.parse(r.stdout) as PullJson;
  assert.deepEqual(pulled.receipts, { added: 1, present: 1 });
  const ranges = proxy.requests.filter((x) => x.startsWith(`GET /v2/packs/whole/blobs/${pack.pack.digest} bytes=`));
  assert.ok(ranges.length >= 1, proxy.requests.join('\n'));
  assert.equal(
    proxy.requests.filter((x) => x === `GET /v2/packs/whole/blobs/${pack.pack.digest}`).length,
    0,
    'the whole pack is not fetched',
  );
  assert.ok(
    pulled.transfer.bytes < pack.pack.size * 0.25,
    `${pulled.transfer.bytes} bytes moved for a pack of ${pack.pack.size}`,
  );
  assert.equal(pulled.objects.downloaded + pulled.objects.present, pulled.objects.total);
  const verify = await runAsl(['verify', '--store', target]);
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  assert.deepEqual(logSteps(target), ['big', 'all']);
});

test('a registry that ignores Range sends the whole pack: the same objects are taken from it', async (t) => {
  const work = await tempDir(t, 'asl-oci-packs-');
  const target = join(work, 'T');
  copyTree(partial, target);
  const pack = (await readPushed(reg, 'packs/whole', 'all')).packs[0]!;
  const proxy = await startCorruptingProxy(reg, new Set(), { ignoreRange: true });
  t.after(() => proxy.stop());
  const r = await runAsl(['pull', '--store', target, `oci://${proxy.host}/packs/whole:all`, '--plain-http', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const pulled = JSON.parse(r.stdout) as PullJson;
  assert.deepEqual(pulled.receipts, { added: 1, present: 1 });
  assert.ok(pulled.transfer.bytes >= pack.pack.size, `${pulled.transfer.bytes} bytes moved`);
  const verify = await runAsl(['verify', '--store', target]);
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  assert.deepEqual(logSteps(target), ['big', 'all']);
});

test('a closure pushed before packs (every object a blob of its own) still pulls; a push onto it packs and reuses its blobs', async (t) => {
  const work = await tempDir(t, 'asl-oci-packs-');
  const digest = await pushWithoutPacks(await openStore(source), reg, 'packs/old', 'v1');
  const held = await readPushed(reg, 'packs/old', 'v1');
  assert.equal(held.index.artifactType, 'application/vnd.asl.closure.v1+json');
  assert.equal(held.packs.length, 0);
  const target = join(work, 'T');
  assert.equal((await runAsl(['init', '--store', target])).code, 0);
  const pulled = await aslJson<PullJson & { digest: string }>([
    'pull',
    '--store',
    target,
    ref('packs/old:v1'),
    '--trust',
    publicKey,
  ]);
  assert.equal(pulled.digest, digest);
  assert.deepEqual(pulled.receipts, { added: 2, present: 0 });
  assert.equal(pulled.transfer.packs, 0);
  assert.equal((await runAsl(['verify', '--store', target])).code, 0);
  assert.deepEqual(logSteps(target), logSteps(source));
  // A push of the same store to the repository: the receipts' blobs are known from the old
  // closure and skipped; the rest goes into packs.
  const pushed = await aslJson<{ blobs: { skipped: number; uploaded: number }; packs: { uploaded: number } }>([
    'push',
    '--store',
    source,
    ref('packs/old:v2'),
  ]);
  assert.ok(pushed.blobs.skipped >= 2, JSON.stringify(pushed));
  assert.equal(pushed.packs.uploaded, 1);
  const again = join(work, 'U');
  assert.equal((await runAsl(['init', '--store', again])).code, 0);
  assert.equal((await asl(['pull', '--store', again, ref('packs/old:v2'), '--trust', publicKey])).code, 0);
  assert.equal((await runAsl(['verify', '--store', again])).code, 0);
});

/** Pulls `tag` of packs/whole (republished by the test) into a copy of an empty trusting store; asserts the refusal and no change. */
async function refusedPull(t: Parameters<typeof tempDir>[0], tag: string, pattern: RegExp): Promise<void> {
  const work = await tempDir(t, 'asl-oci-packs-');
  const target = join(work, 'T');
  assert.equal((await runAsl(['init', '--store', target])).code, 0);
  const before = treeDigest(target);
  assertRefused(await asl(['pull', '--store', target, ref(`packs/whole:${tag}`), '--trust', publicKey]), 1, pattern);
  assert.equal(treeDigest(target), before, 'target store byte-for-byte unchanged');
  assert.deepEqual(readdirSync(join(target, 'tmp')), [], 'nothing left staged');
}

test('hostile packs: an index whose objects do not lie back to back is refused', async (t) => {
  await republish(reg, 'packs/whole', 'all', 'gap', undefined, undefined, (p) => {
    const index = Buffer.from(p.indexBytes);
    const at = INDEX_MAGIC.length + 16 + 48 + 32; // entry 1's offset
    index.writeBigUInt64BE(index.readBigUInt64BE(at) + 1n, at);
    return { index };
  });
  await refusedPull(
    t,
    'gap',
    /pack index [0-9a-f]{64} places entry 1 at offset \d+, not right after the one before \(\d+\)/,
  );
});

test('hostile packs: a byte changed inside a packed object is caught, naming the object and the pack', async (t) => {
  const pack = (await readPushed(reg, 'packs/whole', 'all')).packs[0]!;
  const victim = pack.slots[7]!;
  const bad = Buffer.from(pack.packBytes);
  bad[victim.offset + Math.floor(victim.size / 2)] ^= 0x40;
  await republish(reg, 'packs/whole', 'all', 'flipped', undefined, undefined, () => ({ pack: bad }));
  await refusedPull(
    t,
    'flipped',
    new RegExp(
      `the registry served object ${victim.digest} \\(in pack ${sha256(bad)}\\) with content hashing to sha256:[0-9a-f]{64} \\(${victim.size} bytes\\); nothing pulled`,
    ),
  );
});

test('hostile packs: a pack without the pack header is refused', async (t) => {
  const pack = (await readPushed(reg, 'packs/whole', 'all')).packs[0]!;
  const bad = Buffer.from(pack.packBytes);
  bad[0] = 0x41;
  await republish(reg, 'packs/whole', 'all', 'header', undefined, undefined, () => ({ pack: bad }));
  await refusedPull(t, 'header', /pack sha256:[0-9a-f]{64} does not start with the pack header; nothing pulled/);
});

test('hostile packs: an index describing a pack of another size is refused', async (t) => {
  await republish(reg, 'packs/whole', 'all', 'size', undefined, undefined, (p) => {
    const index = Buffer.from(p.indexBytes);
    index.writeBigUInt64BE(index.readBigUInt64BE(INDEX_MAGIC.length + 8) + 100n, INDEX_MAGIC.length + 8);
    return { index };
  });
  await refusedPull(t, 'size', /describes a pack of \d+ bytes, but the manifest lists the pack as \d+/);
});

test('hostile packs: a pack that lacks an object the closure lists is refused', async (t) => {
  const pack = (await readPushed(reg, 'packs/whole', 'all')).packs[0]!;
  const last = pack.slots[pack.slots.length - 1]!;
  await republish(reg, 'packs/whole', 'all', 'short', undefined, undefined, (p) => ({
    pack: p.packBytes.subarray(0, last.offset),
    index: packIndexBytes(p.slots.slice(0, -1).map((s) => ({ digest: s.digest, size: s.size }))),
  }));
  await refusedPull(
    t,
    'short',
    new RegExp(`the closure lists object ${last.digest}, but no blob or pack of it holds it; nothing pulled`),
  );
});

test('hostile packs: layer titles that climb out of the store are only names: nothing is written outside', async (t) => {
  await republish(
    reg,
    'packs/whole',
    'all',
    'titles',
    undefined,
    undefined,
    () => undefined,
    (l) => {
      l.annotations = { ...(l.annotations ?? {}), 'org.opencontainers.image.title': '../../../../../evil' };
    },
  );
  const work = await tempDir(t, 'asl-oci-packs-');
  const target = join(work, 'T');
  assert.equal((await runAsl(['init', '--store', target])).code, 0);
  const outside = listAll(dirname(work));
  const r = await asl(['pull', '--store', target, ref('packs/whole:titles'), '--trust', publicKey]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((await runAsl(['verify', '--store', target])).code, 0);
  assert.ok(!listAll(dirname(work)).some((p) => /evil/.test(p) && !outside.includes(p)), 'no "evil" file appeared');
  assert.equal(existsSync('/evil'), false);
});

test('push re-hashes what it reads: a corrupt object in the source stops the push, naming it, and no tag is written', async (t) => {
  const work = await tempDir(t, 'asl-oci-packs-');
  const copy = join(work, 'S');
  copyTree(source, copy);
  const pack = (await readPushed(reg, 'packs/whole', 'all')).packs[0]!;
  const victim = pack.slots[3]!.digest as Digest;
  await flipStoredByte(copy, victim, 5);
  assertRefused(
    await asl(['push', '--store', copy, ref('packs/corrupt:x')]),
    1,
    new RegExp(`object ${victim} is corrupt`),
  );
  assert.equal(
    (await reg.get('/v2/packs/corrupt/manifests/x', { accept: 'application/vnd.oci.image.index.v1+json' })).status,
    404,
  );
});

test('another OCI tool (skopeo) lists and fetches what ASL pushed; a pack and its index, as fetched, are a pack of a store', async (t) => {
  await ensureDebianPackages('skopeo');
  const work = await tempDir(t, 'asl-oci-packs-');
  const pushed = await aslJson<{ digest: string }>(['push', '--store', source, ref('packs/tools:all')]);
  const skopeo = async (...args: string[]) =>
    (await run('skopeo', args, { maxBuffer: 64 * 1024 * 1024, encoding: 'buffer' })).stdout as Buffer;
  const index = await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/packs/tools:all`);
  assert.equal(sha256(index), pushed.digest);
  const parts = (
    JSON.parse(index.toString()) as { manifests: Array<{ digest: string; artifactType: string }> }
  ).manifests.filter((m) => m.artifactType === 'application/vnd.asl.closure.v2+json');
  assert.equal(parts.length, 1);
  const out = join(work, 'copied');
  await skopeo('copy', '--src-tls-verify=false', `docker://${reg.host}/packs/tools@${parts[0]!.digest}`, `dir:${out}`);
  const part = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')) as {
    layers: Array<{ mediaType: string; digest: string; annotations?: Record<string, string> }>;
  };
  const packLayers = part.layers.filter((l) => l.mediaType === 'application/vnd.asl.pack.v1');
  assert.equal(packLayers.length, 1);
  const indexDigest = packLayers[0]!.annotations!['dev.asl.pack.index']!;
  // Put them where a store keeps its packs, under the index's digest: a fresh store reads every object.
  const store = join(work, 'T');
  assert.equal((await runAsl(['init', '--store', store])).code, 0);
  const packs = join(store, 'objects-v1', 'packs');
  await mkdir(packs, { recursive: true, mode: 0o700 });
  await writeFile(
    join(packs, `${indexDigest.slice(7)}.pack`),
    await readFile(join(out, packLayers[0]!.digest.slice(7))),
    { mode: 0o444 },
  );
  await writeFile(join(packs, `${indexDigest.slice(7)}.idx`), await readFile(join(out, indexDigest.slice(7))), {
    mode: 0o444,
  });
  const held = (await readPushed(reg, 'packs/tools', 'all')).packs[0]!;
  for (const s of held.slots) {
    const cat = await runAsl(['cat', '--store', store, s.digest]);
    assert.equal(cat.code, 0, cat.stderr);
    assert.deepEqual(cat.stdoutBytes, await readStoredBytes(source, s.digest));
  }
  const verify = await runAsl(['verify', '--store', store, '--json']);
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
});
