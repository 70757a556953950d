/**
 * The tree objects of a snapshot, written straight into one reused buffer.
 * encodeTree (tree-model.ts) builds the object's text from a TreeEntry per entry
 * and a string per field; a first put of a Debian root encodes ~700 trees of
 * ~6,700 entries that way, and those strings, objects and the garbage they leave
 * were a fifth of the main thread's time, the thread the walk runs on. The bytes
 * are the same: the key order of a tree, an entry and `self` is fixed (see
 * encodeTree), integers are plain decimal, a name, symlink target or hard-link
 * path of printable ASCII without `"` or `\` is its own JSON text, and anything
 * else takes encodeTree's own route (JSON.stringify of the UTF-8 text, or base64
 * when the bytes are not UTF-8). A number that is not a non-negative safe
 * integer (never from a listing) sends the whole tree through encodeTree.
 * test/store/ingest-tree-encode.test.ts compares both encoders on random trees.
 */
import type { Digest } from '../core/digest.js';
import { encodeTree, type EntryType, type TreeEntry, type TreeSelf, type TreeTotals } from './tree-model.js';

/** What the walk knows of one entry when its directory is complete. */
export interface EncodableEntry {
  name: Buffer;
  type: EntryType;
  /** st_mode: the permission bits (mode & 0o7777) are what the tree holds. */
  mode: number;
  uid: number;
  gid: number;
  /** Files: the blob id; directories: the sub-tree id. */
  digest?: Digest;
  /** Files: the bytes stored. */
  contentSize?: number;
  /** Symbolic links (absent: an empty target). */
  target?: Buffer;
  rdevMajor: number;
  rdevMinor: number;
  xattrs?: Array<[Buffer, Buffer]>;
  hardlink?: Buffer;
}

const ascii = (s: string) => Buffer.from(s, 'latin1');
const HEAD = ascii('{"asl":"tree/v1","entries":[');
const OPEN = ascii('{');
const NEXT = ascii(',{');
const DIGEST = ascii('"digest":"');
const QUOTE_COMMA = ascii('",');
const GID = ascii('"gid":');
const COMMA = ascii(',');
const MODE = ascii(',"mode":');
const RDEV = ascii(',"rdev":[');
const CLOSE_RDEV = ascii(']');
const SIZE = ascii(',"size":');
const TYPE: Record<EntryType, Buffer> = {
  file: ascii(',"type":"file","uid":'),
  dir: ascii(',"type":"dir","uid":'),
  symlink: ascii(',"type":"symlink","uid":'),
  char: ascii(',"type":"char","uid":'),
  block: ascii(',"type":"block","uid":'),
  fifo: ascii(',"type":"fifo","uid":'),
  socket: ascii(',"type":"socket","uid":'),
};
const XATTRS = ascii(',"xattrs":');
const CLOSE = ascii('}');
const SELF_GID = ascii('],"self":{"gid":');
const UID = ascii(',"uid":');
const TOTALS = ascii('},"totals":{"bytes":');
const DIRS = ascii(',"dirs":');
const FILES = ascii(',"files":');
const OTHER = ascii(',"other":');
const END = ascii('}}');
const MEMBER_OPEN: Record<string, [Buffer, Buffer]> = {
  name: [ascii('"name":'), ascii('"name64":')],
  target: [ascii('"target":'), ascii('"target64":')],
  hardlink: [ascii('"hardlink":'), ascii('"hardlink64":')],
};
const EMPTY = Buffer.alloc(0);
const EMPTY_TARGET = Buffer.alloc(0);

const isCount = (n: number) => Number.isSafeInteger(n) && n >= 0;

/** Printable ASCII without `"` and `\`: JSON.stringify leaves it as it is. */
function plainAscii(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return false;
  }
  return true;
}

function xattrsText(xattrs: Array<[Buffer, Buffer]>): string {
  return JSON.stringify(
    [...xattrs]
      .sort((a, b) => Buffer.compare(a[0], b[0]))
      .map(([n, v]) => [n.toString('base64'), v.toString('base64')]),
  );
}

export class TreeEncoder {
  private buf = Buffer.allocUnsafe(64 * 1024);
  private o = 0;

