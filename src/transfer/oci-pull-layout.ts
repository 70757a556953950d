/**
 * What a pull reads first: the index a tag (or digest) names, its part and
 * receipt manifests, and the closure manifest; each checked against the digest
 * that names it, and all of them required to agree: the same receipts in the
 * same order, one key layer per key, every pack paired with its index, and
 * every object that is a blob of its own listed by the closure manifest with
 * the same size. Both layouts are read: with packs (CLOSURE_ARTIFACT) and
 * without (CLOSURE_ARTIFACT_V1, every object a blob of its own).
 */
import type { Digest } from '../core/digest.js';
import { digestBytes } from '../core/digest.js';
import { AslError } from '../core/errors.js';
import { mapLimit } from '../core/map-limit.js';
import { MAX_MANIFEST_BYTES, decodeManifest, type BundleManifest } from './bundle-manifest.js';
import { readBody, type RegistryClient } from './oci-client.js';
import {
  ANNOTATION_PACK_INDEX,
  CLOSURE_ARTIFACT_V1,
  EMPTY_DESCRIPTOR,
  MAX_REGISTRY_MANIFEST_BYTES,
  MEDIA_INDEX,
  MEDIA_KEY,
  MEDIA_MANIFEST,
  MEDIA_OBJECT,
  MEDIA_PACK,
  MEDIA_PACK_INDEX,
  RECEIPT_ARTIFACT,
  parseClosureIndex,
  parseImageManifest,
  type Descriptor,
  type ImageManifest,
} from './oci-layout.js';
import { DEFAULT_TAG, type OciReference } from './oci-reference.js';

export interface ClosureLayout {
  /** Digest of the index. */
  digest: Digest;
  manifest: BundleManifest;
  keyLayers: Descriptor[];
  /** Each pack with its index, in the parts' order. */
  packs: Array<{ pack: Descriptor; index: Descriptor }>;
  /** Objects that are blobs of their own: digest -> size. */
  own: Map<Digest, number>;
}

/** GET a blob the closure lists: one the registry lacks makes the closure incomplete (a failed check, not bad input). */
export async function fetchListedBlob(
  client: RegistryClient,
  digest: Digest,
  what: string,
): Promise<NonNullable<Awaited<ReturnType<RegistryClient['getBlob']>>>> {
  const res = await client.getBlob(digest);
  if (!res)
    throw new AslError(
      'CORRUPT',
      `${client.label}: the registry does not have ${what} ${digest}, which the closure lists; nothing pulled`,
    );
  return res;
}

/** A small blob whole, at most `size` bytes, checked against its digest. */
export async function fetchSmallBlob(
  client: RegistryClient,
  d: { digest: Digest; size: number },
  what: string,
): Promise<Buffer> {
  const res = await fetchListedBlob(client, d.digest, what);
  const bytes = await readBody(res.body, d.size, `${client.label}: ${what} ${d.digest}`).catch((err) => {
    throw new AslError(
      'CORRUPT',
      `${client.label}: the registry served ${what} ${d.digest} with more than ${d.size} bytes; nothing pulled`,
      { cause: err },
    );
  });
  const actual = digestBytes(bytes);
  if (actual !== d.digest)
    throw new AslError(
      'CORRUPT',
      `${client.label}: the registry served ${what} ${d.digest} with content hashing to ${actual} (${bytes.length} bytes); nothing pulled`,
    );
  return bytes;
}

