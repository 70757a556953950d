import { sign as edSign } from 'node:crypto';
import { readFile, readdir, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { canonicalBytes, canonicalize } from '../core/canonical-json.js';
import type { Digest } from '../core/digest.js';
import { digestBytes, isDigest } from '../core/digest.js';
import { preAuthEncoding, type DsseEnvelope } from '../core/dsse.js';
import { AslError, fsError } from '../core/errors.js';
import { fsyncDir, TEMP_MARK, writeFileAtomic } from '../core/write-file-atomic.js';
import { loadSigningKey, type SigningKey } from '../store/keys.js';
import { LOG_DIR } from '../store/layout.js';
import { withLock } from '../store/lock.js';
import { objectExists } from '../store/object-batch.js';
import type { Store } from '../store/store.js';
import { makeDirs, openNew, STORE_MODES } from '../store/store-modes.js';
import { checkSignatures, loadTrustedKeys, type TrustedKeySet } from './trusted-keys.js';

/**
 * The store's append-only receipt log, a local transparency log.
 *
 * log/receipts.log holds one line per entry, `<entry digest>\t<canonical JSON>\n`,
 * where the digest is sha256 of the JSON bytes and each entry names the digest
 * of the one before (`prev`), so removing, reordering or editing a line breaks
 * the chain. log/head.json is a DSSE envelope, signed with the store key, over
 * {seq, entry, size}: the last committed entry and the byte length of the log
 * up to and including it. The head is the commit point: bytes past `size` are
 * residue of an append that crashed before its head was written; readers ignore
 * them and the next writer truncates them.
 *
 * An append, under the `receipt-log` lock: check the tail against the head,
 * complete or truncate residue (below), append the lines, fsync the log, commit
 * what they name (`beforeHead`: a receipt object becomes visible only once its
 * line is durable), then replace the head atomically (temp file, fsync, rename,
 * fsync of log/).
 *
 * So a crash can leave a stored receipt without a committed entry only with its
 * line past the head. The next append completes such lines (they chain from the
 * head and their receipts are stored) and truncates the rest; verify notes them.
 * A stored receipt that no line names at all is not something a crash leaves:
 * verify reports it (docs/security.md, "Rollback").
 */

export const RECEIPT_LOG_FILE = `${LOG_DIR}/receipts.log`;
export const LOG_HEAD_FILE = `${LOG_DIR}/head.json`;
export const LOG_HEAD_PAYLOAD_TYPE = 'application/vnd.asl.log-head+json';
export const LOG_HEAD_TYPE = 'https://asl.dev/log-head/v1';
const RECEIPT_LOG_LOCK = 'receipt-log';

export interface LogEntry {
  /** 1 for the first entry, then +1 per entry. */
  seq: number;
  /** Digest of the previous entry's JSON; null for seq 1. */
  prev: Digest | null;
  receipt: Digest;
  step: string;
  /** RFC 3339 UTC time of the append. */
  time: string;
}

/** An entry as found in the file. */
export interface LogRecord {
  /** sha256 of the entry's canonical JSON: what the next entry's `prev` and the head name. */
  digest: Digest;
  entry: LogEntry;
  /** 1-based line number in log/receipts.log. */
  line: number;
}

export interface LogHead {
  _type: typeof LOG_HEAD_TYPE;
  seq: number;
  entry: Digest;
  /** Bytes of log/receipts.log covered by this head. */
  size: number;
  time: string;
}

export interface AppendItem {
  receipt: Digest;
  step: string;
  time?: string;
}

export interface AppendOptions {
  /** Leave out receipts the log already holds (costs a read of the whole log). */
  skipExisting?: boolean;
  lockTimeoutMs?: number;
  /**
   * Makes what the new entries name durable and visible (e.g. commits the batch
   * holding the receipt objects): called under the lock once the lines are
   * durable past the head, before the head commits them; always called once,
   * even when nothing is appended. A failure truncates the lines again.
   */
  beforeHead?: () => Promise<void>;
}

export type LogProblemKind =
  | 'head-malformed'
  | 'head-signature'
  | 'head-mismatch'
  | 'entry-malformed'
  | 'entry-digest'
  | 'entry-seq'
  | 'entry-chain'
  | 'missing-receipt';

export interface LogProblem {
  kind: LogProblemKind;
  message: string;
  seq?: number;
  receipt?: string;
  line?: number;
  expected?: string;
  actual?: string;
}

export interface LogVerifyResult {
  /** Empty when the log is intact. */
  problems: LogProblem[];
  /** Committed entries checked. */
  entries: number;
  head: LogHead | null;
  /** Key that signed the head, when its signature verified. */
  headKeyId: string | null;
  /** Bytes past the head (an append that did not finish): ignored, not a problem. */
  uncommittedBytes: number;
  /** Every committed line that parses, even when the log has problems (so receipts can still be checked). */
  records: LogRecord[];
  /**
   * Complete lines past the head that chain from it: an append that crashed after
   * its lines were durable. The next append completes those whose receipts are stored.
   */
  pending: LogRecord[];
}

function logPath(store: Store): string {
  return join(store.root, RECEIPT_LOG_FILE);
}
function headPath(store: Store): string {
  return join(store.root, LOG_HEAD_FILE);
}

function formatLine(entry: LogEntry): { digest: Digest; line: string } {
  const json = canonicalize(entry);
  const digest = digestBytes(json);
  return { digest, line: `${digest}\t${json}\n` };
}

function entryLabel(rec: { entry?: Partial<LogEntry>; line: number }): string {
  const e = rec.entry;
  if (!e || typeof e.seq !== 'number') return `log line ${rec.line}`;
  return `log entry seq ${e.seq} (receipt ${e.receipt}, step ${JSON.stringify(e.step)}, line ${rec.line})`;
}

// ---------------------------------------------------------------------------
// Parsing: pure, shared by readers, the writer and verify

type ParsedLine =
  | { ok: true; record: LogRecord; stated: Digest; actual: Digest }
  | { ok: false; line: number; reason: string; text: string };

const TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

function parseLine(text: string, line: number): ParsedLine {
  const tab = text.indexOf('\t');
  const bad = (reason: string): ParsedLine => ({ ok: false, line, reason, text });
  if (tab < 0) return bad('no tab between digest and entry');
  const stated = text.slice(0, tab);
  const json = text.slice(tab + 1);
  if (!isDigest(stated)) return bad(`${JSON.stringify(stated.slice(0, 80))} is not a sha256 digest`);
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return bad('entry is not JSON');
  }
  const e = value as Partial<LogEntry> | null;
  if (typeof e !== 'object' || e === null) return bad('entry is not an object');
  const fields: string[] = [];
  if (!Number.isSafeInteger(e.seq) || (e.seq as number) < 1) fields.push('seq');
  if (!(e.prev === null || isDigest(e.prev))) fields.push('prev');
  if (!isDigest(e.receipt)) fields.push('receipt');
  if (typeof e.step !== 'string') fields.push('step');
  if (typeof e.time !== 'string' || !TIME_RE.test(e.time)) fields.push('time');
  if (Object.keys(e).length !== 5) fields.push('unknown fields');
  if (fields.length > 0) return bad(`bad ${fields.join(', ')}`);
  if (canonicalize(e) !== json) return bad('entry is not canonical JSON');
  const record: LogRecord = { digest: stated, entry: e as LogEntry, line };
  return { ok: true, record, stated, actual: digestBytes(json) };
}

