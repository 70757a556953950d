/**
 * Host paths in `asl why`: an operator copies a path from the build machine
 * (`$ISO_ROOT/usr/bin/node`), while trees hold paths relative to the root that was
 * captured. A capture records each tree's host path (a watched root, a declared input
 * or output, an ingested directory), so a host path under one of them is a path in
 * that root's trees; these helpers map one to the other and say what to type when no
 * tree holds the path.
 */
import { posix } from 'node:path';
import type { ReceiptIndex } from './why-index.js';

/** A host path read as a path inside the trees recorded for the root it lies under. */
export interface HostPathMatch {
  /** The host path, normalized (absolute). */
  hostPath: string;
  /** The recorded root (a watched root, or a declared or ingested tree) it lies under. */
  root: string;
  /** Its path in that root's trees, with a leading slash. */
  path: string;
}

/** The host path below a recorded root, relative to it; null when `hostPath` is not strictly inside `root`. */
export function insideRoot(root: string | undefined, hostPath: string): string | null {
  if (!root || !posix.isAbsolute(root)) return null;
  const base = root.endsWith('/') ? root : `${root}/`;
  return hostPath.startsWith(base) && hostPath.length > base.length ? hostPath.slice(base.length) : null;
}

/** Every recorded root (a tree's host path), each once: watched roots first, newest receipt first. */
export function recordedRoots(index: ReceiptIndex): string[] {
  const watched = new Set<string>();
  const others = new Set<string>();
  for (let i = index.receipts.length - 1; i >= 0; i--) {
    for (const o of [...index.receipts[i]!.outputTrees, ...index.receipts[i]!.inputTrees]) {
      if (o.path && posix.isAbsolute(o.path)) (o.role === 'watched' ? watched : others).add(o.path);
    }
  }
  return [...watched, ...[...others].filter((r) => !watched.has(r))];
}

/**
 * What to add to "in no output tree": for a host path under a recorded root, that no
 * tree recorded there holds it; otherwise what PATH may be, with the roots to use.
 */
export function notFoundHint(index: ReceiptIndex, hostPath: string | null): string {
  const roots = recordedRoots(index);
  const under = hostPath === null ? undefined : roots.find((root) => insideRoot(root, hostPath) !== null);
  if (under !== undefined) {
    return `; it lies under the recorded root ${under}, but no tree recorded there holds ${`/${insideRoot(under, hostPath!)}`} (made after the last capture, or left out of it?)`;
  }
  const named =
    roots.length === 0
      ? ''
      : `, or a host path under a recorded root (${roots.slice(0, 3).join(', ')}${roots.length > 3 ? ', …' : ''})`;
  return `; PATH is a path inside a captured tree (as usr/bin/node)${named}; --tree ID names the tree`;
}
