/**
 * Differences between two trees, as a stream of changed paths. Equal sub-trees
 * (same id) are skipped without being read, so the cost follows the size of the
 * change, not the size of the trees. A content change (bytes, symlink target,
 * device numbers, type) is told apart from a metadata-only change (mode, owner,
 * xattrs, hard-link grouping).
 */
import type { Digest } from '../core/digest.js';
import type { Store } from './store.js';
import { readTree } from './tree-lookup.js';
import type { Tree, TreeEntry } from './tree-model.js';

export type ChangeKind = 'added' | 'removed' | 'modified' | 'metadata';

export interface TreeChange {
  kind: ChangeKind;
  path: Buffer;
  type: TreeEntry['type'];
  /** For modified / metadata: the entry before. */
  before?: TreeEntry;
  after?: TreeEntry;
}

export interface DiffCounts {
  added: number;
  removed: number;
  modified: number;
  metadata: number;
}

const SLASH = Buffer.from('/');
const EMPTY_TREE: Tree = {
  self: { mode: 0, uid: 0, gid: 0 },
  entries: [],
  totals: { files: 0, dirs: 0, other: 0, bytes: 0 },
};

function xattrsEqual(a: TreeEntry['xattrs'], b: TreeEntry['xattrs']): boolean {
  const x = a ?? [];
  const y = b ?? [];
  return x.length === y.length && x.every(([n, v], i) => n.equals(y[i]![0]) && v.equals(y[i]![1]));
}

function buffersEqual(a: Buffer | undefined, b: Buffer | undefined): boolean {
  return a === undefined ? b === undefined : b !== undefined && a.equals(b);
}

export function contentEqual(a: TreeEntry, b: TreeEntry): boolean {
  if (a.type !== b.type) return false;
  switch (a.type) {
    case 'file':
      return a.digest === b.digest;
    case 'symlink':
      return buffersEqual(a.target, b.target);
    case 'char':
    case 'block':
      return a.rdev![0] === b.rdev![0] && a.rdev![1] === b.rdev![1];
    default:
      return true;
  }
}

/**
 * With `ignoreHardlinks`, the hard-link reference is left out: it names the first
 * path of the link group relative to the snapshot's root, so one directory recorded
 * as a root and inside a larger root differs there and nowhere else.
 */
export function metadataEqual(a: TreeEntry, b: TreeEntry, opts: { ignoreHardlinks?: boolean } = {}): boolean {
  return (
    a.mode === b.mode &&
    a.uid === b.uid &&
    a.gid === b.gid &&
    xattrsEqual(a.xattrs, b.xattrs) &&
    (opts.ignoreHardlinks === true || buffersEqual(a.hardlink, b.hardlink))
  );
}

function childPath(prefix: Buffer, name: Buffer): Buffer {
  return prefix.length === 0 ? name : Buffer.concat([prefix, SLASH, name]);
}

async function* everything(
  store: Store,
  kind: 'added' | 'removed',
  entry: TreeEntry,
  path: Buffer,
): AsyncGenerator<TreeChange> {
  yield kind === 'added'
    ? { kind, path, type: entry.type, after: entry }
    : { kind, path, type: entry.type, before: entry };
  if (entry.type !== 'dir') return;
  const tree = await readTree(store, entry.digest as Digest);
  for (const child of tree.entries) yield* everything(store, kind, child, childPath(path, child.name));
}

/**
 * Yields every changed path from tree `a` to tree `b` (either may be null: empty).
 * `storeB` holds `b` when it is another store (two histories compared by a rebuild check).
 */
export async function* diffTrees(
  store: Store,
  a: Digest | null,
  b: Digest | null,
  prefix: Buffer = Buffer.alloc(0),
  storeB: Store = store,
): AsyncGenerator<TreeChange> {
  if (a === b) return;
  const ta = a ? await readTree(store, a) : EMPTY_TREE;
  const tb = b ? await readTree(storeB, b) : EMPTY_TREE;
  let i = 0;
  let j = 0;
  while (i < ta.entries.length || j < tb.entries.length) {
    const ea = ta.entries[i];
    const eb = tb.entries[j];
    const c = !ea ? 1 : !eb ? -1 : Buffer.compare(ea.name, eb.name);
    if (c < 0) {
      yield* everything(store, 'removed', ea!, childPath(prefix, ea!.name));
      i++;
      continue;
    }
    if (c > 0) {
      yield* everything(storeB, 'added', eb!, childPath(prefix, eb!.name));
      j++;
      continue;
    }
    i++;
    j++;
    const path = childPath(prefix, ea!.name);
    if (ea!.type === 'dir' && eb!.type === 'dir') {
      if (!metadataEqual(ea!, eb!)) yield { kind: 'metadata', path, type: 'dir', before: ea!, after: eb! };
      if (ea!.digest !== eb!.digest) yield* diffTrees(store, ea!.digest!, eb!.digest!, path, storeB);
      continue;
    }
    if (ea!.type === 'dir' || eb!.type === 'dir') {
      yield* everything(store, 'removed', ea!, path);
      yield* everything(storeB, 'added', eb!, path);
      continue;
    }
    if (!contentEqual(ea!, eb!)) yield { kind: 'modified', path, type: eb!.type, before: ea!, after: eb! };
    else if (!metadataEqual(ea!, eb!)) yield { kind: 'metadata', path, type: eb!.type, before: ea!, after: eb! };
  }
}

