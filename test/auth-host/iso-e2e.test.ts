// The ASL-AUTH-HOST proof, for real (issues 6 and 11): the workflow builds the ISO from
// Debian (examples/asl-auth-host/asl-workflow.sh); a second build, in another work dir,
// under another host name, offline (unshare -n) and from the first build's store alone
// (REBUILD_FROM), must give the same tree ids from debootstrap to image_root and an ISO
// whose every file outside asl-history has the same sha256. qemu boots the rebuilt ISO
// (software emulation, serial console, no network device) and the host must print its
// provenance line with OK; a copy whose squashfs has one byte of one file changed must
// print FAILED naming that file. The image's own asl (one-file build on Debian's nodejs
// 18) is then run inside the extracted root: log, why and asl-dag on the default store,
// and asl-capture appending to the seeded history. Slow: about 25-35 minutes on 2 cores
// without KVM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile, open } from 'node:fs/promises';
import { join } from 'node:path';
import { ensureDebianPackages } from '../fixtures.js';
import { REPO_ROOT } from '../helpers.js';

const TOP = join(REPO_ROOT, 'work', 'test-asl-auth-host');
const FIRST = join(TOP, 'first');
const FIRST_ISO = join(FIRST, 'out', 'asl-auth-host.iso');
const FIRST_STORE = join(FIRST, 'asl-preimage-store');
// The rebuild is the image this test boots and inspects.
const WORKDIR = join(TOP, 'rebuild');
const ISO = join(WORKDIR, 'out', 'asl-auth-host.iso');
const STORE = join(WORKDIR, 'asl-preimage-store');
const TAMPER_DIR = join(WORKDIR, 'tamper');
/** The serial consoles of the two boots, as qemu wrote them. */
const SERIAL_OK = join(WORKDIR, 'serial-ok.log');
const SERIAL_TAMPERED = join(WORKDIR, 'serial-tampered.log');
const ROOT_STEPS = ['debootstrap', 'dpkg_config', 'apt_install', 'image_root'];
const TAMPERED_FILE = '/usr/bin/passwd';
const BOOT_TIMEOUT_S = 1500;

/** Every provenance line the boot printed (the console's copy and the boot script's). */
function provenanceLines(output: string): string[] {
  return output
    .replace(/\r/g, '')
    .split('\n')
    .map((l) => /ASL-AUTH-HOST provenance: .*/.exec(l)?.[0])
    .filter((l): l is string => l !== undefined);
}

/** The machine ids a boot printed on its serial console: each made at this boot from the image's empty file. */
function machineIds(output: string): string[] {
  const lines = output
    .replace(/\r/g, '')
    .split('\n')
    .map((l) => /ASL-AUTH-HOST machine-id: .*/.exec(l)?.[0])
    .filter((l): l is string => l !== undefined);
  assert.ok(lines.length > 0, 'the boot printed its machine id');
  return lines.map((l) => {
    const m = /^ASL-AUTH-HOST machine-id: ([0-9a-f]{32}), the image holds an empty one: made at this boot$/.exec(l);
    assert.ok(m, l);
    return m[1]!;
  });
}

interface Run {
  code: number | null;
  output: string;
  seconds: number;
}

/** Runs a program in its own process group, killed (group and all) on timeout or when the test ends. */
function run(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs: number; log?: string },
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const child = spawn(cmd, args, {
      env: opts.env ?? process.env,
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.stderr.on('data', (c: Buffer) => chunks.push(c));
    const kill = () => {
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        /* gone */
      }
    };
    const timer = setTimeout(kill, opts.timeoutMs);
    process.once('exit', kill);
    child.on('error', reject);
    child.on('close', async (code) => {
      clearTimeout(timer);
      process.removeListener('exit', kill);
      kill(); // anything it left behind in its group (qemu)
      const output = Buffer.concat(chunks).toString('utf8');
      if (opts.log) await writeFile(opts.log, output);
      resolve({ code, output, seconds: (Date.now() - t0) / 1000 });
    });
  });
}

function tail(text: string, lines = 40): string {
  return text.split('\n').slice(-lines).join('\n');
}

async function sha256(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return `sha256:${h.digest('hex')}`;
}

