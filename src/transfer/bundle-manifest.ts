/**
 * The bundle manifest (`asl-bundle.json`, the first entry of every bundle) and
 * the bundle's entry names. Pure: encode, decode, validate. The manifest is a
 * table of contents, not a source of trust: every object it lists is checked
 * against its digest, every receipt against the importing store's trusted keys.
 */
import { canonicalBytes } from '../core/canonical-json.js';
import type { Digest } from '../core/digest.js';
import { digestFromHex, digestHex, isDigest } from '../core/digest.js';
import { AslError } from '../core/errors.js';
import type { RootRecord } from '../store/put.js';
import { checkRootRecord } from './closure.js';

export const BUNDLE_FORMAT = 'asl-bundle';
export const BUNDLE_VERSION = 1;
export const MANIFEST_NAME = 'asl-bundle.json';
/** Largest manifest accepted (a 6,000-object Debian root needs about 600 KB). */
export const MAX_MANIFEST_BYTES = 256 * 1024 * 1024;
export const MAX_KEY_BYTES = 16 * 1024;

export interface BundleReceipt {
  id: Digest;
  step: string;
  /** The time of the exporting store's log entry (informational). */
  time: string;
}

export interface BundleObject {
  digest: Digest;
  size: number;
}

export interface BundleManifest {
  format: typeof BUNDLE_FORMAT;
  version: typeof BUNDLE_VERSION;
  /** Receipts to log in the importing store, in the exporting store's log order. */
  receipts: BundleReceipt[];
  /** Root records (refs/put) for trees of the closure: where their timestamps are. */
  roots: RootRecord[];
  /** Key ids of the public keys carried under keys/ (the receipts' signers). Never trusted by themselves. */
  keys: string[];
  /** Every object in the bundle, sorted by digest. */
  objects: BundleObject[];
  totals: { objects: number; bytes: number };
}

export function objectEntryName(digest: Digest): string {
  const hex = digestHex(digest);
  return `objects/sha256/${hex.slice(0, 2)}/${hex.slice(2)}`;
}

export function keyEntryName(keyId: string): string {
  return `keys/${keyId}.pub`;
}

const OBJECT_NAME_RE = /^objects\/sha256\/([0-9a-f]{2})\/([0-9a-f]{62})$/;
const KEY_NAME_RE = /^keys\/([0-9a-f]{64})\.pub$/;
const KEY_ID_RE = /^[0-9a-f]{64}$/;
const TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

export type EntryName = { kind: 'manifest' } | { kind: 'object'; digest: Digest } | { kind: 'key'; keyId: string };

/**
 * What a tar entry name means in a bundle, or null when it is none of the three
 * forms. Names are matched exactly, so `../x`, `/etc/x`, `objects/../x` or a
 * doubled slash can never name anything.
 */
export function parseEntryName(name: string): EntryName | null {
  if (name === MANIFEST_NAME) return { kind: 'manifest' };
  const o = OBJECT_NAME_RE.exec(name);
  if (o) return { kind: 'object', digest: digestFromHex(o[1]! + o[2]!) };
  const k = KEY_NAME_RE.exec(name);
  if (k) return { kind: 'key', keyId: k[1]! };
  return null;
}

export function encodeManifest(m: BundleManifest): Buffer {
  return Buffer.concat([canonicalBytes(m), Buffer.from('\n')]);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Parses and validates a manifest; every problem is collected, the first few reported. */
export function decodeManifest(bytes: Buffer, label: string): BundleManifest {
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new AslError('BAD_INPUT', `${label}: ${MANIFEST_NAME} is not JSON`);
  }
  const m = raw as Record<string, unknown> | null;
  if (typeof m !== 'object' || m === null || m.format !== BUNDLE_FORMAT)
    throw new AslError('BAD_INPUT', `${label}: ${MANIFEST_NAME} does not describe an ASL bundle`);
  if (m.version !== BUNDLE_VERSION)
    throw new AslError(
      'UNSUPPORTED',
      `${label}: bundle format version ${String(m.version)} is not supported (this asl reads version ${BUNDLE_VERSION})`,
    );
  const problems: string[] = [];
  const list = (field: string): unknown[] => {
    const v = m[field];
    if (!Array.isArray(v)) {
      problems.push(`${field} is not a list`);
      return [];
    }
    return v;
  };
  const receipts = list('receipts') as BundleReceipt[];
  const seen = new Set<string>();
  receipts.forEach((r, i) => {
    if (
      typeof r !== 'object' ||
      r === null ||
      !isDigest(r.id) ||
      typeof r.step !== 'string' ||
      typeof r.time !== 'string' ||
      !TIME_RE.test(r.time) ||
      Object.keys(r).length !== 3
    ) {
      problems.push(`receipts[${i}] is not {id, step, time}`);
    } else if (seen.has(r.id)) problems.push(`receipt ${r.id} is listed twice`);
    else seen.add(r.id);
  });
  const roots = list('roots') as RootRecord[];
  roots.forEach((r, i) => {
    const bad = checkRootRecord(r);
    if (bad) problems.push(`roots[${i}] ${bad}`);
    else if (i > 0 && compare(roots[i - 1]!.id, r.id) >= 0)
      problems.push(`roots are not sorted by id without repeats (at ${r.id})`);
  });
  const keys = list('keys') as string[];
  keys.forEach((k, i) => {
    if (typeof k !== 'string' || !KEY_ID_RE.test(k)) problems.push(`keys[${i}] is not a key id`);
    else if (i > 0 && compare(keys[i - 1]!, k) >= 0) problems.push('keys are not sorted without repeats');
  });
  const objects = list('objects') as BundleObject[];
  let bytesTotal = 0;
  objects.forEach((o, i) => {
    if (
      typeof o !== 'object' ||
      o === null ||
      !isDigest(o.digest) ||
      !Number.isSafeInteger(o.size) ||
      o.size < 0 ||
      Object.keys(o).length !== 2
    ) {
      problems.push(`objects[${i}] is not {digest, size}`);
      return;
    }
    if (i > 0 && compare(objects[i - 1]!.digest, o.digest) >= 0)
      problems.push(`objects are not sorted by digest without repeats (at ${o.digest})`);
    bytesTotal += o.size;
  });
  const totals = m.totals as { objects?: unknown; bytes?: unknown } | undefined;
  if (!totals || totals.objects !== objects.length || totals.bytes !== bytesTotal)
    problems.push(`totals do not match the object list (${objects.length} objects, ${bytesTotal} bytes)`);
  const known = new Set(['format', 'version', 'receipts', 'roots', 'keys', 'objects', 'totals']);
  for (const k of Object.keys(m)) if (!known.has(k)) problems.push(`unknown field ${JSON.stringify(k)}`);
  if (problems.length === 0) {
    // Everything the manifest names as a receipt or a root must travel in the bundle.
    const listed = new Set(objects.map((o) => o.digest));
    for (const r of receipts) if (!listed.has(r.id)) problems.push(`receipt ${r.id} is not in the object list`);
    for (const r of roots) {
      if (!listed.has(r.id as Digest)) problems.push(`root ${r.id} is not in the object list`);
      if (r.times && !listed.has(r.times as Digest))
        problems.push(`timestamps ${r.times} of root ${r.id} are not in the object list`);
    }
  }
  if (problems.length > 0) {
    throw new AslError(
      'BAD_INPUT',
      `${label}: ${MANIFEST_NAME} is malformed: ${problems.slice(0, 3).join('; ')}${problems.length > 3 ? ` (+${problems.length - 3} more)` : ''}`,
    );
  }
  return m as unknown as BundleManifest;
}
