/**
 * Hashing the live files of `verify --tree`. A file is opened without following
 * a symlink, checked to be the very inode that was listed, read and hashed with
 * plain synchronous calls: for thousands of small files, four syscalls each on
 * a worker thread cost a fraction of what promise-based reads do (measured on
 * the bookworm root: 0.3 s on one thread against 0.7-1.2 s with 16 reads in flight). A pool of worker threads, each doing
 * that, keeps several reads in flight for a cold cache and the hashing off the
 * walking thread. This module is also the workers' entry point.
 */
import { closeSync, constants as fsConstants, fstatSync, openSync, readSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { describeSystemError } from '../core/errors.js';

export type HashOutcome = { ok: true; digest: string; size: number } | { ok: false; error: string };

const CHUNK = 1024 * 1024;
let chunk: Buffer | undefined;

/** sha256 of the regular file at `path`, which must be inode (dev, ino). Never throws. */
export function hashListedFileSync(path: Buffer, dev: number, ino: number): HashOutcome {
  let fd: number;
  try {
    fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NOCTTY | fsConstants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return {
      ok: false,
      error:
        code === 'ELOOP'
          ? 'replaced by a symlink while being checked'
          : code === 'ENOENT'
            ? 'vanished while being checked'
            : describeSystemError(err),
    };
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.dev !== dev || st.ino !== ino) return { ok: false, error: 'replaced while being checked' };
    chunk ??= Buffer.allocUnsafe(CHUNK);
    const hash = createHash('sha256');
    let size = 0;
    for (;;) {
      const n = readSync(fd, chunk, 0, CHUNK, size);
      if (n === 0) break;
      hash.update(chunk.subarray(0, n));
      size += n;
    }
    return { ok: true, digest: `sha256:${hash.digest('hex')}`, size };
  } catch (err) {
    return { ok: false, error: describeSystemError(err) };
  } finally {
    closeSync(fd);
  }
}

interface Job {
  id: number;
  path: Uint8Array;
  dev: number;
  ino: number;
}
interface Done {
  id: number;
  outcome: HashOutcome;
}

const ROLE = 'asl-verify-tree-hasher';

if (!isMainThread && (workerData as { role?: string } | null)?.role === ROLE) {
  parentPort!.on('message', (jobs: Job[]) => {
    parentPort!.postMessage(
      jobs.map(
        (j): Done => ({
          id: j.id,
          outcome: hashListedFileSync(Buffer.from(j.path.buffer, j.path.byteOffset, j.path.byteLength), j.dev, j.ino),
        }),
      ),
    );
  });
}

const BATCH_FILES = 32;
const BATCH_BYTES = 8 * 1024 * 1024;
/** Jobs queued or in flight before `hash` makes the caller wait. */
const BACKLOG = 4096;

/**
 * Hashes files on worker threads, in batches (one message per batch, not per
 * file). With `workers: 0` everything runs on the calling thread (small trees:
 * starting a worker costs more than hashing a few files). A worker that cannot
 * start or dies hands its files back to the calling thread: a broken pool makes
 * the check slower, never wrong.
 */
export class HashPool {
  private workers: Array<{ worker: Worker; inFlight: number }> = [];
  private readonly waiting = new Map<number, { job: Job; resolve: (o: HashOutcome) => void }>();
  private queue: Job[] = [];
  private queuedBytes = 0;
  private nextId = 0;
  private roomWaiters: Array<() => void> = [];
  private closing = false;

  constructor(workers = Math.min(4, Math.max(2, availableParallelism()))) {
    try {
      for (let i = 0; i < workers; i++) {
        const worker = new Worker(new URL(import.meta.url), { workerData: { role: ROLE } });
        const slot = { worker, inFlight: 0 };
        worker.on('message', (done: Done[]) => {
          slot.inFlight--;
          for (const d of done) {
            const w = this.waiting.get(d.id);
            if (!w) continue;
            this.waiting.delete(d.id);
            w.resolve(d.outcome);
          }
          this.pump();
        });
        worker.on('error', () => this.fallBack());
        worker.on('exit', () => {
          if (!this.closing) this.fallBack();
        });
        this.workers.push(slot);
      }
    } catch {
      this.fallBack();
    }
  }

  /** Stops using workers; everything still waiting is hashed here. */
  private fallBack(): void {
    if (this.closing) return;
    const workers = this.workers;
    this.workers = [];
    for (const w of workers) void w.worker.terminate();
    this.queue = [];
    this.queuedBytes = 0;
    for (const [id, { job, resolve }] of this.waiting) {
      this.waiting.delete(id);
      resolve(hashListedFileSync(Buffer.from(job.path), job.dev, job.ino));
    }
    for (const w of this.roomWaiters.splice(0)) w();
  }

  /** Resolves when the backlog has room for more files (call before `hash` to bound memory). */
  async room(): Promise<void> {
    while (this.waiting.size >= BACKLOG && this.workers.length > 0)
      await new Promise<void>((r) => this.roomWaiters.push(r));
  }

  /** Queues one file; resolves with its hash. */
  hash(path: Buffer, dev: number, ino: number, size: number): Promise<HashOutcome> {
    if (this.workers.length === 0) return Promise.resolve(hashListedFileSync(path, dev, ino));
    const id = this.nextId++;
    const job: Job = { id, path, dev, ino };
    const done = new Promise<HashOutcome>((resolve) => this.waiting.set(id, { job, resolve }));
    this.queue.push(job);
    this.queuedBytes += size;
    if (
      this.queue.length >= BATCH_FILES ||
      this.queuedBytes >= BATCH_BYTES ||
      this.workers.some((w) => w.inFlight === 0)
    )
      this.dispatch();
    return done;
  }

  /** Sends the queued jobs to the least busy worker. */
  private dispatch(): void {
    if (this.queue.length === 0 || this.workers.length === 0) return;
    const slot = this.workers.reduce((a, b) => (b.inFlight < a.inFlight ? b : a));
    slot.inFlight++;
    slot.worker.postMessage(this.queue);
    this.queue = [];
    this.queuedBytes = 0;
  }

  private pump(): void {
    // A worker fell idle: hand it what is queued rather than wait for a full batch.
    if (this.workers.some((w) => w.inFlight === 0)) this.dispatch();
    if (this.waiting.size < BACKLOG) for (const w of this.roomWaiters.splice(0)) w();
  }

  /** Sends what is still queued; call when no more files will come. */
  flush(): void {
    this.dispatch();
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }
}
