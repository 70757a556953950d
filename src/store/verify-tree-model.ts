/**
 * The pure half of `verify --tree`: what a difference is, how expected and actual
 * values are written, which hard-link groups changed, and how the differences of
 * one inode seen through several hard links are folded into one. No I/O.
 */
import type { EntryType, TreeEntry } from './tree-model.js';

export type TreeDifferenceKind =
  | 'missing' // recorded, absent from the directory
  | 'extra' // in the directory, not recorded
  | 'type' // file / dir / symlink / char / block / fifo / socket changed
  | 'content' // a regular file's bytes (size or sha256)
  | 'mode' // permission bits incl. setuid, setgid, sticky
  | 'owner' // numeric uid:gid
  | 'target' // a symlink's target
  | 'device' // a device node's major:minor
  | 'hardlink' // which earlier path an entry shares its inode with
  | 'xattr' // one extended attribute (name in `name`)
  | 'unreadable' // the live entry could not be read (permission, vanished mid-check)
  | 'record'; // the recorded sub-tree could not be read from the store (missing or corrupt object)

/** Order of the checks on one entry, so output is stable. */
const KIND_ORDER: Record<TreeDifferenceKind, number> = {
  record: 0,
  unreadable: 1,
  missing: 2,
  extra: 3,
  type: 4,
  content: 5,
  mode: 6,
  owner: 7,
  target: 8,
  device: 9,
  xattr: 10,
  hardlink: 11,
};

export interface TreeDifference {
  kind: TreeDifferenceKind;
  /** Path inside the tree, "/"-rooted ("/" is the root itself); non-UTF-8 bytes as \xNN. */
  path: string;
  /** What the tree records; null when the tree has nothing there. */
  expected: string | null;
  /** What the directory holds; null when it has nothing there. */
  actual: string | null;
  /** xattr differences: the attribute's name. */
  name?: string;
  /** Other hard links of the same inode showing the very same difference. */
  alsoAt?: string[];
}

/** A difference with its place in walk order and, for shared inodes, the inode. */
export interface SortableDifference {
  seq: number;
  inode?: string;
  diff: TreeDifference;
}

