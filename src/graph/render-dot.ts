/**
 * The view as Graphviz DOT: left to right, steps as rounded boxes coloured by
 * outcome, artifacts shaped by kind. Node names are the view's ids (digests), so
 * the SVG Graphviz makes from it carries them in each node's <title>, which the
 * HTML viewer uses to find a node's details.
 */
import { nodeLabel } from './dag-labels.js';
import type { DagEdge, DagNode, DagView } from './dag-view.js';

export const DAG_COLORS = {
  ok: { fill: '#dcfce7', line: '#15803d' },
  failed: { fill: '#fee2e2', line: '#b91c1c' },
  tree: { fill: '#fef9c3', line: '#a16207' },
  blob: { fill: '#f1f5f9', line: '#475569' },
  log: { fill: '#ffffff', line: '#94a3b8' },
  package: { fill: '#ede9fe', line: '#6d28d9' },
  receipt: { fill: '#e0f2fe', line: '#0369a1' },
  paths: { fill: '#ffffff', line: '#94a3b8' },
  unrecorded: { fill: '#ffedd5', line: '#c2410c' },
} as const;

/** Edge colours, shared with the legend. */
export const EDGE_COLORS = {
  input: '#64748b',
  output: '#0f172a',
  receipt: '#0369a1',
  contains: '#a16207',
  lane: '#0f766e',
  unrecorded: '#c2410c',
} as const;

const SHAPES: Record<string, string> = {
  tree: 'folder',
  blob: 'note',
  log: 'note',
  package: 'component',
  receipt: 'note',
  paths: 'note',
};

/** A DOT double-quoted string. */
export function dotString(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

/** Text for an HTML-like label. */
function htmlText(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function htmlLabel(title: string, lines: string[], titleColor = '#0f172a'): string {
  const rows = [
    `<B>${htmlText(title)}</B>`,
    ...lines.map((l) => `<FONT POINT-SIZE="9" COLOR="#334155">${htmlText(l)}</FONT>`),
  ];
  return `<<FONT COLOR="${titleColor}">${rows[0]}</FONT>${rows
    .slice(1)
    .map((r) => `<BR/>${r}`)
    .join('')}>`;
}

function nodeAttributes(node: DagNode): Record<string, string> {
  const label = nodeLabel(node);
  const common = { tooltip: dotString(label.tooltip), class: dotString(`asl-${node.type}`) };
  switch (node.type) {
    case 'receipt': {
      const c = node.receipt.ok ? DAG_COLORS.ok : DAG_COLORS.failed;
      return {
        ...common,
        shape: 'box',
        style: '"rounded,filled"',
        fillcolor: dotString(c.fill),
        color: dotString(c.line),
        penwidth: '1.6',
        label: htmlLabel(label.title, label.lines, node.receipt.ok ? '#14532d' : '#7f1d1d'),
        class: dotString(`asl-receipt ${node.receipt.ok ? 'asl-ok' : 'asl-failed'}`),
      };
    }
    case 'artifact': {
      const kind = node.artifact.kind;
      const c = DAG_COLORS[kind] ?? DAG_COLORS.blob;
      return {
        ...common,
        // Empty content is drawn once per use, dashed: it joins nothing.
        shape: SHAPES[kind] ?? 'note',
        style: node.artifact.empty ? '"filled,dashed"' : 'filled',
        fillcolor: dotString(c.fill),
        color: dotString(c.line),
        label: htmlLabel(label.title, label.lines),
        class: dotString(`asl-artifact asl-${kind}${node.artifact.empty ? ' asl-empty' : ''}`),
        ...(kind === 'log' || kind === 'paths' ? { fontcolor: dotString('#475569') } : {}),
      };
    }
    case 'unrecorded':
      return {
        ...common,
        shape: 'hexagon',
        style: '"filled,dashed"',
        fillcolor: dotString(DAG_COLORS.unrecorded.fill),
        color: dotString(DAG_COLORS.unrecorded.line),
        penwidth: '1.6',
        label: htmlLabel(label.title, label.lines, '#7c2d12'),
        class: dotString('asl-unrecorded'),
      };
    case 'group':
      return {
        ...common,
        shape: 'box3d',
        style: 'filled',
        fillcolor: dotString(DAG_COLORS.package.fill),
        color: dotString(DAG_COLORS.package.line),
        label: htmlLabel(label.title, label.lines),
        class: dotString('asl-group asl-package'),
      };
  }
}

function edgeAttributes(edge: DagEdge, fromReceipt: boolean, unrecorded: boolean): Record<string, string> {
  const tip = [edge.kind, ...edge.roles, ...edge.names.slice(0, 3)].join(' ');
  const attrs: Record<string, string> = { tooltip: dotString(tip), class: dotString(`asl-${edge.kind}`) };
  if (edge.kind === 'contains')
    Object.assign(attrs, {
      style: 'dotted',
      arrowhead: 'odot',
      color: dotString(EDGE_COLORS.contains),
      label: dotString('in'),
      fontsize: '8',
    });
  else if (edge.kind === 'lane' && unrecorded)
    Object.assign(attrs, { style: 'dashed', color: dotString(EDGE_COLORS.unrecorded), penwidth: '1.8' });
  else if (edge.kind === 'lane')
    Object.assign(attrs, { style: 'bold', color: dotString(EDGE_COLORS.lane), penwidth: '1.8' });
  else if (edge.kind === 'input' && fromReceipt)
    Object.assign(attrs, { style: 'dashed', color: dotString(EDGE_COLORS.receipt) });
  else if (edge.kind === 'input') Object.assign(attrs, { color: dotString(EDGE_COLORS.input) });
  else Object.assign(attrs, { color: dotString(EDGE_COLORS.output) });
  return attrs;
}

function attrList(attrs: Record<string, string>): string {
  return `[${Object.entries(attrs)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ')}]`;
}

export function renderDot(view: DagView, opts: { title?: string } = {}): string {
  const out: string[] = [];
  out.push('digraph asl_lineage {');
  out.push(
    `  graph [rankdir=LR, fontname="Helvetica", fontsize=11, nodesep=0.22, ranksep=0.45, bgcolor="white", tooltip=${dotString(opts.title ?? 'ASL lineage')}${opts.title ? `, label=${dotString(opts.title)}, labelloc=t, labeljust=l` : ''}];`,
  );
  out.push('  node [fontname="Helvetica", fontsize=10, margin="0.12,0.06"];');
  out.push('  edge [fontname="Helvetica", arrowsize=0.7, penwidth=1.1];');
  if (view.nodes.length > 2000) {
    // Big graphs: fewer crossing-minimisation passes and network-simplex iterations keep layout in seconds.
    out.push('  graph [mclimit=0.3, nslimit=2, nslimit1=2, remincross=false, searchsize=10];');
  }
  for (const node of view.nodes) out.push(`  ${dotString(node.id)} ${attrList(nodeAttributes(node))};`);
  const receipts = new Set<string>(view.nodes.filter((n) => n.type === 'receipt').map((n) => n.id));
  const markers = new Set<string>(view.nodes.filter((n) => n.type === 'unrecorded').map((n) => n.id));
  for (const edge of view.edges) {
    out.push(
      `  ${dotString(edge.from)} -> ${dotString(edge.to)} ${attrList(edgeAttributes(edge, receipts.has(edge.from), markers.has(edge.from) || markers.has(edge.to)))};`,
    );
  }
  out.push('}');
  return `${out.join('\n')}\n`;
}
