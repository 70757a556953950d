/**
 * What a snapshot is asked and what it counts: shared by snapshot.ts and the walk it
 * runs (ingest-walk.ts), so neither imports the other.
 */
import type { StatCache } from './stat-cache.js';

export interface SnapshotProgress {
  files: number;
  totalFiles: number;
  bytes: number;
}

export interface SnapshotOptions {
  /** Leave out an entry (absolute path as bytes); e.g. the store inside a watched root. */
  exclude?: (absPath: Buffer) => boolean;
  /** Do not descend into directories on another file system (mounted /proc in a chroot…). Default true. */
  oneFileSystem?: boolean;
  cache?: StatCache;
  onProgress?: (progress: SnapshotProgress) => void;
}

export interface SnapshotStats {
  files: number;
  dirs: number;
  other: number;
  bytes: number;
  hashedFiles: number;
  hashedBytes: number;
  cachedFiles: number;
  skippedMounts: string[];
  excluded: number;
}
