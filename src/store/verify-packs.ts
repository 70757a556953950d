/**
 * The `packs` step of verify: every index is named by its own sha256, parses,
 * is sorted, and points inside its pack; every packed object's bytes hash to its
 * digest. A pack without an index is invisible to readers (a commit interrupted
 * between the two renames): a note, like an unreferenced loose object.
 */
import { createHash } from 'node:crypto';
import { open, readdir, readFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Digest } from '../core/digest.js';
import { AslError } from '../core/errors.js';
import { packsDir } from './object-locate.js';
import {
  INDEX_SUFFIX,
  PACK_MAGIC,
  PACK_SUFFIX,
  entryDigest,
  packEntryAt,
  parsePackIndex,
  type PackIndex,
} from './pack-index.js';
import { TREE_MAGIC, isTreeBytes } from './tree-model.js';
import type { VerifyContext, VerifyStep } from './verify-context.js';

const HEX_NAME = /^[0-9a-f]{64}$/;

function problem(
  ctx: VerifyContext,
  subject: string,
  message: string,
  extra: { expected?: string; actual?: string } = {},
): void {
  ctx.problems.push({ step: 'packs', subject, message, ...extra });
}

/**
 * Bytes read from a pack per read: objects are visited in offset order, so most are
 * inside the last window. `--quick` reads only each object's first bytes (is it a
 * tree?), so its window is small: the heads of many small objects per read, and no
 * megabytes read past for one head of a big one.
 */
const WINDOW = 8 << 20;
const QUICK_WINDOW = 64 << 10;

/** Sequential reads of a pack through one window; an object bigger than the window is read on its own. */
class PackWindow {
  private buf = Buffer.alloc(0);
  private start = 0;

  constructor(
    private readonly fh: FileHandle,
    private readonly size: number,
    private readonly window: number,
  ) {}

  /** `len` bytes at `offset` (fewer only if the file is shorter than its index said: the hash then fails). */
  async bytes(offset: number, len: number): Promise<Buffer> {
    if (offset < this.start || offset + len > this.start + this.buf.length) {
      const want = Math.min(Math.max(len, this.window), this.size - offset);
      const buf = Buffer.allocUnsafe(want);
      let have = 0;
      while (have < want) {
        const { bytesRead } = await this.fh.read(buf, have, want - have, offset + have);
        if (bytesRead === 0) break;
        have += bytesRead;
      }
      this.buf = buf.subarray(0, have);
      this.start = offset;
    }
    return this.buf.subarray(offset - this.start, Math.min(offset - this.start + len, this.buf.length));
  }
}

/** Checks one pack against its (already parsed) index; returns the packed bytes counted. */
async function checkPack(ctx: VerifyContext, dir: string, index: PackIndex): Promise<number> {
  const path = join(dir, index.name + PACK_SUFFIX);
  const subject = `pack ${index.name}`;
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    problem(
      ctx,
      subject,
      `pack ${index.name}${PACK_SUFFIX} is missing or unreadable (its index lists ${index.count} objects): ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
    return 0;
  }
  let bytes = 0;
  try {
    const size = (await fh.stat()).size;
    if (size !== index.packSize) {
      problem(
        ctx,
        subject,
        `pack ${index.name}${PACK_SUFFIX} is ${size} bytes but its index says ${index.packSize} (truncated or appended to)`,
        { expected: String(index.packSize), actual: String(size) },
      );
    }
    const head = Buffer.alloc(PACK_MAGIC.length);
    await fh.read(head, 0, head.length, 0);
    if (!head.equals(PACK_MAGIC)) problem(ctx, subject, `pack ${index.name}${PACK_SUFFIX} has a bad header`);
    // In offset order: one sequential pass over the pack, read in windows of WINDOW bytes
    // (objects are back to back), not one read per object. The order is kept in typed
    // arrays: a million-object pack is 12 MB of them, not a million small objects.
    const offsets = new Float64Array(index.count);
    const sizes = new Float64Array(index.count);
    const order = new Uint32Array(index.count);
    for (let i = 0; i < index.count; i++) {
      const e = packEntryAt(index, i);
      offsets[i] = e.offset;
      sizes[i] = e.size;
      order[i] = i;
    }
    order.sort((x, y) => offsets[x]! - offsets[y]!);
    const window = new PackWindow(fh, size, ctx.quick ? QUICK_WINDOW : WINDOW);
    for (const i of order) {
      const offset = offsets[i]!;
      const len = sizes[i]!;
      const digest = entryDigest(index, i) as Digest;
      const known = ctx.objects.get(digest);
      if (known === undefined) bytes += len;
      ctx.objects.set(digest, len);
      if (offset + len > size) {
        ctx.corrupt.add(digest);
        problem(
          ctx,
          digest,
          `object ${digest} is corrupt: pack ${index.name} ends before its bytes (offset ${offset}, ${len} bytes)`,
        );
        continue;
      }
      const buf = await window.bytes(offset, ctx.quick ? Math.min(len, TREE_MAGIC.length) : len);
      if (!ctx.quick) {
        const actual = `sha256:${createHash('sha256').update(buf).digest('hex')}`;
        if (actual !== digest) {
          ctx.corrupt.add(digest);
          problem(ctx, digest, `object ${digest} is corrupt (in pack ${index.name} at offset ${offset})`, {
            expected: digest,
            actual,
          });
          continue;
        }
      }
      if (isTreeBytes(buf.subarray(0, TREE_MAGIC.length))) ctx.trees.add(digest);
      else if (buf[0] === 0x7b) ctx.jsonObjects.add(digest);
    }
  } finally {
    await fh.close();
  }
  return bytes;
}

export const packsStep: VerifyStep = {
  name: 'packs',
  async run(ctx) {
    const dir = packsDir(ctx.store.root);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      names = [];
    }
    const present = new Set(names);
    let packs = 0;
    let bytes = 0;
    for (const name of names.sort()) {
      const hex = name.slice(0, name.lastIndexOf('.'));
      if (name.endsWith(PACK_SUFFIX) && HEX_NAME.test(hex)) {
        if (!present.has(hex + INDEX_SUFFIX))
          ctx.notes.push(`${join(dir, name)}: pack without an index (left by an interrupted write; never read)`);
        continue;
      }
      if (!name.endsWith(INDEX_SUFFIX) || !HEX_NAME.test(hex)) {
        ctx.notes.push(`${join(dir, name)}: stray file in the packs folder`);
        continue;
      }
      packs++;
      const subject = `pack ${hex}`;
      const raw = await readFile(join(dir, name));
      const actual = createHash('sha256').update(raw).digest('hex');
      if (actual !== hex) {
        problem(ctx, subject, `pack index ${name} is corrupt: it hashes to sha256:${actual}, not its name`, {
          expected: `sha256:${hex}`,
          actual: `sha256:${actual}`,
        });
        continue;
      }
      let index: PackIndex;
      try {
        index = parsePackIndex(hex, raw, true);
      } catch (err) {
        problem(ctx, subject, err instanceof AslError ? err.message : String(err));
        continue;
      }
      bytes += await checkPack(ctx, dir, index);
    }
    ctx.counts.packs = packs;
    ctx.counts.objects = ctx.objects.size;
    ctx.counts.bytes = (ctx.counts.bytes ?? 0) + bytes;
  },
};
