// `asl audit` and `asl sbom` of a whole image. The bench builds its own store: the
// bookworm minbase fixture copied into a watched root by one captured step (the .debs
// come along and are recorded as downloaded), so every file has a package, a control
// member or a step to be classed by. When the demo's store is there (`npm run demo`
// leaves it in work/asl-preimage-store), its image_root receipt, the ASL-AUTH-HOST
// image (debootstrap + apt + overlay, ~8,700 files), is audited too: the figure the
// issue's "whole image in under 10 s" is about.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT } from '../test/helpers.js';
import type { BenchContext } from './context.js';
import { mustRun } from './measure.js';
import type { RowSpec, Section } from './runner.js';

/** The demo's store, relative to the checkout (examples/asl-auth-host/asl-workflow.sh, WORKDIR=work). */
const DEMO_STORE = join(REPO_ROOT, 'work', 'asl-preimage-store');

/** A run is wrong, not slow, when the audit does not see a whole, attributed image. */
function checkAudit(minFiles: number): (stdout: string) => string | undefined {
  return (stdout) => {
    const s = (JSON.parse(stdout) as { summary: { files: number; unattributed: number } }).summary;
    if (s.files < minFiles) return `audit saw ${s.files} files, expected at least ${minFiles}`;
    return s.unattributed === 0 ? undefined : `audit found ${s.unattributed} unattributed files`;
  };
}

export async function auditSection(
  ctx: BenchContext,
  minbase: { path: string; stats: { files: number } },
): Promise<Section> {
  const work = join(ctx.workDir, 'audit');
  const store = join(work, 'store');
  await mkdir(join(work, 'root'), { recursive: true });
  await mustRun(ctx.asl('init', '--store', store));
  await mustRun(
    ctx.asl(
      'capture',
      '--store',
      store,
      '--cmd',
      `cp -a ${minbase.path}/. root/`,
      '--watch',
      'root',
      '--no-auto-watch',
      '--outdir',
      join(store, 'per', 'install'),
    ),
    work,
  );
  const subject = `bookworm minbase (${minbase.stats.files.toLocaleString('en-US')} files), one captured copy`;
  const rows: RowSpec[] = [
    {
      id: 'audit/minbase',
      subject,
      label: 'asl audit install --json',
      argv: ctx.asl('audit', '--store', store, 'install', '--json'),
      check: checkAudit(minbase.stats.files),
    },
    {
      id: 'sbom/minbase-cdx',
      subject,
      label: 'asl sbom install --format cyclonedx',
      argv: ctx.asl('sbom', '--store', store, 'install', '--format', 'cyclonedx', '-o', join(work, 'minbase.cdx.json')),
    },
    {
      id: 'sbom/minbase-spdx',
      subject,
      label: 'asl sbom install --format spdx',
      argv: ctx.asl('sbom', '--store', store, 'install', '--format', 'spdx', '-o', join(work, 'minbase.spdx.json')),
    },
  ];
  const demo = existsSync(join(DEMO_STORE, 'asl-store.json'));
  if (demo) {
    const subject = 'ASL-AUTH-HOST image (work/asl-preimage-store, image_root)';
    rows.push({
      id: 'audit/demo',
      subject,
      label: 'asl audit image_root --json',
      argv: ctx.asl('audit', '--store', DEMO_STORE, 'image_root', '--json'),
      check: checkAudit(5000),
    });
  }
  return {
    title: 'Audit of a whole image (asl audit, asl sbom)',
    notes: [
      "One pass over every entry of the image's tree: the tree's dpkg database read once, each package file's md5",
      'checked against its md5sums (every such file is read from the store), each dpkg control file compared with the',
      "member of its recorded .deb (every .deb is read, its control archive decompressed by dpkg-deb), and the root's",
      'history diffed step by step. The SBOM rows add a SHA-1 of every file. The store is made untimed before the rows.',
      demo
        ? 'The demo image row audits the store `npm run demo` left in work/.'
        : 'No demo store in work/asl-preimage-store (run `npm run demo` first): the demo image row is left out.',
    ],
    rows,
    ratioHeaders: [],
  };
}
