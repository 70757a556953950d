// `asl verify --tree ID --root DIR` on real directories changed with the standard tools
// (chmod, chown, setfattr, ln, mknod, mount): every difference is listed once, with its
// kind, its path and the expected and actual values; nothing is followed or crossed.
import { removeStoredObject } from './object-bytes.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { runAsl, tempDir, type RunResult } from '../helpers.js';
import { cliInit, cliPut, oneLine, run, sh } from './tree-compare.js';

const isRoot = process.getuid?.() === 0;

interface Difference {
  kind: string;
  path: string;
  expected: string | null;
  actual: string | null;
  name?: string;
  alsoAt?: string[];
}
interface TreeResult {
  ok: boolean;
  tree: string;
  root: string;
  differences: Difference[];
  skippedMounts: string[];
  excludes: Array<{ path: string; matched: boolean }>;
  counts: { entries: number; files: number; hashedFiles: number; hashedBytes: number };
  ms: number;
}

function describe(r: RunResult): string {
  return `exit ${r.code}\n--- stdout\n${r.stdout.slice(-6000)}\n--- stderr\n${r.stderr.slice(-3000)}`;
}

/** Runs verify --tree twice (human and --json); both must agree on the exit code. */
async function verifyTree(
  store: string,
  id: string,
  root: string,
  extra: string[] = [],
): Promise<{ code: number | null; human: string; result: TreeResult }> {
  const args = ['verify', '--store', store, '--tree', id, '--root', root, ...extra];
  const human = await runAsl(args);
  const json = await runAsl([...args, '--json']);
  assert.equal(json.code, human.code, `--json and human exit codes agree\n${describe(human)}\n${describe(json)}`);
  assert.equal(json.stderr, '', describe(json));
  return { code: human.code, human: human.stdout, result: JSON.parse(json.stdout) as TreeResult };
}

/** A directory with every kind of entry and metadata a Debian root has. */
async function buildFixture(t: TestContext): Promise<{ dir: string; store: string; root: string; id: string }> {
  const dir = await tempDir(t, 'asl-verify-tree-');
  const store = await cliInit(join(dir, 'S'));
  const root = join(dir, 'root');
  await sh(
    `
    set -e
    mkdir -p root/bin root/etc root/dev root/tmp root/empty root/var/lib/app
    printf 'tool v1\\n' > root/bin/tool; chmod 0755 root/bin/tool
    printf 'su\\n' > root/bin/su; chmod 4755 root/bin/su
    printf 'shared\\n' > root/bin/link-a; ln root/bin/link-a root/bin/link-b
    printf 'three\\n' > root/bin/h1; ln root/bin/h1 root/bin/h2; ln root/bin/h1 root/bin/h3
    printf 'conf=1\\n' > root/etc/conf; chmod 0644 root/etc/conf
    printf 'owned\\n' > root/etc/owned; chown 1000:1000 root/etc/owned
    printf 'noted\\n' > root/etc/noted; setfattr -n user.note -v hello root/etc/noted
    printf 'data\\n' > root/var/lib/app/state
    chmod 1777 root/tmp
    ln -s bin/tool root/sh
    mkfifo root/dev/fifo
    mknod root/dev/null c 1 3
    mknod root/dev/loop0 b 7 0
    chmod 0755 root root/bin root/etc root/dev root/empty root/var root/var/lib root/var/lib/app
  `,
    dir,
  );
  const put = await cliPut(store, root);
  return { dir, store, root, id: put.id };
}

test('an unchanged directory matches its tree: exit 0, no differences, every file hashed', {
  skip: !isRoot && 'needs root (chown, mknod)',
}, async (t) => {
  const f = await buildFixture(t);
  const { code, human, result } = await verifyTree(f.store, f.id, f.root);
  assert.equal(code, 0, human);
  assert.deepEqual(result.differences, []);
  assert.equal(result.ok, true);
  assert.deepEqual(result.skippedMounts, []);
  assert.equal(result.counts.files, 11);
  assert.equal(result.counts.hashedFiles, 8, 'hard-linked files are read once per inode');
  assert.match(human, new RegExp(`^OK: ${f.root} matches tree ${f.id} \\(`, 'm'));
});

