/**
 * `asl audit`: one pass over every entry of a stored tree (an image root), each
 * classed by where its content came from:
 *
 * - **package**: a Debian package in the tree's own dpkg database lists the path and
 *   the bytes match the md5 dpkg recorded at install time (md5sums, or the Conffiles
 *   md5 for a conffile); the package's `.deb` is the one a receipt recorded as
 *   downloaded, when one did. A symlink or device node a package lists has no
 *   checksum: it is "package" when a recorded step put it there.
 * - **control**: a file of dpkg's `info/` directory (PKG.md5sums, .postinst,
 *   .triggers...) equal, byte for byte, to the same member of the package's `.deb`
 *   control archive.
 * - **ingested**: the same bytes as a file an ingest receipt (`asl capture --file`)
 *   recorded, on its own or inside an ingested directory (the image's overlay).
 * - **generated**: none of the above, and a recorded step wrote the content
 *   (root-history.ts): dpkg's `.list` files and status, maintainer scripts' output,
 *   a configuration file a step wrote.
 * - **unattributed**: none of the above: written between two captures, or already
 *   there before the first one, by nothing recorded.
 *
 * Independently of its class, a file a package lists whose bytes differ from that
 * package's md5sums is reported as `differs` (a conffile that differs is
 * `conffile-changed`: conffiles are meant to be edited, the step that edited it is
 * its origin). The tree, the dpkg database, the receipts and the .debs are all read
 * from the store (verified as they are read); nothing on the host is consulted
 * but `dpkg-deb`, to decompress control archives.
 */
import { createHash } from 'node:crypto';
import type { Digest } from '../core/digest.js';
import { isDigest } from '../core/digest.js';
import { AslError } from '../core/errors.js';
import { debControlFiles } from '../capture/deb-package.js';
import { openObjectStream } from '../store/object-read.js';
import type { Store } from '../store/store.js';
import { pathText } from '../store/tree-diff.js';
import type { EntryType, TreeEntry } from '../store/tree-model.js';
import { octalMode } from './diff.js';
import { mapLimit } from '../core/map-limit.js';
import { imagePackages, type ImagePackage, type PathOwner } from './image-packages.js';
import { DirOrigins, type HistoryLink, type Origin, type RootStart, type RootView } from './root-history.js';
import { loadReceiptIndex, matchDeb, type DebMatch, type ReceiptIndex, type ReceiptSummary } from './why-index.js';
import { TreeReader } from './why-tree-path.js';

const AUDIT_CLASSES = ['package', 'control', 'ingested', 'generated', 'unattributed'] as const;
export type AuditClass = (typeof AUDIT_CLASSES)[number];

/** dpkg's `info/` files that a .deb ships in its control archive. */
const CONTROL_MEMBERS = new Set([
  'md5sums',
  'conffiles',
  'preinst',
  'postinst',
  'prerm',
  'postrm',
  'triggers',
  'shlibs',
  'symbols',
  'templates',
  'config',
]);
/** Blobs read at once for their md5 (and SHA-1). */
const HASH_CONCURRENCY = 4;
const DEB_CONCURRENCY = 4;

export interface StepRef {
  seq: number;
  receipt: Digest;
  step: string;
}

export interface AuditEntry {
  /** Relative to the tree's root; `base64:…` for a name that is not UTF-8. */
  path: string;
  type: Exclude<EntryType, 'dir'>;
  mode: string;
  size?: number;
  digest?: Digest;
  target?: string;
  class: AuditClass;
  /** The package that lists the path (the first whose checksum matches, else the first). */
  package?: {
    name: string;
    architecture?: string;
    version?: string;
    listedAs: string;
    check: 'match' | 'differs' | 'conffile-changed' | 'no-checksum' | 'not-a-file';
    md5?: { expected: string; actual: string; source: 'md5sums' | 'conffiles' };
    diversion?: { from: string; to: string; by: string };
  };
  control?: { package: string; architecture?: string; member: string; deb: Digest };
  ingested?: StepRef & { artifact: string; path?: string };
  /** The recorded step whose write the content is (null when no recorded step wrote it). */
  step: (StepRef & { via: 'root' | 'inner' }) | null;
  /** Content written outside any capture: between receipts #afterSeq and #beforeSeq (afterSeq null: before the first record). */
  unrecorded?: { afterSeq: number | null; afterStep?: string; beforeSeq: number | null; beforeStep?: string };
  /** With `hashes`: SHA-1 of regular files (SPDX requires it). */
  sha1?: string;
}

