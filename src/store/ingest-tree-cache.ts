/**
 * The tree cache: a directory's "ingredients" -> its tree object's id and totals,
 * so re-snapshotting an unchanged directory neither builds nor encodes nor
 * hashes its tree. The key is a sha256 over everything the tree is made of: the
 * tree format, the directory's own record (mode, owner, xattr values…), the
 * records of its entries as listed (name, type, mode, owner, device, inode,
 * size, mtime and ctime in ns, symlink target, xattr values) and the ids of its
 * sub-trees. A regular file's content enters through (device, inode, size,
 * mtime, ctime), exactly the stat cache's assumption, with the same racy margin:
 * a directory with any entry (or itself) changed within the margin of the
 * snapshot is never remembered. Directories holding hard links are never cached
 * either (a hard link names another path of the snapshot, outside the key).
 *
 * Times objects are remembered the same way (timesCacheKey).
 *
 * Stored beside the stat cache (cache/tree-v1.bin), loaded and saved with it,
 * authenticated the same way (an HMAC under the store's cache key). Like it, it
 * is only a cache: a torn, corrupt or forged file is ignored; deleting it costs
 * time, never correctness.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Digest } from '../core/digest.js';
import { writeFileAtomic } from '../core/write-file-atomic.js';
import { STORE_MODES } from './store-modes.js';
import { TIMES_FORMAT } from './times-model.js';
import { TREE_FORMAT, type TreeTotals } from './tree-model.js';

const MAGIC = Buffer.from('ASLTREE2');
const HEADER = MAGIC.length + 32;
const RECORD = 32 + 32 + 4 * 8; // key, tree digest, totals files dirs other bytes (f64)
const KEY_TAG = Buffer.from(`asl tree-cache key v1 ${TREE_FORMAT}\0`);
const TIMES_KEY_TAG = Buffer.from(`asl times-cache key v1 ${TIMES_FORMAT}\0`);
/** Records kept besides the ones used by the latest snapshot, most recent first. */
const KEEP_MIN = 16384;

export interface CachedTree {
  digest: Digest;
  totals: TreeTotals;
}

/** The cache key of one directory (see the file comment). `subtrees`: raw 32-byte ids in entry order. */
export function treeCacheKey(self: Buffer, listing: readonly Buffer[], subtrees: readonly Buffer[]): Buffer {
  const h = createHash('sha256').update(KEY_TAG);
  const len = Buffer.allocUnsafe(4);
  len.writeUInt32LE(self.length);
  h.update(len).update(self);
  for (const part of listing) h.update(part);
  h.update('\0subtrees\0');
  for (const s of subtrees) h.update(s);
  return h.digest();
}

/**
 * The cache key of a times object: it is a pure function of the tree id and the
 * times list, so an unchanged re-snapshot finds it instead of encoding it again.
 */
export function timesCacheKey(tree: Digest, mtimes: Float64Array): Buffer {
  return createHash('sha256')
    .update(TIMES_KEY_TAG)
    .update(tree)
    .update(new Uint8Array(mtimes.buffer, mtimes.byteOffset, mtimes.byteLength))
    .digest();
}

/** HMAC-SHA256 under the store's cache key of a cache file's magic and body: what its header holds. */
export function cacheMac(key: Buffer, magic: Buffer, body: Buffer): Buffer {
  return createHmac('sha256', key).update(magic).update(body).digest();
}

export class TreeCache {
  /** key (latin1 string of the 32 bytes) -> record (latin1 string of the remaining 64 bytes); insertion order = recency. */
  private readonly records: Map<string, string>;
  private readonly used = new Map<string, string>();
  private added = 0;

  private constructor(records: Map<string, string>) {
    this.records = records;
  }

  static empty(): TreeCache {
    return new TreeCache(new Map());
  }

  /** Reads the cache at `path` if its MAC under `key` holds; else (or without a key) an empty cache. */
  static async load(path: string, key: Buffer | null): Promise<TreeCache> {
    let buf: Buffer | undefined;
    if (!key) return TreeCache.empty();
    try {
      buf = await readFile(path);
    } catch {
      return TreeCache.empty();
    }
    const records = new Map<string, string>();
    if (buf.length >= HEADER && buf.subarray(0, MAGIC.length).equals(MAGIC) && (buf.length - HEADER) % RECORD === 0) {
      const body = buf.subarray(HEADER);
      if (timingSafeEqual(cacheMac(key, MAGIC, body), buf.subarray(MAGIC.length, HEADER))) {
        for (let o = 0; o < body.length; o += RECORD) {
          records.set(body.toString('latin1', o, o + 32), body.toString('latin1', o + 32, o + RECORD));
        }
      }
    }
    return new TreeCache(records);
  }

  get size(): number {
    return this.records.size;
  }

  lookup(key: Buffer): CachedTree | undefined {
    const k = key.toString('latin1');
    const rec = this.used.get(k) ?? this.records.get(k);
    if (rec === undefined) return undefined;
    this.used.set(k, rec);
    const b = Buffer.from(rec, 'latin1');
    return {
      digest: `sha256:${b.toString('hex', 0, 32)}`,
      totals: {
        files: b.readDoubleLE(32),
        dirs: b.readDoubleLE(40),
        other: b.readDoubleLE(48),
        bytes: b.readDoubleLE(56),
      },
    };
  }

  remember(key: Buffer, digest: Digest, totals: TreeTotals): void {
    const b = Buffer.allocUnsafe(RECORD - 32);
    b.write(digest.slice(7), 0, 32, 'hex');
    b.writeDoubleLE(totals.files, 32);
    b.writeDoubleLE(totals.dirs, 40);
    b.writeDoubleLE(totals.other, 48);
    b.writeDoubleLE(totals.bytes, 56);
    this.used.set(key.toString('latin1'), b.toString('latin1'));
    this.added++;
  }

  get dirty(): boolean {
    return this.added > 0;
  }

  /**
   * Writes the records used or added by this process first, then older ones up
   * to a bound, and replaces the file atomically. Concurrent writers may drop
   * each other's additions; that only costs rebuilding trees.
   */
  async save(path: string, key: Buffer): Promise<void> {
    if (this.added === 0) return;
    const keep = Math.max(KEEP_MIN, 4 * this.used.size);
    const out: string[] = [];
    for (const [k, v] of this.used) out.push(k, v);
    let n = this.used.size;
    for (const [k, v] of this.records) {
      if (n >= keep) break;
      if (this.used.has(k)) continue;
      out.push(k, v);
      n++;
    }
    const body = Buffer.from(out.join(''), 'latin1');
    const header = Buffer.concat([MAGIC, cacheMac(key, MAGIC, body)]);
    // A cache: checked when read, rebuilt when missing, so neither fsync nor an error matters.
    await writeFileAtomic(path, Buffer.concat([header, body]), { durable: 'none', mode: STORE_MODES.file }).catch(
      () => undefined,
    );
    for (const [k, v] of this.used) this.records.set(k, v);
    this.added = 0;
  }
}
