import type { Io } from './command.js';

/** Text gathered before one write: a few syscalls for a million short lines, not a million. */
const FLUSH_AT = 64 * 1024;

/**
 * Buffered, backpressure-aware output for commands that stream long listings
 * (`asl diff` of two big roots, `asl audit --json` of a million files): what is
 * written is gathered up to 64 KiB, then handed to stdout; when stdout's buffer
 * is full the caller awaits 'drain', so memory stays bounded whatever the
 * reader's pace.
 */
export class OutputWriter {
  private pending: string[] = [];
  private size = 0;

  constructor(private readonly io: Io) {}

  /** Queues `text`; awaits the consumer when enough is queued to write. */
  write(text: string): Promise<void> | void {
    this.pending.push(text);
    this.size += text.length;
    if (this.size >= FLUSH_AT) return this.flush();
  }

  /** Writes what is queued; resolves when stdout can take more. */
  flush(): Promise<void> | void {
    if (this.pending.length === 0) return;
    const text = this.pending.join('');
    this.pending = [];
    this.size = 0;
    if (!this.io.stdout.write(text)) return new Promise((resolve) => this.io.stdout.once('drain', () => resolve()));
  }
}
