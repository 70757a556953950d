/**
 * The receipt steps of `asl verify`: the log's chain and signed head, every
 * logged receipt's signature and core digest against the trusted keys, and every
 * artifact a receipt names present in the store (which makes those artifacts
 * roots: the trees they name must be complete).
 */
import type { Digest } from '../core/digest.js';
import { isDigest } from '../core/digest.js';
import { AslError } from '../core/errors.js';
import { readReceiptLog, verifyLog } from '../store/receipt-log.js';
import { loadTrustedKeys } from '../store/trusted-keys.js';
import { verifyStore, type VerifyReport, type VerifyStep } from '../store/verify.js';
import type { Store } from '../store/store.js';
import { readReceipt } from './store-receipt.js';
import type { PerCore } from './types.js';

/** Every artifact id a receipt core names, with a label for messages. */
export function referencedArtifacts(core: PerCore): Array<{ label: string; digest: Digest }> {
  const refs: Array<{ label: string; digest: Digest }> = [];
  for (const a of core.inputs) refs.push({ label: `input ${a.name}`, digest: a.digest });
  for (const a of core.outputs) refs.push({ label: `output ${a.name}`, digest: a.digest });
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

const logStep: VerifyStep = {
  name: 'log',
  async run(ctx) {
    const keys = await loadTrustedKeys(ctx.store);
    const result = await verifyLog(ctx.store, { keys, checkReceipts: false });
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
    let records;
    try {
      records = (await readReceiptLog(ctx.store)).records;
    } catch (err) {
      ctx.problems.push({ step: 'receipts', subject: 'log', message: `receipt log unreadable: ${(err as Error).message}` });
      return;
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
      if (ctx.corrupt.has(id)) continue; // already reported by the objects step
      let core: PerCore;
      try {
        core = (await readReceipt(ctx.store, id, { keys })).statement.predicate.core;
      } catch (err) {
        ctx.problems.push({ step: 'receipts', subject: id, message: `${where}: ${err instanceof AslError ? err.message : String(err)}` });
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
        }
      }
    }
    ctx.counts.receipts = checked;
  },
};

export const RECEIPT_VERIFY_STEPS: VerifyStep[] = [logStep, receiptsStep];

/** Everything `asl verify --store S` checks. */
export function verifyStoreFully(store: Store, opts: { quick?: boolean } = {}): Promise<VerifyReport> {
  return verifyStore(store, { ...opts, extraSteps: RECEIPT_VERIFY_STEPS });
}
