/**
 * The HTML viewer's script (render-html.ts inlines it, bundled by esbuild): no
 * dependencies and no network access. Pan (drag) and zoom (wheel, +/−, Fit) by
 * moving the SVG's viewBox, a search box that highlights or filters nodes, and a
 * details panel for the clicked node. Data from receipts is only ever put into
 * the page with textContent, never as markup: a command line may hold anything.
 * The page's Content-Security-Policy allows this script by its sha256 alone.
 */

// ---- the page's data (render-html.ts: viewerData), as far as the viewer reads it

import type { LaneUse, ReceiptUse, Use } from './viewer-data.js';

interface Label {
  title: string;
  lines: string[];
}
type Exit = { kind: 'exited'; code: number } | { kind: 'signaled'; signal: string; code: number };

interface ReceiptNode {
  type: 'receipt';
  step: string;
  ok: boolean;
  status: string;
  kind: string;
  command?: string;
  source?: { path: string; type: string; mode: number };
  exit?: Exit;
  cwd?: string;
  startedOn: string;
  finishedOn: string;
  durationMs: number;
  hostname: string;
  signer: string;
  id: string;
  coreDigest: string;
  seq?: number;
  traced?: boolean;
  programs?: Array<{ path: string; root?: string; package?: string; version?: string; digest: string }>;
  watched?: Array<{ path: string; added: number; modified: number; removed: number }>;
  inputs: Use[];
  outputs: Use[];
  lanes?: LaneUse[];
  environment?: { variables: Record<string, string>; verbatim: number; hashed: number; secret: number };
  search: string;
}

interface ArtifactNode {
  type: 'artifact';
  label: Label;
  digest: string;
  kind: string;
  size?: number;
  path?: string;
  package?: { name: string; version: string; architecture?: string };
  names: string[];
  paths: string[];
  empty?: boolean;
  tree?: { files: number; dirs: number; other: number } | null;
  producers: ReceiptUse[];
  consumers: ReceiptUse[];
  search: string;
}

interface UnrecordedNode {
  type: 'unrecorded';
  label: Label;
  path: string;
  from: { receipt: string; step: string };
  to: { receipt: string; step: string };
  paths: number;
  counts?: { added: number; modified: number; removed: number; metadata: number };
  unchecked?: string;
  search: string;
}

interface GroupNode {
  type: 'group';
  label: Label;
  step: string;
  size: number;
  packages: Array<{ id: string; name: string; size: number }>;
  search: string;
}

type ViewerNode = ReceiptNode | ArtifactNode | UnrecordedNode | GroupNode;

interface ViewerData {
  nodes: Record<string, ViewerNode | undefined>;
}

interface EdgeEl {
  el: SVGGElement;
  from: string;
  to: string;
}

/** A value for a details row: text, or an element (a link). */
type Cell = string | number | Element | undefined | null;

function byId<T extends HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`the page has no #${id}`);
  return e as T;
}

