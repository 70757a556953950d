/**
 * One self-contained HTML file: the SVG inline, every drawn node's details as
 * JSON in a <script type="application/json">, and the viewer's CSS
 * (dag-viewer-style.ts) and script (browser/dag-viewer.ts, bundled at build
 * time). A Content-Security-Policy of `default-src 'none'` forbids the page any
 * network access, so it behaves the same offline; it runs the one script and
 * applies the one style sheet whose sha256 it names, never an inline script,
 * style sheet or style attribute injected into the page.
 */
import { createHash } from 'node:crypto';
import type { Digest } from '../core/digest.js';
import { nodeLabel } from './dag-labels.js';
import { artifactNodeId, type DagView } from './dag-view.js';
import { total } from './lanes.js';
import { VIEWER_CSS } from './dag-viewer-style.js';
import { VIEWER_SCRIPT } from './dag-viewer-script.js';
import type { LaneUse, ReceiptUse, Use } from './browser/viewer-data.js';
import type { Lineage } from './lineage.js';
import { nodeJson } from './render-json.js';
import { svgElement } from './render-svg.js';

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** JSON that cannot end the <script> element it sits in. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/** What the details panel shows: the node's JSON, all its uses (drawn or not), and its search text. */
function viewerData(lineage: Lineage, view: DagView): Record<string, Record<string, unknown>> {
  const wanted = new Set(view.nodes.map((n) => n.id));
  const inputs = new Map<string, Use[]>();
  const outputs = new Map<string, Use[]>();
  const producers = new Map<string, ReceiptUse[]>();
  const consumers = new Map<string, ReceiptUse[]>();
  const add = <T>(map: Map<string, T[]>, key: string, value: T) => {
    const list = map.get(key);
    if (list) list.push(value);
    else map.set(key, [value]);
  };
  for (const e of lineage.edges) {
    const receiptId = e.kind === 'input' ? e.to : e.from;
    const artifactId = e.kind === 'input' ? e.from : e.to;
    const receipt = lineage.receiptById.get(receiptId)!;
    const nodeId = lineage.receiptById.has(artifactId)
      ? artifactId
      : artifactNodeId(lineage, artifactId, e.kind, receiptId);
    if (wanted.has(receiptId)) {
      const a = lineage.artifacts.get(artifactId);
      const use: Use = {
        digest: artifactId,
        node: nodeId,
        name: e.name,
        role: e.role,
        kind: a?.kind ?? 'receipt',
        ...(a?.size !== undefined ? { size: a.size } : {}),
      };
      add(e.kind === 'input' ? inputs : outputs, receiptId, use);
    }
    if (wanted.has(nodeId))
      add(e.kind === 'input' ? consumers : producers, nodeId, {
        receipt: receiptId,
        step: receipt.step,
        role: e.role,
        name: e.name,
      });
  }
  // The lanes each drawn step is part of: as the earlier record, a step in between, or the next step.
  const lanes = new Map<string, LaneUse[]>();
  const stepOf = (id: Digest) => lineage.receiptById.get(id)?.step ?? id;
  for (const l of lineage.lanes) {
    const use: LaneUse = {
      path: l.path,
      from: stepOf(l.from.receipt),
      to: stepOf(l.to.receipt),
      through: l.through.map((t) => t.step),
      unrecorded: l.unrecorded ? total(l.unrecorded) : null,
      unchecked: l.unchecked !== undefined,
    };
    for (const id of new Set([l.from.receipt, ...l.through.map((t) => t.receipt), l.to.receipt]))
      if (wanted.has(id)) add(lanes, id, use);
  }
  const out: Record<string, Record<string, unknown>> = {};
  for (const node of view.nodes) {
    const json = nodeJson(node);
    const label = nodeLabel(node);
    const words = [label.title, ...label.lines, label.tooltip, node.id];
    if (node.type === 'receipt') {
      json.inputs = inputs.get(node.id) ?? [];
      json.outputs = outputs.get(node.id) ?? [];
      // A receipt is also an artifact: the steps that took it as an input.
      json.producers = [];
      json.consumers = consumers.get(node.id) ?? [];
      json.lanes = lanes.get(node.id) ?? [];
      words.push(node.receipt.command ?? '', node.receipt.source?.path ?? '', node.receipt.status);
    } else if (node.type === 'artifact') {
      json.producers = producers.get(node.id) ?? [];
      json.consumers = consumers.get(node.id) ?? [];
      const a = node.artifact;
      words.push(...a.paths, ...a.names, a.kind, a.package ? `${a.package.name} ${a.package.version}` : '');
    } else if (node.type === 'unrecorded') {
      words.push(node.path, node.from.step, node.to.step, 'unrecorded');
    } else {
      json.packages = node.members.map((id) => {
        const a = lineage.artifacts.get(id as Digest);
        const p = a?.package;
        return {
          id,
          name: p ? `${p.name} ${p.version}${p.architecture ? ` ${p.architecture}` : ''}` : (a?.name ?? id),
          size: a?.size ?? 0,
        };
      });
      words.push(...(json.packages as Array<{ name: string }>).map((p) => p.name));
    }
    json.search = words.join('\n').toLowerCase();
    out[node.id] = json;
  }
  return out;
}

/** The CSP source that allows exactly `script` inline: `'sha256-<base64>'` of its UTF-8 bytes. */
/** A CSP source that allows exactly this inline script or style sheet, by its sha256. */
export function hashSource(text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
}

export function renderHtml(
  lineage: Lineage,
  view: DagView,
  svg: string,
  opts: { title: string; storeRoot: string },
): string {
  const data = {
    title: opts.title,
    store: opts.storeRoot,
    totals: view.totals,
    options: view.options,
    nodes: viewerData(lineage, view),
  };
  const steps = view.nodes.filter((n) => n.type === 'receipt').length;
  const summary = `${steps} step${steps === 1 ? '' : 's'}, ${view.nodes.length} nodes (of ${view.totals.receipts} receipts and ${view.totals.artifacts} artifacts)`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src ${hashSource(VIEWER_CSS)}; script-src ${hashSource(VIEWER_SCRIPT)}; img-src data:">
<meta name="generator" content="asl dag">
<title>${escapeHtml(opts.title)}</title>
<style>${VIEWER_CSS}</style>
</head>
<body>
<header>
<h1 title="${escapeHtml(opts.storeRoot)}">${escapeHtml(opts.title)}</h1>
<input id="search" type="search" placeholder="Search steps, files, commands, digests  ( / )" autocomplete="off" spellcheck="false">
<label><input id="filter" type="checkbox"> only matches</label>
<span id="count"></span>
<button id="zoom-in" title="Zoom in (+)">+</button><button id="zoom-out" title="Zoom out (−)">−</button><button id="fit" title="Fit (0)">Fit</button>
<span class="legend"><span class="ok">succeeded</span><span class="failed">failed</span><span class="tree">tree</span><span class="file">file / log</span><span class="pkg">package</span><span class="unrec">unrecorded change</span><span class="lane">lane</span></span>
</header>
<main>
<div id="canvas">
${svgElement(svg)}
</div>
<aside id="details"><p class="muted">${escapeHtml(summary)}.</p><p class="muted">Click a node for its details. Drag to pan, scroll to zoom, <b>/</b> to search, <b>0</b> to fit.</p></aside>
</main>
<script type="application/json" id="asl-dag-data">${scriptJson(data)}</script>
<script>${VIEWER_SCRIPT}</script>
</body>
</html>
`;
}
