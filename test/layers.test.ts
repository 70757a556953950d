// The layering the README describes, enforced: every import in src/ (static,
// export-from, type-only and dynamic import() of a string) points at its own layer
// or one before it, no two files import each other through any chain, and the
// native addon's #include graph has no cycle either. A failure names the file and
// the import (or the cycle's path), so the fix starts from the message.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';
import { REPO_ROOT } from './helpers.js';

/** The layers in order: each may import only itself and the ones before it. */
const LAYERS = ['core', 'store', 'receipt', 'capture', 'graph', 'transfer', 'api', 'cli'] as const;

const SRC = join(REPO_ROOT, 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [path] : [];
  });
}

/**
 * The layer of a file under src/: its first folder (src/receipt/export/ is receipt);
 * src/version.ts is core (a constant), src/index.ts the public API that wires every
 * library layer and sits below the CLI.
 */
function layerOf(rel: string): number {
  const parts = rel.split('/');
  if (parts.length === 1) return LAYERS.indexOf(rel === 'index.ts' ? 'api' : 'core');
  const i = LAYERS.indexOf(parts[0] as (typeof LAYERS)[number]);
  if (i < 0) throw new Error(`src/${rel}: its folder is no layer (${LAYERS.join(', ')})`);
  return i;
}

/** Every module specifier a TypeScript file names: import, export … from, import type, import(). */
export function importsOf(source: string): string[] {
  return ts.preProcessFile(source, true, true).importedFiles.map((f) => f.fileName);
}

/** Resolves a relative specifier to a .ts (or generated module's .d.ts) file under src/, or undefined for packages and files outside src/. */
function resolveLocal(from: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  const target = resolve(dirname(from), spec);
  const ts = target.replace(/\.js$/, '.ts');
  if (!ts.startsWith(`${SRC}/`)) return undefined;
  if (existsSync(ts)) return ts;
  // A module the build generates (the viewer's bundled script) is declared by a .d.ts beside it.
  const declared = target.replace(/\.js$/, '.d.ts');
  if (existsSync(declared)) return declared;
  if (existsSync(join(target, 'index.ts'))) return join(target, 'index.ts');
  throw new Error(`${relative(REPO_ROOT, from)}: import '${spec}' names no file under src/`);
}

/** One cycle per strongly connected component of more than one node (or a self-loop), as a path a → … → a. */
export function findCycles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || (graph.get(v) ?? []).includes(v)) cycles.push(cyclePath(graph, new Set(component), v));
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return cycles;
}

