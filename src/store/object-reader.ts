/**
 * Reads many objects of one store with each pack file opened once: positional
 * reads on a held descriptor instead of an open, a read and a close per object.
 * For the walks that touch every object of a closure (a push's closure and its
 * packs, a pull's look at what the target already holds): a Debian root is
 * 6,000 objects, and three system calls each cost more than the bytes.
 *
 * Objects are found through object-locate, so the reader sees what readObject
 * sees; `read` checks the digest like readObject; `head` is unverified, for
 * telling a tree from a blob. Loose objects are opened with O_NOFOLLOW: a
 * symbolic link in the object folder is refused, never followed.
 */
import { closeSync, constants as fsConstants, fstatSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import type { Digest } from '../core/digest.js';
import { digestBytes, digestHex } from '../core/digest.js';
import { AslError, fsError } from '../core/errors.js';
import { objectFanoutDir, objectPath } from './layout.js';
import { describeLocation, locateObjectSync, locatePackedSync, type ObjectLocation } from './object-locate.js';
import type { Store } from './store.js';

export class ObjectReader {
  readonly store: Store;
  private readonly packs = new Map<string, number>();
  private missed = false;
  /** With `listLoose`: the loose objects of each fan-out folder, listed once (a name, not a stat, per object). */
  private readonly loose: Map<string, Set<string>> | undefined;

  /**
   * `listLoose`: find loose objects by listing each fan-out folder once rather than
   * by a stat each, for a walk that asks about thousands of objects the store mostly
   * lacks (a pull into an empty store). Objects written by others meanwhile may then
   * be missed: fine for a caller that only fetches what it misses again.
   */
  constructor(store: Store, opts: { listLoose?: boolean } = {}) {
    this.store = store;
    this.loose = opts.listLoose ? new Map() : undefined;
  }

  /**
   * Where the object is, or undefined when the store does not have it. The packs
   * folder is listed again on the first miss only: a walk that misses thousands
   * of objects (a pull into an empty store) would list it thousands of times.
   */
  locate(digest: Digest): ObjectLocation | undefined {
    const loc = this.loose ? this.locateListed(digest) : locateObjectSync(this.store, digest, !this.missed);
    if (!loc) this.missed = true;
    return loc;
  }

  private locateListed(digest: Digest): ObjectLocation | undefined {
    const packed = locatePackedSync(this.store, digest, !this.missed);
    if (packed) return packed;
    const hex = digestHex(digest);
    let names = this.loose!.get(hex.slice(0, 2));
    if (!names) {
      try {
        names = new Set(readdirSync(objectFanoutDir(this.store.root, digest)));
      } catch {
        names = new Set();
      }
      this.loose!.set(hex.slice(0, 2), names);
    }
    if (!names.has(hex.slice(2))) return undefined;
    const path = objectPath(this.store.root, digest);
    const st = statSync(path, { throwIfNoEntry: false });
    return st ? { kind: 'loose', path, size: st.size } : undefined;
  }

  /** The first `n` bytes of an object (fewer if it is shorter), unverified. */
  head(digest: Digest, n: number, loc = this.mustLocate(digest)): Buffer {
    const buf = Buffer.alloc(Math.min(n, loc.size));
    const got = this.pread(digest, loc, buf, 0, 0);
    return buf.subarray(0, got);
  }

  /** The whole object, checked against its digest. */
  read(digest: Digest, loc = this.mustLocate(digest)): Buffer {
    const buf = Buffer.allocUnsafe(loc.size);
    this.readInto(digest, loc, buf, 0);
    return buf;
  }

  /** Reads the whole object into `buf` at `at` and checks its digest there. */
  readInto(digest: Digest, loc: ObjectLocation, buf: Buffer, at: number): void {
    const got = this.pread(digest, loc, buf, at, 0, loc.size);
    if (got !== loc.size) {
      throw new AslError(
        'CORRUPT',
        `object ${digest} is corrupt: ${describeLocation(loc)} ends after ${got} of its ${loc.size} bytes (run \`asl verify\`)`,
        { data: { id: digest } },
      );
    }
    const actual = digestBytes(buf.subarray(at, at + loc.size));
    if (actual !== digest) {
      const where = loc.kind === 'packed' ? ` (in pack ${loc.pack})` : '';
      throw new AslError(
        'CORRUPT',
        `object ${digest} is corrupt: content hashes to ${actual}${where} (run \`asl verify\`)`,
        { data: { id: digest, expected: digest, actual } },
      );
    }
  }

  /** Closes the pack files held open. */
  close(): void {
    for (const fd of this.packs.values()) closeSync(fd);
    this.packs.clear();
  }

  private mustLocate(digest: Digest): ObjectLocation {
    const loc = this.locate(digest);
    if (!loc)
      throw new AslError('NOT_FOUND', `${digest}: no such object in store ${this.store.root}`, {
        data: { id: digest },
      });
    return loc;
  }

  /** Reads up to `len` bytes of the object from `from` into buf[at…]; returns how many it got. */
  private pread(
    digest: Digest,
    loc: ObjectLocation,
    buf: Buffer,
    at: number,
    from: number,
    len = buf.length - at,
  ): number {
    if (loc.kind === 'loose') {
      let fd: number;
      try {
        fd = openSync(loc.path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ELOOP')
          throw new AslError('CORRUPT', `object ${digest} is a symbolic link (${loc.path}); refusing to follow it`, {
            data: { path: loc.path },
          });
        throw fsError(loc.path, err, `cannot read object ${digest}`);
      }
      try {
        if (!fstatSync(fd).isFile())
          throw new AslError('CORRUPT', `object ${digest} is not a regular file (${loc.path})`, {
            data: { path: loc.path },
          });
        return readFully(fd, buf, at, len, from, loc.path);
      } finally {
        closeSync(fd);
      }
    }
    let fd = this.packs.get(loc.path);
    if (fd === undefined) {
      try {
        fd = openSync(loc.path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
      } catch (err) {
        throw fsError(loc.path, err, `cannot read object ${digest}`);
      }
      this.packs.set(loc.path, fd);
    }
    return readFully(fd, buf, at, Math.min(len, loc.size - from), loc.offset + from, loc.path);
  }
}

function readFully(fd: number, buf: Buffer, at: number, len: number, position: number, path: string): number {
  let have = 0;
  while (have < len) {
    let n: number;
    try {
      n = readSync(fd, buf, at + have, len - have, position + have);
    } catch (err) {
      throw fsError(path, err);
    }
    if (n === 0) break;
    have += n;
  }
  return have;
}
