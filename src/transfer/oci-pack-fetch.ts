/**
 * Fetches the objects a pull needs from one registry pack (oci-pack.ts): the
 * whole pack in one streamed GET when most of it is needed, else one Range GET
 * per run of needed objects (runs close together are merged). The bytes are
 * walked as they arrive. A pack every object of which is needed is written to
 * the target as it is (receive-pack.ts); otherwise each needed object is handed
 * over whole, exactly its slot's bytes, and the caller checks its digest. A
 * registry that ignores Range sends the whole pack, which is walked the same way.
 */
import { AslError } from '../core/errors.js';
import { PACK_MAGIC } from '../store/pack-index.js';
import type { RegistryClient } from './oci-client.js';
import type { Descriptor } from './oci-layout.js';
import type { PackSlot } from './oci-pack.js';
import type { PackFileReceiver } from './receive-pack.js';

/** Needed runs closer than this are fetched as one range (the bytes between are cheaper than a request). */
const RANGE_GAP_BYTES = 256 * 1024;
/** Past this many ranges, or half the pack's bytes, the whole pack is fetched. */
const MAX_RANGES = 16;

export interface FetchStats {
  /** GET requests made. */
  requests: number;
  /** Body bytes received. */
  bytes: number;
}

/** Hands each needed object's bytes over (they are the caller's to keep). */
export type TakeSlot = (slot: PackSlot, data: Buffer) => Promise<void>;

interface Run {
  start: number;
  end: number;
  slots: PackSlot[];
}

/** Needed slots (sorted by offset) grouped into ranges to fetch. */
function runsOf(wanted: readonly PackSlot[]): Run[] {
  const runs: Run[] = [];
  for (const s of wanted) {
    const last = runs[runs.length - 1];
    if (last && s.offset - last.end <= RANGE_GAP_BYTES) {
      last.end = Math.max(last.end, s.offset + s.size);
      last.slots.push(s);
    } else {
      runs.push({ start: s.offset, end: s.offset + s.size, slots: [s] });
    }
  }
  return runs;
}

/** Where the needed objects go. */
export interface PackTarget {
  /** Each needed object, when the pack is not received whole. */
  take: TakeSlot;
  /** A receiver for the whole pack, used when every object of the pack is needed. */
  whole: () => Promise<PackFileReceiver>;
}

/** What walkPack hands on: every chunk of the range, and the pieces of each wanted slot. */
interface PackVisitor {
  /** A promise only when the chunk must be waited for (a write): most chunks cost no turn of the event loop. */
  chunk?(data: Buffer): Promise<void> | void;
  piece(slot: PackSlot, data: Buffer): void;
  end(slot: PackSlot): Promise<void> | void;
}

/** Collects each wanted slot's bytes and hands them over whole. */
function copier(take: TakeSlot): PackVisitor {
  let parts: Buffer[] = [];
  return {
    piece(_slot, data) {
      parts.push(data);
    },
    async end(slot) {
      const data = parts.length === 1 ? parts[0]! : Buffer.concat(parts, slot.size);
      parts = [];
      await take(slot, data);
    },
  };
}

/**
 * `wanted`: the needed slots; `count`: how many objects the pack holds (all of
 * them wanted: the pack is received whole, as it is).
 */
export async function fetchPackObjects(
  client: RegistryClient,
  pack: Descriptor,
  count: number,
  wanted: readonly PackSlot[],
  target: PackTarget,
  stats: FetchStats,
): Promise<void> {
  if (wanted.length === 0) return;
  const sorted = [...wanted].sort((a, b) => a.offset - b.offset);
  if (wanted.length === count) {
    const receiver = await target.whole();
    try {
      await fetchWhole(
        client,
        pack,
        sorted,
        {
          chunk: (data) => receiver.write(data),
          piece: (slot, data) => receiver.piece(slot, data),
          end: (slot) => receiver.end(slot),
        },
        stats,
      );
      await receiver.finish();
    } finally {
      await receiver.close();
    }
    return;
  }
  const neededBytes = sorted.reduce((n, s) => n + s.size, 0);
  const runs = runsOf(sorted);
  const visitor = copier(target.take);
  if (neededBytes * 2 >= pack.size || runs.length > MAX_RANGES) {
    await fetchWhole(client, pack, sorted, visitor, stats);
    return;
  }
  for (const run of runs) {
    const got = await client.getBlobRange(pack.digest, run.start, run.end);
    stats.requests++;
    if (!got) throw missing(client, pack);
    if (got.start === 0 && run.start !== 0) {
      // The registry ignores Range: it sends the whole pack, which holds every run.
      await walkPack(got.res.body, 0, pack.size, sorted, visitor, stats, client.label, pack);
      return;
    }
    await walkPack(got.res.body, run.start, run.end, run.slots, visitor, stats, client.label, pack);
  }
}

