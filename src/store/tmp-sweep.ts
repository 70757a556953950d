/**
 * The store's tmp/ holds one folder per writer: tmp/<pid>-<rand> (an object batch),
 * tmp/capture-<pid>-<rand>, tmp/import-<pid>-<rand>. A writer killed with SIGKILL
 * leaves its folder behind: never visible to readers, but space. A folder is swept
 * when the process that made it is gone AND it is older than an hour: the age rule
 * keeps a folder of a live writer in another PID namespace (a container sharing the
 * store) safe even though its pid looks dead from here.
 */
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { processAlive } from '../core/process-alive.js';
import { TMP_DIR } from './layout.js';
import type { Store } from './store.js';

const WRITER_FOLDER = /^(?:capture-|import-)?(\d+)-[0-9a-f]+$/;
export const ABANDONED_AFTER_MS = 60 * 60 * 1000;

/** Names in tmp/ left by writers that are gone; `now` and `alive` are for tests. */
export async function abandonedTmpEntries(
  store: Store,
  opts: { now?: number; alive?: (pid: number) => boolean } = {},
): Promise<string[]> {
  const now = opts.now ?? Date.now();
  const alive = opts.alive ?? processAlive;
  let names: string[];
  try {
    names = await readdir(join(store.root, TMP_DIR));
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const name of names.sort()) {
    const m = WRITER_FOLDER.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || alive(pid)) continue;
    const st = await stat(join(store.root, TMP_DIR, name)).catch(() => null);
    if (st && now - st.mtimeMs >= ABANDONED_AFTER_MS) out.push(name);
  }
  return out;
}

const sweptThisProcess = new Set<string>();

/** Removes abandoned writer folders once per store per process; failures are ignored (it is only space). */
export async function sweepAbandonedTmp(store: Store): Promise<string[]> {
  if (sweptThisProcess.has(store.root)) return [];
  sweptThisProcess.add(store.root);
  const names = await abandonedTmpEntries(store);
  for (const name of names) await rm(join(store.root, TMP_DIR, name), { recursive: true, force: true }).catch(() => {});
  return names;
}
