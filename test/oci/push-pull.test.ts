// Sharing history through a real OCI registry (Debian's docker-registry, TLS and
// htpasswd basic auth): push a store with real receipts, check what the registry
// holds byte by byte, pull it into an empty store, and refuse a registry that
// serves a wrong blob or credentials that are wrong, leaving the target as it was.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runAsl, type RunResult } from '../helpers.js';
import {
  assertRefused,
  buildSource,
  copyTree,
  readBundleEntries,
  sha256,
  tempDir,
  treeDigest,
  type SourceFixture,
} from '../transfer/fixture.js';
import type { BundleManifest } from '../../src/transfer/bundle-manifest.js';
import { openStore } from '../../src/store/store.js';
import { readObject } from '../../src/store/object-read.js';
import { readStoredBytes } from '../store/object-bytes.js';
import { pushClosure } from '../../src/transfer/oci-push.js';
import { pullClosure } from '../../src/transfer/oci-pull.js';
import { parseOciReference } from '../../src/transfer/oci-reference.js';
import { startCorruptingProxy, startRegistry, type Registry } from './registry.js';
import { readPushed } from './pushed.js';

let reg: Registry;
let fx: SourceFixture;
let fixtureDir: string;
before(async () => {
  fixtureDir = await mkdtemp(join(tmpdir(), 'asl-oci-fixture-'));
  [reg, fx] = await Promise.all([startRegistry(), buildSource(fixtureDir)]);
});
after(async () => {
  await reg?.stop();
  await rm(fixtureDir, { recursive: true, force: true });
});

interface PushJson {
  reference: string;
  digest: string;
  receipts: number;
  objects: number;
  blobs: { total: number; uploaded: number; skipped: number; checked: number };
  bytes: { total: number; uploaded: number };
  packs: { total: number; uploaded: number; reused: number; objects: number };
  manifests: { total: number; uploaded: number; skipped: number };
}
interface PullJson {
  digest: string;
  receipts: { added: number; present: number };
  objects: { total: number; downloaded: number; present: number };
  bytes: { total: number; downloaded: number };
  transfer: { requests: number; bytes: number; packs: number };
  trusted: string[];
}

