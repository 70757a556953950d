/**
 * `asl push`: a closure into an OCI registry (layout in oci-layout.ts, packs in
 * oci-pack.ts, docs/registry.md). In order:
 *
 *   1. the closure and its manifests, built and checked before anything is sent;
 *   2. what the repository holds, learned from its manifests (oci-inventory.ts);
 *   3. the plan: the objects receipt manifests name, and objects too big to
 *      pack, are blobs of their own; a pack the repository holds is reused when
 *      at least half its bytes are objects still to place; the rest is cut into
 *      new packs of about 8 MiB, in digest order;
 *   4. blobs (a registry refuses a manifest naming a blob it lacks): new packs
 *      built in memory from the store, every object re-hashed as it is read, and
 *      uploaded `concurrency` at a time; blobs known to be there are skipped,
 *      others asked with HEAD when the repository exists (and, big ones, always);
 *   5. the receipt and part manifests by digest, then the tag's index last, so a
 *      tag only ever names a complete closure.
 *
 * Should the registry refuse a manifest for naming a blob it lacks (what step 2
 * learned was wrong: a blob deleted behind its manifests), the push plans again
 * from nothing learned and asks for every blob with HEAD.
 */
import { constants as fsConstants, createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import type { Digest } from '../core/digest.js';
import { digestBytes } from '../core/digest.js';
import { AslError, fsError } from '../core/errors.js';
import { mapLimit } from '../core/map-limit.js';
import { ObjectReader } from '../store/object-reader.js';
import { PACK_MAGIC } from '../store/pack-index.js';
import type { Store } from '../store/store.js';
import { listTrustedKeys, loadTrustedKeys } from '../receipt/trusted-keys.js';
import { verifyEnvelope } from '../receipt/verify.js';
import { buildManifest } from './bundle-export.js';
import { encodeManifest } from './bundle-manifest.js';
import { computeClosure, sortedObjects } from './closure.js';
import { RegistryClient, type Credentials } from './oci-client.js';
import { emptyInventory, learnRepository, type Inventory, type KnownPack } from './oci-inventory.js';
import {
  EMPTY_CONFIG_BYTES,
  MEDIA_CLOSURE_MANIFEST,
  MEDIA_INDEX,
  closureIndex,
  closureParts,
  receiptManifest,
  type Descriptor,
  type Encoded,
  type KeyBlob,
  type PackBlobs,
} from './oci-layout.js';
import {
  MAX_PACKED_OBJECT,
  PACK_TARGET_BYTES,
  packIndexBytes,
  packSize,
  planPacks,
  type PackObject,
} from './oci-pack.js';
import { DEFAULT_TAG, formatOciReference, type OciReference } from './oci-reference.js';

export const DEFAULT_CONCURRENCY = 8;
/** Blobs up to this size go in one PUT; bigger ones in PATCH chunks of this size. */
export const DEFAULT_CHUNK_SIZE = 64 * 1024 * 1024;
/**
 * A blob this big is asked for with HEAD before it is sent, even into a repository
 * with no tag yet (which the registry reports as absent however many blobs it
 * holds): a push killed half-way and run again skips the packs it had sent. A HEAD
 * costs less than a megabyte.
 */
const ALWAYS_ASK_BYTES = 1024 * 1024;
/** Room for the biggest pack planPacks makes: just under the target, then one more object. */
const PACK_BUFFER_BYTES = PACK_MAGIC.length + PACK_TARGET_BYTES + MAX_PACKED_OBJECT;

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
  /**
   * Every blob the closure's manifests name (packs and their indexes, objects of
   * their own, the closure manifest, keys, the empty config). skipped: already in
   * the repository; checked: how many HEAD requests that took (the rest was known
   * from its manifests).
   */
  blobs: { total: number; uploaded: number; skipped: number; checked: number };
  /** Bytes of those blobs, and of the ones uploaded. */
  bytes: { total: number; uploaded: number };
  /** Packs the closure lists: made by this push (uploaded or found there), or reused from the repository; `objects` travel in them. */
  packs: { total: number; uploaded: number; reused: number; objects: number };
  manifests: { total: number; uploaded: number; skipped: number };
  notes: string[];
}

/** A blob of its own: in memory (config, keys), or a store object. */
interface BlobSource {
  digest: Digest;
  size: number;
  bytes?: Buffer;
}

/** The plan of one attempt: which packs the repository's are reused, which are made. */
interface Plan {
  reused: KnownPack[];
  fresh: PackObject[][];
}

/**
 * Places the packable objects (sorted by digest): into a pack the repository
 * holds when at least half that pack's bytes are objects still to place, in
 * index-digest order; the rest into new packs.
 */
