/**
 * `asl pull`: a closure from an OCI registry into a store, verified before
 * anything is visible, exactly as bundle import does (closure-import.ts):
 *
 *   1. the tag's index, the part and receipt manifests and the closure manifest
 *      are fetched, each checked against the digest that names it, and must
 *      agree with each other (same receipts, same objects and sizes);
 *   2. the signer keys and the receipts are fetched first and every receipt's
 *      signature checked against the target's trusted keys plus the ones the
 *      operator named, so an untrusted history stops before the bulk download;
 *   3. every other object the target lacks is fetched in parallel, hashed as it
 *      arrives and staged in the target's tmp/ (receive-object.ts: a blob whose
 *      bytes do not hash to its digest stops the pull, naming it); objects the
 *      target has are read from the target (re-hashed when their content is
 *      needed);
 *   4. the content checks and the commit of bundle import.
 *
 * A failure before 4 removes what was staged: the target is unchanged.
 */
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Digest } from '../core/digest.js';
import { digestBytes } from '../core/digest.js';
import { AslError } from '../core/errors.js';
import { TMP_DIR } from '../store/layout.js';
import { locateObject } from '../store/object-locate.js';
import { mapLimit } from '../core/map-limit.js';
import { ObjectBatch } from '../store/object-batch.js';
import { readObject, readObjectHead } from '../store/object-read.js';
import type { Store } from '../store/store.js';
import { TREE_MAGIC } from '../store/tree-model.js';
import { verifyEnvelope } from '../receipt/verify.js';
import { keptObjects } from './bundle-check.js';
import { MAX_KEY_BYTES, MAX_MANIFEST_BYTES, decodeManifest, type BundleManifest } from './bundle-manifest.js';
import { checkAndCommit, importKeySet, openImportTarget, withTrustHint, type TrustOptions } from './closure-import.js';
import { RegistryClient, readBody, type Response } from './oci-client.js';
import {
  CLOSURE_ARTIFACT, EMPTY_DESCRIPTOR, MAX_REGISTRY_MANIFEST_BYTES, MEDIA_INDEX, MEDIA_KEY, MEDIA_MANIFEST, RECEIPT_ARTIFACT,
  parseClosureIndex, parseImageManifest, type Descriptor, type ImageManifest,
} from './oci-layout.js';
import { DEFAULT_CONCURRENCY, type RegistryOptions } from './oci-push.js';
import { DEFAULT_TAG, formatOciReference, type OciReference } from './oci-reference.js';
import { parsePublicKey, type PublicKeyPem } from './public-key.js';
import { MAX_TREE_BYTES, receiveObject, type ReceiveInto } from './receive-object.js';

export interface PullOptions extends RegistryOptions, TrustOptions {}

