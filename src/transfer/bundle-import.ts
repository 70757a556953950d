/**
 * `asl bundle import`: reads a bundle as a stream and adds its closure to a
 * store, checking everything before anything becomes visible:
 *
 *   1. the tar is read entry by entry; only regular files with the bundle's exact
 *      names are accepted (no links, no directories, no `..`, no absolute paths),
 *      the manifest first, each name once;
 *   2. each object is hashed as it streams and staged in the target's tmp/ (via an
 *      ObjectBatch, receive-object.ts); its digest and size must match its name
 *      and the manifest;
 *   3. when the archive has ended (with its end marker): every listed object and
 *      key is there, every tree is canonical and complete, every root's
 *      timestamps match, every receipt verifies against the target's trusted keys
 *      plus the keys the operator named, and names only artifacts the bundle
 *      carries;
 *   4. only then: one flush makes the objects visible, the operator's keys are
 *      trusted, root records are written, and the receipts are appended to the
 *      log with one signed head (the commit point).
 *
 * Any failure before step 4 removes what was staged: the target is unchanged.
 */
import { open } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Digest } from '../core/digest.js';
import { AslError, fsError } from '../core/errors.js';
import { ObjectBatch } from '../store/object-batch.js';
import type { Store } from '../store/store.js';
import {
  MANIFEST_NAME,
  MAX_KEY_BYTES,
  MAX_MANIFEST_BYTES,
  decodeManifest,
  parseEntryName,
  type BundleManifest,
} from './bundle-manifest.js';
import { keptObjects } from './bundle-check.js';
import { checkAndCommit, openImportTarget, type TrustOptions } from './closure-import.js';
import { parsePublicKey, type PublicKeyPem } from './public-key.js';
import { receiveObject, type ReceiveInto } from './receive-object.js';
import { readTar, type TarEntry } from '../core/tar-reader.js';

export interface ImportOptions extends TrustOptions {
  onProgress?: (p: { objects: number; totalObjects: number; bytes: number }) => void;
}

export interface ImportResult {
  bundle: string;
  receipts: { added: number; present: number };
  objects: { total: number; added: number; present: number };
  bytes: number;
  roots: { added: number };
  /** Keys added to the target's trust set. */
  trusted: string[];
}

async function collect(chunks: AsyncIterable<Buffer>, limit: number, what: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of chunks) {
    n += c.length;
    if (n > limit) throw new AslError('BAD_INPUT', `${what} is larger than ${limit} bytes`);
    parts.push(c);
  }
  return Buffer.concat(parts, n);
}

function describeUnsafe(name: string): string {
  if (name.startsWith('/')) return 'an absolute path';
  if (name.split('/').includes('..')) return 'a path that climbs out with ".."';
  return 'not a bundle entry name';
}

const TYPE_WORDS: Record<string, string> = {
  hardlink: 'a hard link',
  symlink: 'a symbolic link',
  char: 'a character device',
  block: 'a block device',
  dir: 'a directory',
  fifo: 'a FIFO',
  'pax-global': 'a pax global header',
  'gnu-longname': 'a GNU long-name entry',
  'gnu-longlink': 'a GNU long-link entry',
  other: 'an entry of an unknown type',
};

/** Refuses every entry a bundle can never hold, naming what it is. */
function checkEntryShape(entry: TarEntry, label: string): void {
  const { header } = entry;
  const where = `${label}: entry ${entry.index + 1} ${JSON.stringify(header.name)}`;
  if (header.type !== 'file') {
    const link =
      header.type === 'hardlink' || header.type === 'symlink' ? ` to ${JSON.stringify(header.linkname)}` : '';
    throw new AslError(
      'BAD_INPUT',
      `${where} is ${TYPE_WORDS[header.type] ?? header.type}${link} (type ${JSON.stringify(header.flag)}); a bundle holds regular files only`,
    );
  }
  if (!parseEntryName(header.name)) {
    throw new AslError(
      'BAD_INPUT',
      `${where} is ${describeUnsafe(header.name)}; a bundle holds only ${MANIFEST_NAME}, keys/<keyid>.pub and objects/sha256/<ab>/<62 hex>`,
    );
  }
}

interface Reader {
  manifest: BundleManifest;
  sizes: Map<Digest, number>;
  trees: Map<Digest, Buffer>;
  kept: Map<Digest, Buffer>;
  keys: Map<string, PublicKeyPem>;
}

/**
 * Reads the whole archive, staging objects into `batch`; returns what the
 * content checks need. Throws on the first structural or digest problem.
 */
