// `asl why` on real stores made by the real CLI (asl-capture): a path created, modified and
// chmod-ed by three steps; a change made outside any capture; a path older than every
// receipt; a path reached through a symlink; --tree; and the one-line errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { WhyResult } from '../../src/graph/why.js';
import { runAsl } from '../helpers.js';
import { aslOk, describeRun, digestOf, workWithStore } from '../capture/e2e-helpers.js';

interface Step {
  id: string;
  after: string;
}

/** Captures `cmd` (run in `work`) watching `work/root`; returns the receipt id and the root's after-tree. */
async function capture(store: string, work: string, name: string, cmd: string): Promise<Step> {
  const outdir = join(store, 'per', name);
  const r = await runAsl(
    ['--store', store, '--cmd', `umask 022; ${cmd}`, '--watch', 'root', '--no-auto-watch', '--outdir', outdir],
    { program: 'asl-capture', cwd: work },
  );
  assert.equal(r.code, 0, describeRun(r));
  const envelope = await readFile(join(outdir, 'per.dsse.json'));
  const statement = JSON.parse(Buffer.from(JSON.parse(envelope.toString()).payload, 'base64').toString()) as {
    predicate: { core: { watched: Array<{ path: string; after: string | null }> } };
  };
  return { id: digestOf(envelope), after: statement.predicate.core.watched[0]!.after! };
}

async function whyJson(store: string, ...args: string[]): Promise<WhyResult> {
  const r = await aslOk(['why', '--store', store, ...args, '--json']);
  return JSON.parse(r.stdout) as WhyResult;
}

async function threeSteps(t: TestContext) {
  const { work, store } = await workWithStore(t);
  await mkdir(join(work, 'root'));
  await writeFile(join(work, 'root', 'pre-existing'), 'here before any step\n');
  const create = await capture(store, work, 'create', 'mkdir -p root/a && printf "one\\n" > root/a/b');
  const modify = await capture(store, work, 'modify', 'printf "two\\n" > root/a/b');
  const chmod = await capture(store, work, 'chmod', 'chmod 0600 root/a/b');
  const other = await capture(store, work, 'other', 'printf "unrelated\\n" > root/c');
  return { work, store, create, modify, chmod, other };
}

