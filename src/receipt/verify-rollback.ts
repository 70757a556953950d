/**
 * The rollback steps of `asl verify`. A local log cannot prove it is the latest
 * one: putting back an older log/ (with its old, validly signed head), or deleting
 * it, leaves a log that verifies. Two things can still see it:
 *
 * - `unlisted`: every stored receipt the log does not list. A crash cannot leave
 *   one (a receipt object becomes visible only once its log line is durable past
 *   the head, and the next append completes such a line: receipt-log.ts), so each
 *   is a problem, unless it is explained: its line is pending past the head (an
 *   append that did not finish), a logged receipt names it as an artifact (a
 *   per.dsse.json a step read), or it is signed by a key this store does not
 *   trust (then it is an artifact, not this store's history).
 * - `anchor`: `asl verify --anchor SEQ:RECEIPT_ID` checks an anchor written down
 *   earlier, outside the store: the log's entry SEQ must be that receipt and the
 *   chain must be whole. This is what catches a rollback that also removed the
 *   receipts it hid.
 */
import type { Digest } from '../core/digest.js';
import type { DsseEnvelope } from '../core/dsse.js';
import { readObject } from '../store/object-read.js';
import { verifyLog } from './receipt-log.js';
import { logRead } from './verify-log-read.js';
import { checkSignatures, loadTrustedKeys } from './trusted-keys.js';
import type { VerifyContext, VerifyStep } from '../store/verify-context.js';
import { IN_TOTO_PAYLOAD_TYPE, PER_PREDICATE_TYPE, type Statement } from './types.js';

export interface UnlistedReceipt {
  id: Digest;
  step: string;
  finishedOn: string | null;
  /** The trusted key whose signature verifies, or null (then `signers` lists the key ids it names). */
  keyId: string | null;
  signers: string[];
  /** A logged receipt names it as an artifact. */
  referenced: boolean;
  /** Its line is past the head (an append that did not finish). */
  pending: boolean;
  /** Receipt files in per/ whose bytes are this receipt. */
  perFiles: string[];
}

/** A statement of a PER inside an object's bytes, if they are a DSSE envelope holding one. */
function perInside(bytes: Buffer): { envelope: DsseEnvelope; payload: Buffer; statement: Statement } | null {
  try {
    const envelope = JSON.parse(bytes.toString('utf8')) as DsseEnvelope;
    if (
      envelope?.payloadType !== IN_TOTO_PAYLOAD_TYPE ||
      typeof envelope.payload !== 'string' ||
      !Array.isArray(envelope.signatures)
    )
      return null;
    const payload = Buffer.from(envelope.payload, 'base64');
    const statement = JSON.parse(payload.toString('utf8')) as Statement;
    if (statement?.predicateType !== PER_PREDICATE_TYPE || typeof statement.predicate?.core?.step !== 'string')
      return null;
    return { envelope, payload, statement };
  } catch {
    return null;
  }
}

const later = new WeakMap<VerifyContext, Promise<Set<Digest>>>();

/**
 * Receipts the log lists (or holds past its head) now, read again after verify's
 * cut: writers may append while verify runs, and their receipts, listed after the
 * cut, are not unlisted. Only a log that still starts with the cut's entries
 * counts; `again` reads it once more.
 */
export function receiptsLoggedAfterCut(ctx: VerifyContext, opts: { again?: boolean } = {}): Promise<Set<Digest>> {
  let result = opts.again ? undefined : later.get(ctx);
  if (!result) {
    result = (async () => {
      const cut = logRead(ctx)?.records ?? [];
      let now;
      try {
        now = await verifyLog(ctx.store, { checkReceipts: false });
      } catch {
        return new Set<Digest>();
      }
      if (now.problems.length > 0 || cut.some((r, i) => now.records[i]?.digest !== r.digest)) return new Set<Digest>();
      return new Set([...now.records, ...now.pending].map((r) => r.entry.receipt));
    })();
    later.set(ctx, result);
  }
  return result;
}

const found = new WeakMap<VerifyContext, Promise<Map<Digest, UnlistedReceipt>>>();

/** Every stored object that is a receipt the log does not list (computed once per verify; after the receipts step). */
export function unlistedReceipts(ctx: VerifyContext): Promise<Map<Digest, UnlistedReceipt>> {
  let result = found.get(ctx);
  if (!result) {
    result = scan(ctx);
    found.set(ctx, result);
  }
  return result;
}

