import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Transform, type Readable } from 'node:stream';
import type { Digest } from '../core/digest.js';
import { digestBytes, isDigest } from '../core/digest.js';
import { AslError, fsError } from '../core/errors.js';
import { objectPath } from './layout.js';
import type { Store } from './store.js';

function assertDigest(id: string): asserts id is Digest {
  if (!isDigest(id)) throw new AslError('BAD_INPUT', `${id}: not an artifact id (expected sha256:<64 hex digits>)`);
}

/** Reads an object whole and checks its digest; corruption is an error, never silent. */
export async function readObject(store: Store, id: string): Promise<Buffer> {
  assertDigest(id);
  const path = objectPath(store.root, id);
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new AslError('NOT_FOUND', `${id}: no such object in store ${store.root}`, { data: { id } });
    }
    throw fsError(path, err);
  }
  const actual = digestBytes(bytes);
  if (actual !== id) {
    throw new AslError('CORRUPT', `object ${id} is corrupt: content hashes to ${actual}`, { data: { id, expected: id, actual } });
  }
  return bytes;
}

/**
 * Streams an object; the stream fails at its end if the bytes do not hash to
 * `id` (the reader must treat everything it received as untrusted until then).
 */
export function openObjectStream(store: Store, id: string): Readable {
  assertDigest(id);
  const path = objectPath(store.root, id);
  const hash = createHash('sha256');
  const check = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      cb(null, chunk);
    },
    flush(cb) {
      const actual = `sha256:${hash.digest('hex')}`;
      if (actual !== id) cb(new AslError('CORRUPT', `object ${id} is corrupt: content hashes to ${actual}`, { data: { id, expected: id, actual } }));
      else cb();
    },
  });
  const source = createReadStream(path, { highWaterMark: 1024 * 1024 });
  source.on('error', (err) => {
    const e = (err as NodeJS.ErrnoException).code === 'ENOENT'
      ? new AslError('NOT_FOUND', `${id}: no such object in store ${store.root}`)
      : fsError(path, err);
    check.destroy(e);
  });
  return source.pipe(check);
}
