import { join } from 'node:path';
import { digestHex } from '../core/digest.js';
import { writeFileAtomic } from '../core/write-file-atomic.js';
import { REFS_DIR } from './layout.js';
import { ObjectBatch } from './object-batch.js';
import { snapshot, type SnapshotOptions, type SnapshotResult } from './snapshot.js';
import { StatCache } from './stat-cache.js';
import type { Store } from './store.js';
import { makeDirs, STORE_MODES } from './store-modes.js';

export const PUT_REFS_DIR = `${REFS_DIR}/put`;

/**
 * Stores a file or directory and records it as a root of the store (refs/put/),
 * so verify knows it must be complete and restore finds its timestamps. Order:
 * objects durable → ref written → stat cache updated; a crash before the ref
 * leaves only unreferenced objects.
 */
export async function putPath(
  store: Store,
  path: string,
  opts: Omit<SnapshotOptions, 'cache'> & { useCache?: boolean } = {},
): Promise<SnapshotResult> {
  const cache = opts.useCache === false ? undefined : await StatCache.load(store);
  const batch = new ObjectBatch(store);
  let result: SnapshotResult;
  try {
    result = await snapshot(batch, path, { ...opts, ...(cache ? { cache } : {}) });
    const committed = batch.commit();
    // The new stat-cache records are merged while the commit waits for the disk.
    cache?.absorb();
    await committed;
  } catch (err) {
    await batch.abort();
    throw err;
  }
  await recordRoot(store, result, path);
  await cache?.save();
  return result;
}

export interface RootRecord {
  id: string;
  kind: 'tree' | 'blob';
  times?: string;
  source: string;
  at: string;
}

export async function recordRoot(store: Store, result: SnapshotResult, source: string): Promise<void> {
  const dir = join(store.root, PUT_REFS_DIR);
  await makeDirs(dir);
  const record: RootRecord = {
    id: result.id,
    kind: result.kind,
    ...(result.times ? { times: result.times } : {}),
    source,
    at: new Date().toISOString(),
  };
  await writeFileAtomic(join(dir, digestHex(result.id)), `${JSON.stringify(record)}\n`, {
    durable: 'file',
    mode: STORE_MODES.file,
  });
}
