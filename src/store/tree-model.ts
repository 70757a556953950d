/**
 * The tree object: one directory's canonical listing. Pure (no I/O): encode,
 * decode, validate. Entries are sorted by raw name bytes; names, symlink targets
 * and hard-link paths are bytes, written as UTF-8 strings when they round-trip and
 * as base64 (`name64`, `target64`, `hardlink64`) when they do not. Timestamps are
 * not part of a tree (see times-model.ts), so a tree's id depends on content and
 * metadata only. Canonical JSON (RFC 8785) makes the encoding unique: decoding and
 * re-encoding a valid tree reproduces its bytes exactly.
 */
import { canonicalize } from '../core/canonical-json.js';
import type { Digest } from '../core/digest.js';
import { isDigest } from '../core/digest.js';
import { AslError } from '../core/errors.js';

export const TREE_FORMAT = 'tree/v1';
/** Every tree object starts with these bytes (canonical JSON puts "asl" first). */
export const TREE_MAGIC = Buffer.from(`{"asl":"${TREE_FORMAT}",`);

export type EntryType = 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket';
const ENTRY_TYPES: ReadonlySet<string> = new Set(['file', 'dir', 'symlink', 'char', 'block', 'fifo', 'socket']);

export interface TreeEntry {
  name: Buffer;
  type: EntryType;
  /** Permission bits including setuid, setgid and sticky (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Regular files: content size in bytes. */
  size?: number;
  /** Regular files: the blob id; directories: the sub-tree id. */
  digest?: Digest;
  /** Symbolic links: the target, as raw bytes. */
  target?: Buffer;
  /** Character and block devices: [major, minor]. */
  rdev?: [number, number];
  /** Extended attributes sorted by name bytes: [name, value]. */
  xattrs?: Array<[Buffer, Buffer]>;
  /**
   * Hard links: the path, relative to the snapshot root, of the first entry (in
   * depth-first name order) sharing this inode. Absent on that first entry.
   */
  hardlink?: Buffer;
}

/** Totals over the whole sub-tree, so a tree can be summarized without walking it. */
export interface TreeTotals {
  files: number;
  dirs: number;
  other: number;
  bytes: number;
}

/** The directory's own metadata, so a snapshot root restores exactly too. */
export interface TreeSelf {
  mode: number;
  uid: number;
  gid: number;
  xattrs?: Array<[Buffer, Buffer]>;
}

export interface Tree {
  self: TreeSelf;
  entries: TreeEntry[];
  totals: TreeTotals;
}

function isUtf8RoundTrip(bytes: Buffer): boolean {
  return Buffer.from(bytes.toString('utf8'), 'utf8').equals(bytes);
}

function encodeXattrs(xattrs: Array<[Buffer, Buffer]>): string[][] {
  return [...xattrs]
    .sort((a, b) => Buffer.compare(a[0], b[0]))
    .map(([n, v]) => [n.toString('base64'), v.toString('base64')]);
}

function decodeXattrs(value: unknown, label: string, problems: string[]): Array<[Buffer, Buffer]> | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) {
    problems.push(`${label}: xattrs is not a list`);
    return undefined;
  }
  return value.map((pair) => {
    const [n, v] = Array.isArray(pair) ? pair : [];
    if (typeof n !== 'string' || typeof v !== 'string' || n.length === 0) {
      problems.push(`${label}: malformed xattr`);
      return [Buffer.alloc(0), Buffer.alloc(0)];
    }
    return [Buffer.from(n, 'base64'), Buffer.from(v, 'base64')] as [Buffer, Buffer];
  });
}

export function compareNames(a: TreeEntry, b: TreeEntry): number {
  return Buffer.compare(a.name, b.name);
}

/**
 * RFC 8785 canonical JSON of the tree object, written directly: the keys of a
 * tree, an entry and `self` are known, so their sorted order is fixed (a `name`
 * or `name64`, `target` or `target64`, `hardlink` or `hardlink64` sorts to the
 * same place), and strings and numbers are serialized as canonicalize does
 * (JSON.stringify). Every snapshot encodes a tree per directory and every read
 * of a tree re-encodes it to check it is canonical, so this is hot; the test
 * compares it with canonicalBytes of the object form on random trees.
 */
export function encodeTree(tree: Tree): Buffer {
  const parts: string[] = ['{"asl":"tree/v1","entries":['];
  tree.entries.forEach((e, i) => {
    parts.push(i > 0 ? `,${entryJson(e)}` : entryJson(e));
  });
  const self = tree.self;
  parts.push(
    `],"self":{"gid":${JSON.stringify(self.gid)},"mode":${JSON.stringify(self.mode)},"uid":${JSON.stringify(self.uid)}`,
  );
  if (self.xattrs && self.xattrs.length > 0) parts.push(`,"xattrs":${xattrsJson(self.xattrs)}`);
  // Totals as they are (a decoded tree keeps whatever its totals held), in canonical form.
  parts.push(`},"totals":${canonicalize(tree.totals)}}`);
  return Buffer.from(parts.join(''), 'utf8');
}

