/**
 * How a closure is laid out in an OCI registry (docs/registry.md). Pure: builds
 * and parses the manifests, no I/O.
 *
 * - each logged receipt is an image manifest (v1.1 artifact) of artifactType
 *   RECEIPT_ARTIFACT: config is the empty descriptor, the first layer is the
 *   DSSE envelope (the receipt object), the other layers are the artifacts the
 *   receipt names directly (inputs, outputs, programs, watched trees, change
 *   lists), each a blob under its own digest;
 * - the closure's other objects travel in packs (oci-pack.ts): a pack blob and
 *   its index blob, the index's digest naming the pack as in a store; objects
 *   too big to pack, and the ones receipt manifests name, are blobs of their own;
 * - "part" manifests of artifactType CLOSURE_ARTIFACT list it all: config is the
 *   closure manifest (the bundle's asl-bundle.json, byte for byte), layers are
 *   the signer keys, then each pack's index and pack, then the objects that are
 *   blobs of their own, sorted by digest, at most PART_LAYERS per part. They keep
 *   every blob referenced (a registry's garbage collector removes unreferenced
 *   blobs) and give pull the whole list in a few requests;
 * - the tag names an image index of artifactType CLOSURE_ARTIFACT listing the
 *   receipt manifests in log order, then the parts.
 *
 * Closures pushed before packs (CLOSURE_ARTIFACT_V1: every object a blob of its
 * own, listed by the parts) are read the same way: a closure without packs.
 *
 * Nothing here is a source of trust: pull checks every blob by digest and every
 * receipt by signature, as bundle import does.
 */
import { canonicalBytes } from '../core/canonical-json.js';
import { digestBytes, isDigest, type Digest } from '../core/digest.js';
import { AslError } from '../core/errors.js';
import type { ArtifactKind, PerCore } from '../receipt/types.js';

export const MEDIA_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const MEDIA_INDEX = 'application/vnd.oci.image.index.v1+json';
const MEDIA_EMPTY = 'application/vnd.oci.empty.v1+json';
export const RECEIPT_ARTIFACT = 'application/vnd.asl.receipt.v1+json';
/** Closures with packs. */
export const CLOSURE_ARTIFACT = 'application/vnd.asl.closure.v2+json';
/** Closures of every object a blob of its own (pushed before packs); still pulled. */
export const CLOSURE_ARTIFACT_V1 = 'application/vnd.asl.closure.v1+json';
/** The config of a part: the closure manifest (bundle-manifest.ts). */
export const MEDIA_CLOSURE_MANIFEST = 'application/vnd.asl.bundle.manifest.v1+json';
const MEDIA_ENVELOPE = 'application/vnd.dsse.envelope.v1+json';
const MEDIA_TREE = 'application/vnd.asl.tree.v1+json';
export const MEDIA_OBJECT = 'application/vnd.asl.object.v1';
export const MEDIA_KEY = 'application/vnd.asl.public-key.v1+pem';
/** A pack of objects and its index (oci-pack.ts; the store's pack format). */
export const MEDIA_PACK = 'application/vnd.asl.pack.v1';
export const MEDIA_PACK_INDEX = 'application/vnd.asl.pack.index.v1';

export const ANNOTATION_TITLE = 'org.opencontainers.image.title';
export const ANNOTATION_STEP = 'dev.asl.receipt.step';
export const ANNOTATION_RECEIPT = 'dev.asl.receipt';
export const ANNOTATION_PART = 'dev.asl.closure.part';
/** On a pack layer: the digest of its index layer. */
export const ANNOTATION_PACK_INDEX = 'dev.asl.pack.index';

/** Layers per part manifest: about 150 bytes each, so a part stays well under the 4 MiB registries must accept. */
const PART_LAYERS = 2000;
/** Largest manifest or index pull reads. */
export const MAX_REGISTRY_MANIFEST_BYTES = 16 * 1024 * 1024;

export const EMPTY_CONFIG_BYTES = Buffer.from('{}');
export const EMPTY_DESCRIPTOR: Descriptor = {
  mediaType: MEDIA_EMPTY,
  digest: digestBytes(EMPTY_CONFIG_BYTES),
  size: 2,
  data: EMPTY_CONFIG_BYTES.toString('base64'),
};

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  artifactType?: string;
  data?: string;
  annotations?: Record<string, string>;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType: typeof MEDIA_MANIFEST;
  artifactType: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType: typeof MEDIA_INDEX;
  artifactType: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

/** Serialized bytes and the descriptor that names them. */
export interface Encoded {
  bytes: Buffer;
  descriptor: Descriptor;
}

