/**
 * What a repository already holds, learned from manifests rather than asked blob
 * by blob: a registry accepts a manifest only when it holds every blob the
 * manifest names, and keeps them while the manifest is there. Push reads:
 *
 *   - this closure's receipt manifests (HEAD): a receipt pushed before;
 *   - the closure the tag names now (the previous build, for a moving tag), and
 *     the closures of up to MAX_BASE_TAGS other tags of the repository (the last
 *     ones the registry lists): the builds a new tag most likely shares objects
 *     with;
 *   - the index of every pack those closures list (fetched, digest-checked,
 *     checked like a pull checks it), so objects inside packs are known too.
 *
 * A repository that does not exist yet holds nothing: nothing is asked there.
 * What is learned only saves uploads; pull checks everything it receives.
 */
import type { Digest } from '../core/digest.js';
import { digestBytes } from '../core/digest.js';
import { mapLimit } from '../core/map-limit.js';
import { readBody, type RegistryClient } from './oci-client.js';
import {
  ANNOTATION_PACK_INDEX,
  MAX_REGISTRY_MANIFEST_BYTES,
  MEDIA_INDEX,
  MEDIA_MANIFEST,
  MEDIA_PACK,
  MEDIA_PACK_INDEX,
  parseClosureIndex,
  parseImageManifest,
  type Descriptor,
  type Encoded,
} from './oci-layout.js';
import { MAX_PACK_INDEX_BYTES, checkReceivedIndex, type PackSlot } from './oci-pack.js';

/** Other tags whose closures push reads to learn what the repository holds. */
export const MAX_BASE_TAGS = 8;
/** Pack indexes read at most (beyond that, packs are made anew). */
const MAX_KNOWN_PACKS = 4096;

export interface KnownPack {
  pack: Descriptor;
  index: Descriptor;
  /** The pack's objects, in index order. */
  slots: PackSlot[];
}

export interface Inventory {
  /** False when the repository does not exist yet: nothing need be asked. */
  repoExists: boolean;
  /** Blobs the repository is known to hold: configs and layers of manifests it has. */
  blobs: Set<Digest>;
  /** Manifests it is known to have (receipt manifests of this closure; parts of the closures read). */
  manifests: Set<Digest>;
  /** Packs it holds, with their objects. */
  packs: KnownPack[];
}

export function emptyInventory(repoExists: boolean): Inventory {
  return { repoExists, blobs: new Set(), manifests: new Set(), packs: [] };
}

export async function learnRepository(
  client: RegistryClient,
  tag: string,
  receiptManifests: readonly Encoded[],
  concurrency: number,
): Promise<Inventory> {
  const tags = await client.listTags();
  const out = emptyInventory(tags !== null);
  if (tags === null) return out;
  const candidates = new Map<Digest, { pack: Descriptor; index: Descriptor }>();
  const learn = (m: { config: Descriptor; layers: Descriptor[] }) => {
    out.blobs.add(m.config.digest);
    const indexes = new Map(m.layers.filter((l) => l.mediaType === MEDIA_PACK_INDEX).map((l) => [l.digest, l]));
    for (const l of m.layers) {
      out.blobs.add(l.digest);
      const named = l.annotations?.[ANNOTATION_PACK_INDEX] as Digest | undefined;
      const index = named ? indexes.get(named) : undefined;
      if (l.mediaType === MEDIA_PACK && index && !candidates.has(l.digest))
        candidates.set(l.digest, { pack: l, index });
    }
  };

  await mapLimit(receiptManifests, concurrency, async (m) => {
    if (!(await client.hasManifest(m.descriptor.digest, MEDIA_MANIFEST))) return;
    out.manifests.add(m.descriptor.digest);
    learn(parseImageManifest(m.bytes, 'receipt manifest', m.descriptor.artifactType!));
  });

  const bases = [
    ...new Set([...(tags.includes(tag) ? [tag] : []), ...tags.filter((t) => t !== tag).slice(-MAX_BASE_TAGS)]),
  ];
  const partsSeen = new Set<Digest>();
  await mapLimit(bases, concurrency, async (t) => {
    const index = await client.getManifest(t, [MEDIA_INDEX], MAX_REGISTRY_MANIFEST_BYTES);
    if (!index) return;
    let parts: Descriptor[];
    let artifactType: string;
    try {
      ({ parts, artifactType } = parseClosureIndex(index.bytes, 'index'));
    } catch {
      return; /* not an ASL closure */
    }
    const fresh = parts.filter((d) => !partsSeen.has(d.digest));
    for (const d of fresh) partsSeen.add(d.digest);
    await mapLimit(fresh, concurrency, async (d) => {
      const m = await client.getManifest(d.digest, [MEDIA_MANIFEST], MAX_REGISTRY_MANIFEST_BYTES);
      if (!m || digestBytes(m.bytes) !== d.digest) return;
      try {
        learn(parseImageManifest(m.bytes, 'part', artifactType));
        out.manifests.add(d.digest);
      } catch {
        /* not one of ours: learn nothing */
      }
    });
  });

  const packs = [...candidates.values()].slice(0, MAX_KNOWN_PACKS);
  const known = await mapLimit(packs, concurrency, async ({ pack, index }): Promise<KnownPack | null> => {
    if (index.size > MAX_PACK_INDEX_BYTES) return null;
    const res = await client.getBlob(index.digest);
    if (!res) return null;
    try {
      const bytes = await readBody(res.body, index.size, `pack index ${index.digest}`);
      if (digestBytes(bytes) !== index.digest) return null;
      return {
        pack,
        index,
        slots: checkReceivedIndex(index.digest.slice('sha256:'.length), bytes, pack.size, 'pack index').slots,
      };
    } catch {
      return null; // unreadable or not as a pull would accept it: not reused
    }
  });
  out.packs = known
    .filter((k): k is KnownPack => k !== null)
    .sort((a, b) => (a.index.digest < b.index.digest ? -1 : a.index.digest > b.index.digest ? 1 : 0));
  return out;
}
