/**
 * Packs for the registry: many small objects in one blob, so a push or pull is
 * a few dozen requests instead of one or two per object (docs/registry.md,
 * "Packs"). A registry pack is a store pack (docs/store-format.md, "Packs"):
 *
 *   pack   "asl-pack v1\n", then the objects' bytes back to back, in digest order
 *   index  "asl-pidx v1\n", u64 count, u64 pack size, count × (digest, u64 offset, u64 size)
 *
 * with one rule more for what travels: the objects lie in the pack in the
 * index's (digest) order, back to back, from the header to the last byte. A
 * received pack is then read in one pass, every object hashed as it streams
 * by, and nothing in it is unaccounted for. The index's own sha256 names the
 * pack, in the registry as in a store. Pure: no I/O.
 */
import type { Digest } from '../core/digest.js';
import { AslError } from '../core/errors.js';
import {
  INDEX_HEADER_BYTES,
  INDEX_MAGIC,
  INDEX_RECORD_BYTES,
  PACK_MAGIC,
  entryDigest,
  packEntryAt,
  parsePackIndex,
  type PackIndex,
} from '../store/pack-index.js';

/** A push packs objects up to this size; bigger ones travel as blobs of their own (and keep their dedup). */
export const MAX_PACKED_OBJECT = 4 * 1024 * 1024;
/** A pull refuses a packed object bigger than this (it is held in memory while it is checked). */
export const MAX_RECEIVED_PACKED_OBJECT = 64 * 1024 * 1024;
/** A pack is closed once it holds this many bytes: enough packs for parallel streams, few enough requests. */
export const PACK_TARGET_BYTES = 8 * 1024 * 1024;
/** Largest pack index a pull reads (a million objects). */
export const MAX_PACK_INDEX_BYTES = INDEX_HEADER_BYTES + 1024 * 1024 * INDEX_RECORD_BYTES;

export interface PackObject {
  digest: Digest;
  size: number;
}

/** Objects sorted by digest, cut into packs of about `target` bytes. */
export function planPacks(objects: readonly PackObject[], target = PACK_TARGET_BYTES): PackObject[][] {
  const packs: PackObject[][] = [];
  let current: PackObject[] = [];
  let bytes = 0;
  for (const o of objects) {
    current.push(o);
    bytes += o.size;
    if (bytes >= target) {
      packs.push(current);
      current = [];
      bytes = 0;
    }
  }
  if (current.length > 0) packs.push(current);
  return packs;
}

/** The pack's size: the header and every object. */
export function packSize(objects: readonly PackObject[]): number {
  return objects.reduce((n, o) => n + o.size, PACK_MAGIC.length);
}

/** The index of a pack holding `objects` (sorted by digest) back to back after the header. */
export function packIndexBytes(objects: readonly PackObject[]): Buffer {
  const out = Buffer.alloc(INDEX_HEADER_BYTES + objects.length * INDEX_RECORD_BYTES);
  INDEX_MAGIC.copy(out, 0);
  out.writeBigUInt64BE(BigInt(objects.length), INDEX_MAGIC.length);
  out.writeBigUInt64BE(BigInt(packSize(objects)), INDEX_MAGIC.length + 8);
  let offset = PACK_MAGIC.length;
  objects.forEach((o, i) => {
    const at = INDEX_HEADER_BYTES + i * INDEX_RECORD_BYTES;
    const hex = o.digest.slice('sha256:'.length);
    if (i > 0 && objects[i - 1]!.digest >= o.digest)
      throw new Error('packIndexBytes: objects must be sorted by digest without repeats');
    out.write(hex, at, 32, 'hex');
    out.writeBigUInt64BE(BigInt(offset), at + 32);
    out.writeBigUInt64BE(BigInt(o.size), at + 40);
    offset += o.size;
  });
  return out;
}

/** One object of a received pack: where it lies. */
export interface PackSlot {
  digest: Digest;
  offset: number;
  size: number;
}

/**
 * A received index, checked: the store's strict checks (sorted, no repeats,
 * inside the pack), the pack size the manifest gives, and the travel rule
 * (back to back in index order from the header to the end). Returns the slots
 * in index (= offset) order.
 */
export function checkReceivedIndex(
  name: string,
  bytes: Buffer,
  packBytes: number,
  label: string,
): { index: PackIndex; slots: PackSlot[] } {
  let index: PackIndex;
  try {
    index = parsePackIndex(name, bytes, true);
  } catch (err) {
    throw new AslError('CORRUPT', `${label}: ${(err as Error).message}`, { cause: err });
  }
  const bad = (why: string) => new AslError('CORRUPT', `${label}: pack index ${name} ${why}`);
  if (index.packSize !== packBytes)
    throw bad(`describes a pack of ${index.packSize} bytes, but the manifest lists the pack as ${packBytes}`);
  const slots: PackSlot[] = new Array(index.count);
  let expected = PACK_MAGIC.length;
  for (let i = 0; i < index.count; i++) {
    const { offset, size } = packEntryAt(index, i);
    if (offset !== expected)
      throw bad(`places entry ${i} at offset ${offset}, not right after the one before (${expected})`);
    if (size > MAX_RECEIVED_PACKED_OBJECT)
      throw bad(`lists a packed object of ${size} bytes (at most ${MAX_RECEIVED_PACKED_OBJECT})`);
    slots[i] = { digest: entryDigest(index, i) as Digest, offset, size };
    expected += size;
  }
  if (expected !== index.packSize) throw bad(`leaves ${index.packSize - expected} bytes of the pack unaccounted for`);
  return { index, slots };
}
