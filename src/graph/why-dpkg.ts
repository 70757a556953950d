/**
 * Which Debian package put a path into a tree, read from the dpkg database INSIDE
 * the stored tree (var/lib/dpkg), never from the host: `info/*.list` for the
 * paths each package installed, `status` for versions and conffiles,
 * `info/*.md5sums` for what the bytes were at install time, `diversions` for files
 * moved aside by another package.
 *
 * dpkg lists a path as the package shipped it, which on a merged-/usr system is
 * often not where the file is: bookworm's bash lists /bin/bash, and /bin is a
 * symlink to usr/bin. So a listed path owns PATH when its directory resolves,
 * through the tree's own symlinks, to PATH's directory (and the names match).
 */
import { createHash } from 'node:crypto';
import type { Digest } from '../core/digest.js';
import { openObjectStream } from '../store/object-read.js';
import { findEntry } from '../store/tree-lookup.js';
import type { TreeEntry } from '../store/tree-model.js';
import { mapLimit } from '../core/map-limit.js';
import { entryText, findDpkgDatabase, parseDiversions, parseMd5sums, parseStatus } from './image-packages.js';
import type { TreeReader } from './why-tree-path.js';

const READ_CONCURRENCY = 8;

export interface DpkgOwner {
  package: string;
  architecture?: string;
  version?: string;
  /** dpkg's Status field, e.g. "install ok installed". */
  status?: string;
  /** The path as the package's .list file spells it (e.g. /bin/bash for usr/bin/bash). */
  listedAs: string;
  /** When the file is the diverted copy of another package's path. */
  diversion?: { from: string; to: string; by: string };
  /**
   * Regular files: the bytes in the tree against the md5 dpkg recorded when it
   * installed the package (md5sums, or the status file's Conffiles for a conffile).
   */
  check: 'match' | 'differs' | 'no-checksum' | 'not-a-file';
  md5?: { expected: string; actual: string; source: 'md5sums' | 'conffiles' };
}

export interface DpkgAnswer {
  /** Whether the tree has a dpkg database at all. */
  database: boolean;
  owners: DpkgOwner[];
}

function dirname(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

async function md5OfObject(reader: TreeReader, id: Digest): Promise<string> {
  const hash = createHash('md5');
  for await (const chunk of openObjectStream(reader.store, id)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * The packages whose dpkg records name `path` (physical, relative to the tree
 * root) in tree `root`. A regular file normally has one owner; a directory is
 * often listed by many packages.
 */
export async function dpkgOwners(
  reader: TreeReader,
  root: Digest,
  path: Buffer,
  entry: TreeEntry,
): Promise<DpkgAnswer> {
  const db = await findDpkgDatabase(reader, root);
  if (!db) return { database: false, owners: [] };
  const { tree: dpkgTree, info, status: statusEntry } = db;
  const text = (e: TreeEntry | undefined) => entryText(reader, e);

  const want = `/${path.toString('utf8')}`;
  const wantDir = dirname(want);
  // A listed path owns PATH when its directory resolves (through the tree's symlinks) to PATH's directory.
  const dirCache = new Map<string, Promise<string | undefined>>();
  const physicalDir = (dir: string) => {
    let p = dirCache.get(dir);
    if (!p) {
      p = reader
        .physicalDir(root, Buffer.from(dir))
        .then((d) => (d === undefined ? undefined : `/${d.toString('utf8')}`));
      dirCache.set(dir, p);
    }
    return p;
  };
  const sameFile = async (listed: string) =>
    listed === want || (basename(listed) === basename(want) && (await physicalDir(dirname(listed))) === wantDir);

  // Diversions: a package's path moved aside to `to` (by another package, or locally).
  const diversions = parseDiversions(await text(findEntry(dpkgTree, Buffer.from('diversions'))));
  const divertedHere: typeof diversions = [];
  for (const d of diversions) if (await sameFile(d.to)) divertedHere.push(d);
  const names = new Set([basename(want), ...divertedHere.map((d) => basename(d.from))]);

  const lists = info.entries.filter((e) => e.type === 'file' && e.name.toString('utf8').endsWith('.list'));
  const hits = await mapLimit(lists, READ_CONCURRENCY, async (e) => {
    const lines = (await text(e)).split('\n').filter((l) => names.has(basename(l)));
    return { list: e.name.toString('utf8').slice(0, -'.list'.length), lines };
  });

  const found: Array<{ list: string; listedAs: string; diversion?: (typeof diversions)[number] }> = [];
  for (const { list, lines } of hits) {
    const pkg = list.split(':')[0]!;
    for (const listed of lines) {
      const moved = diversions.find((d) => d.from === listed && d.by !== pkg);
      if (!moved && (await sameFile(listed))) found.push({ list, listedAs: listed });
      const here = divertedHere.find((d) => d.from === listed && d.by !== pkg);
      if (here) found.push({ list, listedAs: listed, diversion: here });
    }
  }
  if (found.length === 0) return { database: true, owners: [] };

  const stanzas = parseStatus(await text(statusEntry));
  const owners: DpkgOwner[] = [];
  for (const f of found) {
    const [name, arch] = f.list.split(':') as [string, string | undefined];
    const stanza =
      stanzas.find((s) => s.package === name && (arch === undefined || s.architecture === arch)) ??
      stanzas.find((s) => s.package === name);
    const owner: DpkgOwner = {
      package: name,
      ...((stanza?.architecture ?? arch) ? { architecture: stanza?.architecture ?? arch } : {}),
      ...(stanza?.version ? { version: stanza.version } : {}),
      ...(stanza?.status ? { status: stanza.status } : {}),
      listedAs: f.listedAs,
      ...(f.diversion ? { diversion: f.diversion } : {}),
      check: entry.type === 'file' ? 'no-checksum' : 'not-a-file',
    };
    if (entry.type === 'file') {
      let expected: { md5: string; source: 'md5sums' | 'conffiles' } | undefined;
      const conffile = stanza?.conffiles.get(f.listedAs);
      if (conffile) expected = { md5: conffile, source: 'conffiles' };
      else {
        const md5 = parseMd5sums(await text(findEntry(info, Buffer.from(`${f.list}.md5sums`)))).get(f.listedAs);
        if (md5) expected = { md5, source: 'md5sums' };
      }
      if (expected) {
        const actual = await md5OfObject(reader, entry.digest!);
        owner.check = actual === expected.md5 ? 'match' : 'differs';
        owner.md5 = { expected: expected.md5, actual, source: expected.source };
      }
    }
    owners.push(owner);
  }
  return { database: true, owners };
}
