// `asl diff` on a real store made by the real CLI: one captured step that changes content,
// mode, owner and xattrs, turns a file into a symlink, retargets a symlink, removes a
// directory tree and adds one. Exact paths and kinds, JSON and text, exit codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DiffChange } from '../../src/graph/diff.js';
import { runAsl } from '../helpers.js';
import { aslOk, describeRun, digestOf, workWithStore } from '../capture/e2e-helpers.js';

interface DiffJson {
  comparisons: Array<{
    label: string;
    a: string | null;
    b: string | null;
    receipt?: string;
    path?: string;
    changes: DiffChange[];
    counts: Record<string, number>;
  }>;
  counts: { added: number; removed: number; modified: number; metadata: number };
  equal: boolean;
}

const isRoot = process.getuid?.() === 0;

const CHANGES = [
  'printf "v2\\n" > root/content.txt',
  'chmod 0700 root/dirmode',
  'rm root/link-or-file && ln -s keep.txt root/link-or-file',
  'chmod 0755 root/mode.txt',
  'mkdir root/newdir && printf "g\\n" > root/newdir/g1',
  'rm -r root/olddir',
  ...(isRoot ? ['chown 1234:5678 root/owner.txt'] : []),
  'ln -sfn b root/sym',
  'setfattr -n user.note -v hi root/xattr.txt',
].join(' && ');

async function setup(t: Parameters<typeof workWithStore>[0]) {
  const { work, store } = await workWithStore(t);
  const root = join(work, 'root');
  await mkdir(join(root, 'olddir', 'sub'), { recursive: true });
  await mkdir(join(root, 'dirmode'));
  await mkdir(join(root, 'samedir'));
  for (let i = 0; i < 50; i++) await writeFile(join(root, 'samedir', `f${i}`), `same ${i}\n`);
  const files: Record<string, string> = {
    'content.txt': 'v1\n',
    'keep.txt': 'keep\n',
    'link-or-file': 'x\n',
    'mode.txt': 'm\n',
    'owner.txt': 'o\n',
    'xattr.txt': 'x\n',
    'olddir/f1': 'f1\n',
    'olddir/sub/f2': 'f2\n',
  };
  for (const [p, text] of Object.entries(files)) {
    await writeFile(join(root, p), text);
    await chmod(join(root, p), 0o644);
  }
  for (const d of ['', 'olddir', 'olddir/sub', 'dirmode', 'samedir']) await chmod(join(root, d), 0o755);
  await symlink('a', join(root, 'sym'));
  const outdir = join(store, 'per', 'change');
  const r = await runAsl(
    ['--store', store, '--cmd', CHANGES, '--watch', 'root', '--no-auto-watch', '--outdir', outdir],
    { program: 'asl-capture', cwd: work },
  );
  assert.equal(r.code, 0, describeRun(r));
  const envelope = await readFile(join(outdir, 'per.dsse.json'));
  const core = (
    JSON.parse(Buffer.from(JSON.parse(envelope.toString()).payload, 'base64').toString()) as {
      predicate: {
        core: {
          watched: Array<{
            path: string;
            before: string;
            after: string;
            added: number;
            modified: number;
            removed: number;
          }>;
        };
      };
    }
  ).predicate.core;
  return { work, store, receipt: digestOf(envelope), watched: core.watched[0]! };
}

const EXPECTED: Array<[string, string, string, string[] | undefined]> = [
  ['modified', 'content.txt', 'file', ['content']],
  ['metadata', 'dirmode', 'dir', ['mode']],
  ['modified', 'link-or-file', 'symlink', ['type', 'mode']],
  ['metadata', 'mode.txt', 'file', ['mode']],
  ['added', 'newdir', 'dir', undefined],
  ['added', 'newdir/g1', 'file', undefined],
  ['removed', 'olddir', 'dir', undefined],
  ['removed', 'olddir/f1', 'file', undefined],
  ['removed', 'olddir/sub', 'dir', undefined],
  ['removed', 'olddir/sub/f2', 'file', undefined],
  ...(isRoot ? [['metadata', 'owner.txt', 'file', ['owner']] as [string, string, string, string[]]] : []),
  ['modified', 'sym', 'symlink', ['target']],
  ['metadata', 'xattr.txt', 'file', ['xattrs']],
];

