/**
 * What verify's steps share (verify.ts runs them): the context each step adds to, and
 * the report made from it. Apart from verify.ts so the steps in their own files
 * (verify-packs.ts, verify-keys.ts, verify-modes.ts, receipt/) need not import it.
 */
import type { DigestSizes } from './digest-sizes.js';
import type { Digest } from '../core/digest.js';
import type { Store } from './store.js';

export interface VerifyProblem {
  step: string;
  /** The object, receipt or file concerned. */
  subject: string;
  message: string;
  expected?: string;
  actual?: string;
}

export interface VerifyContext {
  store: Store;
  quick: boolean;
  /** Every object present: digest -> size in bytes. */
  objects: DigestSizes;
  /** Objects whose bytes did not match their name. */
  corrupt: Set<Digest>;
  trees: Set<Digest>;
  /** Objects other than trees whose bytes start with '{': where stored receipts are looked for. */
  jsonObjects: Set<Digest>;
  /** The log's last committed entry as `SEQ:RECEIPT_ID` when the log verifies (what an operator writes down). */
  anchor: string | null;
  /** Ids that something durable (a ref, a receipt) refers to: they must be complete. */
  roots: Set<Digest>;
  problems: VerifyProblem[];
  notes: string[];
  counts: Record<string, number>;
  privateKeys: PrivateKeys;
}

export interface VerifyStep {
  name: string;
  run(ctx: VerifyContext): Promise<void>;
}

export interface VerifyReport {
  ok: boolean;
  store: string;
  /** The log's last entry, `SEQ:RECEIPT_ID`, when the log verifies; null for an empty or damaged log. */
  anchor: string | null;
  counts: Record<string, number>;
  problems: VerifyProblem[];
  notes: string[];
  /** Secrets the store holds, and the image root it lies in if any: never a problem, but worth saying (verify-keys.ts). */
  privateKeys: PrivateKeys;
  steps: Array<{ name: string; ms: number }>;
}

export interface PrivateKeys {
  /** The secret key files present, relative to the store: keys/signing.key, keys/environment.key. */
  files: string[];
  /** The nearest directory above the store (never /) that looks like a system image's root (has etc/os-release). */
  imageRoot: string | null;
}
