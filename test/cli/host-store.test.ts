// What an ASL-AUTH-HOST does with its seeded store, on real stores: the seed carries no
// private key; `asl key generate` gives it one of its own (trusted beside the build
// key), after which a capture appends to the build's log and everything verifies; and
// ASL_STORE names the store when --store is not given.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { aslOk, runAsl, tempDir } from '../helpers.js';

interface LogItem {
  seq: number;
  receipt: string;
  step: string;
}
interface KeyList {
  storeKeyId: string | null;
  trusted: Array<{ keyId: string; own: boolean }>;
}

test('a seeded store gets a host key with key generate, then appends captures after the build history', async (t) => {
  const dir = await tempDir(t);
  const build = join(dir, 'build');
  const seeded = join(dir, 'root', 'var', 'lib', 'asl', 'personal');
  await aslOk(['init', '--store', build]);
  await writeFile(join(dir, 'input.txt'), 'built\n');
  await aslOk([
    'capture',
    '--store',
    build,
    '--cmd',
    `cat ${join(dir, 'input.txt')}`,
    '--outdir',
    join(build, 'per', 'image_root'),
  ]);
  await aslOk(['seed', '--store', build, '--into', seeded]);
  const buildKey = (JSON.parse((await aslOk(['key', 'list', '--store', build, '--json'])).stdout) as KeyList)
    .storeKeyId!;

  await assert.rejects(stat(join(seeded, 'keys', 'signing.key')), 'the seed holds no private key');
  const before = JSON.parse((await aslOk(['key', 'list', '--store', seeded, '--json'])).stdout) as KeyList;
  assert.equal(before.storeKeyId, null);
  assert.deepEqual(
    before.trusted.map((k) => k.keyId),
    [buildKey],
  );
  const noKey = await runAsl(['capture', '--store', seeded, '--cmd', 'true', '--outdir', join(seeded, 'per', 'x')]);
  assert.notEqual(noKey.code, 0, 'a keyless store cannot sign');

  const gen = JSON.parse((await aslOk(['key', 'generate', '--store', seeded, '--json'])).stdout) as {
    keyId: string;
    created: boolean;
  };
  assert.equal(gen.created, true);
  assert.notEqual(gen.keyId, buildKey);
  const mode = (await stat(join(seeded, 'keys', 'signing.key'))).mode & 0o777;
  assert.equal(mode, 0o600);
  assert.equal(
    (await aslOk(['key', 'generate', '--store', seeded])).stdout,
    `already has a signing key: ${gen.keyId}\n`,
    'a second generate changes nothing',
  );
  const after = JSON.parse((await aslOk(['key', 'list', '--store', seeded, '--json'])).stdout) as KeyList;
  assert.equal(after.storeKeyId, gen.keyId);
  assert.deepEqual(after.trusted.map((k) => k.keyId).sort(), [buildKey, gen.keyId].sort());

  // ASL_STORE is the default store: capture, log and verify without --store.
  const env = { ...process.env, ASL_STORE: seeded };
  const buildLog = JSON.parse((await aslOk(['log', '--store', seeded, '--json'])).stdout) as LogItem[];
  await aslOk(
    ['capture', '--cmd', `echo host > ${join(dir, 'host.txt')}`, '--outdir', join(seeded, 'per', 'host_step')],
    { env },
  );
  assert.equal(await readFile(join(dir, 'host.txt'), 'utf8'), 'host\n');
  const log = JSON.parse((await aslOk(['log', '--json'], { env })).stdout) as LogItem[];
  assert.deepEqual(log.slice(0, buildLog.length), buildLog, 'the build history stays first, unchanged');
  assert.deepEqual(
    log.slice(buildLog.length).map((i) => i.step),
    ['host_step'],
  );
  assert.match((await aslOk(['verify'], { env })).stdout, /^OK: .* 2 receipts, 2 log entries$/m);
  const envWithout = { ...process.env };
  delete envWithout.ASL_STORE;
  const missing = await runAsl(['log'], { env: envWithout });
  assert.equal(missing.code, 2);
  assert.equal(missing.stderr, 'asl: log: --store S is required (or set ASL_STORE)\n');
});
