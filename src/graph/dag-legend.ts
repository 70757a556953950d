/**
 * The legend under the SVG: what each colour, shape and line of the picture
 * means, for the kinds the picture holds (steps always). Added to Graphviz's
 * SVG after layout, in a band below the graph, so the layout is not disturbed
 * and the legend sits in the same place on every graph. The HTML viewer has
 * its own legend in its header (render-html.ts).
 */
import { DAG_COLORS, EDGE_COLORS } from './render-dot.js';
import type { DagView } from './dag-view.js';

export interface LegendItem {
  label: string;
  /** A filled box (nodes) or a line (edges). */
  mark: 'box' | 'line';
  fill?: string;
  stroke: string;
  dashed?: boolean;
  /** Rounded box (steps), or a hexagon (unrecorded change). */
  shape?: 'rounded' | 'hexagon';
}

/** The legend entries for what `view` draws. */
export function legendItems(view: DagView): LegendItem[] {
  const kinds = new Set<string>();
  const edges = new Set<string>();
  const receipts = new Set<string>(view.nodes.filter((n) => n.type === 'receipt').map((n) => n.id));
  const markers = new Set<string>(view.nodes.filter((n) => n.type === 'unrecorded').map((n) => n.id));
  let empty = false;
  for (const n of view.nodes) {
    if (n.type === 'artifact') {
      kinds.add(n.artifact.kind);
      empty ||= n.artifact.empty === true;
    } else if (n.type === 'group') kinds.add('package');
    else if (n.type === 'unrecorded') kinds.add(n.unchecked ? 'unchecked' : 'unrecorded');
    else if (!n.receipt.ok) kinds.add('failed');
  }
  for (const e of view.edges) {
    if (e.kind === 'lane') edges.add(markers.has(e.from) || markers.has(e.to) ? 'lane-unrecorded' : 'lane');
    else if (e.kind === 'input' && receipts.has(e.from)) edges.add('receipt');
    else edges.add(e.kind);
  }
  const items: LegendItem[] = [
    { label: 'step', mark: 'box', fill: DAG_COLORS.ok.fill, stroke: DAG_COLORS.ok.line, shape: 'rounded' },
  ];
  if (kinds.has('failed'))
    items.push({
      label: 'failed step',
      mark: 'box',
      fill: DAG_COLORS.failed.fill,
      stroke: DAG_COLORS.failed.line,
      shape: 'rounded',
    });
  const box = (kind: keyof typeof DAG_COLORS, label: string): void => {
    if (kinds.has(kind)) items.push({ label, mark: 'box', fill: DAG_COLORS[kind].fill, stroke: DAG_COLORS[kind].line });
  };
  box('tree', 'tree (folder)');
  box('blob', 'file');
  box('log', 'log');
  box('package', 'package');
  box('receipt', 'receipt');
  box('paths', 'change list');
  if (empty)
    items.push({ label: 'empty content (one per use)', mark: 'box', fill: '#ffffff', stroke: '#475569', dashed: true });
  if (kinds.has('unrecorded'))
    items.push({
      label: 'unrecorded change',
      mark: 'box',
      fill: DAG_COLORS.unrecorded.fill,
      stroke: DAG_COLORS.unrecorded.line,
      dashed: true,
      shape: 'hexagon',
    });
  if (kinds.has('unchecked'))
    items.push({
      label: 'unchecked change (tree not in the store)',
      mark: 'box',
      fill: DAG_COLORS.unrecorded.fill,
      stroke: DAG_COLORS.unrecorded.line,
      dashed: true,
      shape: 'hexagon',
    });
  const line = (key: string, label: string, stroke: string, dashed = false): void => {
    if (edges.has(key)) items.push({ label, mark: 'line', stroke, dashed });
  };
  line('input', 'read by a step', EDGE_COLORS.input);
  line('output', 'written by a step', EDGE_COLORS.output);
  line('receipt', 'receipt read by a step', EDGE_COLORS.receipt, true);
  line('contains', 'inside a tree', EDGE_COLORS.contains, true);
  line('lane', 'same path, next recorded state', EDGE_COLORS.lane);
  line('lane-unrecorded', 'same path, changed with no receipt', EDGE_COLORS.unrecorded, true);
  return items;
}

