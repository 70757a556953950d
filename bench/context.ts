// What every section needs: where to put stores and links, the in-toto key, how to run asl.
import { mkdir, rm } from 'node:fs/promises';
import { ASL_BIN } from '../test/helpers.js';
import { mustRun } from './measure.js';

export interface BenchContext {
  /** A temp directory for stores, in-toto links and capture outdirs. */
  workDir: string;
  /** An ed25519 key in in-toto's securesystemslib format. */
  intotoKey: string;
  /** argv running this checkout's `asl` with the given arguments. */
  asl(...args: string[]): string[];
}

export function aslArgv(...args: string[]): string[] {
  return [process.execPath, ASL_BIN, ...args];
}

/** A new, empty store at `dir` (whatever was there is removed). */
export async function freshStore(ctx: BenchContext, dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mustRun(ctx.asl('init', '--store', dir)).catch((err: Error) => {
    throw new Error(`asl init: ${err.message}`);
  });
}

/** A new, empty directory at `dir`. */
export async function freshDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
}
