// Issue 2's benchmark: ingesting a tree with `asl put` (first time, then unchanged)
// against sha256sum and in-toto-run over the same files.
import { join } from 'node:path';
import type { RowResult, RowSpec, Section } from './runner.js';
import { clip, markdownTable } from './report.js';
import type { TreeStats } from './fixture-stats.js';
import { discard, freshDir, freshStore, type BenchContext } from './context.js';

export interface Fixture {
  key: string;
  /** Short name for the table. */
  name: string;
  path: string;
  stats: TreeStats;
  /** Target for an unchanged re-put, as a fraction of the first put. */
  reputMax: number;
}

const VS_INTOTO = '÷ in-toto-run';
const VS_FIRST = '÷ first put';
/** The first put against the least work both cores can do in its layout (one pack, 2 threads). */
const VS_FLOOR = '÷ floor, 2 threads';

export function ingestSection(ctx: BenchContext, fixtures: Fixture[]): Section {
  return {
    title: 'Ingest',
    notes: [
      '`asl put` into a fresh store, `asl put` again (unchanged tree, same store), `sha256sum` over the same',
      'regular files (`find -type f -print0 | xargs -0 sha256sum`), and `in-toto-run -p TREE -x` (hash every',
      'file, sign a link; stores no content).',
      ...(ctx.ingestFloor
        ? [
            '"least work" rows: bench/floor/ingest-floor.c, one thread and two, only read + SHA-256 + store each new content',
            '(no trees, no metadata), one file per object and one pack file + index (the layout `asl put` writes files in).',
          ]
        : ['(No "least work" rows: bench/floor/ingest-floor.c did not compile; it needs cc and libssl-dev.)']),
    ],
    rows: fixtures.flatMap((f) => fixtureRows(ctx, f)),
    ratioHeaders: [VS_INTOTO, VS_FIRST, ...(ctx.ingestFloor ? [VS_FLOOR] : [])],
  };
}

function fixtureRows(ctx: BenchContext, f: Fixture): RowSpec[] {
  const store = join(ctx.workDir, `store-${f.key}`);
  const linkDir = join(ctx.workDir, `links-${f.key}`);
  const intoto = `${f.key}/in-toto`;
  const first = `${f.key}/put-first`;
  let firstId: string | undefined;
  let storeReady = false; // this round's first put succeeded
  return [
    {
      id: first,
      subject: f.name,
      label: 'asl put, first (fresh store)',
      argv: ctx.asl('put', '--store', store, f.path),
      options: { warm: f.path },
      before: async () => {
        storeReady = false;
        await freshStore(ctx, store);
      },
      check: (stdout) => {
        const id = stdout.trim();
        if (!/^sha256:[0-9a-f]{64}$/.test(id)) return `asl put printed "${id.slice(0, 80)}", not an id`;
        if (firstId && id !== firstId) return `asl put gave ${firstId} before and ${id} now for the same tree`;
        firstId = id;
        storeReady = true;
        return undefined;
      },
      ratios: { [VS_INTOTO]: intoto, [VS_FLOOR]: `${f.key}/floor-pack-2` },
      target: { versus: intoto, max: 0.5, versusName: 'in-toto-run' },
    },
    {
      id: `${f.key}/put-again`,
      subject: f.name,
      label: 'asl put, again unchanged',
      argv: ctx.asl('put', '--store', store, f.path),
      options: { warm: f.path },
      before: async () => {
        if (!storeReady) throw new Error('no store: the first put failed');
      },
      check: (stdout) =>
        stdout.trim() === firstId ? undefined : `id changed on re-put: ${stdout.trim().slice(0, 80)} ≠ ${firstId}`,
      ratios: { [VS_INTOTO]: intoto, [VS_FIRST]: first },
      target: { versus: first, max: f.reputMax, versusName: 'first put' },
    },
    {
      id: `${f.key}/sha256sum`,
      subject: f.name,
      label: 'sha256sum (find | xargs)',
      argv: ['sh', '-c', 'find "$1" -type f -print0 | xargs -0r sha256sum > /dev/null', 'sha256sum', f.path],
      options: { warm: f.path },
      ratios: { [VS_INTOTO]: intoto },
    },
    ...floorRows(ctx, f, intoto),
    {
      id: intoto,
      subject: f.name,
      label: 'in-toto-run -p TREE -x',
      argv: ['in-toto-run', '-n', 'x', '-k', ctx.intotoKey, '-t', 'ed25519', '-p', f.path, '-x'],
      options: { warm: f.path, cwd: linkDir },
      before: () => freshDir(ctx, linkDir),
      ratios: { [VS_INTOTO]: intoto },
    },
  ];
}

