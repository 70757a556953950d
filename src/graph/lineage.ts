/**
 * The lineage graph of a store: every logged receipt (verified), every artifact
 * a receipt names, and the edges between them. Content addressing is the join:
 * an artifact is one node per digest, so an output of one receipt that is an
 * input of another links the two with no extra bookkeeping. A receipt named as
 * an input (e.g. the seed's `--artifact-inputs $PRESTORE/per`) is the receipt
 * node itself when the store logs it.
 *
 * Loading keeps memory bounded: receipts are read and verified a few at a time,
 * each reduced at once to a compact node plus its artifact uses, and the
 * statement is dropped. Tree objects are not read here; readTreeSummaries reads
 * only the trees a caller is going to show.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Digest } from '../core/digest.js';
import { AslError, type AslErrorCode } from '../core/errors.js';
import { VerifiedReceiptReader } from '../receipt/verified-index.js';
import type {
  ArtifactKind,
  ArtifactRef,
  ArtifactRole,
  ExitStatus,
  IngestSource,
  PackageInfo,
  PerCore,
  PerRun,
  StepKind,
} from '../receipt/types.js';
import { mapLimit } from '../core/map-limit.js';
import { readObject } from '../store/object-read.js';
import { readReceiptLog } from '../receipt/receipt-log.js';
import type { Store } from '../store/store.js';
import { decodeTree, isTreeBytes, type TreeTotals } from '../store/tree-model.js';
import { loadTrustedKeys, type TrustedKeySet } from '../receipt/trusted-keys.js';
import { pathStatesOf, type PathState } from './lane-plan.js';
import { computeLanes, type LaneLink } from './lanes.js';
import { statusOf } from './log.js';

/** How an environment variable was recorded, for display: the value, a keyed hash, or nothing. */
export interface EnvironmentSummary {
  verbatim: number;
  hashed: number;
  secret: number;
  /** Name -> the value (verbatim), `hmac-sha256:…` (hashed) or `(secret)`. */
  variables: Record<string, string>;
}

export interface ReceiptProgram {
  path: string;
  digest: Digest;
  root?: string;
  package?: string;
  version?: string;
}

export interface ReceiptWatched {
  path: string;
  before: Digest | null;
  after: Digest | null;
  added: number;
  modified: number;
  removed: number;
}

export interface ReceiptNode {
  type: 'receipt';
  /** The receipt id (digest of the stored envelope). */
  id: Digest;
  /** Position in the receipt log (1-based). */
  seq: number;
  step: string;
  kind: StepKind;
  ok: boolean;
  /** "succeeded", "failed (exit 3)", "killed (SIGTERM)", "ingested". */
  status: string;
  /** The --cmd string (command steps). */
  command?: string;
  cwd?: string;
  exit?: ExitStatus;
  /** The ingested file or directory (ingest steps). */
  source?: IngestSource;
  startedOn: string;
  finishedOn: string;
  durationMs: number;
  hostname: string;
  /** Key id of the trusted key whose signature verified. */
  signer: string;
  coreDigest: Digest;
  environment?: EnvironmentSummary;
  programs: ReceiptProgram[];
  watched: ReceiptWatched[];
  traced?: boolean;
}

export interface ArtifactNode {
  type: 'artifact';
  id: Digest;
  kind: ArtifactKind;
  /** A short display name: the path's last component, the package, "stdout"… (of its first use) */
  name: string;
  /** Every distinct display name its uses give it, `name` first: one node per digest may stand for several. */
  names: string[];
  /** Host path of its first use, when it has one. */
  path?: string;
  /** Every distinct host path its uses name, `path` first. */
  paths: string[];
  /** Bytes (blob, log, package) or total bytes of regular files (tree). */
  size?: number;
  package?: PackageInfo;
  /**
   * The empty file, or a tree holding nothing but directories: content that
   * unrelated steps share by chance, so it never joins two steps.
   */
  empty?: true;
}

export interface LineageEdge {
  /** input: artifact (or receipt) -> receipt; output: receipt -> artifact. */
  kind: 'input' | 'output';
  from: Digest;
  to: Digest;
  role: ArtifactRole;
  /** The artifact's name in that receipt (usually its path). */
  name: string;
}

export interface Lineage {
  /** In log order. */
  receipts: ReceiptNode[];
  receiptById: Map<Digest, ReceiptNode>;
  /** Artifacts that are not receipts of this store, in order of first use. */
  artifacts: Map<Digest, ArtifactNode>;
  /** In log order, each receipt's inputs then its outputs, in receipt order. */
  edges: LineageEdge[];
  /** What each receipt recorded about its host paths, in log order (lane-plan.ts). */
  states: PathState[];
  /** Each step's starting state of a path linked to the record it continues (lanes.ts). */
  lanes: LaneLink[];
}

