// What a first-time user runs into: the seed's literal `cp -a` of per/ binaries/ scripts/
// (verify says what it is and names `asl seed`), a whole store copied into an image root
// (verify says it carries the private keys), and `asl why` given the host path of a file
// under a watched root (answered for the tree path). Real stores, real captures, real cp.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, realpath, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { aslOk, describeRun, runAsl, tempDir } from '../helpers.js';
import { digestOf, logJson } from '../capture/e2e-helpers.js';
import { findListing, oneLine, sha256Listing } from '../store/tree-compare.js';

/**
 * A build store with two real receipts (a capture that writes into a watched root, an
 * ingest of an overlay directory), the seed's binaries/ and scripts/ filled, and the root's files.
 */
async function buildStore(t: TestContext) {
  const dir = await realpath(await tempDir(t, 'asl-first-use-'));
  const store = join(dir, 'prestore');
  const root = join(dir, 'iso_root');
  await aslOk(['init', '--store', store]);
  await mkdir(join(root, 'usr', 'bin'), { recursive: true });
  await writeFile(join(root, 'usr', 'bin', 'old'), 'present before\n');
  const payload = Buffer.from('#!/bin/sh\necho tool v1\n');
  await writeFile(join(dir, 'payload'), payload);
  await writeFile(join(store, 'binaries', 'asl'), '#!/bin/sh\nexec node asl.mjs "$@"\n', { mode: 0o755 });
  await writeFile(join(store, 'scripts', 'build.sh'), '#!/bin/sh\necho build\n', { mode: 0o755 });
  await aslOk([
    'capture',
    '--store',
    store,
    '--cmd',
    `cp ${dir}/payload ${root}/usr/bin/tool`,
    '--watch',
    root,
    '--no-auto-watch',
    '--outdir',
    join(store, 'per', 'install'),
  ]);
  await mkdir(join(dir, 'overlay', 'etc'), { recursive: true });
  await writeFile(join(dir, 'overlay', 'etc', 'motd'), 'an ASL-AUTH-HOST\n');
  await aslOk(['capture', '--store', store, '--file', join(dir, 'overlay'), '--outdir', join(store, 'per', 'overlay')]);
  return { dir, store, root, payload };
}

/** Exit 2, nothing on stdout, one line on stderr. */
function badInput(r: Awaited<ReturnType<typeof runAsl>>, what: string): string {
  assert.equal(r.code, 2, `${what}: ${describeRun(r)}`);
  assert.equal(r.stdout, '', what);
  return oneLine(r.stderr);
}