/** Splits log bytes into complete lines; a last line without '\n' is returned apart. */
function splitLines(bytes: Buffer): { lines: string[]; partial: number } {
  const end = bytes.lastIndexOf(0x0a) + 1;
  const text = bytes.subarray(0, end).toString('utf8');
  const lines = text.length === 0 ? [] : text.slice(0, -1).split('\n');
  return { lines, partial: bytes.length - end };
}

function parseHeadPayload(payload: Buffer): LogHead | string {
  let value: unknown;
  try {
    value = JSON.parse(payload.toString('utf8'));
  } catch {
    return 'payload is not JSON';
  }
  const h = value as Partial<LogHead> | null;
  if (typeof h !== 'object' || h === null) return 'payload is not an object';
  const bad: string[] = [];
  if (h._type !== LOG_HEAD_TYPE) bad.push('_type');
  if (!Number.isSafeInteger(h.seq) || (h.seq as number) < 1) bad.push('seq');
  if (!isDigest(h.entry)) bad.push('entry');
  if (!Number.isSafeInteger(h.size) || (h.size as number) < 1) bad.push('size');
  if (typeof h.time !== 'string') bad.push('time');
  return bad.length > 0 ? `payload has bad ${bad.join(', ')}` : (h as LogHead);
}

interface HeadFile {
  envelope: DsseEnvelope;
  payload: Buffer;
  head: LogHead;
}

