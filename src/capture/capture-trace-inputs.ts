/**
 * Part of assembling a traced capture: the files the process tree read that
 * nobody declared (observed inputs) and those it wrote outside the watched
 * roots (products).
 */
import { lstat, realpath } from 'node:fs/promises';
import { canonicalize } from '../core/canonical-json.js';
import { AslError } from '../core/errors.js';
import type { ArtifactRef } from '../receipt/types.js';
import type { CapturePlan } from './capture-plan.js';
import type { CaptureSession } from './capture-session.js';
import { splitObserved, type ObservedSplit } from './observed-packages.js';
import { parseStraceFile, resolveTrace } from './trace.js';

export interface TraceRecordOptions {
  tracePath: string;
  /** Store observed packaged files by their bytes too, not only as a list. */
  keepObserved: boolean;
  /** Declared --output paths: snapshotted as declared, never listed as products. */
  declaredOutputs: ReadonlySet<string>;
}

export async function recordTraced(
  session: CaptureSession,
  plan: CapturePlan,
  inputs: ArtifactRef[],
  outputs: ArtifactRef[],
  opts: TraceRecordOptions,
): Promise<void> {
  const { batch, store } = session;
  const watchedRoots = [
    ...plan.watchedPaths.keys(),
    ...inputs.filter((i) => i.role === 'declared' && i.path).map((i) => i.path!),
  ];
  const parsed = await parseStraceFile(opts.tracePath, { cwd: plan.cwd });
  if (parsed.processes === 0) {
    throw new AslError(
      'BAD_INPUT',
      `--trace: strace traced no process (is ptrace permitted here?); the command did not run under the trace`,
    );
  }
  const trace = await resolveTrace(parsed, { exclude: [store.root, plan.outdir, session.workDir, ...watchedRoots] });
  const roots = await Promise.all(parsed.roots.map((r) => realpath(r).catch(() => r)));
  const split: ObservedSplit = opts.keepObserved
    ? { packages: [], databases: [], other: trace.files, changed: 0 }
    : await splitObserved(trace.files, roots);
  for (const { path } of split.other) {
    let st;
    try {
      st = await lstat(path);
    } catch {
      continue;
    }
    if (!st.isFile()) continue;
    const { digest, size } = await batch.addFile(path, st.size);
    const name = `observed:${path}`;
    if (!inputs.some((i) => i.name === name)) inputs.push({ name, role: 'observed', kind: 'blob', digest, path, size });
  }
  // Packaged files and dpkg's database: one input each, the files listed (path, sha256) in a paths artifact.
  const listOf = async (files: ReadonlyArray<{ path: string; digest: string; size: number; listedAs?: string }>) => {
    const bytes = Buffer.from(`${files.map((f) => canonicalize(f)).join('\n')}\n`);
    return { digest: await batch.addBytes(bytes), size: bytes.length };
  };
  for (const p of split.packages) {
    const { digest, size } = await listOf(p.files);
    const where = p.root === '/' ? '' : `@${p.root}`;
    inputs.push({
      name: `observed-package:${p.package.name}_${p.package.version}_${p.package.architecture}${where}`,
      role: 'observed',
      kind: 'paths',
      digest,
      size,
      package: p.package,
      ...(p.root === '/' ? {} : { path: p.root }),
    });
  }
  for (const d of split.databases) {
    const { digest, size } = await listOf(d.files);
    inputs.push({
      name: `observed-dpkg-database:${d.admindir}`,
      role: 'observed',
      kind: 'paths',
      digest,
      size,
      path: d.admindir,
    });
  }
  // What the process tree wrote outside the watched roots: products, with their bytes.
  for (const w of trace.written) {
    if (outputs.some((o) => o.name === w.path) || opts.declaredOutputs.has(w.path)) continue;
    let st;
    try {
      st = await lstat(w.path);
    } catch {
      continue;
    }
    if (!st.isFile()) continue;
    const { digest, size } = await batch.addFile(w.path, st.size);
    outputs.push({ name: w.path, role: 'product', kind: 'blob', digest, path: w.path, size });
  }
  if (trace.written.length > 0)
    plan.info(
      `trace: ${trace.written.length} files written outside the watched roots, recorded as products: ${trace.written
        .slice(0, 3)
        .map((w) => w.path)
        .join(', ')}${trace.written.length > 3 ? ', …' : ''}`,
    );
  const packagedFiles = split.packages.reduce((n, p) => n + p.files.length, 0);
  const dbFiles = split.databases.reduce((n, d) => n + d.files.length, 0);
  plan.info(
    `trace: ${trace.files.length} files read outside the watched roots: ${packagedFiles} from ${split.packages.length} packages (bytes match dpkg's checksums; not copied)` +
      `, ${dbFiles} of dpkg's database, ${split.other.length} recorded with their bytes${split.changed ? ` (${split.changed} differ from their package's checksum)` : ''}`,
  );
}