test("verify on the seed's cp -a of per/ binaries/ scripts/: exit 2, one line naming what is there, what it lacks and asl seed", async (t) => {
  const { dir, store } = await buildStore(t);
  const personal = join(dir, 'image', 'var', 'lib', 'asl', 'personal');
  await mkdir(personal, { recursive: true });
  for (const folder of ['binaries', 'per', 'scripts'])
    execFileSync('cp', ['-a', join(store, folder), join(personal, folder)]);
  const copied = [await findListing(personal), await sha256Listing(personal)];

  const line = badInput(await runAsl(['verify', '--store', personal]), 'verify of the copy');
  assert.equal(
    line,
    `asl: ${personal}: not an ASL store but a copy of a store's receipt folders (per/ with 2 receipts, binaries/, scripts/), ` +
      'without the objects, log or keys that verify them; ' +
      `make a store here with \`asl seed --store PRESTORE --into ${personal}\` (after removing this copy: seed writes into an absent or empty directory)`,
  );
  const json = await runAsl(['verify', '--store', personal, '--json']);
  assert.equal(json.code, 2);
  const err = JSON.parse(oneLine(json.stderr)) as {
    error: { code: string; receipts: number; folders: string[]; path: string };
  };
  assert.equal(err.error.code, 'NOT_A_STORE');
  assert.equal(
    err.error.receipts,
    2,
    'two envelopes under per/: per/install/per.dsse.json and per/overlay/overlay.per.dsse.json',
  );
  assert.deepEqual(err.error.folders, ['per', 'binaries', 'scripts']);
  assert.equal(err.error.path, personal);
  // Every command that opens a store says the same (the host's default store may be such a copy).
  assert.equal(badInput(await runAsl(['log', '--store', personal]), 'log of the copy'), line);

  // Only per/: the line names only what is there.
  const onlyPer = join(dir, 'only-per');
  await mkdir(onlyPer);
  execFileSync('cp', ['-a', join(store, 'per'), join(onlyPer, 'per')]);
  assert.match(
    badInput(await runAsl(['verify', '--store', onlyPer]), 'only per/'),
    /copy of a store's receipt folders \(per\/ with 2 receipts\), without the objects, log or keys/,
  );
  // A directory with nothing of a store keeps the plain message.
  const plain = join(dir, 'plain');
  await mkdir(plain);
  await writeFile(join(plain, 'notes.txt'), 'x\n');
  assert.equal(
    badInput(await runAsl(['verify', '--store', plain]), 'plain dir'),
    `asl: ${plain}: not an ASL store (no asl-store.json)`,
  );

  // asl init over a copy makes an empty store around it, and says the receipts are not its own.
  const inited = join(dir, 'inited');
  await mkdir(inited);
  for (const folder of ['binaries', 'per', 'scripts'])
    execFileSync('cp', ['-a', join(store, folder), join(inited, folder)]);
  const init = await aslOk(['init', '--store', inited]);
  assert.equal(
    init.stderr,
    `note: ${inited} already held per/ with 2 receipts, binaries/, scripts/; the new store logs none of those receipts ` +
      'and has none of their objects, so `asl verify` will name each; `asl seed --store PRESTORE --into EMPTY_DIR` carries a store with its history\n',
  );
  const afterInit = await runAsl(['verify', '--store', inited]);
  assert.equal(afterInit.code, 1, describeRun(afterInit));
  assert.equal(
    afterInit.stdout
      .split('\n')
      .filter((l) => /^FAIL .*per\/.*per\.dsse\.json is not a receipt of this store's log/.test(l)).length,
    2,
    afterInit.stdout,
  );
  assert.equal((await aslOk(['init', '--store', store])).stderr, '', 'init of a real store notes nothing');

  // asl seed into the copy refuses it the same way and leaves it as it was; into a fresh directory it works.
  const refused = badInput(await runAsl(['seed', '--store', store, '--into', personal]), 'seed into the copy');
  assert.equal(
    refused,
    `asl: ${personal}: holds a copy of a store's receipt folders (per/ with 2 receipts, binaries/, scripts/), not a store; ` +
      'remove it, then seed again (seed writes into an absent or empty directory)',
  );
  assert.deepEqual([await findListing(personal), await sha256Listing(personal)], copied, 'the copy is untouched');
  execFileSync('rm', ['-rf', personal]);
  await aslOk(['seed', '--store', store, '--into', personal]);
  const seeded = await runAsl(['verify', '--store', personal]);
  assert.equal(seeded.code, 0, describeRun(seeded));
  assert.match(seeded.stdout, /^OK: .* 2 receipts, 2 log entries\nanchor: 2:sha256:[0-9a-f]{64} \(write it down/);
  assert.equal(seeded.stderr, '', 'a seed holds no secret, so nothing to note');
  const report = JSON.parse((await aslOk(['verify', '--store', personal, '--json'])).stdout) as {
    privateKeys: { files: string[]; imageRoot: string | null };
  };
  assert.deepEqual(report.privateKeys, { files: [], imageRoot: null });
});

test('verify says which secrets a store holds, and that they travel when the store lies inside an image root', async (t) => {
  const { dir, store } = await buildStore(t);
  // The build store: it signs with these; a note, never a failure.
  const build = await runAsl(['verify', '--store', store]);
  assert.equal(build.code, 0, describeRun(build));
  assert.match(build.stdout, /^OK: /, 'the verdict comes first on stdout, as before');
  assert.equal(
    build.stderr,
    'note: this store holds its secrets (keys/signing.key, keys/environment.key); ' +
      'a copy made with cp -a carries them, one made with `asl seed` does not (docs/transfer.md)\n',
  );
  const buildJson = JSON.parse((await aslOk(['verify', '--store', store, '--json'])).stdout) as {
    ok: boolean;
    notes: string[];
    privateKeys: unknown;
  };
  assert.deepEqual(buildJson.privateKeys, { files: ['keys/signing.key', 'keys/environment.key'], imageRoot: null });
  assert.deepEqual(buildJson.notes, [], 'not residue: the notes stay empty');

  // The whole store copied into an image root (etc/os-release a link into usr/lib, as in Debian).
  const image = join(dir, 'image');
  await mkdir(join(image, 'etc'), { recursive: true });
  await mkdir(join(image, 'usr', 'lib'), { recursive: true });
  await writeFile(join(image, 'usr', 'lib', 'os-release'), 'ID=debian\n');
  await symlink('../usr/lib/os-release', join(image, 'etc', 'os-release'));
  await mkdir(join(image, 'var', 'lib', 'asl'), { recursive: true });
  const personal = join(image, 'var', 'lib', 'asl', 'personal');
  execFileSync('cp', ['-a', store, personal]);
  const copied = await runAsl(['verify', '--store', personal]);
  assert.equal(copied.code, 0, `a whole copy verifies: ${describeRun(copied)}`);
  assert.equal(
    copied.stderr,
    `note: this store lies inside the image root ${image} and holds its secrets (keys/signing.key, keys/environment.key): ` +
      'whoever has the image can sign as this store and test guesses against its hashed environment values; ' +
      'a store made with `asl seed` carries public keys only (docs/transfer.md)\n',
  );
  const json = await aslOk(['verify', '--store', personal, '--json']);
  assert.equal(json.stderr, '', '--json says it in the report only');
  assert.deepEqual((JSON.parse(json.stdout) as { privateKeys: unknown }).privateKeys, {
    files: ['keys/signing.key', 'keys/environment.key'],
    imageRoot: image,
  });
  // The bytes that travelled are the build's own signing key.
  assert.ok(
    (await readFile(join(personal, 'keys', 'signing.key'))).equals(await readFile(join(store, 'keys', 'signing.key'))),
  );
});

interface WhyJson {
  query: string;
  fromHostPath?: { hostPath: string; root: string; path: string };
  path: string;
  tree: string;
  entry: { type: string; digest?: string };
  history: Array<{ kind: string; step?: string; receipt?: string }>;
}

test('why given a host path under a watched root answers for the tree path and says so in one line', async (t) => {
  const { dir, store, root, payload } = await buildStore(t);
  const install = (await logJson(store)).find((e) => e.step === 'install')!;
  const host = join(root, 'usr', 'bin', 'tool');

  const byTree = JSON.parse((await aslOk(['why', '--store', store, '/usr/bin/tool', '--json'])).stdout) as WhyJson;
  assert.equal(byTree.fromHostPath, undefined, 'a tree path is read inside the trees');
  assert.equal(byTree.entry.digest, digestOf(payload));

  const r = await aslOk(['why', '--store', store, host]);
  const lines = r.stdout.split('\n');
  assert.equal(lines[0], `${host} is /usr/bin/tool in the trees recorded for ${root}; answering for that path`);
  assert.match(lines[1]!, new RegExp(`^usr/bin/tool  in tree ${byTree.tree} \\(output ${root} of #1 install\\)$`));
  assert.ok(r.stdout.includes('created by #1 install; current content from #1 install.'), r.stdout);

  const json = JSON.parse((await aslOk(['why', '--store', store, host, '--json'])).stdout) as WhyJson;
  assert.deepEqual(json.fromHostPath, { hostPath: host, root, path: '/usr/bin/tool' });
  assert.equal(json.path, 'usr/bin/tool');
  assert.equal(json.tree, byTree.tree);
  assert.equal(json.entry.digest, digestOf(payload), 'the entry holds the bytes the capture copied');
  assert.deepEqual(
    json.history.map((h) => [h.kind, h.step, h.receipt]),
    [['added', 'install', install.receipt]],
  );

  // Relative to the current directory, and with the tree named.
  const relative = JSON.parse(
    (await aslOk(['why', '--store', store, 'iso_root/usr/bin/tool', '--json'], { cwd: dir })).stdout,
  ) as WhyJson;
  assert.deepEqual(relative.fromHostPath, { hostPath: host, root, path: '/usr/bin/tool' });
  const named = JSON.parse(
    (await aslOk(['why', '--store', store, host, '--tree', byTree.tree, '--json'])).stdout,
  ) as WhyJson;
  assert.equal(named.entry.digest, digestOf(payload));
  assert.equal(named.fromHostPath?.path, '/usr/bin/tool');

  // A file written under the root after the capture: named as such.
  await writeFile(join(root, 'usr', 'bin', 'later'), 'after\n');
  assert.equal(
    badInput(await runAsl(['why', '--store', store, join(root, 'usr', 'bin', 'later')]), 'after the capture'),
    `asl: ${join(root, 'usr', 'bin', 'later')}: in no output tree of the 2 receipts in ${store}; it lies under the recorded root ${root}, ` +
      'but no tree recorded there holds /usr/bin/later (made after the last capture, or left out of it?)',
  );
  // An ingested directory is a recorded root too.
  const motd = JSON.parse(
    (await aslOk(['why', '--store', store, join(dir, 'overlay', 'etc', 'motd'), '--json'])).stdout,
  ) as WhyJson;
  assert.deepEqual(motd.fromHostPath, {
    hostPath: join(dir, 'overlay', 'etc', 'motd'),
    root: join(dir, 'overlay'),
    path: '/etc/motd',
  });
  assert.equal(motd.entry.digest, digestOf('an ASL-AUTH-HOST\n'));
  // Anywhere else: what to type, with the recorded roots (the watched one first, though the ingest is newer).
  const elsewhere = join(dir, 'elsewhere', 'x');
  assert.equal(
    badInput(await runAsl(['why', '--store', store, elsewhere]), 'outside every root'),
    `asl: ${elsewhere}: in no output tree of the 2 receipts in ${store}; PATH is a path inside a captured tree (as usr/bin/node), ` +
      `or a host path under a recorded root (${root}, ${join(dir, 'overlay')}); --tree ID names the tree`,
  );
});
