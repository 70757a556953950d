// `asl dag` never lies and never breaks, on a store made by real captures:
//
//   base      watches root/ (makes it)
//   config    watches only root/etc/app.conf (changes a file inside the root)
//   install   watches root/: its before-tree is not base's after-tree; config is the link
//   (outside any capture: two files and a directory added to root/, one file changed)
//   final     reads root/: an unrecorded change of 4 paths between install and final
//   touchup   watches root/etc/app.conf again; then, outside, app.conf is overwritten
//   final2    reads root/: through touchup, plus 1 unrecorded path (touchup's file is not as it left it)
//   mkempty   writes an empty directory and an empty file (declared outputs)
//   useempty  reads two other empty directories and an empty file, made outside any capture
//   twins     writes two files with the same bytes
//   wstep     watches w/ (a working directory holding w/root)
//   rstep     reads w/root: the sub-tree of what wstep left
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { canonicalBytes } from '../../src/core/canonical-json.js';
import { digestBytes, type Digest } from '../../src/core/digest.js';
import { loadLineage } from '../../src/graph/lineage.js';
import { signStatement, storeSigner } from '../../src/receipt/sign.js';
import { buildStatement } from '../../src/receipt/statement.js';
import type { ArtifactRef, CommandCore, PerRun } from '../../src/receipt/types.js';
import { ObjectBatch } from '../../src/store/object-batch.js';
import { appendReceiptLog } from '../../src/receipt/receipt-log.js';
import { initStore, openStore, type Store } from '../../src/store/store.js';
import { countTreeChanges, diffTrees } from '../../src/store/tree-diff.js';
import { REPO_ROOT, runAsl, tempDir } from '../helpers.js';
import { launchChromium, offlinePage } from './dag-browser.js';
import { dagJsonSchema, describe } from './dag-fixture.js';

const ARTIFACTS_DIR = join(REPO_ROOT, 'test-artifacts');
const EMPTY_FILE = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

interface Ref {
  name: string;
  role: string;
  kind: string;
  digest: Digest;
  path?: string;
}
interface Core {
  step: string;
  inputs: Ref[];
  outputs: Ref[];
  watched?: Array<{ path: string; before: Digest | null; after: Digest | null }>;
}
interface Node {
  id: string;
  type: string;
  kind?: string;
  step?: string;
  digest?: string;
  name?: string;
  names?: string[];
  paths?: string[];
  empty?: true;
  path?: string;
  counts?: Record<string, number>;
  from?: { step: string };
  to?: { step: string };
  members?: string[];
  hidden?: Record<string, number>;
  label: { title: string; lines: string[] };
}
interface Doc {
  format: string;
  nodes: Node[];
  edges: Array<{ kind: string; from: string; to: string; names: string[] }>;
}

