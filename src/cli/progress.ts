import type { Io } from './command.js';
import type { SnapshotProgress } from '../store/snapshot.js';
import { formatBytes } from '../core/format-bytes.js';

export { formatBytes };

/**
 * One self-rewriting progress line on stderr when it is a terminal (count, bytes,
 * rate); silent otherwise.
 */
function progressLine(
  io: Io,
  label: string,
  unit: string,
): { show: (done: number, total: number, bytes: number) => void; done: () => void } {
  if (!io.interactive) return { show: () => {}, done: () => {} };
  const started = Date.now();
  let shown = false;
  let last = 0;
  return {
    show(done, total, bytes) {
      // At most ten lines a second: a pull reports thousands of objects, and a terminal write each costs more than the object.
      const now = Date.now();
      if (now - last < 100 && done < total) return;
      last = now;
      const secs = Math.max((now - started) / 1000, 0.001);
      io.stderr.write(
        `\r${label}: ${done}/${total} ${unit}, ${formatBytes(bytes)} (${formatBytes(bytes / secs)}/s)   `,
      );
      shown = true;
    },
    done() {
      if (shown) io.stderr.write('\n');
    },
  };
}

/** Snapshot progress (files, bytes, rate). */
export function progressReporter(io: Io, label: string): { update: (p: SnapshotProgress) => void; done: () => void } {
  const line = progressLine(io, label, 'files');
  return { update: (p) => line.show(p.files, p.totalFiles, p.bytes), done: line.done };
}

/** Object copy progress (seed, bundles). */
export function objectProgress(
  io: Io,
  label: string,
): { update: (p: { objects: number; totalObjects: number; bytes: number }) => void; done: () => void } {
  const line = progressLine(io, label, 'objects');
  return { update: (p) => line.show(p.objects, p.totalObjects, p.bytes), done: line.done };
}
