/**
 * The Debian packages of a stored tree, read from the dpkg database INSIDE the tree
 * (var/lib/dpkg, wherever the tree's own symlinks put it), never from the host:
 * `status` for names, versions, architectures and conffiles, `info/*.list` for the
 * paths each package installed, `info/*.md5sums` for what their bytes were at
 * install time, `diversions` for files moved aside. The parsers here are the one
 * reading of dpkg's formats that `why` (one path), `audit` and the SBOMs (every
 * path) share.
 *
 * dpkg lists a path as the package shipped it, which on a merged-/usr system is
 * often not where the file is: bookworm's bash lists /bin/bash, and /bin is a
 * symlink to usr/bin. Every listed path is therefore indexed under its physical
 * path in the tree: its directory resolved through the tree's symlinks, its last
 * component kept as it is.
 */
import type { Digest } from '../core/digest.js';
import { mapLimit } from '../core/map-limit.js';
import { readObject } from '../store/object-read.js';
import { findEntry } from '../store/tree-lookup.js';
import type { Tree, TreeEntry } from '../store/tree-model.js';
import { splitPath, type TreeReader } from './why-tree-path.js';
import {
  isListedByDpkgQuery,
  parseDiversions,
  parseMd5sums,
  parseStatus,
  type Diversion,
  type StatusStanza,
} from '../core/dpkg-database.js';

export { parseDiversions, parseMd5sums, parseStatus, type Diversion, type StatusStanza };

const DPKG_DIR = 'var/lib/dpkg';
const READ_CONCURRENCY = 8;

export interface DpkgDatabase {
  /** Physical path of var/lib/dpkg in the tree (no leading slash). */
  dir: string;
  tree: Tree;
  info: Tree;
  status: TreeEntry;
}

/** The tree's dpkg database (var/lib/dpkg with `status` and `info/`), or null when it has none. */
export async function findDpkgDatabase(reader: TreeReader, root: Digest): Promise<DpkgDatabase | null> {
  const dir = await reader.physicalDir(root, Buffer.from(DPKG_DIR));
  if (dir === undefined) return null;
  const entry = await reader.lookup(root, splitPath(dir));
  if (entry?.type !== 'dir') return null;
  const tree = await reader.mustTree(entry.digest!);
  const info = findEntry(tree, Buffer.from('info'));
  const status = findEntry(tree, Buffer.from('status'));
  if (info?.type !== 'dir' || status?.type !== 'file') return null;
  return { dir: dir.toString('utf8'), tree, info: await reader.mustTree(info.digest!), status };
}

/** A regular file's text (UTF-8), '' for anything else or nothing. */
export async function entryText(reader: TreeReader, e: TreeEntry | undefined): Promise<string> {
  return e?.type === 'file' ? (await readObject(reader.store, e.digest!)).toString('utf8') : '';
}

export interface ImagePackage {
  name: string;
  architecture?: string;
  version?: string;
  status?: string;
  /** What `dpkg-query -W` would list (status other than not-installed). */
  listed: boolean;
  /** The stem of its files in info/: "bash", "libc6:amd64"; null when it has no .list. */
  stem: string | null;
  /** Every status field, lower-case names (source, maintainer, homepage, description...). */
  fields: Map<string, string>;
  conffiles: Map<string, string>;
  /** md5 at install time by listed path (info/STEM.md5sums). */
  md5sums: Map<string, string>;
}

export interface PathOwner {
  package: ImagePackage;
  /** The path as the package's .list spells it (e.g. /bin/bash for usr/bin/bash). */
  listedAs: string;
  /** When the file is another package's diverted copy. */
  diversion?: Diversion;
}

export interface ImagePackages {
  database: DpkgDatabase | null;
  /** In status-file order. */
  packages: ImagePackage[];
  /** Physical path in the tree (no leading slash) -> the packages that list it. */
  owners: Map<string, PathOwner[]>;
  diversions: Diversion[];
}

/**
 * Reads the tree's whole dpkg database once and indexes every listed path under its
 * physical path. Directories are resolved once each, by extending their parent's
 * resolution by one component (a symlink among them, such as bin -> usr/bin, is
 * followed through the tree).
 */
