/**
 * What a push left in a real registry, read with plain GETs (as any OCI tool
 * would): the tag's index, its receipt and part manifests, every pack with its
 * index, and the objects that are blobs of their own. And a pusher of the
 * layout before packs (every object a blob of its own), to check pull still
 * reads what earlier versions pushed.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { Digest } from '../../src/core/digest.js';
import { readObject } from '../../src/store/object-read.js';
import type { Store } from '../../src/store/store.js';
import { listTrustedKeys, loadTrustedKeys } from '../../src/receipt/trusted-keys.js';
import { verifyEnvelope } from '../../src/receipt/verify.js';
import { buildManifest } from '../../src/transfer/bundle-export.js';
import { encodeManifest } from '../../src/transfer/bundle-manifest.js';
import { computeClosure, sortedObjects } from '../../src/transfer/closure.js';
import { RegistryClient, type Credentials } from '../../src/transfer/oci-client.js';
import {
  CLOSURE_ARTIFACT_V1,
  EMPTY_CONFIG_BYTES,
  EMPTY_DESCRIPTOR,
  MEDIA_CLOSURE_MANIFEST,
  MEDIA_INDEX,
  MEDIA_KEY,
  MEDIA_MANIFEST,
  MEDIA_OBJECT,
  receiptManifest,
  type Descriptor,
} from '../../src/transfer/oci-layout.js';
import { checkReceivedIndex, type PackSlot } from '../../src/transfer/oci-pack.js';
import type { Registry } from './registry.js';
import { canonicalBytes } from '../../src/core/canonical-json.js';

const sha256 = (b: Buffer | string): Digest => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export interface PushedPack {
  pack: Descriptor;
  index: Descriptor;
  packBytes: Buffer;
  indexBytes: Buffer;
  slots: PackSlot[];
}

export interface Pushed {
  index: { bytes: Buffer; artifactType: string; manifests: Descriptor[] };
  receipts: Array<{ descriptor: Descriptor; layers: Descriptor[] }>;
  parts: Array<{ config: Descriptor; layers: Descriptor[] }>;
  packs: PushedPack[];
  /** Objects that are blobs of their own: digest -> bytes. */
  own: Map<string, Buffer>;
}

async function getJson(
  reg: Registry,
  path: string,
  accept: string,
): Promise<{ bytes: Buffer; value: Record<string, unknown> }> {
  const r = await reg.get(path, { accept });
  assert.equal(r.status, 200, `GET ${path}: ${r.status} ${r.body.toString()}`);
  return { bytes: r.body, value: JSON.parse(r.body.toString()) as Record<string, unknown> };
}

export async function blob(reg: Registry, repo: string, digest: string): Promise<Buffer> {
  const r = await reg.get(`/v2/${repo}/blobs/${digest}`);
  assert.equal(r.status, 200, `GET blob ${digest}: ${r.status}`);
  assert.equal(sha256(r.body), digest, `blob ${digest} hashes to its digest`);
  return r.body;
}

/** Everything the tag reaches, each manifest and blob checked against its digest. */
export async function readPushed(reg: Registry, repo: string, tag: string): Promise<Pushed> {
  const index = await getJson(reg, `/v2/${repo}/manifests/${tag}`, MEDIA_INDEX);
  const manifests = index.value.manifests as Descriptor[];
  const receipts: Pushed['receipts'] = [];
  const parts: Pushed['parts'] = [];
  for (const d of manifests) {
    const m = await getJson(reg, `/v2/${repo}/manifests/${d.digest}`, MEDIA_MANIFEST);
    assert.equal(sha256(m.bytes), d.digest);
    if (d.artifactType === 'application/vnd.asl.receipt.v1+json')
      receipts.push({ descriptor: d, layers: m.value.layers as Descriptor[] });
    else parts.push({ config: m.value.config as Descriptor, layers: m.value.layers as Descriptor[] });
  }
  const layers = parts.flatMap((p) => p.layers);
  const packs: PushedPack[] = [];
  for (const l of layers.filter((x) => x.mediaType === 'application/vnd.asl.pack.v1')) {
    const idx = layers.find((x) => x.digest === l.annotations?.['dev.asl.pack.index'])!;
    assert.ok(idx, `pack ${l.digest} names its index`);
    const indexBytes = await blob(reg, repo, idx.digest);
    const packBytes = await blob(reg, repo, l.digest);
    packs.push({
      pack: l,
      index: idx,
      indexBytes,
      packBytes,
      slots: checkReceivedIndex(idx.digest.slice(7), indexBytes, l.size, 'test').slots,
    });
  }
  const own = new Map<string, Buffer>();
  for (const l of layers.filter((x) => x.mediaType === MEDIA_OBJECT))
    own.set(l.digest, await blob(reg, repo, l.digest));
  return {
    index: { bytes: index.bytes, artifactType: index.value.artifactType as string, manifests },
    receipts,
    parts,
    packs,
    own,
  };
}

/**
 * Pushes a store's whole closure in the layout of the versions before packs:
 * every object a blob of its own, listed by parts of artifactType
 * application/vnd.asl.closure.v1+json, the receipt manifests as today.
 */