async function fetchWhole(
  client: RegistryClient,
  pack: Descriptor,
  slots: readonly PackSlot[],
  visitor: PackVisitor,
  stats: FetchStats,
): Promise<void> {
  const res = await client.getBlob(pack.digest);
  stats.requests++;
  if (!res) throw missing(client, pack);
  const announced = res.headers['content-length'];
  if (announced !== undefined && Number(announced) !== pack.size) {
    res.body.destroy();
    throw new AslError(
      'CORRUPT',
      `${client.label}: the registry serves pack ${pack.digest} as ${announced} bytes, the closure lists ${pack.size}; nothing pulled`,
    );
  }
  await walkPack(res.body, 0, pack.size, slots, visitor, stats, client.label, pack);
}

function missing(client: RegistryClient, pack: Descriptor): AslError {
  return new AslError(
    'CORRUPT',
    `${client.label}: the registry does not have pack ${pack.digest}, which the closure lists; nothing pulled`,
  );
}

/**
 * Walks bytes [start, end) of a pack as they arrive, handing every chunk and
 * the pieces of each slot of `slots` (sorted by offset, each inside the range)
 * to the visitor. From offset 0 the header is checked too. More or fewer bytes
 * than the range stop the pull.
 */
async function walkPack(
  body: AsyncIterable<Buffer> & { destroy?: () => void },
  start: number,
  end: number,
  slots: readonly PackSlot[],
  visitor: PackVisitor,
  stats: FetchStats,
  label: string,
  pack: Descriptor,
): Promise<void> {
  let header = start === 0 ? Buffer.alloc(0) : undefined;
  let k = 0;
  let pos = start;
  let filled = 0;
  for await (const chunk of body) {
    stats.bytes += chunk.length;
    if (pos + chunk.length > end) {
      body.destroy?.();
      throw new AslError(
        'CORRUPT',
        `${label}: the registry sent more than bytes ${start}-${end - 1} of pack ${pack.digest}; nothing pulled`,
      );
    }
    const wrote = visitor.chunk?.(chunk);
    if (wrote) await wrote;
    let c = 0;
    if (header && pos < PACK_MAGIC.length) {
      c = Math.min(chunk.length, PACK_MAGIC.length - pos);
      header = Buffer.concat([header, chunk.subarray(0, c)]);
      if (header.length === PACK_MAGIC.length && !header.equals(PACK_MAGIC))
        throw new AslError(
          'CORRUPT',
          `${label}: pack ${pack.digest} does not start with the pack header; nothing pulled`,
        );
    }
    while (c < chunk.length) {
      const slot = slots[k];
      if (!slot) break;
      const at = pos + c;
      if (at < slot.offset) {
        c += Math.min(chunk.length - c, slot.offset - at);
        continue;
      }
      const n = Math.min(chunk.length - c, slot.size - filled);
      if (n > 0) visitor.piece(slot, chunk.subarray(c, c + n));
      filled += n;
      c += n;
      if (filled === slot.size) {
        filled = 0;
        k++;
        const ended = visitor.end(slot);
        if (ended) await ended;
      }
    }
    pos += chunk.length;
  }
  // An empty object at the very end has no bytes to arrive with.
  while (slots[k] && slots[k]!.size === 0 && slots[k]!.offset <= pos) await visitor.end(slots[k++]!);
  if (pos !== end || k !== slots.length || (header && !header.equals(PACK_MAGIC))) {
    throw new AslError(
      'CORRUPT',
      `${label}: the registry sent ${pos - start} of bytes ${start}-${end - 1} of pack ${pack.digest}; nothing pulled`,
    );
  }
}
