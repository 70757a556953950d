/**
 * The receipt log of a seeded store. Its entries are the closure's logged
 * receipts in the source's order. When they are a prefix of the source log
 * (always so for the whole store), the source lines are copied byte for byte, so
 * entry digests are the source's; when they are the whole log, the source's
 * signed head is copied too and still verifies (the source key is trusted in the
 * seed), and the seed needs no private key at all. Otherwise the entries are
 * re-chained (same receipts, steps and times; new seq and prev) and the new head
 * is signed at seed time with the source store's key. The line and head formats
 * are those of src/receipt/receipt-log.ts; the seed is verified with the real
 * reader before it becomes visible, so a drift cannot go unnoticed.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { canonicalize } from '../core/canonical-json.js';
import type { Digest } from '../core/digest.js';
import { digestBytes } from '../core/digest.js';
import { AslError, fsError } from '../core/errors.js';
import { loadSigningKey } from '../store/keys.js';
import {
  LOG_HEAD_FILE,
  LOG_HEAD_TYPE,
  RECEIPT_LOG_FILE,
  readReceiptLog,
  signedHeadBytes,
  type LogEntry,
  type LogHead,
} from '../receipt/receipt-log.js';
import type { Store } from '../store/store.js';
import type { Closure } from './closure.js';

export type SeedLogMode = 'empty' | 'verbatim' | 'prefix' | 'resigned';

export interface SeedLog {
  mode: SeedLogMode;
  /** Bytes of log/receipts.log (empty for an empty log). */
  log: Buffer;
  /** Bytes of log/head.json, or null for an empty log. */
  head: Buffer | null;
  /** Key that signed the head. */
  headKeyId: string | null;
}

async function signHead(source: Store, head: LogHead, why: string): Promise<{ bytes: Buffer; keyId: string }> {
  let key;
  try {
    key = await loadSigningKey(source.root);
  } catch (err) {
    throw new AslError(
      'BAD_INPUT',
      `${source.root}: ${why} needs a new signed log head, and this store has no signing key (${(err as Error).message}); seed the whole store, or seed from the store that signed these receipts`,
      { cause: err },
    );
  }
  return { bytes: signedHeadBytes(head, key), keyId: key.keyId };
}

export async function buildSeedLog(source: Store, closure: Closure, now = new Date()): Promise<SeedLog> {
  if (closure.receipts.length === 0) return { mode: 'empty', log: Buffer.alloc(0), head: null, headKeyId: null };
  const { head, records } = await readReceiptLog(source);
  if (!head) throw new AslError('CORRUPT', `${source.root}: receipts are logged but the log has no head`);
  const logPath = join(source.root, RECEIPT_LOG_FILE);
  const bytes = await readFile(logPath).catch((err) => {
    throw fsError(logPath, err, 'cannot read the receipt log');
  });
  const committed = bytes.subarray(0, head.size);
  const time = now.toISOString();

  const isPrefix = closure.receipts.every((r, i) => r.seq === i + 1 && records[i]?.entry.receipt === r.id);
  if (isPrefix) {
    const k = closure.receipts.length;
    // Line k ends at the k-th newline of the committed bytes.
    let end = 0;
    for (let i = 0; i < k; i++) end = committed.indexOf(0x0a, end) + 1;
    const log = Buffer.from(committed.subarray(0, end));
    if (k === head.seq) {
      const headPath = join(source.root, LOG_HEAD_FILE);
      const headBytes = await readFile(headPath).catch((err) => {
        throw fsError(headPath, err, 'cannot read the log head');
      });
      return { mode: 'verbatim', log, head: headBytes, headKeyId: null };
    }
    const last = records[k - 1]!;
    const signed = await signHead(
      source,
      { _type: LOG_HEAD_TYPE, seq: k, entry: last.digest, size: log.length, time },
      'seeding the first part of the history',
    );
    return { mode: 'prefix', log, head: signed.bytes, headKeyId: signed.keyId };
  }

  const lines: string[] = [];
  let prev: Digest | null = null;
  let digest: Digest | null = null;
  closure.receipts.forEach((r, i) => {
    const entry: LogEntry = { seq: i + 1, prev, receipt: r.id, step: r.step, time: r.time };
    const json = canonicalize(entry);
    digest = digestBytes(json);
    lines.push(`${digest}\t${json}\n`);
    prev = digest;
  });
  const log = Buffer.from(lines.join(''), 'utf8');
  const signed = await signHead(
    source,
    { _type: LOG_HEAD_TYPE, seq: lines.length, entry: digest!, size: log.length, time },
    'seeding selected receipts',
  );
  return { mode: 'resigned', log, head: signed.bytes, headKeyId: signed.keyId };
}
