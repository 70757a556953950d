// The audit's streaming origins (DirOrigins, one directory at a time, entries compared in
// their bytes) against a reference that diffs each link of the history whole with the
// store's tree diff and gives each path the newest link that added or changed it. The
// trees are real: a directory changed at random (files written, rewritten, chmod-ed,
// removed, turned into directories and back, symlinks retargeted) and put after each
// round; some rounds are steps, some happen between captures (gaps).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Digest } from '../../src/core/digest.js';
import { DirOrigins, type HistoryLink, type Origin, type RootView } from '../../src/graph/root-history.js';
import { TreeReader } from '../../src/graph/why-tree-path.js';
import { putPath } from '../../src/store/put.js';
import { initStore } from '../../src/store/store.js';
import { diffTrees, pathText } from '../../src/store/tree-diff.js';
import type { Store } from '../../src/store/store.js';
import type { TreeEntry } from '../../src/store/tree-model.js';
import { prng, tempDir, testSeed } from '../helpers.js';

async function listAll(dir: string, rel = ''): Promise<Array<{ rel: string; dir: boolean }>> {
  const out: Array<{ rel: string; dir: boolean }> = [];
  for (const d of await readdir(dir, { withFileTypes: true })) {
    const r = rel ? `${rel}/${d.name}` : d.name;
    out.push({ rel: r, dir: d.isDirectory() });
    if (d.isDirectory()) out.push(...(await listAll(join(dir, d.name), r)));
  }
  return out;
}

/** One round of changes to the tree at `root`. */
async function change(root: string, random: () => number, round: number): Promise<void> {
  const int = (n: number) => Math.floor(random() * n);
  const all = await listAll(root);
  const dirs = ['', ...all.filter((x) => x.dir).map((x) => x.rel)];
  for (let k = 0; k < 1 + int(6); k++) {
    // An earlier change of the round may have removed a path's parent or made it a file:
    // then this change does nothing.
    await changeOne(root, random, round, k, dirs, all).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT' && err.code !== 'ENOTDIR' && err.code !== 'EEXIST') throw err;
    });
  }
}

async function changeOne(
  root: string,
  random: () => number,
  round: number,
  k: number,
  dirs: string[],
  all: Array<{ rel: string; dir: boolean }>,
): Promise<void> {
  const int = (n: number) => Math.floor(random() * n);
  {
    const here = join(root, dirs[int(dirs.length)]!);
    const pick = all.length > 0 ? all[int(all.length)]! : undefined;
    switch (int(7)) {
      case 0:
      case 1:
        await writeFile(join(here, `f${round}-${k}`), `new ${round} ${k}\n`);
        break;
      case 2:
        if (pick && !pick.dir) await writeFile(join(root, pick.rel), `rewritten ${round} ${k}\n`);
        break;
      case 3:
        if (pick && !pick.dir) await chmod(join(root, pick.rel), 0o600 + int(2) * 0o100);
        break;
      case 4:
        // Files more often than whole directories.
        if (pick && (!pick.dir || int(3) === 0)) await rm(join(root, pick.rel), { recursive: true, force: true });
        break;
      case 5: {
        // A file becomes a directory, or a directory a file, at the same path.
        if (!pick) break;
        await rm(join(root, pick.rel), { recursive: true, force: true });
        if (pick.dir) await writeFile(join(root, pick.rel), `was a directory ${round}\n`);
        else {
          await mkdir(join(root, pick.rel));
          await writeFile(join(root, pick.rel, 'inside'), `was a file ${round}\n`);
        }
        break;
      }
      default: {
        const sub = join(here, `d${round}-${k}`);
        await mkdir(sub);
        await writeFile(join(sub, 'x'), `x ${round}\n`);
        await symlink(`../t${int(3)}`, join(sub, 'link'));
      }
    }
  }
}

