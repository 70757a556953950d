/**
 * The stat cache: (device, inode) -> (size, mtime ns, ctime ns, digest), so an
 * unchanged file is not read again. Stored as one sorted binary file searched in
 * place (no parse step, no per-entry objects), with a sha256 of its body in the
 * header: a torn or corrupted cache is ignored, never trusted. It is only a cache:
 * deleting it costs time, not correctness.
 *
 * Racy entries: a file whose mtime or ctime falls within RACY_MARGIN_NS of the
 * moment it was examined might still change within the same timestamp tick
 * without its stat changing, so it is not cached (re-hashed next time), as git
 * does for "racily clean" index entries.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Digest } from '../core/digest.js';
import { CACHE_DIR } from './layout.js';
import type { Store } from './store.js';

const MAGIC = Buffer.from('ASLSTAT1');
const HEADER = MAGIC.length + 32;
const RECORD = 8 * 5 + 4 + 4 + 32; // dev ino size mtimeSec ctimeSec (f64) + mtimeNsec ctimeNsec (u32) + digest
export const RACY_MARGIN_NS = 100_000_000n;
const CACHE_FILE = 'stat-v1.bin';

export interface StatKey {
  dev: number;
  ino: number;
  size: number;
  mtimeSec: number;
  mtimeNsec: number;
  ctimeSec: number;
  ctimeNsec: number;
}

export class StatCache {
  private body: Buffer;
  private count: number;
  private readonly added = new Map<string, { key: StatKey; digest: Buffer }>();
  private readonly path: string;

  private constructor(path: string, body: Buffer) {
    this.path = path;
    this.body = body;
    this.count = body.length / RECORD;
  }

  static async load(store: Store): Promise<StatCache> {
    const path = join(store.root, CACHE_DIR, CACHE_FILE);
    let buf: Buffer | undefined;
    try {
      buf = await readFile(path);
    } catch {
      buf = undefined;
    }
    let body: Buffer = Buffer.alloc(0);
    if (buf && buf.length >= HEADER && buf.subarray(0, MAGIC.length).equals(MAGIC) && (buf.length - HEADER) % RECORD === 0) {
      const candidate = buf.subarray(HEADER);
      const sum = createHash('sha256').update(candidate).digest();
      if (sum.equals(buf.subarray(MAGIC.length, HEADER))) body = candidate;
    }
    return new StatCache(path, body);
  }

  get size(): number {
    return this.count;
  }

  private compareAt(index: number, dev: number, ino: number): number {
    const off = index * RECORD;
    const d = this.body.readDoubleLE(off);
    if (d !== dev) return d < dev ? -1 : 1;
    const i = this.body.readDoubleLE(off + 8);
    return i === ino ? 0 : i < ino ? -1 : 1;
  }

  /** The cached digest if every stat field still matches, else undefined. */
  lookup(key: StatKey): Digest | undefined {
    let lo = 0;
    let hi = this.count - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const c = this.compareAt(mid, key.dev, key.ino);
      if (c === 0) {
        const off = mid * RECORD;
        const b = this.body;
        if (b.readDoubleLE(off + 16) !== key.size || b.readDoubleLE(off + 24) !== key.mtimeSec
          || b.readDoubleLE(off + 32) !== key.ctimeSec || b.readUInt32LE(off + 40) !== key.mtimeNsec
          || b.readUInt32LE(off + 44) !== key.ctimeNsec) return undefined;
        return `sha256:${b.toString('hex', off + 48, off + 80)}`;
      }
      if (c < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }

  /** Records a freshly hashed file unless it is racy relative to `examinedAtNs`. */
  remember(key: StatKey, digest: Digest, examinedAtNs: bigint): void {
    const m = BigInt(key.mtimeSec) * 1_000_000_000n + BigInt(key.mtimeNsec);
    const c = BigInt(key.ctimeSec) * 1_000_000_000n + BigInt(key.ctimeNsec);
    const limit = examinedAtNs - RACY_MARGIN_NS;
    if (m >= limit || c >= limit) return;
    this.added.set(`${key.dev}:${key.ino}`, { key, digest: Buffer.from(digest.slice(7), 'hex') });
  }

  get dirty(): boolean {
    return this.added.size > 0;
  }

  /**
   * Merges new records into the file (new ones win) and replaces it atomically.
   * Concurrent writers may drop each other's additions; that only costs re-hashing.
   */
  async save(): Promise<void> {
    if (this.added.size === 0) return;
    const fresh = [...this.added.values()].sort((a, b) => (a.key.dev - b.key.dev) || (a.key.ino - b.key.ino));
    const out = Buffer.allocUnsafe((this.count + fresh.length) * RECORD);
    let o = 0;
    let i = 0;
    let j = 0;
    const writeFresh = (r: { key: StatKey; digest: Buffer }) => {
      out.writeDoubleLE(r.key.dev, o); out.writeDoubleLE(r.key.ino, o + 8); out.writeDoubleLE(r.key.size, o + 16);
      out.writeDoubleLE(r.key.mtimeSec, o + 24); out.writeDoubleLE(r.key.ctimeSec, o + 32);
      out.writeUInt32LE(r.key.mtimeNsec, o + 40); out.writeUInt32LE(r.key.ctimeNsec, o + 44);
      r.digest.copy(out, o + 48);
      o += RECORD;
    };
    while (i < this.count || j < fresh.length) {
      if (j >= fresh.length) { this.body.copy(out, o, i * RECORD, (i + 1) * RECORD); o += RECORD; i++; continue; }
      const f = fresh[j]!;
      const c = i < this.count ? this.compareAt(i, f.key.dev, f.key.ino) : 1;
      if (c < 0) { this.body.copy(out, o, i * RECORD, (i + 1) * RECORD); o += RECORD; i++; }
      else { if (c === 0) i++; writeFresh(f); j++; }
    }
    const body = out.subarray(0, o);
    const header = Buffer.concat([MAGIC, createHash('sha256').update(body).digest()]);
    const tmp = `${this.path}.${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      await writeFile(tmp, Buffer.concat([header, body]));
      await rename(tmp, this.path);
    } catch {
      await rm(tmp, { force: true });
    }
    this.body = Buffer.from(body);
    this.count = this.body.length / RECORD;
    this.added.clear();
  }
}
