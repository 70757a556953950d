// Rollback is seen: an older log/ put back (with its old, validly signed head), or log/
// deleted, used to verify. Now every stored receipt the log does not list is named, a
// crash (a line past the head) is told apart from a rollback and completed by the next
// append, and `asl verify --anchor SEQ:RECEIPT_ID` checks an anchor written down earlier,
// which also catches a rollback that removed the receipts it hid.
import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { aslOk, runAsl, tempDir, type RunResult } from '../helpers.js';
import { sha256, treeDigest } from '../transfer/fixture.js';
import { objectFile } from '../capture/e2e-helpers.js';

interface Fixture {
  /** A store with three captures (outdirs outside the store), and copies of log/ after the second one. */
  store: string;
  ids: string[];
  logAfterTwo: string;
  work: string;
}
let fx: Fixture;
let fixtureDir: string;

before(async () => {
  fixtureDir = await mkdtemp(join(tmpdir(), 'asl-rollback-'));
  const work = join(fixtureDir, 'work');
  const store = join(work, 'S');
  await aslOk(['init', '--store', store]);
  const ids: string[] = [];
  for (const step of ['one', 'two', 'three']) {
    await aslOk(
      [
        'capture',
        '--store',
        store,
        '--cmd',
        `echo ${step} > ${join(work, `${step}.txt`)}`,
        '--outdir',
        join(work, 'out', step),
      ],
      { cwd: work },
    );
    ids.push(sha256(await readFile(join(work, 'out', step, 'per.dsse.json'))));
    if (step === 'two')
      await cp(join(store, 'log'), join(fixtureDir, 'log-after-two'), { recursive: true, preserveTimestamps: true });
  }
  fx = { store, ids, logAfterTwo: join(fixtureDir, 'log-after-two'), work };
});
after(() => rm(fixtureDir, { recursive: true, force: true }));

async function copy(t: TestContext): Promise<string> {
  const d = await tempDir(t);
  execFileSync('cp', ['-a', fx.store, join(d, 'S')]);
  return join(d, 'S');
}

function fails(r: RunResult): string[] {
  return r.stdout.split('\n').filter((l) => l.startsWith('FAIL '));
}

/** The older log put back, as one would with the copy kept from before step three. */
async function rollBack(store: string): Promise<void> {
  await rm(join(store, 'log'), { recursive: true });
  execFileSync('cp', ['-a', fx.logAfterTwo, join(store, 'log')]);
}

test('verify prints the anchor (text and --json), and --anchor confirms it', async () => {
  const anchor = `3:${fx.ids[2]}`;
  const r = await aslOk(['verify', '--store', fx.store]);
  assert.match(
    r.stdout,
    new RegExp(
      `^anchor: ${anchor} \\(write it down; \`asl verify --anchor ${anchor}\` later shows the log was not rolled back past it\\)$`,
      'm',
    ),
  );
  const json = JSON.parse((await aslOk(['verify', '--store', fx.store, '--json'])).stdout) as { anchor: string };
  assert.equal(json.anchor, anchor);
  const confirmed = await aslOk(['verify', '--store', fx.store, '--anchor', `2:${fx.ids[1]}`]);
  assert.match(
    confirmed.stdout,
    new RegExp(
      `^anchor 2:${fx.ids[1]} confirmed: the log's entry is that receipt and its chain to the signed head is whole$`,
      'm',
    ),
  );
  const checked = JSON.parse((await aslOk(['verify', '--store', fx.store, '--anchor', anchor, '--json'])).stdout) as {
    anchorCheck: unknown;
  };
  assert.deepEqual(checked.anchorCheck, { anchor, ok: true });
});

test('an older log put back: the receipt it hides is named, and the anchor written down before fails', async (t) => {
  const store = await copy(t);
  await rollBack(store);
  const before = treeDigest(store);
  const r = await runAsl(['verify', '--store', store]);
  assert.equal(r.code, 1, r.stdout);
  assert.deepEqual(fails(r), [
    `FAIL receipt ${fx.ids[2]} (step three, finished ${(JSON.parse(await readFile(join(fx.work, 'out', 'three', 'per.json'), 'utf8')) as { predicate: { run: { finishedOn: string } } }).predicate.run.finishedOn}), signed by trusted key ${(await storeKeyId(store)).slice(0, 16)}, is stored but the log does not list it: the log was rolled back, cut or replaced (a crash cannot leave this: an interrupted append leaves its line past the head, and the next append completes it) (expected an entry of the log, actual not listed)`,
  ]);
  assert.doesNotMatch(r.stdout, /^anchor: /m, 'a store that fails has no anchor to write down');
  const json = JSON.parse((await runAsl(['verify', '--store', store, '--json'])).stdout) as { anchor: string };
  assert.equal(json.anchor, `2:${fx.ids[1]}`, "the old log's anchor: it differs from the one written down");
  const anchored = await runAsl(['verify', '--store', store, '--anchor', `3:${fx.ids[2]}`]);
  assert.equal(anchored.code, 1);
  assert.ok(
    fails(anchored).includes(
      `FAIL anchor 3:${fx.ids[2]}: the log ends at entry 2, before entry 3: it was rolled back or cut since the anchor was written down (expected 3:${fx.ids[2]}, actual 2:${fx.ids[1]})`,
    ),
    anchored.stdout,
  );
  assert.equal(treeDigest(store), before, 'verify changed nothing');
});

