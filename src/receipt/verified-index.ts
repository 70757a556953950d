/**
 * The verified-receipts index: which receipts have passed every check of
 * verifyEnvelope (signature by a trusted key, statement shape, canonical form,
 * core digest), so that readers of a long history (`asl log`, `why`, `dag`,
 * `audit`) need not check 10,000 signatures again at every call.
 *
 * cache/verified-receipts-v1.bin: MAGIC, then fixed records of
 * receipt id (32) | core digest (32) | sha256 of the key id (32) | HMAC (32),
 * the HMAC-SHA256 under the store's cache key (keys/cache.key, as the other
 * caches, docs/security.md "Caches") of TAG and the first 96 bytes. Each record
 * stands alone: `asl verify` rewrites the file with what it verified, a capture
 * and a reader that had to verify a receipt append theirs; a torn or forged
 * record, or a whole file that is not ours, is ignored.
 *
 * What an entry is trusted for, and why that is as safe as checking again:
 * the receipt id is the sha256 of the envelope's stored bytes and readObject
 * checks the bytes against it, so an entry speaks only for those exact bytes
 * (a receipt file edited after indexing has another id, or fails the read).
 * Its signature counts only while its key id is still in the trust set (a key
 * untrusted since is checked in full again, and fails), and the statement must
 * still name the indexed core digest. Whoever can read keys/cache.key can forge
 * entries, as for the other caches; `asl verify` never reads this index.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { appendFile, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Digest } from '../core/digest.js';
import { digestFromHex, digestHex } from '../core/digest.js';
import type { DsseEnvelope } from '../core/dsse.js';
import { loadCacheKey } from '../store/keys.js';
import { CACHE_DIR } from '../store/layout.js';
import { readObjectSync } from '../store/object-read.js';
import type { Store } from '../store/store.js';
import { makeDirs, STORE_MODES, writeNewFile } from '../store/store-modes.js';
import { writeFileAtomic } from '../core/write-file-atomic.js';
import type { TrustedKeySet } from './trusted-keys.js';
import { IN_TOTO_PAYLOAD_TYPE, type Statement } from './types.js';
import { type StoredReceipt, verifyEnvelope } from './verify.js';

export const VERIFIED_INDEX_FILE = `${CACHE_DIR}/verified-receipts-v1.bin`;
const MAGIC = Buffer.from('ASLVRCP1');
/** The HMAC's domain: a record of this file, checked by this version's verifyEnvelope. */
const TAG = Buffer.from('asl verified-receipts v1\0');
const BODY = 96;
const RECORD = BODY + 32;

export interface VerifiedEntry {
  id: Digest;
  coreDigest: Digest;
  keyId: string;
}

interface IndexRecord {
  core: Buffer;
  keyHash: Buffer;
}

const keyHash = (keyId: string): Buffer => createHash('sha256').update(keyId, 'utf8').digest();
const raw = (d: Digest): Buffer => Buffer.from(digestHex(d), 'hex');

function encode(key: Buffer, e: VerifiedEntry): Buffer {
  const rec = Buffer.alloc(RECORD);
  raw(e.id).copy(rec, 0);
  raw(e.coreDigest).copy(rec, 32);
  keyHash(e.keyId).copy(rec, 64);
  createHmac('sha256', key).update(TAG).update(rec.subarray(0, BODY)).digest().copy(rec, BODY);
  return rec;
}

function indexPath(store: Store): string {
  return join(store.root, VERIFIED_INDEX_FILE);
}

/**
 * Reads receipts the way readReceipt does, trusting the index for those it
 * lists (see the file comment) and verifying the rest in full; what it had to
 * verify is appended to the index by `remember()`.
 */
export class VerifiedReceiptReader {
  private readonly store: Store;
  private readonly keys: TrustedKeySet;
  private readonly cacheKey: Buffer | null;
  private readonly records: Map<string, IndexRecord>;
  /** sha256 of each trusted key id -> the key id. */
  private readonly trusted: Map<string, string>;
  private readonly learned: VerifiedEntry[] = [];
  /** Receipts read through the index, and verified in full (for tests and the bench). */
  trustedReads = 0;
  fullReads = 0;

  private constructor(store: Store, keys: TrustedKeySet, cacheKey: Buffer | null, records: Map<string, IndexRecord>) {
    this.store = store;
    this.keys = keys;
    this.cacheKey = cacheKey;
    this.records = records;
    this.trusted = new Map([...keys.keys()].map((k) => [keyHash(k).toString('hex'), k]));
  }

