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
  debs: Array<{ path: string; digest: Digest; size: number }>;
}

export async function summarizeChanges(store: Store, batch: ObjectBatch, before: SnapshotResult | null, after: SnapshotResult | null): Promise<ChangeSummary> {
  const summary: ChangeSummary = { added: 0, modified: 0, removed: 0, debs: [] };
  if (before?.id === after?.id) return summary;
  const lines: string[] = [];
  const note = (change: string, path: string, type: string) => lines.push(canonicalize({ change, path, type }));
  const isTree = (s: SnapshotResult | null) => s?.kind === 'tree';
  if ((before && !isTree(before)) || (after && !isTree(after))) {
    // A watched file (blob) rather than a directory.
    if (!before) { summary.added = 1; note('added', '', 'file'); }
    else if (!after) { summary.removed = 1; note('removed', '', 'file'); }
    else { summary.modified = 1; note('modified', '', 'file'); }
  } else {
    for await (const c of diffTrees(store, before?.id ?? null, after?.id ?? null)) {
      const path = pathText(c.path);
      if (c.kind === 'added') summary.added++;
      else if (c.kind === 'removed') summary.removed++;
      else summary.modified++;
      note(c.kind, path, c.type);
      const entry = c.after;
      if ((c.kind === 'added' || c.kind === 'modified') && entry?.type === 'file' && path.endsWith('.deb')) {
        summary.debs.push({ path, digest: entry.digest!, size: entry.size! });
      }
    }
  }
  if (lines.length > 0) {
    const bytes = Buffer.from(lines.join('\n') + '\n');
    summary.paths = await batch.addBytes(bytes);
    summary.pathsSize = bytes.length;
  }
  return summary;
}