export interface PullResult {
  reference: string;
  /** Digest of the index pulled. */
  digest: Digest;
  receipts: { added: number; present: number };
  objects: { total: number; downloaded: number; present: number };
  bytes: { total: number; downloaded: number };
  roots: { added: number };
  trusted: string[];
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The index, the manifests and the closure manifest, each checked by digest, and their agreement. */
async function readLayout(client: RegistryClient, ref: OciReference, concurrency: number): Promise<{ digest: Digest; manifest: BundleManifest; keyLayers: Descriptor[] }> {
  const label = client.label;
  const reference = ref.digest ?? ref.tag ?? DEFAULT_TAG;
  const got = await client.getManifest(reference, [MEDIA_INDEX], MAX_REGISTRY_MANIFEST_BYTES);
  if (!got) throw new AslError('NOT_FOUND', `${label}: the registry has no manifest ${reference} in ${ref.repository}`);
  const digest = digestBytes(got.bytes);
  if (ref.digest && digest !== ref.digest) throw new AslError('CORRUPT', `${label}: the registry served an index hashing to ${digest}`);
  const index = parseClosureIndex(got.bytes, `${label}: index ${digest}`);

  const fetchManifest = async (d: Descriptor, artifactType: string): Promise<ImageManifest> => {
    const m = await client.getManifest(d.digest, [MEDIA_MANIFEST], MAX_REGISTRY_MANIFEST_BYTES);
    if (!m) throw new AslError('CORRUPT', `${label}: the index names manifest ${d.digest}, which the registry does not have`);
    const actual = digestBytes(m.bytes);
    if (actual !== d.digest || m.bytes.length !== d.size) throw new AslError('CORRUPT', `${label}: the registry served manifest ${d.digest} with content hashing to ${actual} (${m.bytes.length} bytes); nothing pulled`);
    return parseImageManifest(m.bytes, `${label}: manifest ${d.digest}`, artifactType);
  };
  const parts = await mapLimit(index.parts, concurrency, (d) => fetchManifest(d, CLOSURE_ARTIFACT));
  const receipts = await mapLimit(index.receipts, concurrency, (d) => fetchManifest(d, RECEIPT_ARTIFACT));

  const config = parts[0]!.config;
  if (parts.some((p) => p.config.digest !== config.digest)) throw new AslError('CORRUPT', `${label}: the closure's parts name different closure manifests`);
  if (config.size > MAX_MANIFEST_BYTES) throw new AslError('BAD_INPUT', `${label}: the closure manifest is ${config.size} bytes, more than a manifest may be`);
  const res = await fetchBlob(client, config.digest, 'closure manifest');
  const bytes = await readBody(res.body, config.size, `${label}: closure manifest ${config.digest}`).catch((err) => {
    throw new AslError('CORRUPT', `${label}: the registry served closure manifest ${config.digest} with more than ${config.size} bytes`, { cause: err });
  });
  const actual = digestBytes(bytes);
  if (actual !== config.digest) throw new AslError('CORRUPT', `${label}: the registry served closure manifest ${config.digest} with content hashing to ${actual} (${bytes.length} bytes); nothing pulled`);
  const manifest = decodeManifest(bytes, `${label}: closure manifest`);

  // The manifests must say what the closure manifest says.
  const layers = parts.flatMap((p) => p.layers).filter((l) => l.digest !== EMPTY_DESCRIPTOR.digest || l.mediaType !== EMPTY_DESCRIPTOR.mediaType);
  const keyLayers = layers.filter((l) => l.mediaType === MEDIA_KEY);
  const objectLayers = layers.filter((l) => l.mediaType !== MEDIA_KEY).sort((a, b) => compare(a.digest, b.digest));
  const inconsistent = (why: string) => new AslError('CORRUPT', `${label}: the registry's manifests disagree with the closure manifest: ${why}`);
  if (keyLayers.length !== manifest.keys.length) throw inconsistent(`${keyLayers.length} key layers for ${manifest.keys.length} keys`);
  if (objectLayers.length !== manifest.objects.length) throw inconsistent(`${objectLayers.length} object layers for ${manifest.objects.length} objects`);
  manifest.objects.forEach((o, i) => {
    const l = objectLayers[i]!;
    if (l.digest !== o.digest || l.size !== o.size) throw inconsistent(`object ${o.digest} (${o.size} bytes) is not listed as such`);
  });
  if (receipts.length !== manifest.receipts.length) throw inconsistent(`${receipts.length} receipt manifests for ${manifest.receipts.length} receipts`);
  const sizes = new Map(manifest.objects.map((o) => [o.digest, o.size]));
  receipts.forEach((m, i) => {
    const want = manifest.receipts[i]!.id;
    if (m.layers[0]?.digest !== want) throw inconsistent(`receipt manifest ${i + 1} is not receipt ${want}`);
    for (const l of m.layers) if (sizes.get(l.digest) !== l.size) throw inconsistent(`receipt ${want} lists ${l.digest} (${l.size} bytes), which the closure does not carry`);
  });
  return { digest, manifest, keyLayers };
}

export async function pullClosure(store: Store, ref: OciReference, opts: PullOptions = {}): Promise<PullResult> {
  const concurrency = opts.concurrency ?? DEFAULT_CONCURRENCY;
  const target = await openImportTarget(store, opts);
  const client = new RegistryClient(ref, { ...opts, maxSockets: concurrency, actions: 'pull' });
  const label = client.label;
  const batch = new ObjectBatch(store);
  const workDir = join(store.root, TMP_DIR, `pull-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    await client.connect();
    const { digest, manifest, keyLayers } = await readLayout(client, ref, concurrency);
    const keep = keptObjects(manifest);
    const sizes = new Map<Digest, number>();
    const trees = new Map<Digest, Buffer>();
    const kept = new Map<Digest, Buffer>();
    const into: ReceiveInto = { batch, workDir, keep, trees, kept };
    const total = manifest.objects.length;
    let downloaded = 0;
    let downloadedBytes = 0;
    let doneBytes = 0;

    /** Takes one blob: from the target when it has it, else from the registry, digest-checked. */
    const take = async (d: Digest, size: number): Promise<void> => {
      const local = await locateObject(store, d);
      if (local) {
        if (local.size !== size) throw new AslError('CORRUPT', `${store.root}: the target's object ${d} is ${local.size} bytes, the closure says ${size} (run \`asl verify\` on the target)`);
        // The checks need receipts, timestamps and trees: read (and re-hash) the target's copy.
        const tree = !keep.has(d) && size <= MAX_TREE_BYTES && (await readObjectHead(store, d, TREE_MAGIC.length)).equals(TREE_MAGIC);
        if (keep.has(d) || tree) {
          const data = await readObject(store, d);
          if (data.subarray(0, TREE_MAGIC.length).equals(TREE_MAGIC)) trees.set(d, data);
          if (keep.has(d)) kept.set(d, data);
        }
      } else {
        await download(d, size);
        downloaded++;
        downloadedBytes += size;
      }
      sizes.set(d, size);
      doneBytes += size;
      opts.onProgress?.({ objects: sizes.size, totalObjects: total, bytes: doneBytes });
    };

