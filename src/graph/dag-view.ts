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
import type { DiffCounts } from '../store/tree-diff.js';
import type { LaneLink } from './lanes.js';
import {
  displayName,
  type ArtifactNode,
  type Lineage,
  type LineageEdge,
  type ReceiptNode,
  type TreeSummary,
} from './lineage.js';

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
  /** The digest; for empty content, one node per use: `<digest>@in:<receipt id>` or `@out:`. */
  id: string;
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

/** Between two recorded states of one path, changes that no receipt recorded (or that could not be checked). */
export interface UnrecordedDagNode {
  type: 'unrecorded';
  /** `unrecorded:<receipt id of the step that found them>:<path>`. */
  id: string;
  path: string;
  /** The record the path continues from, and the step that started from the changed state. */
  from: { receipt: Digest; step: string };
  to: { receipt: Digest; step: string };
  /** null when unchecked. */
  counts: DiffCounts | null;
  /** Paths that differ: the sum of `counts`; null when unchecked. */
  paths: number | null;
  /** Why the states could not be compared (a tree not in the store). */
  unchecked?: string;
}

export type DagNode = ReceiptDagNode | ArtifactDagNode | GroupDagNode | UnrecordedDagNode;

export interface DagEdge {
  /**
   * input: into a step; output: out of a step; contains: a file or tree directly
   * inside a tree; lane: one path from a recorded state to the next, through the
   * steps that changed it in between or an unrecorded change.
   */
  kind: 'input' | 'output' | 'contains' | 'lane';
  from: string;
  to: string;
  /** The roles of the artifact uses this edge stands for (empty for contains and lane). */
  roles: ArtifactRole[];
  /** The artifact's names in the receipt; for a lane, the path. */
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
  package: 'packages',
  program: 'programs',
  changes: 'changeLists',
  observed: 'tracedReads',
};

const ROLE_BIT = Object.fromEntries(ARTIFACT_ROLES.map((r, i) => [r, 1 << i])) as Record<string, number>;
const ALL_ROLES = (1 << ARTIFACT_ROLES.length) - 1;
/** A role this code does not know (a newer capture's): never mistaken for a hidden-only role. */
const OTHER_ROLE = 1 << 19;
const CONSUMED = 1 << 20;
const PRODUCED = 1 << 21;

/** Output roles that are records about the step, not what it made. */
const NOT_PRODUCTS = new Set<string>(['stdout', 'stderr', 'changes']);

/** The node that draws `digest` as used by `receipt`: the digest itself, or one node per use for empty content. */
export function artifactNodeId(lineage: Lineage, digest: Digest, dir: 'input' | 'output', receipt: Digest): string {
  return lineage.artifacts.get(digest)?.empty ? `${digest}@${dir === 'input' ? 'in' : 'out'}:${receipt}` : digest;
}

/** A lane as the nodes it goes through: the earlier state, the steps in between, the unrecorded change, the next state. */
export interface LaneChain {
  link: LaneLink;
  ids: string[];
  /** The id of its unrecorded-change node, when it has one. */
  marker?: string;
}

function laneChains(lineage: Lineage): LaneChain[] {
  const end = (e: LaneLink['from']): string =>
    e.digest === null ? e.receipt : artifactNodeId(lineage, e.digest, e.dir, e.receipt);
  const chains: LaneChain[] = [];
  for (const link of lineage.lanes) {
    const from = end(link.from);
    const to = end(link.to);
    const marker = link.unrecorded || link.unchecked ? `unrecorded:${link.to.receipt}:${link.path}` : undefined;
    const ids = [from, ...link.through.map((t) => t.receipt), ...(marker ? [marker] : []), to];
    if (ids.length === 2 && from === to) continue;
    chains.push({ link, ids, ...(marker ? { marker } : {}) });
  }
  return chains;
}

/** Every edge of the lineage between node ids (empty content per use), with the lanes: what --focus walks. */
function graphLinks(lineage: Lineage, chains: readonly LaneChain[]): Array<{ from: string; to: string }> {
  const links: Array<{ from: string; to: string }> = [];
  for (const e of lineage.edges) {
    if (e.kind === 'input')
      links.push({
        from: lineage.receiptById.has(e.from) ? e.from : artifactNodeId(lineage, e.from, 'input', e.to),
        to: e.to,
      });
    else
      links.push({
        from: e.from,
        to: lineage.receiptById.has(e.to) ? e.to : artifactNodeId(lineage, e.to, 'output', e.from),
      });
  }
  for (const c of chains) for (let i = 1; i < c.ids.length; i++) links.push({ from: c.ids[i - 1]!, to: c.ids[i]! });
  return links;
}

