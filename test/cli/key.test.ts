// `asl key list | trust | export` on real stores, and what trust means to `asl verify`:
// a receipt signed by another store's key fails verification, naming the signer, until
// that store's exported public key is trusted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { aslOk, describeRun, runAsl, tempDir } from '../helpers.js';
import { cliInit, oneLine, sh } from '../store/tree-compare.js';
import { appendReceiptLog } from '../../src/receipt/receipt-log.js';
import { openStore } from '../../src/store/store.js';
import type { Digest } from '../../src/core/digest.js';

interface KeyList {
  storeKeyId: string | null;
  trusted: Array<{ keyId: string; own: boolean; path: string }>;
}

async function keyList(store: string): Promise<KeyList> {
  return JSON.parse((await aslOk(['key', 'list', '--store', store, '--json'])).stdout) as KeyList;
}

test('a new store lists exactly its own key; export prints it or writes it with -o', async (t) => {
  const dir = await tempDir(t);
  const store = await cliInit(join(dir, 'S'));
  const pub = await readFile(join(store, 'keys', 'signing.pub'), 'utf8');
  const list = await keyList(store);
  assert.match(list.storeKeyId!, /^[0-9a-f]{64}$/);
  assert.deepEqual(list.trusted, [
    { keyId: list.storeKeyId, own: true, path: join(store, 'keys', 'trusted', `${list.storeKeyId}.pub`) },
  ]);
  const human = await aslOk(['key', 'list', '--store', store]);
  assert.equal(human.stdout, `${list.storeKeyId}  this store's signing key\n`);

  assert.equal((await aslOk(['key', 'export', '--store', store])).stdout, pub);
  const out = join(dir, 'exported.pub');
  const wrote = await aslOk(['key', 'export', '--store', store, '-o', out]);
  assert.equal(wrote.stdout, `wrote public key ${list.storeKeyId} to ${out}\n`);
  assert.equal(await readFile(out, 'utf8'), pub);
  const json = JSON.parse((await aslOk(['key', 'export', '--store', store, '--json'])).stdout) as {
    keyId: string;
    pem: string;
  };
  assert.deepEqual(json, { keyId: list.storeKeyId, pem: pub });
});

test('key trust refuses a private key and non-Ed25519 keys with one line, exit 2, trusting nothing', async (t) => {
  const dir = await tempDir(t);
  const store = await cliInit(join(dir, 'S'));
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
    .publicKey.export({ type: 'spki', format: 'pem' })
    .toString();
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    .publicKey.export({ type: 'spki', format: 'pem' })
    .toString();
  const cases: Array<[string, string, RegExp]> = [
    [
      'signing.key',
      await readFile(join(store, 'keys', 'signing.key'), 'utf8'),
      /is a private key; trust the public key instead \(`asl key export` prints it\)$/,
    ],
    ['rsa.pub', rsa, /is a rsa key; ASL signs and verifies with Ed25519 only$/],
    ['ec.pub', ec, /is a ec key; ASL signs and verifies with Ed25519 only$/],
    ['junk.pub', 'not a key\n', /not a PEM public key/],
  ];
  for (const [name, content, message] of cases) {
    const file = join(dir, name);
    await writeFile(file, content);
    const r = await runAsl(['key', 'trust', '--store', store, file]);
    assert.equal(r.code, 2, `${name}: ${describeRun(r)}`);
    assert.equal(r.stdout, '');
    const line = oneLine(r.stderr);
    assert.ok(line.startsWith(`asl: ${file}: `), line);
    assert.match(line, message);
    const json = await runAsl(['key', 'trust', '--store', store, file, '--json']);
    assert.equal((JSON.parse(oneLine(json.stderr)) as { error: { code: string } }).error.code, 'BAD_INPUT');
  }
  const missing = await runAsl(['key', 'trust', '--store', store, join(dir, 'absent.pub')]);
  assert.equal(missing.code, 2);
  assert.match(oneLine(missing.stderr), /absent\.pub: no such file or directory/);
  assert.equal((await keyList(store)).trusted.length, 1);
  assert.deepEqual((await readdir(join(store, 'keys', 'trusted'))).length, 1, 'no file was added');
});

