// Crash safety, for real: `asl capture` (a command writing 300 files into a
// watched folder), `asl seed` and `asl bundle import` are each SIGKILLed (with
// their whole process group, like a power cut) at 50 or more random moments
// spread over their measured run time. After every kill `asl verify` must pass on
// the store (exit 0: no partial object, receipt or log entry visible; notes about
// tmp/ residue are allowed), and re-running the command must complete and verify.
// The figures are printed and written to test-artifacts/crash-figures.json; they
// are quoted in docs/transfer.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers.js';
import {
  KILLS,
  aslVerify,
  campaign,
  completeLogLines,
  figures,
  logCount,
  objectCount,
  receiveCampaign,
  receivingTemplate,
  runAndKill,
  runAsl,
  snapshotCli,
  timeRuns,
  timed,
  useCli,
} from './crash-campaign.js';
import { buildSource, copyTree, tempDir, treeDigest } from './fixture.js';

async function captureCampaign(dir: string): Promise<void> {
  // A command writing 300 files (new content every run) into a watched folder. Each
  // attempt starts from the same store (one earlier capture: a stat cache, a log),
  // so verify times stay constant; the re-run is on the store as the kill left it.
  const template = join(dir, 'capture-template');
  const store = join(dir, 'capture-store');
  const work = join(dir, 'work');
  await mkdir(join(work, 'out'), { recursive: true });
  assert.equal((await runAsl(['init', '--store', template])).code, 0);
  const captureArgs = (s: string) => [
    'capture',
    '--store',
    s,
    '--watch',
    'out',
    '--outdir',
    join(s, 'per', 'gen'),
    '--cmd',
    `i=0; while [ $i -lt 300 ]; do echo "${randomBytes(6).toString('hex')} $i" > out/f$i; i=$((i+1)); done`,
  ];
  assert.equal((await runAsl(captureArgs(template), { cwd: work })).code, 0);
  const reset = async () => {
    await rm(store, { recursive: true, force: true });
    copyTree(template, store);
  };
  const medianMs = await timeRuns(3, async () => {
    await reset();
    return (await runAndKill(captureArgs(store), 60_000, work)).ms;
  });
  await campaign('asl capture (300 files into a watched folder)', medianMs, async (delay) => {
    await reset();
    const before = logCount(store);
    const objectsBefore = objectCount(store);
    const attempt = await runAndKill(captureArgs(store), delay, work);
    return {
      attempt,
      afterKill: async () => ({
        ...(await aslVerify(store)),
        phase:
          logCount(store) > before
            ? 'receipt committed'
            : objectCount(store) > objectsBefore
              ? 'objects visible, no receipt yet'
              : 'nothing visible yet',
      }),
      rerun: async () => {
        // A line a killed capture left past the head is completed by the next append when its
        // receipt was stored, dropped when not (receipt-log.ts): the re-run adds one entry to
        // the head's, or to the head's and that line.
        const lo = logCount(store) + 1;
        const hi = Math.max(lo, completeLogLines(store) + 1);
        const { r, ms } = await timed(runAsl(captureArgs(store), { cwd: work }));
        if (r.code !== 0) return { ms, failure: `exit ${r.code}: ${r.stderr}` };
        if (logCount(store) < lo || logCount(store) > hi)
          return { ms, failure: `log has ${logCount(store)} entries, expected ${lo === hi ? lo : `${lo} to ${hi}`}` };
        const v = await aslVerify(store);
        return { ms, failure: v.ok ? null : v.out };
      },
    };
  });
}