test('a rollback that also removes the receipts it hid passes the store check, but not the anchor', async (t) => {
  const store = await copy(t);
  await rollBack(store);
  await unlink(objectFile(store, fx.ids[2]!));
  await aslOk(['verify', '--store', store]);
  const r = await runAsl(['verify', '--store', store, '--anchor', `3:${fx.ids[2]}`, '--json']);
  assert.equal(r.code, 1);
  const report = JSON.parse(r.stdout) as {
    ok: boolean;
    anchorCheck: { ok: boolean };
    problems: Array<{ step: string }>;
  };
  assert.deepEqual([report.ok, report.anchorCheck.ok, report.problems.map((p) => p.step)], [false, false, ['anchor']]);
});

test('log/ deleted: every receipt is named, and the empty log is', async (t) => {
  const store = await copy(t);
  for (const f of ['receipts.log', 'head.json']) await unlink(join(store, 'log', f));
  const r = await runAsl(['verify', '--store', store]);
  assert.equal(r.code, 1, r.stdout);
  const lines = fails(r);
  for (const id of fx.ids)
    assert.ok(
      lines.some(
        (l) => l.startsWith(`FAIL receipt ${id} (step `) && l.includes('is stored but the log does not list it'),
      ),
      `${id} named:\n${r.stdout}`,
    );
  assert.ok(
    lines.includes(
      'FAIL the store holds 3 receipt(s) signed by its trusted keys but its receipt log is empty or missing: log/ was deleted or replaced',
    ),
    r.stdout,
  );
  const anchored = await runAsl(['verify', '--store', store, '--anchor', `1:${fx.ids[0]}`]);
  assert.ok(
    fails(anchored).includes(
      `FAIL anchor 1:${fx.ids[0]}: the log has no entries: it was deleted or replaced since the anchor was written down`,
    ),
    anchored.stdout,
  );
});

test('a rolled-back capture whose per/ files are in the store is named once, with the files that prove the log had it', async (t) => {
  const dir = await tempDir(t);
  const store = join(dir, 'S');
  await aslOk(['init', '--store', store]);
  await aslOk(['capture', '--store', store, '--cmd', 'echo a', '--outdir', join(store, 'per', 'a')]);
  await cp(join(store, 'log'), join(dir, 'log-old'), { recursive: true });
  await aslOk(['capture', '--store', store, '--cmd', 'echo b', '--outdir', join(store, 'per', 'b')]);
  const hidden = sha256(await readFile(join(store, 'per', 'b', 'per.dsse.json')));
  await rm(join(store, 'log'), { recursive: true });
  await cp(join(dir, 'log-old'), join(store, 'log'), { recursive: true });
  const r = await runAsl(['verify', '--store', store]);
  assert.equal(r.code, 1);
  const lines = fails(r);
  assert.equal(lines.length, 1, r.stdout);
  assert.ok(lines[0]!.startsWith(`FAIL receipt ${hidden} (step b, finished `), lines[0]);
  assert.ok(
    lines[0]!.includes(
      `is stored but the log does not list it: the log was rolled back, cut or replaced (a crash cannot leave this: an interrupted append leaves its line past the head, and the next append completes it); ${join(store, 'per', 'b', 'per.dsse.json')} holds it, and a capture writes per/ only after the log has committed its receipt`,
    ),
    lines[0],
  );
});

test('a crash after the line and the receipt were durable, before the head: a note, and the next append completes it', async (t) => {
  const store = await copy(t);
  // What a writer killed between its receipt object and its new head leaves: the old head, the line past it.
  await writeFile(join(store, 'log', 'head.json'), await readFile(join(fx.logAfterTwo, 'head.json')));
  const r = await aslOk(['verify', '--store', store]);
  assert.match(
    r.stdout,
    new RegExp(
      `^note: receipt log: entry seq 3 \\(receipt ${fx.ids[2]}, step "three"\\) is past the signed head: an append that did not finish; the next append completes it if its receipt is stored, else drops it$`,
      'm',
    ),
  );
  assert.doesNotMatch(r.stdout, /^FAIL /m);
  await aslOk(['capture', '--store', store, '--cmd', 'echo four', '--outdir', join(store, '..', 'out', 'four')], {
    cwd: fx.work,
  });
  const log = JSON.parse((await aslOk(['log', '--store', store, '--json'])).stdout) as Array<{
    seq: number;
    receipt: string;
    step: string;
  }>;
  assert.deepEqual(
    log.map((e) => [e.seq, e.step]),
    [
      [1, 'one'],
      [2, 'two'],
      [3, 'three'],
      [4, 'four'],
    ],
  );
  assert.equal(log[2]!.receipt, fx.ids[2]);
  const after = await aslOk(['verify', '--store', store, '--anchor', `3:${fx.ids[2]}`]);
  assert.doesNotMatch(after.stdout, /^note: receipt log/m);
});

test('--anchor: a different receipt at SEQ fails; a malformed anchor is a usage error (exit 2)', async () => {
  const r = await runAsl(['verify', '--store', fx.store, '--anchor', `2:${fx.ids[0]}`]);
  assert.equal(r.code, 1);
  assert.ok(
    fails(r).includes(
      `FAIL anchor 2:${fx.ids[0]}: the log's entry 2 is receipt ${fx.ids[1]} (step two): the log was rewritten since the anchor was written down (expected 2:${fx.ids[0]}, actual 2:${fx.ids[1]})`,
    ),
    r.stdout,
  );
  const bad = await runAsl(['verify', '--store', fx.store, '--anchor', '3']);
  assert.equal(bad.code, 2);
  assert.equal(
    bad.stderr,
    'asl: verify: --anchor 3: expected SEQ:RECEIPT_ID (e.g. 14:sha256:<64 hex>, as `asl verify` prints it)\n',
  );
});

async function storeKeyId(store: string): Promise<string> {
  return (JSON.parse((await aslOk(['key', 'list', '--store', store, '--json'])).stdout) as { storeKeyId: string })
    .storeKeyId;
}
