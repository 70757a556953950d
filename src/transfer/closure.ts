/**
 * The closure of a list of receipts: every object a store must hold for those
 * receipts to verify and for everything they name to be restorable. That is the
 * receipt objects; every artifact a receipt names (referencedArtifacts); every
 * sub-tree and blob reachable from a named tree; the timestamps object and root
 * record (refs/put) of a named tree when the store has one; and, transitively,
 * the receipts named as `receipt` inputs (e.g. the PERs an image build read from
 * per/). With no receipts given, the closure is the whole store: every logged
 * receipt and every root record, but not unreferenced residue of interrupted
 * writes (which gc would remove).
 *
 * The source store is read as untrusted too: every receipt and tree is re-hashed
 * and parsed, receipts are verified against the store's trusted keys, and a
 * symlink in the object folder is refused. The walk reads objects through one
 * ObjectReader (each pack opened once): a Debian root is thousands of objects.
 */
import { lstat, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Digest } from '../core/digest.js';
import { digestHex, isDigest } from '../core/digest.js';
import { AslError, fsError } from '../core/errors.js';
import { printable } from '../core/printable.js';
import { TEMP_MARK } from '../core/write-file-atomic.js';
import { ObjectReader } from '../store/object-reader.js';
import { PUT_REFS_DIR, type RootRecord } from '../store/put.js';
import { readReceiptLog, verifyLog, type LogRecord } from '../receipt/receipt-log.js';
import type { Store } from '../store/store.js';
import { decodeTimes } from '../store/times-model.js';
import { decodeTree, TREE_MAGIC } from '../store/tree-model.js';
import { loadTrustedKeys, type TrustedKeySet } from '../receipt/trusted-keys.js';
import { referencedArtifacts } from '../receipt/verify-receipts.js';
import { verifyEnvelope } from '../receipt/verify.js';
import { assertStatement } from '../receipt/validate.js';
import type { PerCore, Statement } from '../receipt/types.js';

export interface ClosureReceipt {
  id: Digest;
  step: string;
  /** The time of the source's log entry. */
  time: string;
  /** The entry's sequence number in the source log. */
  seq: number;
}

export interface Closure {
  /** Logged receipts in the closure, in the source log's order. */
  receipts: ClosureReceipt[];
  /** Every object of the closure: digest -> size in bytes. */
  objects: Map<Digest, number>;
  /** Root records (refs/put) of trees and blobs in the closure. */
  roots: RootRecord[];
  /** Key ids whose signatures made the logged receipts verify. */
  signers: Set<string>;
  /** True when no receipts were named (the whole store). */
  whole: boolean;
  /** Harmless findings, e.g. an artifact of a foreign receipt that is not in the store. */
  notes: string[];
}

export interface ClosureOptions {
  /** Receipt ids, unique id prefixes or step names; empty or absent: the whole store. */
  receipts?: readonly string[];
  /**
   * With the whole store, also the roots stored with `asl put` that no receipt
   * reaches (a seed: a local copy). A bundle or a push leaves them out: nothing
   * signed vouches for them, and an import takes no unsigned root (docs/security.md).
   */
  unsignedRoots?: boolean;
}

/**
 * Turns what the operator typed into logged receipt ids: a full id, a step name
 * (all receipts of that step), or an unambiguous prefix of at least 8 hex digits.
 */
function resolveReceiptArgs(records: readonly LogRecord[], args: readonly string[]): Digest[] {
  const out: Digest[] = [];
  const add = (id: Digest) => {
    if (!out.includes(id)) out.push(id);
  };
  for (const arg of args) {
    if (isDigest(arg)) {
      if (!records.some((r) => r.entry.receipt === arg))
        throw new AslError('NOT_FOUND', `receipt ${arg} is not in the store's receipt log`);
      add(arg);
      continue;
    }
    const byStep = records.filter((r) => r.entry.step === arg);
    if (byStep.length > 0) {
      for (const r of byStep) add(r.entry.receipt);
      continue;
    }
    const hex = arg.startsWith('sha256:') ? arg.slice(7) : arg;
    if (/^[0-9a-f]{8,64}$/.test(hex)) {
      const ids = [...new Set(records.map((r) => r.entry.receipt).filter((id) => digestHex(id).startsWith(hex)))];
      if (ids.length > 1)
        throw new AslError('BAD_INPUT', `receipt prefix ${arg} is ambiguous (${ids.length} receipts match)`);
      if (ids.length === 1) {
        add(ids[0]!);
        continue;
      }
    }
    throw new AslError('NOT_FOUND', `${arg}: no logged receipt has this id, id prefix or step name`);
  }
  return out;
}