test('diff: content and metadata-only changes, added and removed directories, exact paths and kinds', async (t) => {
  const { store, receipt, watched } = await setup(t);
  const r = await runAsl(['diff', '--store', store, watched.before, watched.after, '--json']);
  assert.equal(r.code, 1, `trees differ: exit 1\n${describeRun(r)}`);
  const out = JSON.parse(r.stdout) as DiffJson;
  assert.equal(out.comparisons.length, 1);
  const changes = out.comparisons[0]!.changes;
  assert.deepEqual(
    changes.map((c) => [c.kind, c.path, c.type, c.fields]),
    EXPECTED,
  );
  const metadata = isRoot ? 4 : 3;
  assert.deepEqual(out.counts, { added: 2, removed: 4, modified: 3, metadata });
  assert.equal(out.equal, false);
  // The capture counted the same change (its "modified" includes metadata-only changes).
  assert.deepEqual([watched.added, watched.removed, watched.modified], [2, 4, 3 + metadata]);

  const byPath = new Map(changes.map((c) => [c.path, c]));
  assert.deepEqual(
    [byPath.get('content.txt')!.before!.digest, byPath.get('content.txt')!.after!.digest],
    [digestOf('v1\n'), digestOf('v2\n')],
  );
  assert.deepEqual([byPath.get('dirmode')!.before!.mode, byPath.get('dirmode')!.after!.mode], ['0755', '0700']);
  assert.deepEqual([byPath.get('sym')!.before!.target, byPath.get('sym')!.after!.target], ['a', 'b']);
  assert.deepEqual(byPath.get('xattr.txt')!.after!.xattrs, { 'user.note': Buffer.from('hi').toString('base64') });
  assert.equal(
    byPath.get('xattr.txt')!.after!.digest,
    byPath.get('xattr.txt')!.before!.digest,
    'metadata only: same bytes',
  );
  assert.equal(byPath.get('olddir/sub/f2')!.before!.digest, digestOf('f2\n'));
  assert.ok(
    !changes.some((c) => c.path.startsWith('samedir') || c.path === 'keep.txt'),
    'unchanged paths are not listed',
  );

  // The receipt alone: its watched root, before -> after; same changes.
  const viaReceipt = await runAsl(['diff', '--store', store, receipt, '--json']);
  assert.equal(viaReceipt.code, 1);
  const rj = JSON.parse(viaReceipt.stdout) as DiffJson;
  assert.equal(rj.comparisons[0]!.receipt, receipt);
  assert.equal(rj.comparisons[0]!.label, watched.path);
  assert.deepEqual(rj.comparisons[0]!.changes, changes);

  // Text: one line per path, dirs with a slash, and the summary.
  const text = await runAsl(['diff', '--store', store, watched.before, watched.after]);
  assert.equal(text.code, 1);
  const lines = text.stdout.trimEnd().split('\n');
  assert.deepEqual(
    lines.map((l) => l.split(/\s+/).slice(0, 2).join(' ')),
    [
      ...EXPECTED.map(([kind, path, type]) => `${kind} ${path}${type === 'dir' ? '/' : ''}`),
      `${EXPECTED.length} paths`,
    ],
  );
  assert.match(
    text.stdout,
    new RegExp(
      `^modified  content\\.txt  content ${digestOf('v1\n').slice(0, 19)} -> ${digestOf('v2\n').slice(0, 19)} \\(3 B -> 3 B\\)$`,
      'm',
    ),
  );
  assert.match(text.stdout, /^metadata {2}dirmode\/ {2}mode 0755 -> 0700$/m);
  assert.match(text.stdout, /^modified {2}sym {2}target a -> b$/m);
  assert.match(text.stdout, /^removed {3}olddir\/sub\/f2 {2}file 0644 \d+:\d+ 3 B sha256:[0-9a-f]{12}$/m);
  if (isRoot) assert.match(text.stdout, /^metadata {2}owner\.txt {2}owner 0:0 -> 1234:5678$/m);
  assert.equal(
    lines.at(-1),
    `${EXPECTED.length} paths differ: 2 added, 4 removed, 3 modified (content), ${metadata} metadata only`,
  );

  // Reversed: added and removed swap.
  const back = JSON.parse(
    (await runAsl(['diff', '--store', store, watched.after, watched.before, '--json'])).stdout,
  ) as DiffJson;
  assert.deepEqual(back.counts, { added: 4, removed: 2, modified: 3, metadata });

  // --path narrows both sides to one directory.
  const narrow = JSON.parse(
    (await runAsl(['diff', '--store', store, watched.before, watched.after, '--path', 'newdir', '--json'])).stdout,
  ) as DiffJson;
  assert.deepEqual(
    narrow.comparisons[0]!.changes.map((c) => [c.kind, c.path]),
    [['added', 'newdir/g1']],
  );
});

