import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

/** The POSIX calls Node's fs lacks; see native/asl_native.c. */
export interface NativeBinding {
  lxattrs(path: Buffer | string): Array<[Buffer, Buffer]>;
  lsetxattr(path: Buffer | string, name: Buffer | string, value: Buffer): void;
  mknod(path: Buffer | string, mode: number, major: number, minor: number): void;
  syncfs(path: Buffer | string): void;
  /** Sets atime and mtime to (sec, nsec) exactly, not following symlinks. */
  lutimens(path: Buffer | string, sec: number, nsec: number): void;
  /** Peak RSS in bytes of the largest child process this process has waited for. */
  childrenMaxRss(): number;
  /** True when the OpenSSL inside this node process can be used for SHA-256 from C. */
  sha256Available(): boolean;
  /**
   * Reads, hashes and stages a list of files on a libuv worker thread; see
   * native/asl_native.c. `paths` holds `count` NUL-terminated paths; the result
   * has one STAGE_RECORD_BYTES record per file.
   */
  stageFiles(
    paths: Buffer,
    count: number,
    stageDir: string,
    objectsDir: string,
    tag: string,
    inMemoryLimit: number,
    pack?: PackHandle,
    packSmall?: boolean,
  ): Promise<Buffer>;
  /**
   * Stages `bytes` (whose sha256 is `hex`) as <stageDir>/ab/cdef…, or into `pack` with `packIt`, unless
   * present (loose, or in a committed pack when `pack` is given); returns a StageStatus.
   */
  stageBuffer(
    stageDir: string,
    objectsDir: string,
    hex: string,
    bytes: Buffer,
    pack?: PackHandle,
    packIt?: boolean,
  ): number;
  /**
   * Appends `count` objects to `pack` on a libuv worker thread unless the store or the pack has them.
   * `records`: per object a 32-byte sha256 of its bytes, u32 length (LE), the bytes. One u32 StageStatus per object.
   */
  packBuffers(pack: PackHandle, objectsDir: string, records: Buffer, count: number): Promise<Buffer>;
  /** A batch's pack, staged as <stageDir>/<name>.pack; reads the committed packs' indexes (native/asl_pack.c). */
  packCreate(stageDir: string, packsDir: string, name: string): PackHandle;
  /** Whether this batch's pack holds the object with this raw 32-byte digest. */
  packHas(pack: PackHandle, digest: Buffer): boolean;
  /** Writes the index and makes pack and index durable and visible; resolves to the pack's name, or null if it is empty. */
  packCommit(pack: PackHandle): Promise<string | null>;
  /** Closes the staging pack without publishing it. */
  packClose(pack: PackHandle): void;
  /** syncfs, rename each <stageDir>/ab/cdef… to its object path, syncfs, remove stageDir. */
  commitStaged(stageDir: string, objectsDir: string, digests: Buffer): Promise<void>;
  /** One directory's entries sorted by name, with lstat fields, symlink targets and xattrs (see ListedEntry). */
  listDirectory(path: Buffer | string): Buffer;
  /** listDirectory on a libuv worker thread. */
  listDirectoryAsync(path: Buffer | string): Promise<Buffer>;
  /** syncfs on a libuv worker thread. */
  syncfsAsync(path: Buffer | string): Promise<void>;
}

/** An opaque native pack-writer handle. */
export type PackHandle = { readonly __brand: 'PackHandle' };

/** Status codes of stageFiles / stageBuffer records. */
export const StageStatus = {
  staged: 0,
  exists: 1,
  duplicate: 2,
  sourceError: 3,
  stageError: 4,
  notRun: 5,
  packed: 6,
} as const;
/** u32 status, i32 errno (-1: the source is no longer a regular file), f64 size, 32-byte digest. */
export const STAGE_RECORD_BYTES = 48;

/** Where the package root may be: dist/src/store/native.js is three levels below it, dist/bundle/asl.js two. */
function packageRoots(): string[] {
  const here = dirname(fileURLToPath(import.meta.url));
  return [join(here, '..', '..', '..'), join(here, '..', '..')];
}

let binding: NativeBinding | undefined;

export function native(): NativeBinding {
  if (binding) return binding;
  const require = createRequire(import.meta.url);
  const candidates = [
    process.env.ASL_NATIVE_PATH,
    ...packageRoots().map((root) => join(root, 'build', 'Release', 'asl_native.node')),
    // Beside the one-file CLI (an ASL-AUTH-HOST's /usr/lib/asl/), or beside node.
    join(dirname(fileURLToPath(import.meta.url)), 'asl_native.node'),
    join(dirname(process.execPath), 'asl_native.node'),
  ].filter((p): p is string => !!p);
  let lastError: unknown;
  for (const candidate of candidates) {
    try {
      binding = require(candidate) as NativeBinding;
      return binding;
    } catch (err) {
      lastError = err;
    }
  }
  throw new Error(`asl native module not found (run \`npm ci\` to build it): ${String(lastError)}`);
}

/** One directory entry with the lstat fields a tree needs. */
export interface ScanEntry {
  name: Buffer;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  dev: number;
  ino: number;
  rdevMajor: number;
  rdevMinor: number;
  size: number;
  mtimeSec: number;
  mtimeNsec: number;
  ctimeSec: number;
  ctimeNsec: number;
  xattrBytes: number;
}