/** The reference: each link diffed whole (newest first), each path given the first link that added or changed it. */
async function referenceOrigins(store: Store, links: HistoryLink[]): Promise<Map<string, Origin>> {
  const out = new Map<string, Origin>();
  for (const link of links) {
    const from = link.kind === 'step' ? link.before : link.from;
    const to = link.kind === 'step' ? link.after : link.to;
    for await (const c of diffTrees(store, from, to)) {
      if ((c.kind !== 'added' && c.kind !== 'modified') || c.type === 'dir') continue;
      const p = pathText(c.path);
      if (out.has(p)) continue;
      out.set(
        p,
        link.kind === 'step'
          ? { kind: 'step', index: link.index, via: 'root' }
          : { kind: 'unrecorded', afterIndex: link.fromIndex, beforeIndex: link.toIndex },
      );
    }
  }
  return out;
}

/** Every non-directory entry's origin, by the streaming walk. */
async function streamedOrigins(
  reader: TreeReader,
  tree: Digest,
  root: DirOrigins,
): Promise<Map<string, Origin | undefined>> {
  const out = new Map<string, Origin | undefined>();
  const visit = async (id: Digest, prefix: string, origins: DirOrigins) => {
    const t = await reader.mustTree(id);
    for (const e of t.entries as TreeEntry[]) {
      const p = prefix ? `${prefix}/${pathText(e.name)}` : pathText(e.name);
      if (e.type === 'dir') await visit(e.digest!, p, await origins.child(e.name));
      else out.set(p, await origins.origin(e.name, p));
    }
  };
  await visit(tree, '', root);
  return out;
}

test('streamed origins equal a whole-tree diff of every link, on a randomly changed real tree', async (t) => {
  const random = prng(testSeed(t));
  const dir = await tempDir(t);
  const { store } = await initStore(join(dir, 'store'));
  const root = join(dir, 'root');
  // A start of some size: 5 directories of 6 files, then random rounds.
  for (let d = 0; d < 5; d++) {
    await mkdir(join(root, `base${d}`), { recursive: true });
    for (let f = 0; f < 6; f++) await writeFile(join(root, `base${d}`, `file${f}`), `base ${d} ${f}\n`);
  }
  for (let i = 0; i < 3; i++) await change(root, random, 100 + i);
  const states: Digest[] = [];
  for (let round = 0; round < 12; round++) {
    if (round > 0) await change(root, random, round);
    states.push((await putPath(store, root, { useCache: false })).id);
  }
  // Receipts: round 0 created the root; each later round is a step, except every third (a
  // gap: the receipt after it saw a before-tree no receipt had left).
  const views: RootView[] = [{ index: 0, path: '/w/root', before: null, after: states[0]! }];
  for (let round = 1; round < states.length; round++) {
    if (round % 3 === 0) continue;
    views.push({ index: views.length, path: '/w/root', before: states[round - 1]!, after: states[round]! });
  }
  const reader = new TreeReader(store, { cacheTrees: 8, sync: true });
  const start = { tree: states[states.length - 1]!, path: '/w/root', below: views.length };
  const { links, root: origins } = await DirOrigins.ofRoot(reader, views, start);
  assert.ok(
    links.some((l) => l.kind === 'gap'),
    'the history has gaps',
  );
  const last = links[links.length - 1]!;
  assert.ok(
    last.kind === 'step' && last.index === 0 && last.before === null,
    'the chain ends at the step that created the root',
  );
  const streamed = await streamedOrigins(reader, start.tree, origins);
  const reference = await referenceOrigins(store, links);
  assert.ok(streamed.size > 20, `a tree of some size (${streamed.size} entries)`);
  for (const [p, origin] of streamed) assert.deepEqual(origin, reference.get(p), p);
  // Some content of every kind of origin: a step's write, and a write between captures.
  const kinds = new Set([...streamed.values()].map((o) => o?.kind));
  assert.ok(kinds.has('step') && kinds.has('unrecorded'), [...kinds].join(','));
});
