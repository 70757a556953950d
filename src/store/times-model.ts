/**
 * Timestamps of one snapshot, kept beside the tree so they never change a tree's
 * id. Modification times in pre-order over the tree (the root directory, then
 * each entry in name order, descending into directories as they come), as a flat
 * [seconds, nanoseconds, ...] list: no paths needed, the tree gives the order.
 */
import { canonicalBytes } from '../core/canonical-json.js';
import type { Digest } from '../core/digest.js';
import { isDigest } from '../core/digest.js';
import { AslError } from '../core/errors.js';

export const TIMES_FORMAT = 'times/v1';

export interface Times {
  tree: Digest;
  mtimes: number[];
}

export function encodeTimes(times: Times): Buffer {
  return canonicalBytes({ asl: TIMES_FORMAT, mtimes: times.mtimes, tree: times.tree });
}

export function decodeTimes(bytes: Buffer, id = 'times'): Times {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new AslError('CORRUPT', `${id}: times object is not valid JSON`);
  }
  if (
    raw?.asl !== TIMES_FORMAT ||
    !isDigest(raw.tree) ||
    !Array.isArray(raw.mtimes) ||
    raw.mtimes.length % 2 !== 0 ||
    !raw.mtimes.every((n) => typeof n === 'number' && Number.isSafeInteger(n))
  ) {
    throw new AslError('CORRUPT', `${id}: not a valid ${TIMES_FORMAT} object`);
  }
  return { tree: raw.tree, mtimes: raw.mtimes as number[] };
}