/** One entry's canonical JSON, exactly as it stands inside its tree object. */
function entryJson(e: TreeEntry): string {
  let o = '{';
  if (e.digest !== undefined) o += `"digest":${JSON.stringify(e.digest)},`;
  o += `"gid":${JSON.stringify(e.gid)}`;
  if (e.hardlink !== undefined) o += `,${bytesMember('hardlink', e.hardlink)}`;
  o += `,"mode":${JSON.stringify(e.mode)},${bytesMember('name', e.name)}`;
  if (e.rdev !== undefined) o += `,"rdev":[${JSON.stringify(e.rdev[0])},${JSON.stringify(e.rdev[1])}]`;
  if (e.size !== undefined) o += `,"size":${JSON.stringify(e.size)}`;
  if (e.target !== undefined) o += `,${bytesMember('target', e.target)}`;
  o += `,"type":${JSON.stringify(e.type)},"uid":${JSON.stringify(e.uid)}`;
  if (e.xattrs && e.xattrs.length > 0) o += `,"xattrs":${xattrsJson(e.xattrs)}`;
  return `${o}}`;
}

/** `"field":"text"` when the bytes are UTF-8 that round-trips, else `"field64":"base64"`. */
function bytesMember(field: string, bytes: Buffer): string {
  return isUtf8RoundTrip(bytes)
    ? `"${field}":${JSON.stringify(bytes.toString('utf8'))}`
    : `"${field}64":${JSON.stringify(bytes.toString('base64'))}`;
}

function xattrsJson(xattrs: Array<[Buffer, Buffer]>): string {
  return JSON.stringify(encodeXattrs(xattrs));
}

export function isTreeBytes(bytes: Buffer): boolean {
  return bytes.length >= TREE_MAGIC.length && bytes.subarray(0, TREE_MAGIC.length).equals(TREE_MAGIC);
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function bytesField(
  raw: Record<string, unknown>,
  field: string,
  problems: string[],
  where: string,
): Buffer | undefined {
  const text = raw[field];
  const b64 = raw[`${field}64`];
  if (text !== undefined && b64 !== undefined) {
    problems.push(`${where}: both ${field} and ${field}64`);
    return undefined;
  }
  if (typeof text === 'string') return Buffer.from(text, 'utf8');
  if (typeof b64 === 'string') return Buffer.from(b64, 'base64');
  if (text !== undefined || b64 !== undefined) problems.push(`${where}: ${field} is not a string`);
  return undefined;
}

/** A single path component: no "/", no NUL, not "." or "..", not empty. */
function isSafeName(name: Buffer): boolean {
  if (name.length === 0 || name.includes(0x2f) || name.includes(0)) return false;
  return !(name.length === 1 && name[0] === 0x2e) && !(name.length === 2 && name[0] === 0x2e && name[1] === 0x2e);
}

/** A relative path of safe components (used for hard-link references). */
function isSafeRelativePath(path: Buffer): boolean {
  if (path.length === 0 || path[0] === 0x2f) return false;
  let start = 0;
  for (let i = 0; i <= path.length; i++) {
    if (i === path.length || path[i] === 0x2f) {
      if (!isSafeName(path.subarray(start, i))) return false;
      start = i + 1;
    }
  }
  return true;
}

/**
 * Parses and validates a tree object. Hostile input (from a bundle or a corrupted
 * store) is expected: every field is checked, names must be single safe path
 * components in strictly increasing byte order, and all problems are reported.
 */
export function decodeTree(bytes: Buffer, id = 'tree'): Tree {
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new AslError('CORRUPT', `${id}: tree object is not valid JSON`);
  }
  const problems: string[] = [];
  const doc = raw as Record<string, unknown>;
  if (typeof doc !== 'object' || doc === null || doc.asl !== TREE_FORMAT || !Array.isArray(doc.entries)) {
    throw new AslError('CORRUPT', `${id}: not a ${TREE_FORMAT} object`);
  }
  const t = doc.totals as Record<string, unknown> | undefined;
  if (!t || !isCount(t.files) || !isCount(t.dirs) || !isCount(t.other) || !isCount(t.bytes))
    problems.push('totals are malformed');
  const entries: TreeEntry[] = [];
  let prev: Buffer | undefined;
  for (const [i, item] of (doc.entries as unknown[]).entries()) {
    const entry = entryOf(item, i, problems);
    if (!entry) continue;
    if (prev && Buffer.compare(prev, entry.name) >= 0)
      problems.push(
        `entry ${JSON.stringify(entry.name.toString('utf8'))}: names not in strictly increasing byte order`,
      );
    prev = entry.name;
    entries.push(entry);
  }
  const rs = doc.self as Record<string, unknown> | undefined;
  const self: TreeSelf = { mode: 0, uid: 0, gid: 0 };
  if (!rs || typeof rs !== 'object' || !isCount(rs.mode) || rs.mode > 0o7777 || !isCount(rs.uid) || !isCount(rs.gid))
    problems.push('self is malformed');
  else {
    self.mode = rs.mode;
    self.uid = rs.uid;
    self.gid = rs.gid;
    const sx = decodeXattrs(rs.xattrs, 'self', problems);
    if (sx) self.xattrs = sx;
  }
  if (problems.length > 0)
    throw new AslError(
      'CORRUPT',
      `${id}: invalid tree: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? ` (+${problems.length - 5} more)` : ''}`,
    );
  const tree: Tree = { self, entries, totals: t as unknown as TreeTotals };
  // One directory, one id: anything but the canonical bytes (extra whitespace, a
  // UTF-8 name written as name64, unpadded base64…) is refused.
  if (!encodeTree(tree).equals(bytes)) throw new AslError('CORRUPT', `${id}: tree object is not in canonical form`);
  return tree;
}

