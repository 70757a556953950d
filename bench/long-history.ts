// Issue 13's long history: a store of 10,000 signed receipts (the why-scale store, built
// once and cached in .cache/fixtures/long-history-N), then `asl log`, `asl verify`, `why`,
// `dag --focus` and `audit` on it, each against an absolute target.
//
// `asl log` is timed twice: with no verified-receipts index (every signature checked, as
// before the index existed) and after `asl verify` has written the index (docs/security.md,
// "Verified receipts"), which is the figure the target is about.
import { existsSync, readFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cachedFixture } from '../test/fixtures.js';
import type { BenchContext } from './context.js';
import { mustRun } from './measure.js';
import type { RowSpec, Section } from './runner.js';
import { buildWhyScaleStore, type WhyScaleStore } from './why-scale.js';

const INDEX_FILE = join('cache', 'verified-receipts-v1.bin');

/** The cached history: FIXTURES_DIR/long-history-N/store and its description (history.json). */
export async function longHistoryFixture(receipts: number, log: (line: string) => void): Promise<WhyScaleStore> {
  const dir = await cachedFixture(`long-history-${receipts}`, async (tmp) => {
    log(`generating a ${receipts}-receipt history (once)`);
    const built = await buildWhyScaleStore(join(tmp, 'store'), { receipts, files: 100_000 }, log);
    await writeFile(join(tmp, 'history.json'), `${JSON.stringify({ ...built, store: 'store' })}\n`);
  });
  const meta = JSON.parse(readFileSync(join(dir, 'history.json'), 'utf8')) as WhyScaleStore;
  return { ...meta, store: join(dir, 'store') };
}

export async function longHistorySection(
  ctx: BenchContext,
  receipts: number,
  log: (line: string) => void,
): Promise<Section> {
  const fixture = await longHistoryFixture(receipts, log);
  // The rows write the index into the store: they run on a copy, the cache stays as built.
  const store = join(ctx.workDir, 'long-history-store');
  await mustRun(['cp', '-a', fixture.store, store]);
  const index = join(store, INDEX_FILE);
  const subject = `${fixture.receipts.toLocaleString('en-US')} receipts, ${fixture.files.toLocaleString('en-US')}-file root`;
  const count = (n: number) => (stdout: string) => {
    const items = JSON.parse(stdout) as unknown[];
    return items.length === n ? undefined : `asl log listed ${items.length} receipts, not ${n}`;
  };
  const history = (events: number) => (stdout: string) => {
    const h = (JSON.parse(stdout) as { history: unknown[] }).history;
    return h.length === events ? undefined : `expected ${events} history entries, got ${h.length}`;
  };
  const midStep = `step-${String(Math.floor(fixture.receipts / 2)).padStart(4, '0')}`;
  const lastStep = `step-${String(fixture.receipts).padStart(4, '0')}`;
  const rows: RowSpec[] = [
    {
      id: 'history/log-unindexed',
      subject,
      label: 'asl log --json, no index (every signature checked)',
      argv: ctx.asl('log', '--store', store, '--json'),
      check: count(fixture.receipts),
      before: () => rm(index, { force: true }),
    },
    {
      id: 'history/verify',
      subject,
      label: 'asl verify (checks everything, writes the index)',
      argv: ctx.asl('verify', '--store', store),
    },
    {
      id: 'history/log',
      subject,
      label: 'asl log --json (index written by verify)',
      argv: ctx.asl('log', '--store', store, '--json'),
      check: count(fixture.receipts),
      limitS: 1,
      before: async () => {
        if (!existsSync(index)) throw new Error(`asl verify left no index at ${index}`);
      },
    },
    {
      id: 'history/why-hot',
      subject,
      label: `asl why (changed by ${fixture.hot.events} steps) --json`,
      argv: ctx.asl('why', '--store', store, fixture.hot.path, '--json'),
      check: history(fixture.hot.events),
      limitS: 10,
    },
    {
      id: 'history/why-cold',
      subject,
      label: `asl why (walks all ${fixture.receipts} steps) --json`,
      argv: ctx.asl('why', '--store', store, fixture.cold, '--json'),
      check: history(1),
      limitS: 10,
    },
    {
      id: 'history/dag-focus',
      subject,
      label: `asl dag --focus ${midStep} --depth 3 --format json`,
      argv: ctx.asl(
        'dag',
        '--store',
        store,
        '--focus',
        midStep,
        '--depth',
        '3',
        '--out',
        join(ctx.workDir, 'long-history-dag.json'),
      ),
      limitS: 10,
    },
    {
      id: 'history/audit',
      subject,
      label: `asl audit ${lastStep} --json`,
      argv: exitsAtMost1(ctx.asl('audit', '--store', store, lastStep, '--json')),
      limitS: 10,
    },
  ];
  return {
    title: 'Long history (asl log, verify, why, dag --focus, audit)',
    notes: [
      `The why-scale store with ${fixture.receipts.toLocaleString('en-US')} receipts (generated once, cached in .cache/fixtures): one watched root of`,
      `${fixture.files.toLocaleString('en-US')} files, each step after the first changing one file. The rows run on a copy of it. The first`,
      "`asl log` row has no verified-receipts index (removed before each run): every receipt's signature is checked, as",
      'before the index existed. `asl verify` writes the index; the second `asl log` trusts only what it lists.',
    ],
    rows,
    ratioHeaders: [],
  };
}

/** `asl audit` exits 1 when it finds unattributed files (the synthetic root has no packages). */
function exitsAtMost1(argv: string[]): string[] {
  return ['sh', '-c', '"$@" >/dev/null; test $? -le 1', 'sh', ...argv];
}
