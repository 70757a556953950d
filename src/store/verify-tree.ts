/**
 * `verify --tree ID --root DIR`: does a live directory still hold exactly what a
 * recorded tree says? Walks DIR depth-first in name order (the order snapshots
 * record hard links in) beside the tree, one native listing call per directory
 * (lstat, symlink target and xattrs of every entry, never following a symlink),
 * and compares entry by entry: type, mode (setuid/setgid/sticky included),
 * owner, symlink target, device numbers, xattrs, hard-link grouping, and for
 * regular files the content: a size mismatch is a difference without reading the
 * file; an equal size is settled by sha256 (no stat cache: a check must not trust
 * timestamps an attacker can set back). Every difference is collected; nothing
 * stops at the first.
 *
 * It does not descend into other file systems (a mounted /proc) unless told to,
 * and reports the mount points it skipped. Excluded paths are skipped on both
 * sides. The boot-time check of a seeded host calls this function.
 */
import { lstatSync } from 'node:fs';
import { realpath } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Digest } from '../core/digest.js';
import { isDigest } from '../core/digest.js';
import { AslError, describeSystemError, fsError } from '../core/errors.js';
import { listDirectory, type ListedEntry } from './ingest-listing.js';
import { native } from './native.js';
import type { SnapshotProgress } from './snapshot-options.js';
import type { Store } from './store.js';
import { readObjectSync } from './object-read.js';
import { decodeTree, entryTypeOfMode, isTreeBytes, type Tree, type TreeEntry } from './tree-model.js';
import { HashPool, type HashOutcome } from './verify-tree-hasher.js';
import {
  bytesText,
  contentText,
  describeLive,
  describeRecorded,
  displayPath,
  hardlinkDifferences,
  modeText,
  orderDifferences,
  typeText,
  xattrDifferences,
  type LinkRecord,
  type SortableDifference,
  type TreeDifference,
} from './verify-tree-model.js';

export type { TreeDifference, TreeDifferenceKind } from './verify-tree-model.js';

export interface VerifyTreeOptions {
  /**
   * Paths to skip on both sides, inside the tree: "/proc", "proc" and, when DIR
   * is /mnt/root, "/mnt/root/proc" all mean DIR/proc. Default none.
   */
  exclude?: readonly string[];
  /** Do not descend into directories on another file system (default true); they are listed in `skippedMounts`. */
  oneFileSystem?: boolean;
  /** Hashing worker threads (default: 2 to 4 by CPU count; 0 hashes on the calling thread). */
  workers?: number;
  onProgress?: (progress: SnapshotProgress) => void;
}

export interface VerifyTreeResult {
  ok: boolean;
  tree: Digest;
  /** DIR as resolved (symlinks in DIR's own path followed, none below it). */
  root: string;
  differences: TreeDifference[];
  /** Directories on another file system, not compared below their own entry. */
  skippedMounts: string[];
  /** Each --exclude as understood, and whether anything was there to skip. */
  excludes: Array<{ path: string; matched: boolean }>;
  counts: { entries: number; dirs: number; files: number; hashedFiles: number; hashedBytes: number };
  ms: number;
}

const SLASH = Buffer.from('/');
/** Below this many files the hashing stays on the calling thread (starting workers costs more). */
const POOL_MIN_FILES = 256;

function joinBytes(dir: Buffer, name: Buffer): Buffer {
  if (dir.length === 0) return Buffer.from(name);
  if (dir.length === 1 && dir[0] === 0x2f) return Buffer.concat([SLASH, name]);
  return Buffer.concat([dir, SLASH, name]);
}

/** Each exclude as a path relative to DIR (bytes), refusing ".." and the root itself. */
function resolveExcludes(given: readonly string[], roots: string[]): Array<{ path: string; rel: Buffer }> {
  return given.map((path) => {
    let inside = path;
    for (const r of roots) {
      if (r !== '/' && isAbsolute(path) && (path === r || path.startsWith(`${r}/`))) {
        inside = path.slice(r.length);
        break;
      }
    }
    const parts = inside.split('/').filter((p) => p !== '' && p !== '.');
    if (parts.includes('..')) throw new AslError('BAD_INPUT', `--exclude ${path}: ".." is not allowed`);
    if (parts.length === 0) throw new AslError('BAD_INPUT', `--exclude ${path}: excludes the whole tree`);
    return { path, rel: Buffer.from(parts.join('/'), 'utf8') };
  });
}

