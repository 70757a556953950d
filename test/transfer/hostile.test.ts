// Hostile input, one test each, on real files: a bundle (or a seed source) built
// from a real store, then altered the way an attacker or a broken transfer would.
// Each is refused with one line (exit 2: the file is not a well-formed bundle or
// source; exit 1: it is well-formed but fails a check), and the target — a store
// that already holds history of its own — is byte-for-byte unchanged.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, truncate, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { gzipSync } from 'node:zlib';
import { dirname, join } from 'node:path';
import { runAsl } from '../helpers.js';
import { flipStoredByte, removeStoredObject } from '../store/object-bytes.js';
import {
  assertRefused,
  buildSource,
  copyTree,
  objectName,
  replaceObject,
  rewriteBundle,
  sha256,
  tempDir,
  treeDigest,
  type RawEntry,
  type SourceFixture,
} from './fixture.js';
import { canonicalBytes } from '../../src/core/canonical-json.js';
import { preAuthEncoding } from '../../src/core/dsse.js';

let fx: SourceFixture;
let fixtureDir: string;
/** A bundle of the whole source store. */
let bundle: string;
/** A target store that trusts the source key and already holds the gen step. */
let targetTemplate: string;

before(async () => {
  fixtureDir = await mkdtemp(join(tmpdir(), 'asl-hostile-fixture-'));
  fx = await buildSource(fixtureDir, 20);
  bundle = join(fixtureDir, 'all.tar');
  assert.equal((await runAsl(['bundle', 'export', '--store', fx.store, '-o', bundle])).code, 0);
  const part = join(fixtureDir, 'gen.tar');
  assert.equal((await runAsl(['bundle', 'export', '--store', fx.store, '-o', part, '--receipts', 'gen'])).code, 0);
  targetTemplate = join(fixtureDir, 'T');
  assert.equal((await runAsl(['init', '--store', targetTemplate])).code, 0);
  assert.equal((await runAsl(['bundle', 'import', '--store', targetTemplate, part, '--trust', fx.publicKey])).code, 0);
});
after(() => rm(fixtureDir, { recursive: true, force: true }));

/** Imports a hostile variant of the bundle into a fresh copy of the target; asserts refusal and no change. */
async function refusedImport(
  t: Parameters<typeof tempDir>[0],
  edit: (entries: RawEntry[], m: Parameters<Parameters<typeof rewriteBundle>[2]>[1]) => RawEntry[] | void,
  code: 1 | 2,
  pattern: RegExp,
  extra: string[] = [],
): Promise<string> {
  const dir = await tempDir(t);
  const target = join(dir, 'T');
  copyTree(targetTemplate, target);
  const bad = join(dir, 'bad.tar');
  await rewriteBundle(bundle, bad, edit);
  const before = treeDigest(target);
  const r = await runAsl(['bundle', 'import', '--store', target, bad, ...extra]);
  assertRefused(r, code, pattern);
  assert.equal(treeDigest(target), before, 'target store byte-for-byte unchanged');
  assert.deepEqual(readdirSync(join(target, 'tmp')), [], 'nothing left staged');
  return dir;
}

async function refusedImportOfFile(
  t: Parameters<typeof tempDir>[0],
  make: (dir: string) => Promise<string>,
  code: 1 | 2,
  pattern: RegExp,
): Promise<void> {
  const dir = await tempDir(t);
  const target = join(dir, 'T');
  copyTree(targetTemplate, target);
  const bad = await make(dir);
  const before = treeDigest(target);
  assertRefused(await runAsl(['bundle', 'import', '--store', target, bad]), code, pattern);
  assert.equal(treeDigest(target), before, 'target store byte-for-byte unchanged');
}

const file7 = () => sha256('file 7\n');

// --- container structure (exit 2) -------------------------------------------------

test('bundle: a "../" path is refused, and nothing is written outside the target', async (t) => {
  const dir = await refusedImport(
    t,
    (entries) => {
      entries.splice(1, 0, { name: '../../evil', type: 'file', data: Buffer.from('owned\n') });
    },
    2,
    /entry 2 "\.\.\/\.\.\/evil" is a path that climbs out with "\.\."/,
  );
  assert.equal(existsSync(join(dir, 'evil')), false);
  assert.equal(existsSync(join(dirname(dir), 'evil')), false);
});

test('bundle: an absolute path is refused', async (t) => {
  const victim = join(await tempDir(t), 'abs-evil');
  await refusedImport(
    t,
    (entries) => {
      entries.push({ name: victim, type: 'file', data: Buffer.from('owned\n') });
    },
    2,
    /is an absolute path/,
  );
  assert.equal(existsSync(victim), false);
});