export interface AuditPackage {
  name: string;
  architecture?: string;
  version?: string;
  status?: string;
  /** Listed by `dpkg-query -W` (every status but not-installed). */
  listed: boolean;
  source?: string;
  maintainer?: string;
  homepage?: string;
  /** First line of the description. */
  summary?: string;
  deb: DebMatch | null;
  /** Regular files present in the tree that the package lists, and how many differ from its md5sums. */
  files: number;
  differs: number;
}

export interface AuditSummary {
  /** Every non-directory entry (each has a class): files + symlinks + other. */
  entries: number;
  /** Regular files, symlinks, other non-directories (devices, fifos, sockets), directories. */
  files: number;
  symlinks: number;
  other: number;
  directories: number;
  package: number;
  control: number;
  ingested: number;
  generated: number;
  unattributed: number;
  /** Files whose bytes differ from their package's md5sums (not conffiles). */
  differs: number;
  conffilesChanged: number;
  /** Regular files no package lists. */
  unlisted: number;
  /** Entries whose current content was written outside any capture, whatever their class. */
  outsideCapture: number;
  /** Packages `dpkg-query -W` lists, and how many of them have a recorded .deb. */
  packages: number;
  packagesWithDeb: number;
}

export interface AuditTarget {
  tree: Digest;
  /** The receipt the tree was taken from (its output, or its input for a tree it read), and when its run ended. */
  receipt?: StepRef & { as: 'output' | 'input'; finishedOn: string };
  /** Host path of the root, as the receipts recorded it. */
  root?: string;
}

export interface AuditResult {
  target: AuditTarget;
  summary: AuditSummary;
  packages: AuditPackage[];
  /** Files per recorded step (the step of generated, package, control and ingested entries alike). */
  steps: Array<StepRef & { entries: number; generated: number }>;
  /** The root's history, newest first: steps and gaps between captures. */
  history: Array<
    | { kind: 'step'; seq: number; step: string; receipt: Digest }
    | { kind: 'gap'; afterSeq: number | null; beforeSeq: number | null; inner: number[] }
  >;
  entries: AuditEntry[];
  ms: number;
}

export interface AuditOptions {
  /** Also compute SHA-1 of every regular file (for SPDX). */
  hashes?: boolean;
}

function stepRef(r: ReceiptSummary): StepRef {
  return { seq: r.seq, receipt: r.id, step: r.step };
}

/**
 * TARGET: a tree id, a receipt id (its last watched root's after-tree; an ingest
 * receipt's ingested directory) or a step name (its newest receipt).
 */
