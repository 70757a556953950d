// The bench's synthetic store, small: really signed receipts in a real log, loaded on
// worker threads and on the main thread alike, drawn with its chains intact.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildSyntheticStore } from '../../bench/dag-scale.js';
import { loadLineage } from '../../src/graph/lineage.js';
import { verifyLog } from '../../src/receipt/receipt-log.js';
import { runAsl, tempDir } from '../helpers.js';
import { describe, type DagJsonDoc } from './dag-fixture.js';

test('synthetic store: signed receipts, chains joined by tree digests, same lineage on worker threads', async (t) => {
  const dir = join(await tempDir(t, 'asl-dag-scale-'), 'store');
  const built = await buildSyntheticStore(dir, { receipts: 60, artifacts: 3000, pipelines: 3 });
  assert.equal(built.receipts, 60);
  assert.equal(built.failed, 1);
  assert.ok(built.artifacts >= 60 * 50, `${built.artifacts} artifacts`);
  const log = await verifyLog(built.store);
  assert.deepEqual(log.problems, []);
  assert.equal(log.entries, 60);

  const inline = await loadLineage(built.store, { threads: 0 });
  const threaded = await loadLineage(built.store, { threads: 2 });
  assert.deepEqual(threaded, inline);
  assert.equal(inline.artifacts.size, built.artifacts);

  const r = await runAsl(['dag', '--store', dir, '--out', '-', '--format', 'json']);
  assert.equal(r.code, 0, describe(r));
  const doc = JSON.parse(r.stdout) as DagJsonDoc;
  assert.equal(doc.totals.receipts, 60);
  const receipts = doc.nodes.filter((n) => n.type === 'receipt');
  assert.equal(receipts.length, 60);
  assert.equal(receipts.filter((n) => !n.ok).length, 1);
  // Default view: steps, one tree per step plus each pipeline's base tree, two logs per step.
  assert.equal(doc.nodes.filter((n) => n.kind === 'tree').length, 63);
  assert.equal(doc.nodes.filter((n) => n.kind === 'log').length, 120);
  assert.equal(doc.nodes.length, 60 + 63 + 120);
  assert.ok(receipts.every((n) => n.hidden!.packages === 46 && n.hidden!.programs === 2));

  // Pipeline 0 is a chain: each step reads the tree the one before wrote.
  const p0 = built.ids.filter((_, i) => i % 3 === 0);
  for (let k = 1; k < p0.length; k++) {
    const made = doc.edges.find(
      (e) => e.kind === 'output' && e.from === p0[k - 1] && doc.nodes.find((n) => n.id === e.to)?.kind === 'tree',
    )!;
    assert.ok(
      doc.edges.some((e) => e.kind === 'input' && e.from === made.to && e.to === p0[k]),
      `step ${k} reads step ${k - 1}'s tree`,
    );
  }
  // So the last step of pipeline 0 has every earlier step of it among its ancestors.
  const focus = await runAsl([
    'dag',
    '--store',
    dir,
    '--out',
    '-',
    '--format',
    'json',
    '--focus',
    p0.at(-1)!,
    '--no-logs',
  ]);
  assert.equal(focus.code, 0, describe(focus));
  const ids = new Set((JSON.parse(focus.stdout) as DagJsonDoc).nodes.map((n) => n.id));
  for (const id of p0) assert.ok(ids.has(id));

  const svgFile = join(dir, '..', 'scale.svg');
  const svg = await runAsl(['dag', '--store', dir, '--out', svgFile, '--json']);
  assert.equal(svg.code, 0, describe(svg));
  assert.equal((JSON.parse(svg.stdout) as { nodes: number }).nodes, 243);
  assert.match(await readFile(svgFile, 'utf8'), /p2(-|&#45;)step019/);
});

test('an empty store draws an empty graph', async (t) => {
  const store = join(await tempDir(t), 'store');
  assert.equal((await runAsl(['init', '--store', store])).code, 0);
  for (const format of ['json', 'svg', 'mermaid', 'dot', 'html']) {
    const r = await runAsl(['dag', '--store', store, '--out', '-', '--format', format]);
    assert.equal(r.code, 0, `${format}: ${describe(r)}`);
  }
  const r = await runAsl(['dag', '--store', store, '--out', '-', '--format', 'json']);
  assert.deepEqual((JSON.parse(r.stdout) as DagJsonDoc).nodes, []);
});
