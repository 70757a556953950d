// verify --tree on the real fixture: a debootstrap'd bookworm minbase root (6,768 entries,
// device nodes, setuid binaries, hard links). A private copy is stored with `asl put`,
// verified unchanged (0 differences), then changed in seven ways with the standard tools;
// each change must be reported exactly once with the right kind, and nothing else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { runAsl, tempDir } from '../helpers.js';
import { bookwormMinbaseRoot } from '../fixtures.js';
import { cliInit, cliPut, sh } from './tree-compare.js';

interface TreeResult {
  ok: boolean;
  differences: Array<{ kind: string; path: string; name?: string; expected: string | null; actual: string | null }>;
  skippedMounts: string[];
  counts: { entries: number; files: number; hashedFiles: number; hashedBytes: number };
  ms: number;
}

test('bookworm minbase root: unchanged verifies clean; seven changes are each reported once', {
  skip: process.getuid?.() !== 0 && 'needs root (debootstrap, chown)',
}, async (t) => {
  const fixture = await bookwormMinbaseRoot();
  const dir = await tempDir(t, 'asl-verify-debian-');
  const root = join(dir, 'root');
  await sh(`cp -a ${fixture} ${root}`); // the shared fixture is never changed
  // One xattr to change later (a minbase root has none of its own).
  await sh('setfattr -n user.asl-test -v before usr/bin/dpkg', root);
  const store = await cliInit(join(dir, 'S'));
  const putStarted = Date.now();
  const put = await cliPut(store, root, ['--no-cache']);
  const putMs = Date.now() - putStarted;

  const verify = async (): Promise<{ code: number | null; result: TreeResult; wallMs: number; human: string }> => {
    const started = Date.now();
    const r = await runAsl(['verify', '--store', store, '--tree', put.id, '--root', root, '--json']);
    const wallMs = Date.now() - started;
    assert.equal(r.stderr, '');
    const human = await runAsl(['verify', '--store', store, '--tree', put.id, '--root', root]);
    assert.equal(human.code, r.code);
    return { code: r.code, result: JSON.parse(r.stdout) as TreeResult, wallMs, human: human.stdout };
  };

  const clean = await verify();
  assert.equal(clean.code, 0, clean.human);
  assert.deepEqual(clean.result.differences, []);
  assert.deepEqual(clean.result.skippedMounts, []);
  assert.ok(clean.result.counts.entries > 6000, `entries: ${clean.result.counts.entries}`);
  t.diagnostic(
    `put (no cache) ${putMs} ms; verify --tree: ${clean.result.counts.entries} entries, ${clean.result.counts.hashedFiles} files, ` +
      `${(clean.result.counts.hashedBytes / 1e6).toFixed(1)} MB hashed in ${clean.result.ms} ms (process wall ${clean.wallMs} ms)`,
  );

  const before = await sh('stat -c "%h %s" etc/debian_version && readlink etc/os-release', root);
  assert.match(
    before.toString(),
    /^1 \d+\n\.\.\/usr\/lib\/os-release\n$/,
    'the file changed below has one link; os-release is a symlink',
  );
  await sh(
    `
    set -e
    sed -i 's/^1/7/' etc/debian_version          # one byte of one file, same size
    chmod u-s usr/bin/passwd                      # one mode bit (setuid)
    chown 1000 etc/issue                          # one owner
    setfattr -n user.asl-test -v after usr/bin/dpkg
    printf 'added\\n' > etc/added.conf             # a file added
    rm etc/motd                                   # a file removed
    ln -sfn /dev/null etc/os-release              # a symlink retargeted
  `,
    root,
  );
  const changed = await verify();
  assert.equal(changed.code, 1, changed.human);
  assert.deepEqual(
    changed.result.differences.map((d) => [d.kind, d.path, ...(d.name ? [d.name] : [])]),
    [
      ['extra', '/etc/added.conf'],
      ['content', '/etc/debian_version'],
      ['owner', '/etc/issue'],
      ['missing', '/etc/motd'],
      ['target', '/etc/os-release'],
      ['mode', '/usr/bin/passwd'],
      ['xattr', '/usr/bin/dpkg', 'user.asl-test'],
    ].sort((a, b) => (a[1]! < b[1]! ? -1 : 1)),
    changed.human,
  );
  const by = (kind: string) => changed.result.differences.find((d) => d.kind === kind)!;
  assert.deepEqual([by('mode').expected, by('mode').actual], ['4755', '0755']);
  assert.deepEqual([by('owner').expected, by('owner').actual], ['0:0', '1000:0']);
  assert.deepEqual([by('target').expected, by('target').actual], ['../usr/lib/os-release', '/dev/null']);
  assert.deepEqual([by('xattr').expected, by('xattr').actual], ['"before"', '"after"']);
  assert.equal(changed.human.trimEnd().split('\n').length, 8, changed.human);
  t.diagnostic(`with 7 changes: ${changed.result.ms} ms`);
});
