/**
 * `asl bundle export`: one POSIX tar file carrying a closure (docs/transfer.md).
 * Entries, in order: asl-bundle.json (the manifest), keys/<keyid>.pub (public
 * keys of the receipts' signers, for the operator to check and trust on the
 * other side), objects/sha256/ab/cdef… (every object, sorted by digest). Owner,
 * mode and mtime are fixed, so the same closure always gives the same bytes.
 * Every object is re-hashed as it is copied; a file is written under a temp name
 * and renamed into place only when complete.
 */
import { createHash } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Digest } from '../core/digest.js';
import { AslError, fsError } from '../core/errors.js';
import { writeFileAtomic } from '../core/write-file-atomic.js';
import { locateObject } from '../store/object-locate.js';
import { readObject } from '../store/object-read.js';
import type { Store } from '../store/store.js';
import { STORE_MODES } from '../store/store-modes.js';
import { listTrustedKeys } from '../receipt/trusted-keys.js';
import { computeClosure, sortedObjects, type Closure } from './closure.js';
import {
  BUNDLE_FORMAT,
  BUNDLE_VERSION,
  MANIFEST_NAME,
  encodeManifest,
  keyEntryName,
  objectEntryName,
  type BundleManifest,
} from './bundle-manifest.js';
import { TarWriter, fileSink, streamSink, type Sink } from './tar-writer.js';

const IN_MEMORY = 1024 * 1024;
const CHUNK = 1024 * 1024;

export interface ExportOptions {
  /** Receipt ids, prefixes or step names; none: the whole store. */
  receipts?: readonly string[];
  onProgress?: (p: { objects: number; totalObjects: number; bytes: number }) => void;
}

export interface ExportResult {
  /** The file written, or "-" for a stream. */
  file: string;
  receipts: number;
  objects: number;
  /** Bytes of object content carried. */
  bytes: number;
  /** Bytes of the bundle file. */
  size: number;
  keys: string[];
  notes: string[];
}

export function buildManifest(closure: Closure, keyIds: readonly string[]): BundleManifest {
  const objects = sortedObjects(closure);
  return {
    format: BUNDLE_FORMAT,
    version: BUNDLE_VERSION,
    receipts: closure.receipts.map((r) => ({ id: r.id, step: r.step, time: r.time })),
    roots: closure.roots,
    keys: [...keyIds].sort(),
    objects,
    totals: { objects: objects.length, bytes: objects.reduce((n, o) => n + o.size, 0) },
  };
}

async function* verifiedChunks(fh: FileHandle, digest: Digest, size: number): AsyncGenerator<Buffer> {
  const hash = createHash('sha256');
  let pos = 0;
  while (pos < size) {
    const buf = Buffer.allocUnsafe(Math.min(CHUNK, size - pos));
    const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
    if (bytesRead === 0) break;
    pos += bytesRead;
    const chunk = buf.subarray(0, bytesRead);
    hash.update(chunk);
    yield chunk;
  }
  const actual = `sha256:${hash.digest('hex')}`;
  if (pos === size && actual !== digest)
    throw new AslError(
      'CORRUPT',
      `object ${digest} is corrupt: content hashes to ${actual}; bundle not written (run \`asl verify\`)`,
    );
}

/** Writes the closure's tar to `sink`. */
async function writeBundle(
  store: Store,
  manifest: BundleManifest,
  pems: Map<string, string>,
  sink: Sink,
  onProgress?: ExportOptions['onProgress'],
): Promise<number> {
  const tar = new TarWriter(sink);
  await tar.addBuffer(MANIFEST_NAME, encodeManifest(manifest));
  for (const keyId of manifest.keys) await tar.addBuffer(keyEntryName(keyId), Buffer.from(pems.get(keyId)!, 'utf8'));
  let done = 0;
  let bytes = 0;
  for (const { digest, size } of manifest.objects) {
    const loc = await locateObject(store, digest);
    if (!loc)
      throw new AslError(
        'NOT_FOUND',
        `${digest}: no such object in store ${store.root}; bundle not written (run \`asl verify\`)`,
      );
    if (loc.kind === 'packed') {
      // Packed objects are small: read (and verified) whole.
      await tar.addBuffer(objectEntryName(digest), await readObject(store, digest));
      done++;
      bytes += size;
      onProgress?.({ objects: done, totalObjects: manifest.objects.length, bytes });
      continue;
    }
    const path = loc.path;
    let fh: FileHandle;
    try {
      fh = await open(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
    } catch (err) {
      throw fsError(path, err, `cannot read object ${digest}`);
    }
    try {
      if (size <= IN_MEMORY) {
        const data = await fh.readFile();
        const actual = `sha256:${createHash('sha256').update(data).digest('hex')}`;
        if (actual !== digest)
          throw new AslError(
            'CORRUPT',
            `object ${digest} is corrupt: content hashes to ${actual}; bundle not written (run \`asl verify\`)`,
          );
        await tar.addBuffer(objectEntryName(digest), data);
      } else {
        await tar.addStream(objectEntryName(digest), size, verifiedChunks(fh, digest, size));
      }
    } finally {
      await fh.close();
    }
    done++;
    bytes += size;
    onProgress?.({ objects: done, totalObjects: manifest.objects.length, bytes });
  }
  await tar.finish();
  return tar.bytesWritten;
}

/**
 * Exports the closure of `opts.receipts` (or the whole store) to `output`: a
 * path ("-" is not special here; pass a stream for stdout).
 */
export async function exportBundle(
  store: Store,
  output: string | NodeJS.WritableStream,
  opts: ExportOptions = {},
): Promise<ExportResult> {
  const closure = await computeClosure(store, { receipts: opts.receipts ?? [] });
  const trusted = await listTrustedKeys(store);
  const pems = new Map(trusted.map((k) => [k.keyId, k.pem]));
  const keyIds = [...closure.signers].filter((k) => pems.has(k));
  const manifest = buildManifest(closure, keyIds);
  const result = (size: number, file: string): ExportResult => ({
    file,
    receipts: manifest.receipts.length,
    objects: manifest.objects.length,
    bytes: manifest.totals.bytes,
    size,
    keys: manifest.keys,
    notes: closure.notes,
  });
  if (typeof output !== 'string') {
    const size = await writeBundle(store, manifest, pems, streamSink(output), opts.onProgress);
    return result(size, '-');
  }
  const file = resolve(output);
  let size = 0;
  try {
    await writeFileAtomic(
      file,
      async (fh) => {
        size = await writeBundle(store, manifest, pems, fileSink(fh), opts.onProgress);
      },
      { durable: 'file-and-dir', mode: STORE_MODES.file },
    );
    return result(size, file);
  } catch (err) {
    if (err instanceof AslError) throw err;
    throw fsError(file, err, 'cannot write the bundle');
  }
}