/** Reads log/head.json; null when there is none (an empty log). Throws CORRUPT when malformed. */
async function readHeadFile(store: Store): Promise<HeadFile | null> {
  const path = headPath(store);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw fsError(path, err, 'cannot read the log head');
  }
  const corrupt = (why: string) =>
    new AslError('CORRUPT', `${path}: log head is malformed: ${why}`, { data: { path } });
  let env: DsseEnvelope;
  try {
    env = JSON.parse(text) as DsseEnvelope;
  } catch {
    throw corrupt('not JSON');
  }
  if (typeof env !== 'object' || env === null || typeof env.payload !== 'string' || !Array.isArray(env.signatures))
    throw corrupt('not a DSSE envelope');
  if (env.payloadType !== LOG_HEAD_PAYLOAD_TYPE)
    throw corrupt(
      `payloadType is ${JSON.stringify(env.payloadType)}, expected ${JSON.stringify(LOG_HEAD_PAYLOAD_TYPE)}`,
    );
  const payload = Buffer.from(env.payload, 'base64');
  const head = parseHeadPayload(payload);
  if (typeof head === 'string') throw corrupt(head);
  return { envelope: env, payload, head };
}

function checkHeadSignature(
  file: HeadFile,
  keys: TrustedKeySet,
): { ok: true; keyId: string } | { ok: false; detail: string } {
  const sigs = file.envelope.signatures.filter((s) => typeof s?.keyid === 'string' && typeof s?.sig === 'string');
  const result = checkSignatures(LOG_HEAD_PAYLOAD_TYPE, file.payload, sigs, keys);
  if (result.ok) return result;
  const detail =
    result.rejected.length === 0
      ? 'no signatures'
      : result.rejected
          .map(
            (r) =>
              `keyid ${r.keyid.slice(0, 16) || '(none)'}: ${r.reason === 'untrusted-key' ? 'not a trusted key' : r.reason === 'bad-signature' ? 'signature does not verify' : 'malformed signature'}`,
          )
          .join('; ');
  return { ok: false, detail };
}

// ---------------------------------------------------------------------------
// Reading

async function readLogBytes(store: Store): Promise<Buffer> {
  try {
    return await readFile(logPath(store));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return Buffer.alloc(0);
    throw fsError(logPath(store), err, 'cannot read the receipt log');
  }
}

