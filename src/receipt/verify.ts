import { timingSafeEqual } from 'node:crypto';
import { canonicalBytes } from '../core/canonical-json.js';
import type { Digest } from '../core/digest.js';
import type { DsseEnvelope } from '../core/dsse.js';
import { AslError } from '../core/errors.js';
import { checkSignatures, type TrustedKeySet } from './trusted-keys.js';
import { coreDigest } from './statement.js';
import { IN_TOTO_PAYLOAD_TYPE, type Statement } from './types.js';
import { assertStatement, type ShapeIssue } from './validate.js';

/** The stages a receipt passes, in order; an error names the one that failed. */
const VERIFY_STAGES = ['parse', 'payloadType', 'signature', 'statement', 'coreDigest'] as const;
export type VerifyStage = (typeof VERIFY_STAGES)[number];

/** A receipt that failed verification: which stage, what was expected, what was found. */
export class ReceiptVerifyError extends AslError {
  readonly stage: VerifyStage;
  readonly expected: string;
  readonly actual: string;

  constructor(
    stage: VerifyStage,
    subject: string,
    problem: string,
    expected: string,
    actual: string,
    opts: { cause?: unknown; data?: Record<string, unknown> } = {},
  ) {
    super(
      stage === 'signature' ? 'SIGNATURE' : 'VERIFY_FAILED',
      `${subject}: ${stage} check failed: ${problem}: expected ${expected}, got ${actual}`,
      { cause: opts.cause, data: { stage, expected, actual, ...opts.data } },
    );
    this.name = 'ReceiptVerifyError';
    this.stage = stage;
    this.expected = expected;
    this.actual = actual;
  }
}

export interface VerifiedReceipt {
  envelope: DsseEnvelope;
  statement: Statement;
  /** The trusted key whose signature verified. */
  keyId: string;
  /** The signed bytes (canonical JSON of the statement). */
  payload: Buffer;
  coreDigest: Digest;
}

/** A verified receipt as the store holds it. */
export interface StoredReceipt extends VerifiedReceipt {
  /** The receipt id: digest of the envelope's canonical JSON, stored as an object. */
  id: Digest;
}

interface Context {
  subject: string;
  input: unknown;
  keys: TrustedKeySet;
  envelope?: DsseEnvelope;
  payload?: Buffer;
  keyId?: string;
  statement?: Statement;
}

type Stage = (ctx: Context) => void;

function fail(
  ctx: Context,
  stage: VerifyStage,
  problem: string,
  expected: string,
  actual: string,
  data?: Record<string, unknown>,
  cause?: unknown,
): never {
  throw new ReceiptVerifyError(stage, ctx.subject, problem, expected, actual, { data, cause });
}

function isStrictBase64(text: string): boolean {
  return /^[A-Za-z0-9+/]*={0,2}$/.test(text) && Buffer.from(text, 'base64').toString('base64') === text;
}

const parse: Stage = (ctx) => {
  let value = ctx.input;
  if (typeof value === 'string' || Buffer.isBuffer(value)) {
    try {
      value = JSON.parse(value.toString());
    } catch (err) {
      fail(
        ctx,
        'parse',
        'envelope is not JSON',
        'a DSSE envelope in JSON',
        `a parse error (${(err as Error).message})`,
        undefined,
        err,
      );
    }
  }
  const env = value as Partial<Record<keyof DsseEnvelope, unknown>> | null;
  if (typeof env !== 'object' || env === null || Array.isArray(env))
    fail(ctx, 'parse', 'envelope is not an object', 'a DSSE envelope object', typeof env);
  const bad: string[] = [];
  if (typeof env.payloadType !== 'string') bad.push('payloadType (a string)');
  if (typeof env.payload !== 'string' || !isStrictBase64(env.payload)) bad.push('payload (standard base64)');
  if (!Array.isArray(env.signatures) || env.signatures.length === 0) bad.push('signatures (a non-empty array)');
  else {
    env.signatures.forEach((s: unknown, i) => {
      const sig = s as Record<string, unknown> | null;
      if (typeof sig !== 'object' || sig === null || typeof sig.keyid !== 'string' || typeof sig.sig !== 'string') {
        bad.push(`signatures[${i}] ({keyid, sig} strings)`);
      }
    });
  }
  if (bad.length > 0)
    fail(ctx, 'parse', 'envelope is malformed', bad.join(', '), 'missing or wrong-typed fields', { fields: bad });
  ctx.envelope = env as DsseEnvelope;
  ctx.payload = Buffer.from(env.payload as string, 'base64');
};

