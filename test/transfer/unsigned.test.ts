// Nothing unsigned comes in: a bundle's root records ({id, source, at}) are not signed, and
// a bundle with no receipts imported them with any source and time, control characters
// included. Now a bundle must carry a receipt, and a root record comes in only for an
// artifact its signed receipts reach; each refusal leaves the target byte-for-byte as it
// was. And strings from a store are never printed with raw control characters.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { mkdir, mkdtemp, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { aslOk, runAsl } from '../helpers.js';
import { objectFile } from '../capture/e2e-helpers.js';
import {
  assertRefused,
  buildSource,
  copyTree,
  rewriteBundle,
  tempDir,
  treeDigest,
  type SourceFixture,
} from './fixture.js';

let fx: SourceFixture;
let fixtureDir: string;
let bundle: string;
let target: string;

before(async () => {
  fixtureDir = await mkdtemp(join(tmpdir(), 'asl-unsigned-fixture-'));
  fx = await buildSource(fixtureDir, 5);
  bundle = join(fixtureDir, 'all.tar');
  await aslOk(['bundle', 'export', '--store', fx.store, '-o', bundle]);
  target = join(fixtureDir, 'T');
  await aslOk(['init', '--store', target]);
});
after(() => rm(fixtureDir, { recursive: true, force: true }));

const HOSTILE_SOURCE = '/etc\u001b[2J\u001b[1;1HOK: every receipt verified\u001b[8m';

async function refused(
  t: Parameters<typeof tempDir>[0],
  edit: Parameters<typeof rewriteBundle>[2],
  pattern: RegExp,
): Promise<void> {
  const dir = await tempDir(t);
  const T = join(dir, 'T');
  copyTree(target, T);
  const bad = join(dir, 'bad.tar');
  await rewriteBundle(bundle, bad, edit);
  const before = treeDigest(T);
  const r = await runAsl(['bundle', 'import', '--store', T, bad, '--trust', fx.publicKey]);
  assertRefused(r, 1, pattern);
  assert.ok(!r.stderr.includes('\u001b'), 'no raw control character is printed');
  assert.equal(treeDigest(T), before, 'target store byte-for-byte unchanged');
  assert.deepEqual(readdirSync(join(T, 'tmp')), [], 'nothing left staged');
}

test('bundle: no receipts, an unsigned root record with control characters in its source: refused', async (t) => {
  await refused(
    t,
    (_entries, m) => {
      m.receipts = [];
      m.roots = [{ id: fx.genAfter, kind: 'tree', source: HOSTILE_SOURCE, at: '1970-01-01T00:00:00Z' }];
    },
    /: carries no receipt: nothing in it is signed, so nothing of it is imported$/,
  );
});

test('bundle: a root record for an artifact none of its receipts reaches is refused, its source printed escaped', async (t) => {
  await refused(
    t,
    (_entries, m) => {
      const gen = m.receipts.find((r) => r.id === fx.receipts.gen)!;
      m.receipts = [gen];
      // An object the bundle carries (the final step's receipt), which the gen receipt does not reach.
      m.roots = [
        ...m.roots,
        { id: fx.receipts.final, kind: 'blob' as const, source: HOSTILE_SOURCE, at: '2024-01-01T00:00:00Z' },
      ].sort((a, b) => (a.id < b.id ? -1 : 1));
    },
    /: root record sha256:[0-9a-f]{64} \(source ".*"\) is not backed by any receipt the bundle carries: nothing signed vouches for it$/,
  );
});

test('bundle: a root record with a time that is not RFC 3339 is refused', async (t) => {
  await refused(
    t,
    (_entries, m) => {
      m.roots = m.roots.map((r) => ({ ...r, at: 'yesterday\u001b[1A' }));
    },
    /has time "yesterday\\x1b\[1A", not an RFC 3339 UTC time$/,
  );
});

test('strings from a store are printed with their control characters escaped: log, verify, errors', async (t) => {
  const dir = await tempDir(t);
  const S = join(dir, 'S');
  await aslOk(['init', '--store', S]);
  const step = 'build\u001b[2K\u001b[1Gdone';
  await mkdir(join(S, 'per'), { recursive: true });
  await aslOk(['capture', '--store', S, '--cmd', 'true', '--outdir', join(S, 'per', step)]);
  const log = await aslOk(['log', '--store', S]);
  assert.ok(!log.stdout.includes('\u001b'), 'asl log prints no raw ESC');
  assert.ok(log.stdout.includes('build\\x1b[2K\\x1b[1Gdone'), log.stdout);
  const id = (
    JSON.parse((await aslOk(['log', '--store', S, '--json'])).stdout) as Array<{ receipt: string; step: string }>
  )[0]!;
  assert.equal(id.step, step, '--json keeps the string (JSON escapes it)');
  await unlink(objectFile(S, id.receipt));
  const verify = await runAsl(['verify', '--store', S]);
  assert.equal(verify.code, 1);
  assert.ok(!verify.stdout.includes('\u001b'), 'asl verify prints no raw ESC');
  assert.match(
    verify.stdout,
    /^FAIL receipt sha256:[0-9a-f]{64} \(step build\\x1b\[2K\\x1b\[1Gdone, log entry 1\) is missing from the store$/m,
  );
  const show = await runAsl(['show', '--store', S, id.receipt]);
  assert.equal(show.code, 2);
  assert.ok(!show.stderr.includes('\u001b'));
});
