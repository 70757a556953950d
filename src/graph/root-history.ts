/**
 * Which recorded step wrote the current content of every path of a root's tree, in
 * one pass over the root's history (where `why` walks back one path at a time).
 *
 * A root is a host directory that captures watched (e.g. an image root). Its
 * history is a chain of links, newest first, each taking the root from one tree to
 * the next:
 *
 * - **step**: a receipt watched the root (or a directory containing it) and its
 *   after-tree is the state the chain is at; the step changed what differs between
 *   its before- and after-tree. A step with no before-tree created the root: the
 *   chain ends there.
 * - **gap**: no receipt produced the state; the root changed between two captures.
 *   The newest earlier recorded state of the root (a receipt that watched it or a
 *   directory containing it) is where the gap starts; receipts in between that
 *   watched paths INSIDE the root (a step that watched one file of it) still
 *   account for what they wrote. With no earlier recorded state the gap starts
 *   from nothing: the content was there before the first capture.
 *
 * `planRootHistory` builds the chain from receipt ids alone (pure but for the
 * injected sub-tree lookup of containing roots); `DirOrigins` then follows a walk
 * of the root's tree one directory at a time, with the links that changed
 * something there (equal sub-trees skipped unread, differing trees compared entry
 * by entry in their bytes), and gives each path the newest link that changed its
 * content: the chain guarantees that the content has not changed since. Content
 * only: a mode or owner change is not a write of the bytes.
 */
import type { Digest } from '../core/digest.js';
import { readObjectSync } from '../store/object-read.js';
import { contentEqual } from '../store/tree-diff.js';
import { changedEntries, type EntryChange } from '../store/tree-entry-diff.js';
import { findEntry } from '../store/tree-lookup.js';
import { isTreeBytes, type Tree, type TreeEntry } from '../store/tree-model.js';
import { splitPath, type TreeReader } from './why-tree-path.js';

/** One watched root of one receipt. */
export interface RootView {
  /** The receipt's position in the log. */
  index: number;
  /** Host path of the watched root. */
  path: string;
  before: Digest | null;
  after: Digest | null;
  /** Paths inside it its snapshots left out (the store, the outdir): its trees say nothing of them. */
  excluded?: string[];
}

/** A receipt that watched a path inside the root: `rel` is that path relative to the root. */
export interface InnerView {
  index: number;
  rel: string;
  before: Digest | null;
  after: Digest | null;
}

export type HistoryLink =
  | { kind: 'step'; index: number; path: string; before: Digest | null; after: Digest }
  | {
      kind: 'gap';
      /** The receipt whose state the gap starts from; null: before the first record of the root. */
      fromIndex: number | null;
      /** The first receipt after the gap (the one that saw `to` as its before-state), or the log's length. */
      toIndex: number;
      path: string;
      from: Digest | null;
      to: Digest;
      inner: InnerView[];
    };

export type Origin =
  /** A recorded step wrote it: through the root itself, or through a path inside it it watched. */
  | { kind: 'step'; index: number; via: 'root' | 'inner' }
  /** Written between two captures (afterIndex null: already there before the first one). */
  | { kind: 'unrecorded'; afterIndex: number | null; beforeIndex: number };

export interface RootStart {
  tree: Digest;
  /** Host path of the root; '' when no receipt names one. */
  path: string;
  /** Only receipts before this log index are considered (the producing receipt's index + 1). */
  below: number;
}

type Relation =
  | { kind: 'same' }
  | { kind: 'contains'; sub: string }
  | { kind: 'inside'; rel: string }
  | { kind: 'unrelated' };

function trim(path: string): string {
  return path.length > 1 ? path.replace(/\/+$/, '') : path;
}

/** How a watched path relates to the root's path. */
export function relation(viewPath: string, rootPath: string): Relation {
  if (rootPath === '') return { kind: 'unrelated' };
  const v = trim(viewPath);
  const r = trim(rootPath);
  if (v === r) return { kind: 'same' };
  if (r.startsWith(v === '/' ? '/' : `${v}/`)) return { kind: 'contains', sub: r.slice(v === '/' ? 1 : v.length + 1) };
  if (v.startsWith(r === '/' ? '/' : `${r}/`)) return { kind: 'inside', rel: v.slice(r === '/' ? 1 : r.length + 1) };
  return { kind: 'unrelated' };
}

/** `relation`, where a containing view whose snapshot left out the root (or part of it) tells nothing of it. */
function viewRelation(v: RootView, rootPath: string): Relation {
  const r = relation(v.path, rootPath);
  if (r.kind !== 'contains' || !v.excluded) return r;
  const root = trim(rootPath);
  const within = (p: string, dir: string) => p === dir || p.startsWith(dir === '/' ? '/' : `${dir}/`);
  return v.excluded.some((e) => within(root, e) || within(e, root)) ? { kind: 'unrelated' } : r;
}

