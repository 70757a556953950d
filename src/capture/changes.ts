/**
 * What one watched root gained, changed and lost during a step: counts for the
 * receipt, the full path list as an artifact (so the receipt stays small however
 * big the tree is), and the .deb files that appeared (downloaded packages).
 */
import type { Digest } from '../core/digest.js';
import { canonicalize } from '../core/canonical-json.js';
import type { ObjectBatch } from '../store/object-batch.js';
import type { SnapshotResult } from '../store/snapshot.js';
import type { Store } from '../store/store.js';
import { diffTrees, pathText } from '../store/tree-diff.js';

export interface ChangeSummary {
  added: number;
  modified: number;
  removed: number;
  /** The path list artifact: JSON lines {"change","path","type"}; absent when nothing changed. */
  paths?: Digest;
  pathsSize?: number;
  /** .deb files added or modified, relative to the root. */
  debs: ChangedFile[];
  /**
   * Regular files added or modified, relative to the root, when there are at most
   * `productLimit` of them (the step's products, listed one by one in the receipt);
   * null when there are more (the after-tree and the path list hold them).
   */
  files: ChangedFile[] | null;
}

export interface ChangedFile {
  path: string;
  digest: Digest;
  size: number;
}

export interface SummarizeOptions {
  /** Most regular files listed in `files` (default 64). */
  productLimit?: number;
}

const DEFAULT_PRODUCT_LIMIT = 64;

export async function summarizeChanges(
  store: Store,
  batch: ObjectBatch,
  before: SnapshotResult | null,
  after: SnapshotResult | null,
  opts: SummarizeOptions = {},
): Promise<ChangeSummary> {
  const limit = opts.productLimit ?? DEFAULT_PRODUCT_LIMIT;
  const summary: ChangeSummary = { added: 0, modified: 0, removed: 0, debs: [], files: [] };
  if (before?.id === after?.id) return summary;
  const lines: string[] = [];
  const note = (change: string, path: string, type: string) => lines.push(canonicalize({ change, path, type }));
  const isTree = (s: SnapshotResult | null) => s?.kind === 'tree';
  if ((before && !isTree(before)) || (after && !isTree(after))) {
    // A watched file (blob) rather than a directory.
    if (!before) {
      summary.added = 1;
      note('added', '', 'file');
    } else if (!after) {
      summary.removed = 1;
      note('removed', '', 'file');
    } else {
      summary.modified = 1;
      note('modified', '', 'file');
    }
  } else {
    for await (const c of diffTrees(store, before?.id ?? null, after?.id ?? null)) {
      const path = pathText(c.path);
      if (c.kind === 'added') summary.added++;
      else if (c.kind === 'removed') summary.removed++;
      else summary.modified++;
      note(c.kind, path, c.type);
      const entry = c.after;
      if ((c.kind === 'added' || c.kind === 'modified') && entry?.type === 'file') {
        const file = { path, digest: entry.digest!, size: entry.size! };
        if (/\.u?deb$/.test(path)) summary.debs.push(file);
        if (summary.files !== null) {
          if (summary.files.length < limit) summary.files.push(file);
          else summary.files = null;
        }
      }
    }
  }
  if (lines.length > 0) {
    const bytes = Buffer.from(`${lines.join('\n')}\n`);
    summary.paths = await batch.addBytes(bytes);
    summary.pathsSize = bytes.length;
  }
  return summary;
}
