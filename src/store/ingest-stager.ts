/**
 * Feeds regular files to ObjectBatch in chunks, a few chunks in flight, so
 * reading, hashing and staging run on libuv worker threads (every core) while
 * the main thread keeps walking the tree. The walker adds files as it finds them
 * and waits (waitForRoom) when too many are queued: memory stays bounded however
 * big the tree is.
 */
import { availableParallelism } from 'node:os';
import type { Digest } from '../core/digest.js';
import type { ObjectBatch } from './object-batch.js';

/** Files per native call: enough to amortize the call, small enough to balance the threads. */
const CHUNK_FILES = 64;
/** …or fewer files when they are big (by size hint), so one chunk does not hold a core too long. */
const CHUNK_BYTES = 8 * 1024 * 1024;
/** Files queued or in flight before the walker waits. */
const HIGH_WATER = 4096;
const LOW_WATER = 2048;

/** Called once per file, in the order files were added within a chunk. */
export type StagedHandler<T> = (token: T, digest: Digest, size: number) => void;

class Chunk<T> {
  paths = Buffer.allocUnsafe(16 * 1024);
  length = 0;
  count = 0;
  bytes = 0;
  tokens: T[] = [];

  /** Appends dir + "/" + name + NUL (the native call's input format). */
  push(dir: Buffer, name: Buffer, sizeHint: number, token: T): void {
    const need = this.length + dir.length + name.length + 2;
    if (need > this.paths.length) {
      const bigger = Buffer.allocUnsafe(Math.max(need, this.paths.length * 2));
      this.paths.copy(bigger, 0, 0, this.length);
      this.paths = bigger;
    }
    this.length += dir.copy(this.paths, this.length);
    if (!(dir.length === 1 && dir[0] === 0x2f)) this.paths[this.length++] = 0x2f;
    this.length += name.copy(this.paths, this.length);
    this.paths[this.length++] = 0;
    this.count++;
    this.bytes += sizeHint;
    this.tokens.push(token);
  }
}

export class FileStager<T> {
  private readonly batch: ObjectBatch;
  private readonly onStaged: StagedHandler<T>;
  private readonly maxInFlight: number;
  private current = new Chunk<T>();
  private readonly ready: Chunk<T>[] = [];
  private inFlight = 0;
  private backlog = 0;
  private error: unknown;
  private failed = false;
  private roomWaiters: Array<() => void> = [];
  private idleWaiters: Array<() => void> = [];

  constructor(batch: ObjectBatch, onStaged: StagedHandler<T>, parallelism = availableParallelism()) {
    this.batch = batch;
    this.onStaged = onStaged;
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

  /** Stages the file `dir`/`name`; `onStaged(token, …)` follows once it is done. */
  add(dir: Buffer, name: Buffer, sizeHint: number, token: T): void {
    const c = this.current;
    c.push(dir, name, sizeHint, token);
    this.backlog++;
    if (c.count >= CHUNK_FILES || c.bytes >= CHUNK_BYTES) {
      this.ready.push(c);
      this.current = new Chunk<T>();
      this.pump();
    } else if (this.inFlight === 0) {
      // Idle workers: start now rather than wait for a full chunk.
      this.flush();
    }
  }

  /** Sends the partly filled chunk too. */
  flush(): void {
    if (this.current.count > 0) {
      this.ready.push(this.current);
      this.current = new Chunk<T>();
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
    if (this.inFlight > 0 || this.ready.length > 0)
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    if (this.failed) throw this.error;
  }

  private pump(): void {
    while (!this.failed && this.inFlight < this.maxInFlight && this.ready.length > 0) {
      const chunk = this.ready.shift()!;
      this.inFlight++;
      this.batch
        .addPackedFiles(
          chunk.paths.subarray(0, chunk.length),
          chunk.count,
          (i, digest, size) => {
            if (!this.failed) this.onStaged(chunk.tokens[i]!, digest, size);
          },
          { packed: true },
        )
        .then(
          () => this.settle(chunk),
          (err) => {
            this.fail(err);
            this.settle(chunk);
          },
        );
    }
  }

  private fail(err: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.error = err;
    for (const c of this.ready) this.backlog -= c.count;
    this.backlog -= this.current.count;
    this.ready.length = 0;
    this.current = new Chunk<T>();
  }

  private settle(chunk: Chunk<T>): void {
    this.inFlight--;
    this.backlog -= chunk.count;
    if (!this.failed && this.ready.length === 0 && this.current.count > 0 && this.inFlight < this.maxInFlight) {
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