async function seedCampaign(dir: string): Promise<void> {
  const src = await buildSource(join(dir, 'seed-src'), 300, runAsl);
  const sourceDigest = treeDigest(src.store);
  const parent = join(dir, 'iso_root/var/lib/asl');
  const into = join(parent, 'personal');
  const seedArgs = ['seed', '--store', src.store, '--into', into];
  const medianMs = await timeRuns(3, async () => {
    await rm(into, { recursive: true, force: true });
    return (await runAndKill(seedArgs, 60_000, dir)).ms;
  });
  await campaign('asl seed', medianMs, async (delay) => {
    await rm(into, { recursive: true, force: true });
    const attempt = await runAndKill(seedArgs, delay, dir);
    return {
      attempt,
      afterKill: async () => {
        // DIR is either absent or a complete store that verifies; the source is untouched.
        const exists = existsSync(into);
        const v = exists ? await aslVerify(into) : { ok: true, notes: 0, out: 'DIR absent' };
        const same = treeDigest(src.store) === sourceDigest;
        const building = readdirSync(parent).some((n) => n.startsWith('.personal.asl-seed-'));
        const phase = exists ? 'DIR in place' : building ? 'seed half-built beside DIR' : 'nothing written yet';
        return { ok: v.ok && same, notes: v.notes, phase, out: same ? v.out : 'the source store changed' };
      },
      rerun: async () => {
        // A re-run over a complete seed only checks it: only a fresh seed's time counts.
        const fresh = !existsSync(into);
        const { r, ms } = await timed(runAsl(seedArgs, { cwd: dir }));
        if (r.code !== 0) return { ms, failure: `exit ${r.code}: ${r.stderr}` };
        const leftovers = readdirSync(parent).filter((n) => n !== 'personal');
        if (leftovers.length > 0) return { ms, failure: `left beside DIR: ${leftovers.join(', ')}` };
        const v = await aslVerify(into);
        return { ms: fresh ? ms : NaN, failure: v.ok ? null : v.out };
      },
    };
  });
  assert.ok((await aslVerify(src.store)).ok);
}

async function importCampaign(dir: string): Promise<void> {
  const src = await buildSource(join(dir, 'import-src'), 300, runAsl);
  const bundle = join(dir, 'all.tar');
  assert.equal((await runAsl(['bundle', 'export', '--store', src.store, '-o', bundle])).code, 0);
  const template = await receivingTemplate(dir, 'target-template', `${src.keyId}.pub`, readFileSync(src.publicKey));
  const target = join(dir, 'target');
  await receiveCampaign('asl bundle import', ['bundle', 'import', '--store', target, bundle], {
    dir,
    template,
    target,
    expected: 1 + 3,
  });
}

test('SIGKILL at random moments: capture, seed and bundle import leave verifiable stores, and re-runs complete', {
  timeout: 30 * 60_000,
  concurrency: 3,
}, async (t) => {
  const dir = await tempDir(t, 'asl-crash-');
  useCli(snapshotCli(dir));
  // The three campaigns run side by side (each measures its own run time under the same load).
  await Promise.all([
    t.test('asl capture', () => captureCampaign(join(dir, 'capture'))),
    t.test('asl seed', () => seedCampaign(join(dir, 'seed'))),
    t.test('asl bundle import', () => importCampaign(join(dir, 'import'))),
  ]);
  const lines = figures.map(
    (f) =>
      `${f.command}: run ${f.medianRunMs} ms (median of 3; ${f.lastRunMs} ms at the end); kills at ${f.killAtMs.join('/')} ms (min/median/max); ${f.attempts} attempts, ${f.kills} kills, ${f.survivals} finished before the kill; verify passed after ${f.verifiedAfterKill}/${f.attempts} (${f.residueNotes} with tmp residue notes); kills left: ${Object.entries(
        f.killedIn,
      )
        .map(([k, n]) => `${k} ${n}`)
        .join(', ')}; ${f.reruns} re-runs completed and verified; ${f.wallSeconds} s`,
  );
  for (const l of lines) t.diagnostic(l);
  await mkdir(join(REPO_ROOT, 'test-artifacts'), { recursive: true });
  await writeFile(
    join(REPO_ROOT, 'test-artifacts', 'crash-figures.json'),
    `${JSON.stringify({ at: new Date().toISOString(), kills: KILLS, figures }, null, 2)}\n`,
  );
});
