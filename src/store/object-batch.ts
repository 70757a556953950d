import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, rmSync, statSync } from 'node:fs';
import { chmod, constants as fsConstants, link, open, rename, rm, type FileHandle } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import type { Digest } from '../core/digest.js';
import { AslError, fsError } from '../core/errors.js';
import { mapLimit } from '../core/map-limit.js';
import { OBJECTS_DIR, TMP_DIR, objectFanoutDir, objectPath } from './layout.js';
import { STAGE_RECORD_BYTES, StageStatus, native, type PackHandle } from './native.js';
import { objectExists, objectExistsSync, packsDir } from './object-locate.js';
import type { Store } from './store.js';
import { makeDirs, openNew, STORE_MODES } from './store-modes.js';
import { fsyncDir } from '../core/write-file-atomic.js';
import { sweepAbandonedTmp } from './tmp-sweep.js';

/** Files up to this size are read into memory once: hashed, deduplicated, then written. */
const IN_MEMORY_LIMIT = 4 * 1024 * 1024;
const STAGED_BLOCK = 4096;
/** addBytesQueued hands its objects to a worker once this many bytes are queued. */
const QUEUE_FLUSH_BYTES = 256 * 1024;
/** Batches of queued objects in flight before the producer waits: memory stays a few MB whatever the tree. */
const QUEUE_MAX_WRITES = 8;
/**
 * While a batch stages, a background syncfs starts after every this many bytes
 * staged (one at a time): the write-back then overlaps the staging instead of
 * all of it waiting for commit's syncfs. Only makes data durable earlier; the
 * commit protocol is unchanged.
 */
const FLUSH_EVERY_BYTES = 32 * 1024 * 1024;

export { objectExists, objectExistsSync } from './object-locate.js';

let nativeHashing: boolean | undefined;
/** Whether the native helpers can hash (OpenSSL symbols found in this node); ASL_NO_NATIVE_INGEST=1 forces the JS path. */
function useNative(): boolean {
  if (nativeHashing === undefined) {
    nativeHashing = !process.env.ASL_NO_NATIVE_INGEST;
    if (nativeHashing) {
      try {
        nativeHashing = native().sha256Available();
      } catch {
        nativeHashing = false;
      }
    }
  }
  return nativeHashing;
}

/** One staged file's outcome. */
export interface StagedFile {
  digest: Digest;
  size: number;
}

/**
 * A set of objects written together and made durable together. Objects are staged
 * as temp files in the store's tmp/ folder (invisible to readers), then `commit`
 * flushes the whole file system once (syncfs), renames every object into place,
 * and flushes again so the renames are durable before the caller writes anything
 * that references them. A crash at any point leaves either nothing or complete
 * objects under their final names. One fsync per object would cost ~0.4 ms each
 * on this kind of machine; a debootstrap root has 5,000+ objects.
 *
 * A batch stages into its own folder, tmp/<pid>-<random>/, with the objects'
 * fan-out (ab/cdef…): small folders, and worker threads creating files in
 * different folders do not queue on one directory lock. Creating the staging
 * name with O_EXCL is the batch's dedupe (a second copy of the same content finds
 * the name taken), so the batch keeps no table of names, only the 32-byte digests
 * it must rename at commit. Commit removes the folder; abort removes it with
 * whatever is in it.
 *
 * Files up to IN_MEMORY_LIMIT staged through addPackedFiles (a tree snapshot's
 * blobs), and the trees and timestamps a snapshot builds (addBytesSync with
 * `packed`), are not staged one file each: they are appended to one pack for
 * the whole batch (native/asl_pack.c), committed before the loose objects as
 * objects-v1/packs/<H>.pack + <H>.idx. Receipts, logs, single files and big
 * files stay loose.
 */