  static async open(store: Store, keys: TrustedKeySet): Promise<VerifiedReceiptReader> {
    const cacheKey = await loadCacheKey(store.root);
    const records = new Map<string, IndexRecord>();
    const bytes = cacheKey ? await readFile(indexPath(store)).catch(() => undefined) : undefined;
    if (cacheKey && bytes && bytes.length >= MAGIC.length && bytes.subarray(0, MAGIC.length).equals(MAGIC)) {
      for (let at = MAGIC.length; at + RECORD <= bytes.length; at += RECORD) {
        const rec = bytes.subarray(at, at + RECORD);
        const mac = createHmac('sha256', cacheKey).update(TAG).update(rec.subarray(0, BODY)).digest();
        if (!timingSafeEqual(mac, rec.subarray(BODY))) continue;
        records.set(rec.subarray(0, 32).toString('hex'), {
          core: Buffer.from(rec.subarray(32, 64)),
          keyHash: Buffer.from(rec.subarray(64, 96)),
        });
      }
    }
    return new VerifiedReceiptReader(store, keys, cacheKey, records);
  }

  /** How many receipts the index vouches for (with any key). */
  get size(): number {
    return this.records.size;
  }

  /** The receipt `id`, verified: through the index when it vouches for it, else in full. */
  async read(id: string): Promise<StoredReceipt> {
    // Synchronous: a history is read one small object after another, and a round trip
    // through the threadpool per receipt cost more than the read (idle time under load).
    const bytes = readObjectSync(this.store, id); // checks the bytes hash to `id`
    const record = this.records.get(id.slice('sha256:'.length));
    const keyId = record ? this.trusted.get(record.keyHash.toString('hex')) : undefined;
    if (record && keyId !== undefined) {
      const trusted = trustIndexed(bytes, keyId, digestFromHex(record.core.toString('hex')));
      if (trusted) {
        this.trustedReads++;
        return { ...trusted, id: id as Digest };
      }
    }
    // As readReceipt does (that module stores receipts and appends to this index).
    const receipt = verifyEnvelope(bytes, this.keys, { receiptId: id });
    this.fullReads++;
    this.learned.push({ id: id as Digest, coreDigest: receipt.coreDigest, keyId: receipt.keyId });
    return { ...receipt, id: id as Digest };
  }

  /** Appends what this reader verified in full to the index (best effort: it is only a cache). */
  async remember(): Promise<void> {
    if (this.learned.length === 0) return;
    await appendVerified(this.store, this.learned.splice(0), this.cacheKey);
  }
}

/**
 * The receipt in `bytes`, which the index says verified with `keyId` and core
 * digest `core`; null when they do not say what the index recorded (then the
 * receipt is checked in full).
 */
function trustIndexed(bytes: Buffer, keyId: string, core: Digest): Omit<StoredReceipt, 'id'> | null {
  try {
    const envelope = JSON.parse(bytes.toString('utf8')) as DsseEnvelope;
    if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE || typeof envelope.payload !== 'string') return null;
    if (!Array.isArray(envelope.signatures) || envelope.signatures.length === 0) return null;
    const payload = Buffer.from(envelope.payload, 'base64');
    const statement = JSON.parse(payload.toString('utf8')) as Statement;
    if (statement?.predicate?.coreDigest !== core) return null;
    return { envelope, statement, keyId, payload, coreDigest: core };
  } catch {
    return null;
  }
}

/** Replaces the index with `entries` (what `asl verify` just checked in full). Best effort. */
export async function saveVerified(store: Store, entries: readonly VerifiedEntry[]): Promise<void> {
  const cacheKey = await loadCacheKey(store.root);
  if (!cacheKey) return;
  try {
    await makeDirs(join(store.root, CACHE_DIR));
    await writeFileAtomic(indexPath(store), Buffer.concat([MAGIC, ...entries.map((e) => encode(cacheKey, e))]), {
      durable: 'none',
      mode: STORE_MODES.file,
    });
  } catch {
    // only a cache: readers verify in full what it does not list
  }
}

/** Adds `entries` (receipts just verified in full) to the index. Best effort. */
export async function appendVerified(
  store: Store,
  entries: readonly VerifiedEntry[],
  cacheKey?: Buffer | null,
): Promise<void> {
  const key = cacheKey === undefined ? await loadCacheKey(store.root) : cacheKey;
  if (!key || entries.length === 0) return;
  const path = indexPath(store);
  const records = Buffer.concat(entries.map((e) => encode(key, e)));
  try {
    await makeDirs(join(store.root, CACHE_DIR));
    const size = (await stat(path).catch(() => undefined))?.size ?? -1;
    if (size >= 0 && (size < MAGIC.length || (size - MAGIC.length) % RECORD !== 0)) return; // not ours, or torn: verify rewrites it
    if (size < 0) await writeNewFile(path, MAGIC).catch(() => undefined);
    await appendFile(path, records);
  } catch {
    // only a cache: the receipt is verified in full next time
  }
}
