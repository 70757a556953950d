// The verified-receipts index lets readers of a long history skip checking each
// signature again, and must never make them accept what a full check would refuse:
// a forged or torn index is ignored, a receipt is trusted only while its key is, and
// only for the exact bytes that were verified.
import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync, randomBytes } from 'node:crypto';
import { appendFile, open, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { canonicalBytes } from '../../src/core/canonical-json.js';
import type { Digest } from '../../src/core/digest.js';
import { keySigner, signStatement, storeSigner } from '../../src/receipt/sign.js';
import { buildStatement } from '../../src/receipt/statement.js';
import { writeReceipt } from '../../src/receipt/store-receipt.js';
import { VERIFIED_INDEX_FILE, VerifiedReceiptReader } from '../../src/receipt/verified-index.js';
import { ReceiptVerifyError } from '../../src/receipt/verify.js';
import { receiptHistory } from '../../src/graph/log.js';
import { keyIdOfPublicKey } from '../../src/store/keys.js';
import { locateObjectSync } from '../../src/store/object-locate.js';
import { readObject } from '../../src/store/object-read.js';
import { ObjectBatch } from '../../src/store/object-batch.js';
import { initStore, type Store } from '../../src/store/store.js';
import { loadTrustedKeys } from '../../src/receipt/trusted-keys.js';
import { aslOk, runAsl, tempDir } from '../helpers.js';
import { sampleCommandCore, sampleIngestCore, sampleRun } from './fixtures.js';

const MAGIC = 'ASLVRCP1';

/** Overwrites the receipt's stored bytes from `at` on (loose file or its place in a pack), in place. */
async function overwriteStored(store: Store, id: Digest, at: number, bytes: Buffer): Promise<void> {
  const loc = locateObjectSync(store, id)!;
  const fh = await open(loc.path, 'r+');
  try {
    await fh.write(bytes, 0, bytes.length, (loc.kind === 'packed' ? loc.offset : 0) + at);
  } finally {
    await fh.close();
  }
}
const RECORD = 128;

async function setup(t: TestContext, receipts = 3) {
  const { store, keyId } = await initStore(join(await tempDir(t), 'store'));
  const signer = await storeSigner(store);
  const ids: Digest[] = [];
  for (let i = 0; i < receipts; i++) {
    const core = i % 2 ? sampleIngestCore() : { ...sampleCommandCore(), step: `step-${i}` };
    ids.push(
      (await writeReceipt(store, signStatement(buildStatement(core, sampleRun({ durationMs: 1000 + i })), signer))).id,
    );
  }
  return { store, keyId, signer, ids, index: join(store.root, VERIFIED_INDEX_FILE) };
}

async function readAll(store: Parameters<typeof VerifiedReceiptReader.open>[0], ids: string[]) {
  const reader = await VerifiedReceiptReader.open(store, await loadTrustedKeys(store));
  const read = [];
  for (const id of ids) read.push(await reader.read(id));
  return { reader, read };
}

test('a capture indexes the receipt it stores; readers then trust it without checking the signature again', async (t) => {
  const { store, keyId, ids, index } = await setup(t);
  const bytes = await readFile(index);
  assert.equal(bytes.subarray(0, 8).toString(), MAGIC);
  assert.equal(bytes.length, 8 + 3 * RECORD);
  for (const [i, id] of ids.entries())
    assert.equal(bytes.subarray(8 + i * RECORD, 8 + i * RECORD + 32).toString('hex'), id.slice(7));

  const { reader, read } = await readAll(store, ids);
  assert.deepEqual([reader.trustedReads, reader.fullReads], [3, 0]);
  for (const [i, r] of read.entries()) {
    assert.equal(r.id, ids[i]);
    assert.equal(r.keyId, keyId);
    // What the index path returns is exactly what a full check returns.
    const full = await (await VerifiedReceiptReader.open(store, new Map())).read(ids[i]!).catch((err: unknown) => err);
    assert.ok(
      full instanceof ReceiptVerifyError && full.stage === 'signature',
      'with no trusted key the full check refuses it',
    );
    assert.equal(r.statement.predicate.run.durationMs, 1000 + i);
    assert.equal(r.payload.toString('base64'), r.envelope.payload);
  }
});

test('with no index every receipt is checked in full, and what was checked is remembered', async (t) => {
  const { store, ids, index } = await setup(t);
  await rm(index);
  const first = await readAll(store, ids);
  assert.deepEqual([first.reader.trustedReads, first.reader.fullReads], [0, 3]);
  await first.reader.remember();
  assert.equal((await readFile(index)).length, 8 + 3 * RECORD);
  const second = await readAll(store, ids);
  assert.deepEqual([second.reader.trustedReads, second.reader.fullReads], [3, 0]);
  assert.deepEqual(
    second.read.map((r) => r.statement),
    first.read.map((r) => r.statement),
  );
});

test('a forged index (records MACed under another key) is ignored, so a receipt by an untrusted key is still refused', async (t) => {
  const { store, keyId, index } = await setup(t, 1);
  // A receipt signed by a key this store does not trust, its signature labelled with the store's key id.
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const statement = buildStatement({ ...sampleCommandCore(), step: 'forged' }, sampleRun());
  const signed = signStatement(statement, keySigner({ privateKey, publicKey, keyId: keyIdOfPublicKey(publicKey) }));
  const foreign = { ...signed, signatures: [{ keyid: keyId, sig: signed.signatures[0]!.sig }] };
  const batch = new ObjectBatch(store);
  const forgedId = await batch.addBytes(canonicalBytes(foreign));
  await batch.commit();
  // A record that says it verified with the store's key and its own core digest.
  const rec = Buffer.alloc(RECORD);
  rec.write(forgedId.slice(7), 0, 'hex');
  rec.write(statement.predicate.coreDigest.slice(7), 32, 'hex');
  (await readFile(index)).copy(rec, 64, 8 + 64, 8 + 96); // the store key's hash, from the genuine record
  const macWith = (key: Buffer) =>
    createHmac('sha256', key)
      .update(Buffer.from('asl verified-receipts v1\0'))
      .update(rec.subarray(0, 96))
      .digest()
      .copy(rec, 96);
  const genuine = await readFile(index);

  macWith(randomBytes(32));
  await appendFile(index, rec);
  const reader = await VerifiedReceiptReader.open(store, await loadTrustedKeys(store));
  assert.equal(reader.size, 1, 'only the genuine record counts');
  await assert.rejects(
    reader.read(forgedId),
    (err: unknown) => err instanceof ReceiptVerifyError && err.stage === 'signature',
  );
  assert.equal(reader.trustedReads, 0);

  // The same record MACed under the store's cache key would be believed: that key is the boundary (docs/security.md).
  macWith(await readFile(join(store.root, 'keys', 'cache.key')));
  await writeFile(index, Buffer.concat([genuine, rec]));
  const holder = await VerifiedReceiptReader.open(store, await loadTrustedKeys(store));
  assert.equal((await holder.read(forgedId)).statement.predicate.core.step, 'forged');
  assert.equal(holder.trustedReads, 1);
});

test('an indexed receipt is trusted only while its key is trusted and only for the bytes that were verified', async (t) => {
  const { store, ids, keyId } = await setup(t, 2);
  // The store key untrusted since the index was written: checked in full, and refused.
  const other = generateKeyPairSync('ed25519').publicKey;
  assert.ok((await loadTrustedKeys(store)).has(keyId));
  const untrusted = await VerifiedReceiptReader.open(store, new Map([[keyIdOfPublicKey(other), other]]));
  await assert.rejects(
    untrusted.read(ids[0]!),
    (err: unknown) => err instanceof ReceiptVerifyError && err.stage === 'signature',
  );
  assert.equal(untrusted.trustedReads, 0);

  // The receipt's bytes changed after it was indexed (its run's duration): the read fails on its digest, as without the index.
  const bytes = await readObject(store, ids[0]!);
  const at = bytes.indexOf('"payload":"') + 20;
  await overwriteStored(store, ids[0]!, at, Buffer.from(bytes[at] === 0x41 ? 'B' : 'A'));
  const reader = await VerifiedReceiptReader.open(store, await loadTrustedKeys(store));
  await assert.rejects(reader.read(ids[0]!), /corrupt: content hashes to/);
  assert.equal((await reader.read(ids[1]!)).id, ids[1]);
});

test('a torn or foreign index file is ignored; the history reads the same', async (t) => {
  const { store, ids, index } = await setup(t);
  const expected = await receiptHistory(store);
  assert.deepEqual(
    expected.map((h) => h.receipt),
    ids,
  );
  await writeFile(index, Buffer.concat([(await readFile(index)).subarray(0, 8 + RECORD + 50)])); // torn mid-record
  const torn = await readAll(store, ids);
  assert.deepEqual([torn.reader.trustedReads, torn.reader.fullReads], [1, 2]);
  await writeFile(index, 'not an index');
  assert.deepEqual(await receiptHistory(store), expected);
});

test('asl capture and asl verify keep the index; it holds exactly the receipts verify checked, and asl log still refuses a damaged one', async (t) => {
  const dir = await tempDir(t);
  const root = join(dir, 'store');
  await aslOk(['init', '--store', root]);
  for (let i = 0; i < 4; i++)
    await aslOk(
      [
        'capture',
        '--store',
        root,
        '--name',
        `step-${i}`,
        '--outdir',
        join(root, 'per', `step-${i}`),
        '--no-auto-watch',
        '--cmd',
        `echo ${i}`,
      ],
      { cwd: dir },
    );
  const store = { root };
  const ids = (await receiptHistory(store)).map((h) => h.receipt);
  assert.equal(ids.length, 4);
  const index = join(root, VERIFIED_INDEX_FILE);
  assert.equal((await readFile(index)).length, 8 + 4 * RECORD, 'each capture indexed its receipt');
  await rm(index);
  const r = await aslOk(['verify', '--store', root]);
  assert.match(r.stdout, /^OK/);
  const written = await readFile(index);
  const listed = [];
  for (let at = 8; at < written.length; at += RECORD)
    listed.push(`sha256:${written.subarray(at, at + 32).toString('hex')}`);
  assert.deepEqual(listed, ids);
  const { reader } = await readAll(store, ids);
  assert.deepEqual([reader.trustedReads, reader.fullReads], [4, 0]);

  // A receipt damaged after it was indexed: a byte of its signature changed where it is stored.
  const bytes = await readObject(store, ids[2]!);
  const at = bytes.indexOf('"sig":"') + 7;
  await overwriteStored(store, ids[2]!, at, Buffer.from(bytes[at] === 0x41 ? 'B' : 'A'));
  const bad = await runAsl(['verify', '--store', root]);
  assert.equal(bad.code, 1);
  assert.match(bad.stdout, new RegExp(`${ids[2]}.*corrupt`));
  assert.deepEqual(await readFile(index), written, 'a failing verify writes nothing, the index included');
  const log = await runAsl(['log', '--store', root]);
  assert.notEqual(log.code, 0);
  assert.match(log.stderr, new RegExp(`${ids[2]} is corrupt`));
});
