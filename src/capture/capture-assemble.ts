/**
 * Stage 5 of a command capture: what the step read and wrote, assembled into the
 * receipt's core. For each watched root the change list, the packages that
 * appeared (downloads in apt's archive cache, products anywhere else) and the new
 * files; then the declared outputs and, when traced, what the trace observed.
 */
import { join, resolve } from 'node:path';
import type { CommandCore, WatchedRoot, WatchReason } from '../receipt/types.js';
import { isWithin, type WorkingDirectoryWatch } from './auto-watch.js';
import type { AfterState } from './capture-after.js';
import type { BeforeState } from './capture-before.js';
import type { CommandCaptureOptions } from './capture-options.js';
import type { CapturePlan } from './capture-plan.js';
import type { CapturedRun } from './capture-run.js';
import type { CaptureSession } from './capture-session.js';
import { recordTraced } from './capture-trace-inputs.js';
import { summarizeChanges } from './changes.js';
import { readDebPackage } from './deb-package.js';

/** What the run recorded about its surroundings before it started (the store's environment key hashes them). */
export type RunContext = Required<Pick<CommandCore, 'environment' | 'stdin'>>;

export async function assembleCore(
  session: CaptureSession,
  plan: CapturePlan,
  opts: CommandCaptureOptions,
  run: CapturedRun,
  state: BeforeState,
  afterState: AfterState,
  context: RunContext,
): Promise<CommandCore> {
  const { batch, store, roots } = session;
  const { inputs } = state;
  const { after } = afterState;
  const outputs = [...afterState.outputs];
  const declaredOutputs = new Set((opts.outputs ?? []).map((p) => resolve(plan.cwd, p)));
  // The diff reads the new trees back, so they must be in the store (still
  // unreferenced: nothing points at them until the receipt is written).
  await batch.commit();
  const watched: WatchedRoot[] = [];
  for (const [path, reason] of plan.watchedPaths) {
    const b = state.before.get(path) ?? null;
    const a = after.get(path) ?? null;
    const changes = await summarizeChanges(store, batch, b, a);
    if (changes.paths)
      outputs.push({
        name: `changes:${path}`,
        role: 'changes',
        kind: 'paths',
        digest: changes.paths,
        size: changes.pathsSize,
      });
    // The outermost only (the outdir usually lies in the store).
    const inside = plan.excludedPaths.filter((e) => e !== path && isWithin(e, path));
    const left = [...new Set(inside.filter((e) => !inside.some((o) => o !== e && isWithin(e, o))))].sort();
    watched.push({
      path,
      reason,
      before: b?.id ?? null,
      after: a?.id ?? null,
      added: changes.added,
      modified: changes.modified,
      removed: changes.removed,
      ...(changes.paths ? { paths: changes.paths } : {}),
      ...(left.length > 0 ? { excluded: left } : {}),
    });
    const hostPathOf = (rel: string) => (rel === '' ? path : join(path, rel));
    for (const deb of changes.debs) {
      const hostPath = hostPathOf(deb.path);
      const pkg = await readDebPackage(hostPath).catch(() => undefined);
      if (!pkg) {
        plan.info(`warning: ${hostPath}: not a readable .deb; not listed as a package`);
        continue;
      }
      if (isArchiveCachePath(hostPath)) {
        // Fetched: apt and debootstrap keep what they download in the archive cache.
        const name = `package:${pkg.name}_${pkg.version}_${pkg.architecture}`;
        if (!inputs.some((i) => i.name === name)) {
          inputs.push({
            name,
            role: 'downloaded',
            kind: 'package',
            digest: deb.digest,
            path: hostPath,
            size: deb.size,
            package: pkg,
          });
        }
      } else if (!outputs.some((o) => o.name === hostPath)) {
        // Anywhere else the step made it: a product, never a download.
        outputs.push({
          name: hostPath,
          role: 'product',
          kind: 'package',
          digest: deb.digest,
          path: hostPath,
          size: deb.size,
          package: pkg,
        });
      }
    }
    if (a?.kind === 'tree') {
      const debs = new Set(changes.debs.map((d) => d.path));
      for (const f of changes.files ?? []) {
        if (debs.has(f.path)) continue; // a package: listed above, as a download or a product
        const hostPath = hostPathOf(f.path);
        if (!outputs.some((o) => o.name === hostPath) && !declaredOutputs.has(hostPath))
          outputs.push({
            name: hostPath,
            role: 'product',
            kind: 'blob',
            digest: f.digest,
            path: hostPath,
            size: f.size,
          });
      }
    }
  }
  for (const p of opts.outputs ?? []) {
    const path = resolve(plan.cwd, p);
    if (!(await session.exists(path))) {
      plan.info(`warning: declared output ${p} does not exist after the command`);
      continue;
    }
    const s = await session.snap(path);
    roots.push([s, path]);
    if (!outputs.some((o) => o.name === path))
      outputs.push({ name: path, role: 'declared', kind: s.kind, digest: s.id, path, size: s.size });
  }

  if (run.tracePath)
    await recordTraced(session, plan, inputs, outputs, {
      tracePath: run.tracePath,
      keepObserved: opts.keepObserved ?? false,
      declaredOutputs,
    });

  if (!outputs.some((o) => o.kind !== 'log' && o.role !== 'changes'))
    plan.info(noOutputWarning(plan.step, plan.watchedPaths, plan.workingDir, opts.autoWatch ?? true));
  return {
    kind: 'command',
    step: plan.step,
    command: {
      shell: opts.cmd,
      ...(opts.cmdBytes ? { shellBase64: opts.cmdBytes.toString('base64') } : {}),
      argv: run.argv,
      cwd: plan.cwd,
    },
    program: state.program,
    inputs,
    outputs,
    environment: context.environment,
    stdin: context.stdin,
    exit: run.exit,
    watched,
    traced: opts.trace ?? false,
  };
}

/**
 * Where apt and debootstrap keep the packages they fetch (Dir::Cache::archives,
 * and its partial/ folder), on the host or inside a chroot: a `.deb` that
 * appears there was downloaded.
 */
export function isArchiveCachePath(hostPath: string): boolean {
  return /(^|\/)var\/cache\/apt\/archives\/(partial\/)?[^/]+\.u?deb$/.test(hostPath);
}

/** The one line a capture prints when it recorded nothing the command wrote. */
function noOutputWarning(
  step: string,
  watched: ReadonlyMap<string, WatchReason>,
  wd: WorkingDirectoryWatch | null,
  auto: boolean,
): string {
  const where = watched.size > 0 ? `nothing changed in ${[...watched.keys()].join(', ')}` : 'no path was watched';
  const why = !auto
    ? '--no-auto-watch is set'
    : wd?.skipped === 'system-directory'
      ? 'the working directory is a system directory and is not watched'
      : wd?.skipped === 'pseudo-filesystem'
        ? 'the working directory is in a pseudo file system and is not watched'
        : wd?.skipped === 'home-directory'
          ? 'the working directory is (or holds) the home directory and is not watched'
          : undefined;
  return `warning: step ${step} recorded no output besides its logs (${where}${why ? `; ${why}` : ''}); if the command wrote files elsewhere, name them with --watch PATH or --output PATH`;
}
