// --trace end to end: a file the command read that nobody declared becomes an 'observed'
// input with its digest; files inside watched roots and declared inputs do not; inside a
// chroot, reads are reported by their host path.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, copyFile, mkdir, mkdtemp, readFile, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDebianPackages } from '../fixtures.js';
import { runAsl } from '../helpers.js';
import {
  assertWellFormedReceipt,
  aslOk,
  describeRun,
  digestOf,
  only,
  readOutdir,
  workWithStore,
} from './e2e-helpers.js';

before(async () => {
  await ensureDebianPackages('strace', 'busybox-static');
});

test('--trace: an undeclared file the command read is an observed input with its digest; watched and declared files are not', async (t) => {
  const { work, store } = await workWithStore(t);
  await mkdir(join(work, 'data'));
  await mkdir(join(work, 'ws'));
  const undeclared = join(work, 'data', 'undeclared.txt');
  await writeFile(undeclared, 'nobody declared me\n');
  await writeFile(join(work, 'ws', 'inside.txt'), 'inside a watched root\n');
  await writeFile(join(work, 'declared.txt'), 'declared with --input\n');
  // The script names the file, the command line does not: only the trace sees it (the
  // working directory would hold it in its before-tree, so it is not watched here).
  await writeFile(join(work, 'reader.sh'), '#!/bin/sh\ncat data/undeclared.txt ws/inside.txt declared.txt > out.txt\n');
  await chmod(join(work, 'reader.sh'), 0o755);
  const outdir = join(store, 'per', 'traced');
  const r = await runAsl(
    [
      '--store',
      store,
      '--cmd',
      'sh ./reader.sh',
      '--trace',
      '--watch',
      'ws',
      '--input',
      'declared.txt',
      '--output',
      'out.txt',
      '--no-auto-watch',
      '--outdir',
      outdir,
    ],
    { program: 'asl-capture', cwd: work },
  );
  assert.equal(r.code, 0, describeRun(r));
  assert.equal(
    await readFile(join(work, 'out.txt'), 'utf8'),
    'nobody declared me\ninside a watched root\ndeclared with --input\n',
  );
  const out = await readOutdir(outdir);
  const { core } = (await assertWellFormedReceipt(store, out)).predicate;
  assert.equal(core.traced, true);

  // Files read one by one (a package's unchanged files are listed under the package instead).
  const observed = core.inputs.filter((i) => i.role === 'observed' && i.kind === 'blob');
  const file = only(observed, (i) => i.path === undeclared, 'observed undeclared.txt');
  assert.deepEqual(
    [file.kind, file.digest, file.size, file.name],
    ['blob', digestOf('nobody declared me\n'), 19, `observed:${undeclared}`],
  );
  assert.ok(
    !observed.some((i) => i.path!.startsWith(join(work, 'ws'))),
    `a file in a watched root is not observed: ${observed.map((i) => i.path).join(', ')}`,
  );
  assert.ok(!observed.some((i) => i.path === join(work, 'declared.txt')), 'a declared input is not observed');
  assert.ok(!observed.some((i) => i.path!.startsWith(store)), 'nothing in the store is observed');
  assert.ok(!observed.some((i) => /^\/(proc|sys|dev|run)\//.test(i.path!)), 'no pseudo-files');
  // Programs the tree executed are read too: cat, as coreutils (its bytes are the package's), with its digest.
  const catReal = await realpath('/usr/bin/cat');
  const coreutils = only(
    core.inputs,
    (i) => i.role === 'observed' && i.kind === 'paths' && i.package?.name === 'coreutils',
    'observed coreutils',
  );
  const listed = (await aslOk(['cat', '--store', store, coreutils.digest])).stdout
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as { path: string; digest: string });
  const cat = listed.filter((i) => i.path === '/usr/bin/cat' || i.path === '/bin/cat' || i.path === catReal);
  assert.ok(cat.length >= 1, `cat is observed: ${listed.map((i) => i.path).join(', ')}`);
  for (const c of cat) assert.equal(c.digest, digestOf(await readFile(catReal)));
  // Every observed digest is the file's content now, and the blob is in the store.
  for (const o of observed) {
    assert.equal(o.digest, digestOf(await readFile(o.path!)), o.path);
    assert.ok((await aslOk(['cat', '--store', store, o.digest])).stdoutBytes.equals(await readFile(o.path!)), o.path);
  }
  const show = (await aslOk(['show', '--store', store, out.id])).stdout;
  assert.match(
    show,
    new RegExp(
      `observed\\s+blob\\s+${file.digest.slice(0, 19)}.*${undeclared.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`,
    ),
  );
  await aslOk(['verify', '--store', store]);
});

test('--trace in a chroot (busybox-static): a file read inside the root is reported by its host path', async (t) => {
  const { work, store } = await workWithStore(t);
  const root = join(work, 'root');
  await mkdir(join(root, 'bin'), { recursive: true });
  await mkdir(join(root, 'data'));
  await copyFile('/bin/busybox', join(root, 'bin', 'busybox'));
  await chmod(join(root, 'bin', 'busybox'), 0o755);
  await symlink('busybox', join(root, 'bin', 'sh'));
  await symlink('/bin/busybox', join(root, 'bin', 'cat'));
  await writeFile(join(root, 'data', 'in-root.txt'), 'read inside the chroot\n');
  const busybox = digestOf(await readFile('/bin/busybox'));

  // Without auto-watch the root is no watched root, so what the command reads in it is observed.
  const outdir = join(store, 'per', 'chroot-traced');
  const cmd = `chroot ${root} /bin/sh -c 'cat /data/in-root.txt'`;
  const r = await runAsl(['--store', store, '--cmd', cmd, '--trace', '--no-auto-watch', '--outdir', outdir], {
    program: 'asl-capture',
    cwd: work,
  });
  assert.equal(r.code, 0, describeRun(r));
  assert.equal(await readFile(join(outdir, 'stdout.log'), 'utf8'), 'read inside the chroot\n');
  const { core } = (await assertWellFormedReceipt(store, await readOutdir(outdir))).predicate;
  assert.deepEqual(core.watched, []);
  const observed = core.inputs.filter((i) => i.role === 'observed' && i.kind === 'blob');
  const paths = observed.map((i) => i.path!);
  const inRoot = only(
    observed,
    (i) => i.path === join(root, 'data', 'in-root.txt'),
    'observed host path of /data/in-root.txt',
  );
  assert.equal(inRoot.digest, digestOf('read inside the chroot\n'));
  assert.ok(!paths.includes('/data/in-root.txt'), `no path as seen inside the root: ${paths.join(', ')}`);
  assert.ok(!paths.includes('/bin/busybox'), `the root's busybox is not taken for the host's: ${paths.join(', ')}`);
  const bb = only(observed, (i) => i.path === join(root, 'bin', 'busybox'), 'observed busybox in the root');
  assert.equal(bb.digest, busybox);

  // Programs: chroot on the host (coreutils), /bin/sh resolved inside the root.
  const chroot = only(core.program!, (p) => p.path.endsWith('/chroot') && p.root === undefined, 'program chroot');
  assert.equal(chroot.package, 'coreutils');
  // Inside the root: /bin/sh, and cat from the nested sh -c string; both are the root's busybox.
  const inside = core.program!.filter((p) => p.root === root);
  assert.deepEqual(inside.map((p) => [p.path, p.digest]).sort(), [
    ['/bin/cat', busybox],
    ['/bin/sh', busybox],
  ]);

  // With auto-watch the root is watched: reads inside it are covered by its snapshot, not observed.
  const outdir2 = join(store, 'per', 'chroot-watched');
  const r2 = await runAsl(['--store', store, '--cmd', cmd, '--trace', '--outdir', outdir2], {
    program: 'asl-capture',
    cwd: work,
  });
  assert.equal(r2.code, 0, describeRun(r2));
  const core2 = (await readOutdir(outdir2)).statement.predicate.core;
  assert.deepEqual(
    core2.watched!.map((w) => [w.path, w.reason, w.before === w.after]),
    [
      [work, 'cwd', true],
      [root, 'auto', true],
    ],
  );
  const observed2 = core2.inputs.filter((i) => i.role === 'observed' && i.kind === 'blob').map((i) => i.path!);
  assert.ok(
    !observed2.some((p) => p.startsWith(`${root}/`)),
    `nothing inside the watched root is observed: ${observed2.join(', ')}`,
  );
  await aslOk(['verify', '--store', store]);
});

test('--trace follows writes: a file the command wrote outside every watched root (directly, or to a temporary name renamed into place) is a product with its bytes; a file written and removed is not', async (t) => {
  const { work, store } = await workWithStore(t);
  const elsewhere = await mkdtemp(join(tmpdir(), 'asl-trace-out-'));
  t.after(() => rm(elsewhere, { recursive: true, force: true }));
  await mkdir(join(work, 'job'));
  // The script computes its paths: nothing on the command line names them.
  await writeFile(
    join(work, 'job', 'writer.sh'),
    [
      '#!/bin/sh',
      'set -e',
      'D=$(cat "$(dirname "$0")/dest")',
      'printf direct > "$D/direct.bin"',
      'printf renamed > "$D/.partial" && mv "$D/.partial" "$D/final.bin"',
      'printf gone > "$D/scratch" && rm "$D/scratch"',
      '',
    ].join('\n'),
  );
  await writeFile(join(work, 'job', 'dest'), elsewhere);
  await chmod(join(work, 'job', 'writer.sh'), 0o755);
  const outdir = join(store, 'per', 'writes');
  const r = await runAsl(['--store', store, '--cmd', './writer.sh', '--trace', '--outdir', outdir], {
    program: 'asl-capture',
    cwd: join(work, 'job'),
  });
  assert.equal(r.code, 0, describeRun(r));
  assert.match(r.stderr, /trace: 2 files written outside the watched roots, recorded as products/);
  const { core } = (await assertWellFormedReceipt(store, await readOutdir(outdir))).predicate;
  const products = core.outputs.filter((o) => o.role === 'product');
  assert.deepEqual(products.map((p) => [p.path, p.kind, p.digest]).sort(), [
    [join(elsewhere, 'direct.bin'), 'blob', digestOf('direct')],
    [join(elsewhere, 'final.bin'), 'blob', digestOf('renamed')],
  ]);
  for (const p of products)
    assert.ok((await aslOk(['cat', '--store', store, p.digest])).stdoutBytes.equals(await readFile(p.path!)));
  assert.ok(!core.outputs.some((o) => o.path?.endsWith('scratch') || o.path?.endsWith('.partial')));
  // Without --trace the same step records nothing it wrote elsewhere, and says so.
  const plain = await runAsl(['--store', store, '--cmd', './writer.sh', '--outdir', join(store, 'per', 'plain')], {
    program: 'asl-capture',
    cwd: join(work, 'job'),
  });
  assert.equal(plain.code, 0, describeRun(plain));
  assert.match(plain.stderr, /recorded no output besides its logs/);
});
