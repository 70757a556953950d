/**
 * `asl push`: a closure into an OCI registry (layout in oci-layout.ts). Blobs
 * first (a registry refuses a manifest naming a blob it lacks), each skipped
 * when the repository has it already (known from the manifests it holds, else
 * asked with HEAD), uploaded in parallel otherwise;
 * then the receipt and part manifests by digest; the tag's index last, so a tag
 * only ever names a complete closure. Every object is re-hashed as it is read,
 * and the registry checks the digest of every upload too.
 */
import { createHash } from 'node:crypto';
import { constants as fsConstants, createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { Digest } from '../core/digest.js';
import { digestBytes } from '../core/digest.js';
import { AslError, fsError } from '../core/errors.js';
import { locateObject } from '../store/object-locate.js';
import { mapLimit } from '../core/map-limit.js';
import { readObject } from '../store/object-read.js';
import type { Store } from '../store/store.js';
import { listTrustedKeys, loadTrustedKeys } from '../receipt/trusted-keys.js';
import { verifyEnvelope } from '../receipt/verify.js';
import { buildManifest } from './bundle-export.js';
import { encodeManifest } from './bundle-manifest.js';
import { computeClosure, sortedObjects } from './closure.js';
import { RegistryClient, type Credentials } from './oci-client.js';
import {
  CLOSURE_ARTIFACT, EMPTY_CONFIG_BYTES, MAX_REGISTRY_MANIFEST_BYTES, MEDIA_CLOSURE_MANIFEST, MEDIA_INDEX, MEDIA_MANIFEST,
  closureIndex, closureParts, parseClosureIndex, parseImageManifest, receiptManifest, type Descriptor, type Encoded, type KeyBlob,
} from './oci-layout.js';
import { DEFAULT_TAG, formatOciReference, type OciReference } from './oci-reference.js';

/** Objects up to this size are read, checked and sent from memory. */
const IN_MEMORY = 4 * 1024 * 1024;
export const DEFAULT_CONCURRENCY = 8;
/** Blobs up to this size go in one PUT; bigger ones in PATCH chunks of this size. */
const DEFAULT_CHUNK_SIZE = 64 * 1024 * 1024;

export interface RegistryOptions {
  credentials?: Credentials;
  /** http instead of https. */
  plainHttp?: boolean;
  /** Extra CA certificates (PEM text) for https. */
  ca?: string;
  /** Transfers in flight at once. */
  concurrency?: number;
  /** Waits and retries of every request (oci-client.ts). */
  connectTimeoutMs?: number;
  readTimeoutMs?: number;
  attempts?: number;
  backoffMs?: number;
  onProgress?: (p: { objects: number; totalObjects: number; bytes: number }) => void;
}

export interface PushOptions extends RegistryOptions {
  /** Receipt ids, prefixes or step names; none: the whole store. */
  receipts?: readonly string[];
  chunkSize?: number;
}

export interface PushResult {
  /** oci://host/repo:tag */
  reference: string;
  /** Digest of the index the tag names. */
  digest: Digest;
  receipts: number;
  objects: number;
  /** skipped: already in the repository; checked: how many HEAD requests that took (the rest was known from its manifests). */
  blobs: { total: number; uploaded: number; skipped: number; checked: number };
  bytes: { total: number; uploaded: number };
  manifests: { total: number; uploaded: number; skipped: number };
  notes: string[];
}

interface BlobSource {
  digest: Digest;
  size: number;
  /** In-memory bytes (config, keys); otherwise the store's object file. */
  bytes?: Buffer;
}

async function* fileRange(path: string, start: number, end: number): AsyncGenerator<Buffer> {
  if (end <= start) return;
  for await (const chunk of createReadStream(path, { start, end: end - 1, highWaterMark: 1024 * 1024 })) yield chunk as Buffer;
}

/** Re-hashes a big object file before it is sent (small ones are checked in memory). */
async function checkObjectFile(fh: FileHandle, digest: Digest): Promise<void> {
  const hash = createHash('sha256');
  for await (const chunk of fh.createReadStream({ autoClose: false, start: 0 })) hash.update(chunk as Buffer);
  const actual = `sha256:${hash.digest('hex')}`;
  if (actual !== digest) throw new AslError('CORRUPT', `object ${digest} is corrupt: content hashes to ${actual}; nothing pushed under the tag (run \`asl verify\`)`);
}

async function uploadObject(client: RegistryClient, store: Store, blob: BlobSource, chunkSize: number): Promise<void> {
  if (blob.bytes) {
    await client.uploadBlob(blob.digest, blob.size, async function* () { yield blob.bytes!; }, chunkSize, blob.bytes);
    return;
  }
  const loc = await locateObject(store, blob.digest);
  if (!loc) throw new AslError('NOT_FOUND', `${blob.digest}: no such object in store ${store.root} (run \`asl verify\`)`);
  if (loc.kind === 'packed') {
    // Packed objects are small: read (and verified) whole.
    if (loc.size !== blob.size) throw new AslError('CORRUPT', `object ${blob.digest} is ${loc.size} bytes, the closure says ${blob.size} (run \`asl verify\`)`);
    const data = await readObject(store, blob.digest);
    await client.uploadBlob(blob.digest, blob.size, async function* () { yield data; }, chunkSize, data);
    return;
  }
  const path = loc.path;
  let fh: FileHandle;
  try { fh = await open(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW); } catch (err) { throw fsError(path, err, `cannot read object ${blob.digest}`); }
  try {
    const st = await fh.stat();
    if (st.size !== blob.size) throw new AslError('CORRUPT', `object ${blob.digest} is ${st.size} bytes, the closure says ${blob.size} (run \`asl verify\`)`);
    if (blob.size <= IN_MEMORY) {
      const data = await fh.readFile();
      const actual = digestBytes(data);
      if (actual !== blob.digest) throw new AslError('CORRUPT', `object ${blob.digest} is corrupt: content hashes to ${actual}; nothing pushed under the tag (run \`asl verify\`)`);
      await client.uploadBlob(blob.digest, blob.size, async function* () { yield data; }, chunkSize, data);
      return;
    }
    await checkObjectFile(fh, blob.digest);
  } finally {
    await fh.close();
  }
  await client.uploadBlob(blob.digest, blob.size, (start, end) => fileRange(path, start, end), chunkSize);
}

interface Inventory {
  repoExists: boolean;
  /** Blobs the repository is known to hold: layers and configs of manifests it has. */
  blobs: Set<Digest>;
  /** This closure's manifests it already has. */
  manifests: Set<Digest>;
}

/**
 * What the repository holds, learned from manifests instead of one HEAD per
 * blob: a registry accepts a manifest only when it holds every blob the
 * manifest names, and keeps them while the manifest is there. Sources: this
 * closure's own manifests (a re-push), and the closure the tag names now (the
 * previous build). A repository that does not exist yet holds nothing.
 */
async function inventory(client: RegistryClient, tag: string, ours: readonly Encoded[], parts: readonly Encoded[], concurrency: number): Promise<Inventory> {
  const out: Inventory = { repoExists: await client.repositoryExists(), blobs: new Set(), manifests: new Set() };
  if (!out.repoExists) return out;
  const learn = (bytes: Buffer, artifactType = CLOSURE_ARTIFACT) => {
    try {
      const m = parseImageManifest(bytes, 'manifest', artifactType);
      out.blobs.add(m.config.digest);
      for (const l of m.layers) out.blobs.add(l.digest);
    } catch { /* not one of ours: learn nothing */ }
  };
  const partDigests = new Set<Digest>(parts.map((p) => p.descriptor.digest));
  await mapLimit(ours, concurrency, async (m) => {
    if (await client.hasManifest(m.descriptor.digest, MEDIA_MANIFEST)) {
      out.manifests.add(m.descriptor.digest);
      learn(m.bytes, m.descriptor.artifactType);
    }
  });
  const current = await client.getManifest(tag, [MEDIA_INDEX], MAX_REGISTRY_MANIFEST_BYTES);
  if (current) {
    let previous: Descriptor[] = [];
    try { previous = parseClosureIndex(current.bytes, 'index').parts.filter((d) => !partDigests.has(d.digest)); } catch { /* not an ASL closure */ }
    await mapLimit(previous, concurrency, async (d) => {
      const m = await client.getManifest(d.digest, [MEDIA_MANIFEST], MAX_REGISTRY_MANIFEST_BYTES);
      if (m && digestBytes(m.bytes) === d.digest) learn(m.bytes);
    });
  }
  return out;
}

export async function pushClosure(store: Store, ref: OciReference, opts: PushOptions = {}): Promise<PushResult> {
  if (ref.digest) throw new AslError('USAGE', `${formatOciReference(ref)}: push names a tag, not a digest (the digest is the result)`);
  const tag = ref.tag ?? DEFAULT_TAG;
  const target: OciReference = { host: ref.host, repository: ref.repository, tag };
  const concurrency = opts.concurrency ?? DEFAULT_CONCURRENCY;
  const chunkSize = opts.chunkSize ?? DEFAULT_CHUNK_SIZE;

  const closure = await computeClosure(store, { receipts: opts.receipts ?? [] });
  const trusted = await listTrustedKeys(store);
  const pems = new Map(trusted.map((k) => [k.keyId, Buffer.from(k.pem, 'utf8')]));
  const manifest = buildManifest(closure, [...closure.signers].filter((k) => pems.has(k)));
  const configBytes = encodeManifest(manifest);
  const config: Descriptor = { mediaType: MEDIA_CLOSURE_MANIFEST, digest: digestBytes(configBytes), size: configBytes.length };
  const keyBlobs: KeyBlob[] = manifest.keys.map((keyId) => ({ keyId, digest: digestBytes(pems.get(keyId)!), size: pems.get(keyId)!.length }));

  // The manifests, built before anything is sent: a receipt that does not parse stops here.
  const keys = await loadTrustedKeys(store);
  const receiptManifests: Encoded[] = [];
  for (const r of closure.receipts) {
    const verified = verifyEnvelope(await readObject(store, r.id), keys, { receiptId: r.id });
    receiptManifests.push(receiptManifest(r.id, closure.objects.get(r.id)!, r.step, verified.statement.predicate.core, closure.objects));
  }
  const objects = sortedObjects(closure);
  const parts = closureParts(config, keyBlobs, objects);
  const index = closureIndex(receiptManifests.map((m) => m.descriptor), parts.map((p) => p.descriptor));

  const blobs = new Map<Digest, BlobSource>();
  blobs.set(config.digest, { digest: config.digest, size: config.size, bytes: configBytes });
  blobs.set(digestBytes(EMPTY_CONFIG_BYTES), { digest: digestBytes(EMPTY_CONFIG_BYTES), size: EMPTY_CONFIG_BYTES.length, bytes: EMPTY_CONFIG_BYTES });
  for (const k of keyBlobs) blobs.set(k.digest, { digest: k.digest, size: k.size, bytes: pems.get(k.keyId)! });
  for (const o of objects) if (!blobs.has(o.digest)) blobs.set(o.digest, o);

  const client = new RegistryClient(target, { ...opts, maxSockets: concurrency, actions: 'pull,push' });
  try {
    await client.connect();
    const list = [...blobs.values()];
    const totalBytes = list.reduce((n, b) => n + b.size, 0);
    const known = await inventory(client, tag, [...receiptManifests, ...parts], parts, concurrency);
    const counts = { uploaded: 0, checked: 0, uploadedBytes: 0 };
    let done = 0;
    let doneBytes = 0;
    const sendBlobs = async (assumePresent: ReadonlySet<Digest>, repoExists: boolean) => {
      done = 0;
      doneBytes = 0;
      await mapLimit(list, concurrency, async (blob) => {
        let present = assumePresent.has(blob.digest);
        if (!present && repoExists) { counts.checked++; present = await client.hasBlob(blob.digest); }
        if (!present) {
          await uploadObject(client, store, blob, chunkSize);
          counts.uploaded++;
          counts.uploadedBytes += blob.size;
        }
        done++;
        doneBytes += blob.size;
        opts.onProgress?.({ objects: done, totalObjects: list.length, bytes: doneBytes });
      });
    };
    await sendBlobs(known.blobs, known.repoExists);

    let manifestsUploaded = 0;
    let manifestsSkipped = 0;
    const byDigest = [...receiptManifests, ...parts];
    const sendManifests = () => mapLimit(byDigest, concurrency, async (m) => {
      // Asked for by inventory() already: the ones present are known.
      if (known.manifests.has(m.descriptor.digest)) { manifestsSkipped++; return; }
      await client.putManifest(m.descriptor.digest, m.descriptor.mediaType, m.bytes);
      manifestsUploaded++;
    });
    try {
      await sendManifests();
    } catch (err) {
      // The inventory was wrong (a blob deleted behind a manifest): ask blob by blob, then again.
      if (!(err instanceof AslError && err.data?.registryCode === 'MANIFEST_BLOB_UNKNOWN' && known.blobs.size > 0)) throw err;
      await sendBlobs(new Set(), true);
      manifestsUploaded = 0;
      manifestsSkipped = 0;
      await sendManifests();
    }
    const reported = await client.putManifest(tag, MEDIA_INDEX, index.bytes);
    if (reported && reported !== index.descriptor.digest) {
      throw new AslError('IO', `${client.label}: the registry stored the index as ${reported}, not ${index.descriptor.digest} (it rewrote the manifest?)`);
    }
    return {
      reference: formatOciReference(target),
      digest: index.descriptor.digest,
      receipts: closure.receipts.length,
      objects: objects.length,
      blobs: { total: list.length, uploaded: counts.uploaded, skipped: list.length - counts.uploaded, checked: counts.checked },
      bytes: { total: totalBytes, uploaded: counts.uploadedBytes },
      manifests: { total: byDigest.length + 1, uploaded: manifestsUploaded + 1, skipped: manifestsSkipped },
      notes: closure.notes,
    };
  } finally {
    client.close();
  }
}