export interface LoadLineageOptions {
  keys?: TrustedKeySet;
  /** Receipts read and verified at once on the main thread (default 16). */
  concurrency?: number;
  /** Worker threads to verify on (default: up to 4 for logs of 200+ receipts; 0 or 1: none). */
  threads?: number;
  /** Check the lanes against the stored trees (default true; false leaves `lanes` empty). */
  lanes?: boolean;
}

/** One artifact use, as a receipt lists it (plain data: it crosses threads). */
export interface ArtifactUse {
  dir: 'input' | 'output';
  digest: Digest;
  kind: ArtifactKind;
  role: ArtifactRole;
  name: string;
  path?: string;
  size?: number;
  package?: PackageInfo;
}

/** What one receipt contributes, before the join. */
export interface ExtractedReceipt {
  node: ReceiptNode;
  uses: ArtifactUse[];
  states: PathState[];
}

/**
 * Loads every committed receipt of the log, verified against the trusted keys
 * (loaded once). A receipt that does not verify is an error naming it: the graph
 * never shows what the store cannot vouch for. Big logs are read and verified on
 * worker threads (verification is CPU-bound: ~1-3 ms per receipt).
 */
const WORKER_URL = new URL('./dag-lineage-worker.js', import.meta.url);

export async function loadLineage(store: Store, opts: LoadLineageOptions = {}): Promise<Lineage> {
  const keys = opts.keys ?? (await loadTrustedKeys(store));
  const { records } = await readReceiptLog(store);
  const jobs = records.map((r) => ({ id: r.entry.receipt, seq: r.entry.seq }));
  // The one-file build (scripts/bundle-asl.sh) has no separate worker file: one thread.
  // Receipts the verified-receipts index vouches for cost a read and a parse, no signature check:
  // a log that is mostly indexed is read faster here than the workers start.
  const reader = await VerifiedReceiptReader.open(store, keys);
  const mostlyIndexed = reader.size >= jobs.length * 0.9;
  const threads =
    opts.threads ??
    (!mostlyIndexed && jobs.length >= WORKER_MIN_RECEIPTS && existsSync(fileURLToPath(WORKER_URL))
      ? Math.min(availableParallelism(), 4)
      : 0);
  const extracted =
    threads > 1
      ? await extractOnWorkers(store, keys, jobs, threads)
      : await extractReceipts(store, keys, jobs, opts.concurrency ?? 16, reader);
  const lineage = joinLineage(extracted);
  await markEmptyTrees(store, lineage);
  if (opts.lanes ?? true) {
    lineage.lanes = await computeLanes(store, lineage.states, {
      kindOf: (d) => lineage.artifacts.get(d)?.kind,
      isEmpty: (d) => lineage.artifacts.get(d)?.empty === true,
    });
  }
  return lineage;
}

/** The digest of zero bytes: every empty file and empty log. */
const EMPTY_DIGEST = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' as Digest;

/**
 * Marks empty content: the empty file, and trees with no file, link or device
 * at any depth. Only trees recorded with 0 bytes are read (top level: the
 * totals cover the whole sub-tree).
 */
async function markEmptyTrees(store: Store, lineage: Lineage): Promise<void> {
  const candidates: Digest[] = [];
  for (const a of lineage.artifacts.values()) {
    if (a.id === EMPTY_DIGEST) a.empty = true;
    else if (a.kind === 'tree' && !a.size) candidates.push(a.id);
  }
  if (candidates.length === 0) return;
  for (const [id, summary] of await readTreeSummaries(store, candidates)) {
    if (summary && summary.files === 0 && summary.other === 0) lineage.artifacts.get(id)!.empty = true;
  }
}

/** Logs with fewer receipts are read on the main thread (starting workers costs ~50 ms). */
const WORKER_MIN_RECEIPTS = 200;

/** Reads, verifies and reduces receipts, `concurrency` at a time; results in job order. */
export async function extractReceipts(
  store: Store,
  keys: TrustedKeySet,
  jobs: ReadonlyArray<{ id: Digest; seq: number }>,
  concurrency = 16,
  opened?: VerifiedReceiptReader,
): Promise<ExtractedReceipt[]> {
  const reader = opened ?? (await VerifiedReceiptReader.open(store, keys));
  const extracted = await mapLimit(jobs, concurrency, async ({ id, seq }) => {
    const verified = await reader.read(id);
    return extractReceipt(id, seq, verified.statement.predicate, verified.keyId);
  });
  await reader.remember();
  return extracted;
}

