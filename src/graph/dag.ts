/**
 * `asl dag` as a library call: load the lineage (with its lanes), choose what
 * to draw, read the drawn trees' totals, render in the asked format.
 */
import { basename, extname } from 'node:path';
import { AslError } from '../core/errors.js';
import type { Store } from '../store/store.js';
import { addSvgLegend, legendItems } from './dag-legend.js';
import { attachTrees, buildDagView, treesOf, type DagView, type DagViewOptions } from './dag-view.js';
import { loadLineage, readTreeSummaries, type Lineage } from './lineage.js';
import { renderDot } from './render-dot.js';
import { renderHtml } from './render-html.js';
import { renderJson } from './render-json.js';
import { renderMermaid } from './render-mermaid.js';
import { renderSvg } from './render-svg.js';

export const DAG_FORMATS = ['svg', 'dot', 'mermaid', 'json', 'html'] as const;
export type DagFormat = (typeof DAG_FORMATS)[number];

const EXTENSIONS: Record<string, DagFormat> = {
  '.svg': 'svg',
  '.dot': 'dot',
  '.gv': 'dot',
  '.mmd': 'mermaid',
  '.mermaid': 'mermaid',
  '.json': 'json',
  '.html': 'html',
  '.htm': 'html',
};

/** The format a file name asks for (by extension), if any. */
export function formatOfPath(path: string): DagFormat | undefined {
  return EXTENSIONS[extname(path).toLowerCase()];
}

/**
 * Above this many nodes, Graphviz's layout takes more than seconds: svg and
 * html refuse and say how to narrow the graph (dot, mermaid and json still work).
 */
const MAX_LAYOUT_NODES = 20_000;

export interface DagOptions extends DagViewOptions {
  format: DagFormat;
  /** Shown at the top of svg and html; default "ASL lineage: <store folder>". */
  title?: string;
}

export interface DagResult {
  text: string;
  view: DagView;
  lineage: Lineage;
  timings: { loadMs: number; viewMs: number; renderMs: number };
}

export async function renderDag(store: Store, opts: DagOptions): Promise<DagResult> {
  const t0 = performance.now();
  const lineage = await loadLineage(store);
  const t1 = performance.now();
  const view = buildDagView(lineage, opts);
  const drawn = new Set(view.nodes.map((n) => n.id));
  attachTrees(view, await readTreeSummaries(store, treesOf(view), { children: drawn }));
  const t2 = performance.now();
  const title = opts.title ?? `ASL lineage: ${basename(store.root)}`;
  let text: string;
  switch (opts.format) {
    case 'json':
      text = renderJson(view, store.root);
      break;
    case 'dot':
      text = renderDot(view, { title });
      break;
    case 'mermaid':
      text = renderMermaid(view);
      break;
    case 'svg':
    case 'html': {
      if (view.nodes.length > MAX_LAYOUT_NODES) {
        throw new AslError(
          'USAGE',
          `dag: ${view.nodes.length} nodes is too many to lay out as ${opts.format} (limit ${MAX_LAYOUT_NODES}); narrow it with --focus ID --depth N, or write --format json or dot`,
        );
      }
      const svg = await renderSvg(renderDot(view, { title: opts.format === 'svg' ? title : undefined }));
      // The HTML viewer has its legend in its header; a standalone SVG carries its own.
      text =
        opts.format === 'svg'
          ? addSvgLegend(svg, legendItems(view))
          : renderHtml(lineage, view, svg, { title, storeRoot: store.root });
      break;
    }
  }
  return { text, view, lineage, timings: { loadMs: t1 - t0, viewMs: t2 - t1, renderMs: performance.now() - t2 } };
}
