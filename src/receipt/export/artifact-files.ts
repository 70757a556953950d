/**
 * The file view of a receipt's artifacts that in-toto links and SLSA statements
 * need: path -> sha256 of the file's bytes. Trees are expanded into one path per
 * regular file (and per symlink, whose digest is the sha256 of its target bytes),
 * so in-toto's MATCH rules can compare step by step. Paths are the host paths the
 * receipt recorded, made relative to `base` when they lie under it.
 */
import { createHash } from 'node:crypto';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { digestHex, type Digest } from '../../core/digest.js';
import { AslError } from '../../core/errors.js';
import type { Store } from '../../store/store.js';
import { readTree } from '../../store/tree-lookup.js';
import type { ArtifactRef, PerCore } from '../types.js';

/** path -> sha256 hex, in insertion order. */
export type FileDigests = Map<string, string>;

export interface SkippedCounts {
  /** Names that are not valid UTF-8 (in-toto paths are text). */
  nonUtf8: number;
  /** Device nodes, fifos, sockets: in-toto records files only. */
  special: number;
  /** File or tree artifacts recorded without a path (logs and change lists are never files). */
  pathless: number;
}

export interface PathOptions {
  /** Absolute directory: paths under it are written relative to it, others stay absolute. */
  base?: string;
}

/** The in-toto path for an absolute host path (see docs/export.md "Paths"). */
export function exportPath(hostPath: string, opts: PathOptions): string {
  if (!opts.base) return hostPath;
  const rel = relative(opts.base, hostPath);
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return hostPath;
  return rel.split(sep).join('/');
}

/** Normalizes a --base value: absolute, no trailing slash; `/` means "no base". */
export function normalizeBase(base: string | undefined): string | undefined {
  if (base === undefined) return undefined;
  const abs = resolve(base);
  return abs === '/' ? undefined : abs;
}

type Listing = Array<[string, string]>;

/** Expands trees into files, sharing the work between trees that share sub-trees. */
export class TreeExpander {
  private readonly cache = new Map<Digest, Promise<{ files: Listing; skipped: SkippedCounts }>>();

  constructor(private readonly store: Store) {}

  files(id: Digest): Promise<{ files: Listing; skipped: SkippedCounts }> {
    let pending = this.cache.get(id);
    if (!pending) {
      pending = this.expand(id);
      this.cache.set(id, pending);
    }
    return pending;
  }

  private async expand(id: Digest): Promise<{ files: Listing; skipped: SkippedCounts }> {
    const tree = await readTree(this.store, id);
    const files: Listing = [];
    const skipped: SkippedCounts = { nonUtf8: 0, special: 0, pathless: 0 };
    const subdirs: Array<[string, Digest]> = [];
    for (const e of tree.entries) {
      const name = e.name.toString('utf8');
      if (!Buffer.from(name, 'utf8').equals(e.name)) {
        skipped.nonUtf8++;
        continue;
      }
      switch (e.type) {
        case 'file':
          files.push([name, digestHex(e.digest!)]);
          break;
        case 'symlink':
          files.push([name, createHash('sha256').update(e.target!).digest('hex')]);
          break;
        case 'dir':
          subdirs.push([name, e.digest!]);
          break;
        case 'char':
        case 'block':
        case 'fifo':
        case 'socket':
          skipped.special++;
          break;
      }
    }
    const children = await Promise.all(subdirs.map(([, d]) => this.files(d)));
    subdirs.forEach(([name], i) => {
      const child = children[i]!;
      for (const [p, h] of child.files) files.push([`${name}/${p}`, h]);
      skipped.nonUtf8 += child.skipped.nonUtf8;
      skipped.special += child.skipped.special;
    });
    return { files, skipped };
  }
}

/** Collects path -> digest for one side (materials or products) of one receipt. */
class FileSet {
  readonly files: FileDigests = new Map();
  readonly skipped: SkippedCounts = { nonUtf8: 0, special: 0, pathless: 0 };

  constructor(
    private readonly label: string,
    private readonly opts: PathOptions,
  ) {}

  add(path: string, hex: string): void {
    const seen = this.files.get(path);
    if (seen !== undefined && seen !== hex) {
      throw new AslError(
        'UNSUPPORTED',
        `${this.label}: ${path} has two digests (sha256:${seen}, sha256:${hex}); one in-toto path holds one digest`,
      );
    }
    this.files.set(path, hex);
  }

  async addArtifact(expander: TreeExpander, kind: 'blob' | 'tree', hostPath: string, digest: Digest): Promise<void> {
    if (kind === 'blob') {
      this.add(exportPath(hostPath, this.opts), digestHex(digest));
      return;
    }
    const { files, skipped } = await expander.files(digest);
    this.skipped.nonUtf8 += skipped.nonUtf8;
    this.skipped.special += skipped.special;
    // The tree's own path is mapped once; its files only append their relative path.
    const mapped = exportPath(hostPath, this.opts);
    const prefix = mapped === hostPath ? (hostPath.endsWith('/') ? hostPath : `${hostPath}/`) : `${mapped}/`;
    const base = this.opts.base;
    const root = base !== undefined && hostPath === base;
    if (base?.startsWith(prefix)) {
      // The base lies inside this tree: some of its files are under it, some not.
      for (const [rel, hex] of files) this.add(exportPath(prefix + rel, this.opts), hex);
      return;
    }
    for (const [rel, hex] of files) this.add(root ? rel : prefix + rel, hex);
  }
}

/** How an artifact reference shows on disk: as one file, as a tree, or not at all. */
function fileKind(ref: ArtifactRef): 'blob' | 'tree' | undefined {
  switch (ref.kind) {
    case 'tree':
      return 'tree';
    case 'blob':
    case 'package':
    case 'receipt':
      return 'blob'; // a receipt input is its per.dsse.json
    case 'log':
    case 'paths':
      return undefined;
  }
}

export interface ReceiptFiles {
  materials: FileSet;
  products: FileSet;
}

/**
 * Materials: every input that is a file or tree on disk, except packages the step
 * itself downloaded (they appeared during the step: they are in its products).
 * Products: every output that is a file or tree, plus each watched root the step
 * left unchanged (its after-state is still what the step produced; ASL lists only
 * changed roots as outputs).
 */
export async function receiptFiles(
  _store: Store,
  expander: TreeExpander,
  id: string,
  core: PerCore,
  opts: PathOptions,
): Promise<ReceiptFiles> {
  const materials = new FileSet(`receipt ${id} (step ${core.step}) materials`, opts);
  const products = new FileSet(`receipt ${id} (step ${core.step}) products`, opts);
  for (const ref of core.inputs) {
    if (ref.role === 'downloaded') continue;
    const kind = fileKind(ref);
    if (!kind) continue;
    if (!ref.path) {
      materials.skipped.pathless++;
      continue;
    }
    await materials.addArtifact(expander, kind, ref.path, ref.digest);
  }
  const outputPaths = new Set<string>();
  for (const ref of core.outputs) {
    const kind = fileKind(ref);
    if (!kind) continue;
    if (!ref.path) {
      products.skipped.pathless++;
      continue;
    }
    outputPaths.add(ref.path);
    await products.addArtifact(expander, kind, ref.path, ref.digest);
  }
  if (core.kind === 'command') {
    for (const w of core.watched) {
      if (!w.after || w.after !== w.before || outputPaths.has(w.path)) continue;
      const before = core.inputs.find((i) => i.role === 'watched' && i.path === w.path && i.digest === w.before);
      const kind = before ? fileKind(before) : undefined;
      if (kind) await products.addArtifact(expander, kind, w.path, w.after);
    }
  }
  return { materials, products };
}
