/**
 * The view as JSON (`asl dag --format json`). The schema is in docs/dag.md
 * ("JSON format") and the tests validate real output against it; change both
 * together, and bump DAG_JSON_FORMAT for anything an old reader would misread.
 */
import { nodeLabel } from './dag-labels.js';
import type { DagEdge, DagNode, DagView } from './dag-view.js';

/** v2: lanes (edge kind `lane`, node type `unrecorded`), per-use nodes for empty content, every name a node stands for. */
const DAG_JSON_FORMAT = 'https://asl.dev/dag/v2';

export interface DagJson {
  format: typeof DAG_JSON_FORMAT;
  store: string;
  options: { focus: string | null; depth: number | null; logs: boolean; packages: string; details: boolean };
  focus: string[];
  totals: DagView['totals'];
  nodes: Array<Record<string, unknown>>;
  edges: DagEdge[];
}

/** One node as JSON: its data, plus the label the pictures show. */
export function nodeJson(node: DagNode): Record<string, unknown> {
  const { title, lines } = nodeLabel(node);
  const label = { title, lines };
  switch (node.type) {
    case 'receipt': {
      const { type: _t, id: _i, ...r } = node.receipt;
      return { id: node.id, type: 'receipt', ...r, hidden: node.hidden, label };
    }
    case 'artifact': {
      const { type: _t, id, ...a } = node.artifact;
      const tree =
        node.tree === undefined
          ? {}
          : {
              tree:
                node.tree === null
                  ? null
                  : { files: node.tree.files, dirs: node.tree.dirs, other: node.tree.other, bytes: node.tree.bytes },
            };
      return { id: node.id, type: 'artifact', digest: id, ...a, links: node.links, ...tree, label };
    }
    case 'group':
      return {
        id: node.id,
        type: 'group',
        kind: node.kind,
        receipt: node.receipt,
        step: node.step,
        direction: node.direction,
        members: node.members,
        size: node.size,
        label,
      };
    case 'unrecorded':
      return {
        id: node.id,
        type: 'unrecorded',
        path: node.path,
        from: node.from,
        to: node.to,
        paths: node.paths,
        counts: node.counts,
        ...(node.unchecked ? { unchecked: node.unchecked } : {}),
        label,
      };
  }
}

function dagJson(view: DagView, storeRoot: string): DagJson {
  return {
    format: DAG_JSON_FORMAT,
    store: storeRoot,
    options: {
      focus: view.options.focus ?? null,
      depth: view.options.depth ?? null,
      logs: view.options.logs,
      packages: view.options.packages,
      details: view.options.details,
    },
    focus: view.focus,
    totals: view.totals,
    nodes: view.nodes.map(nodeJson),
    edges: view.edges,
  };
}

export function renderJson(view: DagView, storeRoot: string): string {
  return `${JSON.stringify(dagJson(view, storeRoot), null, 1)}\n`;
}
