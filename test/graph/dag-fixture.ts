// A small real build, captured with the real CLI, for the dag tests: the seed's shape
// in miniature.
//
//   bootstrap  makes root/ (a tree) and drops three real .deb files into its apt archive
//              cache (root/var/cache/apt/archives), as debootstrap's downloads land
//   install    changes root/ (its before-tree is bootstrap's after-tree: the join)
//   overlay    `asl-capture --file overlay/motd` (an ingest)
//   build      reads root/ and overlay/motd (--input) and the receipts in per/
//              (--artifact-inputs), writes out/ (a tree)
//   check      reads out/ and fails (exit 3), writing "checking" to stderr
//
// Digests come from the outdirs' per.json files, read here independently of ASL's code.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { Digest } from '../../src/core/digest.js';
import { REPO_ROOT, runAsl, tempDir, type RunResult } from '../helpers.js';

export interface Ref {
  name: string;
  role: string;
  kind: string;
  digest: Digest;
  size?: number;
  package?: { name: string };
}
export interface Statement {
  predicate: {
    core: {
      kind: string;
      step: string;
      command?: { shell: string };
      inputs: Ref[];
      outputs: Ref[];
      exit?: { code: number };
    };
  };
}

export interface StepInfo {
  step: string;
  /** The receipt id: sha256 of the outdir's envelope file. */
  id: Digest;
  statement: Statement;
  input(pred: (r: Ref) => boolean): Ref;
  output(pred: (r: Ref) => boolean): Ref;
}

export interface DagFixture {
  work: string;
  store: string;
  steps: { bootstrap: StepInfo; install: StepInfo; overlay: StepInfo; build: StepInfo; check: StepInfo };
  /** The commands as given to --cmd. */
  commands: Record<'bootstrap' | 'install' | 'build' | 'check', string>;
  packages: string[];
}

export function describe(r: RunResult): string {
  return `exit ${r.code}\n--- stdout\n${r.stdout.slice(-3000)}\n--- stderr\n${r.stderr.slice(-3000)}`;
}

async function capture(work: string, args: string[], expectCode = 0): Promise<void> {
  const r = await runAsl(['--store', 'store', ...args], { cwd: work, program: 'asl-capture' });
  assert.equal(r.code, expectCode, `asl-capture ${args.join(' ')}: ${describe(r)}`);
}

async function stepInfo(dir: string, prefix = ''): Promise<StepInfo> {
  const envelope = await readFile(join(dir, `${prefix}per.dsse.json`));
  const statement = JSON.parse(await readFile(join(dir, `${prefix}per.json`), 'utf8')) as Statement;
  const { createHash } = await import('node:crypto');
  const core = statement.predicate.core;
  const find =
    (list: Ref[], what: string) =>
    (pred: (r: Ref) => boolean): Ref => {
      const hit = list.find(pred);
      assert.ok(
        hit,
        `${core.step}: no such ${what} among ${list.map((r) => `${r.role}/${r.kind} ${r.name}`).join(', ')}`,
      );
      return hit;
    };
  return {
    step: core.step,
    id: `sha256:${createHash('sha256').update(envelope).digest('hex')}` as Digest,
    statement,
    input: find(core.inputs, 'input'),
    output: find(core.outputs, 'output'),
  };
}

/** Three tiny real Debian packages (gzip-compressed control, so no dpkg-deb is needed to read them back). */
async function makeDebs(dir: string): Promise<string[]> {
  const names = ['asl-fixture-a', 'asl-fixture-b', 'asl-fixture-c'];
  await mkdir(dir, { recursive: true });
  for (const [i, name] of names.entries()) {
    const src = join(dir, `src-${name}`);
    await mkdir(join(src, 'DEBIAN'), { recursive: true });
    await mkdir(join(src, 'usr', 'share', name), { recursive: true });
    await writeFile(join(src, 'usr', 'share', name, 'README'), `${name} ${'x'.repeat(100 * (i + 1))}\n`);
    await writeFile(
      join(src, 'DEBIAN', 'control'),
      `Package: ${name}\nVersion: 1.${i}\nArchitecture: all\nMaintainer: ASL tests <tests@example.invalid>\nDescription: fixture package ${i}\n`,
    );
    execFileSync('dpkg-deb', ['--root-owner-group', '-Zgzip', '--build', src, join(dir, `${name}_1.${i}_all.deb`)], {
      stdio: 'pipe',
    });
  }
  return names;
}

export const COMMANDS = {
  bootstrap:
    "mkdir -p root/etc root/var/cache/apt/archives && cp debs/*.deb root/var/cache/apt/archives/ && printf 'base\\n' > root/etc/base && echo bootstrapped",
  install: "printf 'app=1\\n' > root/etc/app.conf && echo 'installed app.conf'",
  build: 'mkdir -p out && tar -cf out/image.tar -C root . && cat overlay/motd > out/motd && echo built image.tar',
  check: 'echo checking >&2; test -s out/missing || exit 3',
} as const;