export async function readClosureLayout(
  client: RegistryClient,
  ref: OciReference,
  concurrency: number,
): Promise<ClosureLayout> {
  const label = client.label;
  const reference = ref.digest ?? ref.tag ?? DEFAULT_TAG;
  const got = await client.getManifest(reference, [MEDIA_INDEX], MAX_REGISTRY_MANIFEST_BYTES);
  if (!got) throw new AslError('NOT_FOUND', `${label}: the registry has no manifest ${reference} in ${ref.repository}`);
  const digest = digestBytes(got.bytes);
  if (ref.digest && digest !== ref.digest)
    throw new AslError('CORRUPT', `${label}: the registry served an index hashing to ${digest}`);
  const index = parseClosureIndex(got.bytes, `${label}: index ${digest}`);
  const v1 = index.artifactType === CLOSURE_ARTIFACT_V1;

  const fetchManifest = async (d: Descriptor, artifactType: string): Promise<ImageManifest> => {
    const m = await client.getManifest(d.digest, [MEDIA_MANIFEST], MAX_REGISTRY_MANIFEST_BYTES);
    if (!m)
      throw new AslError('CORRUPT', `${label}: the index names manifest ${d.digest}, which the registry does not have`);
    const actual = digestBytes(m.bytes);
    if (actual !== d.digest || m.bytes.length !== d.size)
      throw new AslError(
        'CORRUPT',
        `${label}: the registry served manifest ${d.digest} with content hashing to ${actual} (${m.bytes.length} bytes); nothing pulled`,
      );
    return parseImageManifest(m.bytes, `${label}: manifest ${d.digest}`, artifactType);
  };
  const parts = await mapLimit(index.parts, concurrency, (d) => fetchManifest(d, index.artifactType));
  const receipts = await mapLimit(index.receipts, concurrency, (d) => fetchManifest(d, RECEIPT_ARTIFACT));

  const config = parts[0]!.config;
  if (parts.some((p) => p.config.digest !== config.digest))
    throw new AslError('CORRUPT', `${label}: the closure's parts name different closure manifests`);
  if (config.size > MAX_MANIFEST_BYTES)
    throw new AslError(
      'BAD_INPUT',
      `${label}: the closure manifest is ${config.size} bytes, more than a manifest may be`,
    );
  const manifest = decodeManifest(
    await fetchSmallBlob(client, config, 'closure manifest'),
    `${label}: closure manifest`,
  );

  // The manifests must say what the closure manifest says.
  const inconsistent = (why: string) =>
    new AslError('CORRUPT', `${label}: the registry's manifests disagree with the closure manifest: ${why}`);
  const layers = parts
    .flatMap((p) => p.layers)
    .filter((l) => l.digest !== EMPTY_DESCRIPTOR.digest || l.mediaType !== EMPTY_DESCRIPTOR.mediaType);
  const keyLayers = layers.filter((l) => l.mediaType === MEDIA_KEY);
  if (keyLayers.length !== manifest.keys.length)
    throw inconsistent(`${keyLayers.length} key layers for ${manifest.keys.length} keys`);
  const sizes = new Map(manifest.objects.map((o) => [o.digest, o.size]));
  const indexes = new Map<Digest, Descriptor>();
  const packs: ClosureLayout['packs'] = [];
  const own = new Map<Digest, number>();
  for (const l of layers) {
    if (l.mediaType === MEDIA_KEY) continue;
    if (!v1 && l.mediaType === MEDIA_PACK_INDEX) {
      indexes.set(l.digest, l);
      continue;
    }
    if (!v1 && l.mediaType === MEDIA_PACK) continue;
    if (!v1 && l.mediaType !== MEDIA_OBJECT)
      throw inconsistent(`layer ${l.digest} has media type ${JSON.stringify(l.mediaType)}`);
    if (sizes.get(l.digest) !== l.size)
      throw inconsistent(`object ${l.digest} (${l.size} bytes) is not listed as such`);
    own.set(l.digest, l.size);
  }
  if (v1 && own.size !== manifest.objects.length)
    throw inconsistent(`${own.size} object layers for ${manifest.objects.length} objects`);
  const paired = new Set<Digest>();
  for (const l of layers) {
    if (v1 || l.mediaType !== MEDIA_PACK) continue;
    const named = l.annotations?.[ANNOTATION_PACK_INDEX];
    const idx = typeof named === 'string' ? indexes.get(named as Digest) : undefined;
    if (!idx)
      throw inconsistent(`pack ${l.digest} names no index layer of the closure (annotation ${ANNOTATION_PACK_INDEX})`);
    if (paired.has(idx.digest)) continue; // the same pack listed twice: read once
    paired.add(idx.digest);
    packs.push({ pack: l, index: idx });
  }

  if (receipts.length !== manifest.receipts.length)
    throw inconsistent(`${receipts.length} receipt manifests for ${manifest.receipts.length} receipts`);
  receipts.forEach((m, i) => {
    const want = manifest.receipts[i]!.id;
    if (m.layers[0]?.digest !== want) throw inconsistent(`receipt manifest ${i + 1} is not receipt ${want}`);
    for (const l of m.layers)
      if (sizes.get(l.digest) !== l.size)
        throw inconsistent(`receipt ${want} lists ${l.digest} (${l.size} bytes), which the closure does not carry`);
    // Receipts come first, before the bulk: they must be blobs of their own.
    if (!own.has(want)) throw inconsistent(`receipt ${want} is not a blob of its own`);
  });
  return { digest, manifest, keyLayers, packs, own };
}
