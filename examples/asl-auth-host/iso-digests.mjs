#!/usr/bin/env node
// The sha256 of every file in an ISO 9660 image, read in place (no extraction): xorriso
// reports each file's extents, and the bytes are hashed from the image.
//   node iso-digests.mjs ISO            prints "sha256:HEX  SIZE  /path" per file, sorted
//   node iso-digests.mjs ISO_A ISO_B    compares: prints each path that differs (or is
//                                       in one only) and a summary; exit 0 when every
//                                       file outside asl-history is the same, 1 if not
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';

function usage(msg) {
  process.stderr.write(`iso-digests: ${msg}\nusage: iso-digests.mjs ISO [ISO_B]\n`);
  process.exit(2);
}

/** path → { digest, size } */
function digests(iso) {
  let report;
  try {
    report = execFileSync('xorriso', ['-indev', iso, '-find', '/', '-type', 'f', '-exec', 'report_lba', '--'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (e) {
    usage(
      `${iso}: xorriso cannot read it (${String(e.stderr ?? e.message)
        .trim()
        .split('\n')
        .pop()})`,
    );
  }
  // File data lba:  XT , STARTLBA , BLOCKS , SIZE , 'PATH'  (one line per extent)
  const extents = new Map();
  for (const line of report.split('\n')) {
    const m = /^File data lba:\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*'(.*)'$/.exec(line);
    if (!m) continue;
    const path = m[5].replace(/'"'"'/g, "'");
    if (!extents.has(path)) extents.set(path, []);
    extents.get(path).push({ xt: Number(m[1]), lba: Number(m[2]), size: Number(m[4]) });
  }
  const fd = openSync(iso, 'r');
  const out = new Map();
  const buf = Buffer.alloc(4 * 1024 * 1024);
  try {
    for (const [path, xs] of extents) {
      const h = createHash('sha256');
      let size = 0;
      for (const x of xs.sort((a, b) => a.xt - b.xt)) {
        let pos = x.lba * 2048;
        let left = x.size;
        while (left > 0) {
          const n = readSync(fd, buf, 0, Math.min(buf.length, left), pos);
          if (n <= 0) usage(`${iso}: ${path} runs past the end of the image`);
          h.update(buf.subarray(0, n));
          pos += n;
          left -= n;
        }
        size += x.size;
      }
      out.set(path, { digest: `sha256:${h.digest('hex')}`, size });
    }
  } finally {
    closeSync(fd);
  }
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

const [a, b] = process.argv.slice(2);
if (!a || process.argv.length > 4) usage('one or two ISO files');
const da = digests(a);
// Output is written once and the process ends on its own: process.exit() right after a
// write to a pipe can cut the output short (the reader then sees a truncated list).
if (!b) {
  process.stdout.write([...da].map(([path, { digest, size }]) => `${digest}  ${size}  ${path}\n`).join(''));
} else {
  compare(da, digests(b));
}

function compare(da, db) {
  let same = 0;
  let differ = 0;
  let history = 0;
  const lines = [];
  for (const path of [...new Set([...da.keys(), ...db.keys()])].sort()) {
    const x = da.get(path);
    const y = db.get(path);
    if (x && y && x.digest === y.digest) {
      same++;
      continue;
    }
    const what = !x ? 'only in B' : !y ? 'only in A' : `${x.digest} (${x.size} B) vs ${y.digest} (${y.size} B)`;
    if (path.includes('asl-history')) history++;
    else differ++;
    lines.push(`${path.includes('asl-history') ? 'history ' : 'DIFFERS '} ${path}: ${what}\n`);
  }
  lines.push(`${same} files identical, ${differ} differ outside asl-history, ${history} in asl-history differ\n`);
  process.stdout.write(lines.join(''));
  process.exitCode = differ === 0 ? 0 : 1;
}
