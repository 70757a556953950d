// What `asl dag` draws, by node id, on a captured build: the readable default, and how
// --no-logs, --group-packages, --all-packages, --details, --focus and --depth change it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runAsl } from '../helpers.js';
import { buildDagFixture, dagJson, defaultIds, describe, type DagFixture } from './dag-fixture.js';

const sorted = (ids: Iterable<string>) => [...ids].sort();
const idsOf = (doc: { nodes: Array<{ id: string }> }) => sorted(doc.nodes.map((n) => n.id));

test('asl dag: node sets for every option', async (t) => {
  const fx: DagFixture = await buildDagFixture(t);
  const { receipts, artifacts, logs } = defaultIds(fx);
  const { bootstrap, install, overlay, build, check } = fx.steps;
  const base = [...receipts, ...Object.values(artifacts)];
  const withLogs = [...base, ...Object.values(logs)];
  const packageIds = sorted(
    bootstrap.statement.predicate.core.inputs.filter((r) => r.kind === 'package').map((r) => r.digest),
  );
  assert.equal(packageIds.length, 3);

  await t.test(
    'default: steps, trees, the ingested file, non-empty logs; packages and programs only counted',
    async () => {
      const doc = await dagJson(fx);
      assert.deepEqual(idsOf(doc), sorted(withLogs));
      const box = doc.nodes.find((n) => n.id === bootstrap.id)!;
      assert.equal(box.hidden!.packages, 3, 'the three .debs are counted on bootstrap');
      assert.ok(box.hidden!.programs! >= 2, 'so are its programs');
      assert.equal(box.hidden!.changeLists, 1);
      assert.equal(doc.totals.receipts, 5);
      // The failing step is drawn as failed, and its receipt keeps its command.
      const failed = doc.nodes.find((n) => n.id === check.id)!;
      assert.equal(failed.ok, false);
      assert.equal(failed.command, fx.commands.check);
      // Lineage edges: by content, and from the receipts build read in per/.
      const has = (kind: string, from: string, to: string) =>
        doc.edges.some((e) => e.kind === kind && e.from === from && e.to === to);
      assert.ok(has('output', bootstrap.id, artifacts.t1) && has('input', artifacts.t1, install.id));
      assert.ok(has('output', install.id, artifacts.t2) && has('input', artifacts.t2, build.id));
      assert.ok(has('output', overlay.id, artifacts.motd) && has('input', artifacts.motd, build.id));
      assert.ok(has('output', build.id, artifacts.t3) && has('input', artifacts.t3, check.id));
      for (const r of [bootstrap, install, overlay])
        assert.ok(has('input', r.id, build.id), `${r.step} -> build (receipt in per/)`);
      assert.ok(has('contains', artifacts.motd, artifacts.t3), 'out/ directly holds the overlay file');
      // Every edge joins two drawn nodes.
      const drawn = new Set(doc.nodes.map((n) => n.id));
      for (const e of doc.edges) assert.ok(drawn.has(e.from) && drawn.has(e.to), `${e.from} -> ${e.to}`);
      // Tree nodes carry the totals of the tree object.
      assert.equal(doc.nodes.find((n) => n.id === artifacts.t2)!.tree!.files, 5);
    },
  );

  await t.test('--no-logs drops exactly the logs', async () => {
    assert.deepEqual(idsOf(await dagJson(fx, '--no-logs')), sorted(base));
  });

  await t.test('--group-packages adds one node per step for its .debs', async () => {
    const doc = await dagJson(fx, '--group-packages');
    const group = `packages:${bootstrap.id}`;
    assert.deepEqual(idsOf(doc), sorted([...withLogs, group]));
    const node = doc.nodes.find((n) => n.id === group)!;
    assert.deepEqual(sorted(node.members!), packageIds);
    assert.ok(doc.edges.some((e) => e.from === group && e.to === bootstrap.id));
    assert.equal(
      doc.nodes.find((n) => n.id === bootstrap.id)!.hidden!.packages,
      undefined,
      'no longer counted as hidden',
    );
  });

  await t.test('--all-packages draws every package', async () => {
    assert.deepEqual(idsOf(await dagJson(fx, '--all-packages')), sorted([...withLogs, ...packageIds]));
  });

  await t.test('--details adds programs and change lists', async () => {
    const doc = await dagJson(fx, '--details');
    const programs = new Set(
      [bootstrap, install, build, check].flatMap((s) =>
        s.statement.predicate.core.inputs.filter((r) => r.role === 'program').map((r) => r.digest),
      ),
    );
    const changes = [bootstrap, install, build].map((s) => s.output((r) => r.kind === 'paths').digest);
    assert.deepEqual(idsOf(doc), sorted(new Set([...withLogs, ...programs, ...changes])));
  });

  await t.test('--focus STEP: its ancestors and descendants only', async () => {
    const doc = await dagJson(fx, '--focus', 'install');
    assert.deepEqual(doc.focus, [install.id]);
    assert.deepEqual(
      idsOf(doc),
      sorted([
        bootstrap.id,
        artifacts.t1, // ancestors
        install.id,
        artifacts.t2,
        artifacts.appConf,
        logs.installStdout,
        build.id,
        artifacts.t3,
        artifacts.imageTar,
        logs.buildStdout,
        check.id,
        logs.checkStderr, // descendants
        artifacts.motd, // build wrote out/motd: the same bytes, so the same node
      ]),
      "not overlay, per/ or bootstrap's log: they are neither ancestors nor descendants",
    );
  });

  await t.test('--focus with --depth limits the hops', async () => {
    assert.deepEqual(
      idsOf(await dagJson(fx, '--focus', 'install', '--depth', '1')),
      sorted([artifacts.t1, install.id, artifacts.t2, artifacts.appConf, logs.installStdout, build.id]),
      'one edge: its inputs, outputs, and the step that read its receipt',
    );
    assert.deepEqual(idsOf(await dagJson(fx, '--focus', 'install', '--depth', '0')), [install.id]);
    assert.deepEqual(
      idsOf(await dagJson(fx, '--focus', artifacts.t2.slice(0, 15), '--depth', '2')),
      sorted([
        install.id,
        artifacts.t1,
        artifacts.t2,
        build.id,
        artifacts.t3,
        artifacts.imageTar,
        artifacts.motd,
        logs.buildStdout,
      ]),
      'a digest prefix; two edges either way',
    );
  });

  await t.test('--focus on a hidden kind still draws the focused node', async () => {
    const doc = await dagJson(fx, '--focus', packageIds[0]!);
    assert.ok(idsOf(doc).includes(packageIds[0]!));
    assert.ok(idsOf(doc).includes(bootstrap.id));
    assert.ok(!idsOf(doc).includes(packageIds[1]!), 'not its sibling packages');
  });

  await t.test('usage errors exit 2 with one line', async () => {
    const json = ['--out', '-', '--format', 'json'];
    const cases = [
      [...json, '--focus', 'nosuchthing'],
      [...json, '--focus', 'sha256:'],
      [...json, '--depth', '2'],
      [...json, '--group-packages', '--all-packages'],
      [...json, '--focus', 'install', '--depth', 'x'],
      ['--out', '-', '--format', 'png'],
      ['--out', '-'],
    ];
    for (const args of cases) {
      const r = await runAsl(['dag', '--store', fx.store, ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${describe(r)}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
    const noExt = await runAsl(['dag', '--store', fx.store, '--out', `${fx.work}/graph.png`]);
    assert.equal(noExt.code, 2);
    assert.match(noExt.stderr, /cannot tell the format/);
  });
});
