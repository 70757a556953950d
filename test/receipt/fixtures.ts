import { digestBytes } from '../../src/core/digest.js';
import type { CommandCore, IngestCore, PerRun } from '../../src/receipt/types.js';

/** A command core shaped like a real debootstrap capture, small enough to read. */
export function sampleCommandCore(): CommandCore {
  const treeBefore = digestBytes('tree before');
  const treeAfter = digestBytes('tree after');
  return {
    kind: 'command',
    step: 'debootstrap',
    command: {
      shell: 'debootstrap --variant=minbase bookworm /srv/build/iso_root http://deb.debian.org/debian',
      argv: [
        '/bin/sh',
        '-c',
        'debootstrap --variant=minbase bookworm /srv/build/iso_root http://deb.debian.org/debian',
      ],
      cwd: '/srv/build',
    },
    program: [
      {
        path: '/usr/sbin/debootstrap',
        digest: digestBytes('debootstrap'),
        package: 'debootstrap',
        version: '1.0.128+nmu2+deb12u1',
      },
      { path: '/bin/sh', digest: digestBytes('dash'), package: 'dash', version: '0.5.12-2' },
    ],
    inputs: [
      {
        name: '/srv/build/iso_root',
        role: 'watched',
        kind: 'tree',
        digest: treeBefore,
        path: '/srv/build/iso_root',
        size: 0,
      },
    ],
    outputs: [
      {
        name: '/srv/build/iso_root',
        role: 'watched',
        kind: 'tree',
        digest: treeAfter,
        path: '/srv/build/iso_root',
        size: 216_000_000,
      },
      { name: 'stdout', role: 'stdout', kind: 'log', digest: digestBytes('I: Retrieving InRelease\n'), size: 24 },
      { name: 'stderr', role: 'stderr', kind: 'log', digest: digestBytes(''), size: 0 },
    ],
    environment: {
      variables: {
        PATH: { mode: 'verbatim', value: '/usr/sbin:/usr/bin:/sbin:/bin' },
        HOME: { mode: 'hashed', hmac: `hmac-sha256:${'ab'.repeat(32)}` },
        GITHUB_TOKEN: { mode: 'secret' },
      },
    },
    exit: { kind: 'exited', code: 0 },
    watched: [
      {
        path: '/srv/build/iso_root',
        reason: 'auto',
        before: treeBefore,
        after: treeAfter,
        added: 6768,
        modified: 0,
        removed: 0,
        paths: digestBytes('paths'),
      },
    ],
    traced: false,
  };
}

export function sampleIngestCore(): IngestCore {
  const blob = digestBytes('#!/bin/sh\necho build\n');
  return {
    kind: 'ingest',
    step: 'overlay',
    source: { path: '/srv/build/scripts/build.sh', type: 'file', mode: 0o755 },
    inputs: [],
    outputs: [
      {
        name: '/srv/build/scripts/build.sh',
        role: 'source',
        kind: 'blob',
        digest: blob,
        path: '/srv/build/scripts/build.sh',
        size: 21,
      },
    ],
  };
}

export function sampleRun(overrides: Partial<PerRun> = {}): PerRun {
  return {
    startedOn: '2024-05-01T12:00:00.000Z',
    finishedOn: '2024-05-01T12:00:25.250Z',
    durationMs: 25_250,
    host: { hostname: 'builder', kernel: '6.1.0-18-amd64', arch: 'x64' },
    asl: { version: '0.1.0' },
    user: { uid: 0, gid: 0 },
    peakRssBytes: 52_428_800,
    invocationId: '7d0c5a2e-2b1f-4f7e-9d3a-5f6b1c2d3e4f',
    ...overrides,
  };
}

/** Rebuilds every object with its keys in reverse order (same JSON value, different text). */
export function reverseKeys<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v) => reverseKeys(v)) as T;
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).reverse()) out[key] = reverseKeys((value as Record<string, unknown>)[key]);
    return out as T;
  }
  return value;
}