function planPush(packable: readonly PackObject[], known: readonly KnownPack[]): Plan {
  const sizes = new Map(packable.map((o) => [o.digest, o.size]));
  const placed = new Set<Digest>();
  const reused: KnownPack[] = [];
  for (const k of known) {
    let useful = 0;
    for (const s of k.slots) if (sizes.get(s.digest) === s.size && !placed.has(s.digest)) useful += s.size;
    if (useful === 0 || useful * 2 < k.pack.size) continue;
    reused.push(k);
    for (const s of k.slots) if (sizes.get(s.digest) === s.size) placed.add(s.digest);
  }
  return { reused, fresh: planPacks(packable.filter((o) => !placed.has(o.digest))) };
}

/** A new pack's bytes (in `into` when they fit) and index, read from the store (every object re-hashed as it is read). */
function buildPack(
  reader: ObjectReader,
  objects: readonly PackObject[],
  into: Buffer,
): { pack: Buffer; index: Buffer } {
  const size = packSize(objects);
  const pack = size <= into.length ? into.subarray(0, size) : Buffer.allocUnsafe(size);
  PACK_MAGIC.copy(pack, 0);
  let at = PACK_MAGIC.length;
  for (const o of objects) {
    const loc = reader.locate(o.digest);
    if (!loc)
      throw new AslError('NOT_FOUND', `${o.digest}: no such object in store ${reader.store.root} (run \`asl verify\`)`);
    if (loc.size !== o.size)
      throw new AslError(
        'CORRUPT',
        `object ${o.digest} is ${loc.size} bytes, the closure says ${o.size} (run \`asl verify\`)`,
      );
    reader.readInto(o.digest, loc, pack, at);
    at += o.size;
  }
  return { pack, index: packIndexBytes(objects) };
}

async function* fileRange(path: string, start: number, end: number): AsyncGenerator<Buffer> {
  if (end <= start) return;
  for await (const chunk of createReadStream(path, { start, end: end - 1, highWaterMark: 1024 * 1024 }))
    yield chunk as Buffer;
}

/** Re-hashes an object file before it is streamed out. */
async function checkObjectFile(fh: FileHandle, digest: Digest): Promise<void> {
  const hash = createHash('sha256');
  for await (const chunk of fh.createReadStream({ autoClose: false, start: 0 })) hash.update(chunk as Buffer);
  const actual = `sha256:${hash.digest('hex')}`;
  if (actual !== digest)
    throw new AslError(
      'CORRUPT',
      `object ${digest} is corrupt: content hashes to ${actual}; nothing pushed under the tag (run \`asl verify\`)`,
    );
}