/** A shortest path from start back to start inside one component (breadth first). */
function cyclePath(graph: Map<string, string[]>, component: Set<string>, start: string): string[] {
  const parent = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift()!;
    for (const w of graph.get(v) ?? []) {
      if (!component.has(w)) continue;
      if (w === start) {
        const path = [start];
        for (let u: string | undefined = v; u !== undefined && u !== start; u = parent.get(u)) path.splice(1, 0, u);
        return [...path, start];
      }
      if (!parent.has(w)) {
        parent.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start, start];
}

function importGraph(): { graph: Map<string, string[]>; upward: string[]; sideways: string[] } {
  const graph = new Map<string, string[]>();
  const upward: string[] = [];
  const sideways: string[] = [];
  for (const file of sourceFiles(SRC)) {
    const rel = relative(SRC, file);
    const edges: string[] = [];
    for (const spec of importsOf(readFileSync(file, 'utf8'))) {
      const target = resolveLocal(file, spec);
      if (target === undefined) continue;
      const targetRel = relative(SRC, target);
      edges.push(targetRel);
      if (layerOf(targetRel) > layerOf(rel)) {
        upward.push(`src/${rel} (${LAYERS[layerOf(rel)]}) imports '${spec}' (${LAYERS[layerOf(targetRel)]})`);
      }
      if (rel.startsWith('cli/commands/') && targetRel.startsWith('cli/commands/'))
        sideways.push(`src/${rel} imports '${spec}'`);
    }
    graph.set(rel, edges);
  }
  return { graph, upward, sideways };
}

test('the parser sees every kind of import, and the cycle finder reports a path', () => {
  const source = [
    "import a from './a.js';",
    "import type { B } from './b.js';",
    "export { c } from './c.js';",
    "export * from './d.js';",
    "import './e.js';",
    "const f = await import('./f.js');",
    'const g = await import(`./g.js`);',
  ].join('\n');
  assert.deepEqual(importsOf(source).sort(), ['./a.js', './b.js', './c.js', './d.js', './e.js', './f.js', './g.js']);
  const graph = new Map([
    ['a', ['b']],
    ['b', ['c']],
    ['c', ['a', 'd']],
    ['d', []],
    ['e', ['e']],
  ]);
  assert.deepEqual(findCycles(graph), [
    ['a', 'b', 'c', 'a'],
    ['e', 'e'],
  ]);
});

test('no file in src/ imports a later layer', () => {
  const { graph, upward } = importGraph();
  assert.ok(graph.size > 100, `only ${graph.size} files found under src/`);
  // Each layer has files, so a folder renamed away would not pass silently.
  for (const layer of LAYERS)
    assert.ok(
      [...graph.keys()].some((f) => LAYERS[layerOf(f)] === layer),
      `no file in layer ${layer}`,
    );
  assert.deepEqual(upward, [], `upward imports:\n${upward.join('\n')}`);
});

test('CLI commands share flags and text through src/cli/, never by importing one another', () => {
  const { sideways } = importGraph();
  assert.deepEqual(sideways, [], `command files importing command files:\n${sideways.join('\n')}`);
});

test('no import cycle between files in src/', () => {
  const cycles = findCycles(importGraph().graph).map((c) => c.map((f) => `src/${f}`).join(' → '));
  assert.deepEqual(cycles, [], `import cycles:\n${cycles.join('\n')}`);
});

test("no #include cycle between the native addon's files, and each header is defined by its own .c file", () => {
  const dir = join(REPO_ROOT, 'native');
  const files = readdirSync(dir).filter((f) => /\.[ch]$/.test(f));
  assert.ok(files.length >= 3);
  const text = new Map(files.map((f) => [f, readFileSync(join(dir, f), 'utf8')]));
  const includes = new Map<string, string[]>();
  for (const [f, t] of text) {
    const local = [...t.matchAll(/^\s*#\s*include\s+"([^"]+)"/gm)].map((m) => m[1]!);
    for (const inc of local) assert.ok(files.includes(inc), `native/${f} includes "${inc}", which is not in native/`);
    for (const inc of local) assert.ok(inc.endsWith('.h'), `native/${f} includes the source file "${inc}"`);
    includes.set(f, local);
  }
  const cycles = findCycles(includes).map((c) => c.map((f) => `native/${f}`).join(' → '));
  assert.deepEqual(cycles, [], `#include cycles:\n${cycles.join('\n')}`);

  // A function X.h declares is defined in X.c: then "A.c includes B.h" means A.c
  // depends on B.c alone, and that graph of .c files has no cycle either.
  const definedIn = new Map<string, string>();
  for (const [f, t] of text) {
    if (!f.endsWith('.c')) continue;
    for (const m of t.matchAll(/^(?!static\b)[A-Za-z_][\w \t*]*?\b(\w+)\s*\([^;{)]*\)\s*\{/gm)) definedIn.set(m[1]!, f);
  }
  const units = new Map<string, string[]>();
  for (const [f, t] of text) {
    if (f.endsWith('.h')) {
      for (const m of t.matchAll(/^[A-Za-z_][\w \t*]*?\b(\w+)\s*\([^;{]*\)\s*;/gm)) {
        const def = definedIn.get(m[1]!);
        if (def !== undefined)
          assert.equal(def, f.replace(/\.h$/, '.c'), `native/${f} declares ${m[1]}(), defined in native/${def}`);
      }
    } else {
      units.set(
        f,
        (includes.get(f) ?? []).map((h) => h.replace(/\.h$/, '.c')).filter((c) => c !== f && text.has(c)),
      );
    }
  }
  assert.ok(
    definedIn.has('asl_sha256') && definedIn.has('pack_append'),
    'the definition scan found the shared functions',
  );
  const unitCycles = findCycles(units).map((c) => c.map((f) => `native/${f}`).join(' → '));
  assert.deepEqual(unitCycles, [], `.c files that depend on each other:\n${unitCycles.join('\n')}`);
});
