/**
 * dpkg's answers kept between captures (cache/dpkg-v1.json in the store), so a
 * capture whose programs were looked up before starts no dpkg-query at all
 * (`dpkg-query -S` reads every package's file list: 0.07–0.25 s here).
 *
 * Answers are valid for one state of one dpkg database. The state is the stat of
 * what dpkg-query reads: `status` (dpkg replaces it by rename, so its inode
 * changes with every install or removal), the `info` and `updates` folders (a
 * package's file list is renamed into `info`; `updates` holds journal entries not
 * yet merged into `status`) and `diversions`. A stamp whose mtime or ctime is
 * too recent to be trusted (the stat cache's racy rule) is never saved, so two
 * changes within one timestamp tick cannot hide behind an unchanged stamp; and
 * answers are saved only when the stamp did not change while dpkg-query ran.
 *
 * Like the stat cache, it is authenticated with the store's cache key (the file's
 * first line is an HMAC-SHA256 of the JSON after it) and only a cache: a torn,
 * corrupt, foreign or forged file is ignored, and deleting it costs one dpkg-query.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { writeFileAtomic } from '../core/write-file-atomic.js';
import { loadCacheKey } from '../store/keys.js';
import { CACHE_DIR } from '../store/layout.js';
import { STORE_MODES } from '../store/store-modes.js';
import { isRacy, racyLimit } from '../store/stat-cache.js';

/** A Debian binary package as dpkg names it (what dpkg.ts looks up and this cache keeps). */
export interface DebianPackage {
  name: string;
  version: string;
  architecture: string;
}

const FORMAT = 'asl-dpkg-cache-v2';
const DPKG_CACHE_FILE = 'dpkg-v1.json';
/** Databases remembered (the host's and a few chroots'), most recently used first. */
const MAX_DATABASES = 8;

/** What one database answered: path -> owning package name, package name -> package. */
export interface DpkgAnswers {
  owners: Record<string, string | null>;
  versions: Record<string, DebianPackage | null>;
}

interface DatabaseEntry extends DpkgAnswers {
  admindir: string;
  stamp: string;
}

interface CacheFile {
  format: typeof FORMAT;
  databases: DatabaseEntry[];
}

/**
 * The state of the database at `admindir`, or null when it cannot be trusted as
 * a cache key (no `status` file, or a timestamp within the racy margin of now).
 */
export function databaseStamp(admindir: string, nowNs = BigInt(Date.now()) * 1_000_000n): string | null {
  const limit = racyLimit(nowNs);
  const parts: string[] = [];
  for (const name of ['status', 'info', 'updates', 'diversions']) {
    const st = statSync(posix.join(admindir, name), { bigint: true, throwIfNoEntry: false });
    if (!st) {
      if (name === 'status') return null;
      parts.push(`${name}:-`);
      continue;
    }
    const sec = (ns: bigint) => Number(ns / 1_000_000_000n);
    const nsec = (ns: bigint) => Number(ns % 1_000_000_000n);
    if (isRacy(sec(st.mtimeNs), nsec(st.mtimeNs), limit) || isRacy(sec(st.ctimeNs), nsec(st.ctimeNs), limit))
      return null;
    parts.push(`${name}:${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`);
  }
  return parts.join(' ');
}

const MAC_PREFIX = 'hmac-sha256:';

function mac(key: Buffer, body: string): string {
  return MAC_PREFIX + createHmac('sha256', key).update(body).digest('hex');
}

function timingSafeStringEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class DpkgCache {
  private readonly path: string;
  private readonly key: () => Promise<Buffer | null>;
  private databases: DatabaseEntry[] | undefined;

  /** `key`: the store's cache key (keys.ts loadCacheKey); without one nothing is read or written. */
  constructor(path: string, key: Buffer | null | (() => Promise<Buffer | null>)) {
    this.path = path;
    this.key = typeof key === 'function' ? key : async () => key;
  }

  /** The cache of the store at `storeRoot` (cache/dpkg-v1.json). */
  static forStore(storeRoot: string): DpkgCache {
    let key: Promise<Buffer | null> | undefined;
    return new DpkgCache(join(storeRoot, CACHE_DIR, DPKG_CACHE_FILE), () => (key ??= loadCacheKey(storeRoot)));
  }

  private async load(): Promise<DatabaseEntry[]> {
    if (this.databases) return this.databases;
    let databases: DatabaseEntry[] = [];
    try {
      const key = await this.key();
      const text = key ? await readFile(this.path, 'utf8') : '';
      const nl = text.indexOf('\n');
      const body = text.slice(nl + 1);
      if (!key || nl < 0 || !timingSafeStringEqual(text.slice(0, nl), mac(key, body)))
        throw new Error('no authentic cache');
      const file = JSON.parse(body) as Partial<CacheFile>;
      if (file.format === FORMAT && Array.isArray(file.databases)) {
        databases = file.databases.filter(
          (d) =>
            typeof d?.admindir === 'string' &&
            typeof d.stamp === 'string' &&
            typeof d.owners === 'object' &&
            d.owners !== null &&
            typeof d.versions === 'object' &&
            d.versions !== null,
        );
      }
    } catch {
      // No cache yet, or not one we can read: start empty.
    }
    this.databases = databases;
    return databases;
  }

  /** The answers saved for the database at `admindir` in state `stamp`, if any. */
  async get(admindir: string, stamp: string): Promise<DpkgAnswers | undefined> {
    const found = (await this.load()).find((d) => d.admindir === admindir && d.stamp === stamp);
    return found ? { owners: found.owners, versions: found.versions } : undefined;
  }

  /** Replaces what is kept for `admindir` with `answers` (valid in state `stamp`) and writes the file. */
  async put(admindir: string, stamp: string, answers: DpkgAnswers): Promise<void> {
    const others = (await this.load()).filter((d) => d.admindir !== admindir);
    this.databases = [{ admindir, stamp, ...answers }, ...others].slice(0, MAX_DATABASES);
    const file: CacheFile = { format: FORMAT, databases: this.databases };
    const key = await this.key();
    if (!key) return;
    const body = JSON.stringify(file);
    // A cache: checked when read, rebuilt when missing, so neither fsync nor an error matters.
    await writeFileAtomic(this.path, `${mac(key, body)}\n${body}`, { durable: 'none', mode: STORE_MODES.file }).catch(
      () => undefined,
    );
  }
}
