/**
 * `asl why PATH`: which recorded steps made the entry at PATH what it is in a
 * captured tree, and, when the tree holds a dpkg database, which Debian package
 * (and which downloaded .deb) it came from.
 *
 * Lineage is by content: a step's watched root after-tree is the next step's
 * before-tree when nothing happened in between. Walking back from the chosen
 * tree, each step's before and after entries at PATH are compared (a memoized
 * lookup that only reads sub-trees that differ), until the step that added the
 * path. When a before-tree is no earlier step's output, something changed the
 * root outside any capture; the newest earlier output at the same host path
 * stands in, and a difference at PATH is reported as an unrecorded change.
 */
import { posix } from 'node:path';
import type { Digest } from '../core/digest.js';
import { isDigest } from '../core/digest.js';
import { AslError } from '../core/errors.js';
import type { Store } from '../store/store.js';
import { changedFields, entryInfo, type ChangedField, type EntryInfo } from './diff.js';
import { dpkgOwners, type DpkgOwner } from './why-dpkg.js';
import {
  loadReceiptIndex,
  matchDeb,
  newestBelow,
  type DebMatch,
  type OutputTree,
  type ReceiptIndex,
  type ReceiptSummary,
} from './why-index.js';
import { insideRoot, notFoundHint, recordedRoots, type HostPathMatch } from './why-host-path.js';
import { joinParts, TreeReader, type FollowedLink, type ResolvedPath } from './why-tree-path.js';

export type { HostPathMatch } from './why-host-path.js';

export type WhyChangeKind = 'added' | 'modified' | 'metadata';

export interface WhyStep {
  kind: WhyChangeKind;
  /** false: the change happened between two recorded steps, outside any capture. */
  recorded: boolean;
  seq?: number;
  receipt?: Digest;
  step?: string;
  stepKind?: ReceiptSummary['kind'];
  /** The command string, or the ingested path. */
  command?: string;
  status?: string;
  /** Unrecorded changes: the recorded steps they happened between. */
  between?: { afterSeq: number; beforeSeq: number };
  /** The watched root (host path) or output the tree belongs to. */
  root?: string;
  trees: { before: Digest | null; after: Digest };
  before: EntryInfo | null;
  after: EntryInfo;
  /** What changed at PATH (empty for "added"). */
  fields: ChangedField[];
}

export type { DebMatch } from './why-index.js';

export type WhyOwner = DpkgOwner & { deb: DebMatch | null };

/**
 * How the history begins: `added` by a recorded step; `unrecorded` (added
 * between two steps, outside any capture); `untracked` (already there in the
 * earliest recorded state); `unproduced` (the tree is no receipt's output).
 */
export type WhyStart = 'added' | 'unrecorded' | 'untracked' | 'unproduced';

export interface WhyResult {
  query: string;
  /** Set when the query was a host path under a recorded root: answered for `path` in that root's trees. */
  fromHostPath?: HostPathMatch;
  /** The entry's path in the tree, relative to its root, with no symlink among its directories. */
  path: string;
  /** Symlinks followed to get from the query to `path` (e.g. bin -> usr/bin). */
  followed: FollowedLink[];
  tree: Digest;
  /** The receipt output (or, failing any, input) the tree is; null for a --tree no receipt names. */
  treeFrom: TreeFrom | null;
  entry: EntryInfo;
  /** Symlinks: the path the link resolves to in the tree, null when dangling. */
  resolvesTo?: string | null;
  /** Oldest first. */
  history: WhyStep[];
  start: WhyStart;
  /** For `untracked`: the earliest recorded state that already held the path. */
  untrackedIn?: { tree: Digest; beforeSeq: number };
  /** Index in `history` of the step that created the path (null when not recorded). */
  createdBy: number | null;
  /** Index in `history` of the step whose write the current content is (null when it predates the record). */
  contentBy: number | null;
  dpkg: { database: boolean; owners: WhyOwner[] };
  /** Regular files: receipts that output exactly these bytes as a file (an ingested overlay file, a declared output). */
  sameBytes: Array<{ seq: number; receipt: Digest; step: string; artifact: string }>;
  stats: { receipts: number; treesRead: number };
}

function isLookupMiss(err: unknown): boolean {
  return (
    err instanceof AslError && (err.code === 'NOT_FOUND' || err.code === 'SYMLINK_LOOP' || err.code === 'BAD_INPUT')
  );
}

