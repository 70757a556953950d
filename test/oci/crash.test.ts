// Crash safety of `asl push` and `asl pull`, for real, as for capture, seed and
// bundle import (test/transfer/crash.test.ts): each is SIGKILLed with its whole
// process group at 50 or more random moments spread over its measured run time,
// against a real registry (Debian's docker-registry, plain http, no auth).
//
//   push: after every kill the source store is unchanged, and the tag is either
//         absent or names a complete closure (every manifest and blob it reaches is
//         there and hashes to its digest); the re-run completes, and the tag then
//         names the whole closure, every object in a pack or a blob of its own;
//   pull: after every kill `asl verify` passes on the target (tmp/ residue notes
//         allowed); the re-run completes with every receipt logged and verifies.
//
// Figures: printed, and written to test-artifacts/crash-figures-registry.json
// (quoted in docs/registry.md).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prng, REPO_ROOT } from '../helpers.js';
import {
  KILLS,
  campaign,
  figures,
  receiveCampaign,
  receivingTemplate,
  runAndKill,
  runAsl,
  snapshotCli,
  timeRuns,
  timed,
  useCli,
} from '../transfer/crash-campaign.js';
import { buildSource, readBundleEntries, treeDigest } from '../transfer/fixture.js';
import type { BundleManifest } from '../../src/transfer/bundle-manifest.js';
import { startRegistry, type Registry } from './registry.js';
import { readPushed } from './pushed.js';

let reg: Registry;
let dir: string;
let source: string;
/** The objects of the source's whole closure, sorted. */
let objects: string[];
let receipts: number;
/** What the closure is, for the figures: "4 receipts, 2,372 objects, 3 packs". */
let what: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'asl-oci-crash-'));
  useCli(snapshotCli(dir));
  reg = await startRegistry({ tls: false, auth: 'none' });
  // Three receipts of small files (buildSource), and a 20 MB tree of 2,000 files ingested
  // whole: several packs, so kills land between packs as well as inside them.
  const fx = await buildSource(join(dir, 'src'), 300, runAsl);
  source = fx.store;
  const tree = join(dir, 'tree');
  const rand = prng(7);
  for (let d = 0; d < 20; d++) {
    await mkdir(join(tree, `d${d}`), { recursive: true });
    for (let f = 0; f < 100; f++) {
      await writeFile(
        join(tree, `d${d}`, `f${f}`),
        Buffer.from(Array.from({ length: 10_000 }, () => Math.floor(rand() * 256))),
      );
    }
  }
  assert.equal(
    (await runAsl(['capture', '--store', source, '--file', tree, '--outdir', join(source, 'per', 'tree')])).code,
    0,
  );
  const bundle = join(dir, 'all.tar');
  assert.equal((await runAsl(['bundle', 'export', '--store', source, '-o', bundle])).code, 0);
  const manifest = JSON.parse((await readBundleEntries(bundle))[0]!.data.toString()) as BundleManifest;
  objects = manifest.objects.map((o) => o.digest);
  receipts = manifest.receipts.length;
  const probe = await runAsl(['push', '--store', source, ref('crash/probe:all'), '--plain-http', '--json']);
  assert.equal(probe.code, 0, probe.stderr);
  const packs = (JSON.parse(probe.stdout) as { packs: { total: number } }).packs.total;
  what = `${receipts} receipts, ${objects.length.toLocaleString('en-US')} objects, ${packs} packs`;
});
after(async () => {
  await reg?.stop();
  await rm(dir, { recursive: true, force: true });
});

const ref = (path: string) => `oci://${reg.host}/${path}`;

/** null when the tag reaches a complete closure of exactly the source's objects, else what is wrong. */
async function completeClosure(repo: string, tag: string): Promise<string | null> {
  try {
    const held = await readPushed(reg, repo, tag);
    const carried = [...held.packs.flatMap((p) => p.slots.map((s) => s.digest)), ...held.own.keys()].sort();
    return JSON.stringify(carried) === JSON.stringify(objects)
      ? null
      : `the tag reaches ${carried.length} objects, the closure has ${objects.length}`;
  } catch (err) {
    return (err as Error).message;
  }
}

async function tagExists(repo: string, tag: string): Promise<boolean> {
  return (
    (
      await reg.get(`/v2/${repo}/manifests/${tag}`, {
        accept: 'application/vnd.oci.image.index.v1+json',
        'x-method': 'HEAD',
      })
    ).status === 200
  );
}

