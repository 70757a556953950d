/**
 * One directory listing, read in one native call (readdir + lstat + readlink +
 * xattrs for every entry, sorted by raw name bytes) and decoded here. Each entry
 * keeps the byte range of its record: an unchanged entry has identical record
 * bytes (no atime in them), so a hash over a listing identifies it (see
 * ingest-tree-cache.ts).
 */
import { fsError } from '../core/errors.js';
import { native } from './native.js';

export interface ListedEntry {
  name: Buffer;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  dev: number;
  ino: number;
  rdevMajor: number;
  rdevMinor: number;
  size: number;
  mtimeSec: number;
  mtimeNsec: number;
  ctimeSec: number;
  ctimeNsec: number;
  /** Symbolic links only. */
  target?: Buffer;
  /** Sorted by name; absent when there are none. */
  xattrs?: Array<[Buffer, Buffer]>;
  /** The entry's record in the listing buffer: [start, end). */
  start: number;
  end: number;
}

const FIXED = 88;

function decodeListing(buf: Buffer): ListedEntry[] {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: ListedEntry[] = [];
  let p = 0;
  while (p < buf.length) {
    const recLen = view.getUint32(p, true);
    const nameLen = view.getUint32(p + 4, true);
    const targetLen = view.getUint32(p + 80, true);
    const xattrCount = view.getUint32(p + 84, true);
    let q = p + FIXED;
    const entry: ListedEntry = {
      name: buf.subarray(q, q + nameLen),
      mode: view.getUint32(p + 8, true),
      uid: view.getUint32(p + 12, true),
      gid: view.getUint32(p + 16, true),
      nlink: view.getUint32(p + 20, true),
      dev: view.getFloat64(p + 24, true),
      ino: view.getFloat64(p + 32, true),
      rdevMajor: view.getUint32(p + 40, true),
      rdevMinor: view.getUint32(p + 44, true),
      size: view.getFloat64(p + 48, true),
      mtimeSec: view.getFloat64(p + 56, true),
      mtimeNsec: view.getUint32(p + 64, true),
      ctimeSec: view.getFloat64(p + 68, true),
      ctimeNsec: view.getUint32(p + 76, true),
      start: p,
      end: p + recLen,
    };
    q += nameLen;
    if (targetLen > 0) entry.target = buf.subarray(q, q + targetLen);
    q += targetLen;
    if (xattrCount > 0) {
      const xattrs: Array<[Buffer, Buffer]> = [];
      for (let i = 0; i < xattrCount; i++) {
        const n = view.getUint32(q, true);
        const v = view.getUint32(q + 4, true);
        q += 8;
        xattrs.push([buf.subarray(q, q + n), buf.subarray(q + n, q + n + v)]);
        q += n + v;
      }
      entry.xattrs = xattrs;
    }
    out.push(entry);
    p += recLen;
  }
  return out;
}

function listingError(dir: Buffer, err: unknown): Error {
  const where = (err as { pathBytes?: Buffer }).pathBytes;
  const syscall = (err as { syscall?: string }).syscall ?? '';
  const what =
    syscall === 'llistxattr'
      ? 'cannot read extended attributes'
      : syscall === 'readlink'
        ? 'cannot read symlink'
        : 'cannot read directory';
  return fsError((where ?? dir).toString(), err, what);
}

/** Lists `dir` (absolute path bytes); errors name the path that failed. */
export function listDirectory(dir: Buffer): { listing: Buffer; entries: ListedEntry[] } {
  let listing: Buffer;
  try {
    listing = native().listDirectory(dir);
  } catch (err) {
    throw listingError(dir, err);
  }
  return { listing, entries: decodeListing(listing) };
}

/**
 * Lists directories ahead of a depth-first walk on worker threads, so the
 * kernel work of listing (a stat and an xattr list per entry) runs on other
 * cores while the walk decodes. The walk announces each directory's
 * sub-directories as it opens it; they are listed in walk order, at most
 * `ahead` listings waiting at any time.
 *
 * Many listings are queued at once (`parallel`): they share libuv's one queue
 * with the stager's chunks, so a listing waits behind a few chunks of file
 * reads before it runs. With two queued at a time the walk caught up with
 * them and listed 684 of the 785 directories of a Debian root itself, on the
 * main thread; with 32, about 95 (docs/benchmarks.md, "Both cores").
 */
export class ListingPrefetcher {
  private readonly todo: Buffer[] = [];
  private readonly ready = new Map<string, Promise<Buffer>>();
  private inFlight = 0;
  private readonly parallel: number;
  private readonly ahead: number;

  constructor(parallel = 32, ahead = 128) {
    this.parallel = parallel;
    this.ahead = ahead;
  }

  /** The sub-directories of a directory just opened, in walk order. */
  announce(dirs: Buffer[]): void {
    for (let i = dirs.length - 1; i >= 0; i--) this.todo.push(dirs[i]!);
    this.pump();
  }

  /** The listing of `dir`, prefetched or listed now. */
  async take(dir: Buffer): Promise<{ listing: Buffer; entries: ListedEntry[] }> {
    const key = dir.toString('latin1');
    const pending = this.ready.get(key);
    if (!pending) {
      // Not started yet (usually the next one to start): list it here instead.
      for (let i = this.todo.length - 1; i >= 0; i--) {
        if (this.todo[i]!.equals(dir)) {
          this.todo.splice(i, 1);
          break;
        }
      }
      return listDirectory(dir);
    }
    this.ready.delete(key);
    this.pump();
    let listing: Buffer;
    try {
      listing = await pending;
    } catch (err) {
      throw listingError(dir, err);
    }
    return { listing, entries: decodeListing(listing) };
  }

  private pump(): void {
    while (this.inFlight < this.parallel && this.ready.size < this.ahead && this.todo.length > 0) {
      const dir = this.todo.pop()!;
      const key = dir.toString('latin1');
      if (this.ready.has(key)) continue;
      this.inFlight++;
      const p = native().listDirectoryAsync(dir);
      p.then(
        () => {},
        () => {},
      ).finally(() => {
        this.inFlight--;
        this.pump();
      });
      this.ready.set(key, p);
    }
  }

  /** Waits for listings still running (after a failed walk), so nothing outlives the snapshot. */
  async drain(): Promise<void> {
    this.todo.length = 0;
    await Promise.allSettled([...this.ready.values()]);
    this.ready.clear();
  }
}
