import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runAsl, tempDir } from '../helpers.js';
import { ensureDebianPackages } from '../fixtures.js';
import { assertSameTree, cliInit, cliRestore, objectIds, tmpEntries } from './tree-compare.js';

const WRITERS = 4;
const ROUNDS = 3;

/** Deterministic content: the same key gives the same bytes in every tree. */
function content(key: string, size = 200): Buffer {
  const out = Buffer.alloc(size);
  let block = createHash('sha256').update(key).digest();
  for (let o = 0; o < size; o += block.length) {
    block.copy(out, o);
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

/**
 * Tree `i` of round `round`: a directory identical in every tree, files whose
 * content other trees share (some at the same path, some elsewhere), files only
 * this tree has, and large files (streamed path) shared between pairs of trees.
 */
async function writeTree(root: string, i: number, round: number): Promise<void> {
  await mkdir(join(root, 'common', 'deeper'), { recursive: true });
  for (let k = 0; k < 40; k++)
    await writeFile(join(root, 'common', k % 2 ? 'deeper' : '', `c${k}`), content(`common-${k}`));
  await mkdir(join(root, 'shared'), { recursive: true });
  for (let k = 0; k < 120; k++) {
    if (k % (i + 2) === 0)
      await writeFile(join(root, 'shared', `s${k}`), content(`shared-${k}-r${round}`, 100 + k * 37));
  }
  await mkdir(join(root, 'mine', `t${i}`), { recursive: true });
  for (let k = 0; k < 60; k++)
    await writeFile(join(root, 'mine', `t${i}`, `u${k}`), content(`unique-${i}-${k}-r${round}`, 50 + k));
  // Same content under a different name in each tree.
  await writeFile(join(root, `alias-of-pool-${i}`), content(`pool-r${round}`, 3000));
  // Large files: trees 0/1 share one, 2/3 share another (same bytes written concurrently).
  await writeFile(join(root, 'large.bin'), content(`large-${i >> 1}-r${round}`, 5 * 1024 * 1024 + 11));
}

test(`${WRITERS} processes putting overlapping trees into one store at once, ${ROUNDS} rounds: every id restores exactly, verify is clean`, {
  timeout: 300_000,
}, async (t) => {
  await ensureDebianPackages('attr');
  const dir = await tempDir(t);
  const store = await cliInit(join(dir, 'S'));
  for (let round = 0; round < ROUNDS; round++) {
    const trees: string[] = [];
    for (let i = 0; i < WRITERS; i++) {
      const root = join(dir, `r${round}`, `tree${i}`);
      await writeTree(root, i, round);
      trees.push(root);
    }
    // In the last round two writers put the very same tree.
    const targets = round === ROUNDS - 1 ? [trees[0]!, trees[0]!, trees[1]!, trees[2]!] : trees;
    const results = await Promise.all(targets.map((tree) => runAsl(['put', '--store', store, tree])));
    const ids: string[] = [];
    results.forEach((r, i) => {
      assert.equal(r.code, 0, `round ${round} writer ${i}: ${r.stderr}`);
      assert.equal(r.stderr, '');
      assert.match(r.stdout, /^sha256:[0-9a-f]{64}\n$/);
      ids.push(r.stdout.trim());
    });
    if (round === ROUNDS - 1) assert.equal(ids[0], ids[1], 'the same tree put twice at once has one id');
    assert.equal(new Set(ids).size, round === ROUNDS - 1 ? WRITERS - 1 : WRITERS);

    for (const [i, id] of ids.entries()) {
      const dest = join(dir, `restored-r${round}-${i}`);
      await cliRestore(store, id, dest);
      await assertSameTree(targets[i]!, dest);
    }
    const verify = await runAsl(['verify', '--store', store, '--json']);
    assert.equal(verify.code, 0, verify.stdout);
    const report = JSON.parse(verify.stdout) as {
      ok: boolean;
      problems: unknown[];
      notes: string[];
      counts: Record<string, number>;
    };
    assert.equal(report.ok, true);
    assert.deepEqual(report.problems, []);
    assert.deepEqual(report.notes, [], 'no residue (stray files, unreferenced incomplete trees, temp files)');
    assert.deepEqual(await tmpEntries(store), [], `round ${round}: tmp/ is empty`);
    const stray = (await readdir(join(store, 'refs', 'put'))).filter((n) => !/^[0-9a-f]{64}$/.test(n));
    assert.deepEqual(stray, [], 'no temporary ref files left');
    t.diagnostic(`round ${round}: ${(await objectIds(store)).length} objects in the store`);
  }
});
