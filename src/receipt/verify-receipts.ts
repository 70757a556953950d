/**
 * The receipt steps of `asl verify`: the log's chain and signed head, every
 * logged receipt's signature and core digest against the trusted keys, and every
 * artifact a receipt names present in the store (which makes those artifacts
 * roots: the trees they name must be complete).
 */
import type { Dirent } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Digest } from '../core/digest.js';
import { digestBytes, isDigest } from '../core/digest.js';
import { canonicalBytes } from '../core/canonical-json.js';
import { AslError } from '../core/errors.js';
import { describeLocation, locateObjectSync } from '../store/object-locate.js';
import { readReceiptLog, verifyLog } from './receipt-log.js';
import { logRead } from './verify-log-read.js';
import { loadTrustedKeys } from './trusted-keys.js';
import type { VerifyContext, VerifyProblem, VerifyReport, VerifyStep } from '../store/verify-context.js';
import { verifyStore } from '../store/verify.js';
import type { Store } from '../store/store.js';
import { readReceipt } from './store-receipt.js';
import { saveVerified, type VerifiedEntry } from './verified-index.js';
import type { PerCore, Statement } from './types.js';
import { ReceiptVerifyError } from './verify.js';
import {
  anchorStep,
  receiptsLoggedAfterCut,
  unlistedReceipts,
  unlistedStep,
  type UnlistedReceipt,
} from './verify-rollback.js';

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

/** One line for a receipt that did not verify; the receipt is already named by `where`. */
function receiptFailure(
  id: string,
  where: string,
  err: unknown,
): { message: string; expected?: string; actual?: string } {
  if (!(err instanceof AslError)) return { message: `${where}: ${String(err)}` };
  const text = err.message.startsWith(`receipt ${id}: `) ? err.message.slice(`receipt ${id}: `.length) : err.message;
  if (!(err instanceof ReceiptVerifyError)) return { message: `${where}: ${text}` };
  const rejected = (err.data?.rejected ?? []) as Array<{ keyid: string; reason: string }>;
  if (err.stage === 'signature' && rejected.length > 0 && rejected.every((r) => r.reason === 'untrusted-key')) {
    const signers = rejected.map((r) => r.keyid || '(no keyid)').join(', ');
    const trusted = ((err.data?.trusted ?? []) as string[]).map((k) => k.slice(0, 16)).join(', ') || 'none';
    return {
      message: `${where}: signed by key ${signers}, which this store does not trust (trusted: ${trusted}); if that key is genuine, trust it with \`asl key trust --store S KEY.pub\``,
      expected: `a signature by a trusted key (${trusted})`,
      actual: signers,
    };
  }
  return { message: `${where}: ${text}`, expected: err.expected, actual: err.actual };
}

const logStep: VerifyStep = {
  name: 'log',
  async run(ctx) {
    const keys = await loadTrustedKeys(ctx.store);
    const result = await verifyLog(ctx.store, { keys, checkReceipts: false });
    logRead(ctx, { records: result.records, pending: result.pending });
    const last = result.records[result.records.length - 1];
    if (result.problems.length === 0 && last) ctx.anchor = `${last.entry.seq}:${last.entry.receipt}`;
    for (const p of result.problems) {
      ctx.problems.push({
        step: 'log',
        subject: p.seq !== undefined ? `log entry ${p.seq}` : 'log head',
        message: `receipt log: ${p.message}`,
        ...(p.expected !== undefined ? { expected: p.expected } : {}),
        ...(p.actual !== undefined ? { actual: p.actual } : {}),
      });
    }
    for (const p of result.pending) {
      ctx.notes.push(
        `receipt log: entry seq ${p.entry.seq} (receipt ${p.entry.receipt}, step ${JSON.stringify(p.entry.step)}) is past the signed head: an append that did not finish; the next append completes it if its receipt is stored, else drops it`,
      );
    }
    const pendingBytes = result.pending.length > 0 ? 0 : result.uncommittedBytes;
    if (pendingBytes > 0)
      ctx.notes.push(
        `receipt log: ${pendingBytes} bytes past the signed head (an append that did not finish; ignored)`,
      );
    ctx.counts.logEntries = result.entries;
  },
};

