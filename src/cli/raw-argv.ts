/**
 * The bytes of a command-line argument as the kernel passed them. Node decodes
 * argv as UTF-8 and puts U+FFFD in place of bytes that are not, so a `--cmd`
 * holding such bytes (a Latin-1 file name) would run as another command. The
 * original bytes are in /proc/self/cmdline; the arguments after the script are
 * its last entries, each of which decodes to the matching process.argv entry.
 */
import { readFileSync } from 'node:fs';
import { isUtf8 } from 'node:buffer';

function cmdlineArgs(): Buffer[] | null {
  let raw: Buffer;
  try {
    raw = readFileSync('/proc/self/cmdline');
  } catch {
    return null;
  }
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < raw.length; i++)
    if (raw[i] === 0) {
      parts.push(raw.subarray(start, i));
      start = i + 1;
    }
  const want = process.argv.slice(2);
  if (parts.length < want.length) return null;
  const args = parts.slice(parts.length - want.length);
  return args.every((a, i) => a.toString('utf8') === want[i]) ? args : null;
}

/**
 * The exact bytes of `--NAME VALUE` or `--NAME=VALUE` whose decoded value is `value`,
 * when they are not valid UTF-8 (null when they are, or cannot be found).
 */
export function rawOptionBytes(name: string, value: string): Buffer | null {
  if (!value.includes('\uFFFD')) return null;
  const args = cmdlineArgs();
  if (!args) return null;
  const flag = Buffer.from(`--${name}`);
  const inline = Buffer.from(`--${name}=`);
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    let bytes: Buffer | undefined;
    if (a.equals(flag) && i + 1 < args.length) bytes = args[i + 1];
    else if (a.subarray(0, inline.length).equals(inline)) bytes = a.subarray(inline.length);
    if (bytes && bytes.toString('utf8') === value && !isUtf8(bytes)) return Buffer.from(bytes);
  }
  return null;
}