  /**
   * The tree object's bytes, exactly encodeTree's. The result is a view of this
   * encoder's buffer: valid until the next call (copy it to keep it).
   */
  encode(self: TreeSelf, entries: readonly EncodableEntry[], totals: TreeTotals): Buffer {
    if (!this.numbersPlain(self, entries, totals)) return encodeTree({ self, entries: entries.map(treeEntry), totals });
    this.o = 0;
    this.raw(HEAD);
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      this.raw(i > 0 ? NEXT : OPEN);
      if (e.digest !== undefined) {
        this.raw(DIGEST);
        this.latin1(e.digest);
        this.raw(QUOTE_COMMA);
      }
      this.raw(GID);
      this.int(e.gid);
      if (e.hardlink !== undefined) {
        this.raw(COMMA);
        this.member('hardlink', e.hardlink);
      }
      this.raw(MODE);
      this.int(e.mode & 0o7777);
      this.raw(COMMA);
      this.member('name', e.name);
      if (e.type === 'char' || e.type === 'block') {
        this.raw(RDEV);
        this.int(e.rdevMajor);
        this.raw(COMMA);
        this.int(e.rdevMinor);
        this.raw(CLOSE_RDEV);
      }
      if (e.type === 'file') {
        this.raw(SIZE);
        this.int(e.contentSize!);
      }
      if (e.type === 'symlink') {
        this.raw(COMMA);
        this.member('target', e.target ?? EMPTY_TARGET);
      }
      this.raw(TYPE[e.type]);
      this.int(e.uid);
      if (e.xattrs && e.xattrs.length > 0) {
        this.raw(XATTRS);
        this.latin1(xattrsText(e.xattrs));
      }
      this.raw(CLOSE);
    }
    this.raw(SELF_GID);
    this.int(self.gid);
    this.raw(MODE);
    this.int(self.mode);
    this.raw(UID);
    this.int(self.uid);
    if (self.xattrs && self.xattrs.length > 0) {
      this.raw(XATTRS);
      this.latin1(xattrsText(self.xattrs));
    }
    this.raw(TOTALS);
    this.int(totals.bytes);
    this.raw(DIRS);
    this.int(totals.dirs);
    this.raw(FILES);
    this.int(totals.files);
    this.raw(OTHER);
    this.int(totals.other);
    this.raw(END);
    return this.buf.subarray(0, this.o);
  }

  private numbersPlain(self: TreeSelf, entries: readonly EncodableEntry[], t: TreeTotals): boolean {
    if (!isCount(self.gid) || !isCount(self.mode) || !isCount(self.uid)) return false;
    if (!isCount(t.bytes) || !isCount(t.dirs) || !isCount(t.files) || !isCount(t.other)) return false;
    if (Object.keys(t).length !== 4) return false;
    for (const e of entries) {
      if (!isCount(e.gid) || !isCount(e.uid) || !isCount(e.mode)) return false;
      if (e.type === 'file' && !isCount(e.contentSize!)) return false;
      if ((e.type === 'char' || e.type === 'block') && !(isCount(e.rdevMajor) && isCount(e.rdevMinor))) return false;
    }
    return true;
  }

  private room(n: number): void {
    if (this.o + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.o + n));
    this.buf.copy(bigger, 0, 0, this.o);
    this.buf = bigger;
  }

  private raw(b: Buffer): void {
    this.room(b.length);
    this.o += b.copy(this.buf, this.o);
  }

  private latin1(s: string): void {
    this.room(s.length);
    this.o += this.buf.write(s, this.o, 'latin1');
  }

  private utf8(s: string): void {
    const n = Buffer.byteLength(s, 'utf8');
    this.room(n);
    this.o += this.buf.write(s, this.o, 'utf8');
  }

  /** A non-negative safe integer in decimal. */
  private int(n: number): void {
    this.room(16);
    const buf = this.buf;
    if (n < 10) {
      buf[this.o++] = 0x30 + n;
      return;
    }
    let digits = 0;
    for (let m = n; m >= 1; m = Math.floor(m / 10)) digits++;
    let p = this.o + digits;
    for (let m = n; m >= 1; m = Math.floor(m / 10)) buf[--p] = 0x30 + (m % 10);
    this.o += digits;
  }

  /** `"field":"text"` when the bytes are UTF-8 that round-trips, else `"field64":"base64"` (as encodeTree). */
  private member(field: 'name' | 'target' | 'hardlink', bytes: Buffer): void {
    const [text, b64] = MEMBER_OPEN[field]!;
    if (plainAscii(bytes)) {
      this.raw(text);
      this.room(bytes.length + 2);
      this.buf[this.o++] = 0x22;
      this.o += bytes.copy(this.buf, this.o);
      this.buf[this.o++] = 0x22;
      return;
    }
    const s = bytes.toString('utf8');
    if (Buffer.from(s, 'utf8').equals(bytes)) {
      this.raw(text);
      this.utf8(JSON.stringify(s));
    } else {
      this.raw(b64);
      this.latin1(JSON.stringify(bytes.toString('base64')));
    }
  }
}

/** The TreeEntry encodeTree takes for the same entry (the fallback, and what the test compares). */
export function treeEntry(e: EncodableEntry): TreeEntry {
  const entry: TreeEntry = { name: e.name, type: e.type, mode: e.mode & 0o7777, uid: e.uid, gid: e.gid };
  if (e.xattrs) entry.xattrs = e.xattrs;
  if (e.hardlink) entry.hardlink = e.hardlink;
  if (e.digest !== undefined) entry.digest = e.digest;
  if (e.type === 'file') entry.size = e.contentSize!;
  if (e.type === 'symlink') entry.target = e.target ?? EMPTY;
  if (e.type === 'char' || e.type === 'block') entry.rdev = [e.rdevMajor, e.rdevMinor];
  return entry;
}
