// How fast this file system creates and fsyncs small files right now: the cost a
// one-file-per-object store pays, and the figure most sensitive to other load.
import { closeSync, fsyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export interface FsProbe {
  createUs: number;
  fsyncMs: number;
}

export function fsProbe(dir: string): FsProbe {
  const probeDir = mkdtempSync(join(dir, 'fs-probe-'));
  try {
    const data = Buffer.alloc(2048, 0x61);
    const createUs = perCallMicros(1000, (i) => {
      const fd = openSync(join(probeDir, `c${i}`), 'wx', 0o444);
      writeSync(fd, data);
      closeSync(fd);
    });
    const fsyncUs = perCallMicros(50, (i) => {
      const fd = openSync(join(probeDir, `s${i}`), 'wx', 0o444);
      writeSync(fd, data);
      fsyncSync(fd);
      closeSync(fd);
    });
    return { createUs, fsyncMs: fsyncUs / 1000 };
  } finally {
    rmSync(probeDir, { recursive: true, force: true });
  }
}

function perCallMicros(count: number, fn: (i: number) => void): number {
  const started = process.hrtime.bigint();
  for (let i = 0; i < count; i++) fn(i);
  return Number(process.hrtime.bigint() - started) / 1000 / count;
}

export function describeProbes(start: FsProbe, end: FsProbe): string {
  const one = (p: FsProbe) => `create+write+close ${p.createUs.toFixed(0)} µs, with fsync ${p.fsyncMs.toFixed(2)} ms`;
  return `- a 2 KB file on the stores' file system: ${one(start)} at the start; ${one(end)} at the end`;
}