test('diff: equal trees exit 0; bad operands are one-line errors, exit 2', async (t) => {
  const { work, store, receipt, watched } = await setup(t);
  const same = await runAsl(['diff', '--store', store, watched.after, watched.after]);
  assert.equal(same.code, 0, describeRun(same));
  assert.equal(same.stdout, 'equal: no differences\n');
  const sameJson = JSON.parse(
    (await aslOk(['diff', '--store', store, watched.before, watched.before, '--json'])).stdout,
  ) as DiffJson;
  assert.deepEqual(sameJson.counts, { added: 0, removed: 0, modified: 0, metadata: 0 });
  assert.equal(sameJson.equal, true);

  // An ingest receipt has no watched root to compare.
  const ingestDir = join(store, 'per', 'overlay');
  await writeFile(join(work, 'lone.txt'), 'lone\n');
  await aslOk(['--store', store, '--file', join(work, 'lone.txt'), '--outdir', ingestDir], { program: 'asl-capture' });
  const ingest = digestOf(await readFile(join(ingestDir, 'lone.txt.per.dsse.json')));

  const cases: Array<[string[], RegExp]> = [
    [
      [receipt, watched.after],
      /^asl: sha256:[0-9a-f]{64}: is a receipt, not a tree; give the receipt alone to compare the roots it watched before and after$/,
    ],
    [[watched.before, digestOf('v1\n')], /^asl: sha256:[0-9a-f]{64}: is a blob \(file content\), not a tree$/],
    [
      [watched.before],
      /^asl: sha256:[0-9a-f]{64}: is a tree; give two tree ids, or one receipt id to see what its step changed$/,
    ],
    [[ingest], /^asl: receipt sha256:[0-9a-f]{64} \(overlay\) watched no root: it has no before and after to compare$/],
    [[watched.before, digestOf('nothing')], /^asl: sha256:[0-9a-f]{64}: no such object in store .*$/],
    [[watched.before, 'HEAD'], /^asl: HEAD: not an artifact id \(expected sha256:<64 hex digits>\)$/],
    [
      [watched.before, watched.after, watched.after],
      /^asl: diff: expected two tree ids \(or one receipt id\), got 3 operands$/,
    ],
    [[], /^asl: diff: expected two tree ids \(or one receipt id\), got 0 operands$/],
  ];
  for (const [args, message] of cases) {
    const r = await runAsl(['diff', '--store', store, ...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${describeRun(r)}`);
    assert.equal(r.stdout, '');
    assert.match(r.stderr.trimEnd(), message);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1);
  }
  assert.ok(
    execFileSync('getfattr', ['-n', 'user.note', '--only-values', join(work, 'root', 'xattr.txt')], {
      encoding: 'utf8',
    }) === 'hi',
  );
});
