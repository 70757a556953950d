/**
 * `asl diff`: what differs between two stored trees, as a stream of changes that
 * costs what the change costs (equal sub-trees are skipped by tree-diff without
 * being read). Content changes (bytes, symlink target, device numbers, type) are
 * told apart from metadata-only changes (mode, owner, xattrs, hard-link grouping).
 * Operands are tree ids, or one receipt id standing for the before -> after of each
 * root it watched.
 */
import { readObjectHead } from '../store/object-read.js';
import type { Digest } from '../core/digest.js';
import { isDigest } from '../core/digest.js';
import { AslError } from '../core/errors.js';
import { readReceipt } from '../receipt/store-receipt.js';
import type { Store } from '../store/store.js';
import { diffTrees, metadataEqual, pathText, type ChangeKind, type DiffCounts } from '../store/tree-diff.js';
import type { EntryType, TreeEntry, TreeSelf } from '../store/tree-model.js';
import { TREE_MAGIC } from '../store/tree-model.js';
import { splitPath, TreeReader } from './why-tree-path.js';

/** A tree entry as `diff` and `why` print it (JSON-ready; bytes as UTF-8 text or base64:). */
export interface EntryInfo {
  type: EntryType;
  /** Octal permission bits, e.g. "0755", "04755". */
  mode: string;
  uid: number;
  gid: number;
  size?: number;
  digest?: Digest;
  target?: string;
  rdev?: [number, number];
  hardlink?: string;
  /** Extended attributes: name -> base64 value. */
  xattrs?: Record<string, string>;
}

export type ChangedField = 'type' | 'content' | 'target' | 'rdev' | 'mode' | 'owner' | 'xattrs' | 'hardlink';

export interface DiffChange {
  kind: ChangeKind;
  /** Relative to the compared roots; "" is the root itself. */
  path: string;
  type: EntryType;
  before?: EntryInfo;
  after?: EntryInfo;
  /** modified / metadata: what differs. */
  fields?: ChangedField[];
}

/** One comparison: two states of a root (null: did not exist). */
export interface DiffPair {
  /** What is compared, for headers: "sha256:… -> sha256:…" or the watched root's path. */
  label: string;
  a: Digest | null;
  b: Digest | null;
  /** The receipt this pair comes from, when the operand was a receipt. */
  receipt?: Digest;
}

export function octalMode(mode: number): string {
  return `0${mode.toString(8).padStart(3, '0')}`;
}

export function entryInfo(e: Pick<TreeEntry, 'type' | 'mode' | 'uid' | 'gid'> & Partial<TreeEntry>): EntryInfo {
  return {
    type: e.type,
    mode: octalMode(e.mode),
    uid: e.uid,
    gid: e.gid,
    ...(e.type === 'file' && e.size !== undefined ? { size: e.size } : {}),
    ...(e.type === 'file' && e.digest ? { digest: e.digest } : {}),
    ...(e.target ? { target: pathText(e.target) } : {}),
    ...(e.rdev ? { rdev: e.rdev } : {}),
    ...(e.hardlink ? { hardlink: pathText(e.hardlink) } : {}),
    ...(e.xattrs && e.xattrs.length > 0
      ? { xattrs: Object.fromEntries(e.xattrs.map(([n, v]) => [pathText(n), v.toString('base64')])) }
      : {}),
  };
}

function sameBytes(a: Buffer | undefined, b: Buffer | undefined): boolean {
  return a === undefined ? b === undefined : b !== undefined && a.equals(b);
}

function sameXattrs(a: TreeEntry['xattrs'], b: TreeEntry['xattrs']): boolean {
  const x = a ?? [];
  const y = b ?? [];
  return x.length === y.length && x.every(([n, v], i) => n.equals(y[i]![0]) && v.equals(y[i]![1]));
}

/** Which fields differ between two states of one path (directories' contents are not a field). */
export function changedFields(
  a: Partial<TreeEntry> & Pick<TreeEntry, 'type' | 'mode' | 'uid' | 'gid'>,
  b: typeof a,
): ChangedField[] {
  const out: ChangedField[] = [];
  if (a.type !== b.type) out.push('type');
  else if (a.type === 'file' && a.digest !== b.digest) out.push('content');
  else if (a.type === 'symlink' && !sameBytes(a.target, b.target)) out.push('target');
  else if ((a.type === 'char' || a.type === 'block') && (a.rdev![0] !== b.rdev![0] || a.rdev![1] !== b.rdev![1]))
    out.push('rdev');
  if (a.mode !== b.mode) out.push('mode');
  if (a.uid !== b.uid || a.gid !== b.gid) out.push('owner');
  if (!sameXattrs(a.xattrs, b.xattrs)) out.push('xattrs');
  if (!sameBytes(a.hardlink, b.hardlink)) out.push('hardlink');
  return out;
}

function selfEntry(self: TreeSelf): Pick<TreeEntry, 'type' | 'mode' | 'uid' | 'gid' | 'xattrs'> {
  return {
    type: 'dir',
    mode: self.mode,
    uid: self.uid,
    gid: self.gid,
    ...(self.xattrs ? { xattrs: self.xattrs } : {}),
  };
}