async function scan(ctx: VerifyContext): Promise<Map<Digest, UnlistedReceipt>> {
  const logged = new Set((logRead(ctx)?.records ?? []).map((r) => r.entry.receipt));
  const pending = new Set((logRead(ctx)?.pending ?? []).map((r) => r.entry.receipt));
  const keys = await loadTrustedKeys(ctx.store);
  const out = new Map<Digest, UnlistedReceipt>();
  for (const id of [...ctx.jsonObjects].sort()) {
    if (logged.has(id) || ctx.corrupt.has(id) || (await receiptsLoggedAfterCut(ctx)).has(id)) continue;
    let bytes: Buffer;
    try {
      bytes = await readObject(ctx.store, id);
    } catch {
      continue;
    } // the objects steps name what cannot be read
    const per = perInside(bytes);
    if (!per) continue;
    const sigs = per.envelope.signatures.filter((s) => typeof s?.keyid === 'string' && typeof s?.sig === 'string');
    const check = checkSignatures(per.envelope.payloadType, per.payload, sigs, keys);
    out.set(id, {
      id,
      step: per.statement.predicate.core.step,
      finishedOn:
        typeof per.statement.predicate.run?.finishedOn === 'string' ? per.statement.predicate.run.finishedOn : null,
      keyId: check.ok ? check.keyId : null,
      signers: sigs.map((s) => s.keyid),
      referenced: ctx.roots.has(id),
      pending: pending.has(id),
      perFiles: [],
    });
  }
  return out;
}

export const unlistedStep: VerifyStep = {
  name: 'unlisted',
  async run(ctx) {
    const unlisted = [...(await unlistedReceipts(ctx)).values()];
    let hidden = 0;
    for (const r of unlisted) {
      const what = `receipt ${r.id} (step ${r.step}${r.finishedOn ? `, finished ${r.finishedOn}` : ''})`;
      if (r.pending) continue; // noted by the log step with its entry
      if (!r.keyId) {
        ctx.notes.push(
          `${what} is stored but signed by ${r.signers.map((k) => k.slice(0, 16)).join(', ') || 'no key'}, which this store does not trust: an artifact, not this store's history`,
        );
        continue;
      }
      if (r.referenced) {
        ctx.notes.push(
          `${what} is stored as an artifact a logged step names (e.g. a per.dsse.json it read), not as an entry of this log`,
        );
        continue;
      }
      hidden++;
      const held =
        r.perFiles.length > 0
          ? `; ${r.perFiles.join(', ')} hold${r.perFiles.length === 1 ? 's' : ''} it, and a capture writes per/ only after the log has committed its receipt`
          : '';
      ctx.problems.push({
        step: 'unlisted',
        subject: r.id,
        message: `${what}, signed by trusted key ${r.keyId.slice(0, 16)}, is stored but the log does not list it: the log was rolled back, cut or replaced (a crash cannot leave this: an interrupted append leaves its line past the head, and the next append completes it)${held}`,
        expected: 'an entry of the log',
        actual: 'not listed',
      });
    }
    if (hidden > 0 && (logRead(ctx)?.records.length ?? 0) === 0) {
      ctx.problems.push({
        step: 'unlisted',
        subject: 'log',
        message: `the store holds ${hidden} receipt(s) signed by its trusted keys but its receipt log is empty or missing: log/ was deleted or replaced`,
      });
    }
    ctx.counts.unlistedReceipts = unlisted.length;
  },
};

/** `SEQ:RECEIPT_ID`, as `asl verify` prints it; null when `text` is not one. */
export function parseAnchor(text: string): { seq: number; receipt: Digest } | null {
  const m = /^([1-9][0-9]{0,15}):(sha256:[0-9a-f]{64})$/.exec(text);
  if (!m || !Number.isSafeInteger(Number(m[1]))) return null;
  return { seq: Number(m[1]), receipt: m[2] as Digest };
}

/** Checks an anchor written down earlier: entry SEQ is that receipt, and the log verifies up to its signed head. */
export function anchorStep(anchor: string): VerifyStep {
  return {
    name: 'anchor',
    async run(ctx) {
      const want = parseAnchor(anchor);
      const fail = (message: string, actual: string) =>
        ctx.problems.push({
          step: 'anchor',
          subject: anchor,
          message: `anchor ${anchor}: ${message}`,
          expected: anchor,
          actual,
        });
      if (!want) {
        fail('not SEQ:RECEIPT_ID', anchor);
        return;
      }
      const records = logRead(ctx)?.records ?? [];
      const logProblems = ctx.problems.filter((p) => p.step === 'log').length;
      const entry = records.find((r) => r.entry.seq === want.seq);
      const last = records[records.length - 1];
      if (!entry) {
        fail(
          last
            ? `the log ends at entry ${last.entry.seq}, before entry ${want.seq}: it was rolled back or cut since the anchor was written down`
            : `the log has no entries: it was deleted or replaced since the anchor was written down`,
          last ? `${last.entry.seq}:${last.entry.receipt}` : 'no entries',
        );
        return;
      }
      if (entry.entry.receipt !== want.receipt) {
        fail(
          `the log's entry ${want.seq} is receipt ${entry.entry.receipt} (step ${entry.entry.step}): the log was rewritten since the anchor was written down`,
          `${want.seq}:${entry.entry.receipt}`,
        );
        return;
      }
      if (logProblems > 0)
        fail(
          `entry ${want.seq} is that receipt, but the log does not verify, so the chain from it to the head is not whole`,
          `${logProblems} log problem(s)`,
        );
    },
  };
}