test('bundle: a symlink entry pointing outside the target is refused', async (t) => {
  await refusedImport(
    t,
    (entries) => {
      entries.splice(2, 0, {
        name: objectName(sha256('x')),
        type: 'symlink',
        data: Buffer.alloc(0),
        linkname: '/etc/shadow',
      });
    },
    2,
    /is a symbolic link to "\/etc\/shadow" \(type "2"\); a bundle holds regular files only/,
  );
});

test('bundle: a hard link entry is refused', async (t) => {
  await refusedImport(
    t,
    (entries) => {
      entries.push({ name: objectName(file7()), type: 'hardlink', data: Buffer.alloc(0), linkname: '/etc/passwd' });
    },
    2,
    /is a hard link to "\/etc\/passwd"/,
  );
});

test('bundle: the same object twice with different content is refused', async (t) => {
  await refusedImport(
    t,
    (entries) => {
      const i = entries.findIndex((e) => e.name === objectName(file7()));
      entries.splice(i + 1, 0, { name: objectName(file7()), type: 'file', data: Buffer.from('file 8\n') });
    },
    2,
    new RegExp(`object ${file7()} appears twice in the bundle`),
  );
});

test('bundle: a truncated file is refused, cut inside an entry or at an entry boundary', async (t) => {
  const whole = await readFile(bundle);
  await refusedImportOfFile(
    t,
    async (dir) => {
      const cut = join(dir, 'cut.tar');
      await writeFile(cut, whole.subarray(0, Math.floor(whole.length * 0.6) + 7));
      return cut;
    },
    2,
    /truncated: the archive ends inside "objects\/sha256\/.*" \(\d+ bytes announced\)|truncated: the archive ends inside a header/,
  );
  await refusedImportOfFile(
    t,
    async (dir) => {
      // Up to the first object's header: a tar with no end marker (and most objects missing).
      const cut = join(dir, 'cut2.tar');
      const manifestBlocks = 512 + Math.ceil(parseInt(whole.toString('latin1', 124, 135), 8) / 512) * 512;
      await writeFile(cut, whole.subarray(0, manifestBlocks));
      return cut;
    },
    2,
    /truncated: the archive ends without its end-of-archive marker/,
  );
});

test('bundle: a damaged header (one byte flipped) is refused', async (t) => {
  await refusedImportOfFile(
    t,
    async (dir) => {
      const bad = Buffer.from(await readFile(bundle));
      const second = 512 + Math.ceil(parseInt(bad.toString('latin1', 124, 135), 8) / 512) * 512;
      assert.equal(bad.toString('latin1', second, second + 5), 'keys/');
      bad[second + 20] ^= 0x01; // inside the name of the second header (the key entry)
      const file = join(dir, 'flip.tar');
      await writeFile(file, bad);
      return file;
    },
    2,
    /header checksum is \d+, the header sums to \d+/,
  );
});

test('bundle: a compressed file is refused with a hint, not guessed at', async (t) => {
  await refusedImportOfFile(
    t,
    async (dir) => {
      const file = join(dir, 'all.tar.gz');
      await writeFile(file, gzipSync(await readFile(bundle)));
      return file;
    },
    2,
    /is gzip-compressed, not a tar; decompress it first \(e\.g\. gunzip -c FILE > FILE\.tar\)/,
  );
});

// --- content checks (exit 1) ---------------------------------------------------

test('bundle: an object named X that contains Y is refused', async (t) => {
  await refusedImport(
    t,
    (entries, m) => {
      const data = Buffer.from('file 8 (not 7)\n');
      replaceObject(entries, m, file7(), data, file7());
    },
    1,
    new RegExp(`object named ${file7()} contains bytes hashing to ${sha256('file 8 (not 7)\n')}`),
  );
});

test('bundle: one byte flipped inside an object is caught, naming the object', async (t) => {
  await refusedImportOfFile(
    t,
    async (dir) => {
      const bad = Buffer.from(await readFile(bundle));
      const receipt = await readFile(join(fx.store, 'per/overlay/tool.per.dsse.json'));
      const at = bad.indexOf(receipt);
      assert.ok(at > 0);
      bad[at + 100] ^= 0x01;
      const file = join(dir, 'flip.tar');
      await writeFile(file, bad);
      return file;
    },
    1,
    new RegExp(`object named ${fx.receipts.overlay} contains bytes hashing to sha256:`),
  );
});