/**
 * readTree, synchronously: the walk reads one small tree object per directory,
 * and four thread-pool round trips (open, fstat, read, close) per object cost
 * more than the read itself. Same checks and messages as readObject + readTree.
 */
function readTreeSync(store: Store, id: Digest): Tree {
  const bytes = readObjectSync(store, id);
  if (!isTreeBytes(bytes)) throw new AslError('BAD_INPUT', `${id}: is a blob, not a tree`);
  return decodeTree(bytes, id);
}

class TreeChecker {
  readonly found: SortableDifference[] = [];
  readonly links: LinkRecord[] = [];
  /** Recorded paths (latin1 keys) not compared on both sides, with everything below them. */
  readonly uncompared = new Set<string>();
  readonly skippedMounts: string[] = [];
  readonly counts = { entries: 0, dirs: 0, files: 0, hashedFiles: 0, hashedBytes: 0 };
  private readonly inodeHashes = new Map<string, Promise<HashOutcome>>();
  private readonly pending = new Set<Promise<void>>();
  private seq = 0;
  private lastProgress = 0;

  constructor(
    private readonly store: Store,
    private readonly rootDev: number,
    private readonly excludes: Map<string, { matched: boolean }>,
    private readonly opts: VerifyTreeOptions,
    private readonly totalFiles: number,
    private readonly pool: HashPool,
  ) {}

  private add(seq: number, diff: TreeDifference, inode?: string): void {
    this.found.push(inode === undefined ? { seq, diff } : { seq, inode, diff });
  }

  private progress(force = false): void {
    if (!this.opts.onProgress) return;
    const now = performance.now();
    if (!force && now - this.lastProgress < 200) return;
    this.lastProgress = now;
    this.opts.onProgress({ files: this.counts.files, totalFiles: this.totalFiles, bytes: this.counts.hashedBytes });
  }

  /** Compares the root directory's own metadata with the tree's `self`. */
  compareRoot(abs: Buffer, tree: Tree, st: { mode: number; uid: number; gid: number }): void {
    const path = '/';
    if ((st.mode & 0o7777) !== tree.self.mode)
      this.add(0, { kind: 'mode', path, expected: modeText(tree.self.mode), actual: modeText(st.mode) });
    if (st.uid !== tree.self.uid || st.gid !== tree.self.gid)
      this.add(0, {
        kind: 'owner',
        path,
        expected: `${tree.self.uid}:${tree.self.gid}`,
        actual: `${st.uid}:${st.gid}`,
      });
    let xattrs: Array<[Buffer, Buffer]>;
    try {
      xattrs = native()
        .lxattrs(abs)
        .sort((a, b) => Buffer.compare(a[0], b[0]));
    } catch (err) {
      this.add(0, {
        kind: 'unreadable',
        path,
        expected: null,
        actual: `cannot read extended attributes: ${describeSystemError(err)}`,
      });
      return;
    }
    for (const d of xattrDifferences(path, tree.self.xattrs, xattrs)) this.add(0, d);
  }

