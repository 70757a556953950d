// Where an object's bytes live in a store (a loose file, or a range of a pack),
// so tests can read or damage exactly those bytes whichever way they are stored.
import { existsSync, readdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { chmod, open, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Digest } from '../../src/core/digest.js';
import { loadedPackIndexes, locateObjectSync, packsDir } from '../../src/store/object-locate.js';
import {
  INDEX_HEADER_BYTES,
  INDEX_MAGIC,
  INDEX_RECORD_BYTES,
  INDEX_SUFFIX,
  PACK_SUFFIX,
  entryDigest,
  parsePackIndex,
} from '../../src/store/pack-index.js';

export interface StoredBytes {
  file: string;
  offset: number;
  size: number;
  packed: boolean;
}

export function objectBytesAt(store: string, id: string): StoredBytes {
  const loc = locateObjectSync({ root: store }, id as Digest);
  if (!loc) throw new Error(`${id}: not in store ${store}`);
  return loc.kind === 'loose'
    ? { file: loc.path, offset: 0, size: loc.size, packed: false }
    : { file: loc.path, offset: loc.offset, size: loc.size, packed: true };
}

/** The stored bytes of an object, unverified. */
export async function readStoredBytes(store: string, id: string): Promise<Buffer> {
  const at = objectBytesAt(store, id);
  const fh = await open(at.file, 'r');
  try {
    const buf = Buffer.alloc(at.size);
    await fh.read(buf, 0, at.size, at.offset);
    return buf;
  } finally {
    await fh.close();
  }
}

/** XORs one byte of an object where it is stored (`index` within the object). */
export async function flipStoredByte(store: string, id: string, index = 0, mask = 0x01): Promise<StoredBytes> {
  const at = objectBytesAt(store, id);
  await chmod(at.file, 0o644);
  const fh = await open(at.file, 'r+');
  try {
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, at.offset + index);
    b[0]! ^= mask;
    await fh.write(b, 0, 1, at.offset + index);
  } finally {
    await fh.close();
  }
  await chmod(at.file, 0o444);
  return at;
}

/** Every object id in the store's committed packs (their indexes), sorted. */
export function packedObjectIds(store: string): string[] {
  return loadedPackIndexes(store)
    .flatMap((index) => Array.from({ length: index.count }, (_, i) => entryDigest(index, i)))
    .sort();
}

/** The names in objects-v1/packs (empty if there is none). */
export function packFiles(store: string): string[] {
  return existsSync(packsDir(store)) ? readdirSync(packsDir(store)).sort() : [];
}

/**
 * Makes an object disappear from a store: a loose file is deleted; a packed
 * object's record is dropped from its index, which is written again under its
 * new name (the sha256 of the new index), with the pack renamed to match.
 */
export async function removeStoredObject(store: string, id: string): Promise<void> {
  const at = objectBytesAt(store, id);
  if (!at.packed) {
    await unlink(at.file);
    return;
  }
  const dir = dirname(at.file);
  const name = basename(at.file, PACK_SUFFIX);
  const index = parsePackIndex(name, await readFile(join(dir, name + INDEX_SUFFIX)));
  const raw = Buffer.from(id.slice(7), 'hex');
  const records: Buffer[] = [];
  for (let i = 0; i < index.count; i++) {
    const rec = index.bytes.subarray(
      INDEX_HEADER_BYTES + i * INDEX_RECORD_BYTES,
      INDEX_HEADER_BYTES + (i + 1) * INDEX_RECORD_BYTES,
    );
    if (!rec.subarray(0, 32).equals(raw)) records.push(rec);
  }
  const header = Buffer.from(index.bytes.subarray(0, INDEX_HEADER_BYTES));
  header.writeBigUInt64BE(BigInt(records.length), INDEX_MAGIC.length);
  const bytes = Buffer.concat([header, ...records]);
  const fresh = createHash('sha256').update(bytes).digest('hex');
  await writeFile(join(dir, fresh + INDEX_SUFFIX), bytes, { mode: 0o444 });
  await rename(at.file, join(dir, fresh + PACK_SUFFIX));
  await unlink(join(dir, name + INDEX_SUFFIX));
}