/**
 * Every change from tree `a` to tree `b` (null: empty), paths relative to them.
 * The roots' own metadata (mode, owner, xattrs of the directory itself) is
 * compared too and reported as path "" (or the prefix). `storeB` holds `b` when it
 * is another store.
 */
export async function* diffStoreTrees(
  store: Store,
  a: Digest | null,
  b: Digest | null,
  opts: { prefix?: string; storeB?: Store } = {},
): AsyncGenerator<DiffChange> {
  if (a === b) return;
  const prefix = opts.prefix ?? '';
  const storeB = opts.storeB ?? store;
  if (a && b) {
    const [ta, tb] = [await new TreeReader(store).mustTree(a), await new TreeReader(storeB).mustTree(b)];
    const sa = selfEntry(ta.self);
    const sb = selfEntry(tb.self);
    if (!metadataEqual({ ...sa, name: Buffer.alloc(0) }, { ...sb, name: Buffer.alloc(0) })) {
      yield {
        kind: 'metadata',
        path: prefix,
        type: 'dir',
        before: entryInfo(sa),
        after: entryInfo(sb),
        fields: changedFields(sa, sb),
      };
    }
  }
  for await (const c of diffTrees(store, a, b, Buffer.from(prefix), storeB)) {
    const change: DiffChange = { kind: c.kind, path: pathText(c.path), type: c.type };
    if (c.before) change.before = entryInfo(c.before);
    if (c.after) change.after = entryInfo(c.after);
    if (c.before && c.after) change.fields = changedFields(c.before, c.after);
    yield change;
  }
}

export function emptyCounts(): DiffCounts {
  return { added: 0, removed: 0, modified: 0, metadata: 0 };
}

/** What an object is, from its first bytes (the full read that follows verifies it). */
async function objectKind(store: Store, id: Digest): Promise<'tree' | 'receipt' | 'blob'> {
  const head = await readObjectHead(store, id, 64);
  if (head.subarray(0, TREE_MAGIC.length).equals(TREE_MAGIC)) return 'tree';
  if (head.toString('latin1').startsWith('{"payload":')) return 'receipt';
  return 'blob';
}

function checkId(id: string): asserts id is Digest {
  if (!isDigest(id)) throw new AslError('BAD_INPUT', `${id}: not an artifact id (expected sha256:<64 hex digits>)`);
}

/**
 * The comparisons `asl diff` makes for its operands: two tree ids give one pair;
 * one receipt id gives one pair per root it watched (before -> after). Anything
 * else is refused with a line saying what the id is.
 */
export async function diffPairs(store: Store, operands: readonly string[]): Promise<DiffPair[]> {
  if (operands.length === 1) {
    const id = operands[0]!;
    checkId(id);
    const kind = await objectKind(store, id);
    if (kind !== 'receipt')
      throw new AslError(
        'USAGE',
        `${id}: is a ${kind}; give two tree ids, or one receipt id to see what its step changed`,
      );
    const { statement } = await readReceipt(store, id);
    const core = statement.predicate.core;
    if (core.kind !== 'command' || core.watched.length === 0) {
      throw new AslError(
        'BAD_INPUT',
        `receipt ${id} (${core.step}) watched no root: it has no before and after to compare`,
      );
    }
    for (const w of core.watched) {
      for (const side of [w.before, w.after]) {
        if (side && (await objectKind(store, side)) !== 'tree')
          throw new AslError(
            'UNSUPPORTED',
            `receipt ${id}: watched root ${w.path} is a file, not a directory; compare its blobs with \`asl cat\``,
          );
      }
    }
    return core.watched.map((w) => ({ label: w.path, a: w.before, b: w.after, receipt: id }));
  }
  if (operands.length !== 2)
    throw new AslError('USAGE', `diff: expected two tree ids (or one receipt id), got ${operands.length} operands`);
  for (const id of operands) {
    checkId(id);
    const kind = await objectKind(store, id);
    if (kind === 'receipt')
      throw new AslError(
        'BAD_INPUT',
        `${id}: is a receipt, not a tree; give the receipt alone to compare the roots it watched before and after`,
      );
    if (kind === 'blob') throw new AslError('BAD_INPUT', `${id}: is a blob (file content), not a tree`);
  }
  const [a, b] = operands as [Digest, Digest];
  return [{ label: `${a} -> ${b}`, a, b }];
}

/**
 * Narrows a pair to the directory at `path` inside both sides (symlinks in the
 * path are followed in each tree). A side where the path is absent or not a
 * directory counts as empty, so everything under it is added or removed.
 */
export async function narrowPair(store: Store, pair: DiffPair, path: string): Promise<DiffPair & { prefix: string }> {
  const reader = new TreeReader(store);
  const sub = async (id: Digest | null): Promise<Digest | null> => {
    if (!id) return null;
    const dir = await reader.physicalDir(id, Buffer.from(path));
    if (dir === undefined) return null;
    const parts = splitPath(dir);
    if (parts.length === 0) return id;
    const e = await reader.entryAt(id, parts);
    return e?.type === 'dir' ? e.digest! : null;
  };
  const prefix = splitPath(Buffer.from(path))
    .map((p) => p.toString())
    .join('/');
  return { ...pair, a: await sub(pair.a), b: await sub(pair.b), prefix };
}
