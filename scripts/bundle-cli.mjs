#!/usr/bin/env node
// Bundles the tsc output of the CLI into dist/bundle/ (run after `tsc -p .`; `npm ci`,
// `npm run build`, `npm test` and `npm run bench` do):
//
//   dist/bundle/asl.js                  the CLI (dist/src/cli/bundle-entry.js and all it imports)
//   dist/bundle/dag-lineage-worker.js   the worker `asl dag` starts beside it
//   dist/bundle/inputs.json             size and mtime of every dist/ file bundled
//
// bin/asl loads the bundle only while every input still has the size and mtime
// recorded here, so a later `tsc` alone never leaves it running stale code: it
// falls back to dist/src until the bundle is built again. Without esbuild (a
// production install) this prints a note and does nothing.
import { readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(repo, 'dist', 'bundle');

let esbuild;
try {
  esbuild = await import('esbuild');
} catch {
  process.stderr.write('bundle-cli: esbuild is not installed; bin/asl will load dist/src (slower to start)\n');
  process.exit(0);
}

// No inputs.json while the bundle is rewritten: bin/asl then never pairs a list that
// still matches dist/ with a half-written asl.js.
const inputsFile = join(outdir, 'inputs.json');
rmSync(inputsFile, { force: true });
const result = await esbuild.build({
  absWorkingDir: repo,
  entryPoints: {
    asl: 'dist/src/cli/bundle-entry.js',
    'dag-lineage-worker': 'dist/src/graph/dag-lineage-worker.js',
  },
  outdir,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // Dependencies stay in node_modules (found from dist/bundle as from dist/src).
  packages: 'external',
  metafile: true,
  logLevel: 'warning',
  // src/version.ts: the version inlined, so the bundle needs no package.json.
  define: { ASL_VERSION: JSON.stringify(JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')).version) },
});
// package.json too: a new version makes the bundle stale like a changed module.
const inputs = [...Object.keys(result.metafile.inputs), 'package.json'].sort().map((path) => {
  const st = statSync(join(repo, path));
  return [relative(repo, join(repo, path)), st.size, st.mtimeMs];
});
writeFileSync(`${inputsFile}.tmp-${process.pid}`, JSON.stringify({ inputs }) + '\n');
renameSync(`${inputsFile}.tmp-${process.pid}`, inputsFile);
