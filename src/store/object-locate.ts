/**
 * Where an object's bytes live: a loose file (objects-v1/sha256/ab/cdef…) or a
 * range of a pack (objects-v1/packs/<H>.pack, found through <H>.idx). Every
 * reader goes through here, so no other code needs to know the layout.
 *
 * Each process reads every index once and searches it in memory. Packs are
 * immutable and only ever added, so a cached index is never wrong; on a miss
 * the packs folder is listed again to pick up packs other writers committed
 * meanwhile.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Digest } from '../core/digest.js';
import { digestHex } from '../core/digest.js';
import { OBJECTS_DIR, objectPath } from './layout.js';
import {
  INDEX_HEADER_BYTES,
  INDEX_RECORD_BYTES,
  INDEX_SUFFIX,
  PACK_SUFFIX,
  findInPackIndex,
  parsePackIndex,
  type PackIndex,
} from './pack-index.js';
import type { Store } from './store.js';

export type ObjectLocation =
  | { kind: 'loose'; path: string; size: number }
  | { kind: 'packed'; path: string; pack: string; offset: number; size: number };

const PACKS_DIR = 'packs';

export function packsDir(storeRoot: string): string {
  return join(storeRoot, OBJECTS_DIR, PACKS_DIR);
}

interface PackSet {
  /** Index file names already read (including ones that did not parse: they are not retried). */
  seen: Set<string>;
  indexes: PackIndex[];
  /**
   * For each index, the first four bytes of every digest it holds: a lookup asks
   * each pack's set (a hash probe) and binary-searches only the packs that may
   * hold the digest. A store that pulled from registries has a pack per 8 MiB, and
   * a pull asks about every object of the closure.
   */
  prefixes: Array<Set<number>>;
  /** For each index, its pack file's path. */
  paths: string[];
}

const packSets = new Map<string, PackSet>();

/** Reads the indexes not read yet; returns whether any was added. */
function refreshPacks(storeRoot: string, set: PackSet): boolean {
  let names: string[];
  try {
    names = readdirSync(packsDir(storeRoot));
  } catch {
    return false;
  }
  let added = false;
  for (const name of names) {
    if (!name.endsWith(INDEX_SUFFIX) || set.seen.has(name)) continue;
    set.seen.add(name);
    const hex = name.slice(0, -INDEX_SUFFIX.length);
    if (!/^[0-9a-f]{64}$/.test(hex)) continue;
    try {
      const index = parsePackIndex(hex, readFileSync(join(packsDir(storeRoot), name)));
      const prefixes = new Set<number>();
      for (let i = 0; i < index.count; i++)
        prefixes.add(index.bytes.readUInt32BE(INDEX_HEADER_BYTES + i * INDEX_RECORD_BYTES));
      set.indexes.push(index);
      set.prefixes.push(prefixes);
      set.paths.push(join(packsDir(storeRoot), hex + PACK_SUFFIX));
      added = true;
    } catch {
      // An unreadable or malformed index hides its pack from readers; verify reports it.
    }
  }
  return added;
}

function packSet(storeRoot: string): PackSet {
  let set = packSets.get(storeRoot);
  if (!set) {
    set = { seen: new Set(), indexes: [], prefixes: [], paths: [] };
    packSets.set(storeRoot, set);
    refreshPacks(storeRoot, set);
  }
  return set;
}

/** The committed packs' indexes, as this process knows them (re-listed first). */
export function loadedPackIndexes(storeRoot: string): readonly PackIndex[] {
  const set = packSet(storeRoot);
  refreshPacks(storeRoot, set);
  return set.indexes;
}

function findPacked(set: PackSet, raw: Buffer): ObjectLocation | undefined {
  const prefix = raw.readUInt32BE(0);
  for (let i = 0; i < set.indexes.length; i++) {
    if (!set.prefixes[i]!.has(prefix)) continue;
    const index = set.indexes[i]!;
    const entry = findInPackIndex(index, raw);
    if (entry) return { kind: 'packed', path: set.paths[i]!, pack: index.name, ...entry };
  }
  return undefined;
}

/**
 * Where `digest`'s bytes are, or undefined if the store does not have it. A miss
 * lists the packs folder again, unless `refresh` is false (a caller asking about
 * thousands of objects it expects to miss, which refreshed once already).
 */
export function locateObjectSync(store: Store, digest: Digest, refresh = true): ObjectLocation | undefined {
  const raw = Buffer.from(digestHex(digest), 'hex');
  const set = packSet(store.root);
  const packed = findPacked(set, raw);
  if (packed) return packed;
  const path = objectPath(store.root, digest);
  const st = statSync(path, { throwIfNoEntry: false });
  if (st) return { kind: 'loose', path, size: st.size };
  return refresh && refreshPacks(store.root, set) ? findPacked(set, raw) : undefined;
}

/** Where `digest` is in a pack, or undefined; a miss lists the packs folder again when `refresh` is true. */
export function locatePackedSync(store: Store, digest: Digest, refresh = true): ObjectLocation | undefined {
  const raw = Buffer.from(digestHex(digest), 'hex');
  const set = packSet(store.root);
  return findPacked(set, raw) ?? (refresh && refreshPacks(store.root, set) ? findPacked(set, raw) : undefined);
}

/** locateObjectSync with the loose stat on the threadpool. */
export async function locateObject(store: Store, digest: Digest): Promise<ObjectLocation | undefined> {
  const raw = Buffer.from(digestHex(digest), 'hex');
  const set = packSet(store.root);
  const packed = findPacked(set, raw);
  if (packed) return packed;
  const path = objectPath(store.root, digest);
  const st = await stat(path).catch(() => undefined);
  if (st) return { kind: 'loose', path, size: st.size };
  return refreshPacks(store.root, set) ? findPacked(set, raw) : undefined;
}

export async function objectExists(store: Store, digest: Digest): Promise<boolean> {
  return (await locateObject(store, digest)) !== undefined;
}

/** Synchronous objectExists: one stat at most (for hot loops). */
export function objectExistsSync(store: Store, digest: Digest): boolean {
  return locateObjectSync(store, digest) !== undefined;
}

/** Describes a location for messages: the loose file, or the pack and offset. */
export function describeLocation(loc: ObjectLocation): string {
  return loc.kind === 'loose' ? loc.path : `${loc.path} at offset ${loc.offset}`;
}
