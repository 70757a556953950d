/**
 * The stat cache: (device, inode) -> (size, mtime ns, ctime ns, digest), so an
 * unchanged file is not read again. Stored as one sorted binary file searched in
 * place (no parse step, no per-entry objects), with an HMAC-SHA256 of its body
 * under the store's cache key (keys/cache.key, 0600) in the header: a torn,
 * corrupted or forged cache is ignored, never trusted. A plain checksum would let
 * anyone who can write cache/ rewrite an entry consistently and make `asl put`
 * record old content for a changed file. It is only a cache: deleting it costs
 * time, not correctness. What it is trusted for: docs/security.md, "Caches".
 *
 * Racy entries: a file whose mtime or ctime falls within RACY_MARGIN_NS of the
 * moment it was examined might still change within the same timestamp tick
 * without its stat changing, so it is not cached (re-hashed next time), as git
 * does for "racily clean" index entries. A timestamp with no sub-second part may
 * come from a file system that keeps whole seconds (ext4 with 128-byte inodes,
 * FAT keeps 2 s), where a rewrite later in the same second leaves it unchanged:
 * such a stamp is trusted only once COARSE_TICK_S seconds have passed after it.
 *
 * The tree cache (ingest-tree-cache.ts) lives beside it and is loaded and saved
 * with it, so every caller that keeps the stat cache keeps that one too.
 */
import { timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Digest } from '../core/digest.js';
import { writeFileAtomic } from '../core/write-file-atomic.js';
import { cacheMac, TreeCache } from './ingest-tree-cache.js';
import { loadCacheKey } from './keys.js';
import { CACHE_DIR } from './layout.js';
import type { Store } from './store.js';
import { STORE_MODES } from './store-modes.js';

const MAGIC = Buffer.from('ASLSTAT2');
const HEADER = MAGIC.length + 32;
const RECORD = 8 * 5 + 4 + 4 + 32; // dev ino size mtimeSec ctimeSec (f64) + mtimeNsec ctimeNsec (u32) + digest
const RECORD_F64 = RECORD / 8;
const BLOCK_RECORDS = 1024;
export const RACY_MARGIN_NS = 100_000_000n;
/** The coarsest timestamp granularity assumed for a whole-second stamp (FAT: 2 s). */
const COARSE_TICK_S = 2;
const CACHE_FILE = 'stat-v1.bin';
const TREE_CACHE_FILE = 'tree-v1.bin';

export interface StatKey {
  dev: number;
  ino: number;
  size: number;
  mtimeSec: number;
  mtimeNsec: number;
  ctimeSec: number;
  ctimeNsec: number;
}

/** Typed-array views read the file's little-endian numbers directly only on a little-endian CPU. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** `src` itself when it starts 8-byte aligned (typed-array views can read it), else an aligned copy. */
function aligned(src: Buffer): Buffer {
  if (src.byteOffset % 8 === 0) return src;
  const out = Buffer.from(new ArrayBuffer(src.length));
  src.copy(out);
  return out;
}

/** The instant `examinedAtNs - RACY_MARGIN_NS` as (seconds, nanoseconds). */
export function racyLimit(examinedAtNs: bigint): { sec: number; nsec: number } {
  const limit = examinedAtNs - RACY_MARGIN_NS;
  return { sec: Number(limit / 1_000_000_000n), nsec: Number(limit % 1_000_000_000n) };
}

/**
 * True if a file stamped (sec, nsec) may still change without its stamp changing,
 * as seen at `limit` (the examination time minus the margin): the stamp's tick
 * ends at or after `limit`. A whole-second stamp's tick may last COARSE_TICK_S.
 */
export function isRacy(sec: number, nsec: number, limit: { sec: number; nsec: number }): boolean {
  const end = nsec === 0 ? sec + COARSE_TICK_S : sec;
  return end > limit.sec || (end === limit.sec && nsec >= limit.nsec);
}

export class StatCache {
  private body: Buffer;
  private f64: Float64Array;
  private u32: Uint32Array;
  private count: number;
  /** New records, RECORD bytes each, in arrival order, in fixed-size blocks (no per-entry objects, no regrowth copies). */
  private added: Buffer[] = [];
  private addedCount = 0;
  /** Records absorbed into the body that the file does not hold yet. */
  private unsaved = false;
  /** The body with HEADER bytes of room in front, when it was made by merged(). */
  private withHeader: Buffer | undefined;
  private lastExamined: bigint | undefined;
  private lastLimit = { sec: 0, nsec: 0 };
  private readonly path: string;
  private readonly treePath: string;
  /** The store's cache key; null: nothing is read or saved (a store this process cannot write). */
  private readonly key: Buffer | null;
  /** Directory listings -> tree ids (see ingest-tree-cache.ts). */
  readonly trees: TreeCache;

