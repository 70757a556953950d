/**
 * The content checks an import runs after every object's digest has been
 * checked and before anything is committed: trees are canonical and complete,
 * root records point at matching timestamps, and every receipt is signed by a
 * key the target trusts, matches its manifest line, and names only artifacts the
 * bundle carries. Pure over what the reader collected (no I/O).
 */
import type { Digest } from '../core/digest.js';
import { AslError } from '../core/errors.js';
import { printable } from '../core/printable.js';
import { decodeTimes } from '../store/times-model.js';
import { decodeTree, type TreeEntry } from '../store/tree-model.js';
import type { TrustedKeySet } from '../receipt/trusted-keys.js';
import { referencedArtifacts } from '../receipt/verify-receipts.js';
import { verifyEnvelope } from '../receipt/verify.js';
import type { PerCore } from '../receipt/types.js';
import type { BundleManifest } from './bundle-manifest.js';

const TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

export interface CollectedObjects {
  /** Every object the bundle carried: digest -> size. */
  sizes: ReadonlyMap<Digest, number>;
  /** Bytes of every object that starts like a tree. */
  trees: ReadonlyMap<Digest, Buffer>;
  /** Bytes of the receipts and timestamps objects the manifest names. */
  kept: ReadonlyMap<Digest, Buffer>;
}

/** The objects whose bytes `kept` must hold: the receipts and the roots' timestamps. */
export function keptObjects(manifest: BundleManifest): Set<Digest> {
  return new Set<Digest>([
    ...manifest.receipts.map((r) => r.id),
    ...manifest.roots.flatMap((r) => (r.times ? [r.times as Digest] : [])),
  ]);
}

/**
 * A `trees` collection that decodes (and proves canonical) each tree as it is
 * collected: a pull collects trees while other transfers are still on the wire, so
 * the decoding fills the waits instead of following the last byte. A malformed tree
 * fails at once, with the message the content checks would give.
 */
export class DecodedTrees extends Map<Digest, Buffer> {
  readonly decoded = new Map<Digest, TreeEntry[]>();

  override set(id: Digest, bytes: Buffer): this {
    if (!this.decoded.has(id)) this.decoded.set(id, decodeTree(bytes, `tree ${id}`).entries);
    return super.set(id, bytes);
  }
}

export interface ContentCheck {
  /** Key id that verified each receipt. */
  signers: Map<Digest, string>;
}

export function checkBundleContent(
  manifest: BundleManifest,
  objects: CollectedObjects,
  keys: TrustedKeySet,
  label: string,
  noun = 'bundle',
): ContentCheck {
  const corrupt = (msg: string) => new AslError('CORRUPT', `${label}: ${msg}`);

  // Who signed what comes first: an unsigned, forged or untrusted receipt is the
  // headline, whatever else is wrong with the bundle.
  if (manifest.receipts.length === 0) {
    throw new AslError(
      'VERIFY_FAILED',
      `${label}: carries no receipt: nothing in it is signed, so nothing of it is imported`,
    );
  }
  const signers = new Map<Digest, string>();
  const cores: Array<[Digest, PerCore]> = [];
  for (const r of manifest.receipts) {
    const verified = verifyEnvelope(objects.kept.get(r.id)!, keys, { receiptId: r.id });
    const core = verified.statement.predicate.core;
    if (core.step !== r.step)
      throw corrupt(
        `receipt ${r.id} is listed as step ${JSON.stringify(r.step)} but records step ${JSON.stringify(core.step)}`,
      );
    signers.set(r.id, verified.keyId);
    cores.push([r.id, core]);
  }

  // Each tree decoded (and proved canonical) once: the walk below reads the same entries.
  const entriesOf = new Map<Digest, TreeEntry[]>();
  const decoded = objects.trees instanceof DecodedTrees ? objects.trees.decoded : undefined;
  for (const [id, bytes] of objects.trees) {
    const entries = decoded?.get(id) ?? decodeTree(bytes, `tree ${id}`).entries;
    entriesOf.set(id, entries);
    for (const e of entries) {
      if (!e.digest) continue;
      const name = JSON.stringify(e.name.toString('utf8'));
      const size = objects.sizes.get(e.digest);
      if (size === undefined)
        throw corrupt(
          `tree ${id} entry ${name} names ${e.type === 'dir' ? 'tree' : 'blob'} ${e.digest}, which the bundle does not carry`,
        );
      if (e.type === 'dir' && !objects.trees.has(e.digest))
        throw corrupt(`tree ${id} entry ${name} is a directory but ${e.digest} is not a tree`);
      if (e.type === 'file' && size !== e.size)
        throw corrupt(`tree ${id} entry ${name} is ${e.size} bytes but blob ${e.digest} is ${size}`);
    }
  }

  // A root record is unsigned: it comes in only for an artifact the signed receipts reach.
  const reached = new Set<Digest>();
  const stack: Digest[] = cores.flatMap(([, core]) => referencedArtifacts(core).map((r) => r.digest));
  while (stack.length > 0) {
    const id = stack.pop()!;
    if (reached.has(id)) continue;
    reached.add(id);
    const entries = entriesOf.get(id);
    if (entries) for (const e of entries) if (e.digest) stack.push(e.digest);
  }
  for (const root of manifest.roots) {
    if (!reached.has(root.id as Digest)) {
      throw new AslError(
        'VERIFY_FAILED',
        `${label}: root record ${root.id} (source "${printable(root.source)}") is not backed by any receipt the ${noun} carries: nothing signed vouches for it`,
      );
    }
    if (!TIME_RE.test(root.at))
      throw corrupt(`root record ${root.id} has time "${printable(root.at)}", not an RFC 3339 UTC time`);
    if (root.kind === 'tree' && !objects.trees.has(root.id as Digest))
      throw corrupt(`root ${root.id} is recorded as a tree but is not one`);
    if (root.times) {
      const times = decodeTimes(objects.kept.get(root.times as Digest)!, `timestamps ${root.times}`);
      if (times.tree !== root.id)
        throw corrupt(`timestamps ${root.times} of root ${root.id} belong to tree ${times.tree}`);
    }
  }

  for (const [id, core] of cores) {
    for (const ref of referencedArtifacts(core)) {
      if (!objects.sizes.has(ref.digest))
        throw corrupt(
          `receipt ${id} (step ${core.step}) ${ref.label} names artifact ${ref.digest}, which the bundle does not carry`,
        );
    }
    for (const a of [...core.inputs, ...core.outputs]) {
      if (a.kind === 'tree' && !objects.trees.has(a.digest))
        throw corrupt(
          `receipt ${id} (step ${core.step}) artifact ${a.name} is recorded as a tree but ${a.digest} is not one`,
        );
    }
  }
  return { signers };
}
