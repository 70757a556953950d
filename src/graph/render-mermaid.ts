/**
 * The view as a Mermaid flowchart (left to right), for Markdown that renders
 * Mermaid. Mermaid ids cannot hold a digest's colon, so nodes are n1, n2, … and
 * a comment line maps each back to its id. Label text is written with Mermaid's
 * entity codes for the characters its grammar reserves.
 */
import { nodeLabel } from './dag-labels.js';
import { DAG_COLORS } from './render-dot.js';
import type { DagNode, DagView } from './dag-view.js';

/** Text inside a quoted Mermaid label. */
export function mermaidText(text: string): string {
  return text.replace(/[#"<>&`|{}[\]()]/g, (c) => `#${c.charCodeAt(0)};`);
}

function shape(node: DagNode, label: string): string {
  if (node.type === 'receipt') return `("${label}")`;
  if (node.type === 'group') return `[["${label}"]]`;
  if (node.type === 'unrecorded') return `{{"${label}"}}`;
  switch (node.artifact.kind) {
    case 'tree':
      return `[/"${label}"/]`;
    case 'package':
      return `[["${label}"]]`;
    case 'log':
    case 'paths':
      return `>"${label}"]`;
    default:
      return `["${label}"]`;
  }
}

function classOf(node: DagNode): string {
  if (node.type === 'receipt') return node.receipt.ok ? 'ok' : 'failed';
  if (node.type === 'group') return 'package';
  if (node.type === 'unrecorded') return 'unrecorded';
  return node.artifact.kind;
}

export function renderMermaid(view: DagView): string {
  const ids = new Map<string, string>();
  const out = ['flowchart LR'];
  view.nodes.forEach((node, i) => {
    const id = `n${i + 1}`;
    ids.set(node.id, id);
    const label = nodeLabel(node);
    const text = [`<b>${mermaidText(label.title)}</b>`, ...label.lines.map(mermaidText)].join('<br/>');
    out.push(`  %% ${id} = ${node.id}`);
    out.push(`  ${id}${shape(node, text)}:::${classOf(node)}`);
  });
  const receipts = new Set<string>(view.nodes.filter((n) => n.type === 'receipt').map((n) => n.id));
  for (const edge of view.edges) {
    const from = ids.get(edge.from);
    const to = ids.get(edge.to);
    if (!from || !to) continue;
    const arrow =
      edge.kind === 'contains'
        ? '-. in .->'
        : edge.kind === 'lane'
          ? '==>'
          : receipts.has(edge.from) && edge.kind === 'input'
            ? '-.->'
            : '-->';
    out.push(`  ${from} ${arrow} ${to}`);
  }
  for (const [name, c] of Object.entries(DAG_COLORS))
    out.push(`  classDef ${name} fill:${c.fill},stroke:${c.line},color:#0f172a`);
  return `${out.join('\n')}\n`;
}