interface ObjectInfo {
  size: number;
  tree: boolean;
}

/** Size and kind of an object without trusting the folder: a symbolic link or a non-regular file is refused. */
function objectInfo(reader: ObjectReader, digest: Digest): ObjectInfo | null {
  const loc = reader.locate(digest);
  if (!loc) return null;
  const head = reader.head(digest, TREE_MAGIC.length, loc);
  return { size: loc.size, tree: head.equals(TREE_MAGIC) };
}

/** Every root record of the store (refs/put), checked: the file name is the id it records. */
async function readRootRecords(store: Store): Promise<Map<Digest, RootRecord>> {
  const dir = join(store.root, PUT_REFS_DIR);
  const out = new Map<Digest, RootRecord>();
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return out;
    throw fsError(dir, err);
  }
  for (const name of names.sort()) {
    if (name.includes(TEMP_MARK)) continue;
    const path = join(dir, name);
    const st = await lstat(path);
    if (!st.isFile()) throw new AslError('CORRUPT', `${path}: root record is not a regular file`);
    let rec: RootRecord;
    try {
      rec = JSON.parse(await readFile(path, 'utf8')) as RootRecord;
    } catch {
      throw new AslError('CORRUPT', `${path}: root record is not JSON`);
    }
    const bad = checkRootRecord(rec);
    if (bad) throw new AslError('CORRUPT', `${path}: root record ${bad}`);
    if (`sha256:${name}` !== rec.id)
      throw new AslError('CORRUPT', `${path}: root record names ${rec.id}, not the id in its file name`);
    out.set(rec.id as Digest, rec);
  }
  return out;
}

/** What is wrong with a root record's shape, or null. */
export function checkRootRecord(rec: unknown): string | null {
  const r = rec as Partial<RootRecord> | null;
  if (typeof r !== 'object' || r === null || Array.isArray(r)) return 'is not an object';
  if (!isDigest(r.id)) return 'has no valid id';
  if (r.kind !== 'tree' && r.kind !== 'blob') return `has kind ${JSON.stringify(r.kind)}`;
  if (r.times !== undefined && !isDigest(r.times)) return 'has an invalid times id';
  if (typeof r.source !== 'string' || typeof r.at !== 'string') return 'lacks source or at';
  const extra = Object.keys(r).filter((k) => !['id', 'kind', 'times', 'source', 'at'].includes(k));
  if (extra.length > 0) return `has unknown field ${extra[0]}`;
  return null;
}

/** Parses a receipt's statement without checking who signed it (for receipts outside the log). */
function unverifiedStatement(bytes: Buffer): Statement | null {
  try {
    const env = JSON.parse(bytes.toString('utf8')) as { payload?: unknown };
    if (typeof env?.payload !== 'string') return null;
    const value: unknown = JSON.parse(Buffer.from(env.payload, 'base64').toString('utf8'));
    assertStatement(value);
    return value;
  } catch {
    return null;
  }
}

