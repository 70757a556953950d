// `npm run bench`: ASL against the tools its users would otherwise use, on real data,
// in one run, printed as markdown on stdout (progress on stderr).
//
//   npm run bench [-- --runs N] [-- --small-files N] [-- --receipts N] [-- --big-files N] [-- --only SECTION[,SECTION]]
//
// Sections: ingest, memory, capture, dag, why, audit, history, bigroot. `--only` runs just those (and builds
// only the fixtures they need); the report then holds those sections alone.
import { rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { bookwormMinbaseRoot, ensureDebianPackages, manySmallFilesTree } from '../test/fixtures.js';
import { REPO_ROOT } from '../test/helpers.js';
import { captureSection } from './capture.js';
import { dagScaleSection } from './dag-scale.js';
import { whyScaleSection } from './why-scale.js';
import { auditSection } from './audit.js';
import { longHistorySection } from './long-history.js';
import { bigRootSection } from './big-root.js';
import { aslArgv, type BenchContext } from './context.js';
import { describeStats, treeStats } from './fixture-stats.js';
import { describeProbes, fsProbe } from './fs-probe.js';
import { ingestSection, memorySection, type Fixture } from './ingest.js';
import { machineLines } from './machine.js';
import { GNU_TIME, mustRun } from './measure.js';
import { sectionMarkdown } from './report.js';
import { oneLine, runSection, type RowResult, type Section } from './runner.js';

const SECTIONS = ['ingest', 'memory', 'capture', 'dag', 'why', 'audit', 'history', 'bigroot'] as const;
type SectionName = (typeof SECTIONS)[number];

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string' },
      'small-files': { type: 'string' },
      receipts: { type: 'string' },
      'big-files': { type: 'string' },
      only: { type: 'string', multiple: true },
    },
  });
  const runs = positiveInt('--runs', values.runs ?? process.env.ASL_BENCH_RUNS ?? '3');
  const smallFiles = positiveInt('--small-files', values['small-files'] ?? '100000');
  const receipts = positiveInt('--receipts', values.receipts ?? '10000');
  const bigFiles = positiveInt('--big-files', values['big-files'] ?? '1000000');
  const only = new Set(
    (values.only ?? [])
      .flatMap((v) => v.split(','))
      .map((v) => v.trim())
      .filter((v) => v !== ''),
  );
  for (const name of only) {
    if (!(SECTIONS as readonly string[]).includes(name))
      throw new Error(`--only: unknown section "${name}" (sections: ${SECTIONS.join(', ')})`);
  }
  const wanted = (name: SectionName) => only.size === 0 || only.has(name);
  if (process.getuid?.() !== 0)
    throw new Error('must run as root (debootstrap, and the fixture holds root-only files and device nodes)');

  log('installing missing Debian packages (debootstrap, in-toto, time)');
  await ensureDebianPackages('debootstrap', 'in-toto', 'time');
  log('building fixtures (once; cached in .cache/fixtures)');
  const needsSmall = wanted('ingest') || wanted('memory');
  const minbase =
    wanted('ingest') || wanted('capture') || wanted('audit')
      ? fixture('minbase', 'bookworm minbase', await bookwormMinbaseRoot(), 0.2)
      : undefined;
  const small = needsSmall
    ? fixture('small', `${kilo(smallFiles)} small files`, await manySmallFilesTree(smallFiles), 0.1)
    : undefined;
  const tenth = Math.max(1, Math.round(smallFiles / 10));
  const smaller = wanted('memory')
    ? fixture('smaller', `${kilo(tenth)} small files`, await manySmallFilesTree(tenth), 0.1)
    : undefined;

  const workDir = await mkdtemp(join(tmpdir(), 'asl-bench-'));
  const cleanup = () => rmSync(workDir, { recursive: true, force: true });
  process.once('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  try {
    const intotoKey = join(workDir, 'intoto-key');
    await mustRun(['in-toto-keygen', '-t', 'ed25519', intotoKey]);
    const ingestFloor = await compileIngestFloor(workDir);
    const ctx: BenchContext = { workDir, intotoKey, asl: aslArgv, ...(ingestFloor ? { ingestFloor } : {}) };
    const startLoad = loadavg()[0]!;
    const probeAtStart = fsProbe(workDir);
    const fixtures = [minbase, small].filter((f): f is Fixture => f !== undefined);
    const sections: Section[] = [];
    if (wanted('ingest')) sections.push(ingestSection(ctx, fixtures));
    if (wanted('memory')) sections.push(memorySection(ctx, smaller!, small!));
    if (wanted('capture')) sections.push(await captureSection(ctx, minbase!));
    if (wanted('dag')) sections.push(await dagScaleSection(ctx));
    if (wanted('why')) sections.push(await whyScaleSection(ctx, {}, log));
    if (wanted('audit')) sections.push(await auditSection(ctx, minbase!));
    if (wanted('history')) sections.push(await longHistorySection(ctx, receipts, log));
    if (wanted('bigroot')) sections.push(await bigRootSection(ctx, bigFiles, log));
    const results = new Map<string, RowResult>();
    for (const section of sections) {
      for (const [id, result] of await runSection(section, runs, log)) results.set(id, result);
    }
    const out = [
      '# ASL benchmark',
      '',
      ...machineLines({ ...(fixtures[0] ? { 'fixtures on': fixtures[0].path } : {}), 'stores on': workDir }),
      describeProbes(probeAtStart, fsProbe(workDir)),
      `- load average (1 min): ${startLoad.toFixed(2)} at the start, ${loadavg()[0]!.toFixed(2)} at the end`,
      '',
      ...method(runs, [...fixtures, ...(smaller ? [smaller] : [])], startLoad),
      '',
      ...sections.flatMap((s) => sectionMarkdown(s, results, runs)),
    ];
    process.stdout.write(`${out.join('\n')}\n`);
    return 0;
  } finally {
    log('removing the temporary stores');
    cleanup();
  }
}