/** One entry of a tree object's `entries`, checked; problems are appended (undefined when it cannot be used at all). */
function entryOf(item: unknown, i: number, problems: string[]): TreeEntry | undefined {
  const where = `entry ${i}`;
  if (typeof item !== 'object' || item === null) {
    problems.push(`${where}: not an object`);
    return undefined;
  }
  const r = item as Record<string, unknown>;
  const name = bytesField(r, 'name', problems, where);
  if (!name || !isSafeName(name)) {
    problems.push(`${where}: unsafe or missing name ${JSON.stringify(name?.toString('utf8'))}`);
    return undefined;
  }
  const label = `entry ${JSON.stringify(name.toString('utf8'))}`;
  if (typeof r.type !== 'string' || !ENTRY_TYPES.has(r.type)) {
    problems.push(`${label}: unknown type ${String(r.type)}`);
    return undefined;
  }
  const type = r.type as EntryType;
  if (!isCount(r.mode) || r.mode > 0o7777) problems.push(`${label}: bad mode`);
  if (!isCount(r.uid) || !isCount(r.gid)) problems.push(`${label}: bad owner`);
  const entry: TreeEntry = { name, type, mode: r.mode as number, uid: r.uid as number, gid: r.gid as number };
  if (type === 'file') {
    if (!isCount(r.size)) problems.push(`${label}: file without size`);
    else entry.size = r.size;
  }
  if (type === 'file' || type === 'dir') {
    if (!isDigest(r.digest)) problems.push(`${label}: ${type} without a valid digest`);
    else entry.digest = r.digest;
  } else if (r.digest !== undefined) problems.push(`${label}: ${type} must not have a digest`);
  if (type === 'symlink') {
    const target = bytesField(r, 'target', problems, label);
    if (!target || target.length === 0) problems.push(`${label}: symlink without target`);
    else entry.target = target;
  }
  if (type === 'char' || type === 'block') {
    const rdev = r.rdev;
    if (!Array.isArray(rdev) || rdev.length !== 2 || !isCount(rdev[0]) || !isCount(rdev[1]))
      problems.push(`${label}: device without [major, minor]`);
    else entry.rdev = [rdev[0], rdev[1]];
  }
  const xattrs = decodeXattrs(r.xattrs, label, problems);
  if (xattrs) entry.xattrs = xattrs;
  const hardlink = bytesField(r, 'hardlink', problems, label);
  if (hardlink) {
    if (
      type !== 'file' &&
      type !== 'symlink' &&
      type !== 'char' &&
      type !== 'block' &&
      type !== 'fifo' &&
      type !== 'socket'
    )
      problems.push(`${label}: a ${type} cannot be a hard link`);
    if (!isSafeRelativePath(hardlink)) problems.push(`${label}: unsafe hard-link path`);
    entry.hardlink = hardlink;
  }
  return entry;
}

/**
 * One entry decoded from its own bytes (a slice of a tree object, see
 * tree-entry-diff.ts): every check decodeTree makes of an entry, and its bytes
 * must be the entry's canonical form. `id` names the tree in messages.
 */
export function decodeEntryBytes(bytes: Buffer, id: string): TreeEntry {
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new AslError('CORRUPT', `${id}: tree object has an entry that is not valid JSON`);
  }
  const problems: string[] = [];
  const entry = entryOf(raw, 0, problems);
  if (!entry || problems.length > 0)
    throw new AslError('CORRUPT', `${id}: invalid tree: ${problems.slice(0, 5).join('; ') || 'malformed entry'}`);
  if (!Buffer.from(entryJson(entry), 'utf8').equals(bytes))
    throw new AslError('CORRUPT', `${id}: tree object is not in canonical form`);
  return entry;
}

/** Maps a file type from st_mode to an entry type (undefined for unknown types). */
export function entryTypeOfMode(mode: number): EntryType | undefined {
  switch (mode & 0o170000) {
    case 0o100000:
      return 'file';
    case 0o040000:
      return 'dir';
    case 0o120000:
      return 'symlink';
    case 0o020000:
      return 'char';
    case 0o060000:
      return 'block';
    case 0o010000:
      return 'fifo';
    case 0o140000:
      return 'socket';
    default:
      return undefined;
  }
}

export const TYPE_MODE_BITS: Record<EntryType, number> = {
  file: 0o100000,
  dir: 0o040000,
  symlink: 0o120000,
  char: 0o020000,
  block: 0o060000,
  fifo: 0o010000,
  socket: 0o140000,
};