const payloadType: Stage = (ctx) => {
  const actual = ctx.envelope!.payloadType;
  if (actual !== IN_TOTO_PAYLOAD_TYPE)
    fail(
      ctx,
      'payloadType',
      'envelope carries something else',
      JSON.stringify(IN_TOTO_PAYLOAD_TYPE),
      JSON.stringify(actual),
    );
};

const signature: Stage = (ctx) => {
  const env = ctx.envelope!;
  const result = checkSignatures(env.payloadType, ctx.payload!, env.signatures, ctx.keys);
  if (result.ok) {
    ctx.keyId = result.keyId;
    return;
  }
  const trusted = [...ctx.keys.keys()].map((k) => k.slice(0, 16)).join(', ') || 'none';
  const found = result.rejected.map(describeRejected).join('; ');
  fail(
    ctx,
    'signature',
    'no valid signature by a trusted key',
    `an Ed25519 signature by a trusted key (trusted: ${trusted})`,
    found,
    { rejected: result.rejected, trusted: [...ctx.keys.keys()] },
  );
};

/** Why one signature was not accepted, in words. */
function describeRejected(r: { keyid?: string; reason: 'untrusted-key' | 'bad-signature' | 'malformed' }): string {
  const id = r.keyid ? r.keyid.slice(0, 16) : '(no keyid)';
  switch (r.reason) {
    case 'untrusted-key':
      return `keyid ${id}, which is not a trusted key`;
    case 'bad-signature':
      return `keyid ${id}, whose signature does not verify (payload or signature altered)`;
    case 'malformed':
      return `keyid ${id}, whose signature is not a 64-byte base64 Ed25519 signature`;
  }
}

const statement: Stage = (ctx) => {
  const payload = ctx.payload!;
  let value: unknown;
  try {
    value = JSON.parse(payload.toString('utf8'));
  } catch (err) {
    fail(
      ctx,
      'statement',
      'payload is not JSON',
      'an in-toto Statement in canonical JSON',
      `a parse error (${(err as Error).message})`,
      undefined,
      err,
    );
  }
  try {
    assertStatement(value);
  } catch (err) {
    if (!(err instanceof AslError)) throw err;
    const issues = (err.data?.issues ?? []) as ShapeIssue[];
    const first = issues[0];
    fail(
      ctx,
      'statement',
      `statement is malformed (${issues.length} field${issues.length === 1 ? '' : 's'}${first ? `; first: ${first.path}` : ''})`,
      first ? first.expected : 'a PER statement',
      first ? first.actual : err.message,
      { issues },
      err,
    );
  }
  if (!canonicalBytes(value).equals(payload)) {
    fail(
      ctx,
      'statement',
      'payload is not in canonical form',
      'RFC 8785 canonical JSON',
      `${payload.length} bytes that canonicalize differently`,
    );
  }
  ctx.statement = value;
};

const coreDigestStage: Stage = (ctx) => {
  const predicate = ctx.statement!.predicate;
  const actual = coreDigest(predicate.core);
  const a = Buffer.from(actual);
  const b = Buffer.from(predicate.coreDigest);
  if (a.length !== b.length || !timingSafeEqual(a, b)) {
    fail(
      ctx,
      'coreDigest',
      'predicate.coreDigest does not match the core',
      predicate.coreDigest,
      `${actual} (recomputed)`,
    );
  }
};

const PIPELINE: ReadonlyArray<[VerifyStage, Stage]> = [
  ['parse', parse],
  ['payloadType', payloadType],
  ['signature', signature],
  ['statement', statement],
  ['coreDigest', coreDigestStage],
];

/**
 * Verifies a receipt envelope (bytes, JSON text, or a parsed object) against a
 * trust set, stage by stage. Throws ReceiptVerifyError naming the stage,
 * expected and actual; `receiptId` only makes the message name the receipt.
 */
export function verifyEnvelope(
  input: unknown,
  keys: TrustedKeySet,
  opts: { receiptId?: string } = {},
): VerifiedReceipt {
  const ctx: Context = { subject: opts.receiptId ? `receipt ${opts.receiptId}` : 'receipt', input, keys };
  for (const [, run] of PIPELINE) run(ctx);
  return {
    envelope: ctx.envelope!,
    statement: ctx.statement!,
    keyId: ctx.keyId!,
    payload: ctx.payload!,
    coreDigest: ctx.statement!.predicate.coreDigest,
  };
}