test('asl dag on real captures: lanes, unrecorded changes, empty content, names, legend', async (t) => {
  const work = await tempDir(t, 'asl-dag-lanes-');
  const store = join(work, 'store');
  assert.equal((await runAsl(['--store', store], { program: 'asl-init-store' })).code, 0);
  const ids: Record<string, Digest> = {};
  const cores: Record<string, Core> = {};
  const capture = async (step: string, cmd: string, ...args: string[]): Promise<void> => {
    const r = await runAsl(
      ['--store', 'store', '--cmd', cmd, '--no-auto-watch', '--name', step, ...args, '--outdir', `store/per/${step}`],
      { cwd: work, program: 'asl-capture' },
    );
    assert.equal(r.code, 0, `${step}: ${describe(r)}`);
    const envelope = await readFile(join(store, 'per', step, 'per.dsse.json'));
    const { createHash } = await import('node:crypto');
    ids[step] = `sha256:${createHash('sha256').update(envelope).digest('hex')}` as Digest;
    cores[step] = (
      JSON.parse(await readFile(join(store, 'per', step, 'per.json'), 'utf8')) as { predicate: { core: Core } }
    ).predicate.core;
  };
  const root = join(work, 'root');
  const watchedOf = (step: string, path: string) => cores[step]!.watched!.find((w) => w.path === path)!;
  const inputOf = (step: string, path: string) =>
    cores[step]!.inputs.find((r) => r.path === path && r.role === 'declared')!;

  await capture(
    'base',
    "mkdir -p root/etc && printf 'base\\n' > root/etc/base && printf 'conf=1\\n' > root/etc/app.conf",
    '--watch',
    'root',
  );
  await capture('config', "printf 'conf=2\\n' > root/etc/app.conf", '--watch', 'root/etc/app.conf');
  await capture('install', "printf 'x\\n' > root/etc/installed", '--watch', 'root');
  // Outside any capture: added extra, newdir, newdir/f; modified etc/base.
  await writeFile(join(root, 'extra'), 'extra\n');
  await mkdir(join(root, 'newdir'));
  await writeFile(join(root, 'newdir', 'f'), 'f\n');
  await writeFile(join(root, 'etc', 'base'), 'base, edited\n');
  await capture('final', 'true', '--input', 'root');
  await capture('touchup', "printf 'conf=3\\n' > root/etc/app.conf", '--watch', 'root/etc/app.conf');
  await writeFile(join(root, 'etc', 'app.conf'), 'conf=edited\n');
  await capture('final2', 'true', '--input', 'root');
  await capture('mkempty', 'mkdir -p e/outdir && : > e/out.empty', '--output', 'e/outdir', '--output', 'e/out.empty');
  for (const dir of ['u/indir', 'u/indir2']) await mkdir(join(work, dir), { recursive: true });
  await writeFile(join(work, 'u', 'in.empty'), '');
  await capture('useempty', 'true', '--input', 'u/indir', '--input', 'u/indir2', '--input', 'u/in.empty');
  await capture(
    'twins',
    "mkdir -p t && printf 'same\\n' > t/a.conf && printf 'same\\n' > t/b.conf",
    '--output',
    't/a.conf',
    '--output',
    't/b.conf',
  );
  await capture('wstep', "mkdir -p w/root && printf 'w\\n' > w/root/file", '--watch', 'w');
  await capture('rstep', 'true', '--input', 'w/root');

  const r = await runAsl(['dag', '--store', store, '--out', '-', '--format', 'json'], { cwd: work });
  assert.equal(r.code, 0, describe(r));
  const doc = JSON.parse(r.stdout) as Doc;
  const node = (id: string) => doc.nodes.find((n) => n.id === id);
  const has = (kind: string, from: string, to: string) =>
    doc.edges.some((e) => e.kind === kind && e.from === from && e.to === to);
  const drawn = new Set(doc.nodes.map((n) => n.id));
  for (const e of doc.edges)
    assert.ok(drawn.has(e.from) && drawn.has(e.to), `edge ${e.kind} ${e.from} -> ${e.to} joins drawn nodes`);

  await t.test('the JSON is valid against the schema in docs/dag.md', async () => {
    const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, validateFormats: false });
    const validate = ajv.compile(await dagJsonSchema());
    assert.ok(validate(doc), ajv.errorsText(validate.errors, { separator: '\n' }));
    assert.equal(doc.format, 'https://asl.dev/dag/v2');
  });

  await t.test('a middle step that changed a file inside the root links the chain', () => {
    const t1 = watchedOf('base', root).after!;
    const t1b = watchedOf('install', root).before!;
    assert.notEqual(t1, t1b, "install did not start from base's tree: content alone would break the chain");
    assert.ok(has('output', ids.base!, t1) && has('input', t1b, ids.install!));
    assert.ok(has('lane', t1, ids.config!), "base's root -> config (which changed a file inside it)");
    assert.ok(has('lane', ids.config!, t1b), 'config -> the root install started from');
    assert.ok(
      !doc.nodes.some((n) => n.type === 'unrecorded' && n.to?.step === 'install'),
      'config accounts for every difference',
    );
    const conf = watchedOf('config', join(root, 'etc', 'app.conf')).after!;
    assert.ok(has('output', ids.config!, conf), "config's product is drawn");
  });

  await t.test('a change made outside any capture is an unrecorded change, with the paths counted', async () => {
    const marker = node(`unrecorded:${ids.final}:${root}`)!;
    assert.ok(marker, 'an unrecorded-change node before final');
    assert.equal(marker.type, 'unrecorded');
    assert.deepEqual(marker.counts, { added: 3, removed: 0, modified: 1, metadata: 0 });
    assert.equal((marker as unknown as { paths: number }).paths, 4);
    assert.deepEqual([marker.from!.step, marker.to!.step], ['install', 'final']);
    assert.match(marker.label.lines.join(' '), /root: 4 paths differ/);
    const t2 = watchedOf('install', root).after!;
    const t3 = inputOf('final', root).digest;
    assert.ok(
      has('lane', t2, marker.id) && has('lane', marker.id, t3),
      "install's root -> unrecorded change -> the root final read",
    );
    // The same count as asl diff gives, and as the diff's own listing.
    const diff = await runAsl(['diff', '--store', store, t2, t3, '--json']);
    assert.equal(diff.code, 1, describe(diff));
    assert.deepEqual((JSON.parse(diff.stdout) as { counts: Record<string, number> }).counts, {
      added: 3,
      removed: 0,
      modified: 1,
      metadata: 0,
    });
    const s = await openStore(store);
    let n = 0;
    for await (const _ of diffTrees(s, t2, t3)) n++;
    assert.equal(n, 4);
    assert.deepEqual(await countTreeChanges(s, t2, t3), { added: 3, removed: 0, modified: 1, metadata: 0 });
    assert.deepEqual(await countTreeChanges(s, t2, t3, { skip: ['newdir/f', 'etc/base'] }), {
      added: 2,
      removed: 0,
      modified: 0,
      metadata: 0,
    });
    assert.deepEqual(
      await countTreeChanges(s, null, t3, { skip: ['newdir/f'] }),
      { added: 6, removed: 0, modified: 0, metadata: 0 },
      'a whole added tree (7 entries), less the skipped path',
    );
  });

  await t.test('a recorded step and an unrecorded change on the same lane: both drawn', () => {
    const marker = node(`unrecorded:${ids.final2}:${root}`)!;
    assert.ok(marker);
    assert.deepEqual(
      marker.counts,
      { added: 0, removed: 0, modified: 1, metadata: 0 },
      'app.conf is not as touchup left it; nothing else changed',
    );
    const t3 = inputOf('final', root).digest;
    const t4 = inputOf('final2', root).digest;
    assert.ok(has('lane', t3, ids.touchup!) && has('lane', ids.touchup!, marker.id) && has('lane', marker.id, t4));
  });

  await t.test('empty file and empty tree: no lineage edge, one node per use, listing the names of that use', () => {
    const outDir = cores.mkempty!.outputs.find((o) => o.name.endsWith('/e/outdir'))!.digest;
    const inDir = inputOf('useempty', join(work, 'u', 'indir')).digest;
    assert.equal(inDir, outDir, "the two steps' empty directories have the same digest");
    assert.equal(inputOf('useempty', join(work, 'u', 'in.empty')).digest, EMPTY_FILE);
    assert.equal(cores.mkempty!.outputs.find((o) => o.name.endsWith('/e/out.empty'))!.digest, EMPTY_FILE);
    assert.ok(!drawn.has(outDir) && !drawn.has(EMPTY_FILE), 'no node joins all uses');
    const made = node(`${outDir}@out:${ids.mkempty}`)!;
    const read = node(`${inDir}@in:${ids.useempty}`)!;
    assert.deepEqual([made.empty, made.digest, made.names], [true, outDir, ['outdir']]);
    assert.deepEqual(read.names, ['indir', 'indir2'], 'one step reading two empty trees: one node naming both');
    assert.match(read.label.lines.join(' '), /also indir2/);
    assert.deepEqual(node(`${EMPTY_FILE}@out:${ids.mkempty}`)?.names, ['out.empty']);
    assert.deepEqual(
      [node(`${EMPTY_FILE}@in:${ids.useempty}`)?.names, node(`${EMPTY_FILE}@in:${ids.useempty}`)?.kind],
      [['in.empty'], 'blob'],
    );
    assert.ok(!doc.nodes.some((n) => n.digest === EMPTY_FILE && n.kind === 'log'), 'empty logs stay undrawn');
    // No path from mkempty to useempty in the drawn graph.
    const next = new Map<string, string[]>();
    for (const e of doc.edges) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
    const reach = new Set([ids.mkempty!]);
    for (const id of reach) for (const n of next.get(id) ?? []) reach.add(n as Digest);
    assert.ok(!reach.has(ids.useempty!), 'nothing reaches useempty from mkempty');
  });

  await t.test('--focus follows lanes, never empty content', async () => {
    const focus = async (q: string) =>
      new Set(
        (
          JSON.parse(
            (await runAsl(['dag', '--store', store, '--out', '-', '--format', 'json', '--focus', q])).stdout,
          ) as Doc
        ).nodes.map((n) => n.id),
      );
    const around = await focus('useempty');
    assert.ok(!around.has(ids.mkempty!), 'mkempty is not an ancestor of useempty');
    const install = await focus('install');
    assert.ok(
      install.has(ids.config!) && install.has(ids.base!),
      'config and base are ancestors of install through the lane',
    );
    assert.ok(
      install.has(ids.final!) && install.has(`unrecorded:${ids.final}:${root}`),
      'final is a descendant through the unrecorded change',
    );
  });

  await t.test('two names with the same digest: one node listing both', () => {
    const a = cores.twins!.outputs.find((o) => o.name.endsWith('/t/a.conf'))!.digest;
    assert.equal(cores.twins!.outputs.find((o) => o.name.endsWith('/t/b.conf'))!.digest, a);
    const n = node(a)!;
    assert.deepEqual(n.names, ['a.conf', 'b.conf']);
    assert.deepEqual(n.paths, [join(work, 't', 'a.conf'), join(work, 't', 'b.conf')]);
    assert.equal(n.label.title, 'file a.conf');
    assert.match(n.label.lines[0]!, /^also b\.conf$/);
  });

  await t.test('a working directory watched whole: the root read later continues from its sub-tree', () => {
    const w = watchedOf('wstep', join(work, 'w')).after!;
    const wroot = inputOf('rstep', join(work, 'w', 'root')).digest;
    assert.ok(has('lane', w, wroot), 'w/ (wstep) -> w/root (rstep)');
    assert.equal(
      doc.edges.filter((e) => [e.from, e.to].includes(w) && [e.from, e.to].includes(wroot)).length,
      1,
      'the lane alone: no "in" edge beside it',
    );
    assert.ok(!doc.nodes.some((n) => n.type === 'unrecorded' && n.to?.step === 'rstep'));
  });

  await t.test('the lineage API: lanes of the store', async () => {
    const lineage = await loadLineage(await openStore(store));
    const lane = lineage.lanes.find((l) => l.to.receipt === ids.install && l.path === root)!;
    assert.deepEqual(
      { from: lane.from.receipt, through: lane.through.map((x) => x.step), unrecorded: lane.unrecorded },
      { from: ids.base, through: ['config'], unrecorded: null },
    );
    assert.deepEqual(lane.through[0]!.paths, [join(root, 'etc', 'app.conf')]);
  });

  await t.test('the SVG has a legend naming what the picture holds, inside its drawing area', async () => {
    const file = join(work, 'lanes.svg');
    const out = await runAsl(['dag', '--store', store, '--out', file]);
    assert.equal(out.code, 0, describe(out));
    const svg = await readFile(file, 'utf8');
    await mkdir(ARTIFACTS_DIR, { recursive: true });
    await writeFile(join(ARTIFACTS_DIR, 'dag-lanes.svg'), svg);
    assert.match(svg, /<g id="legend" class="asl-legend"/);
    for (const label of [
      'step',
      'tree (folder)',
      'file',
      'empty content (one per use)',
      'unrecorded change',
      'same path, next recorded state',
      'same path, changed with no receipt',
      'read by a step',
      'written by a step',
    ]) {
      assert.ok(svg.includes(`>${label}</text>`), `legend names "${label}"`);
    }
    const browser = await launchChromium(t);
    const url = pathToFileURL(file).href;
    const { page, errors } = await offlinePage(browser, url);
    await page.goto(url);
    const box = await page.evaluate(() => {
      const doc = globalThis as unknown as {
        document: {
          querySelector(s: string): {
            getBBox(): { x: number; y: number; width: number; height: number };
            viewBox: { baseVal: { x: number; y: number; width: number; height: number } };
          };
        };
      };
      const b = doc.document.querySelector('#legend')!.getBBox();
      const vb = doc.document.querySelector('svg')!.viewBox.baseVal;
      return {
        legend: { x: b.x, y: b.y, width: b.width, height: b.height },
        vb: { x: vb.x, y: vb.y, width: vb.width, height: vb.height },
      };
    });
    assert.ok(box.legend.height > 10 && box.legend.width > 100, JSON.stringify(box));
    assert.ok(
      box.legend.y + box.legend.height <= box.vb.y + box.vb.height + 0.5 &&
        box.legend.x + box.legend.width <= box.vb.x + box.vb.width + 0.5,
      `legend within the viewBox: ${JSON.stringify(box)}`,
    );
    assert.deepEqual(errors, []);
    await page.context().close();

    // The HTML viewer: the unrecorded change and a step's lanes in the details panel.
    const html = join(work, 'lanes.html');
    assert.equal((await runAsl(['dag', '--store', store, '--out', html])).code, 0);
    const htmlUrl = pathToFileURL(html).href;
    const viewer = await offlinePage(browser, htmlUrl, { width: 1500, height: 900 });
    await viewer.page.goto(htmlUrl);
    const legendText = (await viewer.page.textContent('header .legend'))!;
    assert.match(legendText, /unrecorded change/);
    await viewer.page.evaluate(
      (id) => (globalThis as unknown as { aslDag: { select(id: string): void } }).aslDag.select(id),
      `unrecorded:${ids.final}:${root}`,
    );
    const panel = (await viewer.page.textContent('#details'))!;
    assert.match(panel, /4 paths of .*root differ between the state install left and the state final started from/);
    assert.match(panel, /added3/);
    await viewer.page.locator(`g.node[data-id="${ids.config}"]`).click();
    assert.match((await viewer.page.textContent('#details'))!, /Lanes \(1\)[\s\S]*base → config → install/);
    await viewer.page
      .locator(`g.node[data-id="${cores.twins!.outputs.find((o) => o.name.endsWith('/t/a.conf'))!.digest}"]`)
      .click();
    assert.match((await viewer.page.textContent('#details'))!, /namesa\.conf, b\.conf/);
    assert.deepEqual(viewer.errors, []);
    await viewer.page.context().close();

    // Mermaid's own parser takes the lanes (==>) and the unrecorded change ({{…}}).
    const mmd = await runAsl(['dag', '--store', store, '--out', '-', '--format', 'mermaid']);
    assert.equal(mmd.code, 0, describe(mmd));
    assert.match(mmd.stdout, /==>/);
    assert.match(mmd.stdout, /\{\{"<b>unrecorded change<\/b>/);
    const m = await offlinePage(browser, undefined);
    await m.page.addScriptTag({ path: join(REPO_ROOT, 'node_modules', 'mermaid', 'dist', 'mermaid.min.js') });
    const parsed = await m.page.evaluate(async (source) => {
      const mermaid = (
        globalThis as unknown as {
          mermaid: { initialize(c: object): void; parse(t: string): Promise<{ diagramType: string }> };
        }
      ).mermaid;
      mermaid.initialize({ startOnLoad: false });
      return (await mermaid.parse(source)).diagramType;
    }, mmd.stdout);
    assert.equal(parsed, 'flowchart-v2');
    await m.page.context().close();
  });
});

const RUN: PerRun = {
  startedOn: '2024-05-01T12:00:00.000Z',
  finishedOn: '2024-05-01T12:00:01.000Z',
  durationMs: 1000,
  host: { hostname: 'h', kernel: 'k', arch: 'x86_64' },
  asl: { version: '0.1.0' },
  user: { uid: 0, gid: 0 },
};

function commandCore(step: string, fields: Partial<CommandCore>): CommandCore {
  return {
    kind: 'command',
    step,
    command: { shell: step, argv: ['/bin/sh', '-c', step], cwd: '/w' },
    program: [],
    inputs: [],
    outputs: [],
    environment: { variables: {} },
    exit: { kind: 'exited', code: 0 },
    watched: [],
    traced: false,
    ...fields,
  };
}

/** Receipts signed with the store key and logged, as capture writes them (for what today's capture cannot make). */
async function logReceipts(store: Store, batch: ObjectBatch, cores: CommandCore[]): Promise<Digest[]> {
  const signer = await storeSigner(store);
  const ids: Digest[] = [];
  for (const core of cores) {
    const envelope = signStatement(buildStatement(core, RUN), signer);
    ids.push(
      await batch.addBytes(
        canonicalBytes({
          payloadType: envelope.payloadType,
          payload: envelope.payload,
          signatures: envelope.signatures.map((s) => ({ keyid: s.keyid, sig: s.sig })),
        }),
      ),
    );
  }
  await batch.commit();
  await appendReceiptLog(
    store,
    ids.map((receipt, i) => ({ receipt, step: cores[i]!.step })),
  );
  return ids;
}

test('a tree the store does not hold: the lane is drawn as unchecked, and the dag does not fail', async (t) => {
  const dir = join(await tempDir(t, 'asl-dag-unchecked-'), 'store');
  const { store } = await initStore(dir);
  const batch = new ObjectBatch(store);
  const gone = (label: string) => digestBytes(`not stored: ${label}`);
  const [x, y] = [gone('x'), gone('y')];
  const [a, b] = await logReceipts(store, batch, [
    commandCore('make', {
      outputs: [{ name: '/w/root', role: 'watched', kind: 'tree', digest: x, path: '/w/root', size: 10 }],
      watched: [{ path: '/w/root', reason: 'flag', before: null, after: x, added: 1, modified: 0, removed: 0 }],
    }),
    commandCore('use', {
      inputs: [{ name: 'before:/w/root', role: 'watched', kind: 'tree', digest: y, path: '/w/root', size: 10 }],
      outputs: [
        { name: 'stdout', role: 'stdout', kind: 'log', digest: await batch.addBytes(Buffer.from('ok\n')), size: 3 },
      ],
      watched: [{ path: '/w/root', reason: 'flag', before: y, after: y, added: 0, modified: 0, removed: 0 }],
    }),
  ]);
  const r = await runAsl(['dag', '--store', dir, '--out', '-', '--format', 'json']);
  assert.equal(r.code, 0, describe(r));
  const doc = JSON.parse(r.stdout) as Doc;
  const marker = doc.nodes.find((n) => n.type === 'unrecorded')! as Node & { unchecked?: string; paths: number | null };
  assert.equal(marker.id, `unrecorded:${b}:/w/root`);
  assert.equal(marker.paths, null);
  assert.equal(marker.counts, null);
  assert.match(marker.unchecked!, new RegExp(x.slice(7, 19)));
  assert.equal(marker.label.title, 'unchecked change');
  assert.ok(
    doc.edges.some((e) => e.kind === 'lane' && e.from === x && e.to === marker.id) &&
      doc.edges.some((e) => e.kind === 'lane' && e.from === marker.id && e.to === y),
  );
  assert.ok(doc.edges.some((e) => e.kind === 'output' && e.from === a && e.to === x));
  const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, validateFormats: false });
  const validate = ajv.compile(await dagJsonSchema());
  assert.ok(validate(doc), ajv.errorsText(validate.errors, { separator: '\n' }));
  const svg = await runAsl(['dag', '--store', dir, '--out', '-', '--format', 'svg']);
  assert.equal(svg.code, 0, describe(svg));
  assert.match(svg.stdout, />unchecked change \(tree not in the store\)<\/text>/);
});

