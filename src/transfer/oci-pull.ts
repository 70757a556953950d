/**
 * `asl pull`: a closure from an OCI registry into a store, verified before
 * anything is visible, exactly as bundle import does (closure-import.ts):
 *
 *   1. the layout (oci-pull-layout.ts): the tag's index, the part and receipt
 *      manifests and the closure manifest, each checked against the digest that
 *      names it, and agreeing with each other;
 *   2. the signer keys and the receipts are fetched first and every receipt's
 *      signature checked against the target's trusted keys plus the ones the
 *      operator named, so an untrusted history stops before the bulk download;
 *   3. the pack indexes, each checked against its digest and read strictly
 *      (oci-pack.ts), so every object the closure lists has a place: the target
 *      (read back, re-hashed where the checks need its bytes), a blob of its own,
 *      or a pack;
 *   4. what the target lacks, `concurrency` transfers at a time: a pack whole
 *      when most of it is needed, else by ranges (oci-pack-fetch.ts); blobs of
 *      their own one GET each. Every object is hashed as it arrives (one that
 *      does not hash to its digest stops the pull, naming it) and staged in the
 *      target's tmp/: packed objects into one new pack, others as files;
 *   5. the content checks and the commit of bundle import.
 *
 * A failure before 5's commit removes what was staged: the target is unchanged.
 */
import type { Digest } from '../core/digest.js';
import { AslError } from '../core/errors.js';
import { ObjectBatch } from '../store/object-batch.js';
import { mapLimit } from '../core/map-limit.js';
import { ObjectReader } from '../store/object-reader.js';
import type { Store } from '../store/store.js';
import { TREE_MAGIC } from '../store/tree-model.js';
import { verifyEnvelope } from '../receipt/verify.js';
import { DecodedTrees, keptObjects } from './bundle-check.js';
import { MAX_KEY_BYTES } from './bundle-manifest.js';
import { checkAndCommit, importKeySet, openImportTarget, withTrustHint, type TrustOptions } from './closure-import.js';
import { RegistryClient } from './oci-client.js';
import type { Descriptor } from './oci-layout.js';
import { MAX_PACK_INDEX_BYTES, checkReceivedIndex, type PackSlot } from './oci-pack.js';
import { fetchPackObjects, type FetchStats } from './oci-pack-fetch.js';
import { fetchListedBlob, fetchSmallBlob, readClosureLayout } from './oci-pull-layout.js';
import { DEFAULT_CONCURRENCY, type RegistryOptions } from './oci-push.js';
import { formatOciReference, type OciReference } from './oci-reference.js';
import { parsePublicKey, type PublicKeyPem } from './public-key.js';
import { MAX_TREE_BYTES, receiveObject, receivePackedObject, type ReceiveInto } from './receive-object.js';
import { PackFileReceiver } from './receive-pack.js';

export interface PullOptions extends RegistryOptions, TrustOptions {}

export interface PullResult {
  reference: string;
  /** Digest of the index pulled. */
  digest: Digest;
  receipts: { added: number; present: number };
  objects: { total: number; downloaded: number; present: number };
  /** Bytes of the closure's objects, and of the ones downloaded. */
  bytes: { total: number; downloaded: number };
  /** Blob GET requests (whole or ranges) and the bytes they carried, manifests aside. */
  transfer: FetchStats & { packs: number };
  roots: { added: number };
  trusted: string[];
}