interface Start {
  tree: Digest;
  resolved: ResolvedPath;
  /** The receipt that output the tree (where its history starts). */
  producer: number | undefined;
  /** Where the tree was found. */
  found?: TreeFrom;
}

export interface TreeFrom {
  seq: number;
  receipt: Digest;
  step: string;
  /** The artifact's name in that receipt (usually the host path). */
  artifact: string;
  as: 'output' | 'input';
}

/** Where to look in one tree: the path inside it, or null to skip the tree. */
type Locate = (tree: OutputTree) => string | null;

/**
 * The newest output tree (log order) that holds the path `locate` gives for it;
 * failing that, the newest input tree (a declared input nobody output, such as a
 * folder given to --artifact-inputs).
 */
async function findNewest(
  reader: TreeReader,
  index: ReceiptIndex,
  locate: Locate,
  only?: ReceiptSummary,
): Promise<Start | undefined> {
  const receipts = only ? [only] : index.receipts;
  let loop: unknown;
  for (const as of ['output', 'input'] as const) {
    for (let i = receipts.length - 1; i >= 0; i--) {
      const r = receipts[i]!;
      for (const o of as === 'output' ? r.outputTrees : r.inputTrees) {
        const query = locate(o);
        if (query === null) continue;
        try {
          const resolved = await reader.resolve(o.digest, Buffer.from(query), { label: query });
          const producer = as === 'output' ? r.index : newestBelow(index.producers.get(o.digest), r.index);
          return {
            tree: o.digest,
            resolved,
            producer,
            found: { seq: r.seq, receipt: r.id, step: r.step, artifact: o.name, as },
          };
        } catch (err) {
          if (!isLookupMiss(err)) throw err;
          loop ??= (err as AslError).code === 'SYMLINK_LOOP' ? err : undefined;
        }
      }
    }
    if (only) break;
  }
  // A symlink loop says more than "not found" when no tree holds the path.
  if (loop) throw loop;
  return undefined;
}

/**
 * A host path (`$ISO_ROOT/usr/bin/node`) read inside the trees recorded for the roots
 * that contain it, newest first; with nested roots, each tree is searched at the path
 * relative to its own root.
 */
async function findByHostPath(
  reader: TreeReader,
  index: ReceiptIndex,
  hostPath: string,
  only?: ReceiptSummary,
): Promise<(Start & { host: HostPathMatch }) | undefined> {
  const start = await findNewest(reader, index, (o) => insideRoot(o.path, hostPath), only);
  if (!start) return undefined;
  const r = index.receipts.find((x) => x.id === start.found!.receipt)!;
  const tree = [...r.outputTrees, ...r.inputTrees].find(
    (o) => o.digest === start.tree && insideRoot(o.path, hostPath) !== null,
  )!;
  return { ...start, host: { hostPath, root: tree.path!, path: `/${insideRoot(tree.path, hostPath)}` } };
}

/**
 * The tree to answer in. PATH is read inside the trees (a leading slash is the
 * tree's root); an absolute PATH under a recorded host root is read as that host
 * file first (`$ISO_ROOT/usr/bin/node` is /usr/bin/node in ISO_ROOT's trees), and a
 * relative one that no tree holds is tried as a host path from `cwd`.
 */
