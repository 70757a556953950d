import { resolve } from 'node:path';
import { AslError, fsError } from '../../core/errors.js';
import { writeFileAtomic } from '../../core/write-file-atomic.js';
import { DAG_FORMATS, formatOfPath, renderDag, type DagFormat } from '../../graph/dag.js';
import type { PackageMode } from '../../graph/dag-view.js';
import { STORE_MODES } from '../../store/store-modes.js';
import { boolOpt, requireStore, stringOpt, writeJson, STORE_FLAG, type Command } from '../command.js';

export const command: Command = {
  usage:
    'asl dag --store S --out FILE [--format svg|dot|mermaid|json|html] [--focus ID] [--depth N] [--no-logs] [--group-packages | --all-packages] [--details] [--title TEXT] [--json]   (alias: asl-dag)',
  summary:
    'Draw the lineage graph: steps (coloured by outcome) and the artifacts that link them. Format from --format or the extension of --out (.svg .dot .gv .mmd .json .html); --out - writes to stdout.',
  options: {
    store: { type: 'string' },
    out: { type: 'string' },
    format: { type: 'string' },
    focus: { type: 'string' },
    depth: { type: 'string' },
    'no-logs': { type: 'boolean' },
    'group-packages': { type: 'boolean' },
    'all-packages': { type: 'boolean' },
    details: { type: 'boolean' },
    title: { type: 'string' },
  },
  help: {
    flags: {
      store: STORE_FLAG,
      out: ['FILE', 'where to write the graph; - for stdout (then --format is needed)'],
      format: ['FMT', 'svg, dot, mermaid, json or html (default: from the extension of --out)'],
      focus: ['ID', 'only this receipt, artifact, step name or path, its ancestors and descendants'],
      depth: ['N', 'with --focus: at most N edges from the focus'],
      'no-logs': 'leave out stdout and stderr',
      'group-packages': 'one node per step for the .deb packages it downloaded',
      'all-packages': 'every .deb package as its own node',
      details: 'also draw programs, change lists and traced reads',
      title: ['TEXT', 'the heading of the SVG and HTML'],
    },
    examples: [
      'asl dag --store $PRESTORE --out $WORKDIR/build_logs/preimage_dag.svg',
      'asl dag --store $PRESTORE --out dag.html --focus build_iso --depth 2',
    ],
  },
  async run(args, io) {
    const out = stringOpt(args, 'out');
    if (!out) throw new AslError('USAGE', 'dag: --out FILE is required (--out - for stdout)');
    if (args.positionals.length > 0) throw new AslError('USAGE', `dag: unexpected argument "${args.positionals[0]}"`);
    const format = chooseFormat(stringOpt(args, 'format'), out);
    if (boolOpt(args, 'group-packages') && boolOpt(args, 'all-packages'))
      throw new AslError('USAGE', 'dag: give at most one of --group-packages and --all-packages');
    const packages: PackageMode = boolOpt(args, 'all-packages')
      ? 'all'
      : boolOpt(args, 'group-packages')
        ? 'grouped'
        : 'hidden';
    const depthText = stringOpt(args, 'depth');
    const depth = depthText === undefined ? undefined : Number(depthText);
    if (depthText !== undefined && (!/^\d+$/.test(depthText) || !Number.isSafeInteger(depth)))
      throw new AslError('USAGE', `dag: --depth ${depthText}: must be a whole number ≥ 0`);
    const store = await requireStore(args, 'dag');
    const focus = stringOpt(args, 'focus');
    const title = stringOpt(args, 'title');
    const result = await renderDag(store, {
      format,
      ...(focus !== undefined ? { focus } : {}),
      ...(depth !== undefined ? { depth } : {}),
      ...(title !== undefined ? { title } : {}),
      logs: !boolOpt(args, 'no-logs'),
      packages,
      details: boolOpt(args, 'details'),
    });
    if (out === '-') {
      io.stdout.write(result.text);
      return 0;
    }
    const path = resolve(out);
    try {
      await writeFileAtomic(path, result.text, { durable: 'file', mode: STORE_MODES.file });
    } catch (err) {
      throw fsError(path, err, 'cannot write the graph');
    }
    const counts = {
      receipts: result.view.nodes.filter((n) => n.type === 'receipt').length,
      nodes: result.view.nodes.length,
      edges: result.view.edges.length,
    };
    if (boolOpt(args, 'json'))
      writeJson(io, {
        out: path,
        format,
        ...counts,
        bytes: Buffer.byteLength(result.text),
        totals: result.view.totals,
      });
    else
      io.stdout.write(
        `wrote ${path} (${format}: ${counts.receipts} steps, ${counts.nodes} nodes, ${counts.edges} edges; the store has ${result.view.totals.receipts} receipts, ${result.view.totals.artifacts} artifacts)\n`,
      );
    return 0;
  },
};

function chooseFormat(flag: string | undefined, out: string): DagFormat {
  if (flag !== undefined) {
    if (!(DAG_FORMATS as readonly string[]).includes(flag))
      throw new AslError('USAGE', `dag: --format ${flag}: must be one of ${DAG_FORMATS.join(', ')}`);
    return flag as DagFormat;
  }
  if (out === '-') throw new AslError('USAGE', 'dag: --out - needs --format');
  const byName = formatOfPath(out);
  if (!byName)
    throw new AslError(
      'USAGE',
      `dag: cannot tell the format from "${out}" (use .svg .dot .gv .mmd .json .html, or --format)`,
    );
  return byName;
}