    const mismatch = (d: Digest, actual: string, n: number) => new AslError('CORRUPT',
      `${label}: the registry served blob ${d} with content hashing to ${actual} (${n} bytes); nothing pulled`, { data: { expected: d, actual } });

    const download = async (d: Digest, size: number): Promise<void> => {
      const res = await fetchBlob(client, d, 'blob');
      const announced = res.headers['content-length'];
      if (announced !== undefined && Number(announced) !== size) {
        res.body.destroy();
        throw new AslError('CORRUPT', `${label}: the registry serves blob ${d} as ${announced} bytes, the closure says ${size}; nothing pulled`);
      }
      await receiveObject(into, d, size, res.body as AsyncIterable<Buffer>, {
        where: label,
        mismatch: (actual, n) => mismatch(d, actual, n),
        overrun: () => new AslError('CORRUPT', `${label}: the registry served blob ${d} with more than ${size} bytes; nothing pulled`),
      });
    };

    // Keys and receipts first: who signed the history is checked before the bulk download.
    const carried = new Map<string, PublicKeyPem>();
    await mapLimit(keyLayers, concurrency, async (l) => {
      if (l.size > MAX_KEY_BYTES) throw new AslError('CORRUPT', `${label}: key blob ${l.digest} is ${l.size} bytes; refused`);
      const res = await fetchBlob(client, l.digest, 'key blob');
      const data = await readBody(res.body, MAX_KEY_BYTES, `key blob ${l.digest}`);
      const actual = digestBytes(data);
      if (actual !== l.digest) throw mismatch(l.digest, actual, data.length);
      const key = parsePublicKey(data.toString('utf8'), `${label}: key blob ${l.digest}`, 'CORRUPT');
      if (!manifest.keys.includes(key.keyId)) throw new AslError('CORRUPT', `${label}: key blob ${l.digest} holds key ${key.keyId}, which the closure manifest does not list`);
      carried.set(key.keyId, key);
    });
    const absentKeys = manifest.keys.filter((k) => !carried.has(k));
    if (absentKeys.length > 0) throw new AslError('CORRUPT', `${label}: the closure lacks key ${absentKeys[0]} its manifest lists`);
    const sizeOf = new Map(manifest.objects.map((o) => [o.digest, o.size]));
    await mapLimit(manifest.receipts, concurrency, (r) => take(r.id, sizeOf.get(r.id)!));
    const { keys } = importKeySet(target, carried, manifest.keys, 'registry closure');
    for (const r of manifest.receipts) {
      try { verifyEnvelope(kept.get(r.id)!, keys, { receiptId: r.id }); } catch (err) { throw withTrustHint(err, label, manifest, keys); }
    }

    const rest = manifest.objects.filter((o) => !sizes.has(o.digest));
    await mapLimit(rest, concurrency, (o) => take(o.digest, o.size));

    const committed = await checkAndCommit(target, batch, { manifest, sizes, trees, kept, keys: carried }, label, 'registry closure');
    return {
      reference: formatOciReference(ref),
      digest,
      receipts: committed.receipts,
      objects: { total, downloaded, present: total - downloaded },
      bytes: { total: manifest.totals.bytes, downloaded: downloadedBytes },
      roots: committed.roots,
      trusted: committed.trusted,
    };
  } catch (err) {
    await batch.abort();
    throw err;
  } finally {
    client.close();
    await rm(workDir, { recursive: true, force: true });
  }
}

/** A blob the closure lists: one the registry lacks makes the closure incomplete (a failed check, not bad input). */
async function fetchBlob(client: RegistryClient, digest: Digest, what: string): Promise<Response> {
  const res = await client.getBlob(digest);
  if (!res) throw new AslError('CORRUPT', `${client.label}: the registry does not have ${what} ${digest}, which the closure lists; nothing pulled`);
  return res;
}

/** Whether a stored object starts like a tree (its first bytes only). */
