// The pure part of the lanes: which earlier record each step's starting state continues,
// and which recorded steps changed something inside the path in between. Driven with path
// states shaped like the seed's workflow and like a capture that watches its working
// directory.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Digest } from '../../src/core/digest.js';
import {
  holds,
  LaneIndex,
  pathStatesOf,
  relativeTo,
  type LanePlan,
  type PathState,
} from '../../src/graph/lane-plan.js';
import type { CommandCore } from '../../src/receipt/types.js';

const d = (label: string): Digest =>
  `sha256:${Buffer.from(label).toString('hex').padEnd(64, '0').slice(0, 64)}` as Digest;
const receipt = (seq: number): Digest => d(`receipt ${seq}`);

function state(
  seq: number,
  step: string,
  path: string,
  before: Digest | null | undefined,
  after?: Digest | null,
): PathState {
  const s: PathState = { receipt: receipt(seq), seq, step, path, changed: after !== undefined && after !== before };
  if (before !== undefined) s.before = { digest: before, dir: 'input' };
  if (after !== undefined) s.after = { digest: after, dir: after !== before ? 'output' : 'input' };
  return s;
}

const brief = (p: LanePlan) => ({
  path: p.path,
  from: p.from.step,
  to: p.to.step,
  through: p.through.map((s) => `${s.step}:${s.path}`),
});

test('paths: holds and relativeTo', () => {
  assert.ok(holds('/w/root', '/w/root'));
  assert.ok(holds('/w/root', '/w/root/etc/x'));
  assert.ok(!holds('/w/root', '/w/rootfs/etc'), 'a name sharing a prefix is not inside');
  assert.ok(holds('/', '/anything'));
  assert.equal(relativeTo('/w/root', '/w/root/etc/x'), 'etc/x');
  assert.equal(relativeTo('/w/root', '/w/root'), '');
  assert.equal(relativeTo('/', '/etc/x'), 'etc/x');
});

test("the seed's shape: a file copied into the root between two steps links them; a seed outside any capture does not", () => {
  const R = '/b/iso_root';
  const states = [
    state(1, 'debootstrap', R, null, d('T1')),
    state(2, 'dpkg_config', `${R}/etc/dpkg/dpkg.cfg.d/asl`, null, d('F')),
    state(2, 'dpkg_config', '/src/dpkg-minimal.cfg', d('F'), d('F')),
    state(3, 'apt_install', R, d('T1+F'), d('T2')),
    state(4, 'overlay', '/b/overlay', d('O')),
    state(5, 'image_root', R, d('T2'), d('T3')),
    state(5, 'image_root', '/b/overlay', d('O')),
    state(6, 'build_iso', R, d('T3+seed')),
    state(6, 'build_iso', '/b/out', null, d('ISO')),
  ];
  const index = new LaneIndex(states);
  assert.deepEqual(index.plans().map(brief), [
    // dpkg_config's file: the root debootstrap made holds its path (it did not exist there).
    { path: `${R}/etc/dpkg/dpkg.cfg.d/asl`, from: 'debootstrap', to: 'dpkg_config', through: [] },
    { path: R, from: 'debootstrap', to: 'apt_install', through: [`dpkg_config:${R}/etc/dpkg/dpkg.cfg.d/asl`] },
    { path: R, from: 'apt_install', to: 'image_root', through: [] },
    { path: '/b/overlay', from: 'overlay', to: 'image_root', through: [] },
    { path: R, from: 'image_root', to: 'build_iso', through: [] },
  ]);
  // The question another command asks: who changed the root between debootstrap and apt_install?
  assert.deepEqual(
    index.changedInside(R, 1, 3).map((s) => s.step),
    ['dpkg_config'],
  );
  assert.deepEqual(index.changedInside(R, 2, 3), [], 'strictly after the first state');
  assert.equal(index.previous(`${R}/etc/passwd`, 4)!.step, 'apt_install', 'the latest record holding the path');
  assert.equal(
    index.previous(`${R}/etc/dpkg/dpkg.cfg.d/asl`, 3)!.step,
    'dpkg_config',
    'the exact path recorded later wins',
  );
  assert.equal(index.previous('/elsewhere', 9), undefined);
});

