import assert from 'node:assert/strict';
import { generateKeyPairSync, sign as edSign } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { canonicalBytes } from '../../src/core/canonical-json.js';
import { preAuthEncoding, type DsseEnvelope } from '../../src/core/dsse.js';
import { keySigner, signEnvelope, signStatement, storeSigner, type Signer } from '../../src/receipt/sign.js';
import { buildStatement } from '../../src/receipt/statement.js';
import { IN_TOTO_PAYLOAD_TYPE, type CommandCore, type Statement } from '../../src/receipt/types.js';
import { ReceiptVerifyError, verifyEnvelope, type VerifyStage } from '../../src/receipt/verify.js';
import { keyIdOfPublicKey } from '../../src/store/keys.js';
import { initStore } from '../../src/store/store.js';
import { loadTrustedKeys, trustKey } from '../../src/receipt/trusted-keys.js';
import { tempDir } from '../helpers.js';
import { sampleCommandCore, sampleRun } from './fixtures.js';

async function fixture(t: TestContext) {
  const { store, keyId } = await initStore(join(await tempDir(t), 'store'));
  const signer = await storeSigner(store);
  const statement = buildStatement(sampleCommandCore(), sampleRun());
  const envelope = signStatement(statement, signer);
  return { store, keyId, signer, statement, envelope, keys: await loadTrustedKeys(store) };
}

function otherSigner(): Signer & { pem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const key = { keyId: keyIdOfPublicKey(publicKey), publicKey, privateKey };
  return { ...keySigner(key), pem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

function rejectsAt(stage: VerifyStage, fn: () => unknown): ReceiptVerifyError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ReceiptVerifyError, `expected a ReceiptVerifyError, got ${String(caught)}`);
  assert.equal(caught.stage, stage, caught.message);
  assert.equal(caught.code, stage === 'signature' ? 'SIGNATURE' : 'VERIFY_FAILED');
  assert.equal(caught.exitCode, 1);
  assert.equal(caught.data?.stage, stage);
  return caught;
}

function withPayload(env: DsseEnvelope, payload: Buffer): DsseEnvelope {
  return { ...env, payload: payload.toString('base64') };
}

test('sign/verify round trip with the store key', async (t) => {
  const { keyId, statement, envelope, keys } = await fixture(t);
  assert.equal(envelope.payloadType, 'application/vnd.in-toto+json');
  assert.equal(envelope.signatures.length, 1);
  assert.equal(envelope.signatures[0]!.keyid, keyId);
  assert.deepEqual(Buffer.from(envelope.payload, 'base64'), canonicalBytes(statement));
  for (const input of [envelope, JSON.stringify(envelope), canonicalBytes(envelope)]) {
    const v = verifyEnvelope(input, keys);
    assert.equal(v.keyId, keyId);
    assert.deepEqual(v.statement, statement);
    assert.equal(v.coreDigest, statement.predicate.coreDigest);
    assert.deepEqual(v.payload, canonicalBytes(statement));
  }
});

test('Ed25519 signing is deterministic: the same statement gives the same envelope', async (t) => {
  const { signer, statement, envelope } = await fixture(t);
  assert.deepEqual(signStatement(statement, signer), envelope);
});

test('tampered payload is rejected at the signature stage', async (t) => {
  const { statement, envelope, keys } = await fixture(t);
  const forged = structuredClone(statement);
  forged.predicate.core.step = 'innocent';
  const err = rejectsAt('signature', () =>
    verifyEnvelope(withPayload(envelope, canonicalBytes(forged)), keys, { receiptId: `sha256:${'a'.repeat(64)}` }),
  );
  assert.match(err.message, new RegExp(`^receipt sha256:${'a'.repeat(64)}: signature check failed`));
  assert.match(err.actual, /signature does not verify \(payload or signature altered\)/);
  assert.deepEqual(err.data?.rejected, [{ keyid: envelope.signatures[0]!.keyid, reason: 'bad-signature' }]);
});

test('tampered signature is rejected at the signature stage', async (t) => {
  const { envelope, keys } = await fixture(t);
  const sig = Buffer.from(envelope.signatures[0]!.sig, 'base64');
  sig[10]! ^= 0x01;
  const bad = { ...envelope, signatures: [{ keyid: envelope.signatures[0]!.keyid, sig: sig.toString('base64') }] };
  const err = rejectsAt('signature', () => verifyEnvelope(bad, keys));
  assert.match(err.message, /does not verify/);
  const short = { ...envelope, signatures: [{ keyid: envelope.signatures[0]!.keyid, sig: 'AAAA' }] };
  assert.match(
    rejectsAt('signature', () => verifyEnvelope(short, keys)).actual,
    /not a 64-byte base64 Ed25519 signature/,
  );
});

test('signature by a different key claiming the store key id is rejected', async (t) => {
  const { keyId, statement, keys } = await fixture(t);
  const other = otherSigner();
  const impostor: Signer = { keyId, sign: (b) => other.sign(b) };
  const err = rejectsAt('signature', () => verifyEnvelope(signStatement(statement, impostor), keys));
  assert.match(err.actual, new RegExp(`keyid ${keyId.slice(0, 16)}, whose signature does not verify`));
});

