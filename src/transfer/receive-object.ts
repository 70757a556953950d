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
 *   - an object over IN_MEMORY goes through a staging file of its own in
 *     `workDir` (created with O_EXCL, mode 0600, folder 0700), removed whether
 *     the object is accepted or refused;
 *   - what the content checks need is collected: the bytes of every object that
 *     starts like a tree (one over MAX_TREE_BYTES is refused) and of the objects
 *     in `keep` (receipts, timestamps).
 *
 * On a throw the caller aborts the batch (nothing staged becomes visible) and
 * removes `workDir`; bundle import and OCI pull do both for any failure.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { makeDirs, openNew, STORE_MODES } from '../store/store-modes.js';
import { join } from 'node:path';
import type { Digest } from '../core/digest.js';
import { AslError } from '../core/errors.js';
import type { ObjectBatch } from '../store/object-batch.js';
import { TREE_MAGIC } from '../store/tree-model.js';

/** Objects up to this size are checked in memory; bigger ones stream through a staging file. */
const IN_MEMORY = 4 * 1024 * 1024;
/** A tree object bigger than this (about 400,000 entries) is refused rather than buffered. */
export const MAX_TREE_BYTES = 64 * 1024 * 1024;

/** Where received objects go, and what is collected for the content checks. */
export interface ReceiveInto {
  batch: ObjectBatch;
  /** Folder for the staging files of big objects, made on first use; the caller removes it. */
  workDir: string;
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
export async function receiveObject(into: ReceiveInto, digest: Digest, size: number, body: AsyncIterable<Buffer>, errors: ReceiveErrors): Promise<void> {
  const hash = createHash('sha256');
  let received = 0;
  let head = Buffer.alloc(0);
  const take = (chunk: Buffer): void => {
    received += chunk.length;
    if (received > size) throw errors.overrun();
    if (head.length < TREE_MAGIC.length) head = Buffer.concat([head, chunk.subarray(0, TREE_MAGIC.length - head.length)]);
    hash.update(chunk);
  };
  const check = (): void => {
    const actual: Digest = `sha256:${hash.digest('hex')}`;
    if (actual !== digest || received !== size) throw errors.mismatch(actual, received);
  };
  const isTree = (): boolean => head.equals(TREE_MAGIC);

  if (size <= IN_MEMORY) {
    const parts: Buffer[] = [];
    for await (const chunk of body) { take(chunk); parts.push(chunk); }
    check();
    const data = Buffer.concat(parts, received);
    if (isTree()) into.trees.set(digest, data);
    if (into.keep.has(digest)) into.kept.set(digest, data);
    staged(await into.batch.addBytes(data), digest, errors);
    return;
  }

  await makeDirs(into.workDir);
  const path = join(into.workDir, `object-${randomBytes(8).toString('hex')}`);
  try {
    const fh = await openNew(path, STORE_MODES.file);
    try {
      for await (const chunk of body) { take(chunk); await fh.write(chunk); }
    } finally {
      await fh.close();
    }
    check();
    let data: Buffer | undefined;
    if (isTree()) {
      if (size > MAX_TREE_BYTES) throw new AslError('CORRUPT', `${errors.where}: object ${digest} looks like a tree but is ${size} bytes; refused`);
      data = await readFile(path);
      into.trees.set(digest, data);
    }
    if (into.keep.has(digest)) into.kept.set(digest, data ?? await readFile(path));
    staged((await into.batch.addFile(path, size)).digest, digest, errors);
  } finally {
    await rm(path, { force: true });
  }
}

/** The batch hashes what it stages itself: a staging file changed since it was checked is refused. */
function staged(actual: Digest, digest: Digest, errors: ReceiveErrors): void {
  if (actual !== digest) throw new AslError('CORRUPT', `${errors.where}: object ${digest} changed while being staged (now hashing to ${actual}); refused`, { data: { expected: digest, actual } });
}
