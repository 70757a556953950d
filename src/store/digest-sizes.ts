/**
 * Object id -> size for every object of a store, as verify collects them: an
 * open-addressing hash table over the raw 32-byte digests in typed arrays. A Map
 * keyed by `sha256:…` strings costs about 136 bytes an object (an 87-byte string
 * and the map's entry); this costs 40 bytes a slot at a load of at most 3/4, and no
 * heap object per entry for the collector to trace: 40-80 MB for a million objects
 * instead of about 136 MB.
 */
import type { Digest } from '../core/digest.js';

const KEY = 32;
const EMPTY = -1;

export class DigestSizes {
  private keys: Buffer;
  private sizes: Float64Array;
  private mask: number;
  private count = 0;
  /** Scratch for the key being looked up (one decode of the hex per call). */
  private readonly probe = Buffer.alloc(KEY);

  constructor(capacity = 1024) {
    const slots = 2 ** Math.ceil(Math.log2(Math.max(16, capacity)));
    this.keys = Buffer.alloc(slots * KEY);
    this.sizes = new Float64Array(slots).fill(EMPTY);
    this.mask = slots - 1;
  }

  get size(): number {
    return this.count;
  }

  has(digest: Digest): boolean {
    return this.slotOf(digest) >= 0;
  }

  get(digest: Digest): number | undefined {
    const slot = this.slotOf(digest);
    return slot >= 0 ? this.sizes[slot] : undefined;
  }

  set(digest: Digest, size: number): this {
    if (!(size >= 0)) throw new RangeError(`DigestSizes: size ${size} of ${digest} is not a byte count`);
    if ((this.count + 1) * 4 > (this.mask + 1) * 3) this.grow();
    this.probe.write(digest.slice(7), 0, KEY, 'hex');
    const slot = this.find(this.probe);
    if (this.sizes[slot] === EMPTY) {
      this.probe.copy(this.keys, slot * KEY);
      this.count++;
    }
    this.sizes[slot] = size;
    return this;
  }

  /** The slot holding `digest`, or -1. */
  private slotOf(digest: Digest): number {
    this.probe.write(digest.slice(7), 0, KEY, 'hex');
    const slot = this.find(this.probe);
    return this.sizes[slot] === EMPTY ? -1 : slot;
  }

  /** The slot of `key`: where it is, or the empty slot where it would go (linear probing). */
  private find(key: Buffer): number {
    // A digest's first bytes are already uniform: they are the hash.
    let slot = key.readUInt32BE(0) & this.mask;
    while (this.sizes[slot] !== EMPTY && this.keys.compare(key, 0, KEY, slot * KEY, slot * KEY + KEY) !== 0)
      slot = (slot + 1) & this.mask;
    return slot;
  }

  private grow(): void {
    const oldKeys = this.keys;
    const oldSizes = this.sizes;
    const slots = (this.mask + 1) * 2;
    this.keys = Buffer.alloc(slots * KEY);
    this.sizes = new Float64Array(slots).fill(EMPTY);
    this.mask = slots - 1;
    for (let s = 0; s < oldSizes.length; s++) {
      if (oldSizes[s] === EMPTY) continue;
      const key = oldKeys.subarray(s * KEY, s * KEY + KEY);
      const slot = this.find(key);
      key.copy(this.keys, slot * KEY);
      this.sizes[slot] = oldSizes[s]!;
    }
  }
}
