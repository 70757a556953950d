// The chain planRootHistory builds from receipt ids alone (no store): steps whose
// after-state is the current state, gaps between captures with the receipts that watched
// a path inside the root, containing roots through their sub-trees, a moved root found by
// content, and the end of the chain (a step that created the root, or nothing recorded).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Digest } from '../../src/core/digest.js';
import { planRootHistory, relation, type RootView, type SubtreeLookup } from '../../src/graph/root-history.js';

const d = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}` as Digest;
const view = (index: number, path: string, before: number | null, after: number | null): RootView => ({
  index,
  path,
  before: before === null ? null : d(before),
  after: after === null ? null : d(after),
});
const noSubtrees: SubtreeLookup = async () => null;
const summary = (links: Awaited<ReturnType<typeof planRootHistory>>) =>
  links.map((l) =>
    l.kind === 'step'
      ? `step ${l.index} ${l.before === null ? '-' : Number.parseInt(l.before.slice(7), 16)}->${Number.parseInt(l.after.slice(7), 16)}`
      : `gap ${l.fromIndex}..${l.toIndex} ${l.from === null ? '-' : Number.parseInt(l.from.slice(7), 16)}->${Number.parseInt(l.to.slice(7), 16)} inner [${l.inner.map((v) => `${v.index}:${v.rel}`)}]`,
  );

test('relation of a watched path to the root', () => {
  assert.deepEqual(relation('/w/root', '/w/root/'), { kind: 'same' });
  assert.deepEqual(relation('/w', '/w/root'), { kind: 'contains', sub: 'root' });
  assert.deepEqual(relation('/', '/w/root'), { kind: 'contains', sub: 'w/root' });
  assert.deepEqual(relation('/w/root/etc/x.cfg', '/w/root'), { kind: 'inside', rel: 'etc/x.cfg' });
  assert.deepEqual(relation('/w/rootfs', '/w/root'), { kind: 'unrelated' });
  assert.deepEqual(relation('/w/root', ''), { kind: 'unrelated' });
});

test('steps chain by id; a gap between captures keeps the receipts that watched inside the root', async () => {
  // 0 creates the root (1); 1 watches one file inside it; 2 sees 2 before (1 -> 2 outside 0's record), leaves 3.
  const views = [
    view(0, '/w/root', null, 1),
    view(1, '/w/root/etc/x.cfg', null, 100),
    view(1, '/elsewhere', 7, 7),
    view(2, '/w/root', 2, 3),
  ];
  const links = await planRootHistory(views, { tree: d(3), path: '/w/root', below: 3 }, noSubtrees);
  assert.deepEqual(summary(links), ['step 2 2->3', 'gap 0..2 1->2 inner [1:etc/x.cfg]', 'step 0 -->1']);
});

test('nothing recorded before: the chain ends in a gap from nothing', async () => {
  const views = [view(0, '/w/root', 5, 6)];
  assert.deepEqual(summary(await planRootHistory(views, { tree: d(6), path: '/w/root', below: 1 }, noSubtrees)), [
    'step 0 5->6',
    'gap null..0 -->5 inner []',
  ]);
  // A tree no receipt names: one gap from nothing.
  assert.deepEqual(summary(await planRootHistory(views, { tree: d(9), path: '', below: 1 }, noSubtrees)), [
    'gap null..1 -->9 inner []',
  ]);
});

test('a root removed by a step, recreated outside any capture: the gap starts from nothing at that step', async () => {
  const views = [view(0, '/w/root', null, 1), view(1, '/w/root', 1, null), view(2, '/w/root', 4, 5)];
  assert.deepEqual(summary(await planRootHistory(views, { tree: d(5), path: '/w/root', below: 3 }, noSubtrees)), [
    'step 2 4->5',
    'gap 1..2 -->4 inner []',
  ]);
});

test('a directory containing the root stands for it through its sub-tree; a moved root is found by content', async () => {
  const sub: SubtreeLookup = async (id, rel) => {
    assert.equal(rel, 'root');
    return id === d(10) ? d(1) : id === d(11) ? d(2) : null;
  };
  // 0 watched /w (10 -> 11: root went 1 -> 2); 1 watched /tmp/build (created 20); 2 watched /w/root: before 20, after 21.
  const views = [
    view(0, '/w', 10, 11),
    view(1, '/tmp/build', null, 20),
    view(2, '/w/root', 20, 21),
    view(3, '/w/root', 21, 22),
  ];
  const links = await planRootHistory(views, { tree: d(22), path: '/w/root', below: 4 }, sub);
  assert.deepEqual(summary(links), ['step 3 21->22', 'step 2 20->21', 'step 1 -->20']);
  assert.equal(links[2]!.kind === 'step' && links[2]!.path, '/tmp/build');
  const viaParent = await planRootHistory(
    views.slice(0, 1).concat(view(1, '/w/root', 2, 3)),
    { tree: d(3), path: '/w/root', below: 2 },
    sub,
  );
  assert.deepEqual(summary(viaParent), ['step 1 2->3', 'step 0 1->2', 'gap null..0 -->1 inner []']);
});