async function resolveAuditTarget(
  index: ReceiptIndex,
  reader: TreeReader,
  target: string,
): Promise<{ target: AuditTarget; start: RootStart }> {
  const fromReceipt = (r: ReceiptSummary): { target: AuditTarget; start: RootStart } => {
    const w = [...r.watched].reverse().find((x) => x.after !== null);
    const tree = w?.after ?? r.outputTrees.find((o) => o.role === 'source')?.digest;
    const root = w?.path ?? r.outputTrees.find((o) => o.role === 'source')?.path;
    if (!tree)
      throw new AslError(
        'BAD_INPUT',
        `${r.id}: receipt #${r.seq} (${r.step}) records no watched root with an after-tree and no ingested directory: nothing to audit`,
      );
    return {
      target: { tree, receipt: { ...stepRef(r), as: 'output', finishedOn: r.finishedOn }, ...(root ? { root } : {}) },
      start: { tree, path: root ?? '', below: r.index + 1 },
    };
  };
  if (!target.startsWith('sha256:')) {
    const hits = index.receipts.filter((r) => r.step === target);
    if (hits.length === 0) {
      const steps = [...new Set(index.receipts.map((r) => r.step))];
      throw new AslError(
        'NOT_FOUND',
        `${target}: not a tree or receipt id, and no receipt has this step name (steps in the log: ${steps.join(', ') || 'none'})`,
      );
    }
    return checkTree(reader, fromReceipt(hits[hits.length - 1]!));
  }
  if (!isDigest(target))
    throw new AslError('BAD_INPUT', `${target}: not a tree or receipt id (expected sha256:<64 hex digits>)`);
  const receipt = index.receipts.find((r) => r.id === target);
  if (receipt) return checkTree(reader, fromReceipt(receipt));
  const tree = await reader.tree(target);
  if (!tree) throw new AslError('BAD_INPUT', `${target}: is a blob or a receipt not in the log, not a tree`);
  // Where the tree comes from: the newest receipt that output it, else the newest that read it.
  for (let i = index.receipts.length - 1; i >= 0; i--) {
    const r = index.receipts[i]!;
    const w = r.watched.find((x) => x.after === target);
    const o = r.outputTrees.find((x) => x.digest === target);
    if (w || o) {
      const root = w?.path ?? o?.path;
      return {
        target: {
          tree: target,
          receipt: { ...stepRef(r), as: 'output', finishedOn: r.finishedOn },
          ...(root ? { root } : {}),
        },
        start: { tree: target, path: root ?? '', below: r.index + 1 },
      };
    }
  }
  for (let i = index.receipts.length - 1; i >= 0; i--) {
    const r = index.receipts[i]!;
    const input = r.inputTrees.find((x) => x.digest === target);
    if (input) {
      const root = input.path;
      return {
        target: {
          tree: target,
          receipt: { ...stepRef(r), as: 'input', finishedOn: r.finishedOn },
          ...(root ? { root } : {}),
        },
        start: { tree: target, path: root ?? '', below: r.index },
      };
    }
  }
  return { target: { tree: target }, start: { tree: target, path: '', below: index.receipts.length } };
}

async function checkTree(
  reader: TreeReader,
  t: { target: AuditTarget; start: RootStart },
): Promise<{ target: AuditTarget; start: RootStart }> {
  if (!(await reader.tree(t.start.tree))) {
    throw new AslError(
      'BAD_INPUT',
      `${t.start.tree}: the root receipt #${t.target.receipt?.seq} (${t.target.receipt?.step}) recorded is a file, not a directory: nothing to audit`,
    );
  }
  return t;
}

/** Every non-directory entry of a tree, depth first, names in byte order, one tree read at a time. */
async function forEachEntry(
  reader: TreeReader,
  root: Digest,
  visit: (path: string, entry: TreeEntry) => void,
): Promise<void> {
  const dir = async (id: Digest, prefix: Buffer): Promise<void> => {
    const tree = await reader.mustTree(id);
    for (const e of tree.entries) {
      const path = prefix.length === 0 ? e.name : Buffer.concat([prefix, SLASH, e.name]);
      if (e.type === 'dir') await dir(e.digest!, path);
      else visit(pathText(path), e);
    }
  };
  await dir(root, Buffer.alloc(0));
}

const SLASH = Buffer.from('/');

interface BlobHashes {
  md5: string;
  sha1?: string;
}

/**
 * md5 (and SHA-1) of blobs, each read whole and verified against its id. The
 * last few thousand are kept: the same bytes at several paths (a license, an
 * empty file) are read once while they are near each other in the walk.
 */
class BlobHasher {
  private readonly kept = new Map<Digest, BlobHashes>();
  constructor(
    private readonly store: Store,
    private readonly sha1: boolean,
  ) {}

