// `asl rebuild-check` and `asl verify --require-rebuild` on real histories: the same
// deterministic three-step build captured by the real CLI in two work directories at
// different absolute paths (each with its own store), which reproduce; a third build whose
// second step writes other bytes, which diverges there and names the file; a verdict
// carried to the first builder by bundle import under a trusted key; a tampered verdict.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RebuildCore, Statement } from '../../src/receipt/types.js';
import { buildStatement } from '../../src/receipt/statement.js';
import { mapText, inferPathMap } from '../../src/graph/rebuild-check.js';
import { describeRun, runAsl, type RunResult } from '../helpers.js';
import { objectBytesAt } from '../store/object-bytes.js';

function findDiffoscopeSync(): string | null {
  for (const dir of (process.env.PATH ?? '').split(':'))
    if (dir && existsSync(join(dir, 'diffoscope'))) return join(dir, 'diffoscope');
  return null;
}

const digestOf = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const FIXED = '@1700000000';
const settle = `find root -exec touch -h -d ${FIXED} {} +`;

/** The build: real commands writing real files with fixed times into root/. `conf` is what step 2 writes. */
function steps(conf: string): Array<[string, string]> {
  return [
    [
      'fetch',
      `mkdir -p root/etc && printf 'hello\\n' > root/etc/greeting && chmod 0644 root/etc/greeting && ${settle}`,
    ],
    ['configure', `printf '${conf}' > root/etc/app.conf && chmod 0644 root/etc/app.conf && ${settle}`],
    [
      'image_root',
      `mkdir -p root/usr/bin && printf '#!/bin/sh\\necho hi\\n' > root/usr/bin/hi && chmod 0755 root/usr/bin/hi && ${settle}`,
    ],
  ];
}

interface Build {
  dir: string;
  work: string;
  store: string;
}

async function build(base: string, name: string, conf = 'name=asl\\n'): Promise<Build> {
  const dir = join(base, name);
  const work = join(dir, 'work');
  const store = join(dir, 'store');
  await mkdir(work, { recursive: true });
  await ok(runAsl(['--store', store], { program: 'asl-init-store' }));
  for (const [step, cmd] of steps(conf)) {
    await ok(
      runAsl(
        ['--store', store, '--cmd', cmd, '--watch', 'root', '--no-auto-watch', '--outdir', join(store, 'per', step)],
        { program: 'asl-capture', cwd: work },
      ),
    );
  }
  return { dir, work, store };
}

async function ok(p: Promise<RunResult>): Promise<RunResult> {
  const r = await p;
  assert.equal(r.code, 0, describeRun(r));
  return r;
}

interface CheckJson {
  verdict: string;
  receipt: string | null;
  keyId: string | null;
  core: RebuildCore;
  report: { files: Array<Record<string, unknown>>; shared: number; pathMapSource: string; diffoscope: unknown };
}

async function rebuildCheck(args: string[]): Promise<{ r: RunResult; json: CheckJson }> {
  const r = await runAsl(['rebuild-check', ...args, '--json']);
  assert.ok(r.code === 0 || r.code === 1, describeRun(r));
  return { r, json: JSON.parse(r.stdout) as CheckJson };
}

interface LogItem {
  seq: number;
  receipt: string;
  step: string;
  kind: string;
  status: string;
  what: string;
}
async function log(store: string): Promise<LogItem[]> {
  return JSON.parse((await ok(runAsl(['log', '--store', store, '--json']))).stdout) as LogItem[];
}

async function statementOf(store: string, receipt: string): Promise<Statement> {
  return (
    JSON.parse((await ok(runAsl(['show', '--store', store, receipt, '--json']))).stdout) as { statement: Statement }
  ).statement;
}

/** The bytes of a store's log and head: a store only read must keep them. */
async function logBytes(store: string): Promise<string> {
  const names = (await readdir(join(store, 'log'))).sort();
  const parts = await Promise.all(names.map(async (n) => `${n}:${digestOf(await readFile(join(store, 'log', n)))}`));
  return parts.join(',');
}

let shared: { base: string; a: Build; b: Build; c: Build } | undefined;
after(async () => {
  if (shared) await rm(shared.base, { recursive: true, force: true });
});
/** The three builds, made once for the file (each test uses its own copies where it writes). */
async function builds() {
  if (shared) return shared;
  const base = await mkdtemp(join(tmpdir(), 'asl-rebuild-'));
  // Different absolute work directories (and stores) for each builder.
  shared = {
    base,
    a: await build(base, 'builder-one'),
    b: await build(base, 'second-builder'),
    c: await build(base, 'builder-three', 'name=other\\n'),
  };
  return shared;
}

