// Every folder and file ASL creates gets its mode explicitly, never from the umask
// (docs/security.md): the same commands run under `umask 000` and `umask 077` (and
// under 000 on the portable, non-native write path) give the same modes: folders
// 0700, objects and packs 0444, everything else 0600. Under `umask 000` the defaults
// would have made keys/trusted/ and log/ writable by every local user.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { aslOk, describeRun, runAsl, tempDir } from '../helpers.js';
import { ensureDebianPackages } from '../fixtures.js';
import { NOBODY, runAslAs } from './tree-compare.js';

/** path (relative to `base`) -> "d 700" / "f 600", for every entry below `dir`. */
async function modesBelow(base: string, dir: string, out = new Map<string, string>()): Promise<Map<string, string>> {
  const st = await lstat(dir);
  out.set(
    relative(base, dir) || '.',
    `${st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : 'f'} ${(st.mode & 0o7777).toString(8)}`,
  );
  if (st.isDirectory()) for (const name of await readdir(dir)) await modesBelow(base, join(dir, name), out);
  return out;
}

/** What a store's entry must be: folders 0700, objects and packs 0444, all else 0600. */
function expectedMode(rel: string, kind: string): string {
  if (kind === 'd') return 'd 700';
  if (/^objects-v1\/(sha256\/[0-9a-f]{2}\/[0-9a-f]{62}|packs\/[0-9a-f]{64}\.(pack|idx))$/.test(rel)) return 'f 444';
  return 'f 600';
}

for (const [umask, native] of [
  ['000', true],
  ['077', true],
  ['000', false],
] as const) {
  test(`under umask ${umask}${native ? '' : ' (portable write path)'}: every folder and file ASL creates has its own explicit mode`, async (t) => {
    const dir = await tempDir(t);
    const env = native ? process.env : { ...process.env, ASL_NO_NATIVE_INGEST: '1' };
    const asl = async (...args: string[]) => {
      const r = await runAsl(args, { umask, env });
      assert.equal(r.code, 0, `asl ${args.join(' ')}: ${describeRun(r)}`);
      return r;
    };
    const src = join(dir, 'src');
    await mkdir(join(src, 'sub'), { recursive: true });
    await writeFile(join(src, 'small'), 'small\n');
    await writeFile(join(src, 'sub', 'big'), randomBytes(5 * 1024 * 1024)); // streamed, not packed
    const other = join(dir, 'other.pub');
    await writeFile(other, generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }));

    const S = join(dir, 'S');
    await asl('init', '--store', S);
    await asl('put', '--store', S, src);
    await asl(
      'capture',
      '--store',
      S,
      '--cmd',
      `echo made > ${join(dir, 'out.txt')}; echo to-stderr >&2`,
      '--outdir',
      join(S, 'per', 'make'),
    );
    await asl('capture', '--store', S, '--file', join(src, 'small'), '--outdir', join(S, 'per', 'overlay'));
    await asl('key', 'trust', '--store', S, other);
    const bundle = join(dir, 'b.tar');
    await asl('bundle', 'export', '--store', S, '-o', bundle);
    const T = join(dir, 'T');
    await asl('init', '--store', T);
    await asl('bundle', 'import', '--store', T, bundle, '--trust', join(S, 'keys', 'signing.pub'));
    const seeded = join(dir, 'img', 'var', 'lib', 'asl', 'personal');
    await asl('seed', '--store', S, '--into', seeded);
    const dag = join(dir, 'dag.svg');
    await asl('dag', '--store', S, '--out', dag);
    const links = join(dir, 'links');
    await asl('export', '--store', S, '--format', 'intoto-link', '-o', links, 'make');
    const pub = join(dir, 'exported.pub');
    await asl('key', 'export', '--store', S, '-o', pub);
    await asl('verify', '--store', S);

    for (const [name, store] of [
      ['store', S],
      ['imported store', T],
      ['seed', seeded],
    ] as const) {
      const modes = await modesBelow(store, store);
      const wrong = [...modes]
        .filter(([rel, m]) => m !== expectedMode(rel, m[0]!))
        .map(([rel, m]) => `${rel}: ${m}, expected ${expectedMode(rel, m[0]!)}`);
      assert.deepEqual(wrong, [], `${name}: every mode is explicit`);
      for (const must of ['keys/trusted', 'log', 'tmp', 'cache', 'locks', 'objects-v1/sha256']) {
        if (name === 'seed' && must === 'cache') continue;
        assert.equal(modes.get(must), 'd 700', `${name}: ${must}/ is 0700`);
      }
      if (name !== 'seed')
        for (const f of ['log/head.json', 'log/receipts.log']) assert.equal(modes.get(f), 'f 600', `${name}: ${f}`);
    }
    assert.ok(
      [...(await modesBelow(S, S)).keys()].some((k) => k.startsWith('cache/')),
      'the caches were written',
    );
    if (native)
      assert.ok(
        [...(await modesBelow(S, S)).keys()].some((k) => k.startsWith('objects-v1/packs/')),
        'a pack was written',
      );
    assert.equal((await modesBelow(S, join(S, 'per', 'make'))).get('per/make/stdout.log'), 'f 600');
    assert.equal((await modesBelow(dir, bundle)).get('b.tar'), 'f 600');
    assert.equal((await modesBelow(dir, dag)).get('dag.svg'), 'f 600');
    const exported = await modesBelow(dir, links);
    assert.deepEqual([...new Set([...exported].map(([rel, m]) => (rel === 'links' ? `dir ${m}` : m)))].sort(), [
      'dir d 700',
      'f 600',
    ]);
    assert.equal(
      (await modesBelow(dir, pub)).get('exported.pub'),
      'f 644',
      'a public key written to be shared is 0644',
    );
    const image = await modesBelow(dir, join(dir, 'img'));
    assert.deepEqual(
      ['img', 'img/var', 'img/var/lib', 'img/var/lib/asl'].map((p) => image.get(p)),
      ['d 755', 'd 755', 'd 755', 'd 755'],
      "folders the seed makes inside an image root are the image's (0755), set explicitly",
    );
  });
}