  private constructor(path: string, treePath: string, body: Buffer, trees: TreeCache, key: Buffer | null) {
    this.path = path;
    this.treePath = treePath;
    this.key = key;
    this.body = aligned(body);
    this.f64 = new Float64Array(this.body.buffer, this.body.byteOffset, this.body.length / 8);
    this.u32 = new Uint32Array(this.body.buffer, this.body.byteOffset, this.body.length / 4);
    this.count = body.length / RECORD;
    this.trees = trees;
  }

  static async load(store: Store): Promise<StatCache> {
    const path = join(store.root, CACHE_DIR, CACHE_FILE);
    const treePath = join(store.root, CACHE_DIR, TREE_CACHE_FILE);
    const key = await loadCacheKey(store.root);
    const [buf, trees] = await Promise.all([
      key ? readFile(path).catch(() => undefined) : undefined,
      TreeCache.load(treePath, key),
    ]);
    let body: Buffer = Buffer.alloc(0);
    if (
      key &&
      buf &&
      buf.length >= HEADER &&
      buf.subarray(0, MAGIC.length).equals(MAGIC) &&
      (buf.length - HEADER) % RECORD === 0
    ) {
      const candidate = buf.subarray(HEADER);
      if (timingSafeEqual(cacheMac(key, MAGIC, candidate), buf.subarray(MAGIC.length, HEADER))) body = candidate;
    }
    return new StatCache(path, treePath, body, trees, key);
  }

  get size(): number {
    return this.count;
  }