export async function pushWithoutPacks(
  store: Store,
  reg: Registry,
  repo: string,
  tag: string,
  credentials?: Credentials,
  ca?: string,
): Promise<Digest> {
  const closure = await computeClosure(store);
  const trusted = await listTrustedKeys(store);
  const pems = new Map(trusted.map((k) => [k.keyId, Buffer.from(k.pem)]));
  const manifest = buildManifest(
    closure,
    [...closure.signers].filter((k) => pems.has(k)),
  );
  const configBytes = encodeManifest(manifest);
  const keys = await loadTrustedKeys(store);
  const client = new RegistryClient(
    { host: reg.host, repository: repo, tag },
    { ...(credentials ? { credentials } : {}), ...(ca ? { ca } : { plainHttp: !reg.tls }), actions: 'pull,push' },
  );
  try {
    await client.connect();
    const up = (bytes: Buffer) => uploadWhole(client, bytes);
    const config = { mediaType: MEDIA_CLOSURE_MANIFEST, ...(await up(configBytes)) };
    await up(EMPTY_CONFIG_BYTES);
    const keyLayers: Descriptor[] = [];
    for (const keyId of manifest.keys)
      keyLayers.push({
        mediaType: MEDIA_KEY,
        ...(await up(pems.get(keyId)!)),
        annotations: { 'org.opencontainers.image.title': `keys/${keyId}.pub` },
      });
    const objectLayers: Descriptor[] = [];
    for (const o of sortedObjects(closure))
      objectLayers.push({ mediaType: MEDIA_OBJECT, ...(await up(await readObject(store, o.digest))) });
    const receiptDescs: Descriptor[] = [];
    for (const r of closure.receipts) {
      const core = verifyEnvelope(await readObject(store, r.id), keys, { receiptId: r.id }).statement.predicate.core;
      const m = receiptManifest(r.id, closure.objects.get(r.id)!, r.step, core, closure.objects);
      await client.putManifest(m.descriptor.digest, MEDIA_MANIFEST, m.bytes);
      receiptDescs.push(m.descriptor);
    }
    const partBytes = canonicalBytes({
      schemaVersion: 2,
      mediaType: MEDIA_MANIFEST,
      artifactType: CLOSURE_ARTIFACT_V1,
      config,
      layers: [...keyLayers, ...objectLayers].length > 0 ? [...keyLayers, ...objectLayers] : [EMPTY_DESCRIPTOR],
      annotations: { 'dev.asl.closure.part': '1/1' },
    });
    await client.putManifest(sha256(partBytes), MEDIA_MANIFEST, partBytes);
    const indexBytes = canonicalBytes({
      schemaVersion: 2,
      mediaType: MEDIA_INDEX,
      artifactType: CLOSURE_ARTIFACT_V1,
      manifests: [
        ...receiptDescs,
        {
          mediaType: MEDIA_MANIFEST,
          digest: sha256(partBytes),
          size: partBytes.length,
          artifactType: CLOSURE_ARTIFACT_V1,
          annotations: { 'dev.asl.closure.part': '1/1' },
        },
      ],
    });
    await client.putManifest(tag, MEDIA_INDEX, indexBytes);
    return sha256(indexBytes);
  } finally {
    client.close();
  }
}

/**
 * Publishes the closure `from` again under `to`, each pack's bytes and index as
 * `edit` returns them (undefined: unchanged), and each layer's annotations as
 * `annotate` leaves them: how a hostile or broken registry would serve it. The
 * blobs are uploaded under their real digests, so only ASL's own checks can
 * catch what is wrong.
 */
export async function republish(
  reg: Registry,
  repo: string,
  from: string,
  to: string,
  credentials: Credentials | undefined,
  ca: string | undefined,
  edit: (p: PushedPack) => { pack?: Buffer; index?: Buffer } | undefined,
  annotate: (l: Descriptor) => void = () => {},
): Promise<void> {
  const held = await readPushed(reg, repo, from);
  const client = new RegistryClient(
    { host: reg.host, repository: repo, tag: to },
    { ...(credentials ? { credentials } : {}), ...(ca ? { ca } : { plainHttp: !reg.tls }), actions: 'pull,push' },
  );
  try {
    await client.connect();
    const up = (bytes: Buffer) => uploadWhole(client, bytes);
    const replaced = new Map<string, { digest: Digest; size: number }>();
    for (const p of held.packs) {
      const e = edit(p);
      if (e?.pack) replaced.set(p.pack.digest, await up(e.pack));
      if (e?.index) replaced.set(p.index.digest, await up(e.index));
    }
    const parts: Descriptor[] = [];
    for (const part of held.parts) {
      const layers = part.layers.map((l) => {
        const n = {
          ...l,
          ...(replaced.get(l.digest) ?? {}),
          ...(l.annotations ? { annotations: { ...l.annotations } } : {}),
        };
        const named = n.annotations?.['dev.asl.pack.index'];
        if (named && replaced.has(named)) n.annotations!['dev.asl.pack.index'] = replaced.get(named)!.digest;
        annotate(n);
        return n;
      });
      const bytes = canonicalBytes({
        schemaVersion: 2,
        mediaType: MEDIA_MANIFEST,
        artifactType: held.index.artifactType,
        config: part.config,
        layers,
      });
      await client.putManifest(sha256(bytes), MEDIA_MANIFEST, bytes);
      parts.push({
        mediaType: MEDIA_MANIFEST,
        digest: sha256(bytes),
        size: bytes.length,
        artifactType: held.index.artifactType,
      });
    }
    const indexBytes = canonicalBytes({
      schemaVersion: 2,
      mediaType: MEDIA_INDEX,
      artifactType: held.index.artifactType,
      manifests: [...held.receipts.map((r) => r.descriptor), ...parts],
    });
    await client.putManifest(to, MEDIA_INDEX, indexBytes);
  } finally {
    client.close();
  }
}

/** Uploads `bytes` as one blob; its descriptor's digest and size. */
async function uploadWhole(client: RegistryClient, bytes: Buffer): Promise<{ digest: Digest; size: number }> {
  const digest = sha256(bytes);
  await client.uploadBlob(
    digest,
    bytes.length,
    async function* () {
      yield bytes;
    },
    64 * 1024 * 1024,
    bytes,
  );
  return { digest, size: bytes.length };
}
