// Shared by the end-to-end capture tests (test/capture/e2e-*.test.ts): a fresh store
// made by the real CLI, the outdir files read back, and independent re-computations
// (sha256, RFC 8785 canonical JSON, DSSE signature check) that use no ASL code, so a
// bug in ASL's own helpers cannot hide a bug in what it wrote.
import assert from 'node:assert/strict';
import { createHash, createPublicKey, verify as edVerify } from 'node:crypto';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { aslOk, tempDir, type RunResult } from '../helpers.js';

export const sha256Hex = (bytes: Buffer | string): string => createHash('sha256').update(bytes).digest('hex');
export const digestOf = (bytes: Buffer | string): string => `sha256:${sha256Hex(bytes)}`;

export { aslOk, describeRun } from '../helpers.js';

/** A temp work dir holding a store made by `asl-init-store` (the seed's program name). */
export async function workWithStore(t: TestContext): Promise<{ work: string; store: string }> {
  const work = await tempDir(t, 'asl-e2e-');
  const store = join(work, 'store');
  await aslOk(['--store', store], { program: 'asl-init-store' });
  return { work, store };
}

export interface CaptureJson {
  receipt: string;
  step: string;
  kind: string;
  exitCode: number;
  coreDigest: string;
  files: { statement: string; envelope: string; stdout?: string; stderr?: string };
}

/**
 * With --json, asl-capture's stdout is the command's own stdout (streamed live) followed by
 * the JSON summary; `commandStdout` is what the command wrote (stdout.log).
 */
export function captureJson(r: RunResult, commandStdout: Buffer): CaptureJson {
  const all = r.stdoutBytes;
  assert.ok(
    all.subarray(0, commandStdout.length).equals(commandStdout),
    "asl-capture stdout starts with the command's own stdout",
  );
  return JSON.parse(all.subarray(commandStdout.length).toString('utf8')) as CaptureJson;
}

// ---------------------------------------------------------------------------
// Receipts as written

export interface ArtifactRef {
  name: string;
  role: string;
  kind: string;
  digest: string;
  path?: string;
  size?: number;
  package?: { name: string; version: string; architecture?: string };
}

export interface WatchedRoot {
  path: string;
  reason: string;
  before: string | null;
  after: string | null;
  added: number;
  modified: number;
  removed: number;
  paths?: string;
}

export type EnvValue = { mode: 'verbatim'; value: string } | { mode: 'hashed'; hmac: string } | { mode: 'secret' };

export interface Core {
  kind: 'command' | 'ingest';
  step: string;
  command?: { shell: string; argv: string[]; cwd: string };
  program?: Array<{ path: string; digest: string; root?: string; package?: string; version?: string }>;
  inputs: ArtifactRef[];
  outputs: ArtifactRef[];
  environment?: { variables: Record<string, EnvValue> };
  stdin?: { type: string; path?: string; size?: number; offset?: number; hmac?: string };
  exit?: { kind: 'exited'; code: number } | { kind: 'signaled'; signal: string; code: number };
  watched?: WatchedRoot[];
  traced?: boolean;
  source?: { path: string; type: string; mode: number };
}

export interface Statement {
  _type: string;
  subject: Array<{ name: string; digest: { sha256: string } }>;
  predicateType: string;
  predicate: {
    core: Core;
    coreDigest: string;
    run: Record<string, unknown> & { startedOn: string; durationMs: number };
  };
}

export interface Envelope {
  payloadType: string;
  payload: string;
  signatures: Array<{ keyid: string; sig: string }>;
}

export function decodeEnvelope(bytes: Buffer): { envelope: Envelope; statement: Statement; payload: Buffer } {
  const envelope = JSON.parse(bytes.toString('utf8')) as Envelope;
  const payload = Buffer.from(envelope.payload, 'base64');
  return { envelope, payload, statement: JSON.parse(payload.toString('utf8')) as Statement };
}

export interface Outdir {
  perJson: Buffer;
  statement: Statement;
  envelopeBytes: Buffer;
  envelope: Envelope;
  payload: Buffer;
  /** sha256 of per.dsse.json: what the receipt id must be. */
  id: string;
}

/** Reads `<prefix>per.json` and `<prefix>per.dsse.json` of an outdir and checks they agree. */
export async function readOutdir(outdir: string, prefix = ''): Promise<Outdir> {
  const perJson = await readFile(join(outdir, `${prefix}per.json`));
  const envelopeBytes = await readFile(join(outdir, `${prefix}per.dsse.json`));
  const { envelope, statement, payload } = decodeEnvelope(envelopeBytes);
  assert.deepEqual(JSON.parse(perJson.toString('utf8')), statement, 'per.json is the statement the envelope signs');
  return { perJson, statement, envelopeBytes, envelope, payload, id: digestOf(envelopeBytes) };
}

