/**
 * The directory half of a snapshot, as one streaming pass:
 *
 *  - walk depth-first in name order (the order hard links and times are recorded
 *    in), one native call per directory for its whole listing, upcoming
 *    directories listed ahead on worker threads (ListingPrefetcher);
 *  - hand regular files to a FileStager (read + sha256 + stage on worker threads)
 *    unless the stat cache knows them;
 *  - build each directory's tree as soon as its files and sub-trees are done,
 *    then drop its listing; a directory whose ingredients are unchanged takes its
 *    tree id from the tree cache without building it.
 *
 * Memory is bounded by the stager's backlog and the directories still open, not
 * by the size of the tree; what grows with the tree is the times list (16 bytes
 * an entry) and the new stat-cache records (80 bytes a hashed file).
 */
import { performance } from 'node:perf_hooks';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { Digest } from '../core/digest.js';
import { digestBytes } from '../core/digest.js';
import { AslError, fsError } from '../core/errors.js';
import { ListingPrefetcher, type ListedEntry } from './ingest-listing.js';
import { FileStager } from './ingest-stager.js';
import { encodeTimesList } from './ingest-times.js';
import { timesCacheKey, treeCacheKey, type CachedTree } from './ingest-tree-cache.js';
import { native, type ScanEntry } from './native.js';
import type { ObjectBatch } from './object-batch.js';
import type { SnapshotOptions, SnapshotStats } from './snapshot-options.js';
import { isRacy, racyLimit } from './stat-cache.js';
import { TreeEncoder } from './ingest-tree-encode.js';
import { entryTypeOfMode, type EntryType, type TreeSelf, type TreeTotals } from './tree-model.js';

const SLASH = Buffer.from('/');
const EMPTY: Buffer = Buffer.alloc(0);
/** Walk for at most this long (ms) between event-loop turns, so finished chunks are collected and workers refilled. */
const YIELD_EVERY_MS = 2;
const BACKLOG_PAUSE = 4096;

interface Entry extends ListedEntry {
  type: EntryType;
  digest?: Digest;
  /** Bytes actually stored for a regular file. */
  contentSize?: number;
  hardlink?: Buffer;
  sub?: CachedTree;
}

interface DirJob {
  parent: DirJob | null;
  /** Index of this directory in the parent's entries. */
  slot: number;
  abs: Buffer;
  /** Path relative to the snapshot root (null for the root). */
  rel: Buffer | null;
  self: TreeSelf;
  /** This directory's own record, as part of the tree-cache key. */
  selfKey: Buffer;
  entries: Entry[];
  /** The native listing the entries point into. */
  listing: Buffer;
  /** The listing bytes of the entries kept (all of it unless some were excluded). */
  parts: Buffer[];
  /** Files, sub-directories and hard-link sources not done yet, plus one while the walk is inside. */
  pending: number;
  cacheable: boolean;
  /** A leaf directory found in the tree cache before its files were looked at. */
  known?: CachedTree;
}

interface HardlinkGroup {
  rel: Buffer;
  digest?: Digest;
  size?: number;
  waiters: Array<() => void>;
}