export class ObjectBatch {
  readonly store: Store;
  private readonly stageDir: string;
  private readonly objectsDir: string;
  /** Digests of the staged objects, 32 bytes each, in blocks of STAGED_BLOCK. */
  private staged: Buffer[] = [];
  private stagedCount = 0;
  private counter = 0;
  private unflushed = 0;
  private flushing: Promise<void> | undefined;
  private flushAgain = false;
  /**
   * This batch's pack, made on the first native staging call: it holds what the
   * committed packs contain (read once) and, on the bulk path, the new small objects.
   */
  private pack: PackHandle | undefined;
  /** Whole packs received from elsewhere (adoptPack), published at commit under their index's hash. */
  private adopted: Array<{ path: string; index: Buffer }> = [];
  private stageDirMade = false;
  /** Objects for the pack taken by addBytesQueued and not yet handed to a worker: packBuffers records. */
  private queued = Buffer.allocUnsafe(0);
  private queuedLength = 0;
  private queuedCount = 0;
  /** Hex digests queued or being appended: what hasSync must count as staged. */
  private readonly queuedDigests = new Set<string>();
  private readonly queueWrites = new Set<Promise<void>>();
  private queueError: unknown;
  bytesWritten = 0;
  objectsWritten = 0;

  constructor(store: Store) {
    this.store = store;
    this.stageDir = join(store.root, TMP_DIR, `${process.pid}-${randomBytes(6).toString('hex')}`);
    this.objectsDir = join(store.root, OBJECTS_DIR, 'sha256');
  }

  get pendingCount(): number {
    return this.stagedCount;
  }

  /** Whether addBytesSync is available (native helpers present). */
  get canStageSync(): boolean {
    return useNative();
  }

  /**
   * Whether `digest` is in the store or staged by this batch: what a tree or times
   * object taken from the tree cache may point at, since it is committed (or
   * dropped) together with everything else this batch staged.
   */
  hasSync(digest: Digest): boolean {
    if (this.queuedDigests.has(digest.slice(7))) return true;
    if (objectExistsSync(this.store, digest)) return true;
    if (this.pack && native().packHas(this.pack, Buffer.from(digest.slice(7), 'hex'))) return true;
    return statSync(this.stagedName(digest.slice(7)), { throwIfNoEntry: false }) !== undefined;
  }

  private stagedName(hex: string): string {
    return join(this.stageDir, hex.slice(0, 2), hex.slice(2));
  }

  private packHandle(): PackHandle {
    this.pack ??= native().packCreate(this.stageDir, packsDir(this.store.root), `pack-${this.counter++}`);
    return this.pack;
  }

  /** Counts an object appended to the pack (it is published with the pack, not renamed). */
  private recordPacked(size: number): void {
    this.bytesWritten += size;
    this.objectsWritten++;
    this.unflushed += size;
    if (this.unflushed >= FLUSH_EVERY_BYTES) this.flushSoon();
  }

  /** `synced`: the file's data is durable already (nothing for a background flush to do but its name). */
  private record(digestRaw: Buffer, size: number, synced = false): void {
    const slot = this.stagedCount % STAGED_BLOCK;
    if (slot === 0) this.staged.push(Buffer.allocUnsafe(STAGED_BLOCK * 32));
    digestRaw.copy(this.staged[this.staged.length - 1]!, slot * 32);
    this.stagedCount++;
    this.bytesWritten += size;
    this.objectsWritten++;
    this.unflushed += (synced ? 0 : size) + 4096; // inode and directory entry too
    if (this.unflushed >= FLUSH_EVERY_BYTES) this.flushSoon();
  }

  /**
   * Starts writing back what is staged so far, in the background (one syncfs on a
   * worker thread, unless one is running), so that commit's own flush finds less
   * to do: a capture calls it before the command runs. Durability is unchanged.
   */
  flushSoon(): void {
    if (this.unflushed === 0 || !useNative()) return;
    if (this.flushing) {
      this.flushAgain = true;
      return;
    }
    this.unflushed = 0;
    this.flushing = native()
      .syncfsAsync(this.stageDir)
      .catch(() => {})
      .finally(() => {
        this.flushing = undefined;
        if (this.flushAgain) {
          this.flushAgain = false;
          this.flushSoon();
        }
      });
  }

  /** Waits for background flushes, starting no more. */
  private async settleFlushes(): Promise<void> {
    this.flushAgain = false;
    while (this.flushing) await this.flushing;
  }