/** Push re-runs that found blobs the killed run had sent, and skipped them. */
let resumed = 0;

async function pushCampaign(): Promise<void> {
  const sourceDigest = treeDigest(source);
  let n = 0;
  const pushArgs = (repo: string) => ['push', '--store', source, ref(`${repo}:all`), '--plain-http'];
  const medianMs = await timeRuns(3, async () => (await runAndKill(pushArgs(`crash/push-m${n++}`), 60_000, dir)).ms);
  await campaign(`asl push (${what})`, medianMs, async (delay) => {
    // Each attempt into a repository of its own: a cold push, killed; the re-run meets what the kill left.
    const repo = `crash/push-${n++}`;
    const attempt = await runAndKill(pushArgs(repo), delay, dir);
    return {
      attempt,
      afterKill: async () => {
        const same = treeDigest(source) === sourceDigest;
        const tagged = await tagExists(repo, 'all');
        const problem = tagged ? await completeClosure(repo, 'all') : null;
        // Blobs the repository holds: the links distribution keeps in its storage.
        const layers = join(reg.storage, 'docker/registry/v2/repositories', repo, '_layers/sha256');
        const blobs = existsSync(layers) ? readdirSync(layers).length : 0;
        return {
          ok: same && problem === null,
          notes: 0,
          phase: tagged ? 'tag written' : blobs > 0 ? 'blobs uploaded, no tag yet' : 'nothing uploaded yet',
          out: !same ? 'the source store changed' : (problem ?? ''),
        };
      },
      rerun: async () => {
        const { r, ms } = await timed(runAsl([...pushArgs(repo), '--json'], { cwd: dir }));
        if (r.code !== 0) return { ms, failure: `exit ${r.code}: ${r.stderr}` };
        if ((JSON.parse(r.stdout) as { blobs: { skipped: number } }).blobs.skipped > 0) resumed++;
        const problem = await completeClosure(repo, 'all');
        return { ms, failure: problem ?? (treeDigest(source) === sourceDigest ? null : 'the source store changed') };
      },
    };
  });
}

async function pullCampaign(): Promise<void> {
  assert.equal((await runAsl(['push', '--store', source, ref('crash/pull:all'), '--plain-http'])).code, 0);
  const keyFile = readdirSync(join(source, 'keys', 'trusted'))[0]!;
  const template = await receivingTemplate(
    dir,
    'pull-template',
    keyFile,
    await readFile(join(source, 'keys', 'trusted', keyFile)),
  );
  const target = join(dir, 'pull-target');
  const pullArgs = ['pull', '--store', target, ref('crash/pull:all'), '--plain-http'];
  await receiveCampaign(`asl pull (${what})`, pullArgs, { dir, template, target, expected: 1 + receipts });
}

test('SIGKILL at random moments: push leaves a tag only on a complete closure, pull a store that verifies, and re-runs complete', {
  timeout: 30 * 60_000,
  concurrency: 2,
}, async (t) => {
  await Promise.all([t.test('asl push', () => pushCampaign()), t.test('asl pull', () => pullCampaign())]);
  const lines = figures.map(
    (f) =>
      `${f.command}: run ${f.medianRunMs} ms (median of 3; ${f.lastRunMs} ms at the end); kills at ${f.killAtMs.join('/')} ms (min/median/max); ${f.attempts} attempts, ${f.kills} kills, ${f.survivals} finished before the kill; the check passed after ${f.verifiedAfterKill}/${f.attempts} (${f.residueNotes} with tmp residue notes); kills left: ${Object.entries(
        f.killedIn,
      )
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}; ${f.reruns} re-runs completed and checked; ${f.wallSeconds} s`,
  );
  lines.push(`asl push re-runs that skipped blobs the killed run had sent: ${resumed}`);
  for (const l of lines) t.diagnostic(l);
  await mkdir(join(REPO_ROOT, 'test-artifacts'), { recursive: true });
  await writeFile(
    join(REPO_ROOT, 'test-artifacts', 'crash-figures-registry.json'),
    `${JSON.stringify({ at: new Date().toISOString(), kills: KILLS, figures, pushResumed: resumed }, null, 2)}\n`,
  );
});
