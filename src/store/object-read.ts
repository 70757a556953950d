import { createHash } from 'node:crypto';
import { closeSync, createReadStream, openSync, readFileSync, readSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import type { Digest } from '../core/digest.js';
import { digestBytes, isDigest } from '../core/digest.js';
import { AslError, fsError } from '../core/errors.js';
import { describeLocation, locateObject, locateObjectSync, type ObjectLocation } from './object-locate.js';
import type { Store } from './store.js';

function assertDigest(id: string): asserts id is Digest {
  if (!isDigest(id)) throw new AslError('BAD_INPUT', `${id}: not an artifact id (expected sha256:<64 hex digits>)`);
}

function notFound(store: Store, id: string): AslError {
  return new AslError('NOT_FOUND', `${id}: no such object in store ${store.root}`, { data: { id } });
}

function corrupt(id: string, actual: string, loc: ObjectLocation): AslError {
  const where = loc.kind === 'packed' ? ` (in pack ${loc.pack})` : '';
  return new AslError('CORRUPT', `object ${id} is corrupt: content hashes to ${actual}${where}`, {
    data: { id, expected: id, actual, ...(loc.kind === 'packed' ? { pack: loc.pack } : {}) },
  });
}

/** The stored bytes at a location, unverified; a pack shorter than its index says is corruption. */
async function readLocation(id: string, loc: ObjectLocation): Promise<Buffer> {
  if (loc.kind === 'loose') return await readFile(loc.path);
  const fh = await open(loc.path, 'r');
  try {
    const bytes = Buffer.allocUnsafe(loc.size);
    let have = 0;
    while (have < loc.size) {
      const { bytesRead } = await fh.read(bytes, have, loc.size - have, loc.offset + have);
      if (bytesRead === 0) throw truncated(id, loc);
      have += bytesRead;
    }
    return bytes;
  } finally {
    await fh.close();
  }
}

function truncated(id: string, loc: ObjectLocation & { kind: 'packed' }): AslError {
  return new AslError(
    'CORRUPT',
    `object ${id} is corrupt: pack ${loc.pack} ends before its ${loc.size} bytes (${describeLocation(loc)})`,
    { data: { id, pack: loc.pack } },
  );
}

/** readLocation without the threadpool (for walks that read many small trees). */
function readLocationSync(id: string, loc: ObjectLocation): Buffer {
  if (loc.kind === 'loose') return readFileSync(loc.path);
  const fd = openSync(loc.path, 'r');
  try {
    const bytes = Buffer.allocUnsafe(loc.size);
    let have = 0;
    while (have < loc.size) {
      const n = readSync(fd, bytes, have, loc.size - have, loc.offset + have);
      if (n === 0) throw truncated(id, loc);
      have += n;
    }
    return bytes;
  } finally {
    closeSync(fd);
  }
}

/** The error for a read of `loc` that failed (a file gone since it was located is "not found"). */
function readFailure(store: Store, id: Digest, loc: ObjectLocation, err: unknown): Error {
  if (err instanceof AslError) return err;
  if ((err as NodeJS.ErrnoException).code === 'ENOENT') return notFound(store, id);
  return fsError(loc.path, err);
}

/** `bytes` if they hash to `id`; corruption is an error, never silent. */
function verified(id: Digest, bytes: Buffer, loc: ObjectLocation): Buffer {
  const actual = digestBytes(bytes);
  if (actual !== id) throw corrupt(id, actual, loc);
  return bytes;
}

/** readObject, synchronously: same checks and messages. */
export function readObjectSync(store: Store, id: string): Buffer {
  assertDigest(id);
  const loc = locateObjectSync(store, id);
  if (!loc) throw notFound(store, id);
  try {
    return verified(id, readLocationSync(id, loc), loc);
  } catch (err) {
    throw readFailure(store, id, loc, err);
  }
}

/** Reads an object whole and checks its digest; corruption is an error, never silent. */
export async function readObject(store: Store, id: string): Promise<Buffer> {
  assertDigest(id);
  const loc = await locateObject(store, id);
  if (!loc) throw notFound(store, id);
  try {
    return verified(id, await readLocation(id, loc), loc);
  } catch (err) {
    throw readFailure(store, id, loc, err);
  }
}

/**
 * Streams an object; the stream fails at its end if the bytes do not hash to
 * `id` (the reader must treat everything it received as untrusted until then).
 */
export function openObjectStream(store: Store, id: string): Readable {
  assertDigest(id);
  const loc = locateObjectSync(store, id);
  const hash = createHash('sha256');
  let seen = 0;
  const check = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      seen += chunk.length;
      cb(null, chunk);
    },
    flush(cb) {
      const actual = `sha256:${hash.digest('hex')}`;
      if (loc && loc.kind === 'packed' && seen !== loc.size) cb(truncated(id, loc));
      else if (actual !== id && loc) cb(corrupt(id, actual, loc));
      else cb();
    },
  });
  if (!loc) {
    queueMicrotask(() => check.destroy(notFound(store, id)));
    return check;
  }
  if (loc.kind === 'packed' && loc.size === 0) return Readable.from([]).pipe(check);
  const range = loc.kind === 'packed' ? { start: loc.offset, end: loc.offset + loc.size - 1 } : {};
  const source = createReadStream(loc.path, { highWaterMark: 1024 * 1024, ...range });
  source.on('error', (err) => {
    const e = (err as NodeJS.ErrnoException).code === 'ENOENT' ? notFound(store, id) : fsError(loc.path, err);
    check.destroy(e);
  });
  return source.pipe(check);
}

/**
 * The first `n` bytes of an object (fewer if it is shorter), unverified: for
 * telling a tree from a blob before a full, verified read.
 */
export async function readObjectHead(store: Store, id: string, n: number): Promise<Buffer> {
  assertDigest(id);
  const loc = await locateObject(store, id);
  if (!loc) throw notFound(store, id);
  let fh;
  try {
    fh = await open(loc.path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(store, id);
    throw fsError(loc.path, err);
  }
  try {
    const head = Buffer.alloc(Math.min(n, loc.size));
    const { bytesRead } = await fh.read(head, 0, head.length, loc.kind === 'packed' ? loc.offset : 0);
    return head.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}