  /** One directory present on both sides: merge its recorded and live listings by name bytes. */
  async dir(abs: Buffer, rel: Buffer, tree: Tree): Promise<void> {
    let live: ListedEntry[];
    try {
      live = listDirectory(abs).entries;
    } catch (err) {
      this.add(this.seq, {
        kind: 'unreadable',
        path: displayPath(rel),
        expected: null,
        actual: (err as Error).message,
      });
      this.uncompared.add(rel.toString('latin1'));
      return;
    }
    const recorded = tree.entries;
    let i = 0;
    let j = 0;
    while (i < recorded.length || j < live.length) {
      const e = recorded[i];
      const l = live[j];
      const c = !e ? 1 : !l ? -1 : Buffer.compare(e.name, l.name);
      const name = c <= 0 ? e!.name : l!.name;
      if (c <= 0) i++;
      if (c >= 0) j++;
      const childRel = joinBytes(rel, name);
      const key = childRel.toString('latin1');
      const ex = this.excludes.get(key);
      if (ex) {
        ex.matched = true;
        this.uncompared.add(key);
        continue;
      }
      const seq = ++this.seq;
      this.counts.entries++;
      const path = displayPath(childRel);
      if (c < 0) {
        this.uncompared.add(key);
        this.add(seq, { kind: 'missing', path, expected: this.describeMissing(e!), actual: null });
      } else if (c > 0) {
        const type = entryTypeOfMode(l!.mode);
        this.add(seq, {
          kind: 'extra',
          path,
          expected: null,
          actual: type ? describeLive(type, l!) : `unknown file type (mode ${l!.mode.toString(8)})`,
        });
      } else {
        await this.entry(seq, joinBytes(abs, name), childRel, key, path, e!, l!);
      }
    }
  }

  private describeMissing(e: TreeEntry): string {
    if (e.type !== 'dir') return describeRecorded(e);
    try {
      return describeRecorded(e, readTreeSync(this.store, e.digest!).totals);
    } catch {
      return describeRecorded(e);
    }
  }

  /** One entry present on both sides. */
  private async entry(
    seq: number,
    abs: Buffer,
    rel: Buffer,
    key: string,
    path: string,
    e: TreeEntry,
    l: ListedEntry,
  ): Promise<void> {
    const type = entryTypeOfMode(l.mode);
    if (type !== e.type) {
      this.uncompared.add(key);
      this.add(seq, {
        kind: 'type',
        path,
        expected: typeText(e.type),
        actual: type ? typeText(type) : `unknown file type (mode ${l.mode.toString(8)})`,
      });
      return;
    }
    const inode = type !== 'dir' && l.nlink > 1 ? `${l.dev}:${l.ino}` : undefined;
    if ((l.mode & 0o7777) !== e.mode)
      this.add(seq, { kind: 'mode', path, expected: modeText(e.mode), actual: modeText(l.mode) }, inode);
    if (l.uid !== e.uid || l.gid !== e.gid)
      this.add(seq, { kind: 'owner', path, expected: `${e.uid}:${e.gid}`, actual: `${l.uid}:${l.gid}` }, inode);
    for (const d of xattrDifferences(path, e.xattrs, l.xattrs)) this.add(seq, d, inode);
    switch (e.type) {
      case 'symlink':
        if (!l.target || !e.target!.equals(l.target))
          this.add(
            seq,
            { kind: 'target', path, expected: bytesText(e.target!), actual: bytesText(l.target ?? Buffer.alloc(0)) },
            inode,
          );
        break;
      case 'char':
      case 'block':
        if (e.rdev![0] !== l.rdevMajor || e.rdev![1] !== l.rdevMinor)
          this.add(
            seq,
            { kind: 'device', path, expected: `${e.rdev![0]}:${e.rdev![1]}`, actual: `${l.rdevMajor}:${l.rdevMinor}` },
            inode,
          );
        break;
      case 'file':
        this.counts.files++;
        await this.content(seq, abs, path, e, l, inode);
        break;
      case 'dir': {
        this.counts.dirs++;
        if ((this.opts.oneFileSystem ?? true) && l.dev !== this.rootDev) {
          this.skippedMounts.push(path);
          this.uncompared.add(key);
          return;
        }
        let sub: Tree;
        try {
          sub = readTreeSync(this.store, e.digest!);
        } catch (err) {
          this.uncompared.add(key);
          this.add(seq, { kind: 'record', path, expected: `tree ${e.digest}`, actual: (err as Error).message });
          return;
        }
        await this.dir(abs, rel, sub);
        return;
      }
      default:
        break;
    }
    if (l.nlink > 1 || e.hardlink) {
      this.links.push({
        seq,
        rel: key,
        path,
        expectedGroup: e.hardlink ? e.hardlink.toString('latin1') : key,
        actualGroup: inode ?? key,
      });
    }
  }