function start(): void {
  const data = JSON.parse(byId('asl-dag-data').textContent ?? '{}') as ViewerData;
  const canvas = byId<HTMLDivElement>('canvas');
  const svg = canvas.querySelector('svg');
  if (!svg) throw new Error('the page has no drawing');
  const details = byId<HTMLElement>('details');
  const search = byId<HTMLInputElement>('search');
  const filterBox = byId<HTMLInputElement>('filter');
  const countEl = byId<HTMLElement>('count');

  // ---- pan and zoom: the viewBox is the camera
  const base = svg.viewBox.baseVal;
  const home = { x: base.x, y: base.y, w: base.width, h: base.height };
  let cam = { ...home };
  svg.removeAttribute('width');
  svg.removeAttribute('height');
  const apply = () => svg.setAttribute('viewBox', `${cam.x} ${cam.y} ${cam.w} ${cam.h}`);
  const toSvg = (clientX: number, clientY: number) => {
    const m = svg.getScreenCTM();
    if (!m) return { x: cam.x + cam.w / 2, y: cam.y + cam.h / 2 };
    const p = svg.createSVGPoint();
    p.x = clientX;
    p.y = clientY;
    const q = p.matrixTransform(m.inverse());
    return { x: q.x, y: q.y };
  };
  const zoom = (factor: number, cx: number, cy: number) => {
    const w = cam.w * factor;
    if (w < home.w / 200 || w > home.w * 20) return;
    cam.x = cx - (cx - cam.x) * factor;
    cam.y = cy - (cy - cam.y) * factor;
    cam.w = w;
    cam.h = cam.h * factor;
    apply();
  };
  const zoomCenter = (factor: number) => zoom(factor, cam.x + cam.w / 2, cam.y + cam.h / 2);
  const fit = () => {
    cam = { ...home };
    apply();
  };
  canvas.addEventListener(
    'wheel',
    (e) => {
      e.preventDefault();
      const p = toSvg(e.clientX, e.clientY);
      zoom(1.0015 ** e.deltaY, p.x, p.y);
    },
    { passive: false },
  );
  let drag: { x: number; y: number; cam: { x: number; y: number } } | null = null;
  let dragged = false;
  canvas.addEventListener('pointerdown', (e) => {
    if (e.button !== 0) return;
    drag = { x: e.clientX, y: e.clientY, cam: { x: cam.x, y: cam.y } };
    dragged = false;
  });
  window.addEventListener('pointermove', (e) => {
    if (!drag) return;
    const dx = e.clientX - drag.x;
    const dy = e.clientY - drag.y;
    if (!dragged && Math.abs(dx) + Math.abs(dy) < 4) return;
    if (!dragged) {
      dragged = true;
      canvas.classList.add('dragging');
    }
    const m = svg.getScreenCTM();
    const scale = m ? m.a : 1;
    cam.x = drag.cam.x - dx / scale;
    cam.y = drag.cam.y - dy / scale;
    apply();
  });
  window.addEventListener('pointerup', () => {
    drag = null;
    canvas.classList.remove('dragging');
  });
  byId('zoom-in').addEventListener('click', () => zoomCenter(1 / 1.25));
  byId('zoom-out').addEventListener('click', () => zoomCenter(1.25));
  byId('fit').addEventListener('click', fit);
  document.addEventListener('keydown', (e) => {
    if (e.target === search) return;
    if (e.key === '+' || e.key === '=') zoomCenter(1 / 1.25);
    else if (e.key === '-') zoomCenter(1.25);
    else if (e.key === '0') fit();
    else if (e.key === '/') {
      e.preventDefault();
      search.focus();
    }
  });

  // ---- nodes and edges of the SVG, by id (Graphviz puts the DOT name in <title>)
  const nodeEls: Record<string, SVGGElement> = {};
  const edgeEls: EdgeEl[] = [];
  svg.querySelectorAll<SVGGElement>('g.node').forEach((g) => {
    const t = g.querySelector('title');
    if (t && t.textContent !== null) {
      nodeEls[t.textContent] = g;
      g.setAttribute('data-id', t.textContent);
    }
  });
  svg.querySelectorAll<SVGGElement>('g.edge').forEach((g) => {
    const t = g.querySelector('title');
    if (!t || t.textContent === null) return;
    const [from = '', to = ''] = t.textContent.split('->');
    edgeEls.push({ el: g, from, to });
  });

  const centerOn = (id: string) => {
    const g = nodeEls[id];
    if (!g) return;
    const b = g.getBBox();
    const m = g.getCTM();
    const r = svg.getCTM();
    // The node's box in viewBox units: Graphviz wraps everything in a translated <g>.
    const k = r && m ? r.inverse().multiply(m) : null;
    let cx = b.x + b.width / 2;
    let cy = b.y + b.height / 2;
    if (k) {
      const x = k.a * cx + k.c * cy + k.e;
      const y = k.b * cx + k.d * cy + k.f;
      cx = x;
      cy = y;
    }
    cam.x = cx - cam.w / 2;
    cam.y = cy - cam.h / 2;
    apply();
  };

  // ---- details panel
  const el = (
    tag: string,
    attrs?: Record<string, string> | null,
    children?: Array<Element | string | null | undefined>,
  ): HTMLElement => {
    const e = document.createElement(tag);
    if (attrs)
      for (const k of Object.keys(attrs)) {
        if (k === 'text') e.textContent = attrs[k]!;
        else e.setAttribute(k, attrs[k]!);
      }
    for (const c of children ?? []) if (c) e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    return e;
  };
  const bytes = (n: number | undefined | null): string => {
    if (n === undefined || n === null) return '';
    const u = ['B', 'KB', 'MB', 'GB', 'TB'];
    let i = 0;
    while (n >= 1000 && i < u.length - 1) {
      n /= 1000;
      i++;
    }
    return `${i === 0 ? n : n.toFixed(1)} ${u[i]}`;
  };
  const short = (d: string) => (d && d.indexOf('sha256:') === 0 ? d.slice(7, 19) : d);
  const link = (id: string, text: string): HTMLElement => {
    if (!nodeEls[id]) return el('span', { title: id, text });
    const a = el('a', { title: id, 'data-goto': id, text });
    a.addEventListener('click', () => select(id, true));
    return a;
  };
  const rows = (pairs: Array<[string, Cell]>) =>
    el(
      'table',
      null,
      pairs
        .filter((p) => p[1] !== undefined && p[1] !== null && p[1] !== '')
        .map(([name, v]) =>
          el('tr', null, [el('th', { text: name }), el('td', null, [typeof v === 'object' ? v : String(v)])]),
        ),
    );
  const useTable = (list: Use[]) =>
    el('table', { class: 'uses' }, [
      el('tr', null, [
        el('th', { text: 'role' }),
        el('th', { text: 'kind' }),
        el('th', { text: 'name' }),
        el('th', { text: 'digest' }),
        el('th', { text: 'size' }),
      ]),
      ...list.map((u) =>
        el('tr', null, [
          el('td', { text: u.role }),
          el('td', { text: u.kind }),
          el('td', { text: u.name }),
          el('td', null, [link(u.node || u.digest, short(u.digest))]),
          el('td', { text: bytes(u.size) }),
        ]),
      ),
    ]);
  const exitText = (x: Exit | undefined) =>
    !x ? '' : x.kind === 'signaled' ? `killed by ${x.signal} (${x.code})` : `exited ${x.code}`;

  const receiptDetails = (n: ReceiptNode): HTMLElement[] => {
    const out: HTMLElement[] = [];
    out.push(el('h2', null, [n.step, el('span', { class: `badge ${n.ok ? 'ok' : 'failed'}`, text: n.status })]));
    if (n.command !== undefined) {
      out.push(el('h3', { text: 'Command' }));
      out.push(el('pre', { class: 'command', text: n.command }));
    }
    if (n.source) {
      out.push(el('h3', { text: 'Ingested' }));
      out.push(
        el('pre', {
          class: 'command',
          text: `${n.source.path} (${n.source.type}, mode 0${n.source.mode.toString(8)})`,
        }),
      );
    }
    out.push(
      rows([
        ['kind', n.kind],
        ['exit status', exitText(n.exit)],
        ['cwd', n.cwd],
        ['started', n.startedOn],
        ['finished', n.finishedOn],
        ['duration', `${(n.durationMs / 1000).toFixed(2)} s`],
        ['host', n.hostname],
        ['signer key', n.signer],
        ['receipt', n.id],
        ['core digest', n.coreDigest],
        ['log seq', n.seq],
        ['traced', n.traced === undefined ? '' : String(n.traced)],
      ]),
    );
    if (n.programs?.length) {
      out.push(el('h3', { text: `Programs (${n.programs.length})` }));
      out.push(
        el(
          'table',
          null,
          n.programs.map((p) =>
            el('tr', null, [
              el('td', { text: (p.root ? `${p.root}:` : '') + p.path }),
              el('td', { text: p.package ? `${p.package} ${p.version || ''}` : '' }),
              el('td', null, [link(p.digest, short(p.digest))]),
            ]),
          ),
        ),
      );
    }
    if (n.watched?.length) {
      out.push(el('h3', { text: 'Watched' }));
      out.push(
        el(
          'table',
          null,
          n.watched.map((w) =>
            el('tr', null, [
              el('td', { text: w.path }),
              el('td', { text: `+${w.added} ~${w.modified} -${w.removed}` }),
            ]),
          ),
        ),
      );
    }
    out.push(el('h3', { text: `Inputs (${n.inputs.length})` }));
    out.push(useTable(n.inputs));
    out.push(el('h3', { text: `Outputs (${n.outputs.length})` }));
    out.push(useTable(n.outputs));
    if (n.lanes?.length) {
      out.push(el('h3', { text: `Lanes (${n.lanes.length})` }));
      out.push(
        el(
          'table',
          null,
          n.lanes.map((l) => {
            const via = l.through.length ? ` → ${l.through.join(' → ')}` : '';
            const unrec = l.unchecked
              ? ' → unchecked change'
              : l.unrecorded === null
                ? ''
                : ` → unrecorded change (${l.unrecorded} paths)`;
            return el('tr', null, [
              el('td', { text: l.path }),
              el('td', { text: `${l.from}${via}${unrec} → ${l.to}` }),
            ]);
          }),
        ),
      );
    }
    if (n.environment) {
      const env = n.environment;
      const names = Object.keys(env.variables);
      out.push(
        el('h3', {
          text: `Environment (${names.length}: ${env.verbatim} verbatim, ${env.hashed} hashed, ${env.secret} secret)`,
        }),
      );
      out.push(
        el(
          'table',
          { class: 'env' },
          names.map((k) => el('tr', null, [el('th', { text: k }), el('td', { text: env.variables[k]! })])),
        ),
      );
    }
    return out;
  };

  const artifactDetails = (n: ArtifactNode): HTMLElement[] => {
    const out: HTMLElement[] = [el('h2', { text: n.label.title })];
    const pkg = n.package
      ? `${n.package.name} ${n.package.version}${n.package.architecture ? ` ${n.package.architecture}` : ''}`
      : '';
    out.push(
      rows([
        ['digest', n.digest],
        ['kind', n.kind],
        ['size', bytes(n.size)],
        ['path', n.path],
        ['package', pkg],
        ['names', n.names.length > 1 ? n.names.join(', ') : ''],
        ['paths', n.paths.length > 1 ? n.paths.join('\n') : ''],
        ['empty', n.empty ? 'yes: drawn once per use, never joining two steps' : ''],
        ['files', n.tree ? n.tree.files : ''],
        ['directories', n.tree ? n.tree.dirs : ''],
        ['other entries', n.tree ? n.tree.other : ''],
        ['tree', n.tree === null ? 'not in this store' : ''],
      ]),
    );
    for (const [title, uses] of [
      ['Made by', n.producers],
      ['Used by', n.consumers],
    ] as Array<[string, ReceiptUse[]]>) {
      out.push(el('h3', { text: `${title} (${uses.length})` }));
      if (!uses.length) out.push(el('p', { class: 'muted', text: 'none in this store' }));
      else
        out.push(
          el(
            'table',
            null,
            uses.map((u) =>
              el('tr', null, [
                el('td', null, [link(u.receipt, u.step)]),
                el('td', { text: u.role }),
                el('td', { text: u.name }),
              ]),
            ),
          ),
        );
    }
    return out;
  };

  const unrecordedDetails = (n: UnrecordedNode): HTMLElement[] => {
    const c = n.counts;
    return [
      el('h2', { text: n.label.title }),
      el('p', {
        text: c
          ? `${n.paths} paths of ${n.path} differ between the state ${n.from.step} left and the state ${n.to.step} started from, and no receipt in between recorded changing them.`
          : `The state of ${n.path} ${n.from.step} left and the state ${n.to.step} started from could not be compared: ${n.unchecked}`,
      }),
      rows([
        ['path', n.path],
        ['after', link(n.from.receipt, n.from.step)],
        ['before', link(n.to.receipt, n.to.step)],
        ['added', c?.added],
        ['modified', c?.modified],
        ['removed', c?.removed],
        ['metadata only', c?.metadata],
      ]),
    ];
  };

  const groupDetails = (n: GroupNode): HTMLElement[] => [
    el('h2', { text: n.label.title }),
    rows([
      ['step', n.step],
      ['total size', bytes(n.size)],
    ]),
    el(
      'table',
      null,
      n.packages.map((p) =>
        el('tr', null, [
          el('td', { text: p.name }),
          el('td', { text: bytes(p.size) }),
          el('td', { title: p.id, text: short(p.id) }),
        ]),
      ),
    ),
  ];

  const show = (id: string) => {
    const n = data.nodes[id];
    details.textContent = '';
    if (!n) {
      details.appendChild(el('p', { text: `No details for ${id}` }));
      return;
    }
    let out: HTMLElement[];
    switch (n.type) {
      case 'receipt':
        out = receiptDetails(n);
        break;
      case 'artifact':
        out = artifactDetails(n);
        break;
      case 'unrecorded':
        out = unrecordedDetails(n);
        break;
      case 'group':
        out = groupDetails(n);
        break;
    }
    for (const e of out) details.appendChild(e);
  };

  let selected: string | null = null;
  const select = (id: string, center: boolean) => {
    if (selected && nodeEls[selected]) nodeEls[selected]!.classList.remove('selected');
    for (const e of edgeEls) e.el.classList.remove('hl');
    selected = id;
    if (nodeEls[id]) nodeEls[id]!.classList.add('selected');
    for (const e of edgeEls) if (e.from === id || e.to === id) e.el.classList.add('hl');
    show(id);
    if (center) centerOn(id);
  };
  for (const id of Object.keys(nodeEls)) {
    nodeEls[id]!.addEventListener('click', (e) => {
      if (dragged) return;
      e.stopPropagation();
      select(id, false);
    });
  }

  // ---- search: highlight (or, with "only matches", filter) nodes whose text holds every word
  let matches: string[] = [];
  let current = -1;
  const runSearch = () => {
    const words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    const filter = filterBox.checked;
    matches = [];
    current = -1;
    const hit: Record<string, boolean> = {};
    for (const id of Object.keys(nodeEls)) {
      const n = data.nodes[id];
      const text = n ? n.search : id.toLowerCase();
      const ok = words.length > 0 && words.every((w) => text.indexOf(w) >= 0);
      if (ok) {
        hit[id] = true;
        matches.push(id);
      }
      const g = nodeEls[id]!;
      g.classList.toggle('match', ok);
      g.classList.toggle('dim', words.length > 0 && !ok && !filter);
      g.classList.toggle('hide', words.length > 0 && !ok && filter);
    }
    for (const e of edgeEls) {
      const both = hit[e.from] && hit[e.to];
      e.el.classList.toggle('dim', words.length > 0 && !both && !filter);
      e.el.classList.toggle('hide', words.length > 0 && !both && filter);
    }
    countEl.textContent = words.length ? `${matches.length} match${matches.length === 1 ? '' : 'es'}` : '';
  };
  search.addEventListener('input', runSearch);
  filterBox.addEventListener('change', runSearch);
  search.addEventListener('keydown', (e) => {
    if (e.key !== 'Enter' || !matches.length) return;
    current = (current + 1) % matches.length;
    select(matches[current]!, true);
  });
  apply();
  (window as unknown as { aslDag: unknown }).aslDag = {
    select,
    search: (q: string) => {
      search.value = q;
      runSearch();
      return matches.slice();
    },
    data,
  };
}

start();