test('every kind of change is listed once, in path order, with expected and actual values', {
  skip: !isRoot && 'needs root (chown, mknod)',
}, async (t) => {
  const f = await buildFixture(t);
  await sh(
    `
    set -e
    printf 'tool v2\\n' > bin/tool                  # same size, other bytes
    printf 'conf=10\\n' > etc/conf                  # other size
    chmod 0755 bin/su                               # setuid bit cleared
    chown 0:0 etc/owned
    setfattr -n user.note -v changed etc/noted
    setfattr -n user.new -v 1 bin/tool
    ln -sfn bin/su sh                               # retargeted
    rm dev/null; mknod dev/null c 1 5
    rm dev/fifo; printf 'x' > dev/fifo              # fifo became a file
    rmdir empty
    rm var/lib/app/state
    printf 'new\\n' > etc/added; mkdir -p opt/extra/deep; printf 'x' > opt/extra/deep/f
    cp -p bin/link-a bin/link-b.tmp; mv bin/link-b.tmp bin/link-b   # hard link broken, same content
    chmod 0700 .
  `,
    f.root,
  );
  const { code, human, result } = await verifyTree(f.store, f.id, f.root);
  assert.equal(code, 1, human);
  assert.equal(result.ok, false);
  const got = result.differences.map((d) => [d.kind, d.path, ...(d.name ? [d.name] : [])].join(' '));
  assert.deepEqual(
    got,
    [
      'mode /',
      'hardlink /bin/link-b',
      'mode /bin/su',
      'content /bin/tool',
      'xattr /bin/tool user.new',
      'type /dev/fifo',
      'device /dev/null',
      'missing /empty',
      'extra /etc/added',
      'content /etc/conf',
      'xattr /etc/noted user.note',
      'owner /etc/owned',
      'extra /opt',
      'target /sh',
      'missing /var/lib/app/state',
    ],
    human,
  );
  const by = (kind: string, path: string) => result.differences.find((d) => d.kind === kind && d.path === path)!;
  assert.deepEqual([by('mode', '/').expected, by('mode', '/').actual], ['0755', '0700']);
  assert.deepEqual([by('mode', '/bin/su').expected, by('mode', '/bin/su').actual], ['4755', '0755']);
  assert.deepEqual([by('owner', '/etc/owned').expected, by('owner', '/etc/owned').actual], ['1000:1000', '0:0']);
  assert.deepEqual([by('device', '/dev/null').expected, by('device', '/dev/null').actual], ['1:3', '1:5']);
  assert.deepEqual([by('type', '/dev/fifo').expected, by('type', '/dev/fifo').actual], ['fifo', 'file']);
  assert.deepEqual([by('target', '/sh').expected, by('target', '/sh').actual], ['bin/tool', 'bin/su']);
  assert.deepEqual(
    [by('hardlink', '/bin/link-b').expected, by('hardlink', '/bin/link-b').actual],
    ['linked to /bin/link-a', 'not linked to an earlier path'],
  );
  assert.deepEqual([by('xattr', '/etc/noted').expected, by('xattr', '/etc/noted').actual], ['"hello"', '"changed"']);
  assert.deepEqual([by('xattr', '/bin/tool').expected, by('xattr', '/bin/tool').actual], [null, '"1"']);
  assert.deepEqual([by('extra', '/opt').expected, by('extra', '/opt').actual], [null, 'directory (not descended)']);
  assert.equal(by('missing', '/empty').expected, 'directory holding 0 files, 0 directories, 0 other');
  assert.equal(by('missing', '/empty').actual, null);
  const tool = by('content', '/bin/tool');
  assert.match(tool.expected!, /^sha256:[0-9a-f]{64} \(8 bytes\)$/);
  assert.match(tool.actual!, /^sha256:[0-9a-f]{64} \(8 bytes\)$/);
  assert.notEqual(tool.expected, tool.actual);
  assert.match(by('content', '/etc/conf').actual!, /^8 bytes$/, 'a size difference is reported without hashing');
  // The human lines say the same, one per difference.
  const lines = human.trimEnd().split('\n');
  assert.equal(lines.length, 16, human);
  assert.ok(lines.includes('mode     /bin/su: expected 4755, actual 0755'), human);
  assert.ok(lines.includes('xattr    /etc/noted: user.note: expected "hello", actual "changed"'), human);
  assert.ok(lines.includes('target   /sh: expected bin/tool, actual bin/su'), human);
  assert.ok(
    lines.includes(
      `missing  /var/lib/app/state: expected file sha256:${await sha256Of('data\n')} (5 bytes), actual absent`,
    ),
    human,
  );
  assert.match(lines.at(-1)!, new RegExp(`^DIFFERENT: 15 difference\\(s\\) between ${f.root} and tree ${f.id} `));
});

async function sha256Of(text: string): Promise<string> {
  const { createHash } = await import('node:crypto');
  return createHash('sha256').update(text).digest('hex');
}

test('a changed inode with several names is one difference naming every name', {
  skip: !isRoot && 'needs root',
}, async (t) => {
  const f = await buildFixture(t);
  await sh('printf "THREE\\n" > bin/h2 && chmod 0600 bin/h3', f.root); // writes through to the one inode
  const { code, result } = await verifyTree(f.store, f.id, f.root);
  assert.equal(code, 1);
  assert.deepEqual(
    result.differences.map((d) => [d.kind, d.path, d.alsoAt]),
    [
      ['content', '/bin/h1', ['/bin/h2', '/bin/h3']],
      ['mode', '/bin/h1', ['/bin/h2', '/bin/h3']],
    ],
  );
});

