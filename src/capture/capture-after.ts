/**
 * Stage 4 of a command capture: the state after the command ran. Its logs, any
 * root the command created where auto-watch would have chosen one, and every
 * watched root again; a root that changed (or appeared) is an output.
 */
import type { ArtifactRef } from '../receipt/types.js';
import type { SnapshotResult } from '../store/snapshot.js';
import { createdWatchRoots } from './auto-watch.js';
import type { BeforeState } from './capture-before.js';
import type { CapturePlan } from './capture-plan.js';
import type { CapturedRun } from './capture-run.js';
import type { CaptureSession } from './capture-session.js';

export interface AfterState {
  /** The logs, then every watched root that changed. */
  outputs: ArtifactRef[];
  /** Each watched root after the run; null when it does not exist. */
  after: Map<string, SnapshotResult | null>;
}

export async function snapshotAfter(
  session: CaptureSession,
  plan: CapturePlan,
  run: CapturedRun,
  state: BeforeState,
): Promise<AfterState> {
  const { batch } = session;
  const outputs: ArtifactRef[] = [];
  const out = await batch.addFile(run.logs.stdout, Number.MAX_SAFE_INTEGER);
  const err = await batch.addFile(run.logs.stderr, Number.MAX_SAFE_INTEGER);
  outputs.push({ name: 'stdout', role: 'stdout', kind: 'log', digest: out.digest, size: out.size });
  outputs.push({ name: 'stderr', role: 'stderr', kind: 'log', digest: err.digest, size: err.size });

  const { watchedPaths } = plan;
  if (plan.autoWatch) {
    // A path the run created inside the working directory is a root of its own (the cwd root leaves it out).
    const covered = [...watchedPaths].filter(([, reason]) => reason !== 'cwd').map(([p]) => p);
    const created = await createdWatchRoots(plan.autoWatch, {
      programPaths: plan.programPaths,
      exclude: plan.excludeDirs,
      covered,
    });
    for (const r of created.roots) {
      if (!watchedPaths.has(r.path)) {
        watchedPaths.set(r.path, 'auto');
        state.before.set(r.path, null);
        plan.info(`watching (created by the command): ${r.path}`);
      }
    }
  }
  const after = new Map<string, SnapshotResult | null>();
  for (const path of watchedPaths.keys()) {
    const a = await session.snapIfExists(path);
    after.set(path, a);
    // An unchanged root is an input only; a changed (or new) one is an output.
    if (a && a.id !== state.before.get(path)?.id) {
      session.roots.push([a, path]);
      outputs.push({ name: path, role: 'watched', kind: a.kind, digest: a.id, path, size: a.size });
    }
  }
  return { outputs, after };
}