  /** Stages `bytes` unless the store already has them; returns the digest. */
  async addBytes(bytes: Buffer): Promise<Digest> {
    if (useNative()) return this.addBytesSync(bytes);
    const raw = createHash('sha256').update(bytes).digest();
    const hex = raw.toString('hex');
    const digest: Digest = `sha256:${hex}`;
    if (await objectExists(this.store, digest)) return digest;
    const tmp = this.stagedName(hex);
    let fh;
    try {
      await makeDirs(join(this.stageDir, hex.slice(0, 2)));
      fh = await openNew(tmp, STORE_MODES.object);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return digest; // staged by this batch already
      throw fsError(tmp, err, 'cannot stage object');
    }
    try {
      try {
        await fh.writeFile(bytes);
      } finally {
        await fh.close();
      }
    } catch (err) {
      await rm(tmp, { force: true });
      throw fsError(tmp, err, 'cannot stage object');
    }
    this.record(raw, bytes.length);
    return digest;
  }

  /**
   * addBytes without a threadpool round trip (one native call: stat, create,
   * write, close); for tree objects built on the main thread. `packed` appends
   * it to the batch's pack instead (for copying many small objects at once).
   */
  addBytesSync(bytes: Buffer, opts: { packed?: boolean } = {}): Digest {
    const raw = createHash('sha256').update(bytes).digest();
    const hex = raw.toString('hex');
    if (!useNative()) throw new Error('addBytesSync needs the native helpers');
    // The handle also tells the native side what committed packs hold, so nothing packed is staged again loose.
    let status: number;
    try {
      status = native().stageBuffer(
        this.stageDir,
        this.objectsDir,
        hex,
        bytes,
        this.packHandle(),
        !!opts.packed && bytes.length <= IN_MEMORY_LIMIT,
      );
    } catch (err) {
      throw fsError(this.stagedName(hex), err, 'cannot stage object');
    }
    if (status === StageStatus.staged) this.record(raw, bytes.length);
    else if (status === StageStatus.packed) this.recordPacked(bytes.length);
    return `sha256:${hex}`;
  }

  /**
   * addBytesSync with `packed`, for the many small objects of a snapshot (trees,
   * times): hashed here, appended to the pack on a worker thread in batches of
   * QUEUE_FLUSH_BYTES, so the walk's thread neither writes nor waits for the
   * pack file while the workers append files to it. Copies `bytes`. A failed
   * append fails commit; until then the object counts as staged (hasSync).
   */
  addBytesQueued(bytes: Buffer): Digest {
    if (!useNative() || bytes.length > IN_MEMORY_LIMIT) return this.addBytesSync(bytes, { packed: true });
    const need = this.queuedLength + 36 + bytes.length;
    if (need > this.queued.length) {
      const bigger = Buffer.allocUnsafe(Math.max(need, QUEUE_FLUSH_BYTES + 64 * 1024, this.queued.length * 2));
      this.queued.copy(bigger, 0, 0, this.queuedLength);
      this.queued = bigger;
    }
    const o = this.queuedLength;
    const hash = createHash('sha256').update(bytes);
    const raw = hash.digest();
    raw.copy(this.queued, o);
    this.queued.writeUInt32LE(bytes.length, o + 32);
    bytes.copy(this.queued, o + 36);
    this.queuedLength = need;
    this.queuedCount++;
    const hex = raw.toString('hex');
    this.queuedDigests.add(hex);
    if (this.queuedLength >= QUEUE_FLUSH_BYTES) this.flushQueued();
    return `sha256:${hex}`;
  }

