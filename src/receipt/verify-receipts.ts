/**
 * The receipt steps of `asl verify`: the log's chain and signed head, every
 * logged receipt's signature and core digest against the trusted keys, and every
 * artifact a receipt names present in the store (which makes those artifacts
 * roots: the trees they name must be complete).
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Digest } from '../core/digest.js';
import { isDigest } from '../core/digest.js';
import { AslError } from '../core/errors.js';
import { describeLocation, locateObjectSync } from '../store/object-locate.js';
import { readReceiptLog, verifyLog, type LogRecord } from '../store/receipt-log.js';
import { loadTrustedKeys } from '../store/trusted-keys.js';
import { verifyStore, type VerifyReport, type VerifyStep } from '../store/verify.js';
import type { Store } from '../store/store.js';
import { readReceipt } from './store-receipt.js';
import type { PerCore } from './types.js';
import { ReceiptVerifyError } from './verify.js';

/** Every artifact id a receipt core names, with a label for messages. */
export function referencedArtifacts(core: PerCore): Array<{ label: string; digest: Digest; kind?: string }> {
  const refs: Array<{ label: string; digest: Digest; kind?: string }> = [];
  for (const a of core.inputs) refs.push({ label: `input ${a.name}`, digest: a.digest, kind: a.kind });
  for (const a of core.outputs) refs.push({ label: `output ${a.name}`, digest: a.digest, kind: a.kind });
  if (core.kind === 'command') {
    for (const p of core.program) refs.push({ label: `program ${p.path}`, digest: p.digest });
    for (const w of core.watched) {
      if (w.before) refs.push({ label: `watched ${w.path} (before)`, digest: w.before });
      if (w.after) refs.push({ label: `watched ${w.path} (after)`, digest: w.after });
      if (w.paths) refs.push({ label: `change list of ${w.path}`, digest: w.paths });
    }
  }
  return refs.filter((r) => isDigest(r.digest));
}

/** The log entries the log step could parse, for the receipts and per steps (even when the log is damaged). */
const loggedRecords = new WeakMap<object, LogRecord[]>();

/** One line for a receipt that did not verify; the receipt is already named by `where`. */
function receiptFailure(id: string, where: string, err: unknown): { message: string; expected?: string; actual?: string } {
  if (!(err instanceof AslError)) return { message: `${where}: ${String(err)}` };
  const text = err.message.startsWith(`receipt ${id}: `) ? err.message.slice(`receipt ${id}: `.length) : err.message;
  if (!(err instanceof ReceiptVerifyError)) return { message: `${where}: ${text}` };
  const rejected = (err.data?.rejected ?? []) as Array<{ keyid: string; reason: string }>;
  if (err.stage === 'signature' && rejected.length > 0 && rejected.every((r) => r.reason === 'untrusted-key')) {
    const signers = rejected.map((r) => r.keyid || '(no keyid)').join(', ');
    const trusted = ((err.data?.trusted ?? []) as string[]).map((k) => k.slice(0, 16)).join(', ') || 'none';
    return {
      message: `${where}: signed by key ${signers}, which this store does not trust (trusted: ${trusted}); if that key is genuine, trust it with \`asl key trust --store S KEY.pub\``,
      expected: `a signature by a trusted key (${trusted})`, actual: signers,
    };
  }
  return { message: `${where}: ${text}`, expected: err.expected, actual: err.actual };
}

const logStep: VerifyStep = {
  name: 'log',
  async run(ctx) {
    const keys = await loadTrustedKeys(ctx.store);
    const result = await verifyLog(ctx.store, { keys, checkReceipts: false });
    loggedRecords.set(ctx, result.records);
    for (const p of result.problems) {
      ctx.problems.push({
        step: 'log',
        subject: p.seq !== undefined ? `log entry ${p.seq}` : 'log head',
        message: `receipt log: ${p.message}`,
        ...(p.expected !== undefined ? { expected: p.expected } : {}),
        ...(p.actual !== undefined ? { actual: p.actual } : {}),
      });
    }
    if (result.uncommittedBytes > 0) ctx.notes.push(`receipt log: ${result.uncommittedBytes} bytes past the signed head (an append that did not finish; ignored)`);
    ctx.counts.logEntries = result.entries;
  },
};