test('key: usage errors exit 2', async (t) => {
  const store = await cliInit(join(await tempDir(t), 'S'));
  const cases: Array<[string[], RegExp]> = [
    [['key', '--store', store], /key: a subcommand is required/],
    [['key', 'rotate', '--store', store], /key: unknown subcommand "rotate"/],
    [['key', 'trust', '--store', store], /key trust: FILE/],
    [['key', 'list'], /key list: --store S is required/],
    [['key', 'list', '--store', store, '-o', 'x'], /-o FILE applies to key export only/],
  ];
  for (const [args, message] of cases) {
    const r = await runAsl(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${describeRun(r)}`);
    assert.match(oneLine(r.stderr), message);
  }
});

test('a receipt signed by another store fails verify, naming the signer, until its key is trusted', async (t) => {
  const dir = await tempDir(t);
  const a = await cliInit(join(dir, 'A'));
  const b = await cliInit(join(dir, 'B'));
  // A real capture in store B, signed with B's key.
  const cap = await runAsl(['--store', b, '--cmd', 'echo made-in-b', '--outdir', join(b, 'per', 'hello')], {
    program: 'asl-capture',
    cwd: dir,
  });
  assert.equal(cap.code, 0, describeRun(cap));
  const [line] = (await readFile(join(b, 'log', 'receipts.log'), 'utf8')).trim().split('\n');
  const receipt = (JSON.parse(line!.split('\t')[1]!) as { receipt: Digest }).receipt;
  const bKey = (await keyList(b)).storeKeyId!;

  // Carried into store A as a transfer would: every object of B, then a log entry in A
  // (A's log head is signed by A; the receipt keeps B's signature).
  await sh(`cp -a ${join(b, 'objects-v1')}/. ${join(a, 'objects-v1')}/`);
  await appendReceiptLog(await openStore(a), [{ receipt, step: 'hello' }]);

  const before = await runAsl(['verify', '--store', a]);
  assert.equal(before.code, 1, describeRun(before));
  const fail = before.stdout.split('\n').filter((l) => l.startsWith('FAIL '));
  assert.equal(fail.length, 1, before.stdout);
  assert.ok(fail[0]!.includes(`receipt ${receipt} (step hello, log entry 1)`), fail[0]);
  assert.ok(fail[0]!.includes(bKey.slice(0, 16)), `the untrusted signer's key id is named: ${fail[0]}`);
  assert.match(fail[0]!, /not a trusted key|does not trust/);
  assert.match(before.stdout, /^CORRUPT: .*, 1 problem\(s\)$/m);

  const pubFile = join(dir, 'b.pub');
  await aslOk(['key', 'export', '--store', b, '-o', pubFile]);
  const trusted = await aslOk(['key', 'trust', '--store', a, pubFile]);
  assert.equal(trusted.stdout, `trusted ${bKey} (${pubFile})\n`);
  assert.equal(
    (await aslOk(['key', 'trust', '--store', a, pubFile])).stdout,
    `already trusted: ${bKey} (${pubFile})\n`,
  );
  const list = await keyList(a);
  assert.deepEqual(
    list.trusted.map((k) => [k.keyId, k.own]).sort(),
    [
      [list.storeKeyId, true],
      [bKey, false],
    ].sort(),
  );
  assert.ok((await aslOk(['key', 'list', '--store', a])).stdout.includes(`${bKey}  trusted\n`));

  const after = await runAsl(['verify', '--store', a]);
  assert.equal(after.code, 0, describeRun(after));
  assert.match(after.stdout, /^OK: .* 1 receipts, 1 log entries$/m);
});