function aslJson<T>(args: string[]): T {
  return JSON.parse(
    execFileSync(process.execPath, [join(REPO_ROOT, 'bin', 'asl'), ...args, '--json'], {
      encoding: 'utf8',
      maxBuffer: 256 * 1024 * 1024,
    }),
  ) as T;
}

/** Runs a command inside ROOT (chroot) with the host-side environment of an operator's shell. */
function inRoot(root: string, command: string): string {
  return execFileSync('chroot', [root, '/bin/sh', '-c', command], {
    encoding: 'utf8',
    env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', LANG: 'C.UTF-8' },
    maxBuffer: 64 * 1024 * 1024,
  });
}

interface LogItem {
  seq: number;
  receipt: string;
  step: string;
  ok: boolean;
  kind?: string;
  status?: string;
}

/** The after-tree of iso_root recorded by each of the store's root-shaping steps. */
function rootTrees(store: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of aslJson<LogItem[]>(['log', '--store', store])) {
    if (!ROOT_STEPS.includes(item.step)) continue;
    const core = aslJson<{ statement: { predicate: { core: { watched: Array<{ path: string; after: string }> } } } }>([
      'show',
      '--store',
      store,
      item.receipt,
    ]).statement.predicate.core;
    assert.deepEqual(
      core.watched.map((w) => w.path.split('/').pop()),
      ['iso_root'],
      `${item.step} watches exactly iso_root`,
    );
    out[item.step] = core.watched[0]!.after;
  }
  return out;
}

