/**
 * `--trace` reads, made readable (docs/capture-rules.md, "Trace"): a toolchain
 * build reads thousands of files, nearly all of them shipped by Debian
 * packages, and dpkg's own database. Recorded one by one, with their bytes,
 * they drown what matters and copy the toolchain into the store.
 *
 * So each read file is sorted into one of three groups:
 * - a file of the dpkg database (ROOT/var/lib/dpkg/...): summed up per database;
 * - a file a package owns whose bytes match the md5 dpkg recorded at installation
 *   (md5sums, or the status file's Conffiles): recorded as that package, with the
 *   file's sha256, its bytes not copied (the .deb has them);
 * - anything else (no owner, no checksum, changed since installation): an
 *   observed blob, bytes stored, as before.
 *
 * The database is the one of the root the file lies in: a chroot the traced
 * processes entered (its own var/lib/dpkg), else the host's.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { posix } from 'node:path';
import type { Digest } from '../core/digest.js';
import { parseMd5sums, parseStatus, type StatusStanza } from '../core/dpkg-database.js';
import type { DebianPackage } from './dpkg.js';
import { usrMergeAliases } from './dpkg.js';
import { isWithin } from './auto-watch.js';
import type { TracedFile } from './trace.js';

export interface PackagedRead {
  /** Host path. */
  path: string;
  /** The path as the package lists it, inside its root. */
  listedAs: string;
  digest: Digest;
  size: number;
}

export interface ObservedPackage {
  package: DebianPackage;
  /** The root whose database lists it ('/' for the host). */
  root: string;
  files: PackagedRead[];
}

export interface DpkgDatabaseReads {
  /** The database directory (host path), e.g. /var/lib/dpkg. */
  admindir: string;
  files: Array<{ path: string; digest: Digest; size: number }>;
}

export interface ObservedSplit {
  packages: ObservedPackage[];
  databases: DpkgDatabaseReads[];
  /** Recorded one by one, with their bytes. */
  other: TracedFile[];
  /** Owned by a package but not matching its checksum (also in `other`). */
  changed: number;
}

/** sha256 and md5 of a file in one read. */
async function hashFile(path: string): Promise<{ sha256: string; md5: string; size: number }> {
  const sha = createHash('sha256');
  const md5 = createHash('md5');
  let size = 0;
  for await (const chunk of createReadStream(path)) {
    sha.update(chunk as Buffer);
    md5.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: sha.digest('hex'), md5: md5.digest('hex'), size };
}

interface Owner {
  list: string;
  listedAs: string;
}

/** One dpkg database, read only as far as the wanted paths need. */
class Database {
  private stanzas: StatusStanza[] | undefined;
  private readonly sums = new Map<string, Map<string, string>>();

  constructor(readonly root: string) {}

  get admindir(): string {
    return posix.join(this.root, 'var/lib/dpkg');
  }

  /** Owner of each wanted path (as seen in the root), by scanning every `info/*.list` once. */
  async owners(paths: readonly string[]): Promise<Map<string, Owner>> {
    const wanted = new Map<string, string>();
    for (const p of paths) for (const alias of usrMergeAliases(p)) if (!wanted.has(alias)) wanted.set(alias, p);
    const found = new Map<string, Owner>();
    let names: string[];
    try {
      names = (await readdir(posix.join(this.admindir, 'info'))).filter((n) => n.endsWith('.list')).sort();
    } catch {
      return found;
    }
    for (const name of names) {
      let text: string;
      try {
        text = await readFile(posix.join(this.admindir, 'info', name), 'utf8');
      } catch {
        continue;
      }
      for (const line of text.split('\n')) {
        const p = wanted.get(line);
        if (p !== undefined && !found.has(p)) found.set(p, { list: name.slice(0, -'.list'.length), listedAs: line });
      }
    }
    return found;
  }

