import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { canonicalBytes, canonicalize } from '../../src/core/canonical-json.js';
import { digestBytes } from '../../src/core/digest.js';
import type { DsseEnvelope } from '../../src/core/dsse.js';
import { IN_TOTO_PAYLOAD_TYPE, PER_PREDICATE_TYPE } from '../../src/receipt/types.js';
import { verifyEnvelope } from '../../src/receipt/verify.js';
import { keyIdOfPublicKey } from '../../src/store/keys.js';
import { LOG_HEAD_PAYLOAD_TYPE, LOG_HEAD_TYPE } from '../../src/receipt/receipt-log.js';
import { checkSignatures } from '../../src/receipt/trusted-keys.js';
import { REPO_ROOT } from '../helpers.js';

/** The fenced block that follows `<!-- example:NAME -->` in the doc. */
function block(doc: string, name: string): string {
  const m = new RegExp(`<!-- example:${name} -->\\n\`\`\`[a-z]*\\n([\\s\\S]*?)\`\`\``).exec(doc);
  assert.ok(m, `docs/receipt-format.md has no example:${name} block`);
  return m[1]!;
}

test('docs/receipt-format.md: the example receipt, log line and head verify with the code', async () => {
  const doc = await readFile(join(REPO_ROOT, 'docs', 'receipt-format.md'), 'utf8');
  for (const constant of [PER_PREDICATE_TYPE, IN_TOTO_PAYLOAD_TYPE, LOG_HEAD_PAYLOAD_TYPE, LOG_HEAD_TYPE]) {
    assert.ok(doc.includes(constant), `the doc names ${constant}`);
  }
  const publicKey = createPublicKey(block(doc, 'public-key'));
  const keyId = keyIdOfPublicKey(publicKey);
  const keys = new Map([[keyId, publicKey]]);

  const envelope = JSON.parse(block(doc, 'envelope')) as DsseEnvelope;
  const verified = verifyEnvelope(envelope, keys);
  assert.equal(verified.keyId, keyId);
  assert.deepEqual(verified.statement, JSON.parse(block(doc, 'statement')));
  assert.equal(verified.statement.predicateType, PER_PREDICATE_TYPE);

  const id = block(doc, 'receipt-id').trim();
  assert.equal(id, digestBytes(canonicalBytes(envelope)));

  const line = block(doc, 'log-line');
  const [digest, json] = line.replace(/\n$/, '').split('\t');
  assert.equal(digest, digestBytes(json!));
  const entry = JSON.parse(json!);
  assert.equal(canonicalize(entry), json);
  assert.deepEqual(
    { seq: entry.seq, prev: entry.prev, receipt: entry.receipt, step: entry.step },
    { seq: 1, prev: null, receipt: id, step: verified.statement.predicate.core.step },
  );

  const head = JSON.parse(block(doc, 'head')) as DsseEnvelope;
  assert.equal(head.payloadType, LOG_HEAD_PAYLOAD_TYPE);
  const payload = Buffer.from(head.payload, 'base64');
  assert.deepEqual(checkSignatures(head.payloadType, payload, head.signatures, keys), { ok: true, keyId });
  const headPayload = JSON.parse(payload.toString('utf8'));
  assert.deepEqual(
    { seq: headPayload.seq, entry: headPayload.entry, size: headPayload.size },
    { seq: 1, entry: digest, size: Buffer.byteLength(line) },
  );
});