function encode(
  value: ImageManifest | ImageIndex,
  artifactType: string,
  annotations?: Record<string, string>,
): Encoded {
  const bytes = canonicalBytes(value);
  return {
    bytes,
    descriptor: {
      mediaType: value.mediaType,
      digest: digestBytes(bytes),
      size: bytes.length,
      artifactType,
      ...(annotations ? { annotations } : {}),
    },
  };
}

function mediaTypeOf(kind: ArtifactKind | 'program'): string {
  switch (kind) {
    case 'tree':
      return MEDIA_TREE;
    case 'receipt':
      return MEDIA_ENVELOPE;
    case 'blob':
    case 'package':
    case 'log':
    case 'paths':
    case 'program':
      return MEDIA_OBJECT;
  }
}

/** The artifacts a receipt names directly, with the media type their kind gives, each digest once. */
function receiptLayers(core: PerCore, sizes: ReadonlyMap<Digest, number>): Descriptor[] {
  const out: Descriptor[] = [];
  const seen = new Set<Digest>();
  const add = (digest: Digest, kind: ArtifactKind | 'program', title: string) => {
    if (!isDigest(digest) || seen.has(digest)) return;
    const size = sizes.get(digest);
    if (size === undefined) return; // a foreign receipt's artifact the store never held
    seen.add(digest);
    out.push({ mediaType: mediaTypeOf(kind), digest, size, annotations: { [ANNOTATION_TITLE]: title } });
  };
  for (const a of core.inputs) add(a.digest, a.kind, a.name);
  for (const a of core.outputs) add(a.digest, a.kind, a.name);
  if (core.kind === 'command') {
    for (const p of core.program) add(p.digest, 'program', p.path);
    for (const w of core.watched) {
      if (w.before) add(w.before, 'tree', `${w.path} (before)`);
      if (w.after) add(w.after, 'tree', `${w.path} (after)`);
      if (w.paths) add(w.paths, 'paths', `${w.path} (changes)`);
    }
  }
  return out;
}

/** A receipt's manifest, with its layers: the blobs it names, which travel as blobs of their own. */
export function receiptManifest(
  id: Digest,
  size: number,
  step: string,
  core: PerCore,
  sizes: ReadonlyMap<Digest, number>,
): Encoded & { layers: Descriptor[] } {
  const layers = [
    { mediaType: MEDIA_ENVELOPE, digest: id, size, annotations: { [ANNOTATION_TITLE]: 'per.dsse.json' } },
    ...receiptLayers(core, sizes).filter((l) => l.digest !== id),
  ];
  const annotations = { [ANNOTATION_STEP]: step };
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MEDIA_MANIFEST,
    artifactType: RECEIPT_ARTIFACT,
    config: EMPTY_DESCRIPTOR,
    layers,
    annotations,
  };
  return { ...encode(manifest, RECEIPT_ARTIFACT, { [ANNOTATION_RECEIPT]: id, [ANNOTATION_STEP]: step }), layers };
}

export interface KeyBlob {
  keyId: string;
  digest: Digest;
  size: number;
}

/** A pack as the parts list it: the pack blob and its index blob. */
export interface PackBlobs {
  pack: { digest: Digest; size: number };
  index: { digest: Digest; size: number };
}

/** The layers of a pack: its index, then the pack naming the index (titles as in a store's packs folder). */
export function packLayers(p: PackBlobs): Descriptor[] {
  const name = p.index.digest.slice('sha256:'.length);
  return [
    {
      mediaType: MEDIA_PACK_INDEX,
      digest: p.index.digest,
      size: p.index.size,
      annotations: { [ANNOTATION_TITLE]: `packs/${name}.idx` },
    },
    {
      mediaType: MEDIA_PACK,
      digest: p.pack.digest,
      size: p.pack.size,
      annotations: { [ANNOTATION_PACK_INDEX]: p.index.digest, [ANNOTATION_TITLE]: `packs/${name}.pack` },
    },
  ];
}

/**
 * The part manifests: keys first, then the packs (in the order given), then the
 * objects that are blobs of their own (sorted by digest), PART_LAYERS at a time.
 */
export function closureParts(
  config: Descriptor,
  keys: readonly KeyBlob[],
  packs: readonly PackBlobs[],
  objects: ReadonlyArray<{ digest: Digest; size: number }>,
  partLayers = PART_LAYERS,
): Encoded[] {
  const layers: Descriptor[] = [
    ...keys.map((k) => ({
      mediaType: MEDIA_KEY,
      digest: k.digest,
      size: k.size,
      annotations: { [ANNOTATION_TITLE]: `keys/${k.keyId}.pub` },
    })),
    ...packs.flatMap(packLayers),
    ...objects.map((o) => ({ mediaType: MEDIA_OBJECT, digest: o.digest, size: o.size })),
  ];
  const count = Math.max(1, Math.ceil(layers.length / partLayers));
  const parts: Encoded[] = [];
  for (let i = 0; i < count; i++) {
    const slice = layers.slice(i * partLayers, (i + 1) * partLayers);
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: MEDIA_MANIFEST,
      artifactType: CLOSURE_ARTIFACT,
      config,
      layers: slice.length > 0 ? slice : [EMPTY_DESCRIPTOR],
      annotations: { [ANNOTATION_PART]: `${i + 1}/${count}` },
    };
    parts.push(encode(manifest, CLOSURE_ARTIFACT, { [ANNOTATION_PART]: `${i + 1}/${count}` }));
  }
  return parts;
}

