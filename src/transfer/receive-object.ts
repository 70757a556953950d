/**
 * Receives one object from an untrusted source (a bundle's tar entry, a
 * registry's blob response) into an import's ObjectBatch. What it guarantees:
 *
 *   - nothing unverified reaches objects/: the bytes are hashed as they arrive
 *     and must hash to the claimed digest and be exactly the claimed size before
 *     they are handed to the batch, and the batch must stage them under that same
 *     digest; they become visible only when the caller commits the batch;
 *   - a source that sends more than the claimed size is stopped at the first
 *     chunk past it (leaving the loop destroys a stream source);
 *   - an object over IN_MEMORY goes through a staging file of its own in the
 *     batch's folder (created with O_EXCL, mode 0600, folder 0700), which the
 *     batch stages as it is when the object is accepted, and which is removed
 *     when it is refused;
 *   - what the content checks need is collected: the bytes of every object that
 *     starts like a tree (one over MAX_TREE_BYTES is refused) and of the objects
 *     in `keep` (receipts, timestamps).
 *
 * On a throw the caller aborts the batch (nothing staged becomes visible, and
 * its folder goes); bundle import and OCI pull do so for any failure.
 */
import { createHash } from 'node:crypto';
import { readFile, rm, type FileHandle } from 'node:fs/promises';
import type { Digest } from '../core/digest.js';
import { AslError } from '../core/errors.js';
import type { ObjectBatch } from '../store/object-batch.js';
import { TREE_MAGIC } from '../store/tree-model.js';

/** Objects up to this size are checked in memory; bigger ones stream through a staging file. */
const IN_MEMORY = 4 * 1024 * 1024;
/** Bytes gathered before one write of a staging file: fewer, larger writes. */
export const WRITE_BYTES = 1024 * 1024;
/** A tree object bigger than this (about 400,000 entries) is refused rather than buffered. */
export const MAX_TREE_BYTES = 64 * 1024 * 1024;

/** Where received objects go, and what is collected for the content checks. */
export interface ReceiveInto {
  batch: ObjectBatch;
  /** Objects whose bytes the content checks need whatever their kind. */
  keep: ReadonlySet<Digest>;
  trees: Map<Digest, Buffer>;
  kept: Map<Digest, Buffer>;
}

/** The source's own wording for its failures (a bundle entry and a registry blob are named differently). */
export interface ReceiveErrors {
  /** Names the object in the other errors, e.g. the bundle entry or the registry. */
  where: string;
  /** The bytes received hash to `actual` (or are not the claimed size). */
  mismatch(actual: Digest, received: number): AslError;
  /** The source sent more than the claimed size. */
  overrun(): AslError;
}

/** Receives `body`, claimed to be `size` bytes hashing to `digest`, into `into.batch`. */
export async function receiveObject(
  into: ReceiveInto,
  digest: Digest,
  size: number,
  body: AsyncIterable<Buffer>,
  errors: ReceiveErrors,
): Promise<void> {
  const hash = createHash('sha256');
  let received = 0;
  let head = Buffer.alloc(0);
  const take = (chunk: Buffer): void => {
    received += chunk.length;
    if (received > size) throw errors.overrun();
    if (head.length < TREE_MAGIC.length)
      head = Buffer.concat([head, chunk.subarray(0, TREE_MAGIC.length - head.length)]);
    hash.update(chunk);
  };
  const check = (): void => {
    const actual: Digest = `sha256:${hash.digest('hex')}`;
    if (actual !== digest || received !== size) throw errors.mismatch(actual, received);
  };
  const isTree = (): boolean => head.equals(TREE_MAGIC);

  if (size <= IN_MEMORY) {
    const parts: Buffer[] = [];
    for await (const chunk of body) {
      take(chunk);
      parts.push(chunk);
    }
    check();
    const data = Buffer.concat(parts, received);
    collect(into, digest, data);
    staged(await into.batch.addBytes(data), digest, errors);
    return;
  }

  // Written into the batch's own folder as it arrives, then staged as it is (no second copy).
  const { path, fh } = await into.batch.newObjectFile();
  try {
    try {
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      let written = 0;
      for await (const chunk of body) {
        take(chunk);
        pending.push(chunk);
        pendingBytes += chunk.length;
        if (pendingBytes >= WRITE_BYTES) {
          await writeAll(fh, pending, written);
          written += pendingBytes;
          pending = [];
          pendingBytes = 0;
        }
      }
      await writeAll(fh, pending, written);
      check();
      // Durable now, while other transfers go on, rather than in one flush at the commit.
      await fh.sync();
    } finally {
      await fh.close();
    }
    let data: Buffer | undefined;
    if (isTree()) {
      if (size > MAX_TREE_BYTES)
        throw new AslError(
          'CORRUPT',
          `${errors.where}: object ${digest} looks like a tree but is ${size} bytes; refused`,
        );
      data = await readFile(path);
      into.trees.set(digest, data);
    }
    if (into.keep.has(digest)) into.kept.set(digest, data ?? (await readFile(path)));
    await into.batch.adoptObjectFile(path, digest, size);
  } finally {
    await rm(path, { force: true });
  }
}

/** Writes `buffers` at `position` in one writev (more when the kernel takes less). */
export async function writeAll(fh: FileHandle, buffers: readonly Buffer[], position: number): Promise<void> {
  let rest = buffers.filter((b) => b.length > 0);
  let at = position;
  while (rest.length > 0) {
    const { bytesWritten } = await fh.writev(rest, at);
    if (bytesWritten === 0) throw new Error('writev wrote nothing');
    at += bytesWritten;
    let skip = bytesWritten;
    const next: Buffer[] = [];
    for (const b of rest) {
      if (skip >= b.length) {
        skip -= b.length;
        continue;
      }
      next.push(skip > 0 ? b.subarray(skip) : b);
      skip = 0;
    }
    rest = next;
  }
}

/** Keeps what the content checks need: the bytes of trees and of the objects in `keep`. */
function collect(into: ReceiveInto, digest: Digest, data: Buffer): void {
  if (data.subarray(0, TREE_MAGIC.length).equals(TREE_MAGIC)) {
    if (data.length > MAX_TREE_BYTES)
      throw new AslError('CORRUPT', `object ${digest} looks like a tree but is ${data.length} bytes; refused`);
    into.trees.set(digest, data);
  }
  if (into.keep.has(digest)) into.kept.set(digest, data);
}

/**
 * Receives one object of a pack, whose bytes the caller has in memory: appended
 * to the batch's pack (docs/store-format.md, "Packs") rather than written as a
 * file of its own, then checked against its digest (the batch hashes what it
 * stages, once, and names it by that hash: anything else aborts the pull, and
 * the batch with it) and collected for the content checks.
 */
export async function receivePackedObject(
  into: ReceiveInto,
  digest: Digest,
  size: number,
  data: Buffer,
  errors: Pick<ReceiveErrors, 'where' | 'mismatch'>,
): Promise<void> {
  const actual = into.batch.canStageSync
    ? into.batch.addBytesSync(data, { packed: true })
    : await into.batch.addBytes(data);
  if (actual !== digest || data.length !== size) throw errors.mismatch(actual, data.length);
  collect(into, digest, data);
}

/** The batch hashes what it stages itself: a staging file changed since it was checked is refused. */
function staged(actual: Digest, digest: Digest, errors: Pick<ReceiveErrors, 'where'>): void {
  if (actual !== digest)
    throw new AslError(
      'CORRUPT',
      `${errors.where}: object ${digest} changed while being staged (now hashing to ${actual}); refused`,
      { data: { expected: digest, actual } },
    );
}
