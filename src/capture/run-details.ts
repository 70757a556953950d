import { randomUUID } from 'node:crypto';
import { arch, hostname, release } from 'node:os';
import { VERSION } from '../version.js';
import type { PerRun } from '../receipt/types.js';

/** The part of a receipt that differs between two runs of the same step. */
export function runDetails(started: Date, finished: Date, extra: { peakRssBytes?: number } = {}): PerRun {
  return {
    startedOn: started.toISOString(),
    finishedOn: finished.toISOString(),
    durationMs: finished.getTime() - started.getTime(),
    host: { hostname: hostname(), kernel: release(), arch: arch() },
    asl: { version: VERSION },
    user: { uid: process.getuid?.() ?? -1, gid: process.getgid?.() ?? -1 },
    ...(extra.peakRssBytes !== undefined ? { peakRssBytes: extra.peakRssBytes } : {}),
    invocationId: randomUUID(),
  };
}