export function pathText(path: Buffer): string {
  const text = path.toString('utf8');
  return Buffer.from(text, 'utf8').equals(path) ? text : `base64:${path.toString('base64')}`;
}

/**
 * How many paths differ from tree `a` to tree `b` (either may be null: empty),
 * counted as diffTrees would yield them, without listing them: a directory added
 * or removed whole counts itself plus its sub-tree's totals (one read, not a
 * walk). `skip` names relative paths ("etc/app.conf") left out with everything
 * below them: the parts another record already accounts for. `readTree` lets a
 * caller that compares many states share its tree cache.
 */
export async function countTreeChanges(
  store: Store,
  a: Digest | null,
  b: Digest | null,
  opts: { skip?: readonly string[]; readTree?: (id: Digest) => Promise<Tree>; ignoreHardlinks?: boolean } = {},
): Promise<DiffCounts> {
  const meta = { ignoreHardlinks: opts.ignoreHardlinks === true };
  const read = opts.readTree ?? ((id: Digest) => readTree(store, id));
  const counts: DiffCounts = { added: 0, removed: 0, modified: 0, metadata: 0 };
  // Paths compared as latin1 strings of their raw bytes: lossless for any name.
  const skip = new Set((opts.skip ?? []).map((p) => Buffer.from(p, 'utf8').toString('latin1')));
  const holdsSkipped = new Set<string>();
  for (const p of skip) for (let i = p.indexOf('/'); i > 0; i = p.indexOf('/', i + 1)) holdsSkipped.add(p.slice(0, i));
  const whole = async (kind: 'added' | 'removed', entry: TreeEntry, path: Buffer): Promise<void> => {
    const key = path.toString('latin1');
    if (skip.has(key)) return;
    if (entry.type !== 'dir') {
      counts[kind]++;
      return;
    }
    const tree = await read(entry.digest as Digest);
    if (!holdsSkipped.has(key)) {
      counts[kind] += 1 + tree.totals.files + tree.totals.dirs + tree.totals.other;
      return;
    }
    counts[kind]++;
    for (const child of tree.entries) await whole(kind, child, childPath(path, child.name));
  };
  const walk = async (x: Digest | null, y: Digest | null, prefix: Buffer): Promise<void> => {
    if (x === y) return;
    const tx = x ? await read(x) : EMPTY_TREE;
    const ty = y ? await read(y) : EMPTY_TREE;
    let i = 0;
    let j = 0;
    while (i < tx.entries.length || j < ty.entries.length) {
      const ea = tx.entries[i];
      const eb = ty.entries[j];
      const c = !ea ? 1 : !eb ? -1 : Buffer.compare(ea.name, eb.name);
      if (c < 0) {
        await whole('removed', ea!, childPath(prefix, ea!.name));
        i++;
        continue;
      }
      if (c > 0) {
        await whole('added', eb!, childPath(prefix, eb!.name));
        j++;
        continue;
      }
      i++;
      j++;
      const path = childPath(prefix, ea!.name);
      if (skip.has(path.toString('latin1'))) continue;
      if (ea!.type === 'dir' && eb!.type === 'dir') {
        if (!metadataEqual(ea!, eb!, meta)) counts.metadata++;
        if (ea!.digest !== eb!.digest) await walk(ea!.digest!, eb!.digest!, path);
        continue;
      }
      if (ea!.type === 'dir' || eb!.type === 'dir') {
        await whole('removed', ea!, path);
        await whole('added', eb!, path);
        continue;
      }
      if (!contentEqual(ea!, eb!)) counts.modified++;
      else if (!metadataEqual(ea!, eb!, meta)) counts.metadata++;
    }
  };
  await walk(a, b, Buffer.alloc(0));
  return counts;
}
