// `npm run bench`: ASL against the tools its users would otherwise use, on real data,
// in one run, printed as markdown on stdout (progress on stderr).
//
//   npm run bench [-- --runs N] [-- --small-files N]
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
import { aslArgv, type BenchContext } from './context.js';
import { describeStats, treeStats } from './fixture-stats.js';
import { describeProbes, fsProbe } from './fs-probe.js';
import { ingestSection, memorySection, type Fixture } from './ingest.js';
import { machineLines } from './machine.js';
import { GNU_TIME, mustRun } from './measure.js';
import { sectionMarkdown } from './report.js';
import { oneLine, runSection, type RowResult, type Section } from './runner.js';

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { runs: { type: 'string' }, 'small-files': { type: 'string' } } });
  const runs = positiveInt('--runs', values.runs ?? process.env.ASL_BENCH_RUNS ?? '3');
  const smallFiles = positiveInt('--small-files', values['small-files'] ?? '100000');
  if (process.getuid?.() !== 0) throw new Error('must run as root (debootstrap, and the fixture holds root-only files and device nodes)');

  log('installing missing Debian packages (debootstrap, in-toto, time)');
  await ensureDebianPackages('debootstrap', 'in-toto', 'time');
  log('building fixtures (once; cached in .cache/fixtures)');
  const minbase = fixture('minbase', 'bookworm minbase', await bookwormMinbaseRoot(), 0.2);
  const small = fixture('small', `${kilo(smallFiles)} small files`, await manySmallFilesTree(smallFiles), 0.1);
  const tenth = Math.max(1, Math.round(smallFiles / 10));
  const smaller = fixture('smaller', `${kilo(tenth)} small files`, await manySmallFilesTree(tenth), 0.1);

  const workDir = await mkdtemp(join(tmpdir(), 'asl-bench-'));
  const cleanup = () => rmSync(workDir, { recursive: true, force: true });
  process.once('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  try {
    const intotoKey = join(workDir, 'intoto-key');
    await mustRun(['in-toto-keygen', '-t', 'ed25519', intotoKey]);
    const ctx: BenchContext = { workDir, intotoKey, asl: aslArgv };
    const startLoad = loadavg()[0]!;
    const probeAtStart = fsProbe(workDir);
    const fixtures = [minbase, small];
    const sections: Section[] = [
      ingestSection(ctx, fixtures),
      memorySection(ctx, smaller, small),
      await captureSection(ctx, minbase),
      await dagScaleSection(ctx),
      await whyScaleSection(ctx, {}, log),
    ];
    const results = new Map<string, RowResult>();
    for (const section of sections) {
      for (const [id, result] of await runSection(section, runs, log)) results.set(id, result);
    }
    const out = [
      '# ASL benchmark',
      '',
      ...machineLines({ 'fixtures on': minbase.path, 'stores on': workDir }),
      describeProbes(probeAtStart, fsProbe(workDir)),
      `- load average (1 min): ${startLoad.toFixed(2)} at the start, ${loadavg()[0]!.toFixed(2)} at the end`,
      '',
      ...method(runs, [...fixtures, smaller], startLoad),
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
    'Fixtures:',
    ...fixtures.map((f) => `- ${f.name}: ${describeStats(f.stats)} (${f.path.startsWith(REPO_ROOT) ? relative(REPO_ROOT, f.path) : f.path})`),
    '',
    `Method: every command runs ${runs} times, round-robin within its section (one run of each command per round,`,
    'so a change of load hits every tool alike). Each run is preceded, untimed, by `sync` (so writeback left by the',
    'previous command is not charged to the next) and by reading every file of the tree once (warm page cache, the',
    'same for every tool). Wall time is the median, measured around the process; peak RSS is GNU time\'s',
    `\`${GNU_TIME} -f %M\` (largest process of the command's tree), the maximum over the runs.`,
  ];
  if (startLoad > 0.5) lines.push('', `Note: load average was ${startLoad.toFixed(2)} at the start: other work was running and may have slowed some runs.`);
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
