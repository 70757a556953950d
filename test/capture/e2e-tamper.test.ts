// Tampering end to end: one store with three real captures is made once; each test edits
// a copy (a byte of a receipt object, of per.dsse.json, of a log line, of the head's
// signature; a deleted or moved log line; a deleted artifact) and `asl verify` must exit 1
// naming what was damaged.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { runAsl, tempDir, type RunResult } from '../helpers.js';
import { aslOk, describeRun, digestOf, logJson, objectFile, only, readOutdir } from './e2e-helpers.js';

interface Pristine {
  store: string;
  work: string;
  /** Receipt ids of steps one, two, three. */
  ids: string[];
  /** The stdout log blob of step one. */
  stdoutOne: string;
}

let pristine: Pristine;
let pristineDir: string;

before(async () => {
  pristineDir = await mkdtemp(join(tmpdir(), 'asl-e2e-tamper-'));
  const work = join(pristineDir, 'work');
  const store = join(work, 'store');
  await aslOk(['--store', store], { program: 'asl-init-store' });
  const steps: Array<[string, string]> = [
    ['one', 'echo step-one-output'],
    ['two', 'echo step-two-output > made.txt'],
    ['three', 'echo step-three-output; echo err-three >&2'],
  ];
  const ids: string[] = [];
  for (const [name, cmd] of steps) {
    const r = await runAsl(['--store', store, '--cmd', cmd, '--outdir', join(store, 'per', name)], {
      program: 'asl-capture',
      cwd: work,
    });
    assert.equal(r.code, 0, describeRun(r));
    ids.push((await readOutdir(join(store, 'per', name))).id);
  }
  const one = (await readOutdir(join(store, 'per', 'one'))).statement.predicate.core;
  const stdoutOne = only(one.outputs, (o) => o.role === 'stdout', 'stdout of step one').digest;
  assert.equal(stdoutOne, digestOf('step-one-output\n'));
  pristine = { store, work, ids, stdoutOne };
});

after(() => (pristineDir ? rm(pristineDir, { recursive: true, force: true }) : undefined));

/** A private copy of the pristine work dir (store inside), removed after the test. */
async function copyOfStore(t: TestContext): Promise<{ store: string; work: string }> {
  const dir = await tempDir(t, 'asl-e2e-tamper-copy-');
  execFileSync('cp', ['-a', pristine.work, join(dir, 'work')]);
  return { work: join(dir, 'work'), store: join(dir, 'work', 'store') };
}

async function verify(store: string): Promise<RunResult> {
  return runAsl(['verify', '--store', store]);
}

function assertFails(r: RunResult, ...mustName: string[]): void {
  assert.equal(r.code, 1, `asl verify should exit 1: ${describeRun(r)}`);
  assert.match(r.stdout, /^CORRUPT: /m, r.stdout);
  for (const s of mustName) assert.ok(r.stdout.includes(s), `verify output should name ${s}:\n${r.stdout}`);
}

/** Replaces one byte at `offset` with a different printable byte of the same class. */
function flipByte(bytes: Buffer, offset: number): Buffer {
  const copy = Buffer.from(bytes);
  const c = copy[offset]!;
  copy[offset] = c === 0x41 ? 0x42 : 0x41; // 'A' <-> 'B': stays valid base64 and valid JSON
  return copy;
}

async function editFile(path: string, edit: (b: Buffer) => Buffer): Promise<void> {
  const before = await readFile(path);
  const after = edit(before);
  assert.ok(!after.equals(before));
  await rm(path, { force: true }); // objects may be read-only; replace, never write through a link
  await writeFile(path, after);
}

/** Offset of a base64 character in the middle of an envelope's payload. */
function payloadMiddle(envelopeText: Buffer): number {
  const start = envelopeText.indexOf('"payload":"') + '"payload":"'.length;
  const end = envelopeText.indexOf('"', start);
  return start + Math.floor((end - start) / 2);
}

const logFile = (store: string) => join(store, 'log', 'receipts.log');
const headFile = (store: string) => join(store, 'log', 'head.json');
const logLines = async (store: string) => (await readFile(logFile(store), 'utf8')).split('\n').slice(0, -1);

test('the untouched store verifies: 3 receipts, 3 log entries', async (t) => {
  const { store } = await copyOfStore(t);
  const r = await verify(store);
  assert.equal(r.code, 0, describeRun(r));
  assert.match(r.stdout, /^OK: .* 3 receipts, 3 log entries$/m);
  assert.deepEqual(
    (await logJson(store)).map((i) => [i.seq, i.step, i.receipt]),
    [
      [1, 'one', pristine.ids[0]],
      [2, 'two', pristine.ids[1]],
      [3, 'three', pristine.ids[2]],
    ],
  );
});