export function closureIndex(receipts: readonly Descriptor[], parts: readonly Descriptor[]): Encoded {
  const index: ImageIndex = {
    schemaVersion: 2,
    mediaType: MEDIA_INDEX,
    artifactType: CLOSURE_ARTIFACT,
    manifests: [...receipts, ...parts],
  };
  return encode(index, CLOSURE_ARTIFACT);
}

// ---------------------------------------------------------------------------
// Parsing what a registry serves (untrusted).

function descriptorProblem(d: unknown): string | null {
  const x = d as Partial<Descriptor> | null;
  if (typeof x !== 'object' || x === null || Array.isArray(x)) return 'is not an object';
  if (typeof x.mediaType !== 'string') return 'has no mediaType';
  if (!isDigest(x.digest)) return 'has no sha256 digest';
  if (!Number.isSafeInteger(x.size) || x.size! < 0) return 'has no valid size';
  return null;
}

function parseJson(bytes: Buffer, label: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new AslError('BAD_INPUT', `${label} is not JSON`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new AslError('BAD_INPUT', `${label} is not a JSON object`);
  return v as Record<string, unknown>;
}

/** The index a tag names (either layout); refuses anything that is not an ASL closure. */
export function parseClosureIndex(
  bytes: Buffer,
  label: string,
): { artifactType: string; receipts: Descriptor[]; parts: Descriptor[] } {
  const v = parseJson(bytes, label);
  const artifactType = v.artifactType;
  if (v.mediaType !== MEDIA_INDEX || (artifactType !== CLOSURE_ARTIFACT && artifactType !== CLOSURE_ARTIFACT_V1)) {
    throw new AslError(
      'BAD_INPUT',
      `${label} is not an ASL closure (mediaType ${JSON.stringify(v.mediaType)}, artifactType ${JSON.stringify(v.artifactType)}; expected an ${MEDIA_INDEX} of artifactType ${CLOSURE_ARTIFACT})`,
    );
  }
  if (!Array.isArray(v.manifests)) throw new AslError('BAD_INPUT', `${label}: manifests is not a list`);
  const receipts: Descriptor[] = [];
  const parts: Descriptor[] = [];
  v.manifests.forEach((d: unknown, i: number) => {
    const bad = descriptorProblem(d);
    if (bad) throw new AslError('BAD_INPUT', `${label}: manifests[${i}] ${bad}`);
    const desc = d as Descriptor;
    if (desc.mediaType !== MEDIA_MANIFEST)
      throw new AslError(
        'BAD_INPUT',
        `${label}: manifests[${i}] has mediaType ${JSON.stringify(desc.mediaType)}, not ${MEDIA_MANIFEST}`,
      );
    if (desc.artifactType === RECEIPT_ARTIFACT) receipts.push(desc);
    else if (desc.artifactType === artifactType) parts.push(desc);
    else
      throw new AslError(
        'BAD_INPUT',
        `${label}: manifests[${i}] has artifactType ${JSON.stringify(desc.artifactType)}`,
      );
  });
  if (parts.length === 0) throw new AslError('BAD_INPUT', `${label}: lists no ${artifactType} part`);
  return { artifactType, receipts, parts };
}

/** An image manifest of the expected artifactType. */
export function parseImageManifest(bytes: Buffer, label: string, artifactType: string): ImageManifest {
  const v = parseJson(bytes, label);
  if (v.schemaVersion !== 2 || v.mediaType !== MEDIA_MANIFEST)
    throw new AslError('BAD_INPUT', `${label} is not an OCI image manifest`);
  if (v.artifactType !== artifactType)
    throw new AslError('BAD_INPUT', `${label} has artifactType ${JSON.stringify(v.artifactType)}, not ${artifactType}`);
  const badConfig = descriptorProblem(v.config);
  if (badConfig) throw new AslError('BAD_INPUT', `${label}: config ${badConfig}`);
  if (!Array.isArray(v.layers)) throw new AslError('BAD_INPUT', `${label}: layers is not a list`);
  v.layers.forEach((d: unknown, i: number) => {
    const bad = descriptorProblem(d);
    if (bad) throw new AslError('BAD_INPUT', `${label}: layers[${i}] ${bad}`);
  });
  return v as unknown as ImageManifest;
}