/** Uploads a blob of its own: from memory, or a store object (a big loose one streamed, after a re-hash). */
async function uploadBlob(
  client: RegistryClient,
  reader: ObjectReader,
  blob: BlobSource,
  chunkSize: number,
): Promise<void> {
  if (blob.bytes) {
    await client.uploadBlob(
      blob.digest,
      blob.size,
      async function* () {
        yield blob.bytes!;
      },
      chunkSize,
      blob.bytes,
    );
    return;
  }
  const loc = reader.locate(blob.digest);
  if (!loc)
    throw new AslError(
      'NOT_FOUND',
      `${blob.digest}: no such object in store ${reader.store.root} (run \`asl verify\`)`,
    );
  if (loc.size !== blob.size)
    throw new AslError(
      'CORRUPT',
      `object ${blob.digest} is ${loc.size} bytes, the closure says ${blob.size} (run \`asl verify\`)`,
    );
  if (loc.kind === 'packed' || blob.size <= MAX_PACKED_OBJECT) {
    const data = reader.read(blob.digest, loc);
    await client.uploadBlob(
      blob.digest,
      blob.size,
      async function* () {
        yield data;
      },
      chunkSize,
      data,
    );
    return;
  }
  let fh: FileHandle;
  try {
    fh = await open(loc.path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
  } catch (err) {
    throw fsError(loc.path, err, `cannot read object ${blob.digest}`);
  }
  try {
    const st = await fh.stat();
    if (st.size !== blob.size)
      throw new AslError(
        'CORRUPT',
        `object ${blob.digest} is ${st.size} bytes, the closure says ${blob.size} (run \`asl verify\`)`,
      );
    await checkObjectFile(fh, blob.digest);
  } finally {
    await fh.close();
  }
  await client.uploadBlob(blob.digest, blob.size, (start, end) => fileRange(loc.path, start, end), chunkSize);
}

function compareDigest(a: { digest: Digest }, b: { digest: Digest }): number {
  return a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0;
}

export async function pushClosure(store: Store, ref: OciReference, opts: PushOptions = {}): Promise<PushResult> {
  if (ref.digest)
    throw new AslError(
      'USAGE',
      `${formatOciReference(ref)}: push names a tag, not a digest (the digest is the result)`,
    );
  const tag = ref.tag ?? DEFAULT_TAG;
  const target: OciReference = { host: ref.host, repository: ref.repository, tag };
  const concurrency = opts.concurrency ?? DEFAULT_CONCURRENCY;
  const chunkSize = opts.chunkSize ?? DEFAULT_CHUNK_SIZE;

  const closure = await computeClosure(store, { receipts: opts.receipts ?? [] });
  const trusted = await listTrustedKeys(store);
  const pems = new Map(trusted.map((k) => [k.keyId, Buffer.from(k.pem, 'utf8')]));
  const manifest = buildManifest(
    closure,
    [...closure.signers].filter((k) => pems.has(k)),
  );
  const configBytes = encodeManifest(manifest);
  const config: Descriptor = {
    mediaType: MEDIA_CLOSURE_MANIFEST,
    digest: digestBytes(configBytes),
    size: configBytes.length,
  };
  const keyBlobs: KeyBlob[] = manifest.keys.map((keyId) => ({
    keyId,
    digest: digestBytes(pems.get(keyId)!),
    size: pems.get(keyId)!.length,
  }));

  // The manifests, built before anything is sent: a receipt that does not parse stops here.
  const reader = new ObjectReader(store);
  try {
    const keys = await loadTrustedKeys(store);
    const receiptManifests: Array<Encoded & { layers: Descriptor[] }> = [];
    for (const r of closure.receipts) {
      const verified = verifyEnvelope(reader.read(r.id), keys, { receiptId: r.id });
      receiptManifests.push(
        receiptManifest(r.id, closure.objects.get(r.id)!, r.step, verified.statement.predicate.core, closure.objects),
      );
    }
    const objects = sortedObjects(closure);
    const named = new Set<Digest>(receiptManifests.flatMap((m) => m.layers.map((l) => l.digest)));
    const own = objects.filter((o) => named.has(o.digest) || o.size > MAX_PACKED_OBJECT);
    const packable = objects.filter((o) => !named.has(o.digest) && o.size <= MAX_PACKED_OBJECT);

    const blobs = new Map<Digest, BlobSource>();
    blobs.set(config.digest, { digest: config.digest, size: config.size, bytes: configBytes });
    blobs.set(digestBytes(EMPTY_CONFIG_BYTES), {
      digest: digestBytes(EMPTY_CONFIG_BYTES),
      size: EMPTY_CONFIG_BYTES.length,
      bytes: EMPTY_CONFIG_BYTES,
    });
    for (const k of keyBlobs) blobs.set(k.digest, { digest: k.digest, size: k.size, bytes: pems.get(k.keyId)! });
    for (const o of own) if (!blobs.has(o.digest)) blobs.set(o.digest, o);
    const ownBlobs = [...blobs.values()];

    const client = new RegistryClient(target, { ...opts, maxSockets: concurrency, actions: 'pull,push' });
    try {
      await client.connect();
      const totalObjects = objects.length;
      // What was sent and asked, over both attempts when there are two.
      const counts = { uploaded: 0, checked: 0, uploadedBytes: 0, packsUploaded: 0 };
      const attempt = async (known: Inventory) => {
        const plan = planPush(packable, known.packs);
        let totalBytes = 0;
        let doneObjects = 0;
        let doneBytes = 0;
        const progress = (n: number, bytes: number) => {
          doneObjects += n;
          doneBytes += bytes;
          opts.onProgress?.({ objects: doneObjects, totalObjects, bytes: doneBytes });
        };
        /** Uploads unless the repository is known, or found by HEAD, to have it; returns whether it uploaded. */
        const send = async (digest: Digest, size: number, upload: () => Promise<void>): Promise<boolean> => {
          totalBytes += size;
          let present = known.blobs.has(digest);
          if (!present && (known.repoExists || size >= ALWAYS_ASK_BYTES)) {
            counts.checked++;
            present = await client.hasBlob(digest);
          }
          if (present) return false;
          await upload();
          counts.uploaded++;
          counts.uploadedBytes += size;
          return true;
        };
        const reusedObjects = packable.length - plan.fresh.reduce((n, p) => n + p.length, 0);
        progress(0, 0);
        const freshPacks: PackBlobs[] = new Array(plan.fresh.length);
        const buffers: Buffer[] = [];
        type Job = { kind: 'pack'; i: number } | { kind: 'own'; blob: BlobSource };
        // Biggest first: a big blob of its own is one stream, which should not start last.
        const jobSize = (j: Job) => (j.kind === 'own' ? j.blob.size : packSize(plan.fresh[j.i]!));
        const jobs: Job[] = [
          ...plan.fresh.map((_, i) => ({ kind: 'pack' as const, i })),
          ...ownBlobs.map((blob) => ({ kind: 'own' as const, blob })),
        ].sort((a, b) => jobSize(b) - jobSize(a));
        await mapLimit(jobs, concurrency, async (job) => {
          if (job.kind === 'own') {
            await send(job.blob.digest, job.blob.size, () => uploadBlob(client, reader, job.blob, chunkSize));
            progress(closure.objects.has(job.blob.digest) ? 1 : 0, job.blob.size);
            return;
          }
          const members = plan.fresh[job.i]!;
          // At most `concurrency` pack buffers, used again and again: 200 MB of packs is not 200 MB allocated.
          const space = buffers.pop() ?? Buffer.allocUnsafe(PACK_BUFFER_BYTES);
          try {
            const built = buildPack(reader, members, space);
            const pack = { digest: digestBytes(built.pack), size: built.pack.length };
            const index = { digest: digestBytes(built.index), size: built.index.length };
            freshPacks[job.i] = { pack, index };
            // The index first: a pack is only ever found through its index.
            await send(index.digest, index.size, () =>
              client.uploadBlob(
                index.digest,
                index.size,
                async function* () {
                  yield built.index;
                },
                chunkSize,
                built.index,
              ),
            );
            if (
              await send(pack.digest, pack.size, () =>
                client.uploadBlob(
                  pack.digest,
                  pack.size,
                  async function* () {
                    yield built.pack;
                  },
                  chunkSize,
                  built.pack,
                ),
              )
            )
              counts.packsUploaded++;
            progress(members.length, pack.size);
          } finally {
            buffers.push(space);
          }
        });
        for (const k of plan.reused) totalBytes += k.pack.size + k.index.size;
        progress(reusedObjects, 0);

        const packs: PackBlobs[] = [
          ...plan.reused.map((k) => ({
            pack: { digest: k.pack.digest, size: k.pack.size },
            index: { digest: k.index.digest, size: k.index.size },
          })),
          ...freshPacks,
        ].sort((a, b) => compareDigest(a.index, b.index));
        const parts = closureParts(config, keyBlobs, packs, own);
        const index = closureIndex(
          receiptManifests.map((m) => m.descriptor),
          parts.map((p) => p.descriptor),
        );
        let manifestsUploaded = 0;
        let manifestsSkipped = 0;
        await mapLimit([...receiptManifests, ...parts], concurrency, async (m) => {
          if (known.manifests.has(m.descriptor.digest)) {
            manifestsSkipped++;
            return;
          }
          await client.putManifest(m.descriptor.digest, m.descriptor.mediaType, m.bytes);
          manifestsUploaded++;
        });
        const reported = await client.putManifest(tag, MEDIA_INDEX, index.bytes);
        if (reported && reported !== index.descriptor.digest) {
          throw new AslError(
            'IO',
            `${client.label}: the registry stored the index as ${reported}, not ${index.descriptor.digest} (it rewrote the manifest?)`,
          );
        }
        const total = ownBlobs.length + 2 * packs.length;
        return {
          reference: formatOciReference(target),
          digest: index.descriptor.digest,
          receipts: closure.receipts.length,
          objects: objects.length,
          blobs: {
            total,
            uploaded: counts.uploaded,
            skipped: Math.max(0, total - counts.uploaded),
            checked: counts.checked,
          },
          bytes: { total: totalBytes, uploaded: counts.uploadedBytes },
          packs: {
            total: packs.length,
            uploaded: counts.packsUploaded,
            reused: plan.reused.length,
            objects: packable.length,
          },
          manifests: {
            total: receiptManifests.length + parts.length + 1,
            uploaded: manifestsUploaded + 1,
            skipped: manifestsSkipped,
          },
          notes: closure.notes,
        } satisfies PushResult;
      };
      const known = await learnRepository(client, tag, receiptManifests, concurrency);
      try {
        return await attempt(known);
      } catch (err) {
        // What the manifests said was wrong (a blob deleted behind them): plan again from nothing learned.
        const learned = known.blobs.size > 0 || known.packs.length > 0;
        if (!(err instanceof AslError && err.data?.registryCode === 'MANIFEST_BLOB_UNKNOWN' && learned)) throw err;
        return await attempt(emptyInventory(true));
      }
    } finally {
      client.close();
    }
  } finally {
    reader.close();
  }
}
