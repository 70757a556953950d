import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { KEYS_DIR, LOG_DIR, OBJECTS_DIR } from './layout.js';

/** Deeper than any outdir a workflow makes (per/STEP/…); a bound, not a rule. */
const MAX_DEPTH = 8;

async function names(dir: string): Promise<Set<string> | null> {
  try {
    return new Set(await readdir(dir));
  } catch {
    return null;
  }
}

/** Receipt envelopes (`per.dsse.json`, `NAME.per.dsse.json`) below `dir`; links are not followed. */
async function countEnvelopes(dir: string, depth = 0): Promise<number> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  let n = 0;
  for (const e of entries) {
    if (e.isFile() && e.name.endsWith('per.dsse.json')) n++;
    else if (e.isDirectory() && depth < MAX_DEPTH) n += await countEnvelopes(join(dir, e.name), depth + 1);
  }
  return n;
}

export interface ReceiptFolderCopy {
  /** What is there, readably: "per/ with 14 receipts, binaries/, scripts/". */
  what: string;
  /** What a store would have and this lacks: "objects, log or keys". */
  without: string;
  receipts: number;
  folders: string[];
}

/**
 * A directory without a store marker that holds the seed's folders (per/ binaries/
 * scripts/) and no objects: what the seed's literal `cp -a` lines make. Receipts
 * without the objects, log and keys that verify them prove nothing, and a bare "not an
 * ASL store" would not say what to do instead. Null for anything else.
 */
export async function receiptFolderCopy(root: string): Promise<ReceiptFolderCopy | null> {
  const present = await names(root);
  if (!present || present.has(OBJECTS_DIR)) return null;
  const folders = (['per', 'binaries', 'scripts'] as const).filter((d) => present.has(d));
  if (folders.length === 0) return null;
  const receipts = folders.includes('per') ? await countEnvelopes(join(root, 'per')) : 0;
  const what = folders
    .map((d) => (d === 'per' ? `per/ with ${receipts} receipt${receipts === 1 ? '' : 's'}` : `${d}/`))
    .join(', ');
  const missing = ['objects', ...(present.has(LOG_DIR) ? [] : ['log']), ...(present.has(KEYS_DIR) ? [] : ['keys'])];
  const without = missing.length === 1 ? missing[0]! : `${missing.slice(0, -1).join(', ')} or ${missing.at(-1)}`;
  return { what, without, receipts, folders };
}