export async function buildDagFixture(t: TestContext): Promise<DagFixture> {
  const work = await tempDir(t, 'asl-dag-');
  const store = join(work, 'store');
  const init = await runAsl(['--store', store], { program: 'asl-init-store' });
  assert.equal(init.code, 0, describe(init));
  const packages = await makeDebs(join(work, 'debs'));
  await mkdir(join(work, 'overlay'));
  await writeFile(join(work, 'overlay', 'motd'), 'Welcome to the ASL fixture host.\n');

  const watch = (path: string) => ['--watch', path, '--no-auto-watch'];
  await capture(work, ['--cmd', COMMANDS.bootstrap, ...watch('root'), '--outdir', 'store/per/bootstrap']);
  await capture(work, ['--cmd', COMMANDS.install, ...watch('root'), '--outdir', 'store/per/install']);
  await capture(work, ['--file', 'overlay/motd', '--outdir', 'store/per/overlay']);
  await capture(work, [
    '--cmd',
    COMMANDS.build,
    '--input',
    'root',
    '--input',
    'overlay/motd',
    '--artifact-inputs',
    'store/per',
    ...watch('out'),
    '--outdir',
    'store/per/build',
  ]);
  await capture(work, ['--cmd', COMMANDS.check, '--input', 'out', '--no-auto-watch', '--outdir', 'store/per/check'], 3);

  const per = join(store, 'per');
  return {
    work,
    store,
    packages,
    commands: COMMANDS,
    steps: {
      bootstrap: await stepInfo(join(per, 'bootstrap')),
      install: await stepInfo(join(per, 'install')),
      overlay: await stepInfo(join(per, 'overlay'), 'motd.'),
      build: await stepInfo(join(per, 'build')),
      check: await stepInfo(join(per, 'check')),
    },
  };
}

/** The JSON Schema in docs/dag.md (the block after `<!-- schema:dag-json -->`). */
export async function dagJsonSchema(): Promise<Record<string, unknown>> {
  const doc = await readFile(join(REPO_ROOT, 'docs', 'dag.md'), 'utf8');
  const m = /<!-- schema:dag-json -->\s*```json\n([\s\S]*?)\n```/.exec(doc);
  assert.ok(m, 'docs/dag.md holds the schema block');
  return JSON.parse(m[1]!) as Record<string, unknown>;
}

/** Runs `asl dag` (as asl-dag) in the fixture's work dir and returns the JSON graph. */
export async function dagJson(fx: DagFixture, ...args: string[]): Promise<DagJsonDoc> {
  const r = await runAsl(['--store', fx.store, '--out', '-', '--format', 'json', ...args], {
    program: 'asl-dag',
    cwd: fx.work,
  });
  assert.equal(r.code, 0, describe(r));
  return JSON.parse(r.stdout) as DagJsonDoc;
}

export interface DagJsonDoc {
  format: string;
  nodes: Array<{
    id: string;
    type: string;
    kind?: string;
    step?: string;
    ok?: boolean;
    name?: string;
    members?: string[];
    command?: string;
    hidden?: Record<string, number>;
    tree?: { files: number } | null;
  }>;
  edges: Array<{ kind: string; from: string; to: string; roles: string[] }>;
  focus: string[];
  totals: { receipts: number; artifacts: number; edges: number };
}

/** The ids every default view of the fixture shows (see docs/dag.md "What is shown"). */
export function defaultIds(fx: DagFixture): {
  receipts: string[];
  artifacts: Record<string, string>;
  logs: Record<string, string>;
} {
  const { bootstrap, install, overlay, build, check } = fx.steps;
  const tree = (r: Ref) => r.kind === 'tree';
  return {
    receipts: [bootstrap.id, install.id, overlay.id, build.id, check.id],
    artifacts: {
      t1: bootstrap.output(tree).digest,
      t2: install.output(tree).digest,
      t3: build.output(tree).digest,
      motd: overlay.output((r) => r.role === 'source').digest,
      perTree: build.input((r) => r.kind === 'tree' && r.name.endsWith('/per')).digest,
      // The files each step wrote, listed one by one as its products (out/motd is the ingested motd).
      base: bootstrap.output((r) => r.role === 'product' && r.name.endsWith('/etc/base')).digest,
      appConf: install.output((r) => r.role === 'product' && r.name.endsWith('/etc/app.conf')).digest,
      imageTar: build.output((r) => r.role === 'product' && r.name.endsWith('/out/image.tar')).digest,
    },
    logs: {
      bootstrapStdout: bootstrap.output((r) => r.role === 'stdout').digest,
      installStdout: install.output((r) => r.role === 'stdout').digest,
      buildStdout: build.output((r) => r.role === 'stdout').digest,
      checkStderr: check.output((r) => r.role === 'stderr').digest,
    },
  };
}