const receiptsStep: VerifyStep = {
  name: 'receipts',
  async run(ctx) {
    const keys = await loadTrustedKeys(ctx.store);
    let records = logRead(ctx)?.records;
    if (!records) {
      try {
        records = (await readReceiptLog(ctx.store)).records;
      } catch (err) {
        ctx.problems.push({
          step: 'receipts',
          subject: 'log',
          message: `receipt log unreadable: ${(err as Error).message}`,
        });
        return;
      }
    }
    let checked = 0;
    const verified: VerifiedEntry[] = [];
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
        if (p)
          p.message = `${where} is corrupt: its bytes hash to ${p.actual}${loc ? ` (${describeLocation(loc)})` : ''}`;
        continue;
      }
      let core: PerCore;
      try {
        const receipt = await readReceipt(ctx.store, id, { keys });
        core = receipt.statement.predicate.core;
        verified.push({ id, coreDigest: receipt.coreDigest, keyId: receipt.keyId });
      } catch (err) {
        ctx.problems.push({ step: 'receipts', subject: id, ...receiptFailure(id, where, err) });
        continue;
      }
      checked++;
      if (core.step !== entry.step) {
        ctx.problems.push({
          step: 'receipts',
          subject: id,
          message: `${where}: the log names step ${entry.step} but the receipt says ${core.step}`,
          expected: entry.step,
          actual: core.step,
        });
      }
      for (const ref of referencedArtifacts(core)) {
        ctx.roots.add(ref.digest);
        if (!ctx.objects.has(ref.digest)) {
          ctx.problems.push({
            step: 'receipts',
            subject: id,
            message: `${where}: ${ref.label} names missing artifact ${ref.digest}`,
          });
        } else if (ref.kind === 'receipt' && !ctx.corrupt.has(ref.digest)) {
          // An artifact recorded as a receipt must be one (a forged per.dsse.json fed to a later step is not).
          try {
            await readReceipt(ctx.store, ref.digest, { keys });
          } catch (err) {
            ctx.problems.push({
              step: 'receipts',
              subject: id,
              message: `${where}: ${ref.label} is recorded as a receipt, but ${ref.digest} is not a valid receipt (${receiptFailure(ref.digest, `receipt ${ref.digest}`, err).message.replace(`receipt ${ref.digest}: `, '')})`,
            });
          }
        }
      }
    }
    ctx.counts.receipts = checked;
    verifiedIn.set(ctx, verified);
  },
};

/** The receipts the receipts step verified, per run, for the index step. */
const verifiedIn = new WeakMap<VerifyContext, VerifiedEntry[]>();

/**
 * Last: what readers of the history may now trust without checking each signature
 * again. Written only when the whole store verified: a failing verify leaves the
 * store exactly as it found it (the evidence), and a stale record is harmless, since
 * every read checks that the receipt's bytes still hash to the id it names.
 */
const indexStep: VerifyStep = {
  name: 'verified-index',
  async run(ctx) {
    const verified = verifiedIn.get(ctx);
    if (verified !== undefined && ctx.problems.length === 0) await saveVerified(ctx.store, verified);
  },
};

/** The names a capture writes into its outdir (capture/outdir.ts; named here, a layer below it). */
const ENVELOPE_FILE = 'per.dsse.json';
const STATEMENT_FILE = 'per.json';
const LOG_FILES = [
  ['stdout.log', 'stdout'],
  ['stderr.log', 'stderr'],
] as const;

/** per/ and every folder below it, each with its entries (not following links). */
async function perFolders(
  dir: string,
  out: Array<{ dir: string; entries: Dirent[] }> = [],
): Promise<Array<{ dir: string; entries: Dirent[] }>> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  out.push({ dir, entries });
  for (const e of entries) if (e.isDirectory()) await perFolders(join(dir, e.name), out);
  return out;
}

/** The statement inside an envelope's bytes (already known to be a logged receipt), or null. */
function envelopePayload(bytes: Buffer): { payload: Buffer; statement: Statement } | null {
  try {
    const payload = Buffer.from((JSON.parse(bytes.toString('utf8')) as { payload: string }).payload, 'base64');
    return { payload, statement: JSON.parse(payload.toString('utf8')) as Statement };
  } catch {
    return null;
  }
}

