// Where an object's bytes live in a store (a loose file, or a range of a pack),
// so tests can read or damage exactly those bytes whichever way they are stored.
import { existsSync, readdirSync } from 'node:fs';
import { chmod, open } from 'node:fs/promises';
import type { Digest } from '../../src/core/digest.js';
import { loadedPackIndexes, locateObjectSync, packsDir } from '../../src/store/object-locate.js';
import { entryDigest } from '../../src/store/pack-index.js';

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
  return loadedPackIndexes(store).flatMap((index) => Array.from({ length: index.count }, (_, i) => entryDigest(index, i))).sort();
}

/** The names in objects-v1/packs (empty if there is none). */
export function packFiles(store: string): string[] {
  return existsSync(packsDir(store)) ? readdirSync(packsDir(store)).sort() : [];
}