  async packageOf(list: string): Promise<{ pkg: DebianPackage; conffiles: Map<string, string> } | undefined> {
    this.stanzas ??= parseStatus(await readFile(posix.join(this.admindir, 'status'), 'utf8').catch(() => ''));
    const [name, arch] = list.split(':') as [string, string | undefined];
    const s =
      this.stanzas.find(
        (x) =>
          x.package === name && (arch === undefined || x.architecture === arch) && x.status?.endsWith(' installed'),
      ) ?? this.stanzas.find((x) => x.package === name && x.status?.endsWith(' installed'));
    if (!s?.version || !s.architecture) return undefined;
    return { pkg: { name: s.package, version: s.version, architecture: s.architecture }, conffiles: s.conffiles };
  }

  async md5sums(list: string): Promise<Map<string, string>> {
    let m = this.sums.get(list);
    if (!m) {
      m = parseMd5sums(await readFile(posix.join(this.admindir, 'info', `${list}.md5sums`), 'utf8').catch(() => ''));
      this.sums.set(list, m);
    }
    return m;
  }
}

/**
 * Sorts traced files into packages, dpkg database reads and the rest. `roots`
 * are the chroots the traced processes entered (host paths, real).
 */
export async function splitObserved(files: readonly TracedFile[], roots: readonly string[]): Promise<ObservedSplit> {
  const chroots = [...new Set(roots.filter((r) => r !== '/'))].sort((a, b) => b.length - a.length);
  const rootOf = (path: string) => chroots.find((r) => isWithin(path, r)) ?? '/';
  const inRoot = (path: string, root: string) => (root === '/' ? path : path.slice(root.length) || '/');

  const databases = new Map<string, DpkgDatabaseReads>();
  const candidates = new Map<string, TracedFile[]>();
  const other: TracedFile[] = [];
  for (const f of files) {
    const root = rootOf(f.path);
    const p = inRoot(f.path, root);
    if (p.startsWith('/var/lib/dpkg/')) {
      const admindir = posix.join(root, 'var/lib/dpkg');
      let db = databases.get(admindir);
      if (!db) {
        db = { admindir, files: [] };
        databases.set(admindir, db);
      }
      const h = await hashFile(f.path).catch(() => undefined);
      if (h) db.files.push({ path: f.path, digest: `sha256:${h.sha256}`, size: h.size });
      continue;
    }
    const list = candidates.get(root) ?? [];
    list.push(f);
    candidates.set(root, list);
  }

  const packages = new Map<string, ObservedPackage>();
  let changed = 0;
  for (const [root, list] of candidates) {
    const db = new Database(root);
    const owners = await db.owners(list.map((f) => inRoot(f.path, root)));
    for (const f of list) {
      const owner = owners.get(inRoot(f.path, root));
      const known = owner ? await db.packageOf(owner.list) : undefined;
      const expected =
        owner && known
          ? (known.conffiles.get(owner.listedAs) ?? (await db.md5sums(owner.list)).get(owner.listedAs))
          : undefined;
      if (!owner || !known || !expected) {
        other.push(f);
        continue;
      }
      const h = await hashFile(f.path).catch(() => undefined);
      if (!h || h.md5 !== expected) {
        changed++;
        other.push(f);
        continue;
      }
      const key = `${root}\0${known.pkg.name}\0${known.pkg.version}\0${known.pkg.architecture}`;
      let entry = packages.get(key);
      if (!entry) {
        entry = { package: known.pkg, root, files: [] };
        packages.set(key, entry);
      }
      entry.files.push({ path: f.path, listedAs: owner.listedAs, digest: `sha256:${h.sha256}`, size: h.size });
    }
  }
  const byName = (a: ObservedPackage, b: ObservedPackage) =>
    a.package.name < b.package.name ? -1 : a.package.name > b.package.name ? 1 : a.root < b.root ? -1 : 1;
  return {
    packages: [...packages.values()].sort(byName),
    databases: [...databases.values()].sort((a, b) => (a.admindir < b.admindir ? -1 : 1)),
    other,
    changed,
  };
}