test('a store whose folders are open to everyone (as umask 000 made them before): a key planted by another user fails verify', async (t) => {
  await ensureDebianPackages('util-linux');
  const dir = await tempDir(t);
  await chmod(dir, 0o755);
  const S = join(dir, 'S');
  await aslOk(['init', '--store', S]);
  await writeFile(join(dir, 'a'), 'a\n');
  await aslOk(['capture', '--store', S, '--file', join(dir, 'a'), '--outdir', join(S, 'per', 'a')]);
  assert.match((await aslOk(['verify', '--store', S])).stdout, /^OK: /m);
  // What `umask 000` used to leave: every folder 0777, the marker 0644.
  for (const [rel, m] of await modesBelow(S, S)) if (m.startsWith('d')) await chmod(join(S, rel), 0o777);
  await chmod(join(S, 'asl-store.json'), 0o644);
  const attacker = join(dir, 'attacker.pub');
  await writeFile(attacker, generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }), {
    mode: 0o644,
  });
  const planted = await runAslAs(NOBODY, ['key', 'trust', '--store', S, attacker]);
  assert.equal(planted.code, 0, `another local user could write keys/trusted/: ${describeRun(planted)}`);

  const r = await runAsl(['verify', '--store', S]);
  assert.equal(r.code, 1, describeRun(r));
  const fails = r.stdout.split('\n').filter((l) => l.startsWith('FAIL '));
  assert.ok(
    fails.includes(
      `FAIL ${join(S, 'keys', 'trusted')} is writable by every local user (mode 0777): they could plant a trusted key and sign forged receipts and log heads with it; \`chmod go-w ${join(S, 'keys', 'trusted')}\``,
    ),
    fails.join('\n'),
  );
  assert.ok(
    fails.some(
      (l) =>
        l.startsWith(`FAIL ${join(S, 'keys', 'trusted')}/`) &&
        l.includes(
          `is owned by uid ${NOBODY}, not by the store's owner (uid 0): that user could replace a trusted key`,
        ),
    ),
    fails.join('\n'),
  );
  assert.ok(
    fails.includes(
      `FAIL ${join(S, 'log')} is writable by every local user (mode 0777): they could cut or replace the receipt log; \`chmod go-w ${join(S, 'log')}\``,
    ),
    fails.join('\n'),
  );
  assert.match(r.stdout, /^note: the store root .* is mode 0777: other local users can reach what it holds/m);
  const json = JSON.parse((await runAsl(['verify', '--store', S, '--json'])).stdout) as {
    ok: boolean;
    problems: Array<{ step: string; subject: string }>;
  };
  assert.equal(json.ok, false);
  assert.ok(json.problems.some((p) => p.step === 'modes' && p.subject === join(S, 'keys', 'trusted')));
});