/** A growable list of numbers in one Float64Array (times: two per entry). */
class NumberList {
  data = new Float64Array(4096);
  length = 0;
  push2(a: number, b: number): void {
    if (this.length + 2 > this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = a;
    this.data[this.length++] = b;
  }
  view(): Float64Array {
    return this.data.subarray(0, this.length);
  }
}

function joinPath(dir: Buffer, name: Buffer): Buffer {
  return dir.length === 1 && dir[0] === 0x2f ? Buffer.concat([SLASH, name]) : Buffer.concat([dir, SLASH, name]);
}

function sortedXattrs(abs: Buffer): Array<[Buffer, Buffer]> {
  try {
    return native()
      .lxattrs(abs)
      .sort((a, b) => Buffer.compare(a[0], b[0]));
  } catch (err) {
    throw fsError(abs.toString(), err, 'cannot read extended attributes');
  }
}

/** The root's own record for the tree-cache key (it has no record in a parent listing). */
function rootSelfKey(st: ScanEntry, xattrs: Array<[Buffer, Buffer]>): Buffer {
  return Buffer.from(
    JSON.stringify([
      'root',
      st.mode,
      st.uid,
      st.gid,
      st.dev,
      st.ino,
      st.mtimeSec,
      st.mtimeNsec,
      st.ctimeSec,
      st.ctimeNsec,
      xattrs.map(([n, v]) => [n.toString('base64'), v.toString('base64')]),
    ]),
  );
}

export interface WalkResult {
  id: Digest;
  times: Digest;
  totals: TreeTotals;
}

export async function walkTree(
  batch: ObjectBatch,
  rootAbs: Buffer,
  rootSt: ScanEntry,
  opts: SnapshotOptions,
  examinedAtNs: bigint,
  stats: SnapshotStats,
): Promise<WalkResult> {
  const cache = opts.cache;
  const limit = racyLimit(examinedAtNs);
  const oneFs = opts.oneFileSystem ?? true;
  const mtimes = new NumberList();
  const hardlinks = new Map<string, HardlinkGroup>();
  const deferredTrees: Array<Promise<Digest>> = [];
  const prefetch = new ListingPrefetcher();
  let result: CachedTree | undefined;
  let filesDone = 0;
  let filesSeen = 0;
  let lastReport = 0;

  const encoder = new TreeEncoder();
  /** `bytes` may be the encoder's buffer: copied before the next tree is encoded. */
  const stageTree = (bytes: Buffer): Digest => {
    // Trees and timestamps go into the batch's pack with the files: one file created, not one per
    // directory; appended by a worker thread, a batch of them at a time.
    if (batch.canStageSync) return batch.addBytesQueued(bytes);
    bytes = Buffer.from(bytes);
    deferredTrees.push(batch.addBytes(bytes));
    return digestBytes(bytes);
  };

  const progress = () => {
    filesDone++;
    if (opts.onProgress && (filesDone === filesSeen || performance.now() - lastReport > 200)) {
      lastReport = performance.now();
      opts.onProgress({ files: filesDone, totalFiles: filesSeen, bytes: stats.bytes });
    }
  };

  const racy = (e: { mtimeSec: number; mtimeNsec: number; ctimeSec: number; ctimeNsec: number }) =>
    isRacy(e.mtimeSec, e.mtimeNsec, limit) || isRacy(e.ctimeSec, e.ctimeNsec, limit);

  /** Turns a listing into a directory job and decides what the tree cache may do for it. */
  const openDir = (
    parent: DirJob | null,
    slot: number,
    abs: Buffer,
    rel: Buffer | null,
    selfRec: ScanEntry | ListedEntry,
    self: TreeSelf,
    selfKey: Buffer,
    listed: { listing: Buffer; entries: ListedEntry[] } | null,
  ): DirJob => {
    const entries: Entry[] = [];
    let parts: Buffer[] = [];
    let listing: Buffer = EMPTY;
    if (listed) {
      listing = listed.listing;
      let excludedHere = false;
      for (const e of listed.entries) {
        if (opts.exclude?.(joinPath(abs, e.name))) {
          stats.excluded++;
          excludedHere = true;
          continue;
        }
        const type = entryTypeOfMode(e.mode);
        if (!type)
          throw new AslError(
            'UNSUPPORTED',
            `${joinPath(abs, e.name).toString()}: unknown file type (mode ${e.mode.toString(8)})`,
          );
        (e as Entry).type = type;
        entries.push(e as Entry);
      }
      parts = excludedHere ? entries.map((e) => listing.subarray(e.start, e.end)) : [listing];
    }
    const job: DirJob = {
      parent,
      slot,
      abs,
      rel,
      self,
      selfKey,
      entries,
      listing,
      parts,
      pending: 1,
      cacheable: false,
    };
    let leaf = true;
    const subdirs: Buffer[] = [];
    for (const e of entries) {
      if (e.type !== 'dir') continue;
      leaf = false;
      if (!(oneFs && e.dev !== rootSt.dev)) subdirs.push(joinPath(abs, e.name));
    }
    if (cache && !racy(selfRec)) {
      let ok = true;
      for (const e of entries) {
        if (racy(e) || (e.type !== 'dir' && e.nlink > 1)) {
          ok = false;
          break;
        }
      }
      job.cacheable = ok;
      if (ok && leaf) {
        const known = cache.trees.lookup(treeCacheKey(selfKey, parts, []));
        if (known && batch.hasSync(known.digest)) job.known = known;
      }
    }
    if (subdirs.length > 0) prefetch.announce(subdirs);
    return job;
  };

  const deliver = (job: DirJob, tree: CachedTree) => {
    job.entries = [];
    job.listing = EMPTY;
    job.parts = [];
    if (!job.parent) {
      result = tree;
      return;
    }
    job.parent.entries[job.slot]!.sub = tree;
    release(job.parent);
  };

  /** Builds (or finds) the tree of a directory whose entries are all done. */
  const complete = (job: DirJob) => {
    if (job.known) {
      deliver(job, job.known);
      return;
    }
    let key: Buffer | undefined;
    if (job.cacheable) {
      const subtrees: Buffer[] = [];
      for (const e of job.entries) if (e.type === 'dir') subtrees.push(Buffer.from(e.sub!.digest.slice(7), 'hex'));
      key = treeCacheKey(job.selfKey, job.parts, subtrees);
      const hit = cache!.trees.lookup(key);
      if (hit && batch.hasSync(hit.digest)) {
        deliver(job, hit);
        return;
      }
    }
    const totals: TreeTotals = { files: 0, dirs: 0, other: 0, bytes: 0 };
    for (const e of job.entries) {
      switch (e.type) {
        case 'dir': {
          const sub = e.sub!;
          e.digest = sub.digest;
          totals.dirs += 1 + sub.totals.dirs;
          totals.files += sub.totals.files;
          totals.other += sub.totals.other;
          totals.bytes += sub.totals.bytes;
          break;
        }
        case 'file':
          totals.files++;
          if (!e.hardlink) totals.bytes += e.contentSize!;
          break;
        default:
          totals.other++;
      }
    }
    const digest = stageTree(encoder.encode(job.self, job.entries, totals));
    if (key) cache!.trees.remember(key, digest, totals);
    deliver(job, { digest, totals });
  };

  const release = (job: DirJob) => {
    if (--job.pending === 0) complete(job);
  };

  const resolveGroup = (group: HardlinkGroup, digest: Digest, size: number) => {
    group.digest = digest;
    group.size = size;
    const waiters = group.waiters;
    group.waiters = [];
    for (const w of waiters) w();
  };

  interface FileToken {
    job: DirJob;
    entry: Entry;
    group: HardlinkGroup | undefined;
  }
  const stager = new FileStager<FileToken>(batch, ({ job, entry: e, group }, digest, size) => {
    e.digest = digest;
    e.contentSize = size;
    stats.hashedFiles++;
    stats.hashedBytes += size;
    stats.bytes += size;
    cache?.remember(e, digest, examinedAtNs);
    if (group) resolveGroup(group, digest, size);
    progress();
    release(job);
  });

  /** One entry of `job`, in walk order. Returns a sub-directory to descend into (its listing still to be read). */
  const visit = (job: DirJob, slot: number): Entry | undefined => {
    const e = job.entries[slot]!;
    mtimes.push2(e.mtimeSec, e.mtimeNsec);
    if (job.known) {
      // Unchanged leaf directory: only the counts and times are needed.
      if (e.type === 'file') {
        stats.files++;
        stats.cachedFiles++;
        stats.bytes += e.size;
        filesSeen++;
        progress();
      } else stats.other++;
      return undefined;
    }
    let group: HardlinkGroup | undefined;
    if (e.type !== 'dir' && e.nlink > 1) {
      const id = `${e.dev}:${e.ino}`;
      const first = hardlinks.get(id);
      if (first) {
        e.hardlink = first.rel;
      } else {
        group = { rel: job.rel ? Buffer.concat([job.rel, SLASH, e.name]) : Buffer.from(e.name), waiters: [] };
        hardlinks.set(id, group);
      }
      if (first && e.type === 'file') {
        stats.files++;
        if (first.digest !== undefined) {
          e.digest = first.digest;
          e.contentSize = first.size!;
        } else {
          job.pending++;
          first.waiters.push(() => {
            e.digest = first.digest!;
            e.contentSize = first.size!;
            release(job);
          });
        }
        return undefined;
      }
    }
    switch (e.type) {
      case 'dir':
        stats.dirs++;
        job.pending++;
        return e;
      case 'file': {
        stats.files++;
        filesSeen++;
        const hit = cache?.lookupStat(e.dev, e.ino, e.size, e.mtimeSec, e.mtimeNsec, e.ctimeSec, e.ctimeNsec);
        if (hit) {
          e.digest = hit;
          e.contentSize = e.size;
          stats.cachedFiles++;
          stats.bytes += e.size;
          if (group) resolveGroup(group, hit, e.size);
          progress();
          return undefined;
        }
        job.pending++;
        stager.add(job.abs, e.name, e.size, { job, entry: e, group });
        return undefined;
      }
      default:
        stats.other++;
        return undefined;
    }
  };

  /** Opens sub-directory `e` of `job` (reads its listing, unless it is another file system's mount point). */
  const descend = async (job: DirJob, slot: number, e: Entry): Promise<DirJob> => {
    const abs = joinPath(job.abs, e.name);
    const rel = job.rel ? Buffer.concat([job.rel, SLASH, e.name]) : Buffer.from(e.name);
    const self: TreeSelf = { mode: e.mode & 0o7777, uid: e.uid, gid: e.gid, ...(e.xattrs ? { xattrs: e.xattrs } : {}) };
    // The record points into the parent's listing buffer: copy it, the parent may be released first.
    const selfKey = Buffer.from(job.listing.subarray(e.start, e.end));
    if (oneFs && e.dev !== rootSt.dev) {
      stats.skippedMounts.push(abs.toString());
      return openDir(job, slot, abs, rel, e, self, selfKey, null);
    }
    return openDir(job, slot, abs, rel, e, self, selfKey, await prefetch.take(abs));
  };

  // The walk: an explicit stack, so it can pause (backlog, event-loop turns) at any entry.
  const rootXattrs = sortedXattrs(rootAbs);
  const rootSelf: TreeSelf = {
    mode: rootSt.mode & 0o7777,
    uid: rootSt.uid,
    gid: rootSt.gid,
    ...(rootXattrs.length > 0 ? { xattrs: rootXattrs } : {}),
  };
  mtimes.push2(rootSt.mtimeSec, rootSt.mtimeNsec);
  try {
    const root = openDir(
      null,
      0,
      rootAbs,
      null,
      rootSt,
      rootSelf,
      rootSelfKey(rootSt, rootXattrs),
      await prefetch.take(rootAbs),
    );
    const stack: Array<{ job: DirJob; next: number }> = [{ job: root, next: 0 }];
    let lastYield = performance.now();
    while (stack.length > 0 && !stager.hasFailed) {
      const top = stack[stack.length - 1]!;
      if (top.next >= top.job.entries.length) {
        stack.pop();
        release(top.job);
        continue;
      }
      const slot = top.next++;
      const sub = visit(top.job, slot);
      if (sub) {
        stack.push({ job: await descend(top.job, slot, sub), next: 0 });
        lastYield = performance.now();
      }
      if (batch.queueFull) await batch.queueRoom();
      if (stager.pending > 0) {
        if (stager.pending >= BACKLOG_PAUSE) await stager.waitForRoom();
        else if (performance.now() - lastYield > YIELD_EVERY_MS) {
          await yieldToLoop();
          lastYield = performance.now();
        }
      }
    }
    await stager.finish();
  } catch (err) {
    // Let in-flight work settle before the caller aborts the batch.
    await Promise.all([stager.finish().catch(() => {}), prefetch.drain()]);
    throw err;
  }
  if (!result) throw new Error('snapshot: the walk ended with directories still open (internal error)');
  const tree = result as CachedTree;
  const times = stageTimes(tree.digest, mtimes.view());
  await Promise.all(deferredTrees);
  return { id: tree.digest, times, totals: tree.totals };

  /** The times object; unchanged times of an unchanged tree are found in the tree cache, not re-encoded. */
  function stageTimes(treeId: Digest, list: Float64Array): Digest {
    const key = cache ? timesCacheKey(treeId, list) : undefined;
    const hit = key ? cache!.trees.lookup(key) : undefined;
    if (hit && batch.hasSync(hit.digest)) return hit.digest;
    const bytes = encodeTimesList(treeId, list);
    const id = stageTree(bytes);
    if (key) cache!.trees.remember(key, id, { files: 0, dirs: 0, other: 0, bytes: 0 });
    return id;
  }
}