export function buildDagView(lineage: Lineage, opts: DagViewOptions = {}): DagView {
  const options = {
    logs: opts.logs ?? true,
    packages: opts.packages ?? 'hidden',
    details: opts.details ?? false,
    focus: opts.focus,
    depth: opts.depth,
  };
  if (options.depth !== undefined && (!Number.isSafeInteger(options.depth) || options.depth < 0))
    throw new AslError('USAGE', `--depth ${options.depth}: must be a whole number ≥ 0`);
  if (options.depth !== undefined && options.focus === undefined)
    throw new AslError('USAGE', '--depth N needs --focus ID');

  const chains = laneChains(lineage);
  // A step's own edges, by receipt id (receipt ids are node ids as they are).
  const adj = adjacencyOf(lineage.edges);
  const focus = options.focus !== undefined ? resolveFocus(lineage, options.focus) : [];
  const focusSet = new Set<string>(focus);
  let selected: Set<string> | undefined;
  if (options.focus !== undefined) {
    // The whole graph between node ids, lanes included; empty content is one node per use, so a focus on its digest is all of them.
    const links = graphLinks(lineage, chains);
    for (const l of links)
      for (const id of [l.from, l.to])
        if (id.includes('@') && focusSet.has(id.slice(0, id.indexOf('@')))) focusSet.add(id);
    selected = nodesAround(links, adjacencyOf(links), [...focusSet], options.depth);
  }
  const inSelection = (id: string): boolean => !selected || selected.has(id);
  const laneEnds = new Set(chains.flatMap((c) => [c.ids[0]!, c.ids.at(-1)!]));

  // Per artifact, one pass: which roles it is used in, whether a step made it, whether one used it.
  const uses = new Map<Digest, number>();
  for (const e of lineage.edges) {
    const artifact = e.kind === 'input' ? e.from : e.to;
    if (!lineage.artifacts.has(artifact)) continue;
    uses.set(
      artifact,
      (uses.get(artifact) ?? 0) | (ROLE_BIT[e.role] ?? OTHER_ROLE) | (e.kind === 'input' ? CONSUMED : PRODUCED),
    );
  }
  // Empty content never links two steps: any two may hold it by chance.
  const linksSteps = (a: ArtifactNode): boolean =>
    !a.empty && ((uses.get(a.id) ?? 0) & (CONSUMED | PRODUCED)) === (CONSUMED | PRODUCED);
  const categoryOf = (a: ArtifactNode): Category => {
    const roles = (uses.get(a.id) ?? 0) & (ALL_ROLES | OTHER_ROLE);
    if (a.kind === 'package') return 'package';
    if (a.kind === 'log') return 'log';
    // What --trace read of a package or of dpkg's database is a traced read, not a change list.
    if (a.kind === 'paths') return roles === ROLE_BIT.observed ? 'observed' : 'changes';
    if (roles === ROLE_BIT.program) return 'program';
    if (roles === ROLE_BIT.observed) return 'observed';
    if (roles === ROLE_BIT.changes) return 'changes';
    return 'main';
  };
  /** 'show' | 'group' | a hidden category. */
  const placement = (
    a: ArtifactNode,
    nodeId: string,
    e: LineageEdge,
  ): 'show' | 'group' | Exclude<Category, 'main'> | 'none' => {
    // Empty content is judged per use (the empty file is an empty log in one step, a declared file in another).
    if (a.empty && (e.role === 'stdout' || e.role === 'stderr'))
      return focusSet.has(nodeId) ? 'show' : !options.logs ? 'none' : 'log';
    if (focusSet.has(nodeId) || linksSteps(a) || laneEnds.has(nodeId) || a.empty) return 'show';
    const c = categoryOf(a);
    // What a step made is always drawn (packages as the step's group unless --all-packages).
    if (e.kind === 'output' && !NOT_PRODUCTS.has(e.role) && c !== 'log' && c !== 'changes') {
      return c === 'package' && options.packages !== 'all' ? 'group' : 'show';
    }
    switch (c) {
      case 'main':
        return 'show';
      case 'log':
        return !options.logs ? 'none' : a.size === 0 ? 'log' : 'show';
      case 'package':
        return options.packages === 'all' ? 'show' : options.packages === 'grouped' ? 'group' : 'package';
      case 'program':
      case 'changes':
      case 'observed':
        return options.details ? 'show' : c;
    }
  };

  const nodes: DagNode[] = [];
  const shown = new Map<string, DagNode>();
  const edges = new Map<string, DagEdge>();
  const addEdge = (kind: DagEdge['kind'], from: string, to: string, role?: ArtifactRole, name?: string) => {
    const key = `${from}\u0000${to}\u0000${kind}`;
    let edge = edges.get(key);
    if (!edge) {
      edge = { kind, from, to, roles: [], names: [] };
      edges.set(key, edge);
    }
    if (role && !edge.roles.includes(role)) edge.roles.push(role);
    if (name !== undefined && !edge.names.includes(name)) edge.names.push(name);
  };
  const showArtifact = (nodeId: string, a: ArtifactNode, useName: string, role: ArtifactRole): void => {
    const known = shown.get(nodeId);
    if (nodeId === a.id) {
      if (known) return;
      const node: ArtifactDagNode = { type: 'artifact', id: nodeId, artifact: a, links: linksSteps(a) };
      nodes.push(node);
      shown.set(nodeId, node);
      return;
    }
    // One node per use of empty content: it stands for the names this step gave it, no others.
    const kind = role === 'stdout' || role === 'stderr' ? 'log' : a.kind === 'log' ? 'blob' : a.kind;
    const name = displayName({ name: useName, kind });
    const bare = useName.replace(/^[a-z]+:(?=\/)/, '');
    if (known) {
      const art = (known as ArtifactDagNode).artifact;
      if (!art.names.includes(name)) art.names.push(name);
      if (bare.startsWith('/') && !art.paths.includes(bare)) art.paths.push(bare);
      return;
    }
    const artifact: ArtifactNode = { ...a, kind, name, names: [name], paths: bare.startsWith('/') ? [bare] : [] };
    if (bare.startsWith('/')) artifact.path = bare;
    else delete artifact.path;
    const node: ArtifactDagNode = { type: 'artifact', id: nodeId, artifact, links: false };
    nodes.push(node);
    shown.set(nodeId, node);
  };
  const markersFor = new Map<Digest, LaneChain[]>();
  for (const c of chains) {
    if (!c.marker) continue;
    const list = markersFor.get(c.link.to.receipt);
    if (list) list.push(c);
    else markersFor.set(c.link.to.receipt, [c]);
  }

  for (const receipt of lineage.receipts) {
    if (!inSelection(receipt.id)) continue;
    for (const c of markersFor.get(receipt.id) ?? []) {
      if (!inSelection(c.marker!) || shown.has(c.marker!)) continue;
      const counts = c.link.unrecorded;
      const node: UnrecordedDagNode = {
        type: 'unrecorded',
        id: c.marker!,
        path: c.link.path,
        from: { receipt: c.link.from.receipt, step: lineage.receiptById.get(c.link.from.receipt)?.step ?? '' },
        to: { receipt: receipt.id, step: receipt.step },
        counts,
        paths: counts ? counts.added + counts.removed + counts.modified + counts.metadata : null,
        ...(c.link.unchecked ? { unchecked: c.link.unchecked } : {}),
      };
      nodes.push(node);
      shown.set(node.id, node);
    }
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
      const nodeId = artifactNodeId(lineage, other, isInput ? 'input' : 'output', receipt.id);
      const place = placement(artifact, nodeId, e);
      if (place === 'none') continue;
      if (place === 'show') {
        if (!inSelection(nodeId)) continue;
        (isInput ? before : after).push(() => {
          showArtifact(nodeId, artifact, e.name, e.role);
          if (isInput) addEdge('input', nodeId, receipt.id, e.role, e.name);
          else addEdge('output', receipt.id, nodeId, e.role, e.name);
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
      const node: GroupDagNode = {
        type: 'group',
        id,
        kind: 'package',
        receipt: receipt.id,
        step: receipt.step,
        direction,
        members,
        size,
      };
      nodes.push(node);
      shown.set(id, node);
      if (direction === 'input') addEdge('input', id, receipt.id, 'downloaded');
      else addEdge('output', receipt.id, id);
    };
    groupNode('input');
    const node: ReceiptDagNode = { type: 'receipt', id: receipt.id, receipt, hidden };
    nodes.push(node);
    shown.set(receipt.id, node);
    for (const f of after) f();
    groupNode('output');
  }
  for (const c of chains)
    for (let i = 1; i < c.ids.length; i++) addEdge('lane', c.ids[i - 1]!, c.ids[i]!, undefined, c.link.path);
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
  return [
    ...new Set(
      view.nodes
        .filter((n): n is ArtifactDagNode => n.type === 'artifact' && n.artifact.kind === 'tree')
        .map((n) => n.artifact.id),
    ),
  ];
}

/**
 * Puts tree totals on the view's tree nodes, and a `contains` edge from every
 * drawn file or tree that is a direct entry of a drawn tree (the overlay's file
 * inside the folder the build step read), unless a lane joins the two already.
 */
export function attachTrees(view: DagView, summaries: ReadonlyMap<Digest, TreeSummary | null>): void {
  // A lane between the two already says the one holds the other (in data-flow order).
  const lanes = new Set(
    view.edges.filter((e) => e.kind === 'lane').flatMap((e) => [`${e.from}\u0000${e.to}`, `${e.to}\u0000${e.from}`]),
  );
  for (const node of view.nodes) {
    if (node.type !== 'artifact' || node.artifact.kind !== 'tree') continue;
    const summary = summaries.get(node.artifact.id);
    if (summary === undefined) continue;
    node.tree = summary;
    for (const child of summary?.children ?? []) {
      if (child !== node.id && !lanes.has(`${child}\u0000${node.id}`))
        view.edges.push({ kind: 'contains', from: child, to: node.id, roles: [], names: [] });
    }
  }
}