test('what a step made is drawn: .deb files it wrote are its output group by default, each a node with --all-packages', async (t) => {
  // A receipt as a capture that records built packages as outputs writes it.
  const dir = join(await tempDir(t, 'asl-dag-product-'), 'store');
  const { store } = await initStore(dir);
  const batch = new ObjectBatch(store);
  const deb = async (name: string, bytes: string): Promise<ArtifactRef> => ({
    name: `/w/out/${name}_1.0_all.deb`,
    role: 'declared',
    kind: 'package',
    digest: await batch.addBytes(Buffer.from(bytes)),
    path: `/w/out/${name}_1.0_all.deb`,
    size: bytes.length,
    package: { name, version: '1.0', architecture: 'all' },
  });
  const outputs = [
    {
      name: 'stdout',
      role: 'stdout',
      kind: 'log',
      digest: await batch.addBytes(Buffer.from('built\n')),
      size: 6,
    } as ArtifactRef,
    await deb('asl-a', 'deb a'),
    await deb('asl-b', 'deb b'),
  ];
  const [id] = await logReceipts(store, batch, [commandCore('package', { outputs })]);

  const dag = async (...args: string[]) =>
    JSON.parse((await runAsl(['dag', '--store', dir, '--out', '-', '--format', 'json', ...args])).stdout) as Doc;
  const debs = outputs
    .slice(1)
    .map((o) => o.digest)
    .sort();
  const doc = await dag();
  const group = doc.nodes.find((n) => n.id === `packages-out:${id}`);
  assert.ok(group, 'the built packages are drawn, as one node for the step');
  assert.deepEqual([...group.members!].sort(), debs);
  assert.ok(doc.edges.some((e) => e.kind === 'output' && e.from === id && e.to === group.id));
  assert.equal(doc.nodes.find((n) => n.id === id)!.hidden!.packages, undefined, 'not merely counted');
  const all = await dag('--all-packages');
  for (const d of debs)
    assert.ok(
      all.edges.some((e) => e.kind === 'output' && e.from === id && e.to === d),
      `--all-packages: ${d} drawn`,
    );
});