  /** Hands the queued objects to a worker thread. */
  private flushQueued(): void {
    if (this.queuedCount === 0) return;
    const records = this.queued.subarray(0, this.queuedLength);
    const count = this.queuedCount;
    this.queued = Buffer.allocUnsafe(0);
    this.queuedLength = 0;
    this.queuedCount = 0;
    const write = native()
      .packBuffers(this.packHandle(), this.objectsDir, records, count)
      .then(
        (statuses) => {
          let o = 0;
          for (let i = 0; i < count; i++) {
            const len = records.readUInt32LE(o + 32);
            if (statuses.readUInt32LE(i * 4) === StageStatus.packed) this.recordPacked(len);
            this.queuedDigests.delete(records.toString('hex', o, o + 32));
            o += 36 + len;
          }
        },
        (err) => {
          this.queueError ??= fsError(this.stageDir, err, 'cannot stage objects');
        },
      )
      .finally(() => this.queueWrites.delete(write));
    this.queueWrites.add(write);
  }

  /** Whether so many batches of queued objects are being appended that their producer should wait (queueRoom). */
  get queueFull(): boolean {
    return this.queueWrites.size >= QUEUE_MAX_WRITES;
  }

  /** Resolves once fewer than QUEUE_MAX_WRITES batches of queued objects are being appended. */
  async queueRoom(): Promise<void> {
    while (this.queueWrites.size >= QUEUE_MAX_WRITES) await Promise.race(this.queueWrites);
  }

  /** Sends what is queued and waits for every queued append; throws the first failure. */
  private async settleQueued(): Promise<void> {
    this.flushQueued();
    while (this.queueWrites.size > 0) await Promise.all([...this.queueWrites]);
    if (this.queueError !== undefined) throw this.queueError;
  }

  /**
   * Stages the content of a regular file. Small files are read once; large files
   * are streamed into tmp/ and the digest is taken from exactly the bytes written,
   * so the digest always describes the bytes stored even if the source changes
   * meanwhile. Returns the digest and the stored size.
   */
  async addFile(path: string | Buffer, sizeHint: number): Promise<{ digest: Digest; size: number }> {
    const [result] = await this.addFiles([typeof path === 'string' ? Buffer.from(path) : path], [sizeHint]);
    return result!;
  }

  /**
   * Stages many files in one native call on a libuv worker thread (read, sha256,
   * create the staging file, write), so the main thread pays one completion per
   * call instead of several fs round trips per file. Call it with a chunk of
   * files (tens to hundreds), a few chunks in flight, to use every core. Fails
   * with the first file that cannot be read or staged; files staged before it
   * stay recorded, so abort() removes them.
   */
  async addFiles(paths: Buffer[], sizeHints: number[], opts: { packed?: boolean } = {}): Promise<StagedFile[]> {
    void sizeHints; // sizes are taken when each file is opened
    let total = 0;
    for (const p of paths) total += p.length + 1;
    const packed = Buffer.allocUnsafe(total);
    let o = 0;
    for (const p of paths) {
      o += p.copy(packed, o);
      packed[o++] = 0;
    }
    const out: StagedFile[] = new Array(paths.length);
    await this.addPackedFiles(
      packed,
      paths.length,
      (i, digest, size) => {
        out[i] = { digest, size };
      },
      opts,
    );
    return out;
  }

