/**
 * The bytes of a pack index (objects-v1/packs/<H>.idx), with no I/O; the writer
 * is native/asl_pack.c, the format is in docs/store-format.md ("Packs").
 *
 *   "asl-pidx v1\n"  u64 count  u64 pack size  count × (32-byte digest, u64 offset, u64 size)
 *
 * Integers are big-endian, records sorted by digest with no repeats, and H is
 * the sha256 of the whole file, so an index is checked by its own name.
 */
import { AslError } from '../core/errors.js';

export const PACK_MAGIC = Buffer.from('asl-pack v1\n');
export const INDEX_MAGIC = Buffer.from('asl-pidx v1\n');
export const INDEX_HEADER_BYTES = INDEX_MAGIC.length + 16;
export const INDEX_RECORD_BYTES = 48;
export const PACK_SUFFIX = '.pack';
export const INDEX_SUFFIX = '.idx';

/** A parsed index: the records stay in the file's bytes and are searched in place. */
export interface PackIndex {
  /** The pack's name (H, 64 hex digits). */
  name: string;
  count: number;
  packSize: number;
  bytes: Buffer;
}

/** Where an entry's bytes are in its pack. */
export interface PackEntry {
  offset: number;
  size: number;
}

function corrupt(name: string, what: string): AslError {
  return new AslError('CORRUPT', `pack index ${name}${INDEX_SUFFIX} is corrupt: ${what}`, { data: { pack: name } });
}

/**
 * Checks the header and the length; `strict` also checks that records are
 * sorted without repeats and lie inside the pack (what verify does; readers
 * only rely on the digest check of every read).
 */
export function parsePackIndex(name: string, bytes: Buffer, strict = false): PackIndex {
  const { count, packSize } = parsePackIndexHead(name, bytes, bytes.length);
  if (strict) {
    for (let i = 0; i < count; i++) {
      const at = INDEX_HEADER_BYTES + i * INDEX_RECORD_BYTES;
      if (i > 0 && bytes.compare(bytes, at - INDEX_RECORD_BYTES, at - INDEX_RECORD_BYTES + 32, at, at + 32) <= 0) {
        throw corrupt(name, `entry ${i} is out of order`);
      }
      const { offset, size } = entryAt(bytes, i);
      if (offset < PACK_MAGIC.length || offset + size > packSize)
        throw corrupt(name, `entry ${i} (sha256:${bytes.toString('hex', at, at + 32)}) lies outside the pack`);
    }
  }
  return { name, count, packSize, bytes };
}

/**
 * An index's count and pack size from its first INDEX_HEADER_BYTES, checked
 * against the whole file's length (`fileSize`): what a reader that searches the
 * records in the file, without reading them all, relies on.
 */
export function parsePackIndexHead(name: string, head: Buffer, fileSize: number): { count: number; packSize: number } {
  if (head.length < INDEX_HEADER_BYTES || !head.subarray(0, INDEX_MAGIC.length).equals(INDEX_MAGIC))
    throw corrupt(name, 'bad header');
  const count = Number(head.readBigUInt64BE(INDEX_MAGIC.length));
  const packSize = Number(head.readBigUInt64BE(INDEX_MAGIC.length + 8));
  if (fileSize !== INDEX_HEADER_BYTES + count * INDEX_RECORD_BYTES)
    throw corrupt(name, `${fileSize} bytes for ${count} entries`);
  return { count, packSize };
}

/** The digest of record `i`, as sha256:<hex>. */
export function entryDigest(index: PackIndex, i: number): string {
  const at = INDEX_HEADER_BYTES + i * INDEX_RECORD_BYTES;
  return `sha256:${index.bytes.toString('hex', at, at + 32)}`;
}

function entryAt(bytes: Buffer, i: number): PackEntry {
  const at = INDEX_HEADER_BYTES + i * INDEX_RECORD_BYTES;
  return { offset: Number(bytes.readBigUInt64BE(at + 32)), size: Number(bytes.readBigUInt64BE(at + 40)) };
}

export function packEntryAt(index: PackIndex, i: number): PackEntry {
  return entryAt(index.bytes, i);
}

/** Binary search for a raw 32-byte digest. */
export function findInPackIndex(index: PackIndex, raw: Buffer): PackEntry | undefined {
  let lo = 0;
  let hi = index.count;
  const b = index.bytes;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const at = INDEX_HEADER_BYTES + mid * INDEX_RECORD_BYTES;
    const c = b.compare(raw, 0, 32, at, at + 32);
    if (c === 0) return entryAt(b, mid);
    // b.compare(target…) compares b's range against raw: > 0 means the record sorts after raw.
    if (c > 0) hi = mid;
    else lo = mid + 1;
  }
  return undefined;
}