test('hard-link groups: a member split off, and the first member split off', {
  skip: !isRoot && 'needs root',
}, async (t) => {
  const f = await buildFixture(t);
  await sh('cp -p bin/h1 bin/h1.new && mv bin/h1.new bin/h1', f.root); // h1 leaves the group; h2, h3 stay linked
  const { code, result } = await verifyTree(f.store, f.id, f.root);
  assert.equal(code, 1);
  assert.deepEqual(
    result.differences.map((d) => [d.kind, d.path, d.expected, d.actual]),
    [
      ['hardlink', '/bin/h2', 'linked to /bin/h1', 'not linked to an earlier path'],
      ['hardlink', '/bin/h3', 'linked to /bin/h1', 'linked to /bin/h2'],
    ],
  );
});

test('a file hard-linked to another recorded file it was not linked to', {
  skip: !isRoot && 'needs root',
}, async (t) => {
  const f = await buildFixture(t);
  await sh('ln -f bin/su bin/tool', f.root);
  const { result } = await verifyTree(f.store, f.id, f.root);
  assert.deepEqual(
    result.differences.map((d) => [d.kind, d.path]),
    [
      ['hardlink', '/bin/tool'],
      ['content', '/bin/tool'],
      ['mode', '/bin/tool'],
    ].sort((a, b) => ['content', 'mode', 'hardlink'].indexOf(a[0]!) - ['content', 'mode', 'hardlink'].indexOf(b[0]!)),
  );
  assert.equal(result.differences.find((d) => d.kind === 'hardlink')!.actual, 'linked to /bin/su');
});

test('symlinks inside DIR are never followed: a directory replaced by a symlink to a copy is a type difference', {
  skip: !isRoot && 'needs root',
}, async (t) => {
  const f = await buildFixture(t);
  const copy = join(f.dir, 'elsewhere');
  await sh(`cp -a ${join(f.root, 'var')} ${copy} && rm -rf var && ln -s ${copy} var`, f.root);
  const { code, result } = await verifyTree(f.store, f.id, f.root);
  assert.equal(code, 1);
  assert.deepEqual(
    result.differences.map((d) => [d.kind, d.path, d.expected, d.actual]),
    [['type', '/var', 'directory', 'symlink']],
  );
  // A file replaced by a symlink to a file with the very same bytes is a difference too.
  await rm(join(f.root, 'var'));
  await sh(
    `cp -a ${copy} var && printf 'data\\n' > ${join(f.dir, 'same')} && rm var/lib/app/state && ln -s ${join(f.dir, 'same')} var/lib/app/state`,
    f.root,
  );
  const again = await verifyTree(f.store, f.id, f.root);
  assert.deepEqual(
    again.result.differences.map((d) => [d.kind, d.path, d.expected, d.actual]),
    [['type', '/var/lib/app/state', 'file', 'symlink']],
  );
});

test("DIR given through a symlink is followed (it is the operator's own path); nothing below it is", {
  skip: !isRoot && 'needs root',
}, async (t) => {
  const f = await buildFixture(t);
  const alias = join(f.dir, 'alias');
  await symlink(f.root, alias);
  const { code, result } = await verifyTree(f.store, f.id, alias);
  assert.equal(code, 0);
  assert.equal(result.root, f.root);
});

test('another file system mounted inside DIR is not entered, and is reported', {
  skip: !isRoot && 'needs root (mount)',
}, async (t) => {
  const f = await buildFixture(t);
  const mnt = join(f.root, 'var', 'lib');
  const mounted = await run('mount', ['-t', 'tmpfs', '-o', 'mode=0755', 'asl-test', mnt]);
  if (mounted.code !== 0) {
    t.skip(`cannot mount tmpfs here: ${mounted.stderr.trim()}`);
    return;
  }
  try {
    await writeFile(join(mnt, 'inside-the-mount'), 'not compared\n');
    const { code, human, result } = await verifyTree(f.store, f.id, f.root);
    assert.equal(code, 0, human);
    assert.deepEqual(result.differences, []);
    assert.deepEqual(result.skippedMounts, ['/var/lib']);
    assert.ok(human.includes('note: /var/lib: another file system is mounted here; not compared below it'), human);
  } finally {
    // Before the temp dir is removed (t.after hooks run first-registered first).
    await run('umount', [mnt]);
  }
});