/** Committed lines checked against each other and the head; collects every problem. */
function scanCommitted(
  bytes: Buffer,
  head: LogHead | null,
): { records: LogRecord[]; problems: LogProblem[]; uncommittedBytes: number } {
  const problems: LogProblem[] = [];
  const size = head?.size ?? 0;
  if (head && bytes.length < size) {
    problems.push({
      kind: 'head-mismatch',
      message: `log/receipts.log is ${bytes.length} bytes but the signed head covers ${size}: committed entries were removed or cut`,
      expected: `at least ${size} bytes`,
      actual: `${bytes.length} bytes`,
    });
  }
  const committed = bytes.subarray(0, Math.min(size, bytes.length));
  const { lines, partial } = splitLines(committed);
  if (partial > 0 && head && bytes.length >= size) {
    problems.push({
      kind: 'head-mismatch',
      message: `the signed head ends ${partial} bytes into a line (at byte ${size}): the log was edited around the last committed entry`,
      expected: 'the head to end at a line end',
      actual: `a line cut after ${partial} bytes`,
    });
  }
  const records: LogRecord[] = [];
  let prevDigest: Digest | null = null;
  let prevSeq = 0;
  let prevLabel = '';
  lines.forEach((text, i) => {
    const parsed = parseLine(text, i + 1);
    if (!parsed.ok) {
      problems.push({
        kind: 'entry-malformed',
        line: parsed.line,
        message: `log line ${parsed.line} is malformed: ${parsed.reason}`,
        expected: '<sha256 digest>\\t<canonical JSON entry>',
        actual: JSON.stringify(parsed.text.slice(0, 120)),
      });
      prevSeq++;
      prevDigest = null;
      return;
    }
    const { record, stated, actual } = parsed;
    const { entry } = record;
    const label = entryLabel(record);
    const base = { seq: entry.seq, receipt: entry.receipt, line: record.line };
    if (stated !== actual) {
      problems.push({
        ...base,
        kind: 'entry-digest',
        message: `${label} was altered: the line says ${stated}, its content hashes to ${actual}`,
        expected: stated,
        actual,
      });
    }
    if (entry.seq !== prevSeq + 1) {
      problems.push({
        ...base,
        kind: 'entry-seq',
        message: `${label} follows seq ${prevSeq}: expected seq ${prevSeq + 1}; an entry was deleted, inserted or moved`,
        expected: String(prevSeq + 1),
        actual: String(entry.seq),
      });
    }
    if (i === 0 ? entry.prev !== null : prevDigest !== null && entry.prev !== prevDigest) {
      problems.push({
        ...base,
        kind: 'entry-chain',
        message:
          i === 0
            ? `${label} is first in the log but names a previous entry ${entry.prev}: entries before it were removed`
            : `${label} names previous entry ${entry.prev}, but the line before it (${prevLabel}) is ${prevDigest}: the chain is broken`,
        expected: i === 0 ? 'null' : String(prevDigest),
        actual: String(entry.prev),
      });
    }
    records.push(record);
    prevDigest = stated;
    prevSeq = entry.seq;
    prevLabel = label;
  });
  if (head) {
    const last = records[records.length - 1];
    if (!last) {
      problems.push({
        kind: 'head-mismatch',
        seq: head.seq,
        message: `the signed head names entry seq ${head.seq} (${head.entry}) but the log holds no committed entry`,
        expected: head.entry,
        actual: 'no entry',
      });
    } else if (last.digest !== head.entry || last.entry.seq !== head.seq) {
      problems.push({
        kind: 'head-mismatch',
        seq: last.entry.seq,
        receipt: last.entry.receipt,
        line: last.line,
        message: `the signed head names entry seq ${head.seq} (${head.entry}) but the last committed line is ${entryLabel(last)} (${last.digest})`,
        expected: `seq ${head.seq} ${head.entry}`,
        actual: `seq ${last.entry.seq} ${last.digest}`,
      });
    }
  }
  return { records, problems, uncommittedBytes: Math.max(0, bytes.length - size) };
}

/** Complete lines after byte `from` that continue the chain after (seq, prev), up to the first that does not. */
function scanPending(
  bytes: Buffer,
  from: number,
  seq: number,
  prev: Digest | null,
): Array<LogRecord & { end: number }> {
  const out: Array<LogRecord & { end: number }> = [];
  let start = from;
  for (;;) {
    const nl = bytes.indexOf(0x0a, start);
    if (nl < 0) return out;
    const parsed = parseLine(bytes.subarray(start, nl).toString('utf8'), -1);
    if (
      !parsed.ok ||
      parsed.stated !== parsed.actual ||
      parsed.record.entry.seq !== seq + 1 ||
      parsed.record.entry.prev !== prev
    )
      return out;
    seq++;
    prev = parsed.stated;
    out.push({ ...parsed.record, line: seq, end: nl + 1 });
    start = nl + 1;
  }
}

export interface ReceiptLog {
  head: LogHead | null;
  records: LogRecord[];
  uncommittedBytes: number;
}

/**
 * The committed entries, oldest first. Throws CORRUPT when the committed part
 * is damaged (use verifyLog for the full list); does not check signatures.
 */