export async function imagePackages(reader: TreeReader, root: Digest): Promise<ImagePackages> {
  const db = await findDpkgDatabase(reader, root);
  if (!db) return { database: null, packages: [], owners: new Map(), diversions: [] };
  const stanzas = parseStatus(await entryText(reader, db.status));
  const diversions = parseDiversions(await entryText(reader, findEntry(db.tree, Buffer.from('diversions'))));
  const infoNames = new Set(db.info.entries.filter((e) => e.type === 'file').map((e) => e.name.toString('utf8')));

  const packages: ImagePackage[] = stanzas.map((s) => {
    const qualified = s.architecture ? `${s.package}:${s.architecture}` : undefined;
    const stem =
      qualified && infoNames.has(`${qualified}.list`)
        ? qualified
        : infoNames.has(`${s.package}.list`)
          ? s.package
          : null;
    return {
      name: s.package,
      ...(s.architecture ? { architecture: s.architecture } : {}),
      ...(s.version ? { version: s.version } : {}),
      ...(s.status ? { status: s.status } : {}),
      listed: isListedByDpkgQuery(s.status),
      stem,
      fields: s.fields,
      conffiles: s.conffiles,
      md5sums: new Map(),
    };
  });

  const withLists = packages.filter((p) => p.stem !== null);
  const texts = await mapLimit(withLists, READ_CONCURRENCY, async (p) => ({
    list: await entryText(reader, findEntry(db.info, Buffer.from(`${p.stem}.list`))),
    md5sums: await entryText(reader, findEntry(db.info, Buffer.from(`${p.stem}.md5sums`))),
  }));

  const resolver = new DirResolver(reader, root);
  const movedAway = new Map<string, Diversion>();
  for (const d of diversions) movedAway.set(d.from, d);
  const owners = new Map<string, PathOwner[]>();
  const add = (phys: string, owner: PathOwner) => {
    const list = owners.get(phys);
    if (list) list.push(owner);
    else owners.set(phys, [owner]);
  };
  for (let i = 0; i < withLists.length; i++) {
    const pkg = withLists[i]!;
    pkg.md5sums = parseMd5sums(texts[i]!.md5sums);
    for (const listed of texts[i]!.list.split('\n')) {
      if (!listed.startsWith('/') || listed === '/' || listed === '/.') continue;
      const moved = movedAway.get(listed);
      // A path another package (or the admin) diverted: this package's file is at the diversion's target.
      const at = moved && moved.by !== pkg.name ? moved.to : listed;
      const phys = await resolver.physical(at);
      if (phys === undefined) continue;
      add(phys, { package: pkg, listedAs: listed, ...(at !== listed ? { diversion: moved! } : {}) });
    }
  }
  return { database: db, packages, owners, diversions };
}

function dirname(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** Physical directory paths of a tree, each resolved once. */
class DirResolver {
  private readonly dirs = new Map<string, Promise<{ phys: string; id: Digest } | null>>();

  constructor(
    private readonly reader: TreeReader,
    private readonly root: Digest,
  ) {
    this.dirs.set('/', Promise.resolve({ phys: '', id: root }));
  }

  /** The physical path (no leading slash) of absolute path `path`: its directory resolved, its name kept. */
  async physical(path: string): Promise<string | undefined> {
    const dir = await this.dir(dirname(path));
    if (!dir) return undefined;
    const name = basename(path);
    if (name === '' || name === '.' || name === '..') return undefined;
    return dir.phys === '' ? name : `${dir.phys}/${name}`;
  }

  private dir(path: string): Promise<{ phys: string; id: Digest } | null> {
    let p = this.dirs.get(path);
    if (!p) {
      p = this.resolve(path);
      this.dirs.set(path, p);
    }
    return p;
  }

  private async resolve(path: string): Promise<{ phys: string; id: Digest } | null> {
    const parent = await this.dir(dirname(path));
    if (!parent) return null;
    const name = basename(path);
    if (name === '.' || name === '') return parent;
    const tree = await this.reader.tree(parent.id);
    const entry = tree ? findEntry(tree, Buffer.from(name)) : undefined;
    if (entry?.type === 'dir') return { phys: parent.phys === '' ? name : `${parent.phys}/${name}`, id: entry.digest! };
    if (entry?.type !== 'symlink' && name !== '..') return null;
    // A symlink (or ".."): resolved from the root as a chrooted process would.
    const phys = await this.reader.physicalDir(this.root, Buffer.from(path.slice(1)));
    if (phys === undefined) return null;
    const e = phys.length === 0 ? undefined : await this.reader.lookup(this.root, splitPath(phys));
    if (phys.length === 0) return { phys: '', id: this.root };
    return e?.type === 'dir' ? { phys: phys.toString('utf8'), id: e.digest! } : null;
  }
}
