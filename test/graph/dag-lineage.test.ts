// loadLineage on a store made by real captures: receipts in log order, verified, with
// their status, command, signer and environment; artifacts joined by digest; receipts
// named as inputs linked to the receipt nodes; a tampered receipt refused.
import assert from 'node:assert/strict';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadLineage, readTreeSummaries } from '../../src/graph/lineage.js';
import { openStore, storeKeyId } from '../../src/store/store.js';
import { runAsl } from '../helpers.js';
import { buildDagFixture, describe } from './dag-fixture.js';

test('lineage of a captured build: receipts, artifacts, and the joins content addressing gives', async (t) => {
  const fx = await buildDagFixture(t);
  const store = await openStore(fx.store);
  const lineage = await loadLineage(store);
  const { bootstrap, install, overlay, build, check } = fx.steps;

  // Receipts, in log order, verified against the store key.
  assert.deepEqual(
    lineage.receipts.map((r) => r.step),
    ['bootstrap', 'install', 'overlay', 'build', 'check'],
  );
  assert.deepEqual(
    lineage.receipts.map((r) => r.id),
    [bootstrap.id, install.id, overlay.id, build.id, check.id],
  );
  const keyId = await storeKeyId(store);
  for (const r of lineage.receipts) assert.equal(r.signer, keyId, `${r.step} signed by the store key`);
  const [rb, ri, ro, rbuild, rc] = lineage.receipts;
  assert.equal(rb!.status, 'succeeded');
  assert.equal(rb!.command, fx.commands.bootstrap);
  assert.equal(rb!.environment!.variables.PATH, process.env.PATH, 'PATH is recorded verbatim');
  assert.ok(
    rb!.programs.some((p) => p.path.endsWith('/cp')),
    'programs named on the command line',
  );
  assert.equal(ro!.kind, 'ingest');
  assert.equal(ro!.status, 'ingested');
  assert.equal(ro!.source!.path, join(fx.work, 'overlay', 'motd'));
  assert.equal(rc!.ok, false);
  assert.equal(rc!.status, 'failed (exit 3)');
  assert.deepEqual(rc!.exit, { kind: 'exited', code: 3 });
  assert.ok(rbuild!.startedOn >= ri!.finishedOn, 'run times come from the receipts');

  // Artifacts: one node per digest; the trees and the ingested file link the steps.
  const edge = (kind: string, from: string, to: string) =>
    lineage.edges.some((e) => e.kind === kind && e.from === from && e.to === to);
  const t1 = bootstrap.output((r) => r.kind === 'tree').digest;
  const t2 = install.output((r) => r.kind === 'tree').digest;
  const t3 = build.output((r) => r.kind === 'tree').digest;
  const motd = overlay.output((r) => r.role === 'source').digest;
  assert.equal(install.input((r) => r.kind === 'tree').digest, t1, 'install read the tree bootstrap made');
  assert.ok(edge('output', bootstrap.id, t1) && edge('input', t1, install.id), 'bootstrap -> T1 -> install');
  assert.ok(edge('output', install.id, t2) && edge('input', t2, build.id), 'install -> T2 -> build');
  assert.ok(edge('output', overlay.id, motd) && edge('input', motd, build.id), 'overlay -> motd -> build');
  assert.ok(edge('output', build.id, t3) && edge('input', t3, check.id), 'build -> T3 -> check');
  assert.equal(lineage.artifacts.get(t1)!.kind, 'tree');
  assert.equal(lineage.artifacts.get(t1)!.name, 'root');
  assert.equal(lineage.artifacts.get(motd)!.name, 'motd');
  assert.equal(lineage.artifacts.get(motd)!.size, 'Welcome to the ASL fixture host.\n'.length);

  // Receipts found in per/ are edges from the receipt nodes, not artifact nodes.
  for (const r of [bootstrap, install, overlay]) {
    assert.ok(edge('input', r.id, build.id), `${r.step}'s receipt is an input of build`);
    assert.ok(!lineage.artifacts.has(r.id), 'a logged receipt is not also an artifact node');
  }

  // Packages downloaded by bootstrap, with what the .deb says.
  const packages = [...lineage.artifacts.values()].filter((a) => a.kind === 'package');
  assert.deepEqual(packages.map((p) => p.package!.name).sort(), fx.packages);
  for (const p of packages) assert.ok(edge('input', p.id, bootstrap.id));

  // Tree totals come from the tree objects.
  const trees = await readTreeSummaries(store, [t1, t2, t3], { children: new Set([motd]) });
  assert.deepEqual(
    { ...trees.get(t1)!, children: [] },
    { files: 4, dirs: 5, other: 0, bytes: trees.get(t1)!.bytes, children: [] },
  );
  assert.equal(trees.get(t2)!.files, 5, 'install added app.conf');
  assert.deepEqual(trees.get(t3)!.children, [motd], 'out/ holds the overlay file itself');
  const absent = `sha256:${'0'.repeat(64)}` as const;
  const missing = await readTreeSummaries(store, [absent]);
  assert.equal(missing.get(absent), null, 'a tree the store does not hold');
});

test('loading on worker threads gives the same lineage as on the main thread', async (t) => {
  const fx = await buildDagFixture(t);
  const store = await openStore(fx.store);
  const inline = await loadLineage(store, { threads: 0 });
  const threaded = await loadLineage(store, { threads: 2 });
  assert.deepEqual(threaded, inline);
});

test('a receipt that no longer matches its id stops the graph, naming it', async (t) => {
  const fx = await buildDagFixture(t);
  const id = fx.steps.install.id;
  const hex = id.slice(7);
  const file = join(fx.store, 'objects-v1', 'sha256', hex.slice(0, 2), hex.slice(2));
  const bytes = await readFile(file);
  await chmod(file, 0o644);
  await writeFile(file, Buffer.from(bytes.toString('utf8').replace('"payload":"', '"payload":" ')));
  for (const threads of [0, 2]) {
    await assert.rejects(loadLineage(await openStore(fx.store), { threads }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'CORRUPT');
      assert.match(err.message, new RegExp(id));
      return true;
    });
  }
  const r = await runAsl(['--store', fx.store, '--out', join(fx.work, 'g.svg')], { program: 'asl-dag' });
  assert.equal(r.code, 1, describe(r));
  assert.match(r.stderr, new RegExp(`${id}.*corrupt`));
});
