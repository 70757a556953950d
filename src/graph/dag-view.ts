/**
 * From the full lineage to the graph that is drawn: which nodes are shown, which
 * are folded into their step, and the edges between what is left. The rules
 * (docs/dag.md, "What is shown"):
 *
 * - every receipt is shown, and every tree, declared or ingested file, watched
 *   file and foreign receipt;
 * - an artifact that links two steps (produced by one, used by another) is always
 *   shown, whatever its kind, so hiding never cuts a lineage path;
 * - logs are shown unless `logs: false`, except empty ones (every empty stream
 *   has the same digest and would tie unrelated steps together);
 * - packages (.deb) are counted on their step's box; `packages: 'grouped'`
 *   draws one node per step for them, `'all'` every package;
 * - programs, change lists and traced reads are counted on the box; `details`
 *   draws them;
 * - with a focus, only the focus nodes, their ancestors and their descendants
 *   (up to `depth` edges) remain; the focus nodes themselves are always drawn.
 */
import type { Digest } from '../core/digest.js';
import { AslError } from '../core/errors.js';
import { ARTIFACT_ROLES, type ArtifactRole } from '../receipt/types.js';
import { adjacencyOf, nodesAround, resolveFocus } from './dag-focus.js';
import type { ArtifactNode, Lineage, ReceiptNode, TreeSummary } from './lineage.js';

export type PackageMode = 'hidden' | 'grouped' | 'all';

export interface DagViewOptions {
  /** A receipt or artifact id (or prefix), a step name or an artifact path. */
  focus?: string;
  /** Edges from the focus (needs `focus`). */
  depth?: number;
  /** Draw stdout/stderr (default true). */
  logs?: boolean;
  /** How .deb packages are drawn (default 'hidden': counted on the step). */
  packages?: PackageMode;
  /** Draw programs, change lists and traced reads (default false). */
  details?: boolean;
}

export interface ReceiptDagNode {
  type: 'receipt';
  id: Digest;
  receipt: ReceiptNode;
  /** What the step used or made that is not drawn: packages, programs, changeLists, tracedReads. */
  hidden: Record<string, number>;
}

export interface ArtifactDagNode {
  type: 'artifact';
  id: Digest;
  artifact: ArtifactNode;
  /** Produced by one step and used by another. */
  links: boolean;
  /** Trees: totals from the tree object (null when the store does not hold it). */
  tree?: TreeSummary | null;
}

export interface GroupDagNode {
  type: 'group';
  /** `packages:<receipt id>` (downloaded by the step) or `packages-out:<receipt id>`. */
  id: string;
  kind: 'package';
  receipt: Digest;
  step: string;
  direction: 'input' | 'output';
  members: Digest[];
  /** Total bytes of the members. */
  size: number;
}

export type DagNode = ReceiptDagNode | ArtifactDagNode | GroupDagNode;

export interface DagEdge {
  /** input: into a step; output: out of a step; contains: a file or tree directly inside a tree. */
  kind: 'input' | 'output' | 'contains';
  from: string;
  to: string;
  /** The roles of the artifact uses this edge stands for (empty for contains). */
  roles: ArtifactRole[];
  /** The artifact's names in the receipt. */
  names: string[];
}

export interface DagView {
  options: Required<Pick<DagViewOptions, 'logs' | 'packages' | 'details'>> & Pick<DagViewOptions, 'focus' | 'depth'>;
  /** The ids the focus query resolved to. */
  focus: Digest[];
  nodes: DagNode[];
  edges: DagEdge[];
  /** Size of the whole lineage, for "showing N of M". */
  totals: { receipts: number; artifacts: number; edges: number };
}

type Category = 'main' | 'log' | 'package' | 'program' | 'changes' | 'observed';

/** The keys of ReceiptDagNode.hidden. Empty logs are not counted: they carry nothing. */
const HIDDEN_KEY: Record<Exclude<Category, 'main' | 'log'>, string> = {
  package: 'packages', program: 'programs', changes: 'changeLists', observed: 'tracedReads',
};