test('a capture that watches its working directory: the root inside it continues into it and out of it', () => {
  const states = [
    state(1, 'bootstrap', '/w/root', null, d('R1')),
    state(2, 'config', '/w/root/etc/app.conf', d('C1'), d('C2')),
    // Watches /w, which holds /w/root: nothing recorded /w itself before.
    state(3, 'build', '/w', d('W1'), d('W2')),
    state(4, 'check', '/w/root', d('R2')),
    state(5, 'package', '/w/root/etc', d('E1'), d('E2')),
    state(6, 'ship', '/w', d('W3')),
  ];
  assert.deepEqual(new LaneIndex(states).plans().map(brief), [
    { path: '/w/root/etc/app.conf', from: 'bootstrap', to: 'config', through: [] },
    // Only the outermost recorded path inside /w continues into build (config's file is inside it).
    { path: '/w/root', from: 'bootstrap', to: 'build', through: ['config:/w/root/etc/app.conf'] },
    { path: '/w/root', from: 'build', to: 'check', through: [] },
    { path: '/w/root/etc', from: 'check', to: 'package', through: [] },
    { path: '/w', from: 'build', to: 'ship', through: ['package:/w/root/etc'] },
  ]);
});

test("of one receipt's states, the deepest is the previous one; readers are not changes", () => {
  const states = [
    state(1, 'both', '/w', d('W'), d('W2')),
    state(1, 'both', '/w/root', d('R'), d('R2')),
    state(2, 'reader', '/w/root/a', d('A')),
    state(3, 'writer', '/w/root/b', null, d('B')),
    state(3, 'writer', '/w/rootfs', null, d('X')),
    state(4, 'next', '/w/root', d('R3')),
  ];
  const index = new LaneIndex(states);
  assert.equal(index.previous('/w/root', 4)!.path, '/w/root');
  assert.deepEqual(
    index.changedInside('/w/root', 1, 4).map((s) => s.path),
    ['/w/root/b'],
    'the reader and /w/rootfs are not changes inside /w/root',
  );
});

test('pathStatesOf: watched roots, declared inputs and outputs, and roles it does not know', () => {
  const core = {
    kind: 'command',
    step: 's',
    command: { shell: 'x', argv: [], cwd: '/w' },
    program: [],
    environment: { variables: {} },
    exit: { kind: 'exited', code: 0 },
    traced: false,
    watched: [
      { path: '/w/root', reason: 'auto', before: d('R1'), after: d('R2'), added: 1, modified: 0, removed: 0 },
      { path: '/w/same', reason: 'flag', before: d('S'), after: d('S'), added: 0, modified: 0, removed: 0 },
      { path: '/w/gone', reason: 'cwd', before: null, after: null, added: 0, modified: 0, removed: 0 },
    ],
    inputs: [
      { name: '/w/in', role: 'declared', kind: 'tree', digest: d('IN'), path: '/w/in' },
      {
        name: 'receipt:/w/per/a.dsse.json',
        role: 'declared',
        kind: 'receipt',
        digest: d('RC'),
        path: '/w/per/a.dsse.json',
      },
      { name: 'program:/bin/sh', role: 'program', kind: 'blob', digest: d('SH'), path: '/bin/sh' },
      { name: '/w/root/x.deb', role: 'fetched-later', kind: 'package', digest: d('DEB'), path: '/w/root/x.deb' },
    ],
    outputs: [
      { name: 'stdout', role: 'stdout', kind: 'log', digest: d('O') },
      { name: '/w/root', role: 'watched', kind: 'tree', digest: d('R2'), path: '/w/root' },
      { name: '/w/out.bin', role: 'declared', kind: 'blob', digest: d('OUT'), path: '/w/out.bin' },
      { name: '/w/root/built.deb', role: 'built', kind: 'package', digest: d('BUILT'), path: '/w/root/built.deb' },
    ],
  } as unknown as CommandCore;
  const states = pathStatesOf({ id: receipt(7), seq: 7, step: 's' }, core);
  const byPath = Object.fromEntries(
    states.map((s) => [s.path, { before: s.before, after: s.after, changed: s.changed }]),
  );
  assert.deepEqual(byPath, {
    '/w/root': { before: { digest: d('R1'), dir: 'input' }, after: { digest: d('R2'), dir: 'output' }, changed: true },
    '/w/same': { before: { digest: d('S'), dir: 'input' }, after: { digest: d('S'), dir: 'input' }, changed: false },
    '/w/gone': { before: { digest: null, dir: 'input' }, after: { digest: null, dir: 'input' }, changed: false },
    '/w/in': { before: { digest: d('IN'), dir: 'input' }, after: undefined, changed: false },
    '/w/out.bin': { before: undefined, after: { digest: d('OUT'), dir: 'output' }, changed: true },
    // An output role this code does not know, with a path: something the step wrote.
    '/w/root/built.deb': { before: undefined, after: { digest: d('BUILT'), dir: 'output' }, changed: true },
  });
});
