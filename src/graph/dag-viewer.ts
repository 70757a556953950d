/**
 * The HTML viewer's inline style and script (render-html.ts puts them into the
 * page). Plain browser JavaScript with no dependencies and no network access:
 * pan (drag) and zoom (wheel, +/−, Fit) by moving the SVG's viewBox, a search box
 * that highlights or filters nodes, and a details panel for the clicked node.
 * Data from receipts is only ever put into the page with textContent, never as
 * markup: a command line may hold anything.
 *
 * Written without template literals, so it can live in one here.
 */

export const VIEWER_CSS = `
*{box-sizing:border-box}
html,body{margin:0;height:100%;font:13px/1.4 system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#0f172a;background:#f8fafc}
body{display:flex;flex-direction:column}
header{display:flex;gap:10px;align-items:center;padding:8px 12px;background:#0f172a;color:#f8fafc;flex-wrap:wrap}
header h1{font-size:14px;margin:0 8px 0 0;font-weight:600;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;max-width:40vw}
header input[type=search]{width:280px;padding:5px 8px;border-radius:4px;border:1px solid #475569;background:#1e293b;color:#f8fafc}
header button{padding:4px 10px;border-radius:4px;border:1px solid #475569;background:#1e293b;color:#f8fafc;cursor:pointer}
header label{white-space:nowrap}
#count{color:#cbd5e1;min-width:90px}
.legend{margin-left:auto;display:flex;gap:10px;color:#cbd5e1}
.legend span::before{content:"";display:inline-block;width:10px;height:10px;margin-right:4px;border:1px solid;vertical-align:-1px}
.legend .ok::before{background:#dcfce7;border-color:#15803d}.legend .failed::before{background:#fee2e2;border-color:#b91c1c}
.legend .tree::before{background:#fef9c3;border-color:#a16207}.legend .file::before{background:#f1f5f9;border-color:#475569}
.legend .pkg::before{background:#ede9fe;border-color:#6d28d9}
.legend .unrec::before{background:#ffedd5;border-color:#c2410c;border-style:dashed}
.legend .lane::before{height:0;width:16px;border:0;border-top:3px solid #0f766e;vertical-align:3px}
main{flex:1;display:flex;min-height:0}
#canvas{flex:1;overflow:hidden;cursor:grab;background:#fff;touch-action:none}
#canvas.dragging{cursor:grabbing}
#canvas svg{width:100%;height:100%;display:block;user-select:none}
#details{width:440px;max-width:45vw;overflow:auto;padding:12px 14px;border-left:1px solid #cbd5e1;background:#f8fafc}
#details h2{font-size:15px;margin:0 0 6px}
#details h3{font-size:13px;margin:14px 0 4px;color:#334155}
#details table{border-collapse:collapse;width:100%;font-size:12px}
#details td,#details th{text-align:left;vertical-align:top;padding:2px 6px 2px 0;border-bottom:1px solid #e2e8f0;word-break:break-all}
#details th{color:#475569;font-weight:500;white-space:nowrap;word-break:normal}
#details table.uses td:nth-child(1),#details table.uses td:nth-child(2),#details table.uses td:nth-child(5){white-space:nowrap;word-break:normal}
#details table.uses td:nth-child(4){font-family:ui-monospace,monospace;white-space:nowrap;word-break:normal}
#details pre{white-space:pre-wrap;word-break:break-all;background:#fff;border:1px solid #e2e8f0;padding:6px;margin:4px 0;font-size:12px}
#details .badge{display:inline-block;padding:1px 6px;border-radius:8px;font-size:11px;margin-left:6px;vertical-align:2px}
.badge.ok{background:#dcfce7;color:#14532d}.badge.failed{background:#fee2e2;color:#7f1d1d}
#details a{color:#0369a1;cursor:pointer;text-decoration:underline}
#details .muted{color:#64748b}
g.node{cursor:pointer}
g.node.dim,g.edge.dim{opacity:.18}
g.node.hide,g.edge.hide{display:none}
g.node.match>path,g.node.match>polygon,g.node.match>ellipse,g.node.match a>path,g.node.match a>polygon{stroke:#f59e0b;stroke-width:3px}
g.node.selected>path,g.node.selected>polygon,g.node.selected a>path,g.node.selected a>polygon{stroke:#2563eb;stroke-width:3.5px}
g.edge.hl>path{stroke:#2563eb;stroke-width:2.2px}
g.edge.hl>polygon{stroke:#2563eb;fill:#2563eb}
`;

