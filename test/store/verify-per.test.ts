// The readable copies in per/ are checked against their receipts: people read per.json and
// stdout.log, and the seed copies them into the image. Each edit below is made to a copy of
// one store with real captures; `asl verify` must exit 1 with the exact line naming the file
// and what it should be, and verify itself changes nothing.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFile, mkdtemp, readFile, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { aslOk, runAsl, tempDir } from '../helpers.js';
import { sha256, treeDigest } from '../transfer/fixture.js';

let dir: string;
let pristine: string;
const ids: Record<string, string> = {};

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'asl-verify-per-'));
  pristine = join(dir, 'S');
  await aslOk(['init', '--store', pristine]);
  await aslOk(
    [
      'capture',
      '--store',
      pristine,
      '--cmd',
      'echo out-one; echo err-one >&2',
      '--outdir',
      join(pristine, 'per', 'one'),
    ],
    { cwd: dir },
  );
  await writeFile(join(dir, 'motd'), 'welcome\n');
  await aslOk([
    'capture',
    '--store',
    pristine,
    '--file',
    join(dir, 'motd'),
    '--outdir',
    join(pristine, 'per', 'overlay'),
  ]);
  for (const [name, file] of [
    ['one', 'per/one/per.dsse.json'],
    ['motd', 'per/overlay/motd.per.dsse.json'],
  ])
    ids[name!] = sha256(await readFile(join(pristine, file!)));
});
after(() => rm(dir, { recursive: true, force: true }));

async function copy(t: TestContext): Promise<string> {
  const d = await tempDir(t);
  execFileSync('cp', ['-a', pristine, join(d, 'S')]);
  return join(d, 'S');
}

/** verify exits 1, its FAIL lines are exactly `fails`, and the store is byte-for-byte what it was. */
async function verifyFails(store: string, fails: string[]): Promise<void> {
  const before = treeDigest(store);
  const r = await runAsl(['verify', '--store', store]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.deepEqual(
    r.stdout.split('\n').filter((l) => l.startsWith('FAIL ')),
    fails,
  );
  assert.equal(treeDigest(store), before, 'verify changed nothing');
}

test('per/: an intact store checks every statement and log beside its receipt', async () => {
  const r = await aslOk(['verify', '--store', pristine, '--json']);
  const report = JSON.parse(r.stdout) as { ok: boolean; counts: Record<string, number>; notes: string[] };
  assert.equal(report.ok, true);
  assert.equal(report.counts.perFiles, 2, 'two receipt files');
  assert.equal(report.counts.perChecked, 4, 'per.json, stdout.log, stderr.log of one; motd.per.json');
});

test('per/: an edited per.json is named: it is not what was signed', async (t) => {
  const store = await copy(t);
  const file = join(store, 'per', 'one', 'per.json');
  const text = await readFile(file, 'utf8');
  assert.ok(text.includes('echo out-one'));
  await writeFile(file, text.replace('echo out-one', 'echo harmless'));
  await verifyFails(store, [
    `FAIL ${file} is not the statement of receipt ${ids.one} in per.dsse.json beside it: it was edited (what it says is not what was signed) (expected the payload of ${ids.one}, actual ${sha256(text.replace('echo out-one', 'echo harmless'))})`,
  ]);
});

test('per/: an edited stdout.log is named with the digest the receipt records', async (t) => {
  const store = await copy(t);
  const file = join(store, 'per', 'one', 'stdout.log');
  await appendFile(file, 'all tests passed\n');
  const actual = sha256('out-one\nall tests passed\n');
  await verifyFails(store, [
    `FAIL ${file} hashes to ${actual}, but receipt ${ids.one} records stdout ${sha256('out-one\n')}: it was edited (the recorded stdout is the object ${sha256('out-one\n')})`,
  ]);
});

test('per/: a stderr.log replaced by a link, and a prefixed statement edited, are named', async (t) => {
  const store = await copy(t);
  const log = join(store, 'per', 'one', 'stderr.log');
  await unlink(log);
  await symlink('/etc/hostname', log);
  const statement = join(store, 'per', 'overlay', 'motd.per.json');
  const json = JSON.parse(await readFile(statement, 'utf8')) as { predicate: { core: { step: string } } };
  json.predicate.core.step = 'renamed';
  await writeFile(statement, `${JSON.stringify(json, null, 2)}\n`);
  await verifyFails(store, [
    `FAIL ${log} is a symbolic link: per/ holds the receipt's own files`,
    `FAIL ${statement} is not the statement of receipt ${ids.motd} in motd.per.dsse.json beside it: it was edited (what it says is not what was signed) (expected the payload of ${ids.motd}, actual ${sha256(await readFile(statement))})`,
  ]);
});

test('per/: a statement and logs whose receipt was removed back nothing', async (t) => {
  const store = await copy(t);
  await unlink(join(store, 'per', 'one', 'per.dsse.json'));
  const d = join(store, 'per', 'one');
  await verifyFails(
    store,
    ['per.json', 'stderr.log', 'stdout.log'].map(
      (f) =>
        `FAIL ${join(d, f)} has no receipt beside it (per.dsse.json): nothing backs what it says (left by an interrupted capture, or put there by hand); re-run the capture or remove it (expected ${join(d, 'per.dsse.json')}, actual absent)`,
    ),
  );
});

test('per/: a file no receipt names is a note, not a failure', async (t) => {
  const store = await copy(t);
  await writeFile(join(store, 'per', 'one', 'NOTES.txt'), 'operator notes\n');
  const r = await aslOk(['verify', '--store', store]);
  assert.match(
    r.stdout,
    new RegExp(
      `^note: 1 file\\(s\\) in per/ that no receipt backs, not checked \\(e\\.g\\. ${join(store, 'per', 'one', 'NOTES.txt')}\\); \`asl seed\` leaves them out$`,
      'm',
    ),
  );
});