const ROLE_BIT = Object.fromEntries(ARTIFACT_ROLES.map((r, i) => [r, 1 << i])) as Record<ArtifactRole, number>;
const ALL_ROLES = (1 << ARTIFACT_ROLES.length) - 1;
const CONSUMED = 1 << 20;
const PRODUCED = 1 << 21;

const EMPTY_DIGEST = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

export function buildDagView(lineage: Lineage, opts: DagViewOptions = {}): DagView {
  const options = { logs: opts.logs ?? true, packages: opts.packages ?? 'hidden', details: opts.details ?? false, focus: opts.focus, depth: opts.depth };
  if (options.depth !== undefined && (!Number.isSafeInteger(options.depth) || options.depth < 0)) throw new AslError('USAGE', `--depth ${options.depth}: must be a whole number ≥ 0`);
  if (options.depth !== undefined && options.focus === undefined) throw new AslError('USAGE', '--depth N needs --focus ID');

  const adj = adjacencyOf(lineage);
  const focus = options.focus !== undefined ? resolveFocus(lineage, options.focus) : [];
  const selected = options.focus !== undefined ? nodesAround(lineage, adj, focus, options.depth) : undefined;
  const inSelection = (id: Digest): boolean => !selected || selected.has(id);
  const focusSet = new Set(focus);

  // Per artifact, one pass: which roles it is used in, whether a step made it, whether one used it.
  const uses = new Map<Digest, number>();
  for (const e of lineage.edges) {
    const artifact = e.kind === 'input' ? e.from : e.to;
    if (!lineage.artifacts.has(artifact)) continue;
    uses.set(artifact, (uses.get(artifact) ?? 0) | ROLE_BIT[e.role] | (e.kind === 'input' ? CONSUMED : PRODUCED));
  }
  const links = (id: Digest): boolean => id !== EMPTY_DIGEST && ((uses.get(id) ?? 0) & (CONSUMED | PRODUCED)) === (CONSUMED | PRODUCED);
  const categoryOf = (a: ArtifactNode): Category => {
    const roles = (uses.get(a.id) ?? 0) & ALL_ROLES;
    // A package a step built is its product, drawn like any other; downloaded ones are counted.
    if (a.kind === 'package') return roles & ROLE_BIT.product ? 'main' : 'package';
    if (a.kind === 'log') return 'log';
    if (a.kind === 'paths') return roles === ROLE_BIT.observed ? 'observed' : 'changes';
    if (roles === ROLE_BIT.program) return 'program';
    if (roles === ROLE_BIT.observed) return 'observed';
    if (roles === ROLE_BIT.changes) return 'changes';
    return 'main';
  };
  /** 'show' | 'group' | a hidden category. */
  const placement = (a: ArtifactNode): 'show' | 'group' | Exclude<Category, 'main'> | 'none' => {
    if (focusSet.has(a.id) || links(a.id)) return 'show';
    const c = categoryOf(a);
    switch (c) {
      case 'main': return 'show';
      case 'log': return !options.logs ? 'none' : a.size === 0 ? 'log' : 'show';
      case 'package': return options.packages === 'all' ? 'show' : options.packages === 'grouped' ? 'group' : 'package';
      case 'program':
      case 'changes':
      case 'observed':
        return options.details ? 'show' : c;
    }
  };

  const nodes: DagNode[] = [];
  const shown = new Set<string>();
  const edges = new Map<string, DagEdge>();
  const addEdge = (kind: DagEdge['kind'], from: string, to: string, role?: ArtifactRole, name?: string) => {
    const key = `${from}\u0000${to}\u0000${kind}`;
    let edge = edges.get(key);
    if (!edge) edges.set(key, (edge = { kind, from, to, roles: [], names: [] }));
    if (role && !edge.roles.includes(role)) edge.roles.push(role);
    if (name !== undefined && !edge.names.includes(name)) edge.names.push(name);
  };
  const showArtifact = (id: Digest): void => {
    if (shown.has(id)) return;
    shown.add(id);
    nodes.push({ type: 'artifact', id, artifact: lineage.artifacts.get(id)!, links: links(id) });
  };

  for (const receipt of lineage.receipts) {
    if (!inSelection(receipt.id)) continue;
    const hidden: Record<string, number> = {};
    const groups = { input: [] as Digest[], output: [] as Digest[] };
    const before: Array<() => void> = [];
    const after: Array<() => void> = [];
    // Bytes a step read and wrote back unchanged (a copy of its input) are drawn once, as
    // its input: an output edge back to them would draw a cycle.
    const read = new Set((adj.in.get(receipt.id) ?? []).map((i) => lineage.edges[i]!.from));
    for (const i of [...(adj.in.get(receipt.id) ?? []), ...(adj.out.get(receipt.id) ?? [])]) {
      const e = lineage.edges[i]!;
      const isInput = e.to === receipt.id && e.kind === 'input';
      const other = isInput ? e.from : e.to;
      if (!isInput && read.has(other)) continue;
      if (lineage.receiptById.has(other)) {
        // A receipt used as an input: an edge between two steps.
        if (isInput && inSelection(other)) after.push(() => addEdge('input', other, receipt.id, e.role, e.name));
        continue;
      }
      const artifact = lineage.artifacts.get(other)!;
      const place = placement(artifact);
      if (place === 'none') continue;
      if (place === 'show') {
        if (!inSelection(other)) continue;
        (isInput ? before : after).push(() => {
          showArtifact(other);
          addEdge(e.kind, e.from, e.to, e.role, e.name);
        });
      } else if (place === 'group') {
        if (inSelection(other)) groups[isInput ? 'input' : 'output'].push(other);
      } else if (place !== 'log') {
        const key = HIDDEN_KEY[place];
        hidden[key] = (hidden[key] ?? 0) + 1;
      }
    }
    for (const f of before) f();
    const groupNode = (direction: 'input' | 'output'): void => {
      const members = [...new Set(groups[direction])];
      if (members.length === 0) return;
      const id = `${direction === 'input' ? 'packages' : 'packages-out'}:${receipt.id}`;
      const size = members.reduce((sum, m) => sum + (lineage.artifacts.get(m)?.size ?? 0), 0);
      nodes.push({ type: 'group', id, kind: 'package', receipt: receipt.id, step: receipt.step, direction, members, size });
      shown.add(id);
      if (direction === 'input') addEdge('input', id, receipt.id, 'downloaded');
      else addEdge('output', receipt.id, id);
    };
    groupNode('input');
    nodes.push({ type: 'receipt', id: receipt.id, receipt, hidden });
    shown.add(receipt.id);
    for (const f of after) f();
    groupNode('output');
  }
  // Receipt-to-receipt edges may name a step drawn later; keep only edges between drawn nodes.
  const edgeList = [...edges.values()].filter((e) => shown.has(e.from) && shown.has(e.to));
  return {
    options,
    focus,
    nodes,
    edges: edgeList,
    totals: { receipts: lineage.receipts.length, artifacts: lineage.artifacts.size, edges: lineage.edges.length },
  };
}

/** The trees of a view whose totals are worth reading (the ones drawn). */
export function treesOf(view: DagView): Digest[] {
  return view.nodes.filter((n): n is ArtifactDagNode => n.type === 'artifact' && n.artifact.kind === 'tree').map((n) => n.id);
}

/**
 * Puts tree totals on the view's tree nodes, and a `contains` edge from every
 * drawn file or tree that is a direct entry of a drawn tree (the overlay's file
 * inside the folder the build step read).
 */
export function attachTrees(view: DagView, summaries: ReadonlyMap<Digest, TreeSummary | null>): void {
  for (const node of view.nodes) {
    if (node.type !== 'artifact' || node.artifact.kind !== 'tree') continue;
    const summary = summaries.get(node.id);
    if (summary === undefined) continue;
    node.tree = summary;
    for (const child of summary?.children ?? []) {
      if (child !== node.id) view.edges.push({ kind: 'contains', from: child, to: node.id, roles: [], names: [] });
    }
  }
}