/** The sub-tree at relative path `sub` of tree `id` (null when absent or not a directory). */
export type SubtreeLookup = (id: Digest | null, sub: string) => Promise<Digest | null>;

/**
 * The chain of links from `start` back to the root's creation (or to the first gap
 * with no recorded state before it), newest first. `views` in log order.
 */
export async function planRootHistory(
  views: readonly RootView[],
  start: RootStart,
  subtree: SubtreeLookup,
): Promise<HistoryLink[]> {
  const links: HistoryLink[] = [];
  let cur = start.tree;
  let path = start.path;
  let limit = start.below;
  for (;;) {
    // 1. A step whose after-state is `cur`: the root itself, a directory containing it,
    //    or, by content alone, a root at another path (a root that was moved).
    let step: { view: RootView; before: Digest | null; path: string } | undefined;
    for (let k = views.length - 1; k >= 0 && !step; k--) {
      const v = views[k]!;
      if (v.index >= limit || v.after === null) continue;
      const r = viewRelation(v, path);
      if (r.kind === 'inside') continue;
      if (r.kind === 'contains') {
        if ((await subtree(v.after, r.sub)) === cur) step = { view: v, before: await subtree(v.before, r.sub), path };
      } else if (v.after === cur) step = { view: v, before: v.before, path: v.path };
    }
    if (step) {
      links.push({ kind: 'step', index: step.view.index, path: step.path, before: step.before, after: cur });
      if (step.before === null) return links;
      cur = step.before;
      path = step.path;
      limit = step.view.index;
      continue;
    }
    // 2. A gap: from the newest recorded state of the root, whatever it was.
    let from: { index: number; tree: Digest | null } | undefined;
    for (let k = views.length - 1; k >= 0 && !from; k--) {
      const v = views[k]!;
      if (v.index >= limit) continue;
      const r = viewRelation(v, path);
      if (r.kind === 'same') from = { index: v.index, tree: v.after };
      else if (r.kind === 'contains') from = { index: v.index, tree: await subtree(v.after, r.sub) };
    }
    const inner: InnerView[] = [];
    for (const v of views) {
      if (v.index >= limit || (from && v.index <= from.index)) continue;
      const r = viewRelation(v, path);
      if (r.kind === 'inside') inner.push({ index: v.index, rel: r.rel, before: v.before, after: v.after });
    }
    links.push({
      kind: 'gap',
      fromIndex: from?.index ?? null,
      toIndex: limit,
      path,
      from: from?.tree ?? null,
      to: cur,
      inner,
    });
    if (!from || from.tree === null) return links;
    cur = from.tree;
    limit = from.index + 1;
  }
}

/** The entry at `p` (relative to the root) inside an inner view's tree rooted at `rel`. */
async function entryIn(
  reader: TreeReader,
  id: Digest | null,
  rel: string,
  p: string,
  like: TreeEntry,
): Promise<TreeEntry | undefined> {
  if (id === null) return undefined;
  if (p === rel) {
    // The watched path is the entry itself: a file root is recorded as its blob.
    const tree = await reader.tree(id);
    if (tree) return { ...like, type: 'dir', digest: id };
    return like.type === 'file' ? { ...like, digest: id } : undefined;
  }
  return reader.lookup(id, splitPath(Buffer.from(p.slice(rel.length + 1))));
}

/** Whether a receipt that watched a path inside the root wrote `entry` at `p` during a gap. */
async function innerOrigin(
  reader: TreeReader,
  link: Extract<HistoryLink, { kind: 'gap' }>,
  p: string,
  entry: TreeEntry,
): Promise<Origin | null> {
  for (let k = link.inner.length - 1; k >= 0; k--) {
    const v = link.inner[k]!;
    if (p !== v.rel && !p.startsWith(`${v.rel}/`)) continue;
    const after = await entryIn(reader, v.after, v.rel, p, entry);
    const before = await entryIn(reader, v.before, v.rel, p, entry);
    if (after === undefined ? before === undefined : before !== undefined && contentEqual(before, after)) continue;
    // The newest inner step that changed p: its write is the content only if nothing changed it since.
    return after !== undefined && contentEqual(after, entry) ? { kind: 'step', index: v.index, via: 'inner' } : null;
  }
  return null;
}

/**
 * One link that changed something at or below a directory of the audited tree:
 * everything in `all` is new (the link started from nothing there), or the
 * entries of the directory whose bytes differ, by name (latin1 of the bytes).
 */
type DirPair = { link: HistoryLink; all: Tree } | { link: HistoryLink; changes: Map<string, EntryChange> };

/** Tree bytes kept for the next link (a step's after-tree is the next one's before-tree). */
const BYTES_KEPT = 16;

