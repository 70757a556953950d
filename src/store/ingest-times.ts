/**
 * The times object of a big snapshot, encoded straight into one buffer.
 * encodeTimes (times-model.ts) goes through generic canonical JSON, which for a
 * root of 100,000 entries builds 200,000 strings and a 4 MB string (~90 ms and
 * ~25 MB at the very end of a put). The bytes are the same: canonical JSON of
 * {asl, mtimes, tree} is `{"asl":"times/v1","mtimes":[…],"tree":"sha256:…"}` with
 * integers in plain decimal. That equivalence is checked against encodeTimes
 * itself on first use (a change to the times format turns this path off), and
 * small lists simply use encodeTimes.
 */
import type { Digest } from '../core/digest.js';
import { encodeTimes, TIMES_FORMAT } from './times-model.js';

const SMALL = 4096;
let checked: boolean | undefined;

function sameAsModel(): boolean {
  const sample = new Float64Array([0, 1, -1, 9, 10, 1_700_000_000, 999_999_999, -86_400, 2 ** 53 - 1, 123_456_789]);
  const tree: Digest = `sha256:${'0123456789abcdef'.repeat(4)}`;
  return encodeDirect(tree, sample)?.equals(encodeTimes({ tree, mtimes: Array.from(sample) })) ?? false;
}

/** Writes the decimal digits of a safe integer at `o`; returns the new offset. */
function writeInt(buf: Buffer, o: number, n: number): number {
  if (n < 0) {
    buf[o++] = 0x2d;
    n = -n;
  }
  if (n < 10) {
    buf[o++] = 0x30 + n;
    return o;
  }
  let digits = 0;
  for (let m = n; m >= 1; m = Math.floor(m / 10)) digits++;
  let p = o + digits;
  for (let m = n; m >= 1; m = Math.floor(m / 10)) buf[--p] = 0x30 + (m % 10);
  return o + digits;
}

function encodeDirect(tree: Digest, mtimes: Float64Array): Buffer | undefined {
  const head = Buffer.from(`{"asl":${JSON.stringify(TIMES_FORMAT)},"mtimes":[`);
  const tail = Buffer.from(`],"tree":${JSON.stringify(tree)}}`);
  const buf = Buffer.allocUnsafe(head.length + tail.length + mtimes.length * 18);
  let o = head.copy(buf, 0);
  for (let i = 0; i < mtimes.length; i++) {
    const n = mtimes[i]!;
    if (!Number.isSafeInteger(n)) return undefined;
    if (i > 0) buf[o++] = 0x2c;
    o = writeInt(buf, o, n);
  }
  o += tail.copy(buf, o);
  return buf.subarray(0, o);
}

/** The same bytes as encodeTimes({ tree, mtimes }). */
export function encodeTimesList(tree: Digest, mtimes: Float64Array): Buffer {
  if (mtimes.length > SMALL) {
    checked ??= sameAsModel();
    if (checked) {
      const direct = encodeDirect(tree, mtimes);
      if (direct) return direct;
    }
  }
  return encodeTimes({ tree, mtimes: Array.from(mtimes) });
}