  private async content(
    seq: number,
    abs: Buffer,
    path: string,
    e: TreeEntry,
    l: ListedEntry,
    inode: string | undefined,
  ): Promise<void> {
    const expected = contentText(e.size!, e.digest);
    if (l.size !== e.size) {
      this.add(seq, { kind: 'content', path, expected, actual: contentText(l.size) }, inode);
      this.progress();
      return;
    }
    let hashed = inode !== undefined ? this.inodeHashes.get(inode) : undefined;
    if (!hashed) {
      await this.pool.room();
      hashed = this.pool.hash(abs, l.dev, l.ino, l.size).then((r) => {
        if (r.ok) {
          this.counts.hashedFiles++;
          this.counts.hashedBytes += r.size;
        }
        this.progress();
        return r;
      });
      if (inode !== undefined) this.inodeHashes.set(inode, hashed);
    }
    const judged = hashed.then((r: HashOutcome) => {
      if (!r.ok) this.add(seq, { kind: 'unreadable', path, expected, actual: r.error }, inode);
      else if (r.digest !== e.digest)
        this.add(seq, { kind: 'content', path, expected, actual: contentText(r.size, r.digest) }, inode);
    });
    this.pending.add(judged);
    void judged.finally(() => this.pending.delete(judged));
  }

  async finish(): Promise<void> {
    this.pool.flush();
    while (this.pending.size > 0) await Promise.all([...this.pending]);
    this.progress(true);
  }

  /** Whether a recorded path was compared on both sides (neither it nor a parent skipped). */
  compared(key: string): boolean {
    if (this.uncompared.has(key)) return false;
    for (let k = key.lastIndexOf('/'); k > 0; k = key.lastIndexOf('/', k - 1)) {
      if (this.uncompared.has(key.slice(0, k))) return false;
    }
    return true;
  }
}

/**
 * Compares directory `root` with tree `id` of `store` and lists every difference.
 * Throws (exit 2) when the tree is not in the store or is a blob, or when `root`
 * is not a directory; CORRUPT (exit 1) when the root tree object is damaged.
 */
export async function verifyTree(
  store: Store,
  id: string,
  root: string,
  opts: VerifyTreeOptions = {},
): Promise<VerifyTreeResult> {
  const started = performance.now();
  if (!isDigest(id)) throw new AslError('BAD_INPUT', `${id}: not a tree id (expected sha256:<64 hex digits>)`);
  const tree = readTreeSync(store, id);
  let real: string;
  try {
    real = await realpath(root);
  } catch (err) {
    throw fsError(root, err);
  }
  let st;
  try {
    st = lstatSync(real);
  } catch (err) {
    throw fsError(root, err);
  }
  if (!st.isDirectory())
    throw new AslError(
      'BAD_INPUT',
      `${root}: not a directory (verify --tree compares a directory with a recorded tree)`,
    );

  const resolved = resolveExcludes(opts.exclude ?? [], [...new Set([resolve(root), real])]);
  const excludes = new Map<string, { matched: boolean }>();
  for (const x of resolved) excludes.set(x.rel.toString('latin1'), { matched: false });

  const pool = new HashPool(opts.workers ?? (tree.totals.files < POOL_MIN_FILES ? 0 : undefined));
  const checker = new TreeChecker(store, st.dev, excludes, opts, tree.totals.files, pool);
  const abs = Buffer.from(real);
  try {
    checker.compareRoot(abs, tree, st);
    await checker.dir(abs, Buffer.alloc(0), tree);
    await checker.finish();
  } finally {
    await pool.close();
  }
  const found = [
    ...checker.found,
    ...hardlinkDifferences(
      checker.links,
      (k) => checker.compared(k),
      (k) => displayPath(Buffer.from(k, 'latin1')),
    ),
  ];
  const differences = orderDifferences(found);
  return {
    ok: differences.length === 0,
    tree: id,
    root: real,
    differences,
    skippedMounts: checker.skippedMounts,
    excludes: resolved.map((x) => ({ path: x.path, matched: excludes.get(x.rel.toString('latin1'))!.matched })),
    counts: checker.counts,
    ms: Math.round(performance.now() - started),
  };
}
