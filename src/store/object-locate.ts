/**
 * Where an object's bytes live: a loose file (objects-v1/sha256/ab/cdef…) or a
 * range of a pack (objects-v1/packs/<H>.pack, found through <H>.idx). Every
 * reader goes through here, so no other code needs to know the layout.
 *
 * Each process reads every index once and searches it in memory (a big index
 * only once the process has asked it a few hundred times: until then it is
 * searched in its file). Packs are immutable and only ever added, so a cached
 * index is never wrong; on a miss the packs folder is listed again to pick up
 * packs other writers committed meanwhile.
 */
import { closeSync, fstatSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
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
  parsePackIndexHead,
  type PackEntry,
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

/** One committed pack, as this process knows it. */
interface KnownPack {
  name: string;
  /** The pack file's path, and its index's. */
  path: string;
  indexPath: string;
  count: number;
  /** The index read whole (searched in memory), once this process asks it often enough. */
  index?: PackIndex;
  /**
   * With `index`: one bit per slot of the first bits of the digests it holds (about
   * 8 slots per object, so 1 byte per object against 28 for a Set of prefixes): a
   * lookup binary-searches only the packs whose bit is set. A store that pulled from
   * registries has a pack per 8 MiB, and a pull asks about every object of the closure.
   */
  filter?: { bits: Uint32Array; shift: number };
  /** Lookups answered from the file, before the index is read whole. */
  lookups: number;
}

interface PackSet {
  /** Index file names already read (including ones that did not parse: they are not retried). */
  seen: Set<string>;
  packs: KnownPack[];
}

/**
 * An index at least this big (about 22,000 objects) is first searched in its file,
 * one positioned read per step of the binary search, and read whole only after
 * LAZY_LOOKUPS lookups: a command that asks about a few objects of a big store (an
 * unchanged `asl put` of a million files asks about two) neither reads 45 MB of index
 * nor keeps it.
 */
const LAZY_INDEX_BYTES = 1 << 20;
const LAZY_LOOKUPS = 256;

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
    const indexPath = join(packsDir(storeRoot), name);
    try {
      const pack: KnownPack = {
        name: hex,
        path: join(packsDir(storeRoot), hex + PACK_SUFFIX),
        indexPath,
        count: 0,
        lookups: 0,
      };
      if (statSync(indexPath).size < LAZY_INDEX_BYTES) readWhole(pack);
      else pack.count = countInFile(hex, indexPath);
      set.packs.push(pack);
      added = true;
    } catch {
      // An unreadable or malformed index hides its pack from readers; verify reports it.
    }
  }
  return added;
}

/** The number of records of an index, from its header and its length: the records stay in the file. */
function countInFile(name: string, path: string): number {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(INDEX_HEADER_BYTES);
    const got = readSync(fd, head, 0, head.length, 0);
    return parsePackIndexHead(name, head.subarray(0, got), fstatSync(fd).size).count;
  } finally {
    closeSync(fd);
  }
}

function readWhole(pack: KnownPack): void {
  const index = parsePackIndex(pack.name, readFileSync(pack.indexPath));
  const slots = Math.max(1024, 2 ** Math.ceil(Math.log2(index.count * 8 || 1)));
  const bits = new Uint32Array(slots / 32);
  const shift = 32 - Math.log2(slots);
  for (let i = 0; i < index.count; i++) {
    const slot = index.bytes.readUInt32BE(INDEX_HEADER_BYTES + i * INDEX_RECORD_BYTES) >>> shift;
    bits[slot >>> 5]! |= 1 << (slot & 31);
  }
  pack.index = index;
  pack.count = index.count;
  pack.filter = { bits, shift };
}

/** Binary search of an index in its file; undefined when absent (or when the file no longer reads). */
function findInFile(pack: KnownPack, raw: Buffer): PackEntry | undefined {
  let fd: number;
  try {
    fd = openSync(pack.indexPath, 'r');
  } catch {
    return undefined;
  }
  try {
    const rec = Buffer.alloc(INDEX_RECORD_BYTES);
    let lo = 0;
    let hi = pack.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (readSync(fd, rec, 0, rec.length, INDEX_HEADER_BYTES + mid * INDEX_RECORD_BYTES) !== rec.length)
        return undefined;
      const c = rec.compare(raw, 0, 32, 0, 32);
      if (c === 0) return { offset: Number(rec.readBigUInt64BE(32)), size: Number(rec.readBigUInt64BE(40)) };
      if (c > 0) hi = mid;
      else lo = mid + 1;
    }
    return undefined;
  } finally {
    closeSync(fd);
  }
}

function packSet(storeRoot: string): PackSet {
  let set = packSets.get(storeRoot);
  if (!set) {
    set = { seen: new Set(), packs: [] };
    packSets.set(storeRoot, set);
    refreshPacks(storeRoot, set);
  }
  return set;
}

/** The committed packs' indexes, as this process knows them (re-listed first), each read whole. */
export function loadedPackIndexes(storeRoot: string): readonly PackIndex[] {
  const set = packSet(storeRoot);
  refreshPacks(storeRoot, set);
  for (const p of set.packs) if (!p.index) readWhole(p);
  return set.packs.map((p) => p.index!);
}

/** How this process holds a store's pack indexes: how many it knows, how many it read whole. */
export function packIndexState(storeRoot: string): { packs: number; readWhole: number } {
  const packs = packSets.get(storeRoot)?.packs ?? [];
  return { packs: packs.length, readWhole: packs.filter((p) => p.index).length };
}

function findPacked(set: PackSet, raw: Buffer): ObjectLocation | undefined {
  const prefix = raw.readUInt32BE(0);
  for (const pack of set.packs) {
    let entry: PackEntry | undefined;
    if (!pack.index && ++pack.lookups > LAZY_LOOKUPS) {
      try {
        readWhole(pack);
      } catch {
        // Unreadable now: keep searching it in its file (a read of its objects will say what is wrong).
        pack.lookups = Number.NEGATIVE_INFINITY;
      }
    }
    if (pack.index) {
      const slot = prefix >>> pack.filter!.shift;
      if ((pack.filter!.bits[slot >>> 5]! & (1 << (slot & 31))) === 0) continue;
      entry = findInPackIndex(pack.index, raw);
    } else entry = findInFile(pack, raw);
    if (entry) return { kind: 'packed', path: pack.path, pack: pack.name, ...entry };
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
