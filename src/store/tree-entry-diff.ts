/**
 * The entries that differ between two tree objects, found by comparing the
 * entries' bytes rather than decoding both trees whole.
 *
 * A tree's encoding is canonical (tree-model.ts): one entry, one byte string. So
 * two entries with the same bytes are the same entry, and only the entries whose
 * bytes differ need decoding. A history walk over thousands of steps that each
 * changed one file of a directory of a hundred decodes two entries per step
 * instead of two hundred, and skips the re-encoding a whole-tree decode does to
 * check canonical form (most of its cost).
 *
 * What is trusted: the bytes are an object read from the store (its digest
 * checked on read). Every entry returned is decoded with every check decodeTree
 * makes, its bytes in canonical form; an entry not returned has the same bytes as
 * an entry of the other tree, so it decodes to the same entry. The entries array
 * is split by a scanner that knows JSON strings and nesting, so a name holding
 * `},{"` cannot move a boundary; anything it does not expect is CORRUPT.
 */
import { AslError } from '../core/errors.js';
import { decodeEntryBytes, TREE_FORMAT, type TreeEntry } from './tree-model.js';

const ENTRIES_START = Buffer.from(`{"asl":"${TREE_FORMAT}","entries":[`);
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

/** One entry present in either tree whose bytes differ (absent on the side that lacks the name). */
export interface EntryChange {
  name: Buffer;
  before?: TreeEntry;
  after?: TreeEntry;
}

/** Start and end offsets of each entry object in a tree object's bytes: [s0, e0, s1, e1, …]. */
export function entryBounds(bytes: Buffer, id: string): number[] {
  const corrupt = (what: string) => new AslError('CORRUPT', `${id}: tree object ${what}`);
  if (
    bytes.length < ENTRIES_START.length ||
    bytes.compare(ENTRIES_START, 0, ENTRIES_START.length, 0, ENTRIES_START.length) !== 0
  )
    throw corrupt(`does not start as a ${TREE_FORMAT} object`);
  const bounds: number[] = [];
  const n = bytes.length;
  let i = ENTRIES_START.length;
  if (bytes[i] === CLOSE_ARRAY) return bounds;
  for (;;) {
    if (bytes[i] !== OPEN_OBJECT) throw corrupt(`has something other than an object in its entries at byte ${i}`);
    const start = i++;
    let depth = 1;
    while (depth > 0) {
      if (i >= n) throw corrupt('ends inside an entry');
      const c = bytes[i++]!;
      if (c === QUOTE) {
        for (;;) {
          if (i >= n) throw corrupt('ends inside a string');
          const s = bytes[i++]!;
          if (s === BACKSLASH) i++;
          else if (s === QUOTE) break;
        }
      } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) depth++;
      else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) depth--;
    }
    if (bytes[i - 1] !== CLOSE_OBJECT) throw corrupt(`has an entry that does not end with } at byte ${i - 1}`);
    bounds.push(start, i);
    if (bytes[i] === CLOSE_ARRAY) return bounds;
    if (bytes[i] !== COMMA) throw corrupt(`has no comma between entries at byte ${i}`);
    i++;
  }
}

/**
 * The entries whose bytes differ from tree `before` (null: an empty tree) to
 * tree `after`, in name order, each decoded and checked. Names must be in
 * strictly increasing byte order on each side, as in any tree.
 */
export function changedEntries(
  before: { bytes: Buffer; id: string } | null,
  after: { bytes: Buffer; id: string },
): EntryChange[] {
  const a = before ? entryBounds(before.bytes, before.id) : [];
  const b = entryBounds(after.bytes, after.id);
  const aBytes = before?.bytes ?? Buffer.alloc(0);
  const bBytes = after.bytes;
  const out: EntryChange[] = [];
  let lastA: Buffer | undefined;
  let lastB: Buffer | undefined;
  const decodeA = (k: number): TreeEntry => {
    const e = decodeEntryBytes(aBytes.subarray(a[k]!, a[k + 1]!), before!.id);
    if (lastA && Buffer.compare(lastA, e.name) >= 0) throw notSorted(before!.id);
    lastA = e.name;
    return e;
  };
  const decodeB = (k: number): TreeEntry => {
    const e = decodeEntryBytes(bBytes.subarray(b[k]!, b[k + 1]!), after.id);
    if (lastB && Buffer.compare(lastB, e.name) >= 0) throw notSorted(after.id);
    lastB = e.name;
    return e;
  };
  let i = 0;
  let j = 0;
  // Entries pending after a mismatch: the decoded head of each side not yet placed.
  let headA: TreeEntry | undefined;
  let headB: TreeEntry | undefined;
  while (i < a.length || j < b.length) {
    if (!headA && !headB && i < a.length && j < b.length) {
      const la = a[i + 1]! - a[i]!;
      if (la === b[j + 1]! - b[j]! && aBytes.compare(bBytes, b[j]!, b[j + 1]!, a[i]!, a[i + 1]!) === 0) {
        i += 2;
        j += 2;
        continue;
      }
    }
    if (!headA && i < a.length) headA = decodeA(i);
    if (!headB && j < b.length) headB = decodeB(j);
    const order = !headA ? 1 : !headB ? -1 : Buffer.compare(headA.name, headB.name);
    if (order === 0) {
      // The same bytes met out of step (after an added or removed entry): unchanged.
      if (aBytes.compare(bBytes, b[j]!, b[j + 1]!, a[i]!, a[i + 1]!) !== 0)
        out.push({ name: headB!.name, before: headA!, after: headB! });
      headA = headB = undefined;
      i += 2;
      j += 2;
    } else if (order < 0) {
      out.push({ name: headA!.name, before: headA! });
      headA = undefined;
      i += 2;
    } else {
      out.push({ name: headB!.name, after: headB! });
      headB = undefined;
      j += 2;
    }
  }
  return out;
}

function notSorted(id: string): AslError {
  return new AslError('CORRUPT', `${id}: invalid tree: names not in strictly increasing byte order`);
}
