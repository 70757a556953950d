/**
 * Path lookups inside stored trees for `why`: a small cache of decoded trees, a
 * resolver that follows symlinks the way a process chrooted into the tree would
 * (absolute targets start again at the tree's root, ".." never climbs above it),
 * and a memoized lookup of one fixed path across many trees, which reads only the
 * sub-trees that differ (equal sub-trees have equal ids and hit the memo).
 */
import type { Digest } from '../core/digest.js';
import { AslError } from '../core/errors.js';
import { readObject, readObjectSync } from '../store/object-read.js';
import type { Store } from '../store/store.js';
import { findEntry } from '../store/tree-lookup.js';
import { decodeTree, isTreeBytes, type Tree, type TreeEntry } from '../store/tree-model.js';

const MAX_SYMLINKS = 40;
const CACHE_TREES = 64;
const SLASH = 0x2f;

export interface FollowedLink {
  /** Where the symlink is, relative to the tree root. */
  at: string;
  target: string;
}

export interface ResolvedPath {
  /** Physical components: no symlink among the directories. */
  parts: Buffer[];
  entry: TreeEntry;
  followed: FollowedLink[];
}

export function splitPath(path: Buffer): Buffer[] {
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i <= path.length; i++) {
    if (i === path.length || path[i] === SLASH) {
      if (i > start) parts.push(path.subarray(start, i));
      start = i + 1;
    }
  }
  return parts;
}

export function joinParts(parts: readonly Buffer[]): Buffer {
  const out: Buffer[] = [];
  parts.forEach((p, i) => {
    if (i > 0) out.push(Buffer.from('/'));
    out.push(p);
  });
  return Buffer.concat(out);
}

const isDot = (b: Buffer) => b.length === 1 && b[0] === 0x2e;
const isDotDot = (b: Buffer) => b.length === 2 && b[0] === 0x2e && b[1] === 0x2e;

export class TreeReader {
  readonly store: Store;
  private readonly cache = new Map<Digest, Tree>();
  private readonly memo = new Map<string, TreeEntry | null>();
  /** Ids found to be blobs (a watched root that was a file), so they are not read twice. */
  private readonly blobs = new Set<Digest>();
  treesRead = 0;

  private readonly cacheTrees: number;
  private readonly sync: boolean;

  /**
   * `cacheTrees`: decoded trees kept (least recently used dropped); a walk of a
   * whole image wants them all. `sync`: read objects without the thread pool
   * (faster for the many small tree objects of a walk).
   */
  constructor(store: Store, opts: { cacheTrees?: number; sync?: boolean } = {}) {
    this.store = store;
    this.cacheTrees = opts.cacheTrees ?? CACHE_TREES;
    this.sync = opts.sync ?? false;
  }

  /** The decoded tree, or null when `id` is a blob (a watched root that was a file). */
  async tree(id: Digest): Promise<Tree | null> {
    const hit = this.cache.get(id);
    if (hit) {
      this.cache.delete(id);
      this.cache.set(id, hit);
      return hit;
    }
    if (this.blobs.has(id)) return null;
    const bytes = this.sync ? readObjectSync(this.store, id) : await readObject(this.store, id);
    this.treesRead++;
    if (!isTreeBytes(bytes)) {
      this.blobs.add(id);
      return null;
    }
    const tree = decodeTree(bytes, id);
    this.cache.set(id, tree);
    if (this.cache.size > this.cacheTrees) this.cache.delete(this.cache.keys().next().value!);
    return tree;
  }

  async mustTree(id: Digest): Promise<Tree> {
    const tree = await this.tree(id);
    if (!tree) throw new AslError('BAD_INPUT', `${id}: is a blob, not a tree`);
    return tree;
  }

  /**
   * The entry at physical path `parts` in tree `id` (no symlink followed), or
   * undefined. Memoized per (sub-tree id, depth): walking the same path through a
   * chain of trees reads each distinct sub-tree once. One reader, one path: for
   * other paths use `lookup`.
   */
  async entryAt(id: Digest | null, parts: readonly Buffer[], depth = 0): Promise<TreeEntry | undefined> {
    if (id === null || parts.length === 0) return undefined;
    const key = `${id}\0${depth}`;
    const known = this.memo.get(key);
    if (known !== undefined) return known ?? undefined;
    const tree = await this.tree(id);
    let found: TreeEntry | undefined;
    if (tree) {
      const entry = findEntry(tree, parts[depth]!);
      if (entry && depth === parts.length - 1) found = entry;
      else if (entry?.type === 'dir') found = await this.entryAt(entry.digest!, parts, depth + 1);
    }
    this.memo.set(key, found ?? null);
    return found;
  }

