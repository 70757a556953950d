/**
 * `asl export`: receipts of a store as in-toto link metadata or SLSA Provenance v1
 * statements in DSSE, signed with the store's key. Every receipt is verified
 * first (the receipt log's chain and signed head, the receipt's signature and core
 * digest), all files are built in memory, then written; a failure writes nothing.
 */
import { join, resolve } from 'node:path';
import { isDigest, type Digest } from '../../core/digest.js';
import { AslError, fsError } from '../../core/errors.js';
import { writeFileAtomic } from '../../core/write-file-atomic.js';
import { loadSigningKey } from '../../store/keys.js';
import { objectExists } from '../../store/object-batch.js';
import { readObject } from '../../store/object-read.js';
import { readReceiptLog, verifyLog, type LogRecord } from '../receipt-log.js';
import type { Store } from '../../store/store.js';
import { makeDirs, STORE_MODES } from '../../store/store-modes.js';
import { loadTrustedKeys } from '../trusted-keys.js';
import { keySigner, signEnvelope } from '../sign.js';
import { readReceipt, type StoredReceipt } from '../store-receipt.js';
import { IN_TOTO_PAYLOAD_TYPE } from '../types.js';
import { canonicalBytes } from '../../core/canonical-json.js';
import { exportPath, normalizeBase, receiptFiles, TreeExpander, type SkippedCounts } from './artifact-files.js';
import { buildLink, linkFileName, rebuildNotExported, signLink, sslibPublicKey, type LinkLogs } from './intoto-link.js';
import { buildSlsaStatement } from './slsa.js';

