// Flip one byte in each kind of thing a store holds (a blob, a tree object, a receipt
// object, a receipt-log entry, the signed log head): `asl verify` must exit 1 and name
// what was damaged. The store is made once by real captures (asl-init-store, asl-capture
// --file of a directory, asl-capture --cmd); each test damages its own copy.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { runAsl, tempDir, type RunResult } from '../helpers.js';
import { flipStoredByte, objectBytesAt } from './object-bytes.js';

interface Pristine {
  work: string;
  /** Receipt ids in log order: overlay, build. */
  receipts: string[];
  /** The blob of overlay/sub/notes.txt and the tree of overlay/sub. */
  blob: string;
  subTree: string;
}

let pristine: Pristine;
let pristineDir: string;

const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const objectFile = (store: string, id: string) => join(store, 'objects-v1', 'sha256', id.slice(7, 9), id.slice(9));

function describe(r: RunResult): string {
  return `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

async function aslOk(args: string[], opts: Parameters<typeof runAsl>[1] = {}): Promise<RunResult> {
  const r = await runAsl(args, opts);
  assert.equal(r.code, 0, `${opts.program ?? 'asl'} ${args.join(' ')}: ${describe(r)}`);
  return r;
}

before(async () => {
  pristineDir = await mkdtemp(join(tmpdir(), 'asl-tamper-'));
  const work = join(pristineDir, 'work');
  const store = join(work, 'store');
  await mkdir(join(work, 'overlay', 'sub'), { recursive: true });
  const notes = 'notes kept in a sub-directory\n';
  await writeFile(join(work, 'overlay', 'sub', 'notes.txt'), notes);
  await writeFile(join(work, 'overlay', 'top.conf'), 'setting=1\n');
  await aslOk(['--store', store], { program: 'asl-init-store' });
  await aslOk(['--store', store, '--file', join(work, 'overlay'), '--outdir', join(store, 'per', 'overlay')], {
    program: 'asl-capture',
    cwd: work,
  });
  await aslOk(
    ['--store', store, '--cmd', 'mkdir -p out && echo built > out/result.txt', '--outdir', join(store, 'per', 'build')],
    { program: 'asl-capture', cwd: work },
  );
  const receipts = (await readFile(join(store, 'log', 'receipts.log'), 'utf8'))
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l.split('\t')[1]!) as { receipt: string }).receipt);
  assert.equal(receipts.length, 2);
  const shown = JSON.parse((await aslOk(['show', '--store', store, receipts[0]!, '--json'])).stdout) as {
    statement: { predicate: { core: { step: string; outputs: Array<{ kind: string; digest: string }> } } };
  };
  assert.equal(shown.statement.predicate.core.step, 'overlay');
  const overlayTree = shown.statement.predicate.core.outputs.find((o) => o.kind === 'tree')!.digest;
  const ls = JSON.parse((await aslOk(['ls', '--store', store, overlayTree, '--json'])).stdout) as Array<{
    name: string;
    digest: string;
  }>;
  pristine = { work, receipts, blob: sha256(notes), subTree: ls.find((e) => e.name === 'sub')!.digest };
  const clean = await runAsl(['verify', '--store', store]);
  assert.equal(clean.code, 0, describe(clean));
});

after(() => (pristineDir ? rm(pristineDir, { recursive: true, force: true }) : undefined));

async function copyOfStore(t: TestContext): Promise<string> {
  const dir = await tempDir(t, 'asl-tamper-copy-');
  execFileSync('cp', ['-a', pristine.work, join(dir, 'work')]);
  return join(dir, 'work', 'store');
}

/** Changes the byte at `offset` (negative: from the end) with `change`; the file must differ after. */
async function flipOneByte(
  path: string,
  offset: number,
  change: (byte: number) => number = (b) => b ^ 0x01,
): Promise<void> {
  const bytes = await readFile(path);
  const at = offset < 0 ? bytes.length + offset : offset;
  const was = bytes[at]!;
  bytes[at] = change(was);
  assert.notEqual(bytes[at], was);
  await chmod(path, 0o644); // objects are read-only
  await writeFile(path, bytes);
}

/** A different character of the same class, so JSON and base64 stay well-formed. */
const sameClass = (b: number): number =>
  b >= 0x30 && b <= 0x38 ? b + 1 : b === 0x39 ? 0x30 : b === 0x41 ? 0x42 : 0x41;

async function assertDetected(store: string, ...names: string[]): Promise<string> {
  const r = await runAsl(['verify', '--store', store]);
  assert.equal(r.code, 1, describe(r));
  assert.match(r.stdout, /^CORRUPT: /m);
  const fails = r.stdout.split('\n').filter((l) => l.startsWith('FAIL '));
  for (const name of names)
    assert.ok(
      fails.some((l) => l.includes(name)),
      `a FAIL line names ${name}:\n${r.stdout}`,
    );
  const json = await runAsl(['verify', '--store', store, '--json']);
  assert.equal(json.code, 1);
  const report = JSON.parse(json.stdout) as { ok: boolean; problems: Array<{ subject: string; message: string }> };
  assert.equal(report.ok, false);
  for (const name of names)
    assert.ok(
      report.problems.some((p) => p.subject.includes(name) || p.message.includes(name)),
      `--json names ${name}`,
    );
  return r.stdout;
}

test('one byte of a blob', async (t) => {
  const store = await copyOfStore(t);
  // Wherever the blob's bytes live: a tree's small files are packed.
  await flipStoredByte(store, pristine.blob, 0);
  const out = await assertDetected(store, pristine.blob);
  assert.ok(out.includes(`expected ${pristine.blob}, actual sha256:`), out);
});

test('one byte of a tree object', async (t) => {
  const store = await copyOfStore(t);
  // A tree put packs its trees: the byte is flipped where the tree's bytes are.
  const at = objectBytesAt(store, pristine.subTree);
  await flipOneByte(at.file, at.offset + 40, sameClass);
  await assertDetected(store, pristine.subTree);
});

test('one byte of a receipt object', async (t) => {
  const store = await copyOfStore(t);
  const id = pristine.receipts[1]!;
  const path = objectFile(store, id);
  const text = await readFile(path, 'utf8');
  await flipOneByte(path, text.indexOf('"payload":"') + 200, sameClass);
  await assertDetected(store, id);
});

test('one byte of a receipt-log entry', async (t) => {
  const store = await copyOfStore(t);
  const path = join(store, 'log', 'receipts.log');
  const text = await readFile(path, 'utf8');
  const second = text.indexOf('\n') + 1;
  // A digit of the second entry's time: the line stays well-formed JSON, its hash changes.
  await flipOneByte(path, text.indexOf('"time":"', second) + '"time":"'.length + 3, sameClass);
  await assertDetected(store, 'log entry seq 2');
});

test('one byte of the signed log head', async (t) => {
  const store = await copyOfStore(t);
  const path = join(store, 'log', 'head.json');
  const text = await readFile(path, 'utf8');
  await flipOneByte(path, text.indexOf('"sig":"') + '"sig":"'.length + 10, sameClass);
  const out = await assertDetected(store, 'head');
  assert.match(out, /signature/, out);
});