/** The least work of a first ingest in each layout (bench/floor/ingest-floor.c), into a fresh folder. */
function floorRows(ctx: BenchContext, f: Fixture, intoto: string): RowSpec[] {
  const bin = ctx.ingestFloor;
  if (!bin) return [];
  // One thread, and two (both cores of the machine kind the targets are set on).
  return (
    [
      ['loose', 1],
      ['pack', 1],
      ['loose', 2],
      ['pack', 2],
    ] as const
  ).map(([layout, threads]) => {
    const out = join(ctx.workDir, `floor-${layout}-${threads}-${f.key}`);
    const kind = layout === 'loose' ? 'one file per object' : 'one pack file';
    return {
      id: `${f.key}/floor-${layout}${threads === 1 ? '' : `-${threads}`}`,
      subject: f.name,
      label: `least work, ${kind}, ${threads === 1 ? 'one thread' : `${threads} threads`} (C)`,
      argv: [bin, layout, f.path, out, String(threads)],
      options: { warm: f.path },
      before: () => discard(ctx, out),
      check: (stdout) =>
        new RegExp(`^${layout}, ${threads} threads?: \\d+ objects`).test(stdout)
          ? undefined
          : `unexpected output: ${stdout.slice(0, 80)}`,
      ratios: { [VS_INTOTO]: intoto },
    };
  });
}

/**
 * Peak RSS of each tool on two generated trees of the same shape, `small` and `big`
 * (e.g. 10,000 and 100,000 files), and the growth per 1,000 files between them: what a
 * per-file index costs in memory. The big tree's rows are the ingest section's.
 */
export function memorySection(ctx: BenchContext, small: Fixture, big: Fixture): Section {
  const tools: [string, string][] = [
    ['put-first', 'asl put, first'],
    ['put-again', 'asl put, again unchanged'],
    ['sha256sum', 'sha256sum'],
    ['in-toto', 'in-toto-run'],
  ];
  const render = (results: Map<string, RowResult>): string[] => {
    const mb = (kb: number) => (kb / 1024).toFixed(0);
    const rows = tools.map(([suffix, label]) => {
      const a = results.get(`${small.key}/${suffix}`);
      const b = results.get(`${big.key}/${suffix}`);
      if (!a?.wallsS.length || !b?.wallsS.length || a.error || b.error)
        return [label, '', '', '', `error: ${clip(a?.error ?? b?.error ?? 'not run')}`];
      const perK = (b.rssKB - a.rssKB) / ((big.stats.files - small.stats.files) / 1000);
      return [label, mb(a.rssKB), mb(b.rssKB), perK.toFixed(0), ((perK * 1024) / 1000).toFixed(0)];
    });
    return markdownTable(
      ['tool', `${small.name} MB`, `${big.name} MB`, 'growth KB per 1,000 files', 'bytes per file'],
      rows,
      ['l', 'r', 'r', 'r', 'r'],
    );
  };
  return {
    title: 'Peak memory',
    notes: [
      `Peak RSS on two generated trees of the same shape, ${small.name} (${small.stats.files.toLocaleString('en-US')} files) and`,
      `${big.name} (${big.stats.files.toLocaleString('en-US')} files, the rows above); growth is the difference per 1,000 files.`,
    ],
    rows: fixtureRows(ctx, small),
    ratioHeaders: [],
    render,
  };
}