async function readBundle(
  source: AsyncIterable<Buffer>,
  label: string,
  batch: ObjectBatch,
  onProgress?: ImportOptions['onProgress'],
): Promise<Reader> {
  let manifest: BundleManifest | null = null;
  let expected = new Map<Digest, number>();
  const sizes = new Map<Digest, number>();
  const trees = new Map<Digest, Buffer>();
  const kept = new Map<Digest, Buffer>();
  const keys = new Map<string, PublicKeyPem>();
  let bytes = 0;
  const keep = new Set<Digest>();
  const into: ReceiveInto = { batch, keep, trees, kept };

  for await (const entry of readTar(source, label)) {
    checkEntryShape(entry, label);
    const name = parseEntryName(entry.header.name)!;
    const where = `${label}: ${entry.header.name}`;
    if (!manifest) {
      if (name.kind !== 'manifest')
        throw new AslError(
          'BAD_INPUT',
          `${label}: the first entry is ${JSON.stringify(entry.header.name)}, not ${MANIFEST_NAME}: not an ASL bundle`,
        );
      if (entry.header.size > MAX_MANIFEST_BYTES)
        throw new AslError('BAD_INPUT', `${where} is ${entry.header.size} bytes, more than a manifest may be`);
      manifest = decodeManifest(await collect(entry.body(), MAX_MANIFEST_BYTES, where), label);
      expected = new Map(manifest.objects.map((o) => [o.digest, o.size]));
      for (const d of keptObjects(manifest)) keep.add(d);
      continue;
    }
    switch (name.kind) {
      case 'manifest':
        throw new AslError('BAD_INPUT', `${where}: a second manifest (entry ${entry.index + 1})`);
      case 'key': {
        if (keys.has(name.keyId)) throw new AslError('BAD_INPUT', `${where} appears twice in the bundle`);
        if (!manifest.keys.includes(name.keyId))
          throw new AslError('CORRUPT', `${where} is not listed in the manifest`);
        const pem = await collect(entry.body(), MAX_KEY_BYTES, where);
        const key = parsePublicKey(pem.toString('utf8'), where, 'CORRUPT');
        if (key.keyId !== name.keyId)
          throw new AslError('CORRUPT', `${where}: the key in it has id ${key.keyId}, not the id in its name`);
        keys.set(name.keyId, key);
        break;
      }
      case 'object': {
        const { digest } = name;
        if (sizes.has(digest))
          throw new AslError('BAD_INPUT', `${where}: object ${digest} appears twice in the bundle`);
        const listed = expected.get(digest);
        if (listed === undefined)
          throw new AslError('CORRUPT', `${where}: object ${digest} is not listed in the manifest`);
        const size = entry.header.size;
        if (size !== listed)
          throw new AslError(
            'CORRUPT',
            `${where}: the manifest says object ${digest} is ${listed} bytes, the bundle carries ${size}`,
          );
        await receiveObject(into, digest, size, entry.body(), {
          where,
          mismatch: (actual) =>
            new AslError('CORRUPT', `${where}: object named ${digest} contains bytes hashing to ${actual}`, {
              data: { expected: digest, actual },
            }),
          overrun: () => new AslError('BAD_INPUT', `${where} is larger than ${size} bytes`),
        });
        sizes.set(digest, size);
        bytes += size;
        onProgress?.({ objects: sizes.size, totalObjects: expected.size, bytes });
        break;
      }
    }
  }
  if (!manifest) throw new AslError('BAD_INPUT', `${label}: empty archive: not an ASL bundle`);
  const absent = manifest.objects.filter((o) => !sizes.has(o.digest));
  if (absent.length > 0)
    throw new AslError(
      'CORRUPT',
      `${label}: the bundle lacks ${absent.length} object(s) its manifest lists, e.g. ${absent[0]!.digest}`,
    );
  const absentKeys = manifest.keys.filter((k) => !keys.has(k));
  if (absentKeys.length > 0)
    throw new AslError('CORRUPT', `${label}: the bundle lacks key ${absentKeys[0]} its manifest lists`);
  return { manifest, sizes, trees, kept, keys };
}

export async function importBundle(
  store: Store,
  input: string | NodeJS.ReadableStream,
  opts: ImportOptions = {},
): Promise<ImportResult> {
  const label = typeof input === 'string' ? resolve(input) : 'bundle (stdin)';
  // The target must be able to take a log append before anything is staged.
  const target = await openImportTarget(store, opts);

  let stream: AsyncIterable<Buffer> & { destroy?: () => void };
  if (typeof input === 'string') {
    const fh = await open(label, 'r').catch((err) => {
      throw fsError(label, err, 'cannot open bundle');
    });
    if ((await fh.stat()).isDirectory()) {
      await fh.close();
      throw new AslError('BAD_INPUT', `${label}: is a directory, not a bundle file`);
    }
    stream = fh.createReadStream({ highWaterMark: 1024 * 1024 });
  } else {
    stream = input as AsyncIterable<Buffer>;
  }

  const batch = new ObjectBatch(store);
  try {
    let read: Reader;
    try {
      read = await readBundle(stream, label, batch, opts.onProgress);
    } finally {
      if (typeof input === 'string') stream.destroy?.();
    }
    const { manifest } = read;
    const committed = await checkAndCommit(target, batch, read, label);
    return {
      bundle: label,
      receipts: committed.receipts,
      objects: {
        total: manifest.objects.length,
        added: batch.objectsWritten,
        present: manifest.objects.length - batch.objectsWritten,
      },
      bytes: manifest.totals.bytes,
      roots: committed.roots,
      trusted: committed.trusted,
    };
  } catch (err) {
    await batch.abort();
    throw err;
  }
}
