// Size of a fixture tree, so each table says what was measured.
import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export interface TreeStats {
  /** Everything below the root (files, directories, links, devices…). */
  entries: number;
  files: number;
  bytes: number;
}

export function treeStats(root: string): TreeStats {
  const stats: TreeStats = { entries: 0, files: 0, bytes: 0 };
  const pending = [root];
  for (let dir = pending.pop(); dir !== undefined; dir = pending.pop()) {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      stats.entries++;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) pending.push(path);
      else if (entry.isFile()) {
        stats.files++;
        stats.bytes += lstatSync(path).size;
      }
    }
  }
  return stats;
}

export function describeStats(s: TreeStats): string {
  return `${s.entries.toLocaleString('en-US')} entries, ${s.files.toLocaleString('en-US')} regular files, ${(s.bytes / 1e6).toFixed(0)} MB`;
}
