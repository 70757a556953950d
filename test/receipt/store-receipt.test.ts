import assert from 'node:assert/strict';
import { chmod, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { canonicalBytes } from '../../src/core/canonical-json.js';
import { digestBytes } from '../../src/core/digest.js';
import type { AslError } from '../../src/core/errors.js';
import { signStatement, storeSigner } from '../../src/receipt/sign.js';
import { buildStatement } from '../../src/receipt/statement.js';
import { listReceipts, readReceipt, writeReceipt } from '../../src/receipt/store-receipt.js';
import type { ReceiptVerifyError } from '../../src/receipt/verify.js';
import { objectPath } from '../../src/store/layout.js';
import { verifyLog } from '../../src/receipt/receipt-log.js';
import { initStore } from '../../src/store/store.js';
import { tempDir } from '../helpers.js';
import { sampleCommandCore, sampleIngestCore, sampleRun } from './fixtures.js';

async function setup(t: TestContext) {
  const { store, keyId } = await initStore(join(await tempDir(t), 'store'));
  return { store, keyId, signer: await storeSigner(store) };
}

test('writeReceipt stores the canonical envelope as an object, logs it, and readReceipt verifies it', async (t) => {
  const { store, keyId, signer } = await setup(t);
  const statement = buildStatement(sampleCommandCore(), sampleRun());
  const envelope = signStatement(statement, signer);
  const written = await writeReceipt(store, envelope);

  const bytes = await readFile(objectPath(store.root, written.id));
  assert.deepEqual(bytes, canonicalBytes(envelope));
  assert.equal(written.id, digestBytes(canonicalBytes(envelope)));
  assert.equal(written.keyId, keyId);
  assert.deepEqual(written.record?.entry, {
    seq: 1,
    prev: null,
    receipt: written.id,
    step: 'debootstrap',
    time: written.record!.entry.time,
  });

  const read = await readReceipt(store, written.id);
  assert.equal(read.id, written.id);
  assert.deepEqual(read.statement, statement);
  assert.deepEqual(read.envelope, envelope);

  const ingest = await writeReceipt(store, signStatement(buildStatement(sampleIngestCore(), sampleRun()), signer));
  const listed = await listReceipts(store);
  assert.deepEqual(
    listed.map((r) => [r.entry.seq, r.entry.receipt, r.entry.step]),
    [
      [1, written.id, 'debootstrap'],
      [2, ingest.id, 'overlay'],
    ],
  );
  assert.equal(listed[1]!.entry.prev, listed[0]!.digest);
  assert.deepEqual((await verifyLog(store)).problems, []);
});

test('writing the same receipt twice adds one log entry', async (t) => {
  const { store, signer } = await setup(t);
  const envelope = signStatement(buildStatement(sampleIngestCore(), sampleRun()), signer);
  const first = await writeReceipt(store, envelope);
  const again = await writeReceipt(store, { ...envelope, extra: 'ignored' } as never);
  assert.equal(again.id, first.id);
  assert.equal(again.record, null);
  assert.equal((await listReceipts(store)).length, 1);
});

test('a receipt whose object exists but never reached the log (crash) is logged on retry', async (t) => {
  const { store, signer } = await setup(t);
  const envelope = signStatement(buildStatement(sampleIngestCore(), sampleRun()), signer);
  const { writeObject } = await import('../../src/store/object-batch.js');
  const id = await writeObject(store, canonicalBytes(envelope));
  const written = await writeReceipt(store, envelope);
  assert.equal(written.id, id);
  assert.equal(written.record?.entry.seq, 1);
});

test('writeReceipt refuses an envelope the store cannot verify, and stores nothing', async (t) => {
  const { store, signer } = await setup(t);
  const envelope = signStatement(buildStatement(sampleIngestCore(), sampleRun()), signer);
  const forged = {
    ...envelope,
    payload: Buffer.from(Buffer.from(envelope.payload, 'base64').toString().replace('overlay', 'overlaz')).toString(
      'base64',
    ),
  };
  await assert.rejects(writeReceipt(store, forged), (err: ReceiptVerifyError) => err.stage === 'signature');
  const { objectExists } = await import('../../src/store/object-batch.js');
  assert.equal(await objectExists(store, digestBytes(canonicalBytes(forged))), false);
  assert.deepEqual(await listReceipts(store), []);
});

test('readReceipt: an edited receipt object is CORRUPT, a missing one NOT_FOUND', async (t) => {
  const { store, signer } = await setup(t);
  const { id } = await writeReceipt(store, signStatement(buildStatement(sampleIngestCore(), sampleRun()), signer));
  const path = objectPath(store.root, id);
  const bytes = await readFile(path);
  bytes[bytes.length - 3] ^= 0x01;
  await chmod(path, 0o644);
  await writeFile(path, bytes);
  await assert.rejects(readReceipt(store, id), (err: AslError) => {
    assert.equal(err.code, 'CORRUPT');
    assert.match(err.message, new RegExp(`object ${id} is corrupt`));
    return true;
  });
  await rm(path);
  await assert.rejects(readReceipt(store, id), (err: AslError) => err.code === 'NOT_FOUND' && err.message.includes(id));
  const problems = (await verifyLog(store)).problems;
  assert.deepEqual(
    problems.map((p) => [p.kind, p.seq, p.receipt]),
    [['missing-receipt', 1, id]],
  );
});
