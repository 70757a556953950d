/**
 * Stage 2 of a command capture: the state before the command runs. The declared
 * inputs (and the receipts found in them), the watched roots, and the programs
 * the command line names, all staged in the session's batch.
 */
import { lstat, readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { digestBytes } from '../core/digest.js';
import { listReceipts } from '../receipt/store-receipt.js';
import type { ArtifactRef, ProgramRef } from '../receipt/types.js';
import type { SnapshotResult } from '../store/snapshot.js';
import type { Store } from '../store/store.js';
import type { CapturePlan } from './capture-plan.js';
import type { CaptureSession } from './capture-session.js';
import { isEnvelopeFileName } from './outdir.js';

export interface BeforeState {
  /** Declared inputs, receipt inputs, watched roots before and programs, in that order. */
  inputs: ArtifactRef[];
  /** Each watched root before the run; null when it did not exist. */
  before: Map<string, SnapshotResult | null>;
  program: ProgramRef[];
}

export async function snapshotBefore(session: CaptureSession, plan: CapturePlan): Promise<BeforeState> {
  const { batch, roots, store } = session;
  // Declared inputs, and the receipts found in them.
  const inputs: ArtifactRef[] = [];
  let logged: Set<string> | undefined;
  for (const p of plan.declaredInputs) {
    const path = resolve(plan.cwd, p);
    if (inputs.some((i) => i.name === path)) continue;
    const s = await session.snap(path);
    roots.push([s, path]);
    inputs.push({ name: path, role: 'declared', kind: s.kind, digest: s.id, path, size: s.size });
    for (const [file, bytes] of await findEnvelopes(path)) {
      // Only a receipt this store has logged (its signature checked when it was
      // written) is a receipt input; other bytes under that name stay part of the tree.
      logged ??= await loggedReceiptIds(store);
      if (!logged.has(digestBytes(bytes))) {
        plan.info(
          `note: ${file} is not a receipt of this store's log (edited, or from elsewhere); not taken as a receipt input`,
        );
        continue;
      }
      const id = await batch.addBytes(bytes);
      if (!inputs.some((i) => i.digest === id && i.kind === 'receipt')) {
        inputs.push({
          name: `receipt:${file}`,
          role: 'declared',
          kind: 'receipt',
          digest: id,
          path: file,
          size: bytes.length,
        });
      }
    }
  }

  // Watched roots, before.
  const before = new Map<string, SnapshotResult | null>();
  for (const path of plan.watchedPaths.keys()) {
    const s = await session.snapIfExists(path);
    before.set(path, s);
    if (s) {
      roots.push([s, path]);
      inputs.push({ name: `before:${path}`, role: 'watched', kind: s.kind, digest: s.id, path, size: s.size });
    }
  }

  // The programs the command line names.
  const lookup = await plan.packagesFound;
  if (lookup) throw lookup.err;
  const program: ProgramRef[] = [];
  for (const prog of plan.programs) {
    if (!prog.hostPath || !prog.path) continue;
    const { digest, size } = await batch.addFile(prog.hostPath, Number.MAX_SAFE_INTEGER);
    if (program.some((p) => p.path === prog.path && (p.root ?? null) === prog.root)) continue;
    program.push({
      path: prog.path,
      digest,
      ...(prog.root ? { root: prog.root } : {}),
      ...(prog.package ? { package: prog.package.name, version: prog.package.version } : {}),
    });
    if (!inputs.some((i) => i.digest === digest && i.role === 'program')) {
      inputs.push({
        name: `program:${prog.hostPath}`,
        role: 'program',
        kind: 'blob',
        digest,
        path: prog.hostPath,
        size,
      });
    }
  }
  return { inputs, before, program };
}

/** Receipt envelopes under `path` (a file or a directory), as [path, bytes]. */
async function findEnvelopes(path: string): Promise<Array<[string, Buffer]>> {
  const found: Array<[string, Buffer]> = [];
  const visit = async (p: string) => {
    const st = await lstat(p);
    if (st.isDirectory()) {
      for (const name of (await readdir(p)).sort()) await visit(join(p, name));
    } else if (st.isFile() && isEnvelopeFileName(p.split('/').pop()!)) {
      found.push([p, await readFile(p)]);
    }
  };
  await visit(path);
  return found;
}

/** The ids of the receipts in the store's log (a damaged log fails the capture, as appending to it would). */
async function loggedReceiptIds(store: Store): Promise<Set<string>> {
  return new Set((await listReceipts(store)).map((r) => r.entry.receipt as string));
}