test('two builds in different directories reproduce: every pair names both receipts, the path map is inferred, the verdict is a signed receipt', async () => {
  const { a, b } = await builds();
  const before = await logBytes(a.store);
  const { r, json } = await rebuildCheck(['--store', b.store, '--against', a.store]);
  assert.equal(r.code, 0, describeRun(r));
  assert.equal(json.verdict, 'reproduced');
  assert.deepEqual(json.core.pathMap, [{ from: a.dir, to: b.dir }]);
  assert.equal(json.report.pathMapSource, 'inferred');
  assert.equal(await logBytes(a.store), before, 'the other history is only read');

  const la = await log(a.store);
  const lb = await log(b.store);
  assert.deepEqual(
    json.core.pairs.map((p) => p.step),
    ['fetch', 'configure', 'image_root'],
  );
  for (const [i, p] of json.core.pairs.entries()) {
    assert.equal(p.here.receipt, lb[i]!.receipt);
    assert.equal(p.other.receipt, la[i]!.receipt);
    assert.equal(p.occurrence, 1);
    assert.equal(p.reproduced, true);
    const sa = await statementOf(a.store, p.other.receipt);
    const sb = await statementOf(b.store, p.here.receipt);
    assert.equal(p.other.coreDigest, sa.predicate.coreDigest);
    assert.equal(p.here.coreDigest, sb.predicate.coreDigest);
    assert.notEqual(p.here.coreDigest, p.other.coreDigest, 'the cores name different directories');
    // The watched root's after-tree is the same id in both stores, and the pair lists it under this history's path.
    const ca = sa.predicate.core;
    const cb = sb.predicate.core;
    assert.ok(ca.kind === 'command' && cb.kind === 'command');
    const tree = p.artifacts.find((x) => x.name === `watched ${b.work}/root`)!;
    assert.equal(tree.kind, 'tree');
    assert.equal(tree.here, cb.watched[0]!.after);
    assert.equal(tree.other, ca.watched[0]!.after);
    assert.equal(tree.here, tree.other);
    // Outside the directories, the cores agree: what differs after the map is only the store-keyed environment HMACs, if any.
    if (p.core === 'differs') assert.deepEqual(p.coreFields, ['environment'], JSON.stringify(p));
    else assert.equal(p.core, 'mapped');
  }
  const hiTree = json.core.pairs[2]!.artifacts.find((x) => x.name === `output ${b.work}/root/usr/bin/hi`)!;
  assert.equal(hiTree.kind, 'blob');
  assert.equal(hiTree.here, digestOf('#!/bin/sh\necho hi\n'));
  assert.deepEqual(json.core.counts, { pairs: 3, reproduced: 3, diverged: 0, unpairedHere: 0, unpairedOther: 0 });
  assert.equal(json.core.firstDiverged, null);
  assert.deepEqual(json.core.against, { receipts: 3, last: la[2]!.receipt });

  // The verdict is history: the last log entry, kind rebuild, signed by this store's key.
  const after = await log(b.store);
  assert.equal(after.length, 4);
  assert.equal(after[3]!.receipt, json.receipt);
  assert.equal(after[3]!.kind, 'rebuild');
  assert.equal(after[3]!.status, 'reproduced');
  const text = (await ok(runAsl(['log', '--store', b.store]))).stdout
    .split('\n')
    .filter((l) => l.includes('rebuild-check'));
  assert.equal(text.length, 1);
  assert.match(text[0]!, /reproduced .* 3\/3 steps reproduced against 3 receipts/);
  const st = await statementOf(b.store, json.receipt!);
  assert.deepEqual(st.predicate.core, json.core);
  const report = st.predicate.core.outputs[0]!;
  assert.equal(report.name, 'rebuild-report.json');
  const reportBytes = (await ok(runAsl(['cat', '--store', b.store, report.digest]))).stdoutBytes;
  assert.equal(digestOf(reportBytes), report.digest);
  assert.equal((JSON.parse(reportBytes.toString()) as { format: string }).format, 'asl-rebuild-report/v1');

  const verify = await ok(runAsl(['verify', '--store', b.store]));
  assert.match(verify.stdout, /^OK: .* 4 receipts, 4 log entries/m);
  // The consumers that switch on a receipt's kind take it.
  await ok(runAsl(['dag', '--store', b.store, '--format', 'json', '--out', join(b.dir, 'dag.json')]));
  const dag = await readFile(join(b.dir, 'dag.json'), 'utf8');
  assert.ok(dag.includes(json.receipt!), 'the verdict is a node of the graph');
  const why = await ok(runAsl(['why', '--store', b.store, 'etc/app.conf', '--json']));
  assert.ok(why.stdout.includes(lb[1]!.receipt), 'why still names the step that wrote the file');
  await ok(runAsl(['audit', '--store', b.store, 'image_root']));
  await ok(
    runAsl(['sbom', '--store', b.store, 'image_root', '--format', 'spdx', '-o', join(b.dir, 'image.spdx.json')]),
  );
  // A seeded copy carries the verdict and still verifies, verdict included.
  const seeded = join(b.dir, 'seeded');
  await ok(runAsl(['seed', '--store', b.store, '--into', seeded]));
  assert.equal((await log(seeded)).at(-1)!.receipt, json.receipt);
  await ok(runAsl(['verify', '--store', seeded]));
  await ok(runAsl(['show', '--store', b.store, json.receipt!]));
  const exp = await runAsl([
    'export',
    '--store',
    b.store,
    '--format',
    'slsa',
    '-o',
    join(b.dir, 'slsa'),
    json.receipt!,
  ]);
  assert.equal(exp.code, 2, describeRun(exp));
  assert.match(exp.stderr, /is a rebuild verdict, not a build step/);

  // A required rebuild: this store's key covers the image root; the other builder's key has signed nothing here.
  const req = await ok(runAsl(['verify', '--store', b.store, '--quick', '--require-rebuild', json.keyId!]));
  assert.match(
    req.stdout,
    new RegExp(
      `^OK require-rebuild ${json.keyId}: verdict ${json.receipt} \\(reproduced, 3/3 steps\\) covers the image root \\(step image_root, receipt ${lb[2]!.receipt}\\)$`,
      'm',
    ),
  );
  const keyA = (await rebuildCheck(['--store', a.store, '--against', b.store, '--no-record'])).json;
  assert.equal(keyA.verdict, 'reproduced');
  assert.equal(keyA.receipt, null);
  assert.equal(await logBytes(a.store), before, '--no-record writes nothing');
  const aKey = keyA.core.pairs[0]!.here.keyId;
  const wrong = await runAsl(['verify', '--store', b.store, '--quick', '--require-rebuild', aKey]);
  assert.equal(wrong.code, 1, describeRun(wrong));
  assert.match(
    wrong.stdout,
    new RegExp(`^FAIL require-rebuild ${aKey}: no rebuild verdict in this store is signed by that key`, 'm'),
  );
});