test("bundle: a manifest lying about an object's size is refused", async (t) => {
  await refusedImport(
    t,
    (_entries, m) => {
      const o = m.objects.find((x) => x.digest === file7())!;
      o.size += 1;
      m.totals.bytes += 1;
    },
    1,
    new RegExp(`the manifest says object ${file7()} is 8 bytes, the bundle carries 7`),
  );
});

test('bundle: an unsigned receipt is refused', async (t) => {
  await refusedImport(
    t,
    (entries, m) => {
      const env = JSON.parse(
        entries.find((e) => e.name === objectName(fx.receipts.overlay))!.data.toString(),
      ) as Record<string, unknown>;
      replaceObject(entries, m, fx.receipts.overlay, canonicalBytes({ ...env, signatures: [] }));
    },
    1,
    /receipt sha256:[0-9a-f]{64}: parse check failed: envelope is malformed: expected signatures \(a non-empty array\)/,
  );
});

test('bundle: a forged receipt (payload edited, signature kept) is refused', async (t) => {
  await refusedImport(
    t,
    (entries, m) => {
      const env = JSON.parse(entries.find((e) => e.name === objectName(fx.receipts.overlay))!.data.toString()) as {
        payload: string;
      };
      const statement = Buffer.from(env.payload, 'base64').toString().replace('"mode":493', '"mode":2541'); // claim the tool is setuid
      assert.notEqual(statement, Buffer.from(env.payload, 'base64').toString());
      replaceObject(
        entries,
        m,
        fx.receipts.overlay,
        canonicalBytes({ ...env, payload: Buffer.from(statement).toString('base64') }),
      );
    },
    1,
    new RegExp(
      `signature check failed: no valid signature by a trusted key: .*got keyid ${fx.keyId.slice(0, 16)}, whose signature does not verify \\(payload or signature altered\\)`,
    ),
  );
});

test('bundle: a receipt signed by an untrusted key is refused, even when the bundle carries that key', async (t) => {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const keyId = createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('hex');
  await refusedImport(
    t,
    (entries, m) => {
      const env = JSON.parse(entries.find((e) => e.name === objectName(fx.receipts.overlay))!.data.toString()) as {
        payloadType: string;
        payload: string;
      };
      const sig = sign(null, preAuthEncoding(env.payloadType, Buffer.from(env.payload, 'base64')), privateKey).toString(
        'base64',
      );
      replaceObject(
        entries,
        m,
        fx.receipts.overlay,
        canonicalBytes({ payloadType: env.payloadType, payload: env.payload, signatures: [{ keyid: keyId, sig }] }),
      );
      entries.splice(1, 0, {
        name: `keys/${keyId}.pub`,
        type: 'file',
        data: Buffer.from(publicKey.export({ type: 'spki', format: 'pem' }).toString()),
      });
      m.keys = [...m.keys, keyId].sort();
      entries.sort((a, b) =>
        a.name === 'asl-bundle.json' ? -1 : b.name === 'asl-bundle.json' ? 1 : a.name < b.name ? -1 : 1,
      );
    },
    1,
    new RegExp(
      `got keyid ${keyId.slice(0, 16)}, which is not a trusted key; if you trust the signer, check its key id out of band and pass --trust-key ${keyId}`,
    ),
  );
});

test('bundle: a tree that names a blob the bundle does not carry is refused', async (t) => {
  await refusedImport(
    t,
    (entries, m) => {
      entries.splice(
        entries.findIndex((e) => e.name === objectName(file7())),
        1,
      );
      m.objects = m.objects.filter((o) => o.digest !== file7());
      m.totals = { objects: m.objects.length, bytes: m.objects.reduce((n, o) => n + o.size, 0) };
    },
    1,
    new RegExp(`tree ${fx.genAfter} entry "f7" names blob ${file7()}, which the bundle does not carry`),
  );
});

test('bundle: a non-canonical tree is refused', async (t) => {
  await refusedImport(
    t,
    (entries, m) => {
      const tree = entries.find((e) => e.name === objectName(fx.genAfter))!.data.toString();
      const loose = Buffer.from(tree.replace('"entries":[', '"entries": ['));
      const id = sha256(loose);
      entries.push({ name: objectName(id), type: 'file', data: loose });
      m.objects.push({ digest: id as `sha256:${string}`, size: loose.length });
      m.objects.sort((a, b) => (a.digest < b.digest ? -1 : 1));
      m.totals = { objects: m.objects.length, bytes: m.objects.reduce((n, o) => n + o.size, 0) };
      entries.sort((a, b) =>
        a.name === 'asl-bundle.json' ? -1 : b.name === 'asl-bundle.json' ? 1 : a.name < b.name ? -1 : 1,
      );
    },
    1,
    /tree sha256:[0-9a-f]{64}: tree object is not in canonical form/,
  );
});