export const EXPORT_FORMATS = ['intoto-link', 'slsa'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** Logs larger than this are not inlined in a link's byproducts (their digest is kept). */
const LINK_LOG_INLINE_LIMIT = 1024 * 1024;

export interface ExportOptions {
  format: ExportFormat;
  /** Output directory, created if missing. */
  outDir: string;
  /** Paths under this directory are written relative to it (docs/export.md "Paths"). */
  base?: string;
}

export interface ExportedFile {
  receipt: Digest;
  step: string;
  file: string;
  bytes: number;
  materials: number;
  products: number;
}

export interface ExportResult {
  format: ExportFormat;
  outDir: string;
  files: ExportedFile[];
  /** securesystemslib keyid of the store key (intoto-link) or ASL key id (slsa). */
  keyId: string;
  /** intoto-link: the store's public key in securesystemslib form, for layouts. */
  publicKeyFile?: string;
  skipped: SkippedCounts;
}

/** A step name usable in a file name: no `/`, not `.` or `..`, no NUL. */
function safeStepName(step: string, id: string): string {
  if (step === '' || step === '.' || step === '..' || /[/\0]/.test(step)) {
    throw new AslError('UNSUPPORTED', `receipt ${id}: step name ${JSON.stringify(step)} cannot name an export file`);
  }
  return step;
}

/**
 * Resolves each RECEIPT argument to a logged receipt: a receipt id, or a step name
 * that exactly one logged receipt has.
 */
async function resolveReceiptRefs(
  store: Store,
  refs: readonly string[],
  records: readonly LogRecord[],
): Promise<Array<{ id: Digest; step: string }>> {
  if (refs.length === 0)
    throw new AslError('USAGE', 'export: name at least one RECEIPT (a receipt id sha256:… or a step name)');
  const byId = new Map(records.map((r) => [r.entry.receipt, r.entry]));
  const out = new Map<Digest, { id: Digest; step: string }>();
  for (const ref of refs) {
    if (ref.startsWith('sha256:')) {
      if (!isDigest(ref)) throw new AslError('BAD_INPUT', `${ref}: not a receipt id (expected sha256:<64 hex digits>)`);
      const entry = byId.get(ref);
      if (!entry) {
        if (await objectExists(store, ref))
          throw new AslError(
            'VERIFY_FAILED',
            `${ref}: not in the receipt log of ${store.root} (an unlogged object is not a receipt of this store)`,
          );
        throw new AslError('NOT_FOUND', `${ref}: no such receipt in ${store.root}`);
      }
      out.set(ref, { id: ref, step: entry.step });
      continue;
    }
    const hits = records.filter((r) => r.entry.step === ref);
    if (hits.length === 0) {
      const steps = [...new Set(records.map((r) => r.entry.step))];
      throw new AslError(
        'NOT_FOUND',
        `${ref}: no receipt has this step name (steps in the log: ${steps.join(', ') || 'none'})`,
      );
    }
    if (hits.length > 1) {
      throw new AslError(
        'BAD_INPUT',
        `${ref}: step name is ambiguous, ${hits.length} receipts have it (${hits.map((h) => `seq ${h.entry.seq} ${h.entry.receipt}`).join(', ')}); name one by id`,
      );
    }
    out.set(hits[0]!.entry.receipt, { id: hits[0]!.entry.receipt, step: ref });
  }
  return [...out.values()];
}

async function readLog(store: Store, receipt: StoredReceipt, role: 'stdout' | 'stderr'): Promise<LinkLogs['stdout']> {
  const ref = receipt.statement.predicate.core.outputs.find((o) => o.kind === 'log' && o.role === role);
  if (!ref) return undefined;
  if (ref.size !== undefined && ref.size > LINK_LOG_INLINE_LIMIT) {
    return { digest: ref.digest, text: `[asl: ${ref.size} bytes, not inlined; asl cat --store STORE ${ref.digest}]` };
  }
  const bytes = await readObject(store, ref.digest);
  if (bytes.length > LINK_LOG_INLINE_LIMIT)
    return {
      digest: ref.digest,
      text: `[asl: ${bytes.length} bytes, not inlined; asl cat --store STORE ${ref.digest}]`,
    };
  // Invalid UTF-8 is replaced (U+FFFD); environment.asl keeps the exact log's digest.
  return { digest: ref.digest, text: bytes.toString('utf8') };
}

/** Exports receipts of `store` (ids or step names) into `opts.outDir`. */
export async function exportReceipts(
  store: Store,
  refs: readonly string[],
  opts: ExportOptions,
): Promise<ExportResult> {
  if (!(EXPORT_FORMATS as readonly string[]).includes(opts.format)) {
    throw new AslError(
      'USAGE',
      `export: unknown --format ${JSON.stringify(opts.format)} (one of ${EXPORT_FORMATS.join(', ')})`,
    );
  }
  const keys = await loadTrustedKeys(store);
  const log = await verifyLog(store, { keys, checkReceipts: false });
  if (log.problems.length > 0) {
    const p = log.problems[0]!;
    throw new AslError(
      'VERIFY_FAILED',
      `${store.root}: receipt log does not verify, nothing exported: ${p.message}${log.problems.length > 1 ? ` (and ${log.problems.length - 1} more; run \`asl verify\`)` : ''}`,
    );
  }
  const { records } = await readReceiptLog(store);
  const chosen = await resolveReceiptRefs(store, refs, records);
  const receipts: StoredReceipt[] = [];
  for (const { id } of chosen) receipts.push(await readReceipt(store, id, { keys }));
  const verdict = receipts.find((r) => r.statement.predicate.core.kind === 'rebuild');
  if (verdict) throw rebuildNotExported(verdict.id);

  const base = normalizeBase(opts.base);
  const pathOpts = base ? { base } : {};
  const signing = await loadSigningKey(store.root);
  const expander = new TreeExpander(store);
  const skipped: SkippedCounts = { nonUtf8: 0, special: 0, pathless: 0 };
  const pending: Array<{ file: string; data: Buffer; info: ExportedFile }> = [];
  const sslib = sslibPublicKey(signing.publicKey);
  const names = new Map<string, Digest>();
  let underBase = 0;

  for (const receipt of receipts) {
    const { core, coreDigest, run } = receipt.statement.predicate;
    const step = safeStepName(core.step, receipt.id);
    const { materials, products } = await receiptFiles(store, expander, receipt.id, core, pathOpts);
    for (const s of [materials, products]) {
      skipped.nonUtf8 += s.skipped.nonUtf8;
      skipped.special += s.skipped.special;
      skipped.pathless += s.skipped.pathless;
      if (base)
        for (const p of s.files.keys())
          if (!p.startsWith('/')) {
            underBase++;
            break;
          }
    }
    let file: string;
    let data: Buffer;
    if (opts.format === 'intoto-link') {
      file = linkFileName(step, sslib.keyid);
      const logs: LinkLogs = {};
      const stdout = await readLog(store, receipt, 'stdout');
      const stderr = await readLog(store, receipt, 'stderr');
      if (stdout) logs.stdout = stdout;
      if (stderr) logs.stderr = stderr;
      const link = buildLink(receipt.id, core, coreDigest, run, materials.files, products.files, logs);
      data = Buffer.from(`${JSON.stringify(signLink(link, signing.privateKey, sslib.keyid), null, 1)}\n`);
    } else {
      file = `${step}.${receipt.id.slice(7, 19)}.slsa.dsse.json`;
      const statement = buildSlsaStatement(receipt.id, core, coreDigest, run, materials.files, products.files, (p) =>
        exportPath(p, pathOpts),
      );
      const envelope = signEnvelope(IN_TOTO_PAYLOAD_TYPE, canonicalBytes(statement), keySigner(signing));
      data = Buffer.from(`${JSON.stringify(envelope)}\n`);
    }
    const clash = names.get(file);
    if (clash) {
      throw new AslError(
        'BAD_INPUT',
        `${receipt.id} and ${clash} are both step ${JSON.stringify(step)}: in-toto takes one link per step and key; export them into different directories`,
      );
    }
    names.set(file, receipt.id);
    pending.push({
      file,
      data,
      info: {
        receipt: receipt.id,
        step,
        file,
        bytes: data.length,
        materials: materials.files.size,
        products: products.files.size,
      },
    });
  }

  // A mistyped --base would silently leave every path absolute, and layouts written
  // for relative paths would then match nothing (or, worse, allow everything).
  if (base && underBase === 0) {
    throw new AslError(
      'BAD_INPUT',
      `--base ${base}: none of the exported receipts recorded a path under it; nothing exported`,
    );
  }
  const outDir = resolve(opts.outDir);
  try {
    await makeDirs(outDir);
  } catch (err) {
    throw fsError(outDir, err, 'cannot create the output directory');
  }
  const write = async (name: string, data: Buffer) => {
    try {
      await writeFileAtomic(join(outDir, name), data, { durable: 'file', mode: STORE_MODES.file });
    } catch (err) {
      throw fsError(join(outDir, name), err, 'cannot write');
    }
  };
  let publicKeyFile: string | undefined;
  if (opts.format === 'intoto-link') {
    publicKeyFile = `asl-store.${sslib.keyid.slice(0, 8)}.pub`;
    await write(publicKeyFile, Buffer.from(`${JSON.stringify(sslib.key, null, 1)}\n`));
  }
  for (const p of pending) await write(p.file, p.data);
  return {
    format: opts.format,
    outDir,
    files: pending.map((p) => p.info),
    keyId: opts.format === 'intoto-link' ? sslib.keyid : signing.keyId,
    ...(publicKeyFile ? { publicKeyFile } : {}),
    skipped,
  };
}