export async function computeClosure(store: Store, opts: ClosureOptions = {}): Promise<Closure> {
  const keys: TrustedKeySet = await loadTrustedKeys(store);
  const logCheck = await verifyLog(store, { keys, checkReceipts: false });
  if (logCheck.problems.length > 0) {
    throw new AslError(
      'CORRUPT',
      `${store.root}: the receipt log does not verify: ${logCheck.problems[0]!.message} (run \`asl verify\`)`,
    );
  }
  const { records } = await readReceiptLog(store);
  const logged = new Map<Digest, LogRecord>();
  for (const r of records) if (!logged.has(r.entry.receipt)) logged.set(r.entry.receipt, r);
  const whole = !opts.receipts || opts.receipts.length === 0;
  const selected = whole ? [...logged.keys()] : resolveReceiptArgs(records, opts.receipts!);
  const rootRecords = await readRootRecords(store);

  const objects = new Map<Digest, number>();
  const roots: RootRecord[] = [];
  const signers = new Set<string>();
  const notes: string[] = [];
  const inClosure = new Set<Digest>();
  const visited = new Set<Digest>();
  const absent = new Set<Digest>();

  const reader = new ObjectReader(store);
  /** Adds an artifact and everything below it; `required` artifacts must be present. */
  const addArtifact = (digest: Digest, required: boolean, label: string): void => {
    if (visited.has(digest) && !(required && absent.has(digest))) return;
    visited.add(digest);
    const info = objectInfo(reader, digest);
    if (!info) {
      absent.add(digest);
      if (required)
        throw new AslError(
          'CORRUPT',
          `${label} names artifact ${digest}, which is not in the store (run \`asl verify\`)`,
        );
      notes.push(
        `${label} names artifact ${digest}, which is not in the store (a receipt from elsewhere; not needed to verify)`,
      );
      return;
    }
    objects.set(digest, info.size);
    const root = rootRecords.get(digest);
    if (root) {
      roots.push(root);
      if (root.times) {
        if (!objectInfo(reader, root.times as Digest))
          throw new AslError(
            'CORRUPT',
            `timestamps ${root.times} recorded for ${digest} are not in the store (run \`asl verify\`)`,
          );
        const times = decodeTimes(reader.read(root.times as Digest), root.times);
        if (times.tree !== digest)
          throw new AslError('CORRUPT', `timestamps ${root.times} recorded for ${digest} belong to tree ${times.tree}`);
        addArtifact(root.times as Digest, true, `the root record of ${digest}`);
      }
    }
    if (info.tree) {
      const tree = decodeTree(reader.read(digest), digest);
      for (const e of tree.entries) {
        if (e.digest !== undefined)
          addArtifact(e.digest, required, `tree ${digest} entry ${JSON.stringify(e.name.toString('utf8'))}`);
      }
    }
  };

  try {
    const queue: Digest[] = [...selected];
    const seenReceipts = new Set<Digest>();
    while (queue.length > 0) {
      const id = queue.shift()!;
      if (seenReceipts.has(id)) continue;
      seenReceipts.add(id);
      const record = logged.get(id);
      const label = `receipt ${id}${record ? ` (step ${record.entry.step})` : ''}`;
      if (!objectInfo(reader, id)) {
        if (record) throw new AslError('CORRUPT', `${label} is in the log but not in the store (run \`asl verify\`)`);
        notes.push(`${label} is named as an input but is not in the store`);
        continue;
      }
      const bytes = reader.read(id);
      let core: PerCore;
      if (record) {
        const verified = verifyEnvelope(bytes, keys, { receiptId: id });
        signers.add(verified.keyId);
        core = verified.statement.predicate.core;
        inClosure.add(id);
      } else {
        // A receipt object found as an input (e.g. in per/) that this store never logged:
        // carried as an artifact; what it names is carried when present.
        const statement = unverifiedStatement(bytes);
        addArtifact(id, true, label);
        if (!statement) {
          notes.push(`${label} is not a readable receipt; carried as a plain artifact`);
          continue;
        }
        core = statement.predicate.core;
      }
      addArtifact(id, true, label);
      for (const ref of referencedArtifacts(core)) addArtifact(ref.digest, !!record, `${label} ${ref.label}`);
      for (const a of [...core.inputs, ...core.outputs]) if (a.kind === 'receipt') queue.push(a.digest);
    }
    if (whole && opts.unsignedRoots) {
      for (const [id] of rootRecords) addArtifact(id, true, `root record ${id}`);
    } else if (whole) {
      const left = [...rootRecords.keys()].filter((id) => !objects.has(id));
      if (left.length > 0)
        notes.push(
          `${left.length} root(s) stored with \`asl put\` that no receipt reaches are not carried (e.g. ${left[0]}, from ${JSON.stringify(printable(rootRecords.get(left[0]!)!.source))}): nothing signed vouches for them; capture them (\`asl capture --file\`) to carry them`,
        );
    }
  } finally {
    reader.close();
  }
  const receipts: ClosureReceipt[] = [];
  const listed = new Set<Digest>();
  for (const r of records) {
    if (inClosure.has(r.entry.receipt) && !listed.has(r.entry.receipt)) {
      listed.add(r.entry.receipt);
      receipts.push({ id: r.entry.receipt, step: r.entry.step, time: r.entry.time, seq: r.entry.seq });
    }
  }
  roots.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { receipts, objects, roots, signers, whole, notes };
}

/** The closure's objects sorted by digest (the order bundles and seeds write them). */
export function sortedObjects(closure: Closure): Array<{ digest: Digest; size: number }> {
  return [...closure.objects]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([digest, size]) => ({ digest, size }));
}