interface FolderCheck {
  problems: VerifyProblem[];
  envelopes: number;
  checked: number;
  unbacked: string[];
  /** Receipt files that hold a stored receipt the log lost (the unlisted step names them). */
  lost: Array<[UnlistedReceipt, string]>;
}

/** One folder of per/: its receipt files against the log, its statements and logs against those receipts. */
async function checkPerFolder(
  ctx: VerifyContext,
  dir: string,
  entries: Dirent[],
  isLogged: (id: Digest) => Promise<boolean>,
): Promise<FolderCheck> {
  // With a damaged log (already a problem) a file is only required to be a stored object, byte for byte.
  const logDamaged = ctx.problems.some((p) => p.step === 'log');
  const out: FolderCheck = { problems: [], envelopes: 0, checked: 0, unbacked: [], lost: [] };
  const problem = (subject: string, message: string, expected?: string, actual?: string) =>
    out.problems.push({ step: 'per', subject, message, ...(expected !== undefined ? { expected, actual } : {}) });
  // prefix ('' or 'NAME.') -> the receipt in that envelope, when it is a logged one
  const receipts = new Map<string, { id: Digest; file: string; payload: Buffer; statement: Statement } | null>();
  for (const e of entries) {
    if (!(e.name === ENVELOPE_FILE || e.name.endsWith(`.${ENVELOPE_FILE}`))) continue;
    const file = join(dir, e.name);
    const prefix = e.name.slice(0, e.name.length - ENVELOPE_FILE.length);
    if (!e.isFile()) {
      problem(
        file,
        `${file} is ${e.isSymbolicLink() ? 'a symbolic link' : 'not a regular file'}: a receipt file in per/ must be the receipt's bytes`,
      );
      receipts.set(prefix, null);
      continue;
    }
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch {
      continue;
    } // replaced meanwhile: the second look sees what is there
    out.envelopes++;
    const digest = digestBytes(bytes);
    const backed = (await isLogged(digest)) || (logDamaged && ctx.objects.has(digest) && !ctx.corrupt.has(digest));
    if (!backed) {
      const unlisted = logDamaged ? undefined : (await unlistedReceipts(ctx)).get(digest);
      if (unlisted?.keyId && !unlisted.referenced && !unlisted.pending) {
        out.lost.push([unlisted, file]);
        receipts.set(prefix, null);
        continue;
      }
      problem(
        file,
        `${file} is not a receipt of this store's log: its bytes hash to ${digest} (edited, or copied in from elsewhere)`,
        'the id of a logged receipt',
        digest,
      );
      receipts.set(prefix, null);
      continue;
    }
    const inside = envelopePayload(bytes);
    receipts.set(prefix, inside ? { id: digest, file, ...inside } : null);
  }
  for (const e of entries) {
    if (e.isDirectory() || e.name === ENVELOPE_FILE || e.name.endsWith(`.${ENVELOPE_FILE}`)) continue;
    const file = join(dir, e.name);
    const isStatement = e.name === STATEMENT_FILE || e.name.endsWith(`.${STATEMENT_FILE}`);
    const log = LOG_FILES.find(([name]) => name === e.name);
    if (!isStatement && !log) {
      out.unbacked.push(file);
      continue;
    }
    const prefix = isStatement ? e.name.slice(0, e.name.length - STATEMENT_FILE.length) : '';
    const envelopeName = prefix + ENVELOPE_FILE;
    if (!receipts.has(prefix)) {
      problem(
        file,
        `${file} has no receipt beside it (${envelopeName}): nothing backs what it says (left by an interrupted capture, or put there by hand); re-run the capture or remove it`,
        join(dir, envelopeName),
        'absent',
      );
      continue;
    }
    const receipt = receipts.get(prefix);
    if (!receipt) continue; // the envelope itself is already a problem
    if (!e.isFile()) {
      problem(
        file,
        `${file} is ${e.isSymbolicLink() ? 'a symbolic link' : 'not a regular file'}: per/ holds the receipt's own files`,
      );
      continue;
    }
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch {
      continue;
    }
    out.checked++;
    if (isStatement) {
      let same = false;
      try {
        same = canonicalBytes(JSON.parse(bytes.toString('utf8'))).equals(receipt.payload);
      } catch {
        same = false;
      }
      if (!same) {
        problem(
          file,
          `${file} is not the statement of receipt ${receipt.id} in ${envelopeName} beside it: it was edited (what it says is not what was signed)`,
          `the payload of ${receipt.id}`,
          digestBytes(bytes),
        );
      }
      continue;
    }
    const role = log![1];
    const recorded = receipt.statement.predicate?.core?.outputs?.find((o) => o.role === role)?.digest;
    const actual = digestBytes(bytes);
    if (!recorded)
      problem(
        file,
        `${file}: receipt ${receipt.id} in ${envelopeName} beside it records no ${role}`,
        `no ${e.name}`,
        actual,
      );
    else if (actual !== recorded)
      problem(
        file,
        `${file} hashes to ${actual}, but receipt ${receipt.id} records ${role} ${recorded}: it was edited (the recorded ${role} is the object ${recorded})`,
        recorded,
        actual,
      );
  }
  return out;
}

