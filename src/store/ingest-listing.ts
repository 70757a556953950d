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

export function decodeListing(buf: Buffer): ListedEntry[] {
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

/** Lists `dir` (absolute path bytes); errors name the path that failed. */
export function listDirectory(dir: Buffer): { listing: Buffer; entries: ListedEntry[] } {
  let listing: Buffer;
  try {
    listing = native().listDirectory(dir);
  } catch (err) {
    const where = (err as { pathBytes?: Buffer }).pathBytes;
    const syscall = (err as { syscall?: string }).syscall ?? '';
    const what = syscall === 'llistxattr' ? 'cannot read extended attributes'
      : syscall === 'readlink' ? 'cannot read symlink'
        : 'cannot read directory';
    throw fsError((where ?? dir).toString(), err, what);
  }
  return { listing, entries: decodeListing(listing) };
}