export async function readReceiptLog(store: Store): Promise<ReceiptLog> {
  const headFile = await readHeadFile(store);
  const head = headFile?.head ?? null;
  const bytes = await readLogBytes(store);
  const { records, problems, uncommittedBytes } = scanCommitted(bytes, head);
  if (problems.length > 0) {
    throw new AslError(
      'CORRUPT',
      `${logPath(store)}: ${problems[0]!.message}${problems.length > 1 ? ` (and ${problems.length - 1} more problems; run \`asl verify\`)` : ''}`,
      { data: { problems } },
    );
  }
  return { head, records, uncommittedBytes };
}

/**
 * Checks the whole log: head signature against the trusted keys, every line's
 * digest, sequence and chain, the head against the last entry, and that every
 * receipt an entry names is in the store. Never throws for damage: each
 * problem names the entry (seq, receipt, line) with expected and actual.
 */
export async function verifyLog(
  store: Store,
  opts: { keys?: TrustedKeySet; checkReceipts?: boolean } = {},
): Promise<LogVerifyResult> {
  const problems: LogProblem[] = [];
  let headFile: HeadFile | null = null;
  let headKeyId: string | null = null;
  try {
    headFile = await readHeadFile(store);
  } catch (err) {
    if (!(err instanceof AslError) || err.code !== 'CORRUPT') throw err;
    // An edited payload usually fails to parse before its signature is checked:
    // say it was altered when the bytes are not what a trusted key signed.
    const altered = await headSignatureFailure(store, opts.keys ?? (await loadTrustedKeys(store)));
    problems.push(
      altered
        ? {
            kind: 'head-signature',
            message: `${LOG_HEAD_FILE}: no valid signature by a trusted key (${altered}): the head was forged or altered (${err.message.replace(`${headPath(store)}: `, '')})`,
            expected: 'an Ed25519 signature by a trusted key',
            actual: altered,
          }
        : { kind: 'head-malformed', message: err.message },
    );
  }
  if (headFile) {
    const sig = checkHeadSignature(headFile, opts.keys ?? (await loadTrustedKeys(store)));
    if (sig.ok) headKeyId = sig.keyId;
    else {
      problems.push({
        kind: 'head-signature',
        seq: headFile.head.seq,
        message: `${LOG_HEAD_FILE}: no valid signature by a trusted key (${sig.detail}): the head was forged or altered`,
        expected: 'an Ed25519 signature by a trusted key',
        actual: sig.detail,
      });
    }
  }
  const head = headFile?.head ?? null;
  const bytes = await readLogBytes(store);
  const scan = scanCommitted(bytes, head);
  problems.push(...scan.problems);
  if (opts.checkReceipts ?? true) {
    for (const { entry, line } of scan.records) {
      if (!(await objectExists(store, entry.receipt))) {
        problems.push({
          kind: 'missing-receipt',
          seq: entry.seq,
          receipt: entry.receipt,
          line,
          message: `${entryLabel({ entry, line })} names a receipt that is not in the store`,
          expected: `object ${entry.receipt}`,
          actual: 'no such object',
        });
      }
    }
  }
  const headBad = problems.some((p) => p.kind === 'head-malformed' || p.kind === 'head-signature');
  const last = scan.records[scan.records.length - 1];
  const pending =
    headBad || scan.problems.length > 0 || scan.uncommittedBytes === 0
      ? []
      : scanPending(bytes, head?.size ?? 0, last?.entry.seq ?? 0, last?.digest ?? null).map(({ end: _end, ...r }) => r);
  return {
    problems,
    entries: scan.records.length,
    head,
    headKeyId,
    uncommittedBytes: headBad ? 0 : scan.uncommittedBytes,
    records: scan.records,
    pending,
  };
}

/** For a head.json that does not parse as a log head: why its signature fails, or null if it verifies or cannot be checked. */
async function headSignatureFailure(store: Store, keys: TrustedKeySet): Promise<string | null> {
  let env: Partial<DsseEnvelope>;
  try {
    env = JSON.parse(await readFile(headPath(store), 'utf8')) as Partial<DsseEnvelope>;
  } catch {
    return null;
  }
  if (typeof env !== 'object' || env === null || typeof env.payload !== 'string' || !Array.isArray(env.signatures))
    return null;
  const file = {
    envelope: env as DsseEnvelope,
    payload: Buffer.from(env.payload, 'base64'),
    head: null as unknown as LogHead,
  };
  const sig = checkHeadSignature(file, keys);
  return sig.ok ? null : sig.detail;
}

// ---------------------------------------------------------------------------
// Appending

/** The last complete line ending at byte `end` (the head's size). */
async function readLineEndingAt(fh: FileHandle, end: number): Promise<string> {
  let chunk = 4096;
  for (;;) {
    const start = Math.max(0, end - chunk);
    const buf = Buffer.alloc(end - start);
    await fh.read(buf, 0, buf.length, start);
    if (buf[buf.length - 1] !== 0x0a) return '';
    const nl = buf.lastIndexOf(0x0a, buf.length - 2);
    if (nl >= 0 || start === 0) return buf.subarray(nl + 1, buf.length - 1).toString('utf8');
    chunk *= 4;
  }
}

/** The bytes of log/head.json: `head` in a DSSE envelope signed by `key`, one line. */
export function signedHeadBytes(head: LogHead, key: SigningKey): Buffer {
  const payload = canonicalBytes(head);
  const sig = edSign(null, preAuthEncoding(LOG_HEAD_PAYLOAD_TYPE, payload), key.privateKey);
  const envelope: DsseEnvelope = {
    payloadType: LOG_HEAD_PAYLOAD_TYPE,
    payload: payload.toString('base64'),
    signatures: [{ keyid: key.keyId, sig: sig.toString('base64') }],
  };
  return Buffer.from(`${canonicalize(envelope)}\n`, 'utf8');
}

async function writeHead(store: Store, head: LogHead): Promise<void> {
  const bytes = signedHeadBytes(head, await loadSigningKey(store.root));
  const path = headPath(store);
  try {
    await writeFileAtomic(path, bytes, { durable: 'file-and-dir', mode: STORE_MODES.file });
  } catch (err) {
    throw fsError(path, err, 'cannot write the log head');
  }
}

/**
 * Appends entries for `items` (in order) and commits them with one new signed
 * head. Returns the new records (fewer than `items` with skipExisting). Takes
 * the store's receipt-log lock; refuses to extend a log whose head is not
 * signed by a trusted key or does not match its last line.
 */
export async function appendReceiptLog(
  store: Store,
  items: readonly AppendItem[],
  opts: AppendOptions = {},
): Promise<LogRecord[]> {
  for (const item of items) {
    if (!isDigest(item.receipt))
      throw new AslError('BAD_INPUT', `${String(item.receipt)}: not a receipt id (sha256:<64 hex>)`);
    if (typeof item.step !== 'string')
      throw new AslError('BAD_INPUT', `receipt ${item.receipt}: step name must be a string`);
    if (item.time !== undefined && !TIME_RE.test(item.time))
      throw new AslError('BAD_INPUT', `receipt ${item.receipt}: time ${JSON.stringify(item.time)} is not RFC 3339 UTC`);
  }
  if (items.length === 0) {
    await opts.beforeHead?.();
    return [];
  }
  await makeDirs(join(store.root, LOG_DIR));
  return withLock(store, RECEIPT_LOG_LOCK, () => appendLocked(store, items, opts), { timeoutMs: opts.lockTimeoutMs });
}

/** Head temp files can only be left by a writer that died: we hold the lock. */
async function removeHeadTempFiles(store: Store): Promise<void> {
  const dir = join(store.root, LOG_DIR);
  const prefix = `${LOG_HEAD_FILE.slice(LOG_DIR.length + 1)}${TEMP_MARK}`;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (name.startsWith(prefix)) await rm(join(dir, name), { force: true });
  }
}

async function appendLocked(store: Store, items: readonly AppendItem[], opts: AppendOptions): Promise<LogRecord[]> {
  const path = logPath(store);
  await removeHeadTempFiles(store);
  const headFile = await readHeadFile(store);
  if (headFile) {
    const sig = checkHeadSignature(headFile, await loadTrustedKeys(store));
    if (!sig.ok)
      throw new AslError(
        'CORRUPT',
        `${headPath(store)}: log head is not signed by a trusted key (${sig.detail}); refusing to append (run \`asl verify\`)`,
      );
  }
  const head = headFile?.head ?? null;
  const committedSize = head?.size ?? 0;

  let fh: FileHandle;
  try {
    fh = await openNew(path, STORE_MODES.file, 'a+');
  } catch (err) {
    throw fsError(path, err, 'cannot open the receipt log');
  }
  try {
    const { size } = await fh.stat();
    if (size < committedSize) {
      throw new AslError(
        'CORRUPT',
        `${path}: is ${size} bytes but the signed head covers ${committedSize}: committed entries are missing; refusing to append (run \`asl verify\`)`,
      );
    }
    let prev: Digest | null = null;
    let seq = 0;
    if (head) {
      const parsed = parseLine(await readLineEndingAt(fh, committedSize), -1);
      if (
        !parsed.ok ||
        parsed.stated !== parsed.actual ||
        parsed.stated !== head.entry ||
        parsed.record.entry.seq !== head.seq
      ) {
        throw new AslError(
          'CORRUPT',
          `${path}: the last committed line does not match the signed head (seq ${head.seq}, ${head.entry}); refusing to append (run \`asl verify\`)`,
        );
      }
      prev = head.entry;
      seq = head.seq;
    }
    // Residue of a writer that died: its complete lines whose receipts it had stored are
    // completed (committed with this head); the rest is truncated.
    let keptSize = committedSize;
    const adopted: LogRecord[] = [];
    if (size > committedSize) {
      const tail = Buffer.alloc(size - committedSize);
      await fh.read(tail, 0, tail.length, committedSize);
      for (const rec of scanPending(tail, 0, seq, prev)) {
        if (!(await objectExists(store, rec.entry.receipt))) break;
        adopted.push({ digest: rec.digest, entry: rec.entry, line: rec.entry.seq });
        keptSize = committedSize + rec.end;
        prev = rec.digest;
        seq = rec.entry.seq;
      }
      if (size > keptSize) {
        await fh.truncate(keptSize);
        await fh.sync();
      }
    }
    if (size === 0 && !head) await fsyncDir(join(store.root, LOG_DIR));

    let wanted = items;
    if (opts.skipExisting) {
      const present = new Set(
        [...(head ? (await readReceiptLog(store)).records : []), ...adopted].map((r) => r.entry.receipt),
      );
      wanted = items.filter((item) => !present.has(item.receipt) && present.add(item.receipt));
      if (wanted.length === 0 && adopted.length === 0) {
        await opts.beforeHead?.();
        return [];
      }
    }

    const now = new Date().toISOString();
    const records: LogRecord[] = [];
    const lines: string[] = [];
    for (const item of wanted) {
      const entry: LogEntry = { seq: ++seq, prev, receipt: item.receipt, step: item.step, time: item.time ?? now };
      const { digest, line } = formatLine(entry);
      records.push({ digest, entry, line: entry.seq }); // line n holds seq n in an intact log
      lines.push(line);
      prev = digest;
    }
    const data = Buffer.from(lines.join(''), 'utf8');
    try {
      await fh.write(data, 0, data.length, null);
      await fh.sync();
    } catch (err) {
      await fh.truncate(keptSize).catch(() => undefined);
      throw fsError(path, err, 'cannot append to the receipt log');
    }
    try {
      await opts.beforeHead?.();
    } catch (err) {
      await fh.truncate(keptSize).catch(() => undefined);
      throw err;
    }
    const last = records[records.length - 1] ?? adopted[adopted.length - 1]!;
    await writeHead(store, {
      _type: LOG_HEAD_TYPE,
      seq: last.entry.seq,
      entry: last.digest,
      size: keptSize + data.length,
      time: now,
    });
    return records;
  } finally {
    await fh.close();
  }
}
