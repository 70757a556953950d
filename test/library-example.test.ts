// The library is the API: the README's example runs as written (importing the
// package by its name), src/index.ts exports what the commands call, and the
// version comes from package.json in every form the CLI is shipped in.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, symlink, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import * as api from '../src/index.js';
import { ASL_BIN, REPO_ROOT, tempDir } from './helpers.js';

const run = promisify(execFile);

async function packageVersion(): Promise<string> {
  return (JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

test("the README's library example runs as written and prints what it says", async (t) => {
  const readme = await readFile(join(REPO_ROOT, 'README.md'), 'utf8');
  const m = /<!-- library example -->\n```js\n([\s\S]*?)```/.exec(readme);
  assert.ok(m, 'README.md has a "library example" block');
  const dir = await tempDir(t, 'asl-lib-');
  // `import … from 'asl'` resolves through node_modules, as in a project that installed ASL.
  await mkdir(join(dir, 'node_modules'));
  await symlink(REPO_ROOT, join(dir, 'node_modules', 'asl'));
  await writeFile(join(dir, 'example.mjs'), m[1]!);
  const { stdout } = await run(process.execPath, ['example.mjs'], { cwd: dir, env: { ...process.env, TMPDIR: dir } });
  const lines = stdout.trimEnd().split('\n');
  assert.match(lines[0]!, /^greet: exit 0, receipt sha256:[0-9a-f]{12}$/);
  assert.equal(lines[1], 'greeting.txt: added by greet');
  assert.equal(lines[2], 'verify: ok, 1 receipt(s)');
  assert.match(lines[3]!, /^flowchart /);
});

test('src/index.ts exports the functions behind seed, bundle, why, dag, audit and sbom', () => {
  for (const name of [
    'seedStore',
    'exportBundle',
    'importBundle',
    'why',
    'renderDag',
    'audit',
    'auditEntries',
    'sbom',
    'captureCommand',
    'verifyStoreFully',
    'restore',
  ] as const) {
    assert.equal(typeof api[name], 'function', `index exports ${name}`);
  }
  assert.deepEqual([...api.DAG_FORMATS], ['svg', 'dot', 'mermaid', 'json', 'html']);
  assert.deepEqual([...api.SBOM_FORMATS], ['cyclonedx', 'spdx']);
});

test("the version is package.json's: in the library, `asl --version` from dist/ and from both bundles", async (t) => {
  const version = await packageVersion();
  assert.match(version, /^\d+\.\d+\.\d+/);
  assert.equal(api.VERSION, version);
  const fromDist = await run(process.execPath, [ASL_BIN, '--version'], {
    env: { ...process.env, ASL_NO_BUNDLE: '1', ASL_DEBUG: '1' },
  });
  assert.equal(fromDist.stdout, `asl ${version}\n`);
  assert.match(fromDist.stderr, /dist\/src\/cli\/main\.js/);
  // The bundle bin/asl loads while it is current (scripts/bundle-cli.mjs), called as bin/asl calls it.
  const bundle = join(REPO_ROOT, 'dist', 'bundle', 'asl.js');
  const fromBundle = await run(process.execPath, [
    '--input-type=module',
    '-e',
    `const { main } = await import(${JSON.stringify(bundle)}); process.exitCode = await main(['--version'], { stdout: process.stdout, stderr: process.stderr, interactive: false });`,
  ]);
  assert.equal(fromBundle.stdout, `asl ${version}\n`);
  // The one-file CLI of an image, run from a temp folder with no ASL package.json
  // anywhere above it: the version is inlined.
  const dir = await tempDir(t, 'asl-onefile-');
  const out = join(dir, 'asl.mjs');
  await run('bash', [join(REPO_ROOT, 'scripts', 'bundle-asl.sh'), out]);
  const fromOneFile = await run(process.execPath, [out, '--version'], { cwd: dir });
  assert.equal(fromOneFile.stdout, `asl ${version}\n`);
});