  /** The hashes of `ids`, read HASH_CONCURRENCY at a time. */
  async hashes(ids: readonly Digest[]): Promise<Map<Digest, BlobHashes>> {
    const out = new Map<Digest, BlobHashes>();
    const missing: Digest[] = [];
    for (const id of ids) {
      const hit = this.kept.get(id);
      if (hit) out.set(id, hit);
      else if (!out.has(id)) {
        out.set(id, { md5: '' });
        missing.push(id);
      }
    }
    await mapLimit(missing, HASH_CONCURRENCY, async (id) => {
      const md5 = createHash('md5');
      const s1 = this.sha1 ? createHash('sha1') : undefined;
      for await (const chunk of openObjectStream(this.store, id)) {
        md5.update(chunk as Buffer);
        s1?.update(chunk as Buffer);
      }
      const h = { md5: md5.digest('hex'), ...(s1 ? { sha1: s1.digest('hex') } : {}) };
      out.set(id, h);
      this.kept.set(id, h);
      if (this.kept.size > HASHES_KEPT) this.kept.delete(this.kept.keys().next().value!);
    });
    return out;
  }
}

const HASHES_KEPT = 8192;

type IngestRef = StepRef & { index: number; artifact: string; path?: string };

/** Ingested files by blob id, oldest first: ingest receipts' files, and every file inside their directories. */
async function ingestedBlobs(
  reader: TreeReader,
  index: ReceiptIndex,
  below: number,
): Promise<Map<Digest, IngestRef[]>> {
  const out = new Map<Digest, IngestRef[]>();
  const add = (d: Digest, ref: IngestRef) => {
    const list = out.get(d);
    if (!list) out.set(d, [ref]);
    else if (list[list.length - 1]!.index !== ref.index) list.push(ref);
  };
  for (const r of index.receipts) {
    if (r.kind !== 'ingest' || r.index >= below) continue;
    for (const b of r.outputBlobs) add(b.digest, { ...stepRef(r), index: r.index, artifact: b.name });
    for (const t of r.outputTrees) {
      if (t.role !== 'source') continue;
      await forEachEntry(reader, t.digest, (path, entry) => {
        if (entry.type === 'file') add(entry.digest!, { ...stepRef(r), index: r.index, artifact: t.name, path });
      });
    }
  }
  return out;
}

/**
 * The ingest the bytes can have come from: recorded no later than the write of
 * the content (a file a step wrote before anything was ingested merely has the
 * same bytes, e.g. an empty file); the newest such.
 */
function ingestFor(refs: IngestRef[] | undefined, origin: Origin | undefined): IngestRef | undefined {
  if (!refs) return undefined;
  const limit = origin === undefined ? Infinity : origin.kind === 'step' ? origin.index : origin.beforeIndex - 1;
  for (let i = refs.length - 1; i >= 0; i--) if (refs[i]!.index <= limit) return refs[i];
  return undefined;
}