test('one byte of a receipt object in objects-v1 changed: verify exits 1 naming the receipt', async (t) => {
  const { store } = await copyOfStore(t);
  const id = pristine.ids[1]!;
  const path = objectFile(store, id);
  await editFile(path, (b) => flipByte(b, payloadMiddle(b)));
  const r = await verify(store);
  assertFails(r, id);
  assert.ok(
    !r.stdout.includes(pristine.ids[0]!) && !r.stdout.includes(pristine.ids[2]!),
    `only the damaged receipt is named:\n${r.stdout}`,
  );
  // Reading it is refused too.
  const show = await runAsl(['show', '--store', store, id]);
  assert.notEqual(show.code, 0, describeRun(show));
});

test('a receipt object deleted: verify exits 1 naming the receipt and its log entry', async (t) => {
  const { store } = await copyOfStore(t);
  const id = pristine.ids[2]!;
  await unlink(objectFile(store, id));
  assertFails(await verify(store), id, 'three');
});

test('per.dsse.json edited in an outdir inside the store (per/): its sha256 no longer is the receipt id, and verify says so', async (t) => {
  const { store } = await copyOfStore(t);
  const file = join(store, 'per', 'two', 'per.dsse.json');
  await editFile(file, (b) => flipByte(b, payloadMiddle(b)));
  // Anyone can check the outdir copy with sha256sum: it no longer matches the receipt id.
  const sum = execFileSync('sha256sum', [file], { encoding: 'utf8' }).split(' ')[0];
  assert.notEqual(`sha256:${sum}`, pristine.ids[1]);
  // The store's own copy is intact, so every receipt still verifies...
  assert.equal((await readFile(objectFile(store, pristine.ids[1]!))).length, (await readFile(file)).length);
  // ...but per/ is part of the store directory the seed copies into the image, and the issue's
  // "Done when" asks for exactly this: edit per.dsse.json -> `asl verify` exits 1 naming it.
  assertFails(await verify(store), file);
});

test('per.dsse.json edited in an outdir outside the store: sha256sum shows it, the store itself still verifies', async (t) => {
  const { store, work } = await copyOfStore(t);
  const outdir = join(work, 'outside', 'four');
  const r = await runAsl(['--store', store, '--cmd', 'echo four', '--outdir', outdir, '--json'], {
    program: 'asl-capture',
    cwd: work,
  });
  assert.equal(r.code, 0, describeRun(r));
  const id = (JSON.parse(r.stdout.slice('four\n'.length)) as { receipt: string }).receipt;
  const file = join(outdir, 'per.dsse.json');
  assert.equal(digestOf(await readFile(file)), id);
  await editFile(file, (b) => flipByte(b, payloadMiddle(b)));
  assert.notEqual(digestOf(await readFile(file)), id, 'the edited copy no longer hashes to the receipt id');
  // The store does not know where outdirs outside it are: its receipts are intact.
  const v = await verify(store);
  assert.equal(v.code, 0, describeRun(v));
});

test('a tampered per.dsse.json fed to a later step (--artifact-inputs per/) is not taken for a receipt unnoticed', async (t) => {
  const { store, work } = await copyOfStore(t);
  const file = join(store, 'per', 'one', 'per.dsse.json');
  await editFile(file, (b) => flipByte(b, payloadMiddle(b)));
  const forged = digestOf(await readFile(file));
  const r = await runAsl(
    [
      '--store',
      store,
      '--cmd',
      'echo build',
      '--artifact-inputs',
      join(store, 'per'),
      '--outdir',
      join(store, 'per', 'build'),
    ],
    { program: 'asl-capture', cwd: work },
  );
  let listedAsReceipt = false;
  if (r.code === 0) {
    const core = (await readOutdir(join(store, 'per', 'build'))).statement.predicate.core;
    listedAsReceipt = core.inputs.some((i) => i.kind === 'receipt' && i.digest === forged);
  }
  const v = await verify(store);
  assert.ok(
    !listedAsReceipt || v.code === 1,
    `the build receipt lists ${forged} (bytes that are no valid receipt) as a 'receipt' input and asl verify passes:\n${describeRun(v)}`,
  );
});

