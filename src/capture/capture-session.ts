/**
 * What the stages of a command capture share: one object batch (every object is
 * staged there and committed with one flush), the stat cache, the scratch
 * directory for the logs, and the snapshots taken so far.
 */
import { randomBytes } from 'node:crypto';
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { TMP_DIR } from '../store/layout.js';
import { ObjectBatch } from '../store/object-batch.js';
import { snapshot, type SnapshotResult } from '../store/snapshot.js';
import { StatCache } from '../store/stat-cache.js';
import type { Store } from '../store/store.js';
import type { CapturePlan } from './capture-plan.js';

export interface CaptureSession {
  store: Store;
  batch: ObjectBatch;
  cache: StatCache;
  /** Under the store's tmp/: the command's logs (and trace) until they are stored. */
  workDir: string;
  /** Every snapshot with the path it was taken of: a tree among them is recorded as a root on commit. */
  roots: Array<[SnapshotResult, string]>;
  /** Snapshot a path whole (but for the plan's excluded paths) into the batch. */
  snap(path: string): Promise<SnapshotResult>;
  /** The snapshot of a path, or null when it does not exist. */
  snapIfExists(path: string): Promise<SnapshotResult | null>;
  exists(path: string): Promise<boolean>;
}

export async function openCaptureSession(store: Store, plan: CapturePlan): Promise<CaptureSession> {
  const excluded = plan.excludedPaths.map((p) => Buffer.from(p));
  const cache = await StatCache.load(store);
  const batch = new ObjectBatch(store);
  const workDir = join(store.root, TMP_DIR, `capture-${process.pid}-${randomBytes(4).toString('hex')}`);
  const exists = async (path: string) => {
    try {
      await lstat(path);
      return true;
    } catch {
      return false;
    }
  };
  // Every root is snapshotted whole (but for the store, the outdir and asl's own log), also
  // the working directory around other roots: a recorded tree is always the true state of its
  // path, so its sub-trees are true states of theirs. Files hashed for one root are found in
  // the stat cache by the next: a nested root costs a second walk, not a second read.
  const snap = (path: string) =>
    snapshot(batch, path, { cache, exclude: (abs: Buffer) => excluded.some((e) => abs.equals(e)) });
  return {
    store,
    batch,
    cache,
    workDir,
    roots: [],
    snap,
    exists,
    snapIfExists: async (path) => ((await exists(path)) ? await snap(path) : null),
  };
}
