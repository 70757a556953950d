// A store is never more readable than what it copies (docs/security.md): a 0640
// etc/shadow, a private key a command reads, a command's output that prints a
// secret, all end up in the store, in a seed and in a bundle. Another local user
// (a real unprivileged process, `nobody`) must be able to read none of it, even
// when every folder around the store is open (0755) and the operator made the
// store's folder with a plain `mkdir -p`, as the seed's workflow does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { chmod, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { aslOk, tempDir } from '../helpers.js';
import { ensureDebianPackages } from '../fixtures.js';
import { NOBODY, run } from './tree-compare.js';

const SHADOW = 'root:$y$j9T$s3cr3tSaltValue$VeryPrivateHashOfTheRootPassword:19000:0:99999:7:::\n';

/** Every path below `dir` (files and folders), as root sees them. */
async function allPaths(dir: string): Promise<string[]> {
  const out = [dir];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await allPaths(p)));
    else out.push(p);
  }
  return out;
}

/** What `nobody` can open for reading (files) or list (folders) among `paths`, tried by one real unprivileged process. */
async function readableByNobody(paths: string[]): Promise<string[]> {
  const script = `
    const fs = require('node:fs');
    const ok = [];
    for (const p of JSON.parse(process.argv[1])) {
      try {
        if (fs.lstatSync(p).isDirectory()) fs.readdirSync(p); else fs.closeSync(fs.openSync(p, 'r'));
        ok.push(p);
      } catch {}
    }
    process.stdout.write(JSON.stringify(ok));`;
  const r = await run('setpriv', [
    `--reuid=${NOBODY}`,
    `--regid=${NOBODY}`,
    '--clear-groups',
    process.execPath,
    '-e',
    script,
    JSON.stringify(paths),
  ]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout.toString()) as string[];
}

test('a captured secret is readable only by the store owner: in the store, its per/ logs, a seed and a bundle', async (t) => {
  await ensureDebianPackages('util-linux', 'tar');
  const dir = await tempDir(t);
  await chmod(dir, 0o755); // everything around the store is open: only ASL's own modes protect it
  const root = join(dir, 'root');
  await mkdir(join(root, 'etc'), { recursive: true, mode: 0o755 });
  await chmod(join(root, 'etc'), 0o755);
  await chmod(root, 0o755);
  await writeFile(join(root, 'etc', 'shadow'), SHADOW, { mode: 0o640 });
  const keyPem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  await writeFile(join(root, 'etc', 'host.key'), keyPem, { mode: 0o600 });

  // The seed's own sequence: the operator makes the folders, then asl-init-store.
  const store = join(dir, 'asl-preimage-store');
  for (const d of ['binaries', 'scripts', 'per']) await mkdir(join(store, d), { recursive: true, mode: 0o755 });
  await chmod(store, 0o755);
  await aslOk(['--store', store], { program: 'asl-init-store' });
  await aslOk(['put', '--store', store, root]);
  // A command that prints a secret: its stdout.log is kept in per/ and as an object.
  await aslOk([
    'capture',
    '--store',
    store,
    '--cmd',
    `cat ${join(root, 'etc', 'shadow')}`,
    '--outdir',
    join(store, 'per', 'show'),
  ]);
  await aslOk([
    'capture',
    '--store',
    store,
    '--file',
    join(root, 'etc', 'host.key'),
    '--outdir',
    join(store, 'per', 'key'),
  ]);
  assert.equal(await readFile(join(store, 'per', 'show', 'stdout.log'), 'utf8'), SHADOW, 'the secret is in the store');

  const image = join(dir, 'iso_root');
  await mkdir(join(image, 'var', 'lib'), { recursive: true });
  for (const d of [image, join(image, 'var'), join(image, 'var', 'lib')]) await chmod(d, 0o755);
  const seeded = join(image, 'var', 'lib', 'asl', 'personal');
  await aslOk(['seed', '--store', store, '--into', seeded]);
  const bundle = join(dir, 'history.tar');
  await aslOk(['bundle', 'export', '--store', store, '-o', bundle]);

  assert.equal(
    (await stat(store)).mode & 0o7777,
    0o700,
    'the store root is 0700, even though the operator made it 0755',
  );
  assert.equal((await stat(seeded)).mode & 0o7777, 0o700, 'the seeded store is 0700');
  assert.equal((await stat(bundle)).mode & 0o7777, 0o600, 'the bundle file is 0600');
  assert.equal(
    (await stat(join(image, 'var', 'lib', 'asl'))).mode & 0o7777,
    0o755,
    "a folder the seed made inside the image is the image's own (0755), explicitly",
  );

  // The real test: another local user reads nothing of it.
  const paths = [...(await allPaths(store)), ...(await allPaths(seeded)), bundle];
  assert.ok(paths.length > 40, `checked ${paths.length} paths`);
  assert.deepEqual(
    await readableByNobody(paths),
    [],
    'another local user can open nothing in the store, the seed or the bundle',
  );
  // Deeper than the root: with the root opened by hand, what ASL made below it still holds
  // (the view folders the operator made keep the operator's mode: listing them shows step names only).
  await chmod(store, 0o755);
  const views = ['binaries', 'per', 'scripts'].map((d) => join(store, d));
  const below = (await allPaths(store)).filter((p) => p !== store);
  assert.deepEqual(
    await readableByNobody(below),
    views,
    'every folder and file ASL made below the root is private too',
  );

  // A bundle extracted with tar as root keeps its entries owner-only.
  const listing = await run('tar', ['-tvf', bundle]);
  assert.equal(listing.code, 0, listing.stderr);
  const modes = new Set(
    listing.stdout
      .toString()
      .trim()
      .split('\n')
      .map((l) => l.split(/\s+/)[0]),
  );
  assert.deepEqual([...modes], ['-r--------'], 'every bundle entry is mode 0400');
});