test('a build whose step writes other bytes diverges there: the verdict names the step and the file, and --require-rebuild fails', async () => {
  const { a, c } = await builds();
  const { r, json } = await rebuildCheck(['--store', c.store, '--against', a.store]);
  assert.equal(r.code, 1, describeRun(r));
  assert.equal(json.verdict, 'diverged');
  assert.deepEqual(
    json.core.pairs.map((p) => [p.step, p.reproduced]),
    [
      ['fetch', true],
      ['configure', false],
      ['image_root', false],
    ],
  );
  assert.deepEqual(json.core.counts, { pairs: 3, reproduced: 1, diverged: 2, unpairedHere: 0, unpairedOther: 0 });
  const first = json.core.firstDiverged!;
  assert.equal(first.step, 'configure');
  const inTree = first.files.find((f) => f.artifact === `watched ${c.work}/root`)!;
  assert.deepEqual(inTree, {
    artifact: `watched ${c.work}/root`,
    path: 'etc/app.conf',
    change: 'modified',
    fields: ['content'],
    here: digestOf('name=other\n'),
    other: digestOf('name=asl\n'),
  });
  const product = first.files.find((f) => f.artifact === `output ${c.work}/root/etc/app.conf`)!;
  assert.equal(product.here, digestOf('name=other\n'));
  assert.equal(product.other, digestOf('name=asl\n'));
  // The capture also records the watched root as a tree output with the same ids: its paths are listed once.
  assert.equal(first.files.length, 2, JSON.stringify(first.files));
  assert.ok(json.core.pairs[1]!.artifacts.some((x) => x.name === `output ${c.work}/root` && x.here !== x.other));
  assert.equal(first.moreFiles, 0);

  const text = await runAsl(['rebuild-check', '--store', c.store, '--against', a.store, '--no-record']);
  assert.equal(text.code, 1);
  assert.match(text.stdout, /^first diverged step: configure$/m);
  assert.match(text.stdout, /^ {2}modified {2}watched .*\/root: etc\/app\.conf {2}content/m);
  assert.match(text.stdout, /^DIVERGED: 1\/3 paired steps reproduced/m);

  await ok(runAsl(['verify', '--store', c.store]));
  const req = await runAsl(['verify', '--store', c.store, '--quick', '--require-rebuild', json.keyId!]);
  assert.equal(req.code, 1, describeRun(req));
  assert.match(
    req.stdout,
    new RegExp(
      `^FAIL require-rebuild ${json.keyId}: the verdict signed by that key \\(${json.receipt}\\) is "diverged": step configure differs first$`,
      'm',
    ),
  );

  // --until judges only the steps up to one: here the first step, which did reproduce.
  const until = await rebuildCheck(['--store', c.store, '--against', a.store, '--until', 'fetch']);
  assert.equal(until.r.code, 0, describeRun(until.r));
  assert.equal(until.json.core.until, 'fetch');
  assert.deepEqual(
    until.json.core.pairs.map((p) => p.step),
    ['fetch'],
  );
  assert.deepEqual((until.json.report as unknown as { beyond: unknown }).beyond, { here: 2, other: 2 });
  // It does not cover the image root (the last tree, step image_root), only the root of the step it judged.
  const still = await runAsl(['verify', '--store', c.store, '--quick', '--require-rebuild', json.keyId!]);
  assert.equal(still.code, 1, describeRun(still));
  assert.match(
    still.stdout,
    /FAIL require-rebuild .*: no "reproduced" verdict signed by that key names the image root \(step image_root, receipt sha256:[0-9a-f]{64}\) with its trees/,
  );
  const fetchRoot = await ok(
    runAsl(['verify', '--store', c.store, '--quick', '--require-rebuild', json.keyId!, '--image-step', 'fetch']),
  );
  assert.match(
    fetchRoot.stdout,
    new RegExp(
      `^OK require-rebuild ${json.keyId}: verdict ${until.json.receipt} \\(reproduced, 1/1 steps\\) covers the image root \\(step fetch, `,
      'm',
    ),
  );
  const noStep = await runAsl([
    'verify',
    '--store',
    c.store,
    '--quick',
    '--require-rebuild',
    json.keyId!,
    '--image-step',
    'nosuch',
  ]);
  assert.equal(noStep.code, 1);
  assert.match(noStep.stdout, /has no receipt of step nosuch \(--image-step\)/);
});