/** sha256 of each control member of each package's recorded .deb, by "stem.member" (e.g. "bash.postinst"). */
async function controlMembers(
  store: Store,
  pkgs: Array<{ pkg: ImagePackage; deb: DebMatch }>,
): Promise<Map<string, { pkg: ImagePackage; member: string; digest: Digest; deb: Digest }>> {
  const out = new Map<string, { pkg: ImagePackage; member: string; digest: Digest; deb: Digest }>();
  await mapLimit(pkgs, DEB_CONCURRENCY, async ({ pkg, deb }) => {
    const files = await debControlFiles(openObjectStream(store, deb.digest), `${deb.name} (${deb.digest})`);
    for (const [member, bytes] of files) {
      if (!CONTROL_MEMBERS.has(member)) continue;
      const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}` as Digest;
      out.set(`${pkg.stem}.${member}`, { pkg, member, digest, deb: deb.digest });
    }
  });
  return out;
}

function firstLine(text: string | undefined): string | undefined {
  return text === undefined ? undefined : text.split('\n')[0]!.trim() || undefined;
}

/** Decoded trees kept by the walk's reader (the open directories and the dpkg database's, at most). */
const WALK_CACHE_TREES = 256;

/** An audit without its entries: what `auditEntries` returns once every entry has been handed over. */
export type AuditReport = Omit<AuditResult, 'entries'>;

/** Every entry, in the order of the walk (depth first, names in byte order), collected: see `auditEntries`. */
export async function audit(store: Store, targetRef: string, opts: AuditOptions = {}): Promise<AuditResult> {
  const entries: AuditEntry[] = [];
  const r = await auditEntries(store, targetRef, opts, {
    entry: (e) => {
      entries.push(e);
    },
  });
  return {
    target: r.target,
    summary: r.summary,
    packages: r.packages,
    steps: r.steps,
    history: r.history,
    entries,
    ms: r.ms,
  };
}

/** Where a streaming audit hands what it finds, as it finds it (each call awaited). */
export interface AuditSink {
  /** The tree about to be walked, once it is resolved and before any entry. */
  target?(target: AuditTarget): void | Promise<void>;
  entry(e: AuditEntry): void | Promise<void>;
}

/**
 * The audit as one streaming pass: each entry is classed and handed to the sink
 * as the walk reaches it (awaited, so a writer can hold the walk for its output
 * to drain), and only the totals are kept. Memory is the open directories, the
 * dpkg database and the ingested blobs, not the size of the tree: a
 * million-file tree is audited in the same few hundred MB as a small one.
 */
export async function auditEntries(
  store: Store,
  targetRef: string,
  opts: AuditOptions,
  sink: AuditSink,
): Promise<AuditReport> {
  const t0 = performance.now();
  const index = await loadReceiptIndex(store);
  const reader = new TreeReader(store, { cacheTrees: WALK_CACHE_TREES, sync: true });
  const { target, start } = await resolveAuditTarget(index, reader, targetRef);

  const views: RootView[] = index.receipts.flatMap((r) => r.watched.map((w) => ({ index: r.index, ...w })));
  const pkgs = await imagePackages(reader, start.tree);
  const history = await DirOrigins.ofRoot(reader, views, start);
  const ingested = await ingestedBlobs(reader, index, start.below);

  // The .deb of each package: downloaded at or before the step the tree is from.
  const limit = Math.max(0, start.below - 1);
  const debs = new Map<ImagePackage, DebMatch | null>();
  for (const p of pkgs.packages)
    debs.set(
      p,
      p.listed
        ? matchDeb(
            index,
            {
              package: p.name,
              ...(p.version ? { version: p.version } : {}),
              ...(p.architecture ? { architecture: p.architecture } : {}),
            },
            limit,
          )
        : null,
    );
  const infoDir = pkgs.database ? `${pkgs.database.dir}/info/` : null;
  const members = await controlMembers(
    store,
    pkgs.packages.filter((p) => p.stem !== null && debs.get(p)).map((p) => ({ pkg: p, deb: debs.get(p)! })),
  );

  const at = (i: number | null) => (i === null || i >= index.receipts.length ? undefined : index.receipts[i]!);
  const between = (afterIndex: number | null, beforeIndex: number): NonNullable<AuditEntry['unrecorded']> => {
    const a = at(afterIndex);
    const b = at(beforeIndex);
    return {
      afterSeq: a?.seq ?? null,
      ...(a ? { afterStep: a.step } : {}),
      beforeSeq: b?.seq ?? null,
      ...(b ? { beforeStep: b.step } : {}),
    };
  };
  const summary: AuditSummary = {
    entries: 0,
    files: 0,
    symlinks: 0,
    other: 0,
    directories: 0,
    package: 0,
    control: 0,
    ingested: 0,
    generated: 0,
    unattributed: 0,
    differs: 0,
    conffilesChanged: 0,
    unlisted: 0,
    outsideCapture: 0,
    packages: 0,
    packagesWithDeb: 0,
  };
  const steps = new Map<number, StepRef & { entries: number; generated: number }>();
  const perPackage = new Map<ImagePackage, { files: number; differs: number }>();
  const hasher = new BlobHasher(store, opts.hashes === true);

  const classify = async (
    path: string,
    entry: TreeEntry,
    origin: Origin | undefined,
    hashed: BlobHashes | undefined,
  ): Promise<AuditEntry> => {
    const step = origin?.kind === 'step' ? { ...stepRef(index.receipts[origin.index]!), via: origin.via } : null;
    const e: AuditEntry = {
      path,
      type: entry.type as AuditEntry['type'],
      mode: octalMode(entry.mode),
      ...(entry.size !== undefined ? { size: entry.size } : {}),
      ...(entry.digest ? { digest: entry.digest } : {}),
      ...(entry.target ? { target: pathText(entry.target) } : {}),
      class: 'unattributed',
      step,
    };
    if (origin?.kind === 'unrecorded') e.unrecorded = between(origin.afterIndex, origin.beforeIndex);
    // No origin at all cannot happen for a chain that reaches the tree's creation; it is unrecorded all the same.
    if (!origin) e.unrecorded = between(null, start.below);
    if (hashed?.sha1) e.sha1 = hashed.sha1;

    const owners = pkgs.owners.get(path) ?? [];
    if (owners.length > 0) {
      const checks = owners.map((o) => ownerCheck(o, entry, hashed?.md5));
      const chosen = checks.find((c) => c.check === 'match') ?? checks[0]!;
      e.package = chosen;
      const counts = perPackage.get(chosen.owner.package) ?? { files: 0, differs: 0 };
      if (entry.type === 'file') counts.files++;
      if (chosen.check === 'differs') counts.differs++;
      perPackage.set(chosen.owner.package, counts);
      delete (chosen as { owner?: PathOwner }).owner;
      if (chosen.check === 'match' || (entry.type !== 'file' && step)) e.class = 'package';
    }
    if (e.class === 'unattributed' && entry.type === 'file' && infoDir && path.startsWith(infoDir)) {
      const m = members.get(path.slice(infoDir.length));
      if (m && m.digest === entry.digest) {
        e.class = 'control';
        e.control = {
          package: m.pkg.name,
          ...(m.pkg.architecture ? { architecture: m.pkg.architecture } : {}),
          member: m.member,
          deb: m.deb,
        };
      }
    }
    if (e.class === 'unattributed' && entry.type === 'file') {
      const ing = ingestFor(ingested.get(entry.digest!), origin);
      if (ing) {
        const { index: _index, ...ref } = ing;
        e.class = 'ingested';
        e.ingested = ref;
      }
    }
    if (e.class === 'unattributed' && step) e.class = 'generated';
    return e;
  };

  const count = (e: AuditEntry) => {
    summary.entries++;
    if (e.type === 'file') summary.files++;
    else if (e.type === 'symlink') summary.symlinks++;
    else summary.other++;
    summary[e.class]++;
    if (e.package?.check === 'differs') summary.differs++;
    if (e.package?.check === 'conffile-changed') summary.conffilesChanged++;
    if (e.type === 'file' && !e.package) summary.unlisted++;
    if (e.unrecorded) summary.outsideCapture++;
    if (e.step) {
      const s = steps.get(e.step.seq) ?? {
        seq: e.step.seq,
        receipt: e.step.receipt,
        step: e.step.step,
        entries: 0,
        generated: 0,
      };
      s.entries++;
      if (e.class === 'generated') s.generated++;
      steps.set(e.step.seq, s);
    }
  };

  // One directory at a time: its blobs that need hashing (files a package lists with a
  // checksum, every file with `hashes`) read first, then its entries in name order.
  const visit = async (id: Digest, prefix: Buffer, origins: DirOrigins): Promise<void> => {
    const tree = await reader.mustTree(id);
    const paths = tree.entries.map((e) =>
      e.type === 'dir' ? '' : pathText(prefix.length === 0 ? e.name : Buffer.concat([prefix, SLASH, e.name])),
    );
    const need: Digest[] = [];
    tree.entries.forEach((e, k) => {
      if (e.type !== 'file') return;
      if (opts.hashes || (pkgs.owners.get(paths[k]!) ?? []).some((o) => expectedMd5(o))) need.push(e.digest!);
    });
    const hashes = need.length > 0 ? await hasher.hashes(need) : undefined;
    for (const [k, e] of tree.entries.entries()) {
      if (e.type === 'dir') {
        summary.directories++;
        const path = prefix.length === 0 ? e.name : Buffer.concat([prefix, SLASH, e.name]);
        await visit(e.digest!, path, await origins.child(e.name));
        continue;
      }
      const path = paths[k]!;
      const hashed = e.type === 'file' ? hashes?.get(e.digest!) : undefined;
      const entry = await classify(path, e, await origins.origin(e.name, path), hashed);
      count(entry);
      await sink.entry(entry);
    }
  };
  await sink.target?.(target);
  await visit(start.tree, Buffer.alloc(0), history.root);

  const packages: AuditPackage[] = pkgs.packages.map((p) => {
    const deb = debs.get(p) ?? null;
    const counts = perPackage.get(p) ?? { files: 0, differs: 0 };
    if (p.listed) {
      summary.packages++;
      if (deb) summary.packagesWithDeb++;
    }
    const summaryLine = firstLine(p.fields.get('description'));
    return {
      name: p.name,
      ...(p.architecture ? { architecture: p.architecture } : {}),
      ...(p.version ? { version: p.version } : {}),
      ...(p.status ? { status: p.status } : {}),
      listed: p.listed,
      ...(p.fields.get('source') ? { source: p.fields.get('source')! } : {}),
      ...(p.fields.get('maintainer') ? { maintainer: p.fields.get('maintainer')! } : {}),
      ...(p.fields.get('homepage') ? { homepage: p.fields.get('homepage')! } : {}),
      ...(summaryLine ? { summary: summaryLine } : {}),
      deb,
      files: counts.files,
      differs: counts.differs,
    };
  });
  return {
    target,
    summary,
    packages,
    steps: [...steps.values()].sort((a, b) => a.seq - b.seq),
    history: history.links.map((l) => linkSummary(index, l)),
    ms: Math.round(performance.now() - t0),
  };
}

function linkSummary(index: ReceiptIndex, l: HistoryLink): AuditResult['history'][number] {
  const seq = (i: number | null) => (i === null || i >= index.receipts.length ? null : index.receipts[i]!.seq);
  if (l.kind === 'step') {
    const r = index.receipts[l.index]!;
    return { kind: 'step', seq: r.seq, step: r.step, receipt: r.id };
  }
  return {
    kind: 'gap',
    afterSeq: seq(l.fromIndex),
    beforeSeq: seq(l.toIndex),
    inner: l.inner.map((v) => index.receipts[v.index]!.seq),
  };
}

function expectedMd5(o: PathOwner): { md5: string; source: 'md5sums' | 'conffiles' } | undefined {
  const conf = o.package.conffiles.get(o.listedAs);
  if (conf) return { md5: conf, source: 'conffiles' };
  const sum = o.package.md5sums.get(o.listedAs);
  return sum ? { md5: sum, source: 'md5sums' } : undefined;
}

function ownerCheck(
  o: PathOwner,
  entry: TreeEntry,
  md5: string | undefined,
): NonNullable<AuditEntry['package']> & { owner: PathOwner } {
  const base = {
    owner: o,
    name: o.package.name,
    ...(o.package.architecture ? { architecture: o.package.architecture } : {}),
    ...(o.package.version ? { version: o.package.version } : {}),
    listedAs: o.listedAs,
    ...(o.diversion ? { diversion: o.diversion } : {}),
  };
  if (entry.type !== 'file') return { ...base, check: 'not-a-file' };
  const expected = expectedMd5(o);
  if (!expected || md5 === undefined) return { ...base, check: 'no-checksum' };
  const check = expected.md5 === md5 ? 'match' : expected.source === 'conffiles' ? 'conffile-changed' : 'differs';
  return { ...base, check, md5: { expected: expected.md5, actual: md5, source: expected.source } };
}