function fixture(key: string, name: string, path: string, reputMax: number): Fixture {
  return { key, name, path, stats: treeStats(path), reputMax };
}

function method(runs: number, fixtures: Fixture[], startLoad: number): string[] {
  const lines = [
    ...(fixtures.length > 0 ? ['Fixtures:'] : []),
    ...fixtures.map(
      (f) =>
        `- ${f.name}: ${describeStats(f.stats)} (${f.path.startsWith(REPO_ROOT) ? relative(REPO_ROOT, f.path) : f.path})`,
    ),
    ...(fixtures.length > 0 ? [''] : []),
    `Method: every command runs ${runs} times, round-robin within its section (one run of each command per round,`,
    'so a change of load hits every tool alike). Each run is preceded, untimed, by `sync` (so writeback left by the',
    'previous command is not charged to the next) and by reading every file of the tree once (warm page cache, the',
    "same for every tool). Wall time is the median, measured around the process; peak RSS is GNU time's",
    `\`${GNU_TIME} -f %M\` (largest process of the command's tree), the maximum over the runs. \`asl\` runs as a user`,
    'runs it (bin/asl as a program). A store a run replaces is moved aside and deleted at the end, not before the next',
    'run: on ext4 without a journal, files created right after thousands were deleted are up to 3× slower to create.',
  ];
  if (startLoad > 0.5)
    lines.push(
      '',
      `Note: load average was ${startLoad.toFixed(2)} at the start: other work was running and may have slowed some runs.`,
    );
  return lines;
}

function kilo(n: number): string {
  return n >= 1000 && n % 1000 === 0 ? `${n / 1000}k` : n.toLocaleString('en-US');
}

function positiveInt(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${flag} must be a positive integer, not "${text}"`);
  return n;
}

function log(line: string): void {
  process.stderr.write(`bench: ${line}\n`);
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    process.stderr.write(`bench: ${oneLine(err)}\n`);
    process.exitCode = 1;
  },
);

/** Compiles bench/floor/ingest-floor.c into `dir`; undefined (the rows are left out) without cc or libssl-dev. */
async function compileIngestFloor(dir: string): Promise<string | undefined> {
  const bin = join(dir, 'ingest-floor');
  try {
    await mustRun([
      'cc',
      '-O2',
      '-pthread',
      '-o',
      bin,
      join(REPO_ROOT, 'bench', 'floor', 'ingest-floor.c'),
      '-lcrypto',
    ]);
    return bin;
  } catch (err) {
    log(`bench/floor/ingest-floor.c not compiled (${(err as Error).message}); its rows are left out`);
    return undefined;
  }
}
