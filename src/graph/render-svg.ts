/**
 * DOT to SVG in-process, with Graphviz compiled to WebAssembly
 * (@hpcc-js/wasm-graphviz: the .wasm is inside the package's JavaScript, so
 * nothing is fetched and no `dot` binary is needed). Loaded on first use only.
 */
import { AslError } from '../core/errors.js';

type GraphvizModule = typeof import('@hpcc-js/wasm-graphviz');
type Graphviz = Awaited<ReturnType<GraphvizModule['Graphviz']['load']>>;

let loading: Promise<Graphviz> | undefined;

function loadGraphviz(): Promise<Graphviz> {
  loading ??= import('@hpcc-js/wasm-graphviz').then((m) => m.Graphviz.load());
  return loading;
}

/** Lays out DOT with `dot` and returns the SVG document; a DOT syntax error is BAD_INPUT. */
export async function renderSvg(dot: string): Promise<string> {
  const graphviz = await loadGraphviz();
  try {
    return graphviz.layout(dot, 'svg', 'dot');
  } catch (err) {
    throw new AslError('BAD_INPUT', `graphviz: ${(err as Error).message}`, { cause: err });
  }
}

/** The <svg> element alone, without the XML declaration, DOCTYPE and comments before it (for inlining into HTML). */
export function svgElement(svg: string): string {
  const start = svg.indexOf('<svg');
  return start < 0 ? svg : svg.slice(start);
}
