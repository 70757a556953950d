/**
 * Snapshot: turn a file or directory into store objects. A directory becomes one
 * tree object per directory (a Merkle tree), every regular file a blob.
 *
 * A directory is ingested in one streaming pass (ingest-walk.ts): a depth-first
 * walk in name order with one native call per directory; regular files are read,
 * hashed and staged on worker threads in chunks (ingest-stager.ts), skipping
 * files whose (dev, ino, size, mtime, ctime) match the stat cache; each tree is
 * built as soon as its directory is done, or taken from the tree cache when
 * nothing in it changed. Objects go into an ObjectBatch; the caller commits it
 * (one flush for all).
 */
import { statSync } from 'node:fs';
import { realpath } from 'node:fs/promises';
import type { Digest } from '../core/digest.js';
import { AslError, fsError } from '../core/errors.js';
import { walkTree } from './ingest-walk.js';
import type { ObjectBatch } from './object-batch.js';
import type { ScanEntry } from './native.js';
import type { SnapshotOptions, SnapshotStats } from './snapshot-options.js';
import type { StatKey } from './stat-cache.js';
import { entryTypeOfMode } from './tree-model.js';

export type { SnapshotOptions, SnapshotProgress } from './snapshot-options.js';

export interface SnapshotResult {
  kind: 'tree' | 'blob';
  id: Digest;
  /** Timestamps object (trees only). */
  times?: Digest;
  size: number;
  stats: SnapshotStats;
}

function statKey(st: ScanEntry): StatKey {
  return {
    dev: st.dev,
    ino: st.ino,
    size: st.size,
    mtimeSec: st.mtimeSec,
    mtimeNsec: st.mtimeNsec,
    ctimeSec: st.ctimeSec,
    ctimeNsec: st.ctimeNsec,
  };
}

/** Root metadata via stat (following a symlink given as the root, like cp does). */
function rootEntry(abs: Buffer): ScanEntry {
  const st = statSync(abs, { bigint: true });
  const ns = (t: bigint) => ({ sec: Number(t / 1_000_000_000n), nsec: Number(t % 1_000_000_000n) });
  const m = ns(st.mtimeNs);
  const c = ns(st.ctimeNs);
  return {
    name: Buffer.alloc(0),
    mode: Number(st.mode),
    uid: Number(st.uid),
    gid: Number(st.gid),
    nlink: Number(st.nlink),
    dev: Number(st.dev),
    ino: Number(st.ino),
    rdevMajor: 0,
    rdevMinor: 0,
    size: Number(st.size),
    mtimeSec: m.sec,
    mtimeNsec: m.nsec,
    ctimeSec: c.sec,
    ctimeNsec: c.nsec,
    xattrBytes: 1,
  };
}

export async function snapshot(batch: ObjectBatch, path: string, opts: SnapshotOptions = {}): Promise<SnapshotResult> {
  let real: string;
  try {
    real = await realpath(path);
  } catch (err) {
    throw fsError(path, err);
  }
  const abs = Buffer.from(real);
  let rootSt: ScanEntry;
  try {
    rootSt = rootEntry(abs);
  } catch (err) {
    throw fsError(path, err);
  }
  // Files hashed by an earlier snapshot of this process (the same root before a command) are found, not read again.
  opts.cache?.absorb();
  const examinedAtNs = BigInt(Date.now()) * 1_000_000n;
  const stats: SnapshotStats = {
    files: 0,
    dirs: 0,
    other: 0,
    bytes: 0,
    hashedFiles: 0,
    hashedBytes: 0,
    cachedFiles: 0,
    skippedMounts: [],
    excluded: 0,
  };
  const rootType = entryTypeOfMode(rootSt.mode);

  if (rootType === 'file') {
    const cached = opts.cache?.lookup(statKey(rootSt));
    if (cached) {
      stats.files = 1;
      stats.bytes = rootSt.size;
      stats.cachedFiles = 1;
      return { kind: 'blob', id: cached, size: rootSt.size, stats };
    }
    const { digest, size } = await batch.addFile(abs, rootSt.size);
    opts.cache?.remember(statKey(rootSt), digest, examinedAtNs);
    stats.files = 1;
    stats.bytes = size;
    stats.hashedFiles = 1;
    stats.hashedBytes = size;
    return { kind: 'blob', id: digest, size, stats };
  }
  if (rootType !== 'dir') throw new AslError('BAD_INPUT', `${path}: not a regular file or directory`);

  const { id, times, totals } = await walkTree(batch, abs, rootSt, opts, examinedAtNs, stats);
  return { kind: 'tree', id, times, size: totals.bytes, stats };
}