export const VIEWER_SCRIPT = String.raw`
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('asl-dag-data').textContent);
  var canvas = document.getElementById('canvas');
  var svg = canvas.querySelector('svg');
  var details = document.getElementById('details');
  var search = document.getElementById('search');
  var filterBox = document.getElementById('filter');
  var countEl = document.getElementById('count');

  // ---- pan and zoom: the viewBox is the camera
  var base = svg.viewBox.baseVal;
  var home = { x: base.x, y: base.y, w: base.width, h: base.height };
  var cam = { x: home.x, y: home.y, w: home.w, h: home.h };
  svg.removeAttribute('width');
  svg.removeAttribute('height');
  function apply() { svg.setAttribute('viewBox', cam.x + ' ' + cam.y + ' ' + cam.w + ' ' + cam.h); }
  function toSvg(clientX, clientY) {
    var m = svg.getScreenCTM();
    if (!m) return { x: cam.x + cam.w / 2, y: cam.y + cam.h / 2 };
    var p = svg.createSVGPoint();
    p.x = clientX; p.y = clientY;
    var q = p.matrixTransform(m.inverse());
    return { x: q.x, y: q.y };
  }
  function zoom(factor, cx, cy) {
    var w = cam.w * factor;
    if (w < home.w / 200 || w > home.w * 20) return;
    cam.x = cx - (cx - cam.x) * factor;
    cam.y = cy - (cy - cam.y) * factor;
    cam.w = w;
    cam.h = cam.h * factor;
    apply();
  }
  function zoomCenter(factor) { zoom(factor, cam.x + cam.w / 2, cam.y + cam.h / 2); }
  function fit() { cam = { x: home.x, y: home.y, w: home.w, h: home.h }; apply(); }
  canvas.addEventListener('wheel', function (e) {
    e.preventDefault();
    var p = toSvg(e.clientX, e.clientY);
    zoom(Math.pow(1.0015, e.deltaY), p.x, p.y);
  }, { passive: false });
  var drag = null;
  var dragged = false;
  canvas.addEventListener('pointerdown', function (e) {
    if (e.button !== 0) return;
    drag = { x: e.clientX, y: e.clientY, cam: { x: cam.x, y: cam.y } };
    dragged = false;
  });
  window.addEventListener('pointermove', function (e) {
    if (!drag) return;
    var dx = e.clientX - drag.x, dy = e.clientY - drag.y;
    if (!dragged && Math.abs(dx) + Math.abs(dy) < 4) return;
    if (!dragged) { dragged = true; canvas.classList.add('dragging'); }
    var m = svg.getScreenCTM();
    var scale = m ? m.a : 1;
    cam.x = drag.cam.x - dx / scale;
    cam.y = drag.cam.y - dy / scale;
    apply();
  });
  window.addEventListener('pointerup', function () { drag = null; canvas.classList.remove('dragging'); });
  document.getElementById('zoom-in').addEventListener('click', function () { zoomCenter(1 / 1.25); });
  document.getElementById('zoom-out').addEventListener('click', function () { zoomCenter(1.25); });
  document.getElementById('fit').addEventListener('click', fit);
  document.addEventListener('keydown', function (e) {
    if (e.target === search) return;
    if (e.key === '+' || e.key === '=') zoomCenter(1 / 1.25);
    else if (e.key === '-') zoomCenter(1.25);
    else if (e.key === '0') fit();
    else if (e.key === '/') { e.preventDefault(); search.focus(); }
  });

  // ---- nodes and edges of the SVG, by id (Graphviz puts the DOT name in <title>)
  var nodeEls = {};
  var edgeEls = [];
  Array.prototype.forEach.call(svg.querySelectorAll('g.node'), function (g) {
    var t = g.querySelector('title');
    if (t) { nodeEls[t.textContent] = g; g.setAttribute('data-id', t.textContent); }
  });
  Array.prototype.forEach.call(svg.querySelectorAll('g.edge'), function (g) {
    var t = g.querySelector('title');
    if (!t) return;
    var parts = t.textContent.split('->');
    edgeEls.push({ el: g, from: parts[0], to: parts[1] });
  });

  function centerOn(id) {
    var g = nodeEls[id];
    if (!g) return;
    var b = g.getBBox();
    var m = g.getCTM(), r = svg.getCTM();
    // The node's box in viewBox units: Graphviz wraps everything in a translated <g>.
    var k = r ? r.inverse().multiply(m) : null;
    var cx = b.x + b.width / 2, cy = b.y + b.height / 2;
    if (k) { var x = k.a * cx + k.c * cy + k.e, y = k.b * cx + k.d * cy + k.f; cx = x; cy = y; }
    cam.x = cx - cam.w / 2;
    cam.y = cy - cam.h / 2;
    apply();
  }

  // ---- details panel
  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    if (attrs) for (var k in attrs) { if (k === 'text') e.textContent = attrs[k]; else e.setAttribute(k, attrs[k]); }
    (children || []).forEach(function (c) { if (c) e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c); });
    return e;
  }
  function bytes(n) {
    if (n === undefined || n === null) return '';
    var u = ['B', 'KB', 'MB', 'GB', 'TB'], i = 0;
    while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
    return (i === 0 ? n : n.toFixed(1)) + ' ' + u[i];
  }
  function short(d) { return d && d.indexOf('sha256:') === 0 ? d.slice(7, 19) : d; }
  function link(id, text) {
    if (!nodeEls[id]) return el('span', { title: id, text: text });
    var a = el('a', { title: id, 'data-goto': id, text: text });
    a.addEventListener('click', function () { select(id, true); });
    return a;
  }
  function rows(pairs) {
    return el('table', null, pairs.filter(function (p) { return p[1] !== undefined && p[1] !== null && p[1] !== ''; }).map(function (p) {
      var v = p[1];
      return el('tr', null, [el('th', { text: p[0] }), el('td', null, [typeof v === 'object' ? v : String(v)])]);
    }));
  }
  function useTable(list) {
    return el('table', { 'class': 'uses' }, [el('tr', null, [el('th', { text: 'role' }), el('th', { text: 'kind' }), el('th', { text: 'name' }), el('th', { text: 'digest' }), el('th', { text: 'size' })])].concat(list.map(function (u) {
      return el('tr', null, [el('td', { text: u.role }), el('td', { text: u.kind }), el('td', { text: u.name }), el('td', null, [link(u.node || u.digest, short(u.digest))]), el('td', { text: bytes(u.size) })]);
    })));
  }
  function exitText(x) {
    if (!x) return '';
    return x.kind === 'signaled' ? 'killed by ' + x.signal + ' (' + x.code + ')' : 'exited ' + x.code;
  }
  function show(id) {
    var n = data.nodes[id];
    details.textContent = '';
    if (!n) { details.appendChild(el('p', { text: 'No details for ' + id })); return; }
    var out = [];
    if (n.type === 'receipt') {
      out.push(el('h2', null, [n.step, el('span', { 'class': 'badge ' + (n.ok ? 'ok' : 'failed'), text: n.status })]));
      if (n.command !== undefined) { out.push(el('h3', { text: 'Command' })); out.push(el('pre', { 'class': 'command', text: n.command })); }
      if (n.source) { out.push(el('h3', { text: 'Ingested' })); out.push(el('pre', { 'class': 'command', text: n.source.path + ' (' + n.source.type + ', mode 0' + n.source.mode.toString(8) + ')' })); }
      out.push(rows([
        ['kind', n.kind], ['exit status', exitText(n.exit)], ['cwd', n.cwd], ['started', n.startedOn], ['finished', n.finishedOn],
        ['duration', (n.durationMs / 1000).toFixed(2) + ' s'], ['host', n.hostname], ['signer key', n.signer], ['receipt', n.id],
        ['core digest', n.coreDigest], ['log seq', n.seq], ['traced', n.traced === undefined ? '' : String(n.traced)],
      ]));
      if (n.programs && n.programs.length) {
        out.push(el('h3', { text: 'Programs (' + n.programs.length + ')' }));
        out.push(el('table', null, n.programs.map(function (p) {
          return el('tr', null, [el('td', { text: (p.root ? p.root + ':' : '') + p.path }), el('td', { text: p.package ? p.package + ' ' + (p.version || '') : '' }), el('td', null, [link(p.digest, short(p.digest))])]);
        })));
      }
      if (n.watched && n.watched.length) {
        out.push(el('h3', { text: 'Watched' }));
        out.push(el('table', null, n.watched.map(function (w) {
          return el('tr', null, [el('td', { text: w.path }), el('td', { text: '+' + w.added + ' ~' + w.modified + ' -' + w.removed })]);
        })));
      }
      out.push(el('h3', { text: 'Inputs (' + n.inputs.length + ')' }));
      out.push(useTable(n.inputs));
      out.push(el('h3', { text: 'Outputs (' + n.outputs.length + ')' }));
      out.push(useTable(n.outputs));
      if (n.lanes && n.lanes.length) {
        out.push(el('h3', { text: 'Lanes (' + n.lanes.length + ')' }));
        out.push(el('table', null, n.lanes.map(function (l) {
          var via = l.through.length ? ' → ' + l.through.join(' → ') : '';
          var unrec = l.unchecked ? ' → unchecked change' : l.unrecorded === null ? '' : ' → unrecorded change (' + l.unrecorded + ' paths)';
          return el('tr', null, [el('td', { text: l.path }), el('td', { text: l.from + via + unrec + ' → ' + l.to })]);
        })));
      }
      if (n.environment) {
        var env = n.environment, names = Object.keys(env.variables);
        out.push(el('h3', { text: 'Environment (' + names.length + ': ' + env.verbatim + ' verbatim, ' + env.hashed + ' hashed, ' + env.secret + ' secret)' }));
        out.push(el('table', { 'class': 'env' }, names.map(function (k) { return el('tr', null, [el('th', { text: k }), el('td', { text: env.variables[k] })]); })));
      }
    } else if (n.type === 'artifact') {
      out.push(el('h2', { text: n.label.title }));
      var pkg = n.package ? n.package.name + ' ' + n.package.version + (n.package.architecture ? ' ' + n.package.architecture : '') : '';
      out.push(rows([
        ['digest', n.digest], ['kind', n.kind], ['size', bytes(n.size)], ['path', n.path], ['package', pkg],
        ['names', n.names.length > 1 ? n.names.join(', ') : ''], ['paths', n.paths.length > 1 ? n.paths.join('\n') : ''],
        ['empty', n.empty ? 'yes: drawn once per use, never joining two steps' : ''],
        ['files', n.tree ? n.tree.files : ''], ['directories', n.tree ? n.tree.dirs : ''], ['other entries', n.tree ? n.tree.other : ''],
        ['tree', n.tree === null ? 'not in this store' : ''],
      ]));
      [['Made by', n.producers], ['Used by', n.consumers]].forEach(function (pair) {
        out.push(el('h3', { text: pair[0] + ' (' + pair[1].length + ')' }));
        if (!pair[1].length) out.push(el('p', { 'class': 'muted', text: 'none in this store' }));
        else out.push(el('table', null, pair[1].map(function (u) {
          return el('tr', null, [el('td', null, [link(u.receipt, u.step)]), el('td', { text: u.role }), el('td', { text: u.name })]);
        })));
      });
    } else if (n.type === 'unrecorded') {
      out.push(el('h2', { text: n.label.title }));
      var c = n.counts || {};
      out.push(el('p', { text: n.counts
        ? n.paths + ' paths of ' + n.path + ' differ between the state ' + n.from.step + ' left and the state ' + n.to.step + ' started from, and no receipt in between recorded changing them.'
        : 'The state of ' + n.path + ' ' + n.from.step + ' left and the state ' + n.to.step + ' started from could not be compared: ' + n.unchecked }));
      out.push(rows([
        ['path', n.path], ['after', link(n.from.receipt, n.from.step)], ['before', link(n.to.receipt, n.to.step)],
        ['added', c.added], ['modified', c.modified], ['removed', c.removed], ['metadata only', c.metadata],
      ]));
    } else {
      out.push(el('h2', { text: n.label.title }));
      out.push(rows([['step', n.step], ['total size', bytes(n.size)]]));
      out.push(el('table', null, n.packages.map(function (p) {
        return el('tr', null, [el('td', { text: p.name }), el('td', { text: bytes(p.size) }), el('td', { title: p.id, text: short(p.id) })]);
      })));
    }
    out.forEach(function (e) { details.appendChild(e); });
  }

  var selected = null;
  function select(id, center) {
    if (selected && nodeEls[selected]) nodeEls[selected].classList.remove('selected');
    edgeEls.forEach(function (e) { e.el.classList.remove('hl'); });
    selected = id;
    if (nodeEls[id]) nodeEls[id].classList.add('selected');
    edgeEls.forEach(function (e) { if (e.from === id || e.to === id) e.el.classList.add('hl'); });
    show(id);
    if (center) centerOn(id);
  }
  Object.keys(nodeEls).forEach(function (id) {
    nodeEls[id].addEventListener('click', function (e) {
      if (dragged) return;
      e.stopPropagation();
      select(id, false);
    });
  });

  // ---- search: highlight (or, with "only matches", filter) nodes whose text holds every word
  var matches = [];
  var current = -1;
  function runSearch() {
    var words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    var filter = filterBox.checked;
    matches = [];
    current = -1;
    var hit = {};
    Object.keys(nodeEls).forEach(function (id) {
      var n = data.nodes[id];
      var text = n ? n.search : id.toLowerCase();
      var ok = words.length > 0 && words.every(function (w) { return text.indexOf(w) >= 0; });
      if (ok) { hit[id] = true; matches.push(id); }
      var g = nodeEls[id];
      g.classList.toggle('match', ok);
      g.classList.toggle('dim', words.length > 0 && !ok && !filter);
      g.classList.toggle('hide', words.length > 0 && !ok && filter);
    });
    edgeEls.forEach(function (e) {
      var both = hit[e.from] && hit[e.to];
      e.el.classList.toggle('dim', words.length > 0 && !both && !filter);
      e.el.classList.toggle('hide', words.length > 0 && !both && filter);
    });
    countEl.textContent = words.length ? matches.length + ' match' + (matches.length === 1 ? '' : 'es') : '';
  }
  search.addEventListener('input', runSearch);
  filterBox.addEventListener('change', runSearch);
  search.addEventListener('keydown', function (e) {
    if (e.key !== 'Enter' || !matches.length) return;
    current = (current + 1) % matches.length;
    select(matches[current], true);
  });
  apply();
  window.aslDag = { select: select, search: function (q) { search.value = q; runSearch(); return matches.slice(); }, data: data };
})();
`;
