/**
 * Receives a whole pack from an untrusted source into an import's ObjectBatch
 * as a pack of the store: the bytes are written as they arrive to a file in the
 * batch's folder, and every object is hashed as it streams by. At the end, with
 * every object's digest checked (and the layout checked by the caller against
 * the strict index: objects back to back from the header to the end), the batch
 * adopts the file and the index as they are: no object is copied again, and
 * nothing is visible before the batch commits. What the content checks need
 * (trees, the objects in `keep`) is collected as for receiveObject.
 */
import { createHash, type Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import type { Digest } from '../core/digest.js';
import { AslError } from '../core/errors.js';
import { TREE_MAGIC } from '../store/tree-model.js';
import type { PackSlot } from './oci-pack.js';
import { MAX_TREE_BYTES, WRITE_BYTES, writeAll, type ReceiveErrors, type ReceiveInto } from './receive-object.js';

export class PackFileReceiver {
  private readonly into: ReceiveInto;
  private readonly path: string;
  private readonly fh: FileHandle;
  private readonly index: Buffer;
  private readonly errors: (slot: PackSlot) => Pick<ReceiveErrors, 'mismatch'>;
  private readonly accepted: (slot: PackSlot) => void;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private written = 0;
  private objects = 0;
  private hash: Hash | undefined;
  /** The current object's bytes so far, while it may be one the checks need. */
  private parts: Buffer[] | undefined;
  private seen = 0;
  private decided = false;
  private closed = false;

  private constructor(
    into: ReceiveInto,
    path: string,
    fh: FileHandle,
    index: Buffer,
    errors: (slot: PackSlot) => Pick<ReceiveErrors, 'mismatch'>,
    accepted: (slot: PackSlot) => void,
  ) {
    this.into = into;
    this.accepted = accepted;
    this.path = path;
    this.fh = fh;
    this.index = index;
    this.errors = errors;
  }

  /** `accepted` is told of each object whose digest checked. */
  static async open(
    into: ReceiveInto,
    index: Buffer,
    errors: (slot: PackSlot) => Pick<ReceiveErrors, 'mismatch'>,
    accepted: (slot: PackSlot) => void,
  ): Promise<PackFileReceiver> {
    const { path, fh } = await into.batch.newPackFile();
    return new PackFileReceiver(into, path, fh, index, errors, accepted);
  }

  /** Every byte of the pack, in order: a promise when the chunk completed a write, to be awaited before the next. */
  write(chunk: Buffer): Promise<void> | undefined {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    return this.pendingBytes >= WRITE_BYTES ? this.flush() : undefined;
  }

  /** A piece of `slot`'s bytes (the pieces of one slot arrive in order, slot after slot). */
  piece(slot: PackSlot, data: Buffer): void {
    if (!this.hash) {
      this.hash = createHash('sha256');
      this.parts = [];
      this.seen = 0;
      this.decided = this.into.keep.has(slot.digest);
    }
    this.hash.update(data);
    if (this.parts) {
      this.parts.push(data);
      this.seen += data.length;
      // Once its first bytes are in, only a tree or a kept object is worth holding on to.
      if (!this.decided && this.seen >= TREE_MAGIC.length) {
        this.decided = true;
        const first = this.parts[0]!;
        const head = first.length >= TREE_MAGIC.length ? first : Buffer.concat(this.parts);
        if (!head.subarray(0, TREE_MAGIC.length).equals(TREE_MAGIC)) this.parts = undefined;
      }
    }
  }

  /** `slot` is complete: its digest is checked, and its bytes collected if the checks need them. */
  end(slot: PackSlot): void {
    const hash = this.hash ?? createHash('sha256');
    const actual: Digest = `sha256:${hash.digest('hex')}`;
    const parts = this.hash ? this.parts : [];
    this.hash = undefined;
    this.parts = undefined;
    if (actual !== slot.digest) throw this.errors(slot).mismatch(actual, slot.size);
    this.objects++;
    this.accepted(slot);
    if (!parts) return;
    const data = Buffer.concat(parts, slot.size);
    if (data.subarray(0, TREE_MAGIC.length).equals(TREE_MAGIC)) {
      if (data.length > MAX_TREE_BYTES)
        throw new AslError('CORRUPT', `object ${slot.digest} looks like a tree but is ${data.length} bytes; refused`);
      this.into.trees.set(slot.digest, data);
    }
    if (this.into.keep.has(slot.digest)) this.into.kept.set(slot.digest, data);
  }

  /** Every object checked: the file is synced and the batch adopts it with its index. */
  async finish(): Promise<void> {
    await this.flush();
    // Durable now, while other transfers go on, rather than in one flush at the commit.
    await this.fh.sync();
    await this.close();
    this.into.batch.adoptPack(this.path, this.index, this.written, this.objects);
  }

  /** Closes the file (a failed receive: the batch's abort removes it). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.fh.close();
  }

  private async flush(): Promise<void> {
    if (this.pendingBytes === 0) return;
    const n = this.pendingBytes;
    await writeAll(this.fh, this.pending, this.written);
    this.pending = [];
    this.pendingBytes = 0;
    this.written += n;
  }
}