test('diffoscope, when installed, explains the differing file of the first diverged step', {
  skip: findDiffoscopeSync() === null ? 'diffoscope is not on PATH' : false,
}, async () => {
  const { a, c } = await builds();
  const { r, json } = await rebuildCheck([
    '--store',
    c.store,
    '--against',
    a.store,
    '--no-record',
    '--diffoscope',
    '1',
  ]);
  assert.equal(r.code, 1);
  const d = json.report.diffoscope as Array<{ artifact: string; path: string; exitCode: number; summary: string }>;
  assert.equal(d.length, 1);
  assert.deepEqual([d[0]!.artifact, d[0]!.path], [`output ${c.work}/root/etc/app.conf`, '']);
  const two = await rebuildCheck(['--store', c.store, '--against', a.store, '--no-record', '--diffoscope', '5']);
  assert.equal((two.json.report.diffoscope as unknown[]).length, 1, 'the same bytes listed twice are explained once');
  assert.equal(d[0]!.exitCode, 1);
  assert.match(d[0]!.summary, /^-name=asl$/m);
  assert.match(d[0]!.summary, /^\+name=other$/m);
  const none = await rebuildCheck(['--store', c.store, '--against', a.store, '--no-record', '--diffoscope', '0']);
  assert.equal(none.json.report.diffoscope, null);
});