export async function pullClosure(store: Store, ref: OciReference, opts: PullOptions = {}): Promise<PullResult> {
  const concurrency = opts.concurrency ?? DEFAULT_CONCURRENCY;
  const target = await openImportTarget(store, opts);
  const client = new RegistryClient(ref, { ...opts, maxSockets: concurrency, actions: 'pull' });
  const label = client.label;
  const batch = new ObjectBatch(store);
  const reader = new ObjectReader(store, { listLoose: true });
  try {
    await client.connect();
    const { digest, manifest, keyLayers, packs, own } = await readClosureLayout(client, ref, concurrency);
    const keep = keptObjects(manifest);
    const sizes = new Map<Digest, number>();
    const trees = new DecodedTrees();
    const kept = new Map<Digest, Buffer>();
    const into: ReceiveInto = { batch, keep, trees, kept };
    const total = manifest.objects.length;
    const stats: FetchStats = { requests: 0, bytes: 0 };
    let downloaded = 0;
    let downloadedBytes = 0;
    let doneBytes = 0;
    const done = (d: Digest, size: number, fetched: boolean) => {
      sizes.set(d, size);
      doneBytes += size;
      if (fetched) {
        downloaded++;
        downloadedBytes += size;
      }
      opts.onProgress?.({ objects: sizes.size, totalObjects: total, bytes: doneBytes });
    };

    /** An object the target has: its bytes are read back (and re-hashed) where the checks need them. */
    const takeLocal = (d: Digest, size: number): boolean => {
      const loc = reader.locate(d);
      if (!loc) return false;
      if (loc.size !== size)
        throw new AslError(
          'CORRUPT',
          `${store.root}: the target's object ${d} is ${loc.size} bytes, the closure says ${size} (run \`asl verify\` on the target)`,
        );
      const tree = !keep.has(d) && size <= MAX_TREE_BYTES && reader.head(d, TREE_MAGIC.length, loc).equals(TREE_MAGIC);
      if (keep.has(d) || tree) {
        const data = reader.read(d, loc);
        if (data.subarray(0, TREE_MAGIC.length).equals(TREE_MAGIC)) trees.set(d, data);
        if (keep.has(d)) kept.set(d, data);
      }
      done(d, size, false);
      return true;
    };

    const mismatch = (d: Digest) => (actual: string, n: number) =>
      new AslError(
        'CORRUPT',
        `${label}: the registry served blob ${d} with content hashing to ${actual} (${n} bytes); nothing pulled`,
        { data: { expected: d, actual } },
      );

    /** An object that is a blob of its own, downloaded and checked. */
    const download = async (d: Digest, size: number): Promise<void> => {
      const res = await fetchListedBlob(client, d, 'blob');
      stats.requests++;
      const announced = res.headers['content-length'];
      if (announced !== undefined && Number(announced) !== size) {
        res.body.destroy();
        throw new AslError(
          'CORRUPT',
          `${label}: the registry serves blob ${d} as ${announced} bytes, the closure says ${size}; nothing pulled`,
        );
      }
      const counted = (async function* () {
        for await (const c of res.body as AsyncIterable<Buffer>) {
          stats.bytes += c.length;
          yield c;
        }
      })();
      await receiveObject(into, d, size, counted, {
        where: label,
        mismatch: mismatch(d),
        overrun: () =>
          new AslError(
            'CORRUPT',
            `${label}: the registry served blob ${d} with more than ${size} bytes; nothing pulled`,
          ),
      });
      done(d, size, true);
    };

    // Keys and receipts first: who signed the history is checked before the bulk download.
    const carried = new Map<string, PublicKeyPem>();
    await mapLimit(keyLayers, concurrency, async (l) => {
      if (l.size > MAX_KEY_BYTES)
        throw new AslError('CORRUPT', `${label}: key blob ${l.digest} is ${l.size} bytes; refused`);
      const data = await fetchSmallBlob(client, l, 'key blob');
      stats.requests++;
      stats.bytes += data.length;
      const key = parsePublicKey(data.toString('utf8'), `${label}: key blob ${l.digest}`, 'CORRUPT');
      if (!manifest.keys.includes(key.keyId))
        throw new AslError(
          'CORRUPT',
          `${label}: key blob ${l.digest} holds key ${key.keyId}, which the closure manifest does not list`,
        );
      carried.set(key.keyId, key);
    });
    const absentKeys = manifest.keys.filter((k) => !carried.has(k));
    if (absentKeys.length > 0)
      throw new AslError('CORRUPT', `${label}: the closure lacks key ${absentKeys[0]} its manifest lists`);
    const sizeOf = new Map(manifest.objects.map((o) => [o.digest, o.size]));
    await mapLimit(manifest.receipts, concurrency, async (r) => {
      const size = sizeOf.get(r.id)!;
      if (!takeLocal(r.id, size)) await download(r.id, size);
    });
    const { keys } = importKeySet(target, carried, manifest.keys, 'registry closure');
    for (const r of manifest.receipts) {
      try {
        verifyEnvelope(kept.get(r.id)!, keys, { receiptId: r.id });
      } catch (err) {
        throw withTrustHint(err, label, manifest, keys);
      }
    }

    // Where each object the target lacks is: a blob of its own, or a slot of a pack.
    const lacking = new Map<Digest, number>();
    for (const o of manifest.objects)
      if (!sizes.has(o.digest) && !takeLocal(o.digest, o.size)) lacking.set(o.digest, o.size);
    // Each pack's index is read as its job starts, so the first packs stream while later
    // indexes arrive; an object in two packs is taken from the first whose index claims it.
    const inPacks = new Set([...lacking.keys()].filter((d) => !own.has(d)));
    const claimed = new Set<Digest>();
    let packsFetched = 0;
    const fetchFromPack = async ({ pack, index }: { pack: Descriptor; index: Descriptor }): Promise<void> => {
      if (index.size > MAX_PACK_INDEX_BYTES)
        throw new AslError('CORRUPT', `${label}: pack index ${index.digest} is ${index.size} bytes; refused`);
      const indexBytes = await fetchSmallBlob(client, index, 'pack index');
      stats.requests++;
      stats.bytes += indexBytes.length;
      const { slots } = checkReceivedIndex(index.digest.slice('sha256:'.length), indexBytes, pack.size, label);
      const wanted: PackSlot[] = [];
      for (const s of slots) {
        if (!inPacks.has(s.digest) || claimed.has(s.digest)) continue;
        if (s.size !== lacking.get(s.digest))
          throw new AslError(
            'CORRUPT',
            `${label}: pack ${pack.digest} holds object ${s.digest} as ${s.size} bytes, the closure says ${lacking.get(s.digest)}; nothing pulled`,
          );
        claimed.add(s.digest);
        wanted.push(s);
      }
      if (wanted.length === 0) return;
      packsFetched++;
      const inPack = (d: Digest) => (actual: string, n: number) =>
        new AslError(
          'CORRUPT',
          `${label}: the registry served object ${d} (in pack ${pack.digest}) with content hashing to ${actual} (${n} bytes); nothing pulled`,
          { data: { expected: d, actual } },
        );
      await fetchPackObjects(
        client,
        pack,
        slots.length,
        wanted,
        {
          take: async (slot, data) => {
            await receivePackedObject(into, slot.digest, slot.size, data, {
              where: label,
              mismatch: inPack(slot.digest),
            });
            done(slot.digest, slot.size, true);
          },
          whole: () =>
            PackFileReceiver.open(
              into,
              indexBytes,
              (slot) => ({ mismatch: inPack(slot.digest) }),
              (slot) => done(slot.digest, slot.size, true),
            ),
        },
        stats,
      );
    };
    type Job = { kind: 'pack'; pack: Descriptor; index: Descriptor } | { kind: 'own'; digest: Digest; size: number };
    // Biggest first: a big blob of its own is one stream, which should not start last.
    const jobs: Job[] = [
      ...(inPacks.size > 0 ? packs.map((p) => ({ kind: 'pack' as const, ...p })) : []),
      ...[...lacking].filter(([d]) => own.has(d)).map(([digest, size]) => ({ kind: 'own' as const, digest, size })),
    ].sort((a, b) => (b.kind === 'own' ? b.size : b.pack.size) - (a.kind === 'own' ? a.size : a.pack.size));
    await mapLimit(jobs, concurrency, (job) =>
      job.kind === 'own' ? download(job.digest, job.size) : fetchFromPack(job),
    );
    const unplaced = [...inPacks].find((d) => !claimed.has(d));
    if (unplaced)
      throw new AslError(
        'CORRUPT',
        `${label}: the closure lists object ${unplaced}, but no blob or pack of it holds it; nothing pulled`,
      );

    const committed = await checkAndCommit(
      target,
      batch,
      { manifest, sizes, trees, kept, keys: carried },
      label,
      'registry closure',
    );
    return {
      reference: formatOciReference(ref),
      digest,
      receipts: committed.receipts,
      objects: { total, downloaded, present: total - downloaded },
      bytes: { total: manifest.totals.bytes, downloaded: downloadedBytes },
      transfer: { ...stats, packs: packsFetched },
      roots: committed.roots,
      trusted: committed.trusted,
    };
  } catch (err) {
    await batch.abort();
    throw err;
  } finally {
    reader.close();
    client.close();
  }
}
