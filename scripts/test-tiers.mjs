#!/usr/bin/env node
// The two test tiers, and the one place that says which test file is in which.
//
//   node scripts/test-tiers.mjs check     every test/**/*.test.ts is in exactly one tier
//   node scripts/test-tiers.mjs unit      check, then run the unit tier    (npm run test:unit)
//   node scripts/test-tiers.mjs all       check, then run both tiers       (npm test)
//   node scripts/test-tiers.mjs full      check, then run the full tier only
//
// Run after `tsc -p .` (the npm scripts do): the files run are the compiled dist/test/….js.
//
// The rule. A test file is in the unit tier when it needs no network, no debootstrap root
// (test/fixtures.ts bookwormMinbaseRoot, even when .cache holds one), no qemu, no registry
// and no Debian tool beyond UNIT_TOOLS (installed once beforehand), and when it runs in
// seconds, not minutes (a SIGKILL campaign is not). Every other test file is in the full
// tier, with the reason next to it; a file with one such test among fast ones is split.
// The unit tier then passes offline (inside `unshare -n`, where not even loopback is up).
// While it runs, test/fixtures.ts holds the tests to the rule: bookwormMinbaseRoot fails,
// and so does ensureDebianPackages for a package outside UNIT_TOOLS; it installs nothing.
//
// A new test file goes into UNIT or FULL below; `check` (run by every tier, so by
// `npm test` and CI) fails while a test file is in neither or in both.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Debian packages the unit tier may use: small command-line tools, none of them a service or a toolchain. */
const UNIT_TOOLS = [
  'attr',
  'busybox-static',
  'coreutils',
  'e2fsprogs',
  'findutils',
  'mount',
  'python3',
  'strace',
  'tar',
  'time',
  'util-linux',
];

/** Test files (under test/) that break the unit tier's rule, and why. */
const FULL = {
  'auth-host/iso-e2e.test.ts': 'builds the ASL-AUTH-HOST ISO from debootstrap and boots it in qemu',
  'capture/deb-package-mirror.test.ts': 'a real package from the Debian mirror (apt-get download)',
  'capture/e2e-products.test.ts':
    'dpkg-buildpackage of a C package and a xorriso ISO (build-essential, dpkg-dev, xorriso)',
  'capture/e2e-seed.test.ts': 'runs debootstrap from the Debian mirror',
  'capture/program-debootstrap.test.ts': 'the debootstrap root',
  'export/export-formats.test.ts': "in-toto's and securesystemslib's own verifiers (in-toto, python3-securesystemslib)",
  'export/intoto-verify.test.ts': 'the debootstrap root, and in-toto-verify',
  'graph/audit.test.ts': 'the debootstrap root',
  'graph/dag-formats.test.ts': 'graphviz and Chromium',
  'graph/dag-html.test.ts': 'Chromium',
  'graph/dag-lanes.test.ts': 'Chromium',
  'graph/sbom.test.ts': 'the debootstrap root',
  'graph/why-dpkg.test.ts': 'the debootstrap root',
  'graph/why-seed.test.ts': 'runs the seed workflow: debootstrap and apt-get install from the Debian mirror',
  'oci/crash.test.ts': 'a registry (docker-registry), and SIGKILL campaigns of push and pull',
  'oci/packs.test.ts': 'a registry (docker-registry)',
  'oci/push-pull.test.ts': 'a registry (docker-registry)',
  'oci/registry-doc.test.ts': 'a registry (docker-registry) with token auth',
  'oci/token-auth.test.ts': 'a registry (docker-registry)',
  'oci/waits.test.ts': 'a registry (docker-registry)',
  'store/debootstrap.test.ts': 'the debootstrap root',
  'store/verify-tree-debian.test.ts': 'the debootstrap root',
  'transfer/crash.test.ts': 'SIGKILL campaigns (50 kills each of capture, seed and bundle import): about 6 minutes',
};