/** A receipt reduced to its node and its artifact uses; the statement can then be dropped. */
function extractReceipt(
  id: Digest,
  seq: number,
  predicate: { core: PerCore; coreDigest: Digest; run: PerRun },
  signer: string,
): ExtractedReceipt {
  const { core, run } = predicate;
  const uses: ArtifactUse[] = [];
  for (const [dir, list] of [
    ['input', core.inputs],
    ['output', core.outputs],
  ] as const) {
    for (const ref of list) {
      const use: ArtifactUse = { dir, digest: ref.digest, kind: ref.kind, role: ref.role, name: ref.name };
      if (ref.path !== undefined) use.path = ref.path;
      if (ref.size !== undefined) use.size = ref.size;
      if (ref.package) use.package = ref.package;
      uses.push(use);
    }
  }
  return {
    node: receiptNode(id, seq, core, run, signer, predicate.coreDigest),
    uses,
    states: pathStatesOf({ id, seq, step: core.step }, core),
  };
}

async function extractOnWorkers(
  store: Store,
  keys: TrustedKeySet,
  jobs: ReadonlyArray<{ id: Digest; seq: number }>,
  threads: number,
): Promise<ExtractedReceipt[]> {
  const out: ExtractedReceipt[] = new Array(jobs.length);
  const BATCH = 16;
  let next = 0;
  const workers = Array.from(
    { length: threads },
    () => new Worker(WORKER_URL, { workerData: { root: store.root, keys } }),
  );
  try {
    await Promise.all(
      workers.map(
        (worker) =>
          new Promise<void>((resolve, reject) => {
            const send = (): void => {
              if (next >= jobs.length) {
                resolve();
                return;
              }
              const start = next;
              next = Math.min(jobs.length, next + BATCH);
              worker.postMessage({ start, jobs: jobs.slice(start, next) });
            };
            worker.on('message', (msg: WorkerReply) => {
              if ('error' in msg) {
                reject(new AslError(msg.error.code as AslErrorCode, msg.error.message, { data: msg.error.data }));
                return;
              }
              (JSON.parse(msg.json) as ExtractedReceipt[]).forEach((r, k) => {
                out[msg.start + k] = r;
              });
              send();
            });
            worker.on('error', reject);
            worker.on('exit', (code) => {
              if (next < jobs.length || code !== 0) reject(new Error(`lineage worker exited with code ${code}`));
            });
            send();
          }),
      ),
    );
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return out;
}

export type WorkerReply =
  | { start: number; json: string }
  | { start: number; error: { code: string; message: string; data?: Record<string, unknown> } };

/** Content addressing as the join: one node per digest, edges in log order. */
function joinLineage(extracted: readonly ExtractedReceipt[]): Lineage {
  const receipts: ReceiptNode[] = [];
  const receiptById = new Map<Digest, ReceiptNode>();
  for (const { node } of extracted) {
    if (receiptById.has(node.id)) continue; // logged twice: one node
    receipts.push(node);
    receiptById.set(node.id, node);
  }
  const artifacts = new Map<Digest, ArtifactNode>();
  const edges: LineageEdge[] = [];
  const states: PathState[] = [];
  const joined = new Set<Digest>();
  for (const { node, uses, states: own } of extracted) {
    if (!joined.has(node.id)) {
      joined.add(node.id);
      states.push(...own);
    }
    for (const use of uses) {
      if (!receiptById.has(use.digest)) mergeArtifact(artifacts, use);
      edges.push(
        use.dir === 'input'
          ? { kind: 'input', from: use.digest, to: node.id, role: use.role, name: use.name }
          : { kind: 'output', from: node.id, to: use.digest, role: use.role, name: use.name },
      );
    }
  }
  return { receipts, receiptById, artifacts, edges, states, lanes: [] };
}

function receiptNode(
  id: Digest,
  seq: number,
  core: PerCore,
  run: PerRun,
  signer: string,
  coreDigest: Digest,
): ReceiptNode {
  const node: ReceiptNode = {
    type: 'receipt',
    id,
    seq,
    step: core.step,
    kind: core.kind,
    ...statusOf(core),
    startedOn: run.startedOn,
    finishedOn: run.finishedOn,
    durationMs: run.durationMs,
    hostname: run.host.hostname,
    signer,
    coreDigest,
    programs: [],
    watched: [],
  };
  if (core.kind === 'command') {
    node.command = core.command.shell;
    node.cwd = core.command.cwd;
    node.exit = core.exit;
    node.traced = core.traced;
    node.environment = environmentSummary(core.environment.variables);
    node.programs = core.program.map((p) => ({
      path: p.path,
      digest: p.digest,
      ...(p.root ? { root: p.root } : {}),
      ...(p.package ? { package: p.package } : {}),
      ...(p.version ? { version: p.version } : {}),
    }));
    node.watched = core.watched.map((w) => ({
      path: w.path,
      before: w.before,
      after: w.after,
      added: w.added,
      modified: w.modified,
      removed: w.removed,
    }));
  } else if (core.kind === 'ingest') {
    node.source = core.source;
  }
  return node;
}

function environmentSummary(
  variables: Record<string, { mode: string; value?: string; hmac?: string }>,
): EnvironmentSummary {
  const summary: EnvironmentSummary = { verbatim: 0, hashed: 0, secret: 0, variables: {} };
  for (const name of Object.keys(variables).sort()) {
    const v = variables[name]!;
    if (v.mode === 'verbatim') {
      summary.verbatim++;
      summary.variables[name] = v.value ?? '';
    } else if (v.mode === 'hashed') {
      summary.hashed++;
      summary.variables[name] = v.hmac ?? '';
    } else {
      summary.secret++;
      summary.variables[name] = '(secret)';
    }
  }
  return summary;
}

/** One node per digest; a later use fills what an earlier one lacked (a package's name, a size). */
function mergeArtifact(artifacts: Map<Digest, ArtifactNode>, ref: ArtifactUse): void {
  const known = artifacts.get(ref.digest);
  if (!known) {
    const name = displayName(ref);
    const node: ArtifactNode = { type: 'artifact', id: ref.digest, kind: ref.kind, name, names: [name], paths: [] };
    if (ref.path !== undefined) {
      node.path = ref.path;
      node.paths.push(ref.path);
    }
    if (ref.size !== undefined) node.size = ref.size;
    if (ref.package) node.package = ref.package;
    artifacts.set(ref.digest, node);
    return;
  }
  if (known.size === undefined && ref.size !== undefined) known.size = ref.size;
  if (ref.path !== undefined) {
    known.path ??= ref.path;
    if (!known.paths.includes(ref.path)) known.paths.push(ref.path);
  }
  if (!known.package && ref.package) {
    known.package = ref.package;
    known.kind = 'package';
    known.name = displayName(ref);
    known.names = [known.name, ...known.names.filter((n) => n !== known.name)];
    return;
  }
  if (known.kind !== 'package') {
    const name = displayName(ref);
    if (!known.names.includes(name)) known.names.push(name);
  }
}

/** "iso_root", "asl-hello", "stdout", "libc6 2.36-9", "changes iso_root". */
export function displayName(ref: Pick<ArtifactRef, 'name' | 'kind' | 'path' | 'package'>): string {
  if (ref.package) return `${ref.package.name} ${ref.package.version}`;
  if (ref.kind === 'log') return ref.name;
  // Names like "before:/x/iso_root", "program:/usr/bin/dash", "changes:/x/out".
  const bare = ref.name.replace(/^[a-z]+:(?=\/)/, '');
  const where = ref.path ?? bare;
  const last = basename(where.replace(/\/+$/, '')) || where;
  return ref.kind === 'paths' ? `changes ${last}` : last;
}

// ---------------------------------------------------------------------------
// Trees

export interface TreeSummary extends TreeTotals {
  /** Digests of the tree's direct entries that the caller asked about (see `children`). */
  children: Digest[];
}

/**
 * Reads the tree objects `ids` (and nothing below them): their totals, and which
 * of their direct entries are in `children`. A tree the store does not hold, or
 * an object that is not a tree, maps to null.
 */
export async function readTreeSummaries(
  store: Store,
  ids: Iterable<Digest>,
  opts: { children?: ReadonlySet<string>; concurrency?: number } = {},
): Promise<Map<Digest, TreeSummary | null>> {
  const list = [...new Set(ids)];
  const summaries = await mapLimit(list, opts.concurrency ?? 16, async (id): Promise<TreeSummary | null> => {
    let bytes: Buffer;
    try {
      bytes = await readObject(store, id);
    } catch (err) {
      if (err instanceof AslError && err.code === 'NOT_FOUND') return null;
      throw err;
    }
    if (!isTreeBytes(bytes)) return null;
    const tree = decodeTree(bytes, id);
    const children: Digest[] = [];
    if (opts.children) {
      for (const e of tree.entries)
        if (e.digest && opts.children.has(e.digest) && !children.includes(e.digest)) children.push(e.digest);
    }
    return { ...tree.totals, children };
  });
  return new Map(list.map((id, i) => [id, summaries[i]!]));
}
