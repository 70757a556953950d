// The "done when" for `asl why`, on a store made by the real seed workflow script
// (examples/seed-workflow/asl-workflow.sh, what `npm run demo` runs) in a temp WORKDIR:
// debootstrap -> chroot apt-get install openssl hello -> overlay -> build. `why usr/bin/apt`
// names the debootstrap step and the apt .deb it downloaded; `diff` of a receipt agrees with
// the change counts the capture recorded; the store travels by bundle and seeds into an image root, and verifies. Slow: about 1-2 minutes.
import { test } from 'node:test';
import { objectIds } from '../store/tree-compare.js';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { WhyResult } from '../../src/graph/why.js';
import { REPO_ROOT, mountingTempDir, runAsl, runBashLogged } from '../helpers.js';
import { aslOk, digestOf } from '../capture/e2e-helpers.js';

const skip = process.getuid?.() !== 0 ? 'needs root (debootstrap, chroot)' : false;

interface Core {
  inputs: Array<{ name: string; role: string; digest: string; package?: { name: string; version: string } }>;
  watched: Array<{
    path: string;
    before: string | null;
    after: string | null;
    added: number;
    modified: number;
    removed: number;
  }>;
}

async function outdirReceipt(dir: string): Promise<{ id: string; core: Core }> {
  const envelope = await readFile(join(dir, 'per.dsse.json'));
  const statement = JSON.parse(Buffer.from(JSON.parse(envelope.toString()).payload, 'base64').toString()) as {
    predicate: { core: Core };
  };
  return { id: digestOf(envelope), core: statement.predicate.core };
}

