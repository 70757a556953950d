/**
 * Snapshot: turn a file or directory into store objects. A directory becomes one
 * tree object per directory (a Merkle tree), every regular file a blob.
 *
 * Three phases:
 *  1. scan: a synchronous depth-first walk in name order with one native call per
 *     directory (readdir + lstat + llistxattr for every entry); hard links are
 *     grouped here, since this order is the order restore will use;
 *  2. content: regular files are hashed and staged in parallel, skipping files
 *     whose (dev, ino, size, mtime, ctime) match the stat cache;
 *  3. trees: built bottom-up; unchanged sub-trees hash to objects the store
 *     already has, so nothing is written for them.
 * Objects go into an ObjectBatch; the caller commits it (one flush for all).
 */
import { readlinkSync, statSync } from 'node:fs';
import { realpath } from 'node:fs/promises';
import type { Digest } from '../core/digest.js';
import { AslError, fsError } from '../core/errors.js';
import { mapLimit, type ObjectBatch } from './object-batch.js';
import { native, scanDirectory, type ScanEntry } from './native.js';
import type { StatCache, StatKey } from './stat-cache.js';
import { encodeTimes } from './times-model.js';
import { encodeTree, entryTypeOfMode, type EntryType, type TreeEntry, type TreeTotals } from './tree-model.js';

const SLASH = Buffer.from('/');
const FILE_CONCURRENCY = 32;

export interface SnapshotProgress {
  files: number;
  totalFiles: number;
  bytes: number;
}

export interface SnapshotOptions {
  /** Leave out an entry (absolute path as bytes); e.g. the store inside a watched root. */
  exclude?: (absPath: Buffer) => boolean;
  /** Do not descend into directories on another file system (mounted /proc in a chroot…). Default true. */
  oneFileSystem?: boolean;
  cache?: StatCache;
  onProgress?: (progress: SnapshotProgress) => void;
}

export interface SnapshotStats {
  files: number;
  dirs: number;
  other: number;
  bytes: number;
  hashedFiles: number;
  hashedBytes: number;
  cachedFiles: number;
  skippedMounts: string[];
  excluded: number;
}

export interface SnapshotResult {
  kind: 'tree' | 'blob';
  id: Digest;
  /** Timestamps object (trees only). */
  times?: Digest;
  size: number;
  stats: SnapshotStats;
}

interface Node {
  name: Buffer;
  abs: Buffer;
  st: ScanEntry;
  type: EntryType;
  children?: Node[];
  target?: Buffer;
  xattrs?: Array<[Buffer, Buffer]>;
  hardlink?: Buffer;
  digest?: Digest;
  size?: number;
}

function join(dir: Buffer, name: Buffer): Buffer {
  return dir.length === 1 && dir[0] === 0x2f ? Buffer.concat([SLASH, name]) : Buffer.concat([dir, SLASH, name]);
}

function statKey(st: ScanEntry): StatKey {
  return { dev: st.dev, ino: st.ino, size: st.size, mtimeSec: st.mtimeSec, mtimeNsec: st.mtimeNsec, ctimeSec: st.ctimeSec, ctimeNsec: st.ctimeNsec };
}

function readXattrs(abs: Buffer): Array<[Buffer, Buffer]> {
  try {
    return native().lxattrs(abs).sort((a, b) => Buffer.compare(a[0], b[0]));
  } catch (err) {
    throw fsError(abs.toString(), err, 'cannot read extended attributes');
  }
}

/** Root metadata via stat (following a symlink given as the root, like cp does). */
function rootEntry(abs: Buffer): ScanEntry {
  const st = statSync(abs, { bigint: true });
  const ns = (t: bigint) => ({ sec: Number(t / 1_000_000_000n), nsec: Number(t % 1_000_000_000n) });
  const m = ns(st.mtimeNs);
  const c = ns(st.ctimeNs);
  return {
    name: Buffer.alloc(0), mode: Number(st.mode), uid: Number(st.uid), gid: Number(st.gid), nlink: Number(st.nlink),
    dev: Number(st.dev), ino: Number(st.ino), rdevMajor: 0, rdevMinor: 0, size: Number(st.size),
    mtimeSec: m.sec, mtimeNsec: m.nsec, ctimeSec: c.sec, ctimeNsec: c.nsec, xattrBytes: 1,
  };
}

