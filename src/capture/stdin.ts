/**
 * What a captured command's standard input is (it inherits ASL's own): a terminal,
 * a pipe, /dev/null, a regular file… For a regular file the receipt names it, with
 * its size, the offset reading starts at and a keyed hash of the bytes from there
 * (HMAC-SHA256 with the store's environment key, as for hashed environment values),
 * so two runs fed the same bytes can be compared; the bytes themselves are never
 * stored, since a secret is often given that way (`--password-stdin`). See
 * docs/capture-rules.md.
 */
import { createHmac } from 'node:crypto';
import { createReadStream, fstatSync, readFileSync, readlinkSync } from 'node:fs';
import { isatty } from 'node:tty';
import type { StdinRecord } from '../receipt/types.js';

/** The read offset of this process's descriptor `fd` (Node has no lseek). */
function offsetOf(fd: number): number {
  try {
    const m = /^pos:\s*(\d+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** HMAC of what the open file `fd` holds from `start` on, read through a fresh open of the same file. */
function keyedHashFrom(fd: number, start: number, key: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const hmac = createHmac('sha256', key);
    createReadStream(`/proc/self/fd/${fd}`, { start, highWaterMark: 1024 * 1024 })
      .on('data', (chunk) => hmac.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(`hmac-sha256:${hmac.digest('hex')}`));
  });
}

export async function describeStdin(key: Buffer, fd = 0): Promise<StdinRecord> {
  let st;
  try {
    st = fstatSync(fd);
  } catch {
    return { type: 'closed' };
  }
  if (st.isFIFO()) return { type: 'pipe' };
  if (st.isSocket()) return { type: 'socket' };
  if (st.isCharacterDevice()) {
    if (isatty(fd)) return { type: 'terminal' };
    let target = '';
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      /* unnamed */
    }
    return { type: target === '/dev/null' ? 'null' : 'device' };
  }
  if (!st.isFile()) return { type: 'device' };
  let path: string | undefined;
  try {
    path = readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    /* unnamed */
  }
  const offset = Math.min(offsetOf(fd), st.size);
  const hmac = await keyedHashFrom(fd, offset, key);
  return { type: 'file', ...(path ? { path } : {}), size: st.size, ...(offset > 0 ? { offset } : {}), hmac };
}