const receiptsStep: VerifyStep = {
  name: 'receipts',
  async run(ctx) {
    const keys = await loadTrustedKeys(ctx.store);
    let records = loggedRecords.get(ctx);
    if (!records) {
      try {
        records = (await readReceiptLog(ctx.store)).records;
      } catch (err) {
        ctx.problems.push({ step: 'receipts', subject: 'log', message: `receipt log unreadable: ${(err as Error).message}` });
        return;
      }
    }
    let checked = 0;
    for (const { entry } of records) {
      const id = entry.receipt;
      ctx.roots.add(id);
      const where = `receipt ${id} (step ${entry.step}, log entry ${entry.seq})`;
      if (!ctx.objects.has(id)) {
        ctx.problems.push({ step: 'receipts', subject: id, message: `${where} is missing from the store` });
        continue;
      }
      if (ctx.corrupt.has(id)) {
        // Reported by the objects step as an object: say it is this receipt.
        const p = ctx.problems.find((q) => (q.step === 'objects' || q.step === 'packs') && q.subject === id);
        const loc = locateObjectSync(ctx.store, id);
        if (p) p.message = `${where} is corrupt: its bytes hash to ${p.actual}${loc ? ` (${describeLocation(loc)})` : ''}`;
        continue;
      }
      let core: PerCore;
      try {
        core = (await readReceipt(ctx.store, id, { keys })).statement.predicate.core;
      } catch (err) {
        ctx.problems.push({ step: 'receipts', subject: id, ...receiptFailure(id, where, err) });
        continue;
      }
      checked++;
      if (core.step !== entry.step) {
        ctx.problems.push({ step: 'receipts', subject: id, message: `${where}: the log names step ${entry.step} but the receipt says ${core.step}`, expected: entry.step, actual: core.step });
      }
      for (const ref of referencedArtifacts(core)) {
        ctx.roots.add(ref.digest);
        if (!ctx.objects.has(ref.digest)) {
          ctx.problems.push({ step: 'receipts', subject: id, message: `${where}: ${ref.label} names missing artifact ${ref.digest}` });
        } else if (ref.kind === 'receipt' && !ctx.corrupt.has(ref.digest)) {
          // An artifact recorded as a receipt must be one (a forged per.dsse.json fed to a later step is not).
          try {
            await readReceipt(ctx.store, ref.digest, { keys });
          } catch (err) {
            ctx.problems.push({ step: 'receipts', subject: id, message: `${where}: ${ref.label} is recorded as a receipt, but ${ref.digest} is not a valid receipt (${receiptFailure(ref.digest, `receipt ${ref.digest}`, err).message.replace(`receipt ${ref.digest}: `, '')})` });
          }
        }
      }
    }
    ctx.counts.receipts = checked;
  },
};

/** Receipt files in the seed's readable per/ folder (per.dsse.json, NAME.per.dsse.json), recursively. */
async function perEnvelopeFiles(dir: string): Promise<string[]> {
  let entries;
  try { entries = await readdir(dir, { withFileTypes: true }); } catch { return []; }
  const out: string[] = [];
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory()) out.push(...await perEnvelopeFiles(path));
    else if (e.isFile() && e.name.endsWith('per.dsse.json')) out.push(path);
  }
  return out.sort();
}

/**
 * per/ travels with the store (the seed copies it into the image) and people
 * read it: every receipt file there must be, byte for byte, a receipt the log lists.
 */
const perStep: VerifyStep = {
  name: 'per',
  async run(ctx) {
    const logged = new Set((loggedRecords.get(ctx) ?? []).map((r) => r.entry.receipt as string));
    // With a damaged log (already a problem) a file is only required to be a stored object, byte for byte.
    const logDamaged = ctx.problems.some((p) => p.step === 'log');
    const files = await perEnvelopeFiles(join(ctx.store.root, 'per'));
    for (const file of files) {
      const digest = `sha256:${createHash('sha256').update(await readFile(file)).digest('hex')}` as Digest;
      if (logged.has(digest)) continue;
      if (logDamaged && ctx.objects.has(digest) && !ctx.corrupt.has(digest)) continue;
      ctx.problems.push({
        step: 'per', subject: file,
        message: `${file} is not a receipt of this store's log: its bytes hash to ${digest} (edited, or copied in from elsewhere)`,
        expected: 'the id of a logged receipt', actual: digest,
      });
    }
    ctx.counts.perFiles = files.length;
  },
};

export const RECEIPT_VERIFY_STEPS: VerifyStep[] = [logStep, receiptsStep, perStep];

/** Everything `asl verify --store S` checks. */
export function verifyStoreFully(store: Store, opts: { quick?: boolean } = {}): Promise<VerifyReport> {
  return verifyStore(store, { ...opts, extraSteps: RECEIPT_VERIFY_STEPS });
}
