/**
 * What verify's `log` step read, kept per verify run for the receipt steps after it.
 * Held here rather than in the store's VerifyContext: the log is the receipt layer's,
 * and the store layer knows nothing of it.
 */
import type { VerifyContext } from '../store/verify-context.js';
import type { LogRecord } from './receipt-log.js';

export interface LogRead {
  /** Committed entries that parse. */
  records: LogRecord[];
  /** Lines pending past the head. */
  pending: LogRecord[];
}

const reads = new WeakMap<VerifyContext, LogRead>();

/** The log step's reading for this run; undefined before the step ran (or when it was not run). */
export function logRead(ctx: VerifyContext, read?: LogRead): LogRead | undefined {
  if (read !== undefined) reads.set(ctx, read);
  return reads.get(ctx);
}