async function chooseTree(
  reader: TreeReader,
  index: ReceiptIndex,
  query: string,
  treeOpt: string | undefined,
  cwd: string | undefined,
): Promise<Start & { host?: HostPathMatch }> {
  const absolute = posix.isAbsolute(query);
  const hostPath = absolute
    ? posix.normalize(query)
    : cwd !== undefined && posix.isAbsolute(cwd)
      ? posix.resolve(cwd, query)
      : null;
  const literal: Locate = () => query;
  const search = async (only?: ReceiptSummary) =>
    (absolute && hostPath !== null ? await findByHostPath(reader, index, hostPath, only) : undefined) ??
    (await findNewest(reader, index, literal, only)) ??
    (!absolute && hostPath !== null ? await findByHostPath(reader, index, hostPath, only) : undefined);
  if (treeOpt === undefined) {
    const found = await search();
    if (!found) {
      const hint = notFoundHint(index, absolute ? hostPath : null);
      throw new AslError(
        'NOT_FOUND',
        `${query}: in no output tree of the ${index.receipts.length} receipts in ${reader.store.root}${hint}`,
        { data: { path: query } },
      );
    }
    return found;
  }
  if (!isDigest(treeOpt))
    throw new AslError('BAD_INPUT', `${treeOpt}: not a tree id (expected sha256:<64 hex digits>)`);
  const receipt = index.receipts.find((r) => r.id === treeOpt);
  if (receipt) {
    const found = await search(receipt);
    if (!found)
      throw new AslError('NOT_FOUND', `${query}: in no output tree of receipt ${treeOpt} (${receipt.step})`, {
        data: { path: query },
      });
    return found;
  }
  const tree = await reader.tree(treeOpt);
  if (!tree) throw new AslError('BAD_INPUT', `${treeOpt}: is a blob or a receipt not in the log, not a tree`);
  try {
    const resolved = await reader.resolve(treeOpt, Buffer.from(query), { label: query });
    return { tree: treeOpt, resolved, producer: newestBelow(index.producers.get(treeOpt), Infinity) };
  } catch (err) {
    // A host path, with the tree named: read it relative to the root this tree was recorded for.
    const root =
      hostPath === null || !isLookupMiss(err)
        ? undefined
        : recordedRoots(index).find(
            (r) =>
              insideRoot(r, hostPath) !== null &&
              index.receipts.some((x) =>
                [...x.outputTrees, ...x.inputTrees].some((o) => o.digest === treeOpt && o.path === r),
              ),
          );
    if (root === undefined) throw err;
    const path = `/${insideRoot(root, hostPath!)}`;
    const resolved = await reader.resolve(treeOpt, Buffer.from(path), { label: query });
    return {
      tree: treeOpt,
      resolved,
      producer: newestBelow(index.producers.get(treeOpt), Infinity),
      host: { hostPath: hostPath!, root, path },
    };
  }
}

function stepFields(r: ReceiptSummary): Pick<WhyStep, 'seq' | 'receipt' | 'step' | 'stepKind' | 'command' | 'status'> {
  return { seq: r.seq, receipt: r.id, step: r.step, stepKind: r.kind, command: r.what, status: r.status };
}

function kindOf(fields: ChangedField[]): WhyChangeKind {
  return fields.some((f) => f === 'type' || f === 'content' || f === 'target' || f === 'rdev')
    ? 'modified'
    : 'metadata';
}

/** How receipt `r` produced tree `tree`: the watched root's before-tree, or none (declared / ingested output). */
function producedFrom(
  r: ReceiptSummary,
  tree: Digest,
): { before: Digest | null; root: string | undefined; output: OutputTree | undefined } {
  const w = r.watched.find((x) => x.after === tree);
  const output = r.outputTrees.find((o) => o.digest === tree);
  return { before: w ? w.before : null, root: w?.path ?? output?.path ?? output?.name, output };
}

/**
 * The steps that changed the entry at the start's path, newest first while walking,
 * returned oldest first, and how the history begins.
 */
async function walkBack(
  reader: TreeReader,
  index: ReceiptIndex,
  start: Start,
): Promise<{ history: WhyStep[]; kind: WhyStart; untrackedIn?: WhyResult['untrackedIn'] }> {
  const parts = start.resolved.parts;
  const newestFirst: WhyStep[] = [];
  let kind: WhyStart = 'unproduced';
  let untrackedIn: WhyResult['untrackedIn'];

  let cur: Digest = start.tree;
  let curEntry = start.resolved.entry;
  let idx = start.producer;
  while (idx !== undefined) {
    const r = index.receipts[idx]!;
    const { before, root } = producedFrom(r, cur);
    const beforeEntry = await reader.entryAt(before, parts);
    const trees = { before, after: cur };
    if (!beforeEntry) {
      newestFirst.push({
        kind: 'added',
        recorded: true,
        ...stepFields(r),
        ...(root ? { root } : {}),
        trees,
        before: null,
        after: entryInfo(curEntry),
        fields: [],
      });
      kind = 'added';
      break;
    }
    const fields = changedFields(beforeEntry, curEntry);
    if (fields.length > 0) {
      newestFirst.push({
        kind: kindOf(fields),
        recorded: true,
        ...stepFields(r),
        ...(root ? { root } : {}),
        trees,
        before: entryInfo(beforeEntry),
        after: entryInfo(curEntry),
        fields,
      });
    }
    cur = before!;
    curEntry = beforeEntry;
    const prev = newestBelow(index.producers.get(cur), idx);
    if (prev !== undefined) {
      idx = prev;
      continue;
    }
    // No step output this before-tree: the root changed outside any capture. The
    // newest earlier output at the same host path is the last recorded state.
    const hostIdx = root ? newestBelow(index.byHostPath.get(root), idx) : undefined;
    if (hostIdx === undefined) {
      kind = 'untracked';
      untrackedIn = { tree: cur, beforeSeq: r.seq };
      break;
    }
    const h = index.receipts[hostIdx]!;
    const recordedTree = h.outputTrees.find((o) => o.path === root)!.digest;
    const recordedEntry = await reader.entryAt(recordedTree, parts);
    const between = { afterSeq: h.seq, beforeSeq: r.seq };
    if (!recordedEntry) {
      newestFirst.push({
        kind: 'added',
        recorded: false,
        between,
        root: root!,
        trees: { before: recordedTree, after: cur },
        before: null,
        after: entryInfo(curEntry),
        fields: [],
      });
      kind = 'unrecorded';
      break;
    }
    const gap = changedFields(recordedEntry, curEntry);
    if (gap.length > 0) {
      newestFirst.push({
        kind: kindOf(gap),
        recorded: false,
        between,
        root: root!,
        trees: { before: recordedTree, after: cur },
        before: entryInfo(recordedEntry),
        after: entryInfo(curEntry),
        fields: gap,
      });
    }
    cur = recordedTree;
    curEntry = recordedEntry;
    idx = hostIdx;
  }

  return { history: newestFirst.reverse(), kind, ...(untrackedIn ? { untrackedIn } : {}) };
}

