/**
 * What both SBOM formats say beyond the audit: the image's operating system (its
 * os-release, read from the tree), when the image was recorded, the receipts its
 * content came from, and a stable serial number.
 */
import { createHash } from 'node:crypto';
import type { Digest } from '../core/digest.js';
import { AslError } from '../core/errors.js';
import { readObject } from '../store/object-read.js';
import type { Store } from '../store/store.js';
import type { AuditResult, StepRef } from './audit.js';
import { TreeReader } from './why-tree-path.js';

export interface OsRelease {
  /** ID, e.g. "debian" (the purl vendor). */
  id: string;
  name?: string;
  versionId?: string;
  prettyName?: string;
}

export interface SbomContext {
  os: OsRelease;
  /** RFC 3339: when the receipt the tree is from finished (the time the image was recorded), else now. */
  recordedOn: string;
  /** Receipts the image's content came from (steps, downloads of its .debs, ingests), in log order. */
  receipts: StepRef[];
  /** A version 5 UUID named by the tree and its receipt: the same image, the same serial number. */
  uuid: string;
}

function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (!m) continue;
    let v = m[2]!;
    if (/^".*"$|^'.*'$/.test(v)) v = v.slice(1, -1).replace(/\\(["'$`\\])/g, '$1');
    out[m[1]!] = v;
  }
  return out;
}

async function osRelease(store: Store, tree: Digest): Promise<OsRelease> {
  const reader = new TreeReader(store);
  for (const path of ['etc/os-release', 'usr/lib/os-release']) {
    try {
      const r = await reader.resolve(tree, Buffer.from(path), { followLast: true });
      if (r.entry.type !== 'file') continue;
      const f = parseOsRelease((await readObject(store, r.entry.digest!)).toString('utf8'));
      const id = f.ID && /^[a-z0-9._-]+$/.test(f.ID) ? f.ID : 'debian';
      return {
        id,
        ...(f.NAME ? { name: f.NAME } : {}),
        ...(f.VERSION_ID ? { versionId: f.VERSION_ID } : {}),
        ...(f.PRETTY_NAME ? { prettyName: f.PRETTY_NAME } : {}),
      };
    } catch (err) {
      if (!(err instanceof AslError) || (err.code !== 'NOT_FOUND' && err.code !== 'SYMLINK_LOOP')) throw err;
    }
  }
  return { id: 'debian' };
}

/** RFC 9562 version 5 (SHA-1, name based) UUID of `name` in the URL namespace. */
function uuidV5(name: string): string {
  const ns = Buffer.from('6ba7b8119dad11d180b400c04fd430c8', 'hex');
  const h = createHash('sha1').update(ns).update(name).digest().subarray(0, 16);
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

export async function sbomContext(store: Store, result: AuditResult): Promise<SbomContext> {
  const seen = new Map<number, StepRef>();
  const add = (r: StepRef | null | undefined) => {
    if (r && !seen.has(r.seq)) seen.set(r.seq, { seq: r.seq, receipt: r.receipt, step: r.step });
  };
  for (const h of result.history) if (h.kind === 'step') add(h);
  for (const s of result.steps) add(s);
  for (const p of result.packages) add(p.deb);
  for (const e of result.entries) add(e.ingested);
  const t = result.target;
  return {
    os: await osRelease(store, t.tree),
    recordedOn: t.receipt?.finishedOn ?? new Date().toISOString(),
    receipts: [...seen.values()].sort((a, b) => a.seq - b.seq),
    uuid: uuidV5(`https://asl.dev/sbom/${t.tree}/${t.receipt?.receipt ?? ''}`),
  };
}

/** The file name `asl export --format slsa` gives a receipt's SLSA Provenance. */
export function slsaExportName(r: StepRef): string {
  return `${r.step}.${r.receipt.slice(7, 19)}.slsa.dsse.json`;
}
