/**
 * The HTML viewer's inline style (render-html.ts puts it into the page). The
 * viewer's script is code of its own: src/graph/browser/dag-viewer.ts.
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
