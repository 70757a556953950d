// Every output format of `asl dag`, checked by the real consumer of that format:
// DOT by Graphviz (the WebAssembly build and Debian's `dot`), Mermaid by Mermaid's own
// parser and renderer (in Chromium), JSON by a JSON Schema validator against the schema
// printed in docs/dag.md, SVG by Chromium's XML parser and layout.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { renderSvg } from '../../src/graph/render-svg.js';
import { ensureDebianPackages } from '../fixtures.js';
import { REPO_ROOT, runAsl } from '../helpers.js';
import { launchChromium, offlinePage } from './dag-browser.js';
import { buildDagFixture, dagJsonSchema, defaultIds, describe } from './dag-fixture.js';

const run = promisify(execFile);

// Browser globals, for the functions page.evaluate runs in Chromium (this project compiles without the DOM lib).
interface BrowserElement {
  nodeName: string;
  textContent: string | null;
  getAttribute(n: string): string | null;
  getBoundingClientRect(): { x: number };
  querySelector(s: string): BrowserElement | null;
  getElementsByTagName(n: string): { length: number };
  documentElement: BrowserElement;
}
declare const DOMParser: new () => { parseFromString(text: string, type: string): BrowserElement };
declare const document: { querySelectorAll(s: string): Iterable<BrowserElement> };
const STEPS = ['bootstrap', 'install', 'overlay', 'build', 'check'];