  /**
   * addFiles for `count` NUL-terminated paths packed in one buffer (what the
   * native call takes); `each(index, digest, size)` is called for every file in
   * order, before the promise resolves. With `packed`, files up to the in-memory
   * limit go into the batch's pack (the bulk path: a tree snapshot, a seed);
   * without it every object is a loose file.
   */
  async addPackedFiles(
    packed: Buffer,
    count: number,
    each: (index: number, digest: Digest, size: number) => void,
    opts: { packed?: boolean } = {},
  ): Promise<void> {
    if (!useNative()) {
      let start = 0;
      for (let i = 0; i < count; i++) {
        const end = packed.indexOf(0, start);
        const r = await this.addFileJs(packed.subarray(start, end));
        each(i, r.digest, r.size);
        start = end + 1;
      }
      return;
    }
    let res: Buffer;
    try {
      res = await native().stageFiles(
        packed,
        count,
        this.stageDir,
        this.objectsDir,
        String(this.counter++),
        IN_MEMORY_LIMIT,
        this.packHandle(),
        !!opts.packed,
      );
    } catch (err) {
      throw fsError(this.stageDir, err, 'cannot stage objects');
    }
    for (let i = 0; i < count; i++) {
      const off = i * STAGE_RECORD_BYTES;
      const status = res.readUInt32LE(off);
      if (
        status === StageStatus.staged ||
        status === StageStatus.packed ||
        status === StageStatus.exists ||
        status === StageStatus.duplicate
      ) {
        const size = res.readDoubleLE(off + 8);
        if (status === StageStatus.staged) this.record(res.subarray(off + 16, off + 48), size);
        else if (status === StageStatus.packed) this.recordPacked(size);
        each(i, `sha256:${res.toString('hex', off + 16, off + 48)}`, size);
        continue;
      }
      const path = nthPath(packed, i).toString();
      if (status !== StageStatus.sourceError && status !== StageStatus.stageError)
        throw new Error(`stageFiles: unexpected status ${status} for ${path}`);
      const errno = res.readInt32LE(off + 4);
      if (errno === -1)
        throw new AslError('BAD_INPUT', `${path}: changed while being read (no longer a regular file)`, {
          data: { path },
        });
      const err = errnoError(errno, status === StageStatus.sourceError ? 'read' : 'stage');
      throw status === StageStatus.sourceError ? fsError(path, err) : fsError(path, err, 'cannot stage object');
    }
  }

