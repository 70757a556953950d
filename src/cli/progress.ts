import type { Io } from './command.js';
import type { SnapshotProgress } from '../store/snapshot.js';

export function formatBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) { v /= 1000; u++; }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

/** Progress on stderr when it is a terminal (files, bytes, rate); silent otherwise. */
export function progressReporter(io: Io, label: string): { update: (p: SnapshotProgress) => void; done: () => void } {
  if (!io.interactive) return { update: () => {}, done: () => {} };
  const started = Date.now();
  let shown = false;
  return {
    update(p) {
      const secs = Math.max((Date.now() - started) / 1000, 0.001);
      io.stderr.write(`\r${label}: ${p.files}/${p.totalFiles} files, ${formatBytes(p.bytes)} (${formatBytes(p.bytes / secs)}/s)   `);
      shown = true;
    },
    done() {
      if (shown) io.stderr.write('\n');
    },
  };
}
