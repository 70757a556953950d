// What every section needs: where to put stores and links, the in-toto key, how to run asl.
import { mkdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { ASL_BIN } from '../test/helpers.js';
import { mustRun } from './measure.js';

export interface BenchContext {
  /** A temp directory for stores, in-toto links and capture outdirs. */
  workDir: string;
  /** An ed25519 key in in-toto's securesystemslib format. */
  intotoKey: string;
  /** argv running this checkout's `asl` with the given arguments. */
  asl(...args: string[]): string[];
  /** bench/floor/ingest-floor.c, compiled (undefined when no C compiler or libssl-dev). */
  ingestFloor?: string;
}

/** `asl` as a user runs it: the launcher as a program (its /bin/sh line first, see bin/asl). */
export function aslArgv(...args: string[]): string[] {
  return [ASL_BIN, ...args];
}

let discarded = 0;

/**
 * Moves `dir` (if there) into the work directory's `discarded/`, removed with the
 * rest when the bench ends. Not deleted now: on ext4 without a journal (the file
 * system here) the inode allocator skips inodes freed in the last 60 s (6 min
 * while their table block is dirty), checking each one, so deleting a 5,000-file
 * store right before a run made that run's file creation up to 3× slower: a cost
 * of the bench's cleanup, not of the tool measured.
 */
export async function discard(ctx: BenchContext, dir: string): Promise<void> {
  const bin = join(ctx.workDir, 'discarded');
  await mkdir(bin, { recursive: true });
  await rename(dir, join(bin, String(++discarded))).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

/** A new, empty store at `dir` (whatever was there is moved aside, see discard). */
export async function freshStore(ctx: BenchContext, dir: string): Promise<void> {
  await discard(ctx, dir);
  await mustRun(ctx.asl('init', '--store', dir)).catch((err: Error) => {
    throw new Error(`asl init: ${err.message}`);
  });
}

/** A new, empty directory at `dir` (whatever was there is moved aside, see discard). */
export async function freshDir(ctx: BenchContext, dir: string): Promise<void> {
  await discard(ctx, dir);
  await mkdir(dir, { recursive: true });
}