export async function snapshot(batch: ObjectBatch, path: string, opts: SnapshotOptions = {}): Promise<SnapshotResult> {
  let real: string;
  try {
    real = await realpath(path);
  } catch (err) {
    throw fsError(path, err);
  }
  const abs = Buffer.from(real);
  let rootSt: ScanEntry;
  try {
    rootSt = rootEntry(abs);
  } catch (err) {
    throw fsError(path, err);
  }
  const examinedAtNs = BigInt(Date.now()) * 1_000_000n;
  const stats: SnapshotStats = { files: 0, dirs: 0, other: 0, bytes: 0, hashedFiles: 0, hashedBytes: 0, cachedFiles: 0, skippedMounts: [], excluded: 0 };
  const rootType = entryTypeOfMode(rootSt.mode);

  if (rootType === 'file') {
    const cached = opts.cache?.lookup(statKey(rootSt));
    if (cached) {
      stats.files = 1; stats.bytes = rootSt.size; stats.cachedFiles = 1;
      return { kind: 'blob', id: cached, size: rootSt.size, stats };
    }
    const { digest, size } = await batch.addFile(abs, rootSt.size);
    opts.cache?.remember(statKey(rootSt), digest, examinedAtNs);
    stats.files = 1; stats.bytes = size; stats.hashedFiles = 1; stats.hashedBytes = size;
    return { kind: 'blob', id: digest, size, stats };
  }
  if (rootType !== 'dir') throw new AslError('BAD_INPUT', `${path}: not a regular file or directory`);

  // Phase 1: scan.
  const oneFs = opts.oneFileSystem ?? true;
  const hardlinks = new Map<string, Buffer>();
  const files: Node[] = [];
  const root: Node = { name: Buffer.alloc(0), abs, st: rootSt, type: 'dir' };
  root.xattrs = readXattrs(abs);
  const scan = (dir: Node, rel: Buffer | null) => {
    let raw: ScanEntry[];
    try {
      raw = scanDirectory(dir.abs);
    } catch (err) {
      throw fsError(dir.abs.toString(), err, 'cannot read directory');
    }
    raw.sort((a, b) => Buffer.compare(a.name, b.name));
    const children: Node[] = [];
    for (const st of raw) {
      const childAbs = join(dir.abs, st.name);
      if (opts.exclude?.(childAbs)) { stats.excluded++; continue; }
      const type = entryTypeOfMode(st.mode);
      if (!type) throw new AslError('UNSUPPORTED', `${childAbs.toString()}: unknown file type (mode ${st.mode.toString(8)})`);
      const childRel = rel ? Buffer.concat([rel, SLASH, st.name]) : st.name;
      const node: Node = { name: st.name, abs: childAbs, st, type };
      if (st.xattrBytes > 0) node.xattrs = readXattrs(childAbs);
      if (type !== 'dir' && st.nlink > 1) {
        const key = `${st.dev}:${st.ino}`;
        const first = hardlinks.get(key);
        if (first) node.hardlink = first;
        else hardlinks.set(key, childRel);
      }
      switch (type) {
        case 'dir':
          stats.dirs++;
          if (oneFs && st.dev !== rootSt.dev) {
            stats.skippedMounts.push(childAbs.toString());
            node.children = [];
          } else {
            scan(node, childRel);
          }
          break;
        case 'file':
          stats.files++;
          if (!node.hardlink) files.push(node);
          break;
        case 'symlink':
          stats.other++;
          try {
            node.target = readlinkSync(childAbs, { encoding: 'buffer' });
          } catch (err) {
            throw fsError(childAbs.toString(), err, 'cannot read symlink');
          }
          break;
        default:
          stats.other++;
      }
      children.push(node);
    }
    dir.children = children;
  };
  scan(root, null);

  // Phase 2: content.
  const totalFiles = files.length;
  let done = 0;
  let lastReport = 0;
  await mapLimit(files, FILE_CONCURRENCY, async (node) => {
    const key = statKey(node.st);
    const cached = opts.cache?.lookup(key);
    if (cached) {
      node.digest = cached;
      node.size = node.st.size;
      stats.cachedFiles++;
    } else {
      const { digest, size } = await batch.addFile(node.abs, node.st.size);
      node.digest = digest;
      node.size = size;
      stats.hashedFiles++;
      stats.hashedBytes += size;
      opts.cache?.remember(key, digest, examinedAtNs);
    }
    stats.bytes += node.size;
    done++;
    if (opts.onProgress && (done === totalFiles || Date.now() - lastReport > 200)) {
      lastReport = Date.now();
      opts.onProgress({ files: done, totalFiles, bytes: stats.bytes });
    }
  });

  // Phase 3: trees, bottom-up; times in pre-order.
  const mtimes: number[] = [];
  const byInode = new Map<string, Node>();
  for (const f of files) byInode.set(`${f.st.dev}:${f.st.ino}`, f);
  const build = async (dir: Node): Promise<{ digest: Digest; totals: TreeTotals }> => {
    mtimes.push(dir.st.mtimeSec, dir.st.mtimeNsec);
    const totals: TreeTotals = { files: 0, dirs: 0, other: 0, bytes: 0 };
    const entries: TreeEntry[] = [];
    for (const child of dir.children ?? []) {
      const entry: TreeEntry = { name: child.name, type: child.type, mode: child.st.mode & 0o7777, uid: child.st.uid, gid: child.st.gid };
      if (child.xattrs && child.xattrs.length > 0) entry.xattrs = child.xattrs;
      if (child.hardlink) entry.hardlink = child.hardlink;
      switch (child.type) {
        case 'dir': {
          const sub = await build(child);
          entry.digest = sub.digest;
          totals.dirs += 1 + sub.totals.dirs;
          totals.files += sub.totals.files;
          totals.other += sub.totals.other;
          totals.bytes += sub.totals.bytes;
          break;
        }
        case 'file': {
          const source = child.hardlink ? byInode.get(`${child.st.dev}:${child.st.ino}`)! : child;
          entry.digest = source.digest!;
          entry.size = source.size!;
          totals.files++;
          if (!child.hardlink) totals.bytes += source.size!;
          break;
        }
        case 'symlink':
          entry.target = child.target!;
          totals.other++;
          break;
        case 'char':
        case 'block':
          entry.rdev = [child.st.rdevMajor, child.st.rdevMinor];
          totals.other++;
          break;
        default:
          totals.other++;
      }
      if (child.type !== 'dir') mtimes.push(child.st.mtimeSec, child.st.mtimeNsec);
      entries.push(entry);
    }
    const self = { mode: dir.st.mode & 0o7777, uid: dir.st.uid, gid: dir.st.gid, ...(dir.xattrs && dir.xattrs.length > 0 ? { xattrs: dir.xattrs } : {}) };
    const digest = await batch.addBytes(encodeTree({ self, entries, totals }));
    return { digest, totals };
  };
  const { digest, totals } = await build(root);
  const times = await batch.addBytes(encodeTimes({ tree: digest, mtimes }));
  return { kind: 'tree', id: digest, times, size: totals.bytes, stats };
}