  /**
   * The entry at physical path `parts` in tree `id` (no symlink followed), or
   * undefined; not memoized, for lookups of many different paths.
   */
  async lookup(id: Digest | null, parts: readonly Buffer[]): Promise<TreeEntry | undefined> {
    if (id === null || parts.length === 0) return undefined;
    let cur: Digest = id;
    for (let i = 0; i < parts.length; i++) {
      const tree = await this.tree(cur);
      const entry = tree ? findEntry(tree, parts[i]!) : undefined;
      if (!entry || i === parts.length - 1) return entry;
      if (entry.type !== 'dir') return undefined;
      cur = entry.digest!;
    }
    return undefined;
  }

  /**
   * Resolves `path` in tree `root`, following symlinks in every component but the
   * last (the answer is about the entry itself, as lstat(2) sees it), or the last
   * too with `followLast` (as stat(2) sees it). Throws NOT_FOUND naming the first
   * missing component.
   */
  async resolve(
    root: Digest,
    path: Buffer,
    opts: { label?: string; followLast?: boolean } = {},
  ): Promise<ResolvedPath> {
    const label = opts.label ?? path.toString();
    const queue = splitPath(path).filter((p) => !isDot(p));
    if (queue.some(isDotDot)) throw new AslError('BAD_INPUT', `${label}: ".." is not allowed in a tree path`);
    if (queue.length === 0) throw new AslError('BAD_INPUT', `${label}: names the tree's root; give a path inside it`);
    const parts: Buffer[] = [];
    const dirs: Digest[] = [root];
    const followed: FollowedLink[] = [];
    let hops = 0;
    while (queue.length > 0) {
      const name = queue.shift()!;
      if (isDot(name)) continue;
      if (isDotDot(name)) {
        if (parts.length > 0) {
          parts.pop();
          dirs.pop();
        }
        continue;
      }
      const tree = await this.mustTree(dirs[dirs.length - 1]!);
      const entry = findEntry(tree, name);
      const here = joinParts([...parts, name]).toString();
      if (!entry)
        throw new AslError('NOT_FOUND', `${label}: no ${here} in tree ${root}`, { data: { path: label, tree: root } });
      if (queue.length === 0 && !(opts.followLast && entry.type === 'symlink'))
        return { parts: [...parts, name], entry, followed };
      if (entry.type === 'symlink') {
        if (++hops > MAX_SYMLINKS)
          throw new AslError('SYMLINK_LOOP', `${label}: too many levels of symbolic links in tree ${root}`);
        const target = entry.target!;
        followed.push({ at: here, target: target.toString() });
        if (target[0] === SLASH) {
          parts.length = 0;
          dirs.length = 1;
        }
        queue.unshift(...splitPath(target));
        continue;
      }
      if (entry.type !== 'dir')
        throw new AslError('NOT_FOUND', `${label}: ${here} is a ${entry.type}, not a directory, in tree ${root}`);
      parts.push(name);
      dirs.push(entry.digest!);
    }
    // Only a symlink to the root itself (followLast) ends here.
    return {
      parts,
      entry: { name: Buffer.alloc(0), type: 'dir', mode: 0, uid: 0, gid: 0, digest: dirs[dirs.length - 1]! },
      followed,
    };
  }

  /** The physical path of directory `path` (every symlink followed), or undefined if it is not a directory. */
  async physicalDir(root: Digest, path: Buffer): Promise<Buffer | undefined> {
    if (splitPath(path).length === 0) return Buffer.alloc(0);
    try {
      const r = await this.resolve(root, path, { followLast: true });
      return r.entry.type === 'dir' ? joinParts(r.parts) : undefined;
    } catch (err) {
      if (err instanceof AslError && (err.code === 'NOT_FOUND' || err.code === 'SYMLINK_LOOP')) return undefined;
      throw err;
    }
  }
}