/** Test files (under test/) in the unit tier. */
const UNIT = [
  'layers.test.ts',
  'library-example.test.ts',
  'capture/auto-watch.test.ts',
  'capture/command-words.test.ts',
  'capture/deb-package.test.ts',
  'capture/dpkg-cache.test.ts',
  'capture/dpkg.test.ts',
  'capture/e2e-command.test.ts',
  'capture/e2e-exit.test.ts',
  'capture/e2e-secrets.test.ts',
  'capture/e2e-tamper.test.ts',
  'capture/e2e-trace.test.ts',
  'capture/environment.test.ts',
  'capture/program.test.ts',
  'capture/run-command.test.ts',
  'capture/trace.test.ts',
  'cli/audit-stream.test.ts',
  'cli/bad-input.test.ts',
  'cli/bundle.test.ts',
  'cli/cmd-bytes.test.ts',
  'cli/first-use.test.ts',
  'cli/help.test.ts',
  'cli/host-store.test.ts',
  'cli/key.test.ts',
  'cli/messages.test.ts',
  'core/canonical-json.test.ts',
  'core/shell-lexer-dash.test.ts',
  'core/write-file-atomic.test.ts',
  'graph/dag-labels.test.ts',
  'graph/dag-lineage.test.ts',
  'graph/dag-options.test.ts',
  'graph/dag-scale.test.ts',
  'graph/diff-trees.test.ts',
  'graph/lane-plan.test.ts',
  'graph/rebuild-check.test.ts',
  'graph/root-history.test.ts',
  'graph/root-origins.test.ts',
  'graph/why-steps.test.ts',
  'receipt/docs-example.test.ts',
  'receipt/receipt-log.test.ts',
  'receipt/sign-verify.test.ts',
  'receipt/statement.test.ts',
  'receipt/store-receipt.test.ts',
  'receipt/trusted-keys.test.ts',
  'receipt/verified-index.test.ts',
  'store/blobs.test.ts',
  'store/cache-forgery.test.ts',
  'store/concurrency.test.ts',
  'store/ingest-reference.test.ts',
  'store/ingest-tree-encode.test.ts',
  'store/init.test.ts',
  'store/lock.test.ts',
  'store/pack-index.test.ts',
  'store/packs.test.ts',
  'store/private.test.ts',
  'store/rollback.test.ts',
  'store/stat-cache.test.ts',
  'store/tamper.test.ts',
  'store/tmp-sweep.test.ts',
  'store/digest-sizes.test.ts',
  'store/pack-index-lazy.test.ts',
  'store/tree-entry-diff.test.ts',
  'store/trees.test.ts',
  'store/umask.test.ts',
  'store/verify-concurrent.test.ts',
  'store/verify-per.test.ts',
  'store/verify-tree-hasher.test.ts',
  'store/verify-tree.test.ts',
  'store/verify.test.ts',
  'transfer/bundle.test.ts',
  'transfer/hostile.test.ts',
  'transfer/receive-object.test.ts',
  'transfer/seed-destination.test.ts',
  'transfer/seed.test.ts',
  'transfer/tar.test.ts',
  'transfer/unsigned.test.ts',
];

function testFiles(dir) {
  const found = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...testFiles(path));
    else if (entry.name.endsWith('.test.ts')) found.push(relative(join(repo, 'test'), path).split(sep).join('/'));
  }
  return found;
}

/** The problems with the lists: a test file in no tier or in both, an entry naming no file. */
function tierProblems() {
  const files = new Set(testFiles(join(repo, 'test')));
  const unit = new Set(UNIT);
  const full = new Set(Object.keys(FULL));
  const problems = [];
  for (const f of [...files].sort()) {
    if (unit.has(f) && full.has(f)) problems.push(`test/${f} is in both tiers`);
    else if (!unit.has(f) && !full.has(f))
      problems.push(`test/${f} is in no tier: add it to UNIT or FULL in scripts/test-tiers.mjs`);
  }
  for (const f of [...unit, ...full])
    if (!files.has(f)) problems.push(`scripts/test-tiers.mjs lists test/${f}, which does not exist`);
  if (unit.size !== UNIT.length) problems.push('scripts/test-tiers.mjs lists a file twice in UNIT');
  return problems;
}

function missingPackages(pkgs) {
  return pkgs.filter((p) => {
    const r = spawnSync('dpkg-query', ['-W', '-f=${db:Status-Abbrev}', p], { encoding: 'utf8' });
    return !(r.status === 0 && r.stdout.startsWith('ii'));
  });
}

function main(argv) {
  const [tier, ...nodeArgs] = argv;
  if (!['check', 'unit', 'full', 'all'].includes(tier)) {
    process.stderr.write('usage: node scripts/test-tiers.mjs check|unit|full|all [node --test options]\n');
    return 2;
  }
  const problems = tierProblems();
  if (problems.length > 0) {
    for (const p of problems) process.stderr.write(`test-tiers: ${p}\n`);
    return 1;
  }
  if (tier === 'check') return 0;

  const env = { ...process.env };
  if (tier === 'unit') {
    const missing = missingPackages(UNIT_TOOLS);
    if (missing.length > 0) {
      process.stderr.write(
        `test-tiers: the unit tier installs nothing; install its tools once: scripts/ensure-debian-packages.sh ${missing.join(' ')}\n`,
      );
      return 1;
    }
    env.ASL_TEST_TIER = 'unit';
    env.ASL_TEST_TOOLS = UNIT_TOOLS.join(' ');
  }
  const sources = tier === 'unit' ? UNIT : tier === 'full' ? Object.keys(FULL) : [...UNIT, ...Object.keys(FULL)].sort();
  const compiled = sources.map((f) => join('dist', 'test', f.replace(/\.ts$/, '.js')));
  const stale = compiled.filter((f) => !existsSync(join(repo, f)));
  if (stale.length > 0) {
    process.stderr.write(`test-tiers: not compiled: ${stale.join(' ')} (run tsc -p . first)\n`);
    return 1;
  }
  const child = spawn(process.execPath, ['--test', '--test-concurrency=2', ...nodeArgs, ...compiled], {
    cwd: repo,
    env,
    stdio: 'inherit',
  });
  child.on('close', (code, signal) => {
    process.exitCode = code ?? (signal ? 1 : 0);
  });
  return undefined;
}

const code = main(process.argv.slice(2));
if (code !== undefined) process.exitCode = code;