/** The CLI with the test registry's docker config and CA. */
function asl(args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<RunResult> {
  return runAsl([...args, '--ca-file', reg.caFile!], {
    env: { ...process.env, DOCKER_CONFIG: reg.dockerConfig, ...opts.env },
    ...(opts.input !== undefined ? { input: opts.input } : {}),
  });
}

async function aslJson<T>(args: string[]): Promise<T> {
  const r = await asl([...args, '--json']);
  assert.equal(r.code, 0, `asl ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

async function newStore(dir: string, name: string): Promise<string> {
  const s = join(dir, name);
  assert.equal((await runAsl(['init', '--store', s])).code, 0);
  return s;
}

function logLines(store: string): Array<{ receipt: string; step: string }> {
  const p = join(store, 'log/receipts.log');
  if (!existsSync(p)) return [];
  return readFileSync(p, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l.split('\t')[1]!) as { receipt: string; step: string })
    .map(({ receipt, step }) => ({ receipt, step }));
}

/** A store's bundle (DIR/NAME.tar) and its closure manifest (asl-bundle.json). */
async function bundleOf(
  store: string,
  dir: string,
  name: string,
  ...extra: string[]
): Promise<{ manifest: BundleManifest }> {
  const file = join(dir, `${name}.tar`);
  const r = await runAsl(['bundle', 'export', '--store', store, '-o', file, ...extra]);
  assert.equal(r.code, 0, r.stderr);
  const entries = await readBundleEntries(file);
  return { manifest: JSON.parse(entries[0]!.data.toString('utf8')) as BundleManifest };
}

const ref = (path: string) => `oci://${reg.host}/${path}`;

test('push, then pull into an empty store: packs hold the objects byte for byte, the receipts verify, the history is equal', async (t) => {
  const dir = await tempDir(t, 'asl-oci-');
  const source = await bundleOf(fx.store, dir, 'source');
  const pushed = await aslJson<PushJson>(['push', '--store', fx.store, ref('asl/history:all')]);
  assert.equal(pushed.reference, ref('asl/history:all'));
  assert.equal(pushed.receipts, 3);
  assert.equal(pushed.objects, source.manifest.objects.length);

  // What the registry holds, read with plain GETs: the tag names an index hashing to the
  // reported digest, its receipt manifests are the log in order, each naming its envelope
  // and artifacts as blobs of their own; every other object is in a pack, at the place its
  // index says, and the pack holds nothing else.
  const held = await readPushed(reg, 'asl/history', 'all');
  assert.equal(sha256(held.index.bytes), pushed.digest);
  assert.equal(held.index.artifactType, 'application/vnd.asl.closure.v2+json');
  assert.deepEqual(
    held.receipts.map((r) => r.descriptor.annotations?.['dev.asl.receipt']),
    logLines(fx.store).map((l) => l.receipt),
  );
  for (const r of held.receipts) {
    assert.equal(r.layers[0]!.digest, r.descriptor.annotations!['dev.asl.receipt']);
    assert.equal(r.layers[0]!.mediaType, 'application/vnd.dsse.envelope.v1+json');
    for (const l of r.layers)
      assert.ok(held.own.has(l.digest), `${l.digest}, named by a receipt manifest, is a blob of its own`);
  }
  assert.deepEqual(
    held.parts.map((p) => p.config.digest),
    [sha256(await readBundleEntries(join(dir, 'source.tar')).then((e) => e[0]!.data))],
    "the parts' config is the bundle manifest, byte for byte",
  );
  assert.equal(held.packs.length, pushed.packs.total);
  assert.ok(pushed.packs.total >= 1);
  const packed = new Set<string>();
  for (const p of held.packs) {
    assert.equal(p.index.annotations?.['org.opencontainers.image.title'], `packs/${p.index.digest.slice(7)}.idx`);
    assert.equal(p.pack.annotations?.['org.opencontainers.image.title'], `packs/${p.index.digest.slice(7)}.pack`);
    assert.deepEqual(p.packBytes.subarray(0, 12), Buffer.from('asl-pack v1\n'));
    for (const s of p.slots) {
      assert.deepEqual(
        p.packBytes.subarray(s.offset, s.offset + s.size),
        await readStoredBytes(fx.store, s.digest),
        s.digest,
      );
      packed.add(s.digest);
    }
  }
  for (const [d, bytes] of held.own) assert.deepEqual(bytes, await readStoredBytes(fx.store, d), d);
  assert.equal(pushed.packs.objects, packed.size);
  assert.deepEqual(
    [...packed, ...held.own.keys()].sort(),
    source.manifest.objects.map((o) => o.digest),
    'every object exactly once: in a pack or a blob of its own',
  );
  // Every blob new: the objects of their own, each pack and its index, the closure manifest, the signer key, the empty config.
  assert.deepEqual(pushed.blobs, {
    total: held.own.size + 2 * held.packs.length + 3,
    uploaded: held.own.size + 2 * held.packs.length + 3,
    skipped: 0,
    checked: 0,
  });
  assert.deepEqual(pushed.packs, {
    total: held.packs.length,
    uploaded: held.packs.length,
    reused: 0,
    objects: packed.size,
  });

  // An empty store does not trust the signer: refused, naming the key to pass, nothing written.
  const target = await newStore(dir, 'T');
  const before = treeDigest(target);
  assertRefused(
    await asl(['pull', '--store', target, ref('asl/history:all')]),
    1,
    new RegExp(
      `not a trusted key; if you trust the signer, check its key id out of band and pass --trust-key ${fx.keyId}`,
    ),
  );
  assert.equal(treeDigest(target), before);

  const pulled = await aslJson<PullJson>(['pull', '--store', target, ref('asl/history:all'), '--trust-key', fx.keyId]);
  assert.equal(pulled.digest, pushed.digest);
  assert.deepEqual(pulled.receipts, { added: 3, present: 0 });
  assert.equal(pulled.objects.downloaded, source.manifest.objects.length);
  assert.equal(pulled.bytes.downloaded, source.manifest.totals.bytes);
  assert.equal(pulled.transfer.packs, held.packs.length);
  assert.deepEqual(pulled.trusted, [fx.keyId]);
  const verify = await runAsl(['verify', '--store', target]);
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  assert.deepEqual(logLines(target), logLines(fx.store));
  // Each pack arrived whole and is a pack of the target, under the same name (its index's digest).
  for (const p of held.packs) {
    assert.deepEqual(await readFile(join(target, 'objects-v1/packs', `${p.index.digest.slice(7)}.idx`)), p.indexBytes);
    assert.deepEqual(await readFile(join(target, 'objects-v1/packs', `${p.index.digest.slice(7)}.pack`)), p.packBytes);
  }
  // The same closure on both sides: the same bundle, but for the log times (the pull's append is logged when it happens).
  const pulledBundle = await bundleOf(target, dir, 'target');
  const untimed = (m: BundleManifest) => ({ ...m, receipts: m.receipts.map(({ id, step }) => ({ id, step })) });
  assert.deepEqual(untimed(pulledBundle.manifest), untimed(source.manifest));
  assert.deepEqual(
    (await readBundleEntries(join(dir, 'target.tar'))).slice(1),
    (await readBundleEntries(join(dir, 'source.tar'))).slice(1),
  );

  // Again: every blob and manifest is already there (known from the tag's closure and the
  // receipt manifests, without one HEAD per blob); pulling by digest adds nothing.
  const again = await aslJson<PushJson>(['push', '--store', fx.store, ref('asl/history:all')]);
  assert.equal(again.digest, pushed.digest);
  assert.deepEqual(again.blobs, { total: pushed.blobs.total, uploaded: 0, skipped: pushed.blobs.total, checked: 0 });
  assert.deepEqual(again.packs, { ...pushed.packs, uploaded: 0, reused: pushed.packs.total });
  assert.equal(again.bytes.uploaded, 0);
  assert.deepEqual(again.manifests, {
    total: pushed.manifests.total,
    uploaded: 1,
    skipped: pushed.manifests.total - 1,
  });
  const repull = await aslJson<PullJson>(['pull', '--store', target, ref(`asl/history@${pushed.digest}`)]);
  assert.deepEqual(repull.receipts, { added: 0, present: 3 });
  assert.equal(repull.objects.downloaded, 0);
  assert.equal(repull.objects.present, source.manifest.objects.length);
  assert.deepEqual(
    repull.transfer,
    { requests: 1, bytes: (await readFile(fx.publicKey)).length, packs: 0 },
    'only the signer key is fetched again',
  );
});

test('a part, then the whole: pushes reuse the packs the repository holds, a lost blob is healed, and pull fetches only what it lacks', async (t) => {
  const dir = await tempDir(t, 'asl-oci-');
  const push = (tag: string, ...receipts: string[]) =>
    aslJson<PushJson>([
      'push',
      '--store',
      fx.store,
      ref(`asl/incremental:${tag}`),
      ...(receipts.length > 0 ? ['--receipts', ...receipts] : []),
    ]);
  const part = await push('gen', 'gen');
  assert.equal(part.receipts, 1);
  assert.deepEqual(part.blobs, { total: part.blobs.total, uploaded: part.blobs.total, skipped: 0, checked: 0 });
  assert.equal(part.packs.uploaded, 1);
  // The same closure under a new tag: known from the closures of the repository's other
  // tags (its pack reused, its other blobs listed there): nothing asked, nothing sent.
  const moved = await push('latest', 'gen');
  assert.equal(moved.digest, part.digest);
  assert.deepEqual(moved.blobs, { total: part.blobs.total, uploaded: 0, skipped: part.blobs.total, checked: 0 });
  assert.deepEqual(moved.packs, { total: 1, uploaded: 0, reused: 1, objects: part.packs.objects });
  // The whole store onto that tag: the gen pack is reused (all of it belongs to the whole
  // closure), the other objects go into a new pack; only blobs not listed anywhere are asked.
  const whole = await push('latest');
  assert.equal(whole.packs.reused, 1);
  assert.equal(whole.packs.uploaded, whole.packs.total - 1);
  assert.ok(whole.packs.uploaded >= 1);
  assert.equal(whole.blobs.uploaded + whole.blobs.skipped, whole.blobs.total);
  assert.ok(whole.blobs.checked > 0 && whole.blobs.checked < whole.blobs.total, `${whole.blobs.checked} HEAD requests`);
  assert.equal(whole.manifests.skipped, 1, 'the gen receipt manifest is shared');
  const held = await readPushed(reg, 'asl/incremental', 'latest');
  const genPack = (await readPushed(reg, 'asl/incremental', 'gen')).packs[0]!;
  assert.ok(
    held.packs.some((p) => p.pack.digest === genPack.pack.digest),
    'the whole closure lists the gen pack as it is',
  );
  // A new tag for the same closure: nothing asked, nothing sent, the same index.
  const again = await push('build-2');
  assert.equal(again.digest, whole.digest);
  assert.deepEqual(again.blobs, { total: whole.blobs.total, uploaded: 0, skipped: whole.blobs.total, checked: 0 });

  // A pack deleted behind the registry's manifests: what they said is wrong, the registry
  // refuses the next manifest naming it, and push plans again from nothing, asking for every
  // blob: the same objects make the same pack, uploaded again.
  assert.equal(
    (await reg.get(`/v2/asl/incremental/blobs/${genPack.pack.digest}`, { 'x-method': 'DELETE' })).status,
    202,
  );
  const healed = await push('gen', 'gen', 'overlay');
  assert.ok(healed.blobs.checked >= healed.blobs.total - 1, `${healed.blobs.checked} HEAD requests`);
  assert.equal(healed.blobs.uploaded, 2, 'the new closure manifest, then the deleted pack');
  assert.deepEqual(await readPushed(reg, 'asl/incremental', 'gen').then((h) => h.packs.map((p) => p.packBytes)), [
    genPack.packBytes,
  ]);

  const target = await newStore(dir, 'T');
  const first = await aslJson<PullJson>([
    'pull',
    '--store',
    target,
    ref('asl/incremental:gen'),
    '--trust',
    fx.publicKey,
  ]);
  assert.deepEqual(first.receipts, { added: 2, present: 0 });
  assert.deepEqual(
    logLines(target)
      .map((l) => l.receipt)
      .sort(),
    [fx.receipts.gen, fx.receipts.overlay].sort(),
  );
  const second = await aslJson<PullJson>(['pull', '--store', target, ref('asl/incremental:build-2')]);
  assert.deepEqual(second.receipts, { added: 1, present: 2 });
  assert.equal(second.objects.downloaded + second.objects.present, whole.objects);
  assert.equal(second.objects.present, healed.objects);
  assert.equal(second.transfer.packs, whole.packs.total - 1, 'the gen pack is not fetched again');
  const verify = await runAsl(['verify', '--store', target]);
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  assert.deepEqual(
    logLines(target)
      .map((l) => l.receipt)
      .sort(),
    logLines(fx.store)
      .map((l) => l.receipt)
      .sort(),
  );
});

test('wrong or missing credentials: one clear line, exit 2, and the target is unchanged', async (t) => {
  const dir = await tempDir(t, 'asl-oci-');
  const target = await newStore(dir, 'T');
  const before = treeDigest(target);
  assertRefused(
    await asl(['push', '--store', fx.store, ref('asl/creds:x'), '--username', reg.username, '--password-stdin'], {
      input: 'not-the-password\n',
    }),
    2,
    new RegExp(
      `${ref('asl/creds:x')}: the registry refused the credentials of user "${reg.username}" \\(HTTP 401, basic auth\\)`,
    ),
  );
  assertRefused(
    await asl(['pull', '--store', target, ref('asl/history:all'), '--username', 'intruder', '--password-stdin'], {
      input: reg.password,
    }),
    2,
    /the registry refused the credentials of user "intruder"/,
  );
  const emptyConfig = join(dir, 'no-docker');
  assertRefused(
    await asl(['pull', '--store', target, ref('asl/history:all')], { env: { DOCKER_CONFIG: emptyConfig } }),
    2,
    /the registry requires credentials \(realm "asl-test"\); log in .* or pass --username and --password-stdin/,
  );
  const wrongConfig = join(dir, 'wrong-docker');
  await writeFile(
    join(await mkdtempIn(wrongConfig), 'config.json'),
    JSON.stringify({
      auths: { [`https://${reg.host}`]: { auth: Buffer.from(`${reg.username}:guess`).toString('base64') } },
    }),
  );
  assertRefused(
    await asl(['pull', '--store', target, ref('asl/history:all')], { env: { DOCKER_CONFIG: wrongConfig } }),
    2,
    new RegExp(`refused the credentials of user "${reg.username}"`),
  );
  assertRefused(
    await runAsl(['pull', '--store', target, ref('asl/history:all')], {
      env: { ...process.env, DOCKER_CONFIG: reg.dockerConfig },
    }),
    2,
    /TLS certificate not trusted .*pass --ca-file PEM/,
  );
  assertRefused(
    await asl(['pull', '--store', target, `oci://${reg.host}/Asl/History`]),
    2,
    /"Asl\/History" is not a valid repository name/,
  );
  assertRefused(
    await asl(['pull', '--store', target, ref('asl/history:nope')]),
    2,
    /the registry has no manifest nope in asl\/history/,
  );
  assert.equal(treeDigest(target), before);
});

async function mkdtempIn(dir: string): Promise<string> {
  const { mkdir } = await import('node:fs/promises');
  await mkdir(dir, { recursive: true });
  return dir;
}

test('NODE_EXTRA_CA_CERTS is trusted although bin/asl starts Node without it', async (t) => {
  const dir = await tempDir(t, 'asl-oci-');
  const target = await newStore(dir, 'T');
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_CONFIG: reg.dockerConfig };
  delete env.NODE_EXTRA_CA_CERTS;
  // The launcher run as a program moves the variable aside for Node's start; the registry client adds it back.
  assertRefused(
    await runAsl(['pull', '--store', target, ref('asl/history:all')], { direct: true, env }),
    2,
    /TLS certificate not trusted/,
  );
  const pulled = await runAsl(['pull', '--store', target, ref('asl/history:all'), '--trust-key', fx.keyId, '--json'], {
    direct: true,
    env: { ...env, NODE_EXTRA_CA_CERTS: reg.caFile! },
  });
  assert.equal(pulled.code, 0, pulled.stderr);
  assert.deepEqual((JSON.parse(pulled.stdout) as PullJson).receipts, { added: 3, present: 0 });
  assert.deepEqual(logLines(target), logLines(fx.store));
  // An unreadable file is a warning, as in Node, and then the certificate is not trusted.
  const missing = await runAsl(['pull', '--store', target, ref('asl/history:all')], {
    direct: true,
    env: { ...env, NODE_EXTRA_CA_CERTS: join(dir, 'no-such.pem') },
  });
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /warning: NODE_EXTRA_CA_CERTS .*no-such\.pem: ENOENT; its certificates are not trusted/);
  assert.match(missing.stderr, /TLS certificate not trusted/);
});

test('a registry that serves a wrong blob is caught, naming the blob, and the target is unchanged', async (t) => {
  const dir = await tempDir(t, 'asl-oci-');
  const pushed = await aslJson<PushJson>(['push', '--store', fx.store, ref('asl/served:all')]);
  assert.ok(pushed.blobs.total > 0);
  // An object in a pack (a tree, timestamps, a log: what no receipt names directly), its last
  // one, so the bytes before it pass the checks.
  const held = await readPushed(reg, 'asl/served', 'all');
  const home = held.packs[0]!;
  const slot = home.slots[home.slots.length - 1]!;
  const victim = slot.digest;
  const proxy = await startCorruptingProxy(reg, new Map([[home.pack.digest, slot.offset + Math.floor(slot.size / 2)]]));
  t.after(() => proxy.stop());
  const target = await newStore(dir, 'T');
  const before = treeDigest(target);
  assertRefused(
    await runAsl(
      [
        'pull',
        '--store',
        target,
        `oci://${proxy.host}/asl/served:all`,
        '--plain-http',
        '--trust',
        fx.publicKey,
        '--username',
        reg.username,
        '--password-stdin',
      ],
      { input: reg.password },
    ),
    1,
    new RegExp(
      `the registry served object ${victim} \\(in pack ${home.pack.digest}\\) with content hashing to sha256:[0-9a-f]{64} \\(${slot.size} bytes\\); nothing pulled`,
    ),
  );
  assert.deepEqual(proxy.served, [home.pack.digest]);
  assert.equal(treeDigest(target), before);

  // The same, with the blob's file damaged in the registry's own storage (same length).
  const receipt = fx.receipts.overlay;
  const file = reg.blobFile(receipt);
  const original = await readFile(file);
  const damaged = Buffer.from(original);
  damaged[damaged.length - 3] = damaged[damaged.length - 3]! ^ 0x20;
  await writeFile(file, damaged);
  try {
    assertRefused(
      await asl(['pull', '--store', target, ref('asl/served:all'), '--trust', fx.publicKey]),
      1,
      new RegExp(
        `the registry served blob ${receipt} with content hashing to ${sha256(damaged)} \\(${damaged.length} bytes\\); nothing pulled`,
      ),
    );
  } finally {
    await writeFile(file, original);
  }
  assert.equal(treeDigest(target), before);
  // The registry healed: the same pull now succeeds.
  const ok = await asl(['pull', '--store', target, ref('asl/served:all'), '--trust', fx.publicKey]);
  assert.equal(ok.code, 0, ok.stderr);

  // A pack the closure lists but the repository lost: the closure is incomplete.
  const lost = home.pack.digest;
  assert.equal((await reg.get(`/v2/asl/served/blobs/${lost}`, { 'x-method': 'DELETE' })).status, 202);
  const other = await newStore(dir, 'U');
  const otherBefore = treeDigest(other);
  assertRefused(
    await asl(['pull', '--store', other, ref('asl/served:all'), '--trust', fx.publicKey]),
    1,
    new RegExp(`the registry does not have pack ${lost}, which the closure lists; nothing pulled`),
  );
  assert.equal(treeDigest(other), otherBefore);
});

test('objects bigger than the chunk size go up in PATCH chunks and come back whole (library API)', async (t) => {
  const dir = await tempDir(t, 'asl-oci-');
  const storeDir = join(dir, 'S');
  copyTree(fx.store, storeDir);
  const big = join(dir, 'big.bin');
  const bytes = randomBytes(6 * 1024 * 1024 + 123);
  await writeFile(big, bytes);
  const cap = await runAsl([
    'capture',
    '--store',
    storeDir,
    '--file',
    big,
    '--outdir',
    join(storeDir, 'per', 'big'),
    '--json',
  ]);
  assert.equal(cap.code, 0, cap.stderr);
  const bigDigest = sha256(bytes);

  const proxy = await startCorruptingProxy(reg, new Set());
  t.after(() => proxy.stop());
  const credentials = { username: reg.username, password: reg.password };
  const store = await openStore(storeDir);
  const pushed = await pushClosure(store, parseOciReference(`oci://${proxy.host}/asl/big:all`), {
    credentials,
    plainHttp: true,
    chunkSize: 1024 * 1024,
    concurrency: 4,
  });
  assert.equal(pushed.receipts, 4);
  const patches = proxy.requests.filter((r) => r.startsWith('PATCH /v2/asl/big/blobs/uploads/'));
  assert.equal(patches.length, 7, `6 MiB + 123 bytes in 1 MiB chunks: ${patches.length} PATCH requests`);

  const target = await openStore(await newStore(dir, 'T'));
  const pulled = await pullClosure(target, parseOciReference(`oci://${reg.host}/asl/big:all`), {
    credentials,
    ca: await readFile(reg.caFile!, 'utf8'),
    trustFiles: [fx.publicKey],
  });
  assert.equal(pulled.digest, pushed.digest);
  assert.deepEqual(pulled.receipts, { added: 4, present: 0 });
  assert.deepEqual(await readObject(target, bigDigest), bytes);
  const verify = await runAsl(['verify', '--store', target.root]);
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
});