test('asl dag formats, each accepted by its real consumer', async (t) => {
  const fx = await buildDagFixture(t);
  const out = (name: string) => join(fx.work, name);
  const dag = async (file: string, ...args: string[]) => {
    const r = await runAsl(['--store', fx.store, '--out', out(file), ...args], { program: 'asl-dag', cwd: fx.work });
    assert.equal(r.code, 0, describe(r));
    assert.match(r.stdout, new RegExp(`wrote .*${file.replace('.', '\\.')}`));
    return readFile(out(file), 'utf8');
  };
  const browser = await launchChromium(t);

  await t.test("dot: Graphviz (wasm and Debian's dot) lays it out", async () => {
    const dot = await dag('graph.dot');
    assert.match(dot, /^digraph asl_lineage \{/);
    assert.match(dot, /rankdir=LR/);
    const svg = await renderSvg(dot);
    for (const step of STEPS)
      assert.ok(svg.includes(`>${step}<`) || svg.includes(`>${step}: `), `wasm svg names ${step}`);
    await ensureDebianPackages('graphviz');
    const { stdout, stderr } = await run('dot', ['-Tsvg', out('graph.dot')], { maxBuffer: 64 << 20 });
    assert.equal(stderr, '', 'dot prints no warning');
    assert.match(stdout, /<svg/);
    // .gv is DOT too
    assert.equal(await dag('graph.gv'), dot);
  });

  await t.test('json: valid against the schema in docs/dag.md', async () => {
    const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, validateFormats: false });
    const validate = ajv.compile(await dagJsonSchema());
    for (const args of [
      [],
      ['--group-packages'],
      ['--all-packages', '--details'],
      ['--focus', 'install', '--depth', '2', '--no-logs'],
    ]) {
      const doc = JSON.parse(await dag('graph.json', ...args)) as unknown;
      assert.ok(validate(doc), `${args.join(' ')}: ${ajv.errorsText(validate.errors, { separator: '\n' })}`);
    }
    // The validator is real: a wrong document fails.
    const doc = JSON.parse(await dag('graph.json')) as { nodes: Array<Record<string, unknown>> };
    doc.nodes[0]!.id = 'not-a-digest';
    assert.equal(validate(doc), false);
  });

  await t.test('mermaid: parsed and rendered by Mermaid itself', async () => {
    const text = await dag('graph.mmd');
    assert.match(text, /^flowchart LR\n/);
    const { page } = await offlinePage(browser, undefined);
    await page.addScriptTag({ path: join(REPO_ROOT, 'node_modules', 'mermaid', 'dist', 'mermaid.min.js') });
    const result = await page.evaluate(async (source) => {
      const mermaid = (
        globalThis as unknown as {
          mermaid: {
            initialize(c: object): void;
            parse(t: string): Promise<unknown>;
            render(id: string, t: string): Promise<{ svg: string }>;
          };
        }
      ).mermaid;
      mermaid.initialize({ startOnLoad: false });
      const parsed = await mermaid.parse(source);
      let broken = '';
      try {
        await mermaid.parse(`${source}\n  n1 --> n2["unterminated`);
      } catch (err) {
        broken = (err as Error).message;
      }
      const { svg } = await mermaid.render('dag', source);
      return { parsed, broken, svg };
    }, text);
    assert.equal((result.parsed as { diagramType: string }).diagramType, 'flowchart-v2');
    assert.match(result.broken, /Parse error/, 'the parser rejects a broken flowchart');
    for (const step of STEPS) assert.ok(result.svg.includes(step), `rendered mermaid names ${step}`);
    assert.ok(text.includes(`%% n1 = ${fx.steps.bootstrap.id}`), 'ids are mapped back in comments');
    await page.context().close();
  });

  await t.test('svg: well-formed XML naming every step, laid out left to right in data-flow order', async () => {
    const svg = await dag('graph.svg');
    assert.match(svg, /^<\?xml /);
    for (const step of STEPS) assert.ok(svg.includes(`>${step}<`) || svg.includes(`>${step}: `), `names ${step}`);
    assert.match(svg, /check: failed \(exit 3\)/);
    const url = pathToFileURL(out('graph.svg')).href;
    const { page, requests, errors } = await offlinePage(browser, url);
    const parsed = await page.evaluate((text) => {
      const doc = new DOMParser().parseFromString(text, 'image/svg+xml');
      return { error: doc.getElementsByTagName('parsererror').length, root: doc.documentElement.nodeName };
    }, svg);
    assert.deepEqual(parsed, { error: 0, root: 'svg' });
    await page.goto(url);
    // Node positions, by the ids Graphviz keeps in <title>.
    const boxes = await page.evaluate(() =>
      Object.fromEntries(
        [...document.querySelectorAll('g.node')].map((g) => {
          const r = g.getBoundingClientRect();
          return [g.querySelector('title')!.textContent!, { x: r.x, cls: g.getAttribute('class') }];
        }),
      ),
    );
    const { bootstrap, install, build, check, overlay } = fx.steps;
    const { artifacts } = defaultIds(fx);
    const x = (id: string) => {
      assert.ok(boxes[id], `node ${id} drawn`);
      return boxes[id]!.x;
    };
    assert.ok(
      x(bootstrap.id) < x(artifacts.t1) &&
        x(artifacts.t1) < x(install.id) &&
        x(install.id) < x(artifacts.t2) &&
        x(artifacts.t2) < x(build.id) &&
        x(build.id) < x(artifacts.t3) &&
        x(artifacts.t3) < x(check.id),
      'bootstrap → T1 → install → T2 → build → T3 → check, left to right',
    );
    assert.ok(x(overlay.id) < x(artifacts.motd) && x(artifacts.motd) < x(build.id), 'overlay → motd → build');
    assert.match(boxes[check.id]!.cls!, /asl-failed/);
    assert.match(boxes[build.id]!.cls!, /asl-ok/);
    assert.match(boxes[artifacts.t2]!.cls!, /asl-tree/);
    assert.deepEqual(requests, [url], 'the SVG loads nothing else');
    assert.deepEqual(errors, []);
    await page.context().close();
  });

  await t.test('--out - writes to stdout', async () => {
    const r = await runAsl(['dag', '--store', fx.store, '--out', '-', '--format', 'dot']);
    assert.equal(r.code, 0, describe(r));
    assert.equal(r.stdout, await readFile(out('graph.dot'), 'utf8'));
  });
});