test('seed workflow store: `asl why usr/bin/apt` names the debootstrap step and the apt .deb; diff agrees with the receipts', {
  skip,
  timeout: 15 * 60_000,
}, async (t) => {
  const WORKDIR = await mountingTempDir(t, 'asl-why-seed-');
  const t0 = Date.now();
  const run = await runBashLogged(
    join(REPO_ROOT, 'examples', 'seed-workflow', 'asl-workflow.sh'),
    { ...process.env, WORKDIR },
    join(WORKDIR, 'workflow.log'),
  );
  t.diagnostic(`seed workflow ran in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  if (run.code !== 0) {
    const lines = run.output.split('\n');
    assert.fail(
      `the seed workflow exited ${run.code}:\n${[...lines.filter((l) => !l.startsWith('I: ')).slice(-40), '...', ...lines.slice(-10)].join('\n')}`,
    );
  }
  const S = join(WORKDIR, 'asl-preimage-store');
  const debootstrap = await outdirReceipt(join(S, 'per', 'debootstrap'));
  const aptInstall = await outdirReceipt(join(S, 'per', 'apt_install'));
  const isoRoot = join(WORKDIR, 'iso_root');
  const aptDeb = debootstrap.core.inputs.find((i) => i.role === 'downloaded' && i.package?.name === 'apt');
  assert.ok(aptDeb, 'debootstrap recorded the apt .deb it downloaded');

  const t1 = Date.now();
  const why = JSON.parse((await aslOk(['why', '--store', S, 'usr/bin/apt', '--json'])).stdout) as WhyResult;
  t.diagnostic(`asl why usr/bin/apt: ${Date.now() - t1} ms`);
  // The newest output tree holding it: apt_install's after-tree of ISO_ROOT.
  assert.equal(why.tree, aptInstall.core.watched.find((w) => w.path === isoRoot)!.after);
  assert.equal(why.treeFrom!.step, 'apt_install');
  assert.deepEqual(
    why.history.map((s) => [s.seq, s.step, s.kind, s.receipt]),
    [[1, 'debootstrap', 'added', debootstrap.id]],
    'debootstrap put usr/bin/apt there; apt_install left it alone',
  );
  assert.equal(why.history[0]!.after.digest, digestOf(await readFile(join(isoRoot, 'usr', 'bin', 'apt'))));
  const owner = why.dpkg.owners[0]!;
  assert.deepEqual(
    [why.dpkg.owners.length, owner.package, owner.version, owner.check],
    [1, 'apt', aptDeb.package!.version, 'match'],
  );
  assert.deepEqual(
    [owner.deb!.digest, owner.deb!.name, owner.deb!.step, owner.deb!.receipt],
    [aptDeb.digest, aptDeb.name, 'debootstrap', debootstrap.id],
  );
  const text = (await aslOk(['why', '--store', S, 'usr/bin/apt'])).stdout;
  assert.match(text, /^ {2}#1 debootstrap +added +file /m);
  assert.match(text, new RegExp(`^  \\.deb {4}${aptDeb.digest}  ${aptDeb.name.replace(/[.+]/g, '\\$&')} `, 'm'));

  // A package apt_install brought: its step and its .deb.
  const hello = JSON.parse((await aslOk(['why', '--store', S, 'usr/bin/hello', '--json'])).stdout) as WhyResult;
  const helloDeb = aptInstall.core.inputs.find((i) => i.role === 'downloaded' && i.package?.name === 'hello')!;
  assert.deepEqual(
    hello.history.map((s) => [s.step, s.kind]),
    [['apt_install', 'added']],
  );
  assert.deepEqual(
    [hello.dpkg.owners[0]!.package, hello.dpkg.owners[0]!.deb!.digest, hello.dpkg.owners[0]!.deb!.receipt],
    ['hello', helloDeb.digest, aptInstall.id],
  );
  // A file both steps wrote.
  const status = JSON.parse((await aslOk(['why', '--store', S, 'var/lib/dpkg/status', '--json'])).stdout) as WhyResult;
  assert.deepEqual(
    status.history.map((s) => [s.step, s.kind]),
    [
      ['debootstrap', 'added'],
      ['apt_install', 'modified'],
    ],
  );

  // diff of the apt_install receipt: the same counts the capture recorded.
  const d = await runAsl(['diff', '--store', S, aptInstall.id, '--json']);
  assert.equal(d.code, 1);
  // One comparison per watched root (the working directory holds the image root): the image root's.
  const counts = (
    JSON.parse(d.stdout) as {
      comparisons: Array<{
        label: string;
        counts: { added: number; removed: number; modified: number; metadata: number };
      }>;
    }
  ).comparisons.find((c) => c.label === isoRoot)!.counts;
  const w = aptInstall.core.watched.find((x) => x.path === isoRoot)!;
  assert.deepEqual([counts.added, counts.removed, counts.modified + counts.metadata], [w.added, w.removed, w.modified]);

  // The same real store travels to an offline store through a bundle and verifies there.
  const bundle = join(WORKDIR, 'preimage.tar');
  let started = Date.now();
  await aslOk(['bundle', 'export', '--store', S, '-o', bundle]);
  const exportMs = Date.now() - started;
  const offline = join(WORKDIR, 'offline-store');
  await aslOk(['init', '--store', offline]);
  started = Date.now();
  await aslOk(['bundle', 'import', '--store', offline, bundle, '--trust', join(S, 'keys', 'signing.pub')]);
  t.diagnostic(
    `bundle export ${exportMs} ms, import ${Date.now() - started} ms (${(statSync(bundle).size / 1e6).toFixed(1)} MB)`,
  );
  await aslOk(['verify', '--store', offline]);
  // Object ids, loose or packed: an import writes loose objects where the workflow's snapshots packed them.
  assert.deepEqual(await objectIds(offline), await objectIds(S), 'every object of the workflow store arrived');
  assert.equal(
    (await aslOk(['log', '--store', offline])).stdout,
    (await aslOk(['log', '--store', S])).stdout,
    'the same history',
  );

  // And it seeds into an image root, where it verifies with the readable folders in place.
  const into = join(WORKDIR, 'seeded-root', 'var', 'lib', 'asl', 'personal');
  started = Date.now();
  const seeded = JSON.parse((await aslOk(['seed', '--store', S, '--into', into, '--json'])).stdout) as {
    objects: number;
    receipts: number;
    verify: { ok: boolean };
  };
  t.diagnostic(`seeded ${seeded.objects} objects, ${seeded.receipts} receipts in ${Date.now() - started} ms`);
  assert.equal(seeded.verify.ok, true);
  await aslOk(['verify', '--store', into]);
  for (const step of ['debootstrap', 'apt_install', 'build_iso']) {
    for (const f of ['per.json', 'per.dsse.json', 'stdout.log', 'stderr.log']) {
      assert.deepEqual(
        await readFile(join(into, 'per', step, f)),
        await readFile(join(S, 'per', step, f)),
        `per/${step}/${f}`,
      );
    }
  }
  assert.deepEqual(readdirSync(join(into, 'binaries')), readdirSync(join(S, 'binaries')));
  assert.equal(existsSync(join(into, 'keys', 'signing.key')), false, 'the build key stays behind');
});