const ROW = 18;
const FONT = 10;
/** Helvetica at 10 pt averages a little under 6 units a character; a generous estimate keeps labels apart. */
const CHAR = 5.8;

function attr(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** `svg` (Graphviz output) with a legend band added below the graph. */
export function addSvgLegend(svg: string, items: readonly LegendItem[]): string {
  const open = /<svg\b[^>]*>/.exec(svg);
  const vb = open && /viewBox="([-\d.]+) ([-\d.]+) ([\d.]+) ([\d.]+)"/.exec(open[0]);
  if (!open || !vb || items.length === 0) return svg;
  const [x0, y0, w, h] = vb.slice(1).map(Number) as [number, number, number, number];
  // Lay the entries out in rows as wide as the graph (at least 420 units).
  const width = Math.max(w, 420);
  const placed: Array<{ item: LegendItem; x: number; y: number }> = [];
  let x = 52;
  let y = 0;
  for (const item of items) {
    const size = 26 + item.label.length * CHAR + 14;
    if (x + size > width - 8 && x > 52) {
      x = 52;
      y += ROW;
    }
    placed.push({ item, x, y });
    x += size;
  }
  const band = y + ROW + 12;
  const top = y0 + h;
  const parts: string[] = [
    `<g id="legend" class="asl-legend" transform="translate(${x0} ${top})">`,
    `<rect x="0" y="0" width="${width}" height="${band}" fill="white" stroke="none"/>`,
    `<line x1="4" y1="2" x2="${width - 4}" y2="2" stroke="#e2e8f0"/>`,
    `<text x="8" y="${6 + ROW / 2 + 3}" font-family="Helvetica,sans-serif" font-size="${FONT}" font-weight="bold" fill="#334155">Legend</text>`,
  ];
  for (const { item, x: ix, y: iy } of placed) {
    const cy = 6 + iy + ROW / 2;
    const dash = item.dashed ? ' stroke-dasharray="4,2"' : '';
    parts.push(`<g class="asl-legend-item">`);
    if (item.mark === 'line') {
      parts.push(
        `<line x1="${ix}" y1="${cy}" x2="${ix + 20}" y2="${cy}" stroke="${attr(item.stroke)}" stroke-width="2"${dash}/>`,
      );
    } else if (item.shape === 'hexagon') {
      parts.push(
        `<polygon points="${ix},${cy} ${ix + 4},${cy - 6} ${ix + 16},${cy - 6} ${ix + 20},${cy} ${ix + 16},${cy + 6} ${ix + 4},${cy + 6}" fill="${attr(item.fill ?? 'none')}" stroke="${attr(item.stroke)}"${dash}/>`,
      );
    } else {
      parts.push(
        `<rect x="${ix}" y="${cy - 6}" width="20" height="12"${item.shape === 'rounded' ? ' rx="3"' : ''} fill="${attr(item.fill ?? 'none')}" stroke="${attr(item.stroke)}"${dash}/>`,
      );
    }
    parts.push(
      `<text x="${ix + 26}" y="${cy + 3.5}" font-family="Helvetica,sans-serif" font-size="${FONT}" fill="#0f172a">${attr(item.label)}</text>`,
      '</g>',
    );
  }
  parts.push('</g>');
  const newW = Math.max(w, width);
  const newH = h + band;
  const scale = (m: RegExpExecArray | null, n: number, old: number): string =>
    m ? `${((Number(m[1]) * n) / old).toFixed(0)}pt` : `${n.toFixed(0)}pt`;
  const wAttr = /\bwidth="([\d.]+)pt"/.exec(open[0]);
  const hAttr = /\bheight="([\d.]+)pt"/.exec(open[0]);
  const head = open[0]
    .replace(/viewBox="[^"]*"/, `viewBox="${x0.toFixed(2)} ${y0.toFixed(2)} ${newW.toFixed(2)} ${newH.toFixed(2)}"`)
    .replace(/\bwidth="[\d.]+pt"/, `width="${scale(wAttr, newW, w)}"`)
    .replace(/\bheight="[\d.]+pt"/, `height="${scale(hAttr, newH, h)}"`);
  const end = svg.lastIndexOf('</svg>');
  return `${svg.slice(0, open.index)}${head}${svg.slice(open.index + open[0].length, end)}${parts.join('\n')}\n${svg.slice(end)}`;
}
