import { canonicalBytes } from '../core/canonical-json.js';
import { digestBytes, type Digest } from '../core/digest.js';
import type { DsseEnvelope } from '../core/dsse.js';
import { ObjectBatch, objectExists } from '../store/object-batch.js';
import { readObject } from '../store/object-read.js';
import { appendReceiptLog, readReceiptLog, type LogRecord } from './receipt-log.js';
import type { Store } from '../store/store.js';
import { loadTrustedKeys, type TrustedKeySet } from './trusted-keys.js';
import { appendVerified } from './verified-index.js';
import { verifyEnvelope, type StoredReceipt } from './verify.js';

export type { StoredReceipt } from './verify.js';

export interface WriteReceiptResult extends StoredReceipt {
  /** The new log entry; null when the log already held this receipt. */
  record: LogRecord | null;
}

/** Only the DSSE fields, so the stored bytes (and the id) do not depend on extras. */
function envelopeBytes(env: DsseEnvelope): Buffer {
  return canonicalBytes({
    payloadType: env.payloadType,
    payload: env.payload,
    signatures: env.signatures.map((s) => ({ keyid: s.keyid, sig: s.sig })),
  });
}

/**
 * Stores a signed receipt and appends it to the receipt log. The envelope is
 * verified against the store's trusted keys first (nothing unverifiable enters
 * the store). Order, under the log's lock: the log line is durable past the head,
 * then the envelope object, then the head commits the line. So a crash never
 * leaves a stored receipt that no log line names (the next append completes a
 * line left past the head), and verify can report any such receipt as a log
 * that was rolled back. Writing the same receipt again adds no second entry.
 */
export async function writeReceipt(
  store: Store,
  envelope: DsseEnvelope,
  opts: { keys?: TrustedKeySet } = {},
): Promise<WriteReceiptResult> {
  const verified = verifyEnvelope(envelope, opts.keys ?? (await loadTrustedKeys(store)));
  const bytes = envelopeBytes(verified.envelope);
  const existed = await objectExists(store, digestBytes(bytes));
  const batch = new ObjectBatch(store);
  try {
    const id = await batch.addBytes(bytes);
    const [record] = await appendReceiptLog(store, [{ receipt: id, step: verified.statement.predicate.core.step }], {
      skipExisting: existed,
      beforeHead: () => batch.commit(),
    });
    await appendVerified(store, [{ id, coreDigest: verified.coreDigest, keyId: verified.keyId }]);
    return { ...verified, id, record: record ?? null };
  } catch (err) {
    await batch.abort();
    throw err;
  }
}

/** Reads a receipt object and verifies it; throws NOT_FOUND, CORRUPT or ReceiptVerifyError. */
export async function readReceipt(
  store: Store,
  id: string,
  opts: { keys?: TrustedKeySet } = {},
): Promise<StoredReceipt> {
  const bytes = await readObject(store, id);
  const verified = verifyEnvelope(bytes, opts.keys ?? (await loadTrustedKeys(store)), { receiptId: id });
  return { ...verified, id: id as Digest };
}

/** The committed receipt log entries, oldest first. */
export async function listReceipts(store: Store): Promise<LogRecord[]> {
  return (await readReceiptLog(store)).records;
}
