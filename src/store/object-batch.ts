import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { chmod, copyFile, constants as fsConstants, link, mkdir, open, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import type { Digest } from '../core/digest.js';
import { digestHex } from '../core/digest.js';
import { AslError, fsError } from '../core/errors.js';
import { OBJECTS_DIR, TMP_DIR, objectFanoutDir, objectPath } from './layout.js';
import { STAGE_RECORD_BYTES, StageStatus, native } from './native.js';
import type { Store } from './store.js';

/** Files up to this size are read into memory once: hashed, deduplicated, then written. */
const IN_MEMORY_LIMIT = 4 * 1024 * 1024;

export async function objectExists(store: Store, digest: Digest): Promise<boolean> {
  try {
    await stat(objectPath(store.root, digest));
    return true;
  } catch {
    return false;
  }
}

/** Synchronous objectExists: one stat, no threadpool round trip (for hot loops). */
export function objectExistsSync(store: Store, digest: Digest): boolean {
  return statSync(objectPath(store.root, digest), { throwIfNoEntry: false }) !== undefined;
}

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
 * A staged object is named tmp/<prefix>-<hex>, the prefix unique to this batch:
 * creating that name with O_EXCL is the batch's dedupe (a second copy of the same
 * content finds the name taken), so the batch keeps no table of names, only the
 * 32-byte digests it must rename at commit.
 */
export class ObjectBatch {
  readonly store: Store;
  private readonly tmpDir: string;
  private readonly objectsDir: string;
  private readonly prefix = `${process.pid}-${randomBytes(4).toString('hex')}`;
  private staged = Buffer.allocUnsafe(32 * 1024);
  private stagedCount = 0;
  private counter = 0;
  bytesWritten = 0;
  objectsWritten = 0;

  constructor(store: Store) {
    this.store = store;
    this.tmpDir = join(store.root, TMP_DIR);
    this.objectsDir = join(store.root, OBJECTS_DIR, 'sha256');
  }

  get pendingCount(): number {
    return this.stagedCount;
  }

  /** Whether addBytesSync is available (native helpers present). */
  get canStageSync(): boolean {
    return useNative();
  }

  private stagedName(hex: string): string {
    return join(this.tmpDir, `${this.prefix}-${hex}`);
  }