function escapeBytes(bytes: Buffer): string {
  return [...bytes]
    .map((b) =>
      b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`,
    )
    .join('');
}

/** Bytes as text: UTF-8 when they round-trip (and hold no control characters), else \xNN escapes. */
export function bytesText(bytes: Buffer): string {
  const text = bytes.toString('utf8');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is escaped
  if (Buffer.from(text, 'utf8').equals(bytes) && !/[\x00-\x1f\x7f]/.test(text)) return text;
  return escapeBytes(bytes);
}

export function displayPath(rel: Buffer): string {
  return rel.length === 0 ? '/' : `/${bytesText(rel)}`;
}

export function modeText(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

const TYPE_NAME: Record<EntryType, string> = {
  file: 'file',
  dir: 'directory',
  symlink: 'symlink',
  char: 'char device',
  block: 'block device',
  fifo: 'fifo',
  socket: 'socket',
};

export function typeText(type: EntryType): string {
  return TYPE_NAME[type];
}

/** An xattr value: quoted text when printable (a trailing NUL allowed, as SELinux writes), else 0x hex. */
function xattrValueText(value: Buffer): string {
  const body = value.length > 0 && value[value.length - 1] === 0 ? value.subarray(0, -1) : value;
  if (body.length > 0 && body.every((b) => b >= 0x20 && b < 0x7f))
    return JSON.stringify(body.toString('latin1')) + (body === value ? '' : '\\0');
  return `0x${value.toString('hex')}`;
}

export function contentText(size: number, digest?: string): string {
  return digest ? `${digest} (${size} bytes)` : `${size} bytes`;
}

/** A recorded entry in one phrase, for `missing`. */
export function describeRecorded(e: TreeEntry, totals?: { files: number; dirs: number; other: number }): string {
  switch (e.type) {
    case 'file':
      return `file ${contentText(e.size ?? 0, e.digest)}`;
    case 'dir':
      return totals
        ? `directory holding ${totals.files} files, ${totals.dirs} directories, ${totals.other} other`
        : 'directory';
    case 'symlink':
      return `symlink -> ${bytesText(e.target ?? Buffer.alloc(0))}`;
    case 'char':
    case 'block':
      return `${typeText(e.type)} ${e.rdev?.[0]}:${e.rdev?.[1]}`;
    default:
      return typeText(e.type);
  }
}

/** A live entry in one phrase, for `extra` (files are not hashed: size only). */
export function describeLive(
  type: EntryType,
  live: { size: number; target?: Buffer; rdevMajor: number; rdevMinor: number },
): string {
  switch (type) {
    case 'file':
      return `file ${contentText(live.size)}`;
    case 'dir':
      return 'directory (not descended)';
    case 'symlink':
      return `symlink -> ${bytesText(live.target ?? Buffer.alloc(0))}`;
    case 'char':
    case 'block':
      return `${typeText(type)} ${live.rdevMajor}:${live.rdevMinor}`;
    default:
      return typeText(type);
  }
}

/** Compares two xattr lists (each sorted by name); one difference per name that differs. */
export function xattrDifferences(
  path: string,
  expected: ReadonlyArray<[Buffer, Buffer]> = [],
  actual: ReadonlyArray<[Buffer, Buffer]> = [],
): TreeDifference[] {
  const out: TreeDifference[] = [];
  let i = 0;
  let j = 0;
  while (i < expected.length || j < actual.length) {
    const e = expected[i];
    const a = actual[j];
    const c = !e ? 1 : !a ? -1 : Buffer.compare(e[0], a[0]);
    if (c < 0) {
      out.push({ kind: 'xattr', path, name: bytesText(e![0]), expected: xattrValueText(e![1]), actual: null });
      i++;
    } else if (c > 0) {
      out.push({ kind: 'xattr', path, name: bytesText(a![0]), expected: null, actual: xattrValueText(a![1]) });
      j++;
    } else {
      if (!e![1].equals(a![1]))
        out.push({
          kind: 'xattr',
          path,
          name: bytesText(e![0]),
          expected: xattrValueText(e![1]),
          actual: xattrValueText(a![1]),
        });
      i++;
      j++;
    }
  }
  return out;
}

/**
 * One non-directory present on both sides with the same type, as far as hard
 * links are concerned. `expectedGroup` is the tree's `hardlink` path (or the
 * entry's own path); `actualGroup` is "dev:ino" when the live inode has several
 * links (or the entry's own path).
 */
export interface LinkRecord {
  seq: number;
  rel: string;
  path: string;
  expectedGroup: string;
  actualGroup: string;
}

/**
 * Hard-link differences. The tree names, on every member of an inode group but
 * the first, the first member's path (depth-first name order). Compare the
 * groups restricted to the paths compared on both sides: for each entry, the
 * first path of its recorded group against the first path of its live inode
 * group. `compared(rel)` says whether a recorded path was compared (present on
 * both sides with the same type); `display(rel)` renders a path.
 */
export function hardlinkDifferences(
  records: readonly LinkRecord[],
  compared: (rel: string) => boolean,
  display: (rel: string) => string,
): SortableDifference[] {
  const firstExpected = new Map<string, string>();
  const firstActual = new Map<string, string>();
  const byRel = new Set<string>();
  for (const r of records) {
    byRel.add(r.rel);
    if (!firstExpected.has(r.expectedGroup)) firstExpected.set(r.expectedGroup, r.rel);
    if (!firstActual.has(r.actualGroup)) firstActual.set(r.actualGroup, r.rel);
  }
  const out: SortableDifference[] = [];
  for (const r of records) {
    let expected = firstExpected.get(r.expectedGroup)!;
    // The recorded first member is always earlier in walk order; if it was compared
    // but is not a record (its inode now has one link), it still leads its group.
    if (r.expectedGroup !== r.rel && !byRel.has(r.expectedGroup) && compared(r.expectedGroup))
      expected = r.expectedGroup;
    const actual = firstActual.get(r.actualGroup)!;
    if (expected === actual) continue;
    out.push({
      seq: r.seq,
      diff: {
        kind: 'hardlink',
        path: r.path,
        expected: expected === r.rel ? 'not linked to an earlier path' : `linked to ${display(expected)}`,
        actual: actual === r.rel ? 'not linked to an earlier path' : `linked to ${display(actual)}`,
      },
    });
  }
  return out;
}

/**
 * Sorts differences into walk order, then folds the same difference found again
 * on another hard link of one inode into the first one's `alsoAt`: a changed
 * file with three names is one difference, naming all three.
 */
export function orderDifferences(found: SortableDifference[]): TreeDifference[] {
  found.sort(
    (a, b) =>
      a.seq - b.seq ||
      KIND_ORDER[a.diff.kind] - KIND_ORDER[b.diff.kind] ||
      (a.diff.name ?? '').localeCompare(b.diff.name ?? ''),
  );
  const first = new Map<string, TreeDifference>();
  const out: TreeDifference[] = [];
  for (const { inode, diff } of found) {
    if (inode !== undefined && diff.kind !== 'hardlink') {
      const key = JSON.stringify([inode, diff.kind, diff.name ?? null, diff.expected, diff.actual]);
      const earlier = first.get(key);
      if (earlier) {
        earlier.alsoAt ??= [];
        earlier.alsoAt.push(diff.path);
        continue;
      }
      first.set(key, diff);
    }
    out.push(diff);
  }
  return out;
}

/** One line for humans: `KIND PATH: expected E, actual A`. */
export function formatDifference(d: TreeDifference): string {
  const what = d.name !== undefined ? `${d.path}: ${d.name}` : d.path;
  const also = d.alsoAt && d.alsoAt.length > 0 ? ` (also at ${d.alsoAt.join(', ')})` : '';
  return `${d.kind.padEnd(8)} ${what}: expected ${d.expected ?? 'absent'}, actual ${d.actual ?? 'absent'}${also}`;
}