test("a second builder's verdict, imported under a trusted key, covers the first builder's image root", async () => {
  const { base, a, b } = await builds();
  const verdict = (await rebuildCheck(['--store', b.store, '--against', a.store])).json;
  const keyB = verdict.keyId!;
  const before = await runAsl(['verify', '--store', a.store, '--quick', '--require-rebuild', keyB]);
  assert.equal(before.code, 1, describeRun(before));

  const bundle = join(base, 'verdict.asl.tar');
  await ok(runAsl(['bundle', 'export', '--store', b.store, '-o', bundle, '--receipts', verdict.receipt!]));
  const pub = join(base, 'second.pub');
  await ok(runAsl(['key', 'export', '--store', b.store, '-o', pub]));
  // Without trusting the key, the import is refused and nothing changes.
  const refused = await runAsl(['bundle', 'import', '--store', a.store, bundle]);
  assert.notEqual(refused.code, 0, describeRun(refused));
  await ok(runAsl(['key', 'trust', '--store', a.store, pub]));
  await ok(runAsl(['bundle', 'import', '--store', a.store, bundle]));
  const la = await log(a.store);
  assert.equal(la.at(-1)!.receipt, verdict.receipt);
  assert.equal(la.at(-1)!.kind, 'rebuild');
  const req = await ok(runAsl(['verify', '--store', a.store, '--require-rebuild', keyB.slice(0, 16)]));
  assert.match(
    req.stdout,
    new RegExp(
      `^OK require-rebuild ${keyB.slice(0, 16)}: verdict ${verdict.receipt} .* covers the image root \\(step image_root, receipt ${la[2]!.receipt}\\)$`,
      'm',
    ),
  );
});

test('a verdict edited in the store is caught by verify; one re-signed with counts that disagree with its pairs is refused', async () => {
  const { base, a, b } = await builds();
  const store = join(base, 'tampered-store');
  execFileSync('cp', ['-a', b.store, store]);
  const { json } = await rebuildCheck(['--store', store, '--against', a.store]);
  assert.equal(json.verdict, 'reproduced');
  const at = objectBytesAt(store, json.receipt!);
  assert.equal(at.packed, false);
  const env = JSON.parse(await readFile(at.file, 'utf8')) as { payload: string };
  const statement = JSON.parse(Buffer.from(env.payload, 'base64').toString()) as Statement;
  const core = statement.predicate.core as RebuildCore;
  core.pairs[2]!.other.receipt = core.pairs[1]!.other.receipt;
  env.payload = Buffer.from(JSON.stringify(statement)).toString('base64');
  await rm(at.file, { force: true });
  await writeFile(at.file, JSON.stringify(env));
  const v = await runAsl(['verify', '--store', store]);
  assert.equal(v.code, 1, describeRun(v));
  assert.match(v.stdout, /^CORRUPT: /m);
  assert.ok(v.stdout.includes(json.receipt!), v.stdout);
  const req = await runAsl(['verify', '--store', store, '--require-rebuild', json.keyId!]);
  assert.equal(req.code, 1);
  assert.match(req.stdout, /^FAIL require-rebuild: the store does not verify/m);
  // A history that does not verify is bad input for a comparison, not a divergence.
  const against = await runAsl(['rebuild-check', '--store', a.store, '--against', store, '--no-record']);
  assert.equal(against.code, 2, describeRun(against));
  assert.match(
    against.stderr,
    new RegExp(
      `^asl: rebuild-check: ${store} does not verify \\(run \`asl verify --store ${store}\`\\): .*${json.receipt}`,
    ),
  );
  assert.equal(against.stderr.trim().split('\n').length, 1);

  // A signer cannot state a verdict its own pairs contradict: the validator derives counts, verdict and first diverged step.
  const honest = json.core;
  const run = statement.predicate.run;
  assert.doesNotThrow(() => buildStatement(honest, run));
  const liar = structuredClone(honest);
  liar.pairs[1]!.reproduced = false;
  assert.throws(
    () => buildStatement(liar, run),
    /counts\.reproduced: expected 2 \(derived from the pairs\).*verdict: expected "diverged"/s,
  );
  const forged = structuredClone(honest);
  forged.pairs[0]!.artifacts[0]!.here = digestOf('x') as `sha256:${string}`;
  assert.throws(() => buildStatement(forged, run), /pairs\[0\]\.reproduced: expected false when an artifact differs/);
});

