/**
 * What `why` needs from the receipt log, read once: per receipt its step, command,
 * output trees and watched roots (before/after ids), and every downloaded package.
 * Only ids are kept, never trees, so memory follows the number of receipts and
 * artifact references, not the size of the trees they name.
 */
import type { Digest } from '../core/digest.js';
import { VerifiedReceiptReader } from '../receipt/verified-index.js';
import type { ArtifactRef, ArtifactRole, PerCore } from '../receipt/types.js';
import { readReceiptLog } from '../receipt/receipt-log.js';
import type { Store } from '../store/store.js';
import { loadTrustedKeys } from '../receipt/trusted-keys.js';
import { statusOf, whatOf } from './log.js';

export interface OutputTree {
  name: string;
  role: ArtifactRole;
  digest: Digest;
  path?: string;
}

export interface ReceiptSummary {
  /** Position in the log, 0-based (log order is the order steps were recorded). */
  index: number;
  seq: number;
  id: Digest;
  step: string;
  kind: PerCore['kind'];
  /** The command string, or the ingested path. */
  what: string;
  status: string;
  /** When the run ended (RFC 3339, from the receipt's run details). */
  finishedOn: string;
  outputTrees: OutputTree[];
  /** Trees it read: declared inputs and watched roots' before-trees. */
  inputTrees: OutputTree[];
  /** Files it output as artifacts of their own (ingested, declared, watched file roots). */
  outputBlobs: Array<{ name: string; digest: Digest }>;
  watched: Array<{ path: string; before: Digest | null; after: Digest | null; excluded?: string[] }>;
}

export interface DebRef {
  /** The artifact name in the receipt, e.g. package:apt_2.6.1_amd64. */
  name: string;
  package: string;
  version: string;
  architecture?: string;
  digest: Digest;
  size?: number;
  path?: string;
  /** Index of the receipt that lists it as downloaded. */
  index: number;
}

export interface ReceiptIndex {
  receipts: ReceiptSummary[];
  /** Tree id -> indexes of the receipts that output it, ascending. */
  producers: Map<Digest, number[]>;
  /** Host path of a watched root or output tree -> indexes of receipts that output a tree there, ascending. */
  byHostPath: Map<string, number[]>;
  /** `name\0version` -> downloaded .deb files with that name and version. */
  debs: Map<string, DebRef[]>;
  /** Blob id -> receipts that output exactly those bytes as a file (ingested, declared or watched). */
  blobOutputs: Map<Digest, Array<{ index: number; name: string }>>;
}

const READ_CONCURRENCY = 16;
/** Roles under which a blob output is a file the step produced (not a log, not a program). */
const FILE_ROLES: ReadonlySet<ArtifactRole> = new Set(['source', 'declared', 'watched']);

function debKey(name: string, version: string): string {
  return `${name}\0${version}`;
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) {
    if (list[list.length - 1] !== value) list.push(value);
  } else map.set(key, [value]);
}

/** Reads and verifies every committed receipt (a few at a time) and indexes it. */
export async function loadReceiptIndex(store: Store): Promise<ReceiptIndex> {
  const reader = await VerifiedReceiptReader.open(store, await loadTrustedKeys(store));
  const { records } = await readReceiptLog(store);
  const receipts: ReceiptSummary[] = new Array(records.length);
  const index: ReceiptIndex = {
    receipts,
    producers: new Map(),
    byHostPath: new Map(),
    debs: new Map(),
    blobOutputs: new Map(),
  };
  const treeRef = (o: ArtifactRef): OutputTree => ({
    name: o.name,
    role: o.role,
    digest: o.digest,
    ...(o.path ? { path: o.path } : {}),
  });
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < records.length; i = next++) {
      const { entry } = records[i]!;
      const { statement } = await reader.read(entry.receipt);
      const core = statement.predicate.core;
      receipts[i] = {
        index: i,
        seq: entry.seq,
        id: entry.receipt,
        step: core.step,
        kind: core.kind,
        what: whatOf(core),
        status: statusOf(core).status,
        finishedOn: statement.predicate.run.finishedOn,
        outputTrees: core.outputs.filter((o) => o.kind === 'tree').map(treeRef),
        inputTrees: core.inputs.filter((o) => o.kind === 'tree').map(treeRef),
        outputBlobs: core.outputs
          .filter((o) => o.kind === 'blob' && FILE_ROLES.has(o.role))
          .map((o) => ({ name: o.name, digest: o.digest })),
        watched:
          core.kind === 'command'
            ? core.watched.map((w) => ({
                path: w.path,
                before: w.before,
                after: w.after,
                ...(w.excluded ? { excluded: w.excluded } : {}),
              }))
            : [],
      };
      for (const ref of core.inputs) {
        if (ref.role !== 'downloaded' || !ref.package) continue;
        push(index.debs, debKey(ref.package.name, ref.package.version), {
          name: ref.name,
          package: ref.package.name,
          version: ref.package.version,
          ...(ref.package.architecture ? { architecture: ref.package.architecture } : {}),
          digest: ref.digest,
          ...(ref.size !== undefined ? { size: ref.size } : {}),
          ...(ref.path ? { path: ref.path } : {}),
          index: i,
        });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, records.length) }, worker));
  await reader.remember();
  // Indexed in log order, so every list is ascending whatever order the reads finished in.
  for (const r of receipts) {
    for (const b of r.outputBlobs) push(index.blobOutputs, b.digest, { index: r.index, name: b.name });
    for (const o of r.outputTrees) {
      push(index.producers, o.digest, r.index);
      if (o.path) push(index.byHostPath, o.path, r.index);
    }
  }
  for (const list of index.debs.values()) list.sort((a, b) => a.index - b.index);
  return index;
}

/** The newest index in an ascending list that is below `limit`, or undefined. */
export function newestBelow(list: readonly number[] | undefined, limit: number): number | undefined {
  if (!list) return undefined;
  let lo = 0;
  let hi = list.length - 1;
  let found: number | undefined;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]! < limit) {
      found = list[mid];
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

export interface DebMatch {
  name: string;
  digest: Digest;
  size?: number;
  path?: string;
  architecture?: string;
  seq: number;
  receipt: Digest;
  step: string;
}

/**
 * The downloaded .deb a package came from: same name and version (and
 * architecture when both say), preferring the download by the receipt at `limit`
 * (the step that wrote the content), then the newest download before it, then any.
 */
export function matchDeb(
  index: ReceiptIndex,
  pkg: { package: string; version?: string; architecture?: string },
  limit: number,
): DebMatch | null {
  if (!pkg.version) return null;
  const candidates = (index.debs.get(debKey(pkg.package, pkg.version)) ?? []).filter(
    (d) => !d.architecture || !pkg.architecture || d.architecture === pkg.architecture,
  );
  if (candidates.length === 0) return null;
  const pick: DebRef =
    candidates.find((d) => d.index === limit) ??
    [...candidates].reverse().find((d) => d.index <= limit) ??
    candidates[candidates.length - 1]!;
  const r = index.receipts[pick.index]!;
  return {
    name: pick.name,
    digest: pick.digest,
    ...(pick.size !== undefined ? { size: pick.size } : {}),
    ...(pick.path ? { path: pick.path } : {}),
    ...(pick.architecture ? { architecture: pick.architecture } : {}),
    seq: r.seq,
    receipt: r.id,
    step: r.step,
  };
}