/** `cwd`: where a relative PATH that no tree holds is tried as a host path from (the CLI passes its own). */
export async function why(store: Store, query: string, opts: { tree?: string; cwd?: string } = {}): Promise<WhyResult> {
  if (query === '' || query.split('/').every((p) => p === '' || p === '.'))
    throw new AslError('USAGE', 'why: PATH must name something inside the tree, not its root');
  const index = await loadReceiptIndex(store);
  const reader = new TreeReader(store, { sync: true });
  const start = await chooseTree(reader, index, query, opts.tree, opts.cwd);
  const parts = start.resolved.parts;
  const { history, kind, untrackedIn } = await walkBack(reader, index, start);
  const createdBy = kind === 'added' || kind === 'unrecorded' ? 0 : null;
  let contentBy: number | null = null;
  for (let i = history.length - 1; i >= 0; i--)
    if (history[i]!.kind !== 'metadata') {
      contentBy = i;
      break;
    }

  const producerReceipt = start.producer !== undefined ? index.receipts[start.producer]! : undefined;
  const treeFrom: TreeFrom | null = producerReceipt
    ? {
        seq: producerReceipt.seq,
        receipt: producerReceipt.id,
        step: producerReceipt.step,
        artifact: producedFrom(producerReceipt, start.tree).output?.name ?? '',
        as: 'output',
      }
    : (start.found ?? null);
  const entry = start.resolved.entry;
  const sameBytes =
    entry.type === 'file'
      ? (index.blobOutputs.get(entry.digest!) ?? []).map((b) => {
          const r = index.receipts[b.index]!;
          return { seq: r.seq, receipt: r.id, step: r.step, artifact: b.name };
        })
      : [];

  const dpkg = await dpkgOwners(reader, start.tree, joinParts(parts), start.resolved.entry);
  const contentStep = contentBy !== null ? history[contentBy]! : undefined;
  const limit =
    contentStep?.seq !== undefined
      ? index.receipts.findIndex((r) => r.seq === contentStep.seq)
      : (start.producer ?? index.receipts.length - 1);
  const owners: WhyOwner[] = dpkg.owners.map((o) => ({ ...o, deb: matchDeb(index, o, limit) }));

  const result: WhyResult = {
    query,
    ...(start.host ? { fromHostPath: start.host } : {}),
    path: joinParts(parts).toString('utf8'),
    followed: start.resolved.followed,
    tree: start.tree,
    treeFrom,
    entry: entryInfo(start.resolved.entry),
    history,
    start: kind,
    ...(untrackedIn ? { untrackedIn } : {}),
    createdBy,
    contentBy,
    dpkg: { database: dpkg.database, owners },
    sameBytes,
    stats: { receipts: index.receipts.length, treesRead: 0 },
  };
  if (start.resolved.entry.type === 'symlink') {
    try {
      const target = await reader.resolve(start.tree, joinParts(parts), { followLast: true });
      result.resolvesTo = joinParts(target.parts).toString('utf8');
    } catch (err) {
      if (!isLookupMiss(err)) throw err;
      result.resolvesTo = null;
    }
  }
  result.stats.treesRead = reader.treesRead;
  return result;
}