  /**
   * The portable path (no native hashing): async fs calls, one file at a time. The
   * file is opened once with O_NOFOLLOW and every byte comes from that descriptor, so
   * a path swapped for a symlink after the walk cannot pull another file in.
   */
  private async addFileJs(path: Buffer): Promise<StagedFile> {
    let fh;
    try {
      fh = await open(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
    } catch (err) {
      throw fsError(path.toString(), err);
    }
    try {
      let st;
      try {
        st = await fh.stat();
      } catch (err) {
        throw fsError(path.toString(), err);
      }
      if (!st.isFile())
        throw new AslError('BAD_INPUT', `${path.toString()}: changed while being read (no longer a regular file)`);
      if (st.size <= IN_MEMORY_LIMIT) {
        let bytes: Buffer;
        try {
          bytes = await fh.readFile();
        } catch (err) {
          throw fsError(path.toString(), err);
        }
        if (bytes.length <= IN_MEMORY_LIMIT) return { digest: await this.addBytes(bytes), size: bytes.length };
        return await this.stageLargeJs(path, fh, bytes);
      }
      return await this.stageLargeJs(path, fh);
    } finally {
      await fh.close();
    }
  }

  /** Streams an open file (after `head`, bytes already read from it) into the staging folder, hashing as it goes. */
  private async stageLargeJs(path: Buffer, source: FileHandle, head?: Buffer): Promise<StagedFile> {
    await makeDirs(this.stageDir);
    const tmp = join(this.stageDir, `large-js-${this.counter++}`);
    try {
      const hash = createHash('sha256');
      let size = 0;
      const out = await openNew(tmp, STORE_MODES.file);
      try {
        if (head) {
          hash.update(head);
          await out.write(head);
          size += head.length;
        }
        const chunk = Buffer.allocUnsafe(1024 * 1024);
        for (;;) {
          let n: number;
          try {
            ({ bytesRead: n } = await source.read(chunk, 0, chunk.length, null));
          } catch (err) {
            throw fsError(path.toString(), err);
          }
          if (n === 0) break;
          hash.update(chunk.subarray(0, n));
          await out.write(chunk, 0, n);
          size += n;
        }
      } finally {
        await out.close();
      }
      const hex = hash.digest('hex');
      const digest: Digest = `sha256:${hex}`;
      await chmod(tmp, STORE_MODES.object);
      if (await objectExists(this.store, digest)) return { digest, size };
      try {
        await makeDirs(join(this.stageDir, hex.slice(0, 2)));
        await link(tmp, this.stagedName(hex));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fsError(tmp, err, 'cannot stage object');
        return { digest, size };
      }
      this.record(Buffer.from(hex, 'hex'), size);
      return { digest, size };
    } finally {
      await rm(tmp, { force: true });
    }
  }

  /**
   * A new file in this batch's folder for a whole pack received from elsewhere
   * (a pull's), opened for writing; hand it to adoptPack once written, checked
   * and made durable (FileHandle.sync).
   */
  async newPackFile(): Promise<{ path: string; fh: FileHandle }> {
    return this.newFile(`received-${this.counter++}${PACK_FILE_SUFFIX}`);
  }

  /**
   * A new file in this batch's folder for one big object received from elsewhere,
   * opened for writing; hand it to adoptObjectFile once written, checked and
   * made durable (FileHandle.sync).
   */
  async newObjectFile(): Promise<{ path: string; fh: FileHandle }> {
    return this.newFile(`received-${this.counter++}.object`);
  }

  /** Created read-only (as objects and packs are; the descriptor still writes), so the mode is final before the data is synced. */
  private async newFile(name: string): Promise<{ path: string; fh: FileHandle }> {
    if (!this.stageDirMade) {
      await makeDirs(this.stageDir);
      this.stageDirMade = true;
    }
    const path = join(this.stageDir, name);
    return { path, fh: await openNew(path, STORE_MODES.object) };
  }

  /**
   * Stages the object written to `path` (from newObjectFile) under `digest`,
   * without copying it. The caller vouches for it: it hashed exactly these bytes
   * to `digest` as it wrote them, into this batch's private folder, and synced
   * them (so no background flush of the whole file system is started for it).
   */
  async adoptObjectFile(path: string, digest: Digest, size: number): Promise<void> {
    const hex = digest.slice('sha256:'.length);
    try {
      if (await objectExists(this.store, digest)) return;
      await makeDirs(join(this.stageDir, hex.slice(0, 2)));
      try {
        await link(path, this.stagedName(hex));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') return; // staged by this batch already
        throw fsError(path, err, 'cannot stage object');
      }
      this.record(Buffer.from(hex, 'hex'), size, true);
    } finally {
      await rm(path, { force: true });
    }
  }

  /**
   * Publishes the pack written to `path` (from newPackFile, synced) with `index`
   * at commit, as objects-v1/packs/<H>.pack and <H>.idx (H = sha256 of the
   * index), exactly as the batch's own pack. The caller vouches for it: the index
   * parses strictly, describes the file byte for byte, and every object's bytes
   * were hashed to their digest as they were written.
   */
  adoptPack(path: string, index: Buffer, bytes: number, objects: number): void {
    this.adopted.push({ path, index });
    this.bytesWritten += bytes;
    this.objectsWritten += objects;
  }

  /**
   * The adopted packs' commit, the native pack's protocol for many packs at
   * once: the packs are durable already (synced as they were received: a file
   * at a time, not a syncfs that would wait for every other writer's data on the
   * file system), the indexes written and synced, every pack renamed into packs/
   * and that made durable, and only then every index. The index is what makes a
   * pack visible, so a crash leaves no pack, invisible packs (garbage verify
   * notes), or complete packs with their indexes.
   */
  private async commitAdopted(): Promise<void> {
    if (this.adopted.length === 0) return;
    const named = await mapLimit(this.adopted, 8, async (a) => {
      const name = createHash('sha256').update(a.index).digest('hex');
      const idx = `${a.path.slice(0, -PACK_FILE_SUFFIX.length)}.idx`;
      const fh = await openNew(idx, STORE_MODES.object);
      try {
        await fh.writeFile(a.index);
        await fh.sync();
      } finally {
        await fh.close();
      }
      return { pack: a.path, idx, name };
    });
    this.adopted = [];
    const dir = packsDir(this.store.root);
    if ((await makeDirs(dir)) !== undefined) await fsyncDir(join(dir, '..'));
    for (const n of named) await rename(n.pack, join(dir, `${n.name}.pack`));
    await fsyncDir(dir);
    for (const n of named) await rename(n.idx, join(dir, `${n.name}.idx`));
    await fsyncDir(dir);
  }

  /** Makes every staged object durable and visible. */
  async commit(): Promise<void> {
    await this.settleQueued();
    // A background syncfs still running is not waited for here: the pack's own fdatasync makes it
    // durable, without waiting for whatever else the file system holds (other processes' writes).
    const flushes = this.settleFlushes();
    try {
      await this.commitAdopted();
      if (this.pack) {
        // First: the loose objects committed next (trees) may refer to packed ones.
        const pack = this.pack;
        this.pack = undefined;
        try {
          await native().packCommit(pack);
        } catch (err) {
          throw fsError(this.store.root, err, 'cannot commit pack');
        }
      }
    } finally {
      await flushes;
    }
    if (this.stagedCount === 0) {
      // Nothing to publish; a streamed file that turned out to exist may have left the (empty) folder.
      rmSync(this.stageDir, { recursive: true, force: true });
      return;
    }
    const digests = Buffer.concat(this.staged).subarray(0, this.stagedCount * 32);
    if (useNative()) {
      try {
        await native().commitStaged(this.stageDir, this.objectsDir, digests);
      } catch (err) {
        throw fsError(this.store.root, err, 'cannot commit objects');
      }
    } else {
      const syncer = native();
      syncer.syncfs(this.store.root);
      const hexes: string[] = [];
      for (let i = 0; i < this.stagedCount; i++) hexes.push(digests.toString('hex', i * 32, i * 32 + 32));
      const made = new Set<string>();
      await mapLimit(hexes, 16, async (hex) => {
        const digest: Digest = `sha256:${hex}`;
        const dir = objectFanoutDir(this.store.root, digest);
        if (!made.has(dir)) {
          await makeDirs(dir);
          made.add(dir);
        }
        await rename(this.stagedName(hex), objectPath(this.store.root, digest));
      });
      syncer.syncfs(join(this.store.root, OBJECTS_DIR));
      await rm(this.stageDir, { recursive: true, force: true });
    }
    this.staged = [];
    this.stagedCount = 0;
    await sweepAbandonedTmp(this.store);
  }

  /** Drops every staged object (nothing becomes visible). */
  async abort(): Promise<void> {
    this.queued = Buffer.allocUnsafe(0);
    this.queuedLength = 0;
    this.queuedCount = 0;
    await this.settleQueued().catch(() => {});
    this.queuedDigests.clear();
    await this.settleFlushes();
    this.adopted = [];
    if (this.pack) native().packClose(this.pack);
    this.pack = undefined;
    this.staged = [];
    this.stagedCount = 0;
    // Everything this batch ever created is in its folder, including a file whose staging failed half-way.
    await rm(this.stageDir, { recursive: true, force: true });
  }
}

const PACK_FILE_SUFFIX = '.pack';

/** The `n`th NUL-terminated path of a packed list. */
function nthPath(packed: Buffer, n: number): Buffer {
  let start = 0;
  for (let i = 0; i < n; i++) start = packed.indexOf(0, start) + 1;
  return packed.subarray(start, packed.indexOf(0, start));
}

let errnoNames: Map<number, string> | undefined;
/** A Node-style system error for an errno reported by the native helpers. */
function errnoError(errno: number, syscall: string): NodeJS.ErrnoException {
  errnoNames ??= new Map(Object.entries(osConstants.errno).map(([name, n]) => [n, name]));
  const code = errnoNames.get(errno);
  const err = new Error(`${syscall}: ${code ?? `errno ${errno}`}`) as NodeJS.ErrnoException;
  if (code) err.code = code;
  err.errno = -errno;
  err.syscall = syscall;
  return err;
}

export async function hashFile(path: string | Buffer): Promise<{ digest: Digest; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  const stream = createReadStream(path, { highWaterMark: 1024 * 1024 });
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { digest: `sha256:${hash.digest('hex')}`, size };
}

/** Writes one object durably and returns its digest. */
export async function writeObject(store: Store, bytes: Buffer): Promise<Digest> {
  const batch = new ObjectBatch(store);
  try {
    const digest = await batch.addBytes(bytes);
    await batch.commit();
    return digest;
  } catch (err) {
    await batch.abort();
    throw err;
  }
}