test('--exclude skips runtime paths on both sides; excludes that match nothing are noted', {
  skip: !isRoot && 'needs root',
}, async (t) => {
  const f = await buildFixture(t);
  await sh('mkdir -p run/lock proc/1 && printf 1 > run/lock/pid && rm -rf tmp && printf x > tmp', f.root);
  const plain = await verifyTree(f.store, f.id, f.root);
  assert.deepEqual(
    plain.result.differences.map((d) => [d.kind, d.path]),
    [
      ['extra', '/proc'],
      ['extra', '/run'],
      ['type', '/tmp'],
    ],
  );
  // "/run", "proc" and "DIR/tmp" all name a path inside the tree.
  const { code, human, result } = await verifyTree(f.store, f.id, f.root, [
    '--exclude',
    '/run',
    '--exclude',
    'proc',
    '--exclude',
    join(f.root, 'tmp'),
    '--exclude',
    '/sys',
  ]);
  assert.equal(code, 0, human);
  assert.deepEqual(result.excludes, [
    { path: '/run', matched: true },
    { path: 'proc', matched: true },
    { path: join(f.root, 'tmp'), matched: true },
    { path: '/sys', matched: false },
  ]);
  assert.ok(human.includes('note: --exclude /sys: nothing there to skip'), human);
});

test('usage and bad input exit 2 with one line', { skip: !isRoot && 'needs root' }, async (t) => {
  const f = await buildFixture(t);
  const blob = (await cliPut(f.store, join(f.root, 'etc', 'conf'))).id;
  const cases: Array<[string[], RegExp]> = [
    [['verify', '--store', f.store, '--tree', f.id], /--tree ID and --root DIR go together/],
    [['verify', '--store', f.store, '--root', f.root], /--tree ID and --root DIR go together/],
    [['verify', '--store', f.store, '--exclude', '/proc'], /--exclude needs --tree ID --root DIR/],
    [['verify', '--store', f.store, '--quick', '--tree', f.id, '--root', f.root], /--quick applies to the store check/],
    [['verify', '--store', f.store, '--tree', 'abc', '--root', f.root], /abc: not a tree id/],
    [['verify', '--store', f.store, '--tree', `sha256:${'0'.repeat(64)}`, '--root', f.root], /no such object/],
    [['verify', '--store', f.store, '--tree', blob, '--root', f.root], /is a blob, not a tree/],
    [['verify', '--store', f.store, '--tree', f.id, '--root', join(f.root, 'etc', 'conf')], /not a directory/],
    [['verify', '--store', f.store, '--tree', f.id, '--root', join(f.dir, 'absent')], /no such file or directory/],
    [['verify', '--store', f.store, '--tree', f.id, '--root', f.root, '--exclude', '../etc'], /"\.\." is not allowed/],
    [['verify', '--store', f.store, '--tree', f.id, '--root', f.root, '--exclude', '/'], /excludes the whole tree/],
    [['verify', '--tree', f.id, '--root', f.root], /--store S is required/],
  ];
  for (const [args, message] of cases) {
    const r = await runAsl(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${describe(r)}`);
    assert.equal(r.stdout, '');
    assert.match(oneLine(r.stderr), message, args.join(' '));
  }
});

test('a recorded sub-tree missing from the store is a difference at its path; the rest is still compared', {
  skip: !isRoot && 'needs root',
}, async (t) => {
  const f = await buildFixture(t);
  const ls = JSON.parse((await runAsl(['ls', '--store', f.store, f.id, 'var', '--json'])).stdout) as Array<{
    name: string;
    digest: string;
  }>;
  // Taken out of the store wherever it is (a packed tree: its index record dropped).
  await removeStoredObject(f.store, ls.find((e) => e.name === 'lib')!.digest);
  await sh('chmod 0700 bin/su', f.root);
  const { code, result } = await verifyTree(f.store, f.id, f.root);
  assert.equal(code, 1);
  assert.deepEqual(
    result.differences.map((d) => [d.kind, d.path]),
    [
      ['mode', '/bin/su'],
      ['record', '/var/lib'],
    ],
  );
  assert.match(result.differences[1]!.actual!, /no such object/);
});

test('file names that are not UTF-8 are shown escaped and compared as bytes', {
  skip: !isRoot && 'needs root',
}, async (t) => {
  const f = await buildFixture(t);
  const odd = Buffer.concat([Buffer.from(`${join(f.root, 'etc')}/`), Buffer.from([0x66, 0xff, 0x0a])]);
  await writeFile(odd, 'odd\n');
  const { result } = await verifyTree(f.store, f.id, f.root);
  assert.deepEqual(
    result.differences.map((d) => [d.kind, d.path]),
    [['extra', '/etc/f\\xff\\x0a']],
  );
  await copyFile(join(f.root, 'etc', 'conf'), join(f.root, 'etc', 'conf2'));
  await mkdir(join(f.root, 'etc', 'sub'));
  const again = await verifyTree(f.store, f.id, f.root);
  assert.deepEqual(
    again.result.differences.map((d) => d.path),
    ['/etc/conf2', '/etc/f\\xff\\x0a', '/etc/sub'],
  );
});
