// Issue 3's benchmark: what wrapping a command in `asl capture` costs, against
// in-toto-run and the bare command. Skipped (with a note) until `asl capture` exists.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT } from '../test/helpers.js';
import { freshDir, freshStore, type BenchContext } from './context.js';
import type { Fixture } from './ingest.js';
import { mustRun } from './measure.js';
import type { RowSpec, Section } from './runner.js';

const VS_INTOTO = '÷ in-toto-run';

export async function captureSection(ctx: BenchContext, tree: Fixture): Promise<Section> {
  const title = 'Capture overhead';
  try {
    await mustRun(ctx.asl('capture', '--help'));
  } catch (err) {
    const why = (err as Error).message.split(REPO_ROOT).join('.');
    return {
      title,
      notes: [`Skipped: \`asl capture --help\` failed (${why}): \`asl capture\` is not there yet.`],
      rows: [],
      ratioHeaders: [],
    };
  }
  return {
    title,
    notes: [
      '`asl capture` runs the command, stores stdout/stderr, snapshots watched trees before and after, and signs a',
      'receipt; `in-toto-run` hashes materials/products and signs a link. "step over" watches the debootstrap',
      'tree (`asl capture --watch TREE`, fresh store each run) vs `in-toto-run -m TREE -p TREE`. asl runs in an empty',
      "working directory (a capture watches its working directory: here an empty one, as in-toto-run's link folder).",
    ],
    rows: [...trueRows(ctx), ...stepRows(ctx, tree)],
    ratioHeaders: [VS_INTOTO],
  };
}

function trueRows(ctx: BenchContext): RowSpec[] {
  const store = join(ctx.workDir, 'capture-true-store');
  const outdir = join(store, 'per', 'true');
  const linkDir = join(ctx.workDir, 'capture-true-links');
  const workingDir = join(ctx.workDir, 'capture-true-cwd');
  const intoto = 'true/in-toto';
  let storeReady = false;
  return [
    { id: 'true/bare', subject: '`true`', label: 'bare `true`', argv: ['true'], ratios: { [VS_INTOTO]: intoto } },
    {
      id: intoto,
      subject: '`true`',
      label: 'in-toto-run -- true',
      argv: ['in-toto-run', '-n', 'x', '-k', ctx.intotoKey, '-t', 'ed25519', '--', 'true'],
      options: { cwd: linkDir },
      before: () => freshDir(ctx, linkDir),
      ratios: { [VS_INTOTO]: intoto },
    },
    {
      id: 'true/asl',
      subject: '`true`',
      label: 'asl capture --cmd true',
      argv: ctx.asl('capture', '--store', store, '--cmd', 'true', '--outdir', outdir),
      options: { cwd: workingDir },
      before: async () => {
        if (!storeReady) await freshStore(ctx, store);
        storeReady = true;
        await freshDir(ctx, workingDir);
        await rm(outdir, { recursive: true, force: true });
      },
      ratios: { [VS_INTOTO]: intoto },
      target: { versus: intoto, max: 0.5, versusName: 'in-toto-run' },
    },
  ];
}

function stepRows(ctx: BenchContext, f: Fixture): RowSpec[] {
  const store = join(ctx.workDir, 'capture-step-store');
  const linkDir = join(ctx.workDir, 'capture-step-links');
  const workingDir = join(ctx.workDir, 'capture-step-cwd');
  const intoto = 'step/in-toto';
  const subject = `step over ${f.name}`;
  return [
    {
      id: intoto,
      subject,
      label: 'in-toto-run -m TREE -p TREE -- true',
      argv: ['in-toto-run', '-n', 'x', '-k', ctx.intotoKey, '-t', 'ed25519', '-m', f.path, '-p', f.path, '--', 'true'],
      options: { cwd: linkDir, warm: f.path },
      before: () => freshDir(ctx, linkDir),
      ratios: { [VS_INTOTO]: intoto },
    },
    {
      id: 'step/asl',
      subject,
      label: 'asl capture --watch TREE --cmd true',
      argv: ctx.asl(
        'capture',
        '--store',
        store,
        '--watch',
        f.path,
        '--cmd',
        'true',
        '--outdir',
        join(store, 'per', 'step'),
      ),
      options: { warm: f.path, cwd: workingDir },
      before: async () => {
        await freshDir(ctx, workingDir);
        await freshStore(ctx, store);
      },
      ratios: { [VS_INTOTO]: intoto },
      target: { versus: intoto, max: 0.5, versusName: 'in-toto-run' },
    },
  ];
}