test('a rebuild that first imported the earlier history pairs its own steps with it, not the imported receipts', async () => {
  const { base, a } = await builds();
  const dir = join(base, 'importer');
  const work = join(dir, 'work');
  const store = join(dir, 'store');
  await mkdir(work, { recursive: true });
  await ok(runAsl(['init', '--store', store]));
  const bundle = join(base, 'first.asl.tar');
  const pub = join(base, 'first.pub');
  await ok(
    runAsl(['bundle', 'export', '--store', a.store, '-o', bundle, '--receipts', 'fetch', 'configure', 'image_root']),
  );
  await ok(runAsl(['key', 'export', '--store', a.store, '-o', pub]));
  await ok(runAsl(['bundle', 'import', '--store', store, bundle, '--trust', pub]));
  const imported = await log(store);
  assert.equal(imported.length, 3);
  for (const [step, cmd] of steps('name=asl\\n')) {
    await ok(
      runAsl(
        ['--store', store, '--cmd', cmd, '--watch', 'root', '--no-auto-watch', '--outdir', join(store, 'per', step)],
        { program: 'asl-capture', cwd: work },
      ),
    );
  }
  const own = (await log(store)).slice(3);
  const { r, json } = await rebuildCheck(['--store', store, '--against', a.store, '--no-record']);
  assert.equal(r.code, 0, describeRun(r));
  assert.equal(json.report.shared, 3);
  assert.deepEqual(
    json.core.pairs.map((p) => p.here.receipt),
    own.map((i) => i.receipt),
  );
  assert.deepEqual(
    json.core.pairs.map((p) => p.other.receipt),
    imported.map((i) => i.receipt),
  );
  assert.deepEqual(json.core.counts, { pairs: 3, reproduced: 3, diverged: 0, unpairedHere: 0, unpairedOther: 0 });
});

test('rebuild-check refuses bad input with one line and exit 2', async () => {
  const { base, a, b } = await builds();
  const empty = join(base, 'empty-store');
  await ok(runAsl(['init', '--store', empty]));
  const cases: Array<[string[], RegExp]> = [
    [['--store', b.store], /--against OTHER is required/],
    [['--store', b.store, '--against', join(base, 'nowhere')], /nowhere: no such store/],
    [['--store', b.store, '--against', b.store], /are the same store/],
    [['--store', b.store, '--against', a.store, '--map', 'relative=/x'], /--map relative=\/x: expected OLD=NEW/],
    [['--store', b.store, '--against', a.store, '--diffoscope', 'lots'], /--diffoscope lots: expected a number/],
    [['--store', b.store, '--against', empty], /no step of .* has a partner in .*empty-store/],
    [
      ['--store', b.store, '--against', a.store, '--until', 'nosuch'],
      /--until nosuch: no receipt of that step in .*second-builder\/store \(steps: fetch, configure, image_root\)/,
    ],
  ];
  for (const [args, message] of cases) {
    const r = await runAsl(['rebuild-check', ...args]);
    assert.equal(r.code, 2, describeRun(r));
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, message);
  }
  const badKey = await runAsl(['verify', '--store', b.store, '--require-rebuild', 'not-a-key']);
  assert.equal(badKey.code, 2);
  assert.match(badKey.stderr, /--require-rebuild not-a-key: expected a key id/);
});

test('a given --map replaces the inferred one; the map rewrites whole path prefixes only', async () => {
  const { a, b } = await builds();
  const { json } = await rebuildCheck([
    '--store',
    b.store,
    '--against',
    a.store,
    '--map',
    `${a.work}=${b.work}`,
    '--no-record',
  ]);
  assert.equal(json.verdict, 'reproduced');
  assert.deepEqual(json.core.pathMap, [{ from: a.work, to: b.work }]);
  assert.equal(json.report.pathMapSource, 'given');
  // A map that misses the work directory leaves the other side's names apart: nothing pairs up by name, so every pair diverges.
  const miss = await rebuildCheck([
    '--store',
    b.store,
    '--against',
    a.store,
    '--map',
    '/nonexistent=/elsewhere',
    '--no-record',
  ]);
  assert.equal(miss.json.verdict, 'diverged');
  assert.ok(miss.json.core.pairs[0]!.artifacts.some((x) => x.here === null && x.name === `watched ${a.work}/root`));

  const map = [{ from: '/srv/a', to: '/srv/b' }];
  assert.equal(
    mapText('cd /srv/a && cp /srv/a/x /srv/ab/y /x/srv/a', map),
    'cd /srv/b && cp /srv/b/x /srv/ab/y /x/srv/a',
  );
  assert.deepEqual(inferPathMap([]), []);
});