test('one byte of a log line changed: verify exits 1 naming the entry and its receipt', async (t) => {
  const { store } = await copyOfStore(t);
  const lines = await logLines(store);
  const line2 = lines[1]!;
  // Change a digit of the entry's time: still a well-formed line, but not the line that was hashed.
  const m = /"time":"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d(\d)/.exec(line2)!;
  const at = m.index + m[0].length - 1;
  const edited = line2.slice(0, at) + (line2[at] === '1' ? '2' : '1') + line2.slice(at + 1);
  await writeFile(logFile(store), `${[lines[0], edited, lines[2]].join('\n')}\n`);
  assertFails(await verify(store), 'seq 2', pristine.ids[1]!);
});

test('the log head signature changed: verify exits 1 naming the head', async (t) => {
  const { store } = await copyOfStore(t);
  await editFile(headFile(store), (b) => {
    const start = b.indexOf('"sig":"') + '"sig":"'.length;
    return flipByte(b, start + 10);
  });
  const r = await verify(store);
  assertFails(r, 'log/head.json');
  assert.match(r.stdout, /signature/);
  // And nothing more can be appended to a log whose head is not trusted.
  const more = await runAsl(['--store', store, '--cmd', 'echo four', '--outdir', join(store, 'per', 'four')], {
    program: 'asl-capture',
  });
  assert.notEqual(more.code, 0, describeRun(more));
});

test('a log line deleted (middle): verify exits 1 naming the entries around the gap', async (t) => {
  const { store } = await copyOfStore(t);
  const lines = await logLines(store);
  const deletedEntry = lines[1]!.split('\t')[0]!;
  await writeFile(logFile(store), `${[lines[0], lines[2]].join('\n')}\n`);
  const r = await verify(store);
  assertFails(r, 'seq 3', pristine.ids[2]!);
  assert.ok(
    r.stdout.includes(deletedEntry) || r.stdout.includes(pristine.ids[1]!),
    `names the deleted entry or its receipt:\n${r.stdout}`,
  );
});

test('the last log line deleted: verify exits 1, the signed head names the missing entry', async (t) => {
  const { store } = await copyOfStore(t);
  const lines = await logLines(store);
  const deletedEntry = lines[2]!.split('\t')[0]!;
  await writeFile(logFile(store), `${[lines[0], lines[1]].join('\n')}\n`);
  const r = await verify(store);
  assertFails(r, 'seq 3');
  assert.ok(
    r.stdout.includes(deletedEntry) || r.stdout.includes(pristine.ids[2]!),
    `names the deleted entry or its receipt:\n${r.stdout}`,
  );
});

test('two log lines swapped: verify exits 1 naming the entries', async (t) => {
  const { store } = await copyOfStore(t);
  const lines = await logLines(store);
  await writeFile(logFile(store), `${[lines[0], lines[2], lines[1]].join('\n')}\n`);
  assert.equal((await stat(logFile(store))).size, lines.join('\n').length + 1, 'same bytes, another order');
  assertFails(await verify(store), 'seq 3', 'seq 2', pristine.ids[2]!);
});

test('an artifact a receipt names deleted: verify exits 1 naming the receipt and the artifact', async (t) => {
  const { store } = await copyOfStore(t);
  await unlink(objectFile(store, pristine.stdoutOne));
  const r = await verify(store);
  assertFails(r, pristine.ids[0]!, pristine.stdoutOne);
  const line = r.stdout.split('\n').find((l) => l.includes(pristine.ids[0]!) && l.includes(pristine.stdoutOne));
  assert.ok(line, `one line names both the receipt and the artifact:\n${r.stdout}`);
  assert.match(line!, /stdout/);
});

test('a damaged log does not stop verify from checking the receipts it still lists: a deleted artifact is named too', async (t) => {
  const { store } = await copyOfStore(t);
  // Two independent problems: step three's log line edited, step one's stdout artifact deleted.
  const lines = await logLines(store);
  await writeFile(
    logFile(store),
    `${[lines[0], lines[1], lines[2]!.replace('"step":"three"', '"step":"thrEe"')].join('\n')}\n`,
  );
  await unlink(objectFile(store, pristine.stdoutOne));
  const r = await verify(store);
  assertFails(r, 'seq 3', pristine.ids[2]!);
  assert.ok(
    r.stdout.includes(pristine.stdoutOne),
    `the missing artifact of step one must still be reported:\n${r.stdout}`,
  );
  assert.doesNotMatch(r.stdout, / 0 receipts,/, 'the receipts the log still lists are checked');
});