/** sha256 of every file in an ISO, read in place (examples/asl-auth-host/iso-digests.mjs). */
function isoDigests(iso: string): Map<string, string> {
  const text = execFileSync(process.execPath, [join(REPO_ROOT, 'examples', 'asl-auth-host', 'iso-digests.mjs'), iso], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  return new Map(
    text
      .trim()
      .split('\n')
      .map((l) => {
        const [digest, , path] = l.split('  ');
        return [path!, digest!] as [string, string];
      }),
  );
}

test('ASL-AUTH-HOST: build the ISO, rebuild it offline from the store (same bytes), boot it (OK), boot a tampered copy (FAILED naming the file), host commands on the image', {
  timeout: 80 * 60_000,
}, async (t) => {
  await ensureDebianPackages('qemu-system-x86', 'squashfs-tools', 'xorriso');
  await rm(TOP, { recursive: true, force: true });
  await mkdir(FIRST, { recursive: true });
  await mkdir(WORKDIR, { recursive: true });
  t.after(async () => {
    // A chroot of a failed step may hold mounts below the work dir.
    execFileSync('bash', [
      '-c',
      `awk -v d="${TOP}/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r | xargs -r -n1 umount -l`,
    ]);
  });

  // --- 1. the build, and its rebuild: another work dir, another host name, no network,
  // every package and index from the first build's store
  const workflow = join(REPO_ROOT, 'examples', 'asl-auth-host', 'asl-workflow.sh');
  const first = await run('bash', [workflow], {
    env: { ...process.env, WORKDIR: FIRST, SOURCE_DATE_EPOCH: '1700000000' },
    timeoutMs: 35 * 60_000,
    log: join(FIRST, 'workflow.log'),
  });
  t.diagnostic(`first build: ${first.seconds.toFixed(0)} s`);
  assert.equal(first.code, 0, `the first build failed:\n${tail(first.output)}`);
  const build = await run('unshare', ['-u', '-n', 'bash', '-c', 'hostname asl-rebuilder && exec bash "$0"', workflow], {
    env: { ...process.env, WORKDIR, SOURCE_DATE_EPOCH: '1700000000', REBUILD_FROM: FIRST_STORE },
    timeoutMs: 35 * 60_000,
    log: join(WORKDIR, 'workflow.log'),
  });
  t.diagnostic(`rebuild (offline, from the store): ${build.seconds.toFixed(0)} s`);
  assert.equal(build.code, 0, `the rebuild failed:\n${tail(build.output)}`);
  for (const s of [
    'init',
    'debootstrap',
    'dpkg_config',
    'apt_install',
    'overlay',
    'image_root',
    'seed',
    'build_iso',
    'dag',
    'rebuild',
  ]) {
    assert.match(build.output, new RegExp(`^\\[\\d+/10\\] ${s} .* ok \\(`, 'm'), `step ${s} reported ok`);
  }
  assert.match(build.output, /store-mirror: ready/, 'the rebuild served the mirror from the store');
  const served = await readFile(join(WORKDIR, 'build_logs', 'store-mirror.log'), 'utf8');
  assert.match(served, /GET \/debian\/dists\/bookworm\/InRelease 200/);
  assert.match(
    served,
    /GET \/debian\/pool\/main\/l\/linux-signed-amd64\/linux-image-[^ ]+\.deb 200/,
    'the kernel package came from the store',
  );

  // Same inputs, same image: every root-shaping step's tree, every ISO file but the history.
  const treesFirst = rootTrees(FIRST_STORE);
  const treesRebuild = rootTrees(STORE);
  assert.deepEqual(Object.keys(treesFirst), ROOT_STEPS);
  assert.deepEqual(treesRebuild, treesFirst, 'the same tree ids from debootstrap to image_root');
  const filesFirst = isoDigests(FIRST_ISO);
  const filesRebuild = isoDigests(ISO);
  assert.deepEqual([...filesRebuild.keys()], [...filesFirst.keys()], 'the same files in both ISOs');
  for (const f of [
    '/live/filesystem.squashfs',
    '/live/asl-history.squashfs',
    '/live/vmlinuz',
    '/live/initrd.img',
    '/efi.img',
    '/boot/grub/grub.cfg',
  ])
    assert.ok(filesFirst.has(f), `the ISO holds ${f}`);
  const differing = [...filesFirst]
    .filter(([path, digest]) => !path.includes('asl-history') && filesRebuild.get(path) !== digest)
    .map(([path]) => path);
  assert.deepEqual(differing, [], 'every ISO file outside asl-history is bit-for-bit the same');
  t.diagnostic(
    `OS part: live/filesystem.squashfs ${filesFirst.get('/live/filesystem.squashfs')} in both; ${filesFirst.size} files compared`,
  );
  // The verdict is history too: a signed receipt of kind "rebuild" in the rebuild's store.
  // It judged every step up to image_root (the later ones hold each builder's own history).
  const verdictLog = aslJson<LogItem[]>(['log', '--store', STORE]).filter((i) => i.kind === 'rebuild');
  assert.deepEqual(
    verdictLog.map((i) => i.status),
    ['reproduced'],
    'the rebuild recorded one verdict: reproduced',
  );
  const verdict = JSON.parse(await readFile(join(WORKDIR, 'build_logs', 'rebuild-verdict.json'), 'utf8')) as {
    verdict: string;
    receipt: string;
    keyId: string;
    core: { firstDiverged: unknown; counts: { pairs: number; reproduced: number; diverged: number } };
  };
  assert.equal(verdict.verdict, 'reproduced');
  assert.equal(verdict.receipt, verdictLog[0]!.receipt);
  assert.equal(verdict.core.firstDiverged, null);
  assert.deepEqual([verdict.core.counts.diverged, verdict.core.counts.reproduced], [0, verdict.core.counts.pairs]);
  assert.ok(verdict.core.counts.pairs >= ROOT_STEPS.length, `${verdict.core.counts.pairs} steps paired`);
  execFileSync(
    process.execPath,
    [
      join(REPO_ROOT, 'bin', 'asl'),
      'verify',
      '--store',
      STORE,
      '--require-rebuild',
      verdict.keyId,
      '--image-step',
      'image_root',
    ],
    { stdio: 'ignore' },
  );
  const iso = await stat(ISO);
  t.diagnostic(`ISO: ${(iso.size / 1e6).toFixed(0)} MB`);
  assert.equal(
    (await readFile(`${ISO}.sha256`, 'utf8')).split(' ')[0],
    (await sha256(ISO)).slice(7),
    'the ISO is the one whose sha256 the build wrote',
  );
  const svg = await readFile(join(WORKDIR, 'build_logs', 'preimage_dag.svg'), 'utf8');
  assert.match(svg, /<svg[\s\S]*image_root[\s\S]*<\/svg>/, 'the DAG names the steps');

  // The build store: every step, in order; the build's output tree holds the ISO.
  const fullLog = aslJson<LogItem[]>(['log', '--store', STORE]);
  const log = fullLog.filter((i) => i.kind !== 'rebuild');
  const steps = log.map((i) => i.step);
  assert.deepEqual(
    [...new Set(steps)],
    ['debootstrap', 'dpkg_config', 'apt_install', 'overlay', 'image_root', 'build_iso'],
  );
  assert.ok(log.every((i) => i.ok));
  const imageRoot = log.find((i) => i.step === 'image_root')!;
  const shown = aslJson<{
    statement: {
      predicate: {
        core: {
          watched: Array<{ path: string; after: string }>;
          outputs: Array<{ role: string; path?: string; digest: string }>;
        };
      };
    };
  }>(['show', '--store', STORE, imageRoot.receipt]);
  const watched = shown.statement.predicate.core.watched;
  assert.equal(watched.length, 1);
  assert.equal(watched[0]!.path, join(WORKDIR, 'iso_root'));
  const rootTree = watched[0]!.after;
  const buildIso = log.find((i) => i.step === 'build_iso')!;
  type BuildCore = {
    command: { shell: string };
    watched: Array<{ path: string; reason: string; after: string }>;
    inputs: Array<{ kind: string; digest: string; name: string }>;
    outputs: Array<{ role: string; kind: string; path?: string; digest: string }>;
  };
  const b = aslJson<{ statement: { predicate: { core: BuildCore } } }>(['show', '--store', STORE, buildIso.receipt])
    .statement.predicate.core;
  // The seed's line as written (no --watch, --input or --output): the working directory is watched.
  assert.equal(b.command.shell, './build_asl_auth_host_iso.sh');
  assert.deepEqual(
    b.watched.map((w) => [w.path, w.reason]),
    [[WORKDIR, 'cwd']],
  );
  const isoOut = b.outputs.find((o) => o.path === ISO);
  assert.deepEqual(
    [isoOut?.role, isoOut?.kind, isoOut?.digest],
    ['product', 'blob', await sha256(ISO)],
    'the build receipt names the ISO by digest',
  );
  const listing = aslJson<Array<{ name: string; digest: string }>>([
    'ls',
    '--store',
    STORE,
    b.watched[0]!.after,
    'out',
  ]);
  assert.equal(
    listing.find((e) => e.name === 'asl-auth-host.iso')?.digest,
    await sha256(ISO),
    'the after-tree of WORKDIR holds the ISO',
  );
  // The image root it was made from is in the before-tree of WORKDIR: an input.
  const wdBefore = b.inputs.find((i) => i.name === `before:${WORKDIR}`)!;
  const rootEntry = aslJson<Array<{ name: string; type: string }>>(['ls', '--store', STORE, wdBefore.digest]).find(
    (e) => e.name === 'iso_root',
  );
  assert.equal(rootEntry?.type, 'dir');
  assert.deepEqual(
    b.inputs
      .filter((i) => i.kind === 'receipt')
      .map((i) => i.digest)
      .sort(),
    log
      .filter((i) => i.step !== 'build_iso')
      .map((i) => i.receipt)
      .sort(),
    'the build names every earlier receipt',
  );

  // The store seeded into the image's history layer: the log up to image_root, and it verifies.
  const seeded = join(WORKDIR, 'asl-history', 'var', 'lib', 'asl', 'personal');
  const seededLog = aslJson<LogItem[]>(['log', '--store', seeded]);
  assert.deepEqual(
    seededLog.map((i) => i.receipt),
    fullLog.filter((i) => i.step !== 'build_iso').map((i) => i.receipt),
    "the image's history: every step to image_root and the verdict",
  );
  const seededCounts = aslJson<{ ok: boolean; counts: { receipts: number; objects: number } }>([
    'verify',
    '--store',
    seeded,
    '--quick',
  ]);
  assert.ok(seededCounts.ok);
  // The image's audit, as the host will run it on the seeded store: every entry attributed.
  const audit = aslJson<{
    summary: Record<'entries' | 'package' | 'control' | 'ingested' | 'generated' | 'unattributed' | 'differs', number>;
  }>(['audit', '--store', seeded, imageRoot.receipt]).summary;
  assert.equal(audit.unattributed, 0, 'every entry of the image is attributed');
  assert.equal(audit.differs, 0, 'no package file differs from its md5sums');
  const auditCounts = `audit: ${audit.entries} entries, ${audit.package} package, ${audit.control} control, ${audit.ingested} ingested, ${audit.generated} generated, ${audit.unattributed} unattributed, ${audit.differs} differ`;

  // --- 2. boot: the OK line, with the seeded store's figures and the image_root tree
  const boot = await run(
    'bash',
    [join(REPO_ROOT, 'scripts', 'boot-iso.sh'), '--timeout', String(BOOT_TIMEOUT_S), '--log', SERIAL_OK, ISO],
    {
      timeoutMs: (BOOT_TIMEOUT_S + 120) * 1000,
      log: join(WORKDIR, 'boot-ok.log'),
    },
  );
  t.diagnostic(`boot to the provenance line: ${boot.seconds.toFixed(0)} s`);
  assert.equal(boot.code, 0, `boot did not print OK (exit ${boot.code}):\n${tail(boot.output, 60)}`);
  const okLines = provenanceLines(boot.output);
  assert.ok(okLines.length > 0);
  const okIds = new Set(machineIds(await readFile(SERIAL_OK, 'utf8')));
  assert.equal(okIds.size, 1, 'one id per boot, on every console');
  for (const line of okLines) {
    assert.equal(
      line,
      `ASL-AUTH-HOST provenance: OK (${seededCounts.counts.receipts} receipts, ${seededCounts.counts.objects} artifacts, root ${rootTree}; ${auditCounts})`,
    );
  }

  // --- 3. a copy with one byte of one file changed inside the squashfs
  const tamperStart = Date.now();
  await mkdir(TAMPER_DIR, { recursive: true });
  const sq = join(TAMPER_DIR, 'filesystem.squashfs');
  const root = join(TAMPER_DIR, 'root');
  const tampered = join(TAMPER_DIR, 'asl-auth-host-tampered.iso');
  execFileSync('xorriso', ['-osirrox', 'on', '-indev', ISO, '-extract', '/live/filesystem.squashfs', sq], {
    stdio: 'ignore',
  });
  assert.equal(
    await sha256(sq),
    filesRebuild.get('/live/filesystem.squashfs'),
    "iso-digests read the squashfs's bytes",
  );
  execFileSync('unsquashfs', ['-no-progress', '-d', root, sq], { stdio: 'ignore' });
  const victim = join(root, TAMPERED_FILE);
  const before = await sha256(victim);
  const fh = await open(victim, 'r+');
  try {
    const size = (await fh.stat()).size;
    const at = Math.floor(size / 2);
    const byte = Buffer.alloc(1);
    await fh.read(byte, 0, 1, at);
    byte[0] = byte[0]! ^ 0x01;
    await fh.write(byte, 0, 1, at);
  } finally {
    await fh.close();
  }
  const tamperedDigest = await sha256(victim);
  const victimSize = (await stat(victim)).size;
  assert.notEqual(tamperedDigest, before);
  await rm(sq);
  // The copy: the original's kernel, initrd and GRUB configuration, the changed squashfs,
  // put together by grub-mkrescue as the build did (xorriso's boot replay cannot rewrite
  // grub-mkrescue's GPT).
  const staging = join(TAMPER_DIR, 'staging');
  await mkdir(join(staging, 'live'), { recursive: true });
  await mkdir(join(staging, 'boot', 'grub'), { recursive: true });
  for (const f of ['/live/vmlinuz', '/live/initrd.img', '/live/asl-history.squashfs', '/boot/grub/grub.cfg']) {
    execFileSync('xorriso', ['-osirrox', 'on', '-indev', ISO, '-extract', f, join(staging, f)], { stdio: 'ignore' });
  }
  execFileSync(
    'mksquashfs',
    [
      root,
      join(staging, 'live', 'filesystem.squashfs'),
      '-noappend',
      '-no-progress',
      '-comp',
      'zstd',
      '-Xcompression-level',
      '6',
      '-xattrs',
    ],
    { stdio: 'ignore' },
  );
  execFileSync('grub-mkrescue', ['-o', tampered, staging, '--', '-volid', 'ASL_AUTH_HOST'], { stdio: 'ignore' });
  await rm(staging, { recursive: true });
  t.diagnostic(`tampered copy made in ${((Date.now() - tamperStart) / 1000).toFixed(0)} s`);
  const bad = await run(
    'bash',
    [
      join(REPO_ROOT, 'scripts', 'boot-iso.sh'),
      '--timeout',
      String(BOOT_TIMEOUT_S),
      '--log',
      SERIAL_TAMPERED,
      tampered,
    ],
    {
      timeoutMs: (BOOT_TIMEOUT_S + 120) * 1000,
      log: join(WORKDIR, 'boot-tampered.log'),
    },
  );
  t.diagnostic(`tampered boot to the provenance line: ${bad.seconds.toFixed(0)} s`);
  assert.equal(bad.code, 1, `the tampered copy did not print FAILED (exit ${bad.code}):\n${tail(bad.output, 60)}`);
  const badLines = provenanceLines(bad.output);
  assert.ok(badLines.length > 0);
  // Another boot of (nearly) the same image: another id, never one baked into the ISO.
  const badIds = new Set(machineIds(await readFile(SERIAL_TAMPERED, 'utf8')));
  assert.equal(badIds.size, 1);
  assert.ok(!okIds.has([...badIds][0]!), `two boots, two machine ids: ${[...okIds]} and ${[...badIds]}`);
  for (const line of badLines) {
    assert.equal(
      line,
      `ASL-AUTH-HOST provenance: FAILED (content ${TAMPERED_FILE}: expected ${before} (${victimSize} bytes), actual ${tamperedDigest} (${victimSize} bytes))`,
    );
  }
  await rm(tampered);
  // The history layer goes on the extracted root as live-boot stacks it.
  const hist = join(TAMPER_DIR, 'asl-history.squashfs');
  execFileSync('xorriso', ['-osirrox', 'on', '-indev', ISO, '-extract', '/live/asl-history.squashfs', hist], {
    stdio: 'ignore',
  });
  execFileSync('unsquashfs', ['-no-progress', '-f', '-d', root, hist], { stdio: 'ignore' });
  await rm(hist);

  // --- 4. the image's own asl, on Debian's nodejs, in the extracted root: the default store
  const storeInRoot = '/var/lib/asl/personal';
  assert.match(inRoot(root, 'node --version'), /^v18\./, "the image runs Debian's nodejs 18");
  const hostLog = inRoot(root, 'asl log');
  assert.match(hostLog, /image_root/);
  const why = inRoot(root, 'asl why /usr/bin/node');
  assert.match(why, /apt_install/, `asl why names the step that installed node:\n${why}`);
  inRoot(root, 'asl-dag --out /tmp/dag.svg');
  assert.match(await readFile(join(root, 'tmp', 'dag.svg'), 'utf8'), /<svg[\s\S]*debootstrap/);
  // asl-capture appends to the seeded history under a key of the host's own.
  assert.equal(
    inRoot(root, `ls ${storeInRoot}/keys/signing.key 2>/dev/null || echo none`).trim(),
    'none',
    'the image carries no private key',
  );
  inRoot(
    root,
    `mkdir -p /root/keys && asl-capture --cmd "echo offline-root-key > /root/keys/root.pub" --watch /root/keys --outdir ${storeInRoot}/per/host_keygen >/dev/null 2>&1`,
  );
  const after = JSON.parse(inRoot(root, 'asl log --json')) as LogItem[];
  assert.deepEqual(
    after.slice(0, seededLog.length).map((i) => i.receipt),
    seededLog.map((i) => i.receipt),
    'the build history is kept',
  );
  assert.equal(after.length, seededLog.length + 1);
  assert.equal(after.at(-1)!.step, 'host_keygen');
  // The command ran with the operator's environment: nothing the launchers handed to the CLI.
  const hostReceipt = JSON.parse(inRoot(root, `asl show --json ${after.at(-1)!.receipt}`)) as {
    statement: { predicate: { core: { environment: { variables: Record<string, unknown> } } } };
  };
  const names = Object.keys(hostReceipt.statement.predicate.core.environment.variables).sort();
  assert.deepEqual(
    names.filter((n) => n !== 'PWD'),
    ['HOME', 'LANG', 'PATH'],
    `recorded environment: ${names.join(' ')}`,
  );
  assert.match(inRoot(root, 'asl verify'), /^OK: /m);
  assert.match(
    inRoot(root, 'asl key list'),
    /this store's signing key[\s\S]*trusted|trusted[\s\S]*this store's signing key/,
  );
  // Passed: the 6 GB of build output go (a failed run keeps them for a look).
  await rm(TOP, { recursive: true, force: true });
});
