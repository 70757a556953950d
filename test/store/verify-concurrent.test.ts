// Verify while others write: `asl verify` runs again and again while two processes keep
// putting new trees and two keep capturing (outdirs in per/, so per/ changes too). Every
// verify must give a consistent answer: exit 0 and no FAIL line. It reads a cut first (the
// log and the root records) and checks only what that cut references; what writers add
// after it is not judged as missing or unlisted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { aslOk, runAsl, tempDir, type RunResult } from '../helpers.js';

const WRITE_FOR_MS = 20_000;

test('verify during concurrent puts and captures: every run is clean', { timeout: 180_000 }, async (t) => {
  const dir = await tempDir(t);
  const store = join(dir, 'S');
  await aslOk(['init', '--store', store]);
  let writing = true;
  let puts = 0;
  let captures = 0;

  const putter = async (w: number) => {
    for (let i = 0; writing; i++) {
      const tree = join(dir, `tree-${w}-${i}`);
      await mkdir(join(tree, 'sub'), { recursive: true });
      for (let k = 0; k < 30; k++)
        await writeFile(join(tree, k % 3 ? 'sub' : '', `f${k}`), `writer ${w} round ${i} file ${k}\n`.repeat(k + 1));
      const r = await runAsl(['put', '--store', store, tree]);
      assert.equal(r.code, 0, r.stderr);
      puts++;
    }
  };
  const capturer = async (w: number) => {
    for (let i = 0; writing; i++) {
      const out = join(dir, `out-${w}`);
      await mkdir(out, { recursive: true });
      // A new step each round, and the same outdir again every third round (per/ files replaced).
      const step = i % 3 === 2 ? `cap${w}` : `cap${w}-${i}`;
      const r = await runAsl([
        'capture',
        '--store',
        store,
        '--cmd',
        `echo ${w}-${i} > ${join(out, `r${i}.txt`)}`,
        '--watch',
        out,
        '--outdir',
        join(store, 'per', step),
      ]);
      assert.equal(r.code, 0, r.stderr);
      captures++;
    }
  };
  const writers = [putter(0), putter(1), capturer(0), capturer(1)];

  const runs: RunResult[] = [];
  const started = Date.now();
  while (Date.now() - started < WRITE_FOR_MS) {
    runs.push(await runAsl(['verify', '--store', store, ...(runs.length % 2 ? ['--quick'] : [])]));
  }
  writing = false;
  await Promise.all(writers);

  t.diagnostic(
    `${runs.length} verifies (half --quick) during ${puts} puts and ${captures} captures in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  const bad = runs.filter((r) => r.code !== 0 || /^FAIL /m.test(r.stdout));
  assert.deepEqual(
    bad.map((r) =>
      r.stdout
        .split('\n')
        .filter((l) => l.startsWith('FAIL '))
        .slice(0, 3)
        .join('\n'),
    ),
    [],
    `${bad.length} of ${runs.length} verifies during ${puts} puts and ${captures} captures were not clean`,
  );
  assert.ok(
    runs.length >= 5 && puts >= 5 && captures >= 5,
    `enough overlap: ${runs.length} verifies, ${puts} puts, ${captures} captures`,
  );
  // And once the writers are done, the store is whole.
  assert.match((await aslOk(['verify', '--store', store])).stdout, /^OK: /m);
});
