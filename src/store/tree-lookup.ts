import type { Digest } from '../core/digest.js';
import { AslError } from '../core/errors.js';
import { readObject } from './object-read.js';
import type { Store } from './store.js';
import { decodeTree, isTreeBytes, type Tree, type TreeEntry } from './tree-model.js';

export async function readTree(store: Store, id: Digest): Promise<Tree> {
  const bytes = await readObject(store, id);
  if (!isTreeBytes(bytes)) throw new AslError('BAD_INPUT', `${id}: is a blob, not a tree`);
  return decodeTree(bytes, id);
}

/** Splits "a/b//c/" into components; "" and "." mean the root. ".." is refused. */
export function pathComponents(path: string): Buffer[] {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new AslError('BAD_INPUT', `${path}: ".." is not allowed in a tree path`);
  return parts.map((p) => Buffer.from(p, 'utf8'));
}

export type Resolved = { kind: 'root'; id: Digest; tree: Tree } | { kind: 'entry'; entry: TreeEntry; parent: Tree };

/** Finds PATH inside tree `id` without following symlinks. */
export async function resolveTreePath(store: Store, id: Digest, path: string): Promise<Resolved> {
  const parts = pathComponents(path);
  let tree = await readTree(store, id);
  if (parts.length === 0) return { kind: 'root', id, tree };
  for (let i = 0; i < parts.length; i++) {
    const name = parts[i]!;
    const entry = findEntry(tree, name);
    if (!entry) throw new AslError('NOT_FOUND', `${path}: no such path in tree ${id}`);
    if (i === parts.length - 1) return { kind: 'entry', entry, parent: tree };
    if (entry.type !== 'dir')
      throw new AslError(
        'NOT_FOUND',
        `${path}: ${parts.slice(0, i + 1).join('/')} is a ${entry.type}, not a directory`,
      );
    tree = await readTree(store, entry.digest!);
  }
  throw new Error('unreachable');
}

/** Binary search: entries are sorted by raw name bytes. */
export function findEntry(tree: Tree, name: Buffer): TreeEntry | undefined {
  let lo = 0;
  let hi = tree.entries.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const c = Buffer.compare(tree.entries[mid]!.name, name);
    if (c === 0) return tree.entries[mid];
    if (c < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return undefined;
}
