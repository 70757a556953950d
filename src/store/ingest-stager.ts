/**
 * Feeds regular files to ObjectBatch.addFiles in chunks, a few chunks in flight,
 * so reading, hashing and staging run on libuv worker threads (every core) while
 * the main thread keeps walking the tree. The walker adds files as it finds them
 * and waits (waitForRoom) when too many are queued: memory stays bounded however
 * big the tree is.
 */
import { availableParallelism } from 'node:os';
import type { ObjectBatch, StagedFile } from './object-batch.js';

/** Files per native call: enough to amortize the call, small enough to balance the threads. */
const CHUNK_FILES = 64;
/** …or fewer files when they are big (by size hint), so one chunk does not hold a core too long. */
const CHUNK_BYTES = 8 * 1024 * 1024;
/** Files queued or in flight before the walker waits. */
const HIGH_WATER = 4096;
const LOW_WATER = 2048;

export type StagedCallback = (result: StagedFile) => void;

interface Chunk {
  paths: Buffer[];
  sizes: number[];
  done: StagedCallback[];
  bytes: number;
}

export class FileStager {
  private readonly batch: ObjectBatch;
  private readonly maxInFlight: number;
  private current: Chunk = newChunk();
  private readonly ready: Chunk[] = [];
  private inFlight = 0;
  private backlog = 0;
  private error: unknown;
  private failed = false;
  private roomWaiters: Array<() => void> = [];
  private idleWaiters: Array<() => void> = [];

  constructor(batch: ObjectBatch, parallelism = availableParallelism()) {
    this.batch = batch;
    // One chunk queued behind each running one keeps a worker busy while the
    // main thread is between event-loop turns.
    this.maxInFlight = Math.max(2, parallelism * 2);
  }

  /** Files added and not yet finished. */
  get pending(): number {
    return this.backlog;
  }

  get hasFailed(): boolean {
    return this.failed;
  }

  add(path: Buffer, sizeHint: number, done: StagedCallback): void {
    const c = this.current;
    c.paths.push(path);
    c.sizes.push(sizeHint);
    c.done.push(done);
    c.bytes += sizeHint;
    this.backlog++;
    if (c.paths.length >= CHUNK_FILES || c.bytes >= CHUNK_BYTES) {
      this.ready.push(c);
      this.current = newChunk();
      this.pump();
    } else if (this.inFlight === 0) {
      // Idle workers: start now rather than wait for a full chunk.
      this.flush();
    }
  }

  /** Sends the partly filled chunk too (end of the walk, or the walker is about to wait). */
  flush(): void {
    if (this.current.paths.length > 0) {
      this.ready.push(this.current);
      this.current = newChunk();
    }
    this.pump();
  }

  /** Resolves when the backlog is low enough to keep walking. */
  waitForRoom(): Promise<void> {
    if (this.backlog < HIGH_WATER || this.failed) return Promise.resolve();
    this.flush();
    return new Promise((resolve) => this.roomWaiters.push(resolve));
  }

  /** Sends everything, waits for every file; throws the first failure (after all in-flight work has settled). */
  async finish(): Promise<void> {
    this.flush();
    if (this.inFlight > 0 || this.ready.length > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    if (this.failed) throw this.error;
  }

  private pump(): void {
    while (!this.failed && this.inFlight < this.maxInFlight && this.ready.length > 0) {
      const chunk = this.ready.shift()!;
      this.inFlight++;
      this.batch.addFiles(chunk.paths, chunk.sizes).then(
        (results) => {
          this.inFlight--;
          this.backlog -= chunk.paths.length;
          if (!this.failed) {
            try {
              for (let i = 0; i < results.length; i++) chunk.done[i]!(results[i]!);
            } catch (err) {
              this.fail(err);
            }
          }
          this.settle();
        },
        (err) => {
          this.inFlight--;
          this.backlog -= chunk.paths.length;
          this.fail(err);
          this.settle();
        },
      );
    }
  }

  private fail(err: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.error = err;
    this.backlog -= this.ready.reduce((n, c) => n + c.paths.length, 0) + this.current.paths.length;
    this.ready.length = 0;
    this.current = newChunk();
  }

  private settle(): void {
    if (!this.failed && this.ready.length === 0 && this.current.paths.length > 0 && this.inFlight < this.maxInFlight) {
      // The walker is not producing right now (we are in an event-loop turn): keep the workers fed.
      this.flush();
    } else {
      this.pump();
    }
    if (this.backlog < LOW_WATER || this.failed) {
      const waiters = this.roomWaiters;
      this.roomWaiters = [];
      for (const w of waiters) w();
    }
    if (this.inFlight === 0 && (this.ready.length === 0 || this.failed)) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }
}

function newChunk(): Chunk {
  return { paths: [], sizes: [], done: [], bytes: 0 };
}