test('signature by an untrusted key is rejected until that key is trusted', async (t) => {
  const { store, keyId, statement, keys } = await fixture(t);
  const other = otherSigner();
  const env = signStatement(statement, other);
  const err = rejectsAt('signature', () => verifyEnvelope(env, keys));
  assert.match(err.actual, new RegExp(`keyid ${other.keyId.slice(0, 16)}, which is not a trusted key`));
  assert.match(err.expected, new RegExp(`trusted: ${keyId.slice(0, 16)}`));

  const pemFile = join(store.root, '..', 'other.pub');
  await writeFile(pemFile, other.pem);
  const added = await trustKey(store, pemFile);
  assert.deepEqual({ keyId: added.keyId, added: added.added }, { keyId: other.keyId, added: true });
  const v = verifyEnvelope(env, await loadTrustedKeys(store));
  assert.equal(v.keyId, other.keyId);
});

test('an empty keyid hint is tried against every trusted key', async (t) => {
  const { keyId, envelope, keys } = await fixture(t);
  const anonymous = { ...envelope, signatures: [{ keyid: '', sig: envelope.signatures[0]!.sig }] };
  assert.equal(verifyEnvelope(anonymous, keys).keyId, keyId);
});

test('wrong payload type is rejected before the signature is checked', async (t) => {
  const { signer, statement, keys } = await fixture(t);
  const env = signEnvelope('application/json', canonicalBytes(statement), signer);
  const err = rejectsAt('payloadType', () => verifyEnvelope(env, keys));
  assert.equal(err.expected, JSON.stringify(IN_TOTO_PAYLOAD_TYPE));
  assert.equal(err.actual, '"application/json"');
});

test('unparseable or malformed envelopes are rejected at the parse stage', async (t) => {
  const { envelope, keys } = await fixture(t);
  assert.match(
    rejectsAt('parse', () => verifyEnvelope(Buffer.from('{"payloadType":'), keys)).message,
    /envelope is not JSON/,
  );
  const err = rejectsAt('parse', () =>
    verifyEnvelope({ payloadType: 1, payload: 'not base64!', signatures: [] }, keys),
  );
  assert.equal(err.expected, 'payloadType (a string), payload (standard base64), signatures (a non-empty array)');
  rejectsAt('parse', () => verifyEnvelope({ ...envelope, signatures: [{ keyid: 'x' }] }, keys));
});

test('a correctly signed but malformed statement is rejected at the statement stage', async (t) => {
  const { signer, statement, keys } = await fixture(t);
  const broken = structuredClone(statement) as unknown as Record<string, any>;
  delete broken.predicate.core.exit;
  broken.predicate.run.durationMs = 'long';
  const err = rejectsAt('statement', () =>
    verifyEnvelope(signEnvelope(IN_TOTO_PAYLOAD_TYPE, canonicalBytes(broken), signer), keys),
  );
  assert.deepEqual(
    (err.data?.issues as Array<{ path: string }> | undefined)?.map((i) => i.path),
    ['predicate.core.exit', 'predicate.run.durationMs'],
  );
  assert.match(
    err.message,
    /statement is malformed \(2 fields; first: predicate\.core\.exit\): expected an object, got nothing/,
  );
});

test('a non-canonical payload is rejected at the statement stage', async (t) => {
  const { signer, statement, keys } = await fixture(t);
  const pretty = Buffer.from(JSON.stringify(statement, null, 2));
  const err = rejectsAt('statement', () => verifyEnvelope(signEnvelope(IN_TOTO_PAYLOAD_TYPE, pretty, signer), keys));
  assert.equal(err.expected, 'RFC 8785 canonical JSON');
});

test('a core that does not match coreDigest is rejected at the coreDigest stage', async (t) => {
  const { signer, statement, keys } = await fixture(t);
  const edited: Statement = structuredClone(statement);
  (edited.predicate.core as CommandCore).environment = { variables: {} };
  const env = signStatement(edited, signer); // signed after the edit: only the digest rule catches it
  const err = rejectsAt('coreDigest', () => verifyEnvelope(env, keys));
  assert.equal(err.expected, statement.predicate.coreDigest);
  assert.match(err.actual, /^sha256:[0-9a-f]{64} \(recomputed\)$/);
  assert.notEqual(err.actual.slice(0, 71), statement.predicate.coreDigest);
});

test('the signature covers the DSSE pre-authentication encoding, not the bare payload', async (t) => {
  const { store, statement, keys } = await fixture(t);
  const { loadSigningKey } = await import('../../src/store/keys.js');
  const key = await loadSigningKey(store.root);
  const payload = canonicalBytes(statement);
  const bare = edSign(null, payload, key.privateKey).toString('base64');
  rejectsAt('signature', () =>
    verifyEnvelope(
      {
        payloadType: IN_TOTO_PAYLOAD_TYPE,
        payload: payload.toString('base64'),
        signatures: [{ keyid: key.keyId, sig: bare }],
      },
      keys,
    ),
  );
  const pae = edSign(null, preAuthEncoding(IN_TOTO_PAYLOAD_TYPE, payload), key.privateKey).toString('base64');
  assert.equal(
    verifyEnvelope(
      {
        payloadType: IN_TOTO_PAYLOAD_TYPE,
        payload: payload.toString('base64'),
        signatures: [{ keyid: key.keyId, sig: pae }],
      },
      keys,
    ).keyId,
    key.keyId,
  );
});