/**
 * per/ travels with the store (the seed copies it into the image) and people read
 * it: every receipt file there must be, byte for byte, a receipt the log lists; a
 * `per.json` beside it must be exactly its statement, and `stdout.log` /
 * `stderr.log` must hash to what that receipt records. A statement or log with no
 * receipt beside it backs nothing and is a problem too; other files are noted.
 *
 * Captures may be writing per/ while this runs: a receipt file of a receipt logged
 * after verify's cut is checked against the log as it is now, and a folder that
 * does not check is looked at once more (a capture replaces its files one by one).
 */
const perStep: VerifyStep = {
  name: 'per',
  async run(ctx) {
    const logged = new Set((logRead(ctx)?.records ?? []).map((r) => r.entry.receipt as string));
    const isLogged = (later: () => Promise<Set<Digest>>) => async (id: Digest) =>
      logged.has(id) || (await later()).has(id);
    const folders = await perFolders(join(ctx.store.root, 'per'));
    const results = new Map<string, FolderCheck>();
    for (const { dir, entries } of folders)
      results.set(
        dir,
        await checkPerFolder(
          ctx,
          dir,
          entries,
          isLogged(() => receiptsLoggedAfterCut(ctx)),
        ),
      );
    for (const [dir, first] of [...results]) {
      if (first.problems.length === 0) continue;
      let entries: Dirent[];
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch {
        continue;
      }
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      results.set(
        dir,
        await checkPerFolder(
          ctx,
          dir,
          entries,
          isLogged(() => receiptsLoggedAfterCut(ctx, { again: true })),
        ),
      );
    }
    let envelopes = 0;
    let checked = 0;
    const unbacked: string[] = [];
    for (const r of results.values()) {
      ctx.problems.push(...r.problems);
      envelopes += r.envelopes;
      checked += r.checked;
      unbacked.push(...r.unbacked);
      for (const [lost, file] of r.lost) lost.perFiles.push(file);
    }
    if (unbacked.length > 0)
      ctx.notes.push(
        `${unbacked.length} file(s) in per/ that no receipt backs, not checked (e.g. ${unbacked[0]}); \`asl seed\` leaves them out`,
      );
    ctx.counts.perFiles = envelopes;
    ctx.counts.perChecked = checked;
  },
};

/** Read before any object is listed: the cut every other step checks against. */
const RECEIPT_CUT_STEPS: VerifyStep[] = [logStep];
const RECEIPT_VERIFY_STEPS: VerifyStep[] = [receiptsStep, perStep, unlistedStep];

/**
 * Everything `asl verify --store S` checks; `anchor` (`SEQ:RECEIPT_ID`, written
 * down earlier) must still be the log's entry SEQ, with the chain whole.
 */
export function verifyStoreFully(store: Store, opts: { quick?: boolean; anchor?: string } = {}): Promise<VerifyReport> {
  const steps = [...RECEIPT_VERIFY_STEPS, ...(opts.anchor === undefined ? [] : [anchorStep(opts.anchor)]), indexStep];
  return verifyStore(store, { quick: opts.quick ?? false, cutSteps: RECEIPT_CUT_STEPS, extraSteps: steps });
}