export function objectFile(store: string, digest: string): string {
  const hex = digest.slice('sha256:'.length);
  return join(store, 'objects-v1', 'sha256', hex.slice(0, 2), hex.slice(2));
}

/**
 * RFC 8785 for what receipts hold (objects, arrays, strings, safe integers, booleans,
 * null): keys sorted by UTF-16 code units, no whitespace, JSON.stringify's string escaping
 * (which is RFC 8785's for well-formed strings). Written here so the check is independent.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number')
      assert.ok(Number.isSafeInteger(value), `canonicalJson: ${value} is not a safe integer`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(value).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
}

/** DSSE v1 pre-authentication encoding. */
function pae(payloadType: string, payload: Buffer): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${payload.length} `), payload]);
}

/** True when one signature of the envelope verifies with the store's public key (keys/signing.pub). */
export async function signedByStore(store: string, envelope: Envelope): Promise<boolean> {
  const pub = createPublicKey(await readFile(join(store, 'keys', 'signing.pub'), 'utf8'));
  const message = pae(envelope.payloadType, Buffer.from(envelope.payload, 'base64'));
  return envelope.signatures.some((s) => edVerify(null, message, pub, Buffer.from(s.sig, 'base64')));
}

/** The checks every receipt must pass, whatever the step. Returns the statement. */
export async function assertWellFormedReceipt(store: string, out: Outdir): Promise<Statement> {
  const { statement, envelope } = out;
  assert.equal(envelope.payloadType, 'application/vnd.in-toto+json');
  assert.equal(statement._type, 'https://in-toto.io/Statement/v1');
  assert.equal(statement.predicateType, 'https://asl.dev/per/v1');
  assert.ok(await signedByStore(store, envelope), 'the envelope is signed by the store key');
  assert.ok(
    out.payload.equals(Buffer.from(canonicalJson(statement))),
    'the signed payload is the canonical JSON of the statement',
  );
  assert.equal(
    statement.predicate.coreDigest,
    digestOf(canonicalJson(statement.predicate.core)),
    'coreDigest recomputes',
  );
  // The stored receipt object is byte for byte the envelope file.
  assert.ok(
    (await readFile(objectFile(store, out.id))).equals(out.envelopeBytes),
    'objects-v1 holds per.dsse.json under its sha256',
  );
  // subject = outputs, by name and digest.
  const fromOutputs = statement.predicate.core.outputs.map((o) => ({
    name: o.name,
    digest: { sha256: o.digest.slice(7) },
  }));
  assert.deepEqual([...statement.subject].sort(byName), fromOutputs.sort(byName), 'subject is the outputs');
  return statement;
}

const byName = (a: { name: string }, b: { name: string }): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

export interface LogItem {
  seq: number;
  receipt: string;
  step: string;
  kind: string;
  status: string;
  ok: boolean;
  what: string;
  inputs: number;
  outputs: number;
}

export async function logJson(store: string): Promise<LogItem[]> {
  const r = await aslOk(['log', '--store', store, '--json']);
  return JSON.parse(r.stdout) as LogItem[];
}

export async function aslCat(store: string, ref: string): Promise<Buffer> {
  return (await aslOk(['cat', '--store', store, ref])).stdoutBytes;
}

export function only<T>(items: readonly T[], pred: (x: T) => boolean, what: string): T {
  const found = items.filter(pred);
  assert.equal(
    found.length,
    1,
    `expected exactly one ${what}, found ${found.length}: ${JSON.stringify(found).slice(0, 2000)}`,
  );
  return found[0]!;
}

/** Every regular file (and symlink target text) under `dir`, as [path, bytes]. */
export async function allFileBytes(dir: string): Promise<Array<[string, Buffer]>> {
  const found: Array<[string, Buffer]> = [];
  const visit = async (p: string): Promise<void> => {
    const st = await lstat(p);
    if (st.isDirectory()) {
      for (const name of await readdir(p)) await visit(join(p, name));
    } else if (st.isFile()) {
      found.push([p, await readFile(p)]);
    } else if (st.isSymbolicLink()) {
      found.push([p, Buffer.from(await readlink(p))]);
    }
  };
  await visit(dir);
  return found;
}