test('why: created, modified, chmod-ed by three steps; unrelated steps leave no trace', async (t) => {
  const { work, store, create, modify, chmod, other } = await threeSteps(t);
  const one = digestOf('one\n');
  const two = digestOf('two\n');

  const w = await whyJson(store, 'a/b');
  assert.equal(w.path, 'a/b');
  assert.equal(w.tree, other.after, 'default tree: the newest output tree holding the path');
  assert.deepEqual(w.treeFrom, {
    seq: 4,
    receipt: other.id,
    step: 'other',
    artifact: join(work, 'root'),
    as: 'output',
  });
  assert.deepEqual(w.sameBytes, [], 'no receipt output these bytes as a file of their own');
  assert.deepEqual(w.entry, {
    type: 'file',
    mode: '0600',
    uid: process.getuid!(),
    gid: process.getgid!(),
    size: 4,
    digest: two,
  });
  assert.equal(w.start, 'added');
  assert.deepEqual(
    w.history.map((s) => [s.seq, s.step, s.kind, s.recorded, s.receipt, s.fields]),
    [
      [1, 'create', 'added', true, create.id, []],
      [2, 'modify', 'modified', true, modify.id, ['content']],
      [3, 'chmod', 'metadata', true, chmod.id, ['mode']],
    ],
  );
  const [s1, s2, s3] = w.history as [
    WhyResult['history'][number],
    WhyResult['history'][number],
    WhyResult['history'][number],
  ];
  assert.equal(s1.before, null);
  assert.equal(s1.after.digest, one);
  assert.match(s1.trees.before!, /^sha256:/, 'root existed (with pre-existing), without a/b');
  assert.equal(s1.trees.after, create.after);
  assert.equal(s1.command, 'umask 022; mkdir -p root/a && printf "one\\n" > root/a/b');
  assert.deepEqual([s2.before!.digest, s2.after.digest, s2.before!.mode, s2.after.mode], [one, two, '0644', '0644']);
  assert.deepEqual(
    [s2.trees.before, s2.trees.after],
    [create.after, modify.after],
    "lineage: step 1's after-tree is step 2's before-tree",
  );
  assert.deepEqual([s3.before!.mode, s3.after.mode, s3.before!.digest, s3.after.digest], ['0644', '0600', two, two]);
  assert.equal(w.createdBy, 0);
  assert.equal(w.contentBy, 1, "the bytes are step 2's");
  assert.deepEqual(w.dpkg, { database: false, owners: [] });

  // A leading slash means the tree's root: same answer.
  assert.deepEqual(await whyJson(store, '/a/b'), { ...w, query: '/a/b' });

  // Human output: every step, its kind and what changed.
  const text = (await aslOk(['why', '--store', store, 'a/b'])).stdout;
  assert.match(text, /^a\/b {2}in tree sha256:[0-9a-f]{64} \(output .* of #4 other\)$/m);
  assert.match(text, /^ {2}#1 create +added +file 0644 \d+:\d+ 4 B sha256:[0-9a-f]{12}$/m);
  assert.match(
    text,
    new RegExp(`^  #2 modify +modified +content ${one.slice(0, 19)} -> ${two.slice(0, 19)} \\(4 B -> 4 B\\)$`, 'm'),
  );
  assert.match(text, /^ {2}#3 chmod +metadata +mode 0644 -> 0600$/m);
  assert.match(text, /^created by #1 create; current content from #2 modify\.$/m);
  assert.doesNotMatch(text, /^ {2}#4 other/m, 'step 4 did not touch a/b');

  // --tree: an older state has a shorter history.
  const older = await whyJson(store, 'a/b', '--tree', create.after);
  assert.equal(older.tree, create.after);
  assert.deepEqual(
    older.history.map((s) => [s.step, s.kind]),
    [['create', 'added']],
  );
  assert.equal(older.entry.digest, one);
  // --tree with a receipt id: that receipt's output tree.
  const viaReceipt = await whyJson(store, 'a/b', '--tree', modify.id);
  assert.equal(viaReceipt.tree, modify.after);
  assert.deepEqual(
    viaReceipt.history.map((s) => s.kind),
    ['added', 'modified'],
  );

  // A directory: created by step 1, never changed since.
  const dir = await whyJson(store, 'a');
  assert.deepEqual(
    dir.history.map((s) => [s.step, s.kind]),
    [['create', 'added']],
  );
  assert.equal(dir.entry.type, 'dir');
});

test('why: a change made outside any capture is reported between the two steps; a path older than every step is untracked', async (t) => {
  const { work, store, other } = await threeSteps(t);
  await writeFile(join(work, 'root', 'a', 'b'), 'tampered\n');
  const later = await capture(store, work, 'later', 'printf "x\\n" > root/d');

  const w = await whyJson(store, 'a/b');
  assert.equal(w.tree, later.after);
  assert.deepEqual(
    w.history.map((s) => [s.step ?? null, s.kind, s.recorded, s.between ?? null]),
    [
      ['create', 'added', true, null],
      ['modify', 'modified', true, null],
      ['chmod', 'metadata', true, null],
      [null, 'modified', false, { afterSeq: 4, beforeSeq: 5 }],
    ],
  );
  const gap = w.history[3]!;
  assert.equal(gap.trees.before, other.after, 'the last recorded state of the root');
  assert.deepEqual([gap.before!.digest, gap.after.digest], [digestOf('two\n'), digestOf('tampered\n')]);
  assert.equal(w.contentBy, 3, 'the current bytes were written outside any capture');
  const text = (await aslOk(['why', '--store', store, 'a/b'])).stdout;
  assert.match(text, /^ {2}between #4 and #5, outside any capture +modified +content /m);

  const pre = await whyJson(store, 'pre-existing');
  assert.equal(pre.start, 'untracked');
  assert.deepEqual(pre.history, []);
  assert.equal(pre.untrackedIn!.beforeSeq, 1);
  assert.equal(pre.contentBy, null);
  assert.match(
    (await aslOk(['why', '--store', store, 'pre-existing'])).stdout,
    /^already present before #1 \(in tree sha256:[0-9a-f]{12}\): no receipt records where it came from\.$/m,
  );
});

test('why: symlinks among the directories are followed inside the tree; a symlink itself is answered for', async (t) => {
  const { work, store } = await workWithStore(t);
  await mkdir(join(work, 'root'));
  const step = await capture(
    store,
    work,
    'links',
    'mkdir -p root/usr/bin && printf "#!/bin/sh\\n" > root/usr/bin/tool && ln -s usr/bin root/bin && ln -s /usr/bin/tool root/usr/bin/alias && ln -s missing root/dangling',
  );
  const w = await whyJson(store, 'bin/tool');
  assert.equal(w.path, 'usr/bin/tool');
  assert.deepEqual(w.followed, [{ at: 'bin', target: 'usr/bin' }]);
  assert.deepEqual(
    w.history.map((s) => [s.receipt, s.kind]),
    [[step.id, 'added']],
  );
  const alias = await whyJson(store, 'bin/alias');
  assert.equal(alias.entry.type, 'symlink');
  assert.equal(alias.entry.target, '/usr/bin/tool');
  assert.equal(alias.resolvesTo, 'usr/bin/tool', "an absolute target starts at the tree's root, not the host's");
  assert.equal((await whyJson(store, 'dangling')).resolvesTo, null);
  await capture(store, work, 'loops', 'ln -s loop2 root/loop1 && ln -s loop1 root/loop2');
  const loop = await runAsl(['why', '--store', store, 'loop1/x']);
  assert.equal(loop.code, 2, describeRun(loop));
  assert.match(loop.stderr, /^asl: loop1\/x: too many levels of symbolic links in tree sha256:[0-9a-f]{64}\n$/);
});

test('why: a path only in an input tree (an --artifact-inputs folder) is found there, and an ingested file with the same bytes is named', async (t) => {
  const { work, store } = await workWithStore(t);
  await mkdir(join(work, 'overlay'));
  await mkdir(join(work, 'bundle'));
  await writeFile(join(work, 'overlay', 'tool.sh'), '#!/bin/sh\necho tool\n');
  await aslOk(
    ['--store', store, '--file', join(work, 'overlay', 'tool.sh'), '--outdir', join(store, 'per', 'overlay')],
    { program: 'asl-capture' },
  );
  const ingest = digestOf(await readFile(join(store, 'per', 'overlay', 'tool.sh.per.dsse.json')));
  await writeFile(join(work, 'bundle', 'tool.sh'), '#!/bin/sh\necho tool\n');
  const r = await runAsl(
    [
      '--store',
      store,
      '--cmd',
      'true',
      '--artifact-inputs',
      'bundle',
      '--no-auto-watch',
      '--outdir',
      join(store, 'per', 'build'),
    ],
    { program: 'asl-capture', cwd: work },
  );
  assert.equal(r.code, 0, describeRun(r));
  const build = digestOf(await readFile(join(store, 'per', 'build', 'per.dsse.json')));

  const w = await whyJson(store, 'tool.sh');
  assert.deepEqual(w.treeFrom, { seq: 2, receipt: build, step: 'build', artifact: join(work, 'bundle'), as: 'input' });
  assert.equal(w.start, 'unproduced');
  assert.deepEqual(w.history, []);
  assert.deepEqual(w.sameBytes, [
    { seq: 1, receipt: ingest, step: 'overlay', artifact: join(work, 'overlay', 'tool.sh') },
  ]);
  const text = (await aslOk(['why', '--store', store, 'tool.sh'])).stdout;
  assert.match(text, /^tool\.sh {2}in tree sha256:[0-9a-f]{64} \(input .*\/bundle of #2 build\)$/m);
  assert.match(text, /^same bytes as output .*\/overlay\/tool\.sh of #1 overlay \(receipt sha256:[0-9a-f]{12}\)$/m);
});

test('why: one-line errors, exit 2', async (t) => {
  const { work, store } = await workWithStore(t);
  await mkdir(join(work, 'root'));
  const step = await capture(store, work, 'create', 'printf "one\\n" > root/f');
  const cases: Array<[string[], RegExp, string]> = [
    [['nope/x'], /^asl: nope\/x: in no output tree of the 1 receipts in .*$/, 'NOT_FOUND'],
    [
      ['f', '--tree', 'sha256:abc'],
      /^asl: sha256:abc: not a tree id \(expected sha256:<64 hex digits>\)$/,
      'BAD_INPUT',
    ],
    [
      ['f', '--tree', digestOf('no such object')],
      /^asl: sha256:[0-9a-f]{64}: no such object in store .*$/,
      'NOT_FOUND',
    ],
    [
      ['f', '--tree', digestOf('one\n')],
      /^asl: sha256:[0-9a-f]{64}: is a blob or a receipt not in the log, not a tree$/,
      'BAD_INPUT',
    ],
    [
      ['f/g', '--tree', step.after],
      /^asl: f\/g: f is a file, not a directory, in tree sha256:[0-9a-f]{64}$/,
      'NOT_FOUND',
    ],
    [['/'], /^asl: why: PATH must name something inside the tree, not its root$/, 'USAGE'],
    [['a', 'b'], /^asl: why: expected one PATH .*$/, 'USAGE'],
  ];
  for (const [args, message, code] of cases) {
    const r = await runAsl(['why', '--store', store, ...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${describeRun(r)}`);
    assert.equal(r.stdout, '');
    assert.match(r.stderr.trimEnd(), message);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, 'one line');
    const j = await runAsl(['why', '--store', store, ...args, '--json']);
    assert.equal(j.code, 2);
    assert.equal((JSON.parse(j.stderr) as { error: { code: string } }).error.code, code, args.join(' '));
  }
});