/** Reads tree bytes for the entry diffs, keeping the last few. */
class TreeBytes {
  private readonly kept = new Map<Digest, Buffer>();
  constructor(private readonly reader: TreeReader) {}

  /** The tree object's bytes, or null when `id` is a blob (a watched root that was a file). */
  get(id: Digest): Buffer | null {
    let bytes = this.kept.get(id);
    if (!bytes) {
      bytes = readObjectSync(this.reader.store, id);
      this.kept.set(id, bytes);
      if (this.kept.size > BYTES_KEPT) this.kept.delete(this.kept.keys().next().value!);
    }
    return isTreeBytes(bytes) ? bytes : null;
  }
}

/**
 * Where the content of each entry of one directory of the audited tree came from:
 * the links of the root's history (newest first) that changed something at or
 * below the directory, each reduced to what it changed here. A walk of the tree
 * asks `origin` for each non-directory entry and `child` for each directory, so
 * what is held is the directories still open, never a map of every path.
 *
 * The rule is the one a whole-tree diff per link gives: the newest link whose
 * before- and after-state differ in the entry's content (added, or changed bytes,
 * target, device numbers or type; a mode or owner change is not a write) wrote
 * the content. The chain guarantees that newer links left it as it is.
 */
export class DirOrigins {
  private constructor(
    private readonly reader: TreeReader,
    private readonly bytes: TreeBytes,
    private readonly pairs: DirPair[],
  ) {}

  /** The history of `start`'s root, and the origins at its top directory. */
  static async ofRoot(
    reader: TreeReader,
    views: readonly RootView[],
    start: RootStart,
  ): Promise<{ links: HistoryLink[]; root: DirOrigins }> {
    const subtree: SubtreeLookup = async (id, sub) => {
      if (id === null) return null;
      const e = await reader.lookup(id, splitPath(Buffer.from(sub)));
      return e?.type === 'dir' ? e.digest! : null;
    };
    const links = await planRootHistory(views, start, subtree);
    const bytes = new TreeBytes(reader);
    const raw = links.map((link) => ({
      link,
      from: link.kind === 'step' ? link.before : link.from,
      to: link.kind === 'step' ? link.after : link.to,
    }));
    return { links, root: new DirOrigins(reader, bytes, await pairsAt(reader, bytes, raw)) };
  }

  /** The origins inside the directory `name` of this one. */
  async child(name: Buffer): Promise<DirOrigins> {
    const raw: Array<{ link: HistoryLink; from: Digest | null; to: Digest }> = [];
    for (const p of this.pairs) {
      const { before, after } = changeOf(p, name);
      if (after?.type !== 'dir') continue;
      raw.push({ link: p.link, from: before?.type === 'dir' ? before.digest! : null, to: after.digest! });
    }
    return new DirOrigins(this.reader, this.bytes, await pairsAt(this.reader, this.bytes, raw));
  }

  /** Where the content of the non-directory entry `name` at `path` (relative to the root) came from; undefined when no link wrote it. */
  async origin(name: Buffer, path: string): Promise<Origin | undefined> {
    for (const p of this.pairs) {
      const { before, after } = changeOf(p, name);
      if (!after || after.type === 'dir' || (before && contentEqual(before, after))) continue;
      const link = p.link;
      if (link.kind === 'step') return { kind: 'step', index: link.index, via: 'root' };
      return (
        (await innerOrigin(this.reader, link, path, after)) ?? {
          kind: 'unrecorded',
          afterIndex: link.fromIndex,
          beforeIndex: link.toIndex,
        }
      );
    }
    return undefined;
  }
}

function changeOf(p: DirPair, name: Buffer): { before?: TreeEntry; after?: TreeEntry } {
  if ('all' in p) {
    const after = findEntry(p.all, name);
    return after ? { after } : {};
  }
  return p.changes.get(name.toString('latin1')) ?? {};
}

/** The links that changed something in this directory, each with what it changed here. */
async function pairsAt(
  reader: TreeReader,
  bytes: TreeBytes,
  raw: ReadonlyArray<{ link: HistoryLink; from: Digest | null; to: Digest | null }>,
): Promise<DirPair[]> {
  const pairs: DirPair[] = [];
  for (const { link, from, to } of raw) {
    if (from === to || to === null) continue;
    const fromBytes = from === null ? null : bytes.get(from);
    if (fromBytes === null) {
      const all = await reader.tree(to);
      if (all) pairs.push({ link, all });
      continue;
    }
    const toBytes = bytes.get(to);
    if (toBytes === null) continue;
    const changes = new Map<string, EntryChange>();
    for (const c of changedEntries({ bytes: fromBytes, id: from! }, { bytes: toBytes, id: to }))
      changes.set(c.name.toString('latin1'), c);
    if (changes.size > 0) pairs.push({ link, changes });
  }
  return pairs;
}