  private record(digestRaw: Buffer, size: number): void {
    if ((this.stagedCount + 1) * 32 > this.staged.length) {
      const bigger = Buffer.allocUnsafe(this.staged.length * 2);
      this.staged.copy(bigger, 0, 0, this.stagedCount * 32);
      this.staged = bigger;
    }
    digestRaw.copy(this.staged, this.stagedCount * 32);
    this.stagedCount++;
    this.bytesWritten += size;
    this.objectsWritten++;
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
      fh = await open(tmp, 'wx', 0o444);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return digest; // staged by this batch already
      throw fsError(tmp, err, 'cannot stage object');
    }
    try {
      try { await fh.writeFile(bytes); } finally { await fh.close(); }
    } catch (err) {
      await rm(tmp, { force: true });
      throw fsError(tmp, err, 'cannot stage object');
    }
    this.record(raw, bytes.length);
    return digest;
  }

  /**
   * addBytes without a threadpool round trip (one native call: stat, create,
   * write, close); for tree objects built on the main thread.
   */
  addBytesSync(bytes: Buffer): Digest {
    const raw = createHash('sha256').update(bytes).digest();
    const hex = raw.toString('hex');
    if (!useNative()) throw new Error('addBytesSync needs the native helpers');
    let status: number;
    try {
      status = native().stageBuffer(this.tmpDir, this.objectsDir, this.prefix, hex, bytes);
    } catch (err) {
      throw fsError(this.stagedName(hex), err, 'cannot stage object');
    }
    if (status === StageStatus.staged) this.record(raw, bytes.length);
    return `sha256:${hex}`;
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
   * create tmp/<prefix>-<hex>, write), so the main thread pays one completion per
   * call instead of several fs round trips per file. Call it with a chunk of
   * files (tens to hundreds), a few chunks in flight, to use every core. Fails
   * with the first file that cannot be read or staged; files staged before it
   * stay recorded, so abort() removes them.
   */
  async addFiles(paths: Buffer[], sizeHints: number[]): Promise<StagedFile[]> {
    if (!useNative()) {
      const out: StagedFile[] = [];
      for (let i = 0; i < paths.length; i++) out.push(await this.addFileJs(paths[i]!, sizeHints[i]!));
      return out;
    }
    let total = 0;
    for (const p of paths) total += p.length + 1;
    const packed = Buffer.allocUnsafe(total);
    let o = 0;
    for (const p of paths) { p.copy(packed, o); o += p.length; packed[o++] = 0; }
    let res: Buffer;
    try {
      res = await native().stageFiles(packed, paths.length, this.tmpDir, this.objectsDir, this.prefix, IN_MEMORY_LIMIT);
    } catch (err) {
      throw fsError(this.tmpDir, err, 'cannot stage objects');
    }
    const out: StagedFile[] = new Array(paths.length);
    for (let i = 0; i < paths.length; i++) {
      const off = i * STAGE_RECORD_BYTES;
      const status = res.readUInt32LE(off);
      const size = res.readDoubleLE(off + 8);
      if (status === StageStatus.staged) this.record(res.subarray(off + 16, off + 48), size);
      switch (status) {
        case StageStatus.staged:
        case StageStatus.exists:
        case StageStatus.duplicate:
          out[i] = { digest: `sha256:${res.toString('hex', off + 16, off + 48)}`, size };
          break;
        case StageStatus.sourceError:
        case StageStatus.stageError: {
          const errno = res.readInt32LE(off + 4);
          const path = paths[i]!.toString();
          if (errno === -1) throw new AslError('BAD_INPUT', `${path}: changed while being read (no longer a regular file)`, { data: { path } });
          const err = errnoError(errno, status === StageStatus.sourceError ? 'read' : 'stage');
          throw status === StageStatus.sourceError ? fsError(path, err) : fsError(path, err, 'cannot stage object');
        }
        default:
          throw new Error(`stageFiles: unexpected status ${status} for ${paths[i]!.toString()}`);
      }
    }
    return out;
  }

  /** The portable path (no native hashing): async fs calls, one file at a time. */
  private async addFileJs(path: Buffer, sizeHint: number): Promise<StagedFile> {
    if (sizeHint <= IN_MEMORY_LIMIT) {
      let bytes: Buffer;
      try {
        const fh = await open(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
        try {
          if (!(await fh.stat()).isFile()) throw new AslError('BAD_INPUT', `${path.toString()}: changed while being read (no longer a regular file)`);
          bytes = await fh.readFile();
        } finally { await fh.close(); }
      } catch (err) {
        if (err instanceof AslError) throw err;
        throw fsError(path.toString(), err);
      }
      if (bytes.length <= IN_MEMORY_LIMIT) return { digest: await this.addBytes(bytes), size: bytes.length };
    }
    const tmp = join(this.tmpDir, `${this.prefix}-large-${this.counter++}`);
    try {
      await copyFile(path, tmp, fsConstants.COPYFILE_EXCL | fsConstants.COPYFILE_FICLONE);
    } catch (err) {
      await rm(tmp, { force: true });
      throw fsError(path.toString(), err);
    }
    try {
      const { digest, size } = await hashFile(tmp);
      await chmod(tmp, 0o444);
      if (await objectExists(this.store, digest)) {
        await rm(tmp, { force: true });
        return { digest, size };
      }
      try {
        await link(tmp, this.stagedName(digestHex(digest)));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fsError(tmp, err, 'cannot stage object');
        await rm(tmp, { force: true });
        return { digest, size };
      }
      await rm(tmp, { force: true });
      this.record(Buffer.from(digestHex(digest), 'hex'), size);
      return { digest, size };
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  /** Makes every staged object durable and visible. */
  async commit(): Promise<void> {
    if (this.stagedCount === 0) return;
    const digests = this.staged.subarray(0, this.stagedCount * 32);
    if (useNative()) {
      try {
        await native().commitStaged(this.tmpDir, this.objectsDir, this.prefix, Buffer.from(digests));
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
          await mkdir(dir, { recursive: true });
          made.add(dir);
        }
        await rename(this.stagedName(hex), objectPath(this.store.root, digest));
      });
      syncer.syncfs(join(this.store.root, OBJECTS_DIR));
    }
    this.stagedCount = 0;
  }

  /** Drops every staged object (nothing becomes visible). */
  async abort(): Promise<void> {
    this.stagedCount = 0;
    // Everything this batch ever created in tmp/ carries its prefix: remove by
    // prefix, which also catches a file whose staging failed half-way.
    let names: string[];
    try {
      names = await readdir(this.tmpDir);
    } catch {
      return;
    }
    const mine = names.filter((n) => n.startsWith(`${this.prefix}-`));
    await mapLimit(mine, 16, (n) => unlink(join(this.tmpDir, n)).catch(() => {}));
  }
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

/** Runs `fn` over `items` with at most `limit` in flight; rejects on the first failure. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!, i);
    }
  });
  await Promise.all(workers);
  return results;
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