// --- seed sources ---------------------------------------------------------------

async function refusedSeed(
  t: Parameters<typeof tempDir>[0],
  damage: (source: string) => Promise<void>,
  code: 1 | 2,
  pattern: RegExp,
): Promise<void> {
  const dir = await tempDir(t);
  const source = join(dir, 'S');
  copyTree(fx.store, source);
  await damage(source);
  const before = treeDigest(source);
  const into = join(dir, 'iso_root/var/lib/asl/personal');
  await mkdir(dirname(into), { recursive: true });
  assertRefused(await runAsl(['seed', '--store', source, '--into', into]), code, pattern);
  assert.equal(existsSync(into), false, 'DIR not created');
  assert.deepEqual(readdirSync(dirname(into)), [], 'no temp directory left beside DIR');
  assert.equal(treeDigest(source), before, 'source unchanged');
}

function objectFile(store: string, digest: string): string {
  return join(store, 'objects-v1', objectName(digest).slice('objects/'.length));
}

test('seed source: a symlink in per/ that climbs out is refused', async (t) => {
  await refusedSeed(
    t,
    (s) => symlink('../../../../etc/passwd', join(s, 'per/gen/evil')),
    2,
    /per\/gen\/evil: symbolic link to "\.\.\/\.\.\/\.\.\/\.\.\/etc\/passwd" points outside per\//,
  );
});

test('seed source: an absolute symlink in binaries/ is refused', async (t) => {
  await refusedSeed(
    t,
    (s) => symlink('/etc/shadow', join(s, 'binaries/shadow')),
    2,
    /binaries\/shadow: symbolic link to "\/etc\/shadow" points outside binaries\//,
  );
});

test('seed source: an object that is a symlink is refused even when it points at the right bytes', async (t) => {
  // A loose object (a receipt): what a tree snapshot wrote is in a pack, not in files of its own.
  await refusedSeed(
    t,
    async (s) => {
      const path = objectFile(s, fx.receipts.final);
      const outside = join(dirname(s), 'outside-receipt');
      await copyFile(path, outside);
      await unlink(path);
      await symlink(outside, path);
    },
    1,
    new RegExp(`object ${fx.receipts.final} is a symbolic link`),
  );
});

test('seed source: a corrupted object (content not its name) is refused', async (t) => {
  await refusedSeed(
    t,
    async (s) => {
      // "file 7" becomes "file 9" where the bytes are stored (in a pack).
      await flipStoredByte(s, file7(), 5, 0x37 ^ 0x39);
    },
    1,
    new RegExp(`object ${file7()} is corrupt: content hashes to ${sha256('file 9\n')}`),
  );
});

test('seed source: a truncated object is refused', async (t) => {
  await refusedSeed(
    t,
    async (s) => {
      const hex = fx.receipts.final;
      await truncate(objectFile(s, hex), 100);
    },
    1,
    new RegExp(`object ${fx.receipts.final} is corrupt`),
  );
});

test('seed source: a forged receipt (edited in place) is refused', async (t) => {
  await refusedSeed(
    t,
    async (s) => {
      const path = objectFile(s, fx.receipts.overlay);
      const env = JSON.parse(await readFile(path, 'utf8')) as { payload: string };
      const forged = Buffer.from(
        Buffer.from(env.payload, 'base64').toString().replace('"mode":493', '"mode":2541'),
      ).toString('base64');
      await unlink(path);
      await writeFile(path, canonicalBytes({ ...env, payload: forged }));
    },
    1,
    new RegExp(`object ${fx.receipts.overlay} is corrupt`),
  );
});

test('seed source: receipts signed by a key the source does not trust are refused', async (t) => {
  await refusedSeed(
    t,
    (s) => unlink(join(s, 'keys/trusted', `${fx.keyId}.pub`)),
    1,
    /the receipt log does not verify: log\/head\.json: no valid signature by a trusted key/,
  );
});

test('seed source: a tree naming a missing blob is refused', async (t) => {
  await refusedSeed(
    t,
    (s) => removeStoredObject(s, file7()),
    1,
    new RegExp(`tree ${fx.genAfter} entry "f7" names artifact ${file7()}, which is not in the store`),
  );
});

test('seed source: a per/ log that is not what the receipt recorded is refused', async (t) => {
  await refusedSeed(
    t,
    (s) => writeFile(join(s, 'per/gen/stderr.log'), 'injected\n'),
    1,
    /per\/gen\/stderr\.log: hashes to sha256:[0-9a-f]{64}, but receipt sha256:[0-9a-f]{64} records stderr/,
  );
});