  /** Index of the record for (dev, ino), or -1. */
  private find(dev: number, ino: number): number {
    if (!LITTLE_ENDIAN) return this.findPortable(dev, ino);
    const f = this.f64;
    let lo = 0;
    let hi = this.count - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const base = mid * RECORD_F64;
      const d = f[base]!;
      const i = f[base + 1]!;
      if (d === dev && i === ino) return mid;
      if (d < dev || (d === dev && i < ino)) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  private findPortable(dev: number, ino: number): number {
    let lo = 0;
    let hi = this.count - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const d = this.body.readDoubleLE(mid * RECORD);
      const i = this.body.readDoubleLE(mid * RECORD + 8);
      if (d === dev && i === ino) return mid;
      if (d < dev || (d === dev && i < ino)) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /** The cached digest if every stat field still matches, else undefined. */
  lookup(key: StatKey): Digest | undefined {
    return this.lookupStat(key.dev, key.ino, key.size, key.mtimeSec, key.mtimeNsec, key.ctimeSec, key.ctimeNsec);
  }

  /** lookup() without building a key object (the snapshot's hot loop). */
  lookupStat(
    dev: number,
    ino: number,
    size: number,
    mtimeSec: number,
    mtimeNsec: number,
    ctimeSec: number,
    ctimeNsec: number,
  ): Digest | undefined {
    const idx = this.find(dev, ino);
    if (idx < 0) return undefined;
    const off = idx * RECORD;
    if (LITTLE_ENDIAN) {
      const base = idx * RECORD_F64;
      const f = this.f64;
      const u = this.u32;
      if (
        f[base + 2] !== size ||
        f[base + 3] !== mtimeSec ||
        f[base + 4] !== ctimeSec ||
        u[base * 2 + 10] !== mtimeNsec ||
        u[base * 2 + 11] !== ctimeNsec
      )
        return undefined;
    } else {
      const b = this.body;
      if (
        b.readDoubleLE(off + 16) !== size ||
        b.readDoubleLE(off + 24) !== mtimeSec ||
        b.readDoubleLE(off + 32) !== ctimeSec ||
        b.readUInt32LE(off + 40) !== mtimeNsec ||
        b.readUInt32LE(off + 44) !== ctimeNsec
      )
        return undefined;
    }
    return `sha256:${this.body.toString('hex', off + 48, off + 80)}`;
  }

  /** Records a freshly hashed file unless it is racy relative to `examinedAtNs`. */
  remember(key: StatKey, digest: Digest, examinedAtNs: bigint): void {
    if (examinedAtNs !== this.lastExamined) {
      this.lastExamined = examinedAtNs;
      this.lastLimit = racyLimit(examinedAtNs);
    }
    if (isRacy(key.mtimeSec, key.mtimeNsec, this.lastLimit) || isRacy(key.ctimeSec, key.ctimeNsec, this.lastLimit))
      return;
    const slot = this.addedCount % BLOCK_RECORDS;
    if (slot === 0) this.added.push(Buffer.allocUnsafe(BLOCK_RECORDS * RECORD));
    const o = slot * RECORD;
    const out = this.added[this.added.length - 1]!;
    out.writeDoubleLE(key.dev, o);
    out.writeDoubleLE(key.ino, o + 8);
    out.writeDoubleLE(key.size, o + 16);
    out.writeDoubleLE(key.mtimeSec, o + 24);
    out.writeDoubleLE(key.ctimeSec, o + 32);
    out.writeUInt32LE(key.mtimeNsec, o + 40);
    out.writeUInt32LE(key.ctimeNsec, o + 44);
    out.write(digest.slice(7), o + 48, 32, 'hex');
    this.addedCount++;
  }

  get dirty(): boolean {
    return this.addedCount > 0 || this.unsaved || this.trees.dirty;
  }

  /**
   * Merges new records into the file (new ones win) and replaces it atomically;
   * saves the tree cache too. Concurrent writers may drop each other's additions;
   * that only costs re-hashing.
   */
  async save(): Promise<void> {
    await Promise.all([this.saveStats(), this.key ? this.trees.save(this.treePath, this.key) : undefined]);
  }

  /**
   * Folds the records remembered so far into the searchable body, so that a later
   * snapshot in the same process finds them (a capture snapshots a watched root
   * before and after the command; the second pass must not read the files again).
   * Called at the start of every snapshot; save() writes the folded records too.
   */
  absorb(): void {
    if (this.addedCount === 0) return;
    this.setBody(this.merged());
    this.unsaved = true;
  }

  /** `file`: HEADER bytes, then the body (as merged() returns it); kept so saveStats writes it without a copy. */
  private setBody(file: Buffer): void {
    const body = file.subarray(HEADER);
    this.withHeader = file;
    this.body = body;
    this.f64 = new Float64Array(this.body.buffer, this.body.byteOffset, this.body.length / 8);
    this.u32 = new Uint32Array(this.body.buffer, this.body.byteOffset, this.body.length / 4);
    this.count = this.body.length / RECORD;
    this.added = [];
    this.addedCount = 0;
  }

  /** The body with the new records merged in, after HEADER bytes left free for the file header. */
  private merged(): Buffer {
    const blocks = this.added;
    const block = (r: number) => blocks[Math.floor(r / BLOCK_RECORDS)]!;
    const key = (r: number) => (r % BLOCK_RECORDS) * RECORD;
    // Sort the new records by (dev, ino); for one inode the latest arrival wins.
    const devs = new Float64Array(this.addedCount);
    const inos = new Float64Array(this.addedCount);
    for (let r = 0; r < this.addedCount; r++) {
      devs[r] = block(r).readDoubleLE(key(r));
      inos[r] = block(r).readDoubleLE(key(r) + 8);
    }
    const order = Array.from({ length: this.addedCount }, (_, i) => i);
    order.sort((a, b) => devs[a]! - devs[b]! || inos[a]! - inos[b]! || a - b);
    const fresh: number[] = [];
    for (let k = 0; k < order.length; k++) {
      const r = order[k]!;
      const next = order[k + 1];
      if (next !== undefined && devs[next] === devs[r] && inos[next] === inos[r]) continue;
      fresh.push(r);
    }
    // Header and body in one buffer of its own (body 8-byte aligned: kept as the new in-memory body).
    const file = Buffer.from(new ArrayBuffer(HEADER + (this.count + fresh.length) * RECORD));
    const out = file.subarray(HEADER);
    let o = 0;
    let i = 0;
    let j = 0;
    const f = this.f64;
    while (i < this.count || j < fresh.length) {
      if (j >= fresh.length) {
        this.body.copy(out, o, i * RECORD, (i + 1) * RECORD);
        o += RECORD;
        i++;
        continue;
      }
      const r = fresh[j]!;
      const dev = devs[r]!;
      const ino = inos[r]!;
      let c = 1;
      if (i < this.count) {
        const d = LITTLE_ENDIAN ? f[i * RECORD_F64]! : this.body.readDoubleLE(i * RECORD);
        const n = LITTLE_ENDIAN ? f[i * RECORD_F64 + 1]! : this.body.readDoubleLE(i * RECORD + 8);
        c = d !== dev ? (d < dev ? -1 : 1) : n === ino ? 0 : n < ino ? -1 : 1;
      }
      if (c < 0) {
        this.body.copy(out, o, i * RECORD, (i + 1) * RECORD);
        o += RECORD;
        i++;
      } else {
        if (c === 0) i++;
        block(r).copy(out, o, key(r), key(r) + RECORD);
        o += RECORD;
        j++;
      }
    }
    return file.subarray(0, HEADER + o);
  }

  private async saveStats(): Promise<void> {
    if (this.addedCount === 0 && !this.unsaved) return;
    // After absorb() the body already has room for the header in front (a million files: 80 MB not copied again).
    const file =
      this.addedCount > 0 ? this.merged() : (this.withHeader ?? Buffer.concat([Buffer.alloc(HEADER), this.body]));
    const body = file.subarray(HEADER);
    if (!this.key) {
      if (this.addedCount > 0) this.setBody(file);
      this.unsaved = false;
      return;
    }
    MAGIC.copy(file, 0);
    cacheMac(this.key, MAGIC, body).copy(file, MAGIC.length);
    // A cache: checked when read, rebuilt when missing, so neither fsync nor an error matters.
    await writeFileAtomic(this.path, file, { durable: 'none', mode: STORE_MODES.file }).catch(() => undefined);
    if (this.addedCount > 0) this.setBody(file);
    this.unsaved = false;
  }
}
