/**
 * Shared by the transfer tests: a small but real source store made by the CLI
 * (a command capture writing files into a watched folder, a file capture into
 * per/overlay, and a build step reading per/ with --artifact-inputs, so receipts
 * name other receipts), copies of it, a description of a whole directory for
 * "byte-for-byte unchanged", and a bundle rewriter for hostile variants.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { runAsl, type RunResult } from '../helpers.js';
import { readTar } from '../../src/core/tar-reader.js';
import { TarWriter, fileSink } from '../../src/transfer/tar-writer.js';
import type { TarType } from '../../src/core/tar-format.js';
import { MANIFEST_NAME, type BundleManifest } from '../../src/transfer/bundle-manifest.js';
import { open } from 'node:fs/promises';

export interface SourceFixture {
  /** Folder holding the store S and the work folder W. */
  dir: string;
  store: string;
  receipts: { gen: string; overlay: string; final: string };
  /** Trees named by the gen receipt: the watched folder after the run. */
  genAfter: string;
  /** The store's public key (PEM file path). */
  publicKey: string;
  keyId: string;
}

export type Runner = (
  args: string[],
  opts: { cwd?: string },
) => Promise<{ code: number | null; stdout: string; stderr: string }>;

/** Builds the source store with the real CLI; `files` is how many files the watched step writes. */
export async function buildSource(dir: string, files = 60, run: Runner = runAsl): Promise<SourceFixture> {
  const aslOk = async (args: string[], cwd?: string) => {
    const r = await run(args, cwd ? { cwd } : {});
    assert.equal(r.code, 0, `asl ${args.join(' ')} failed: ${r.stderr}`);
    return r;
  };
  const store = join(dir, 'S');
  const work = join(dir, 'W');
  await mkdir(join(work, 'out'), { recursive: true });
  await aslOk(['init', '--store', store]);
  for (const v of ['binaries', 'scripts', 'per']) await mkdir(join(store, v), { recursive: true });
  const gen = JSON.parse(
    (
      await aslOk(
        [
          'capture',
          '--store',
          store,
          '--json',
          '--watch',
          'out',
          '--outdir',
          join(store, 'per', 'gen'),
          '--cmd',
          `i=0; while [ $i -lt ${files} ]; do echo "file $i" > out/f$i; i=$((i+1)); done; mkdir -p out/sub; echo deep > out/sub/deep.txt`,
        ],
        work,
      )
    ).stdout,
  ) as { receipt: string };
  await writeFile(join(store, 'binaries', 'tool'), '#!/bin/sh\necho tool\n', { mode: 0o755 });
  await writeFile(join(store, 'scripts', 'build.sh'), '#!/bin/sh\ncat out/f1 > result.txt\n', { mode: 0o755 });
  const overlay = JSON.parse(
    (
      await aslOk([
        'capture',
        '--store',
        store,
        '--json',
        '--file',
        join(store, 'binaries', 'tool'),
        '--outdir',
        join(store, 'per', 'overlay'),
      ])
    ).stdout,
  ) as { receipt: string };
  const final = JSON.parse(
    (
      await aslOk(
        [
          'capture',
          '--store',
          store,
          '--json',
          '--artifact-inputs',
          join(store, 'per'),
          '--artifact-inputs',
          join(store, 'scripts'),
          '--output',
          'result.txt',
          '--outdir',
          join(store, 'per', 'final'),
          '--cmd',
          `sh ${join(store, 'scripts', 'build.sh')}`,
        ],
        work,
      )
    ).stdout,
  ) as { receipt: string };
  const show = JSON.parse((await aslOk(['show', '--store', store, gen.receipt, '--json'])).stdout) as {
    statement: { predicate: { core: { watched: Array<{ path: string; after: string }> } } };
  };
  const publicKey = join(dir, 'source.pub');
  await writeFile(publicKey, await readFile(join(store, 'keys', 'signing.pub')));
  const keyId = readdirSync(join(store, 'keys', 'trusted'))[0]!.replace(/\.pub$/, '');
  return {
    dir,
    store,
    receipts: { gen: gen.receipt, overlay: overlay.receipt, final: final.receipt },
    genAfter: show.statement.predicate.core.watched.find((w) => w.path === join(work, 'out'))!.after,
    publicKey,
    keyId,
  };
}

/** A temp folder removed after the test. */
export async function tempDir(
  t: TestContext | { after(fn: () => unknown): void },
  prefix = 'asl-transfer-',
): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** `cp -a`: a private copy of a fixture store to damage. */
export function copyTree(from: string, to: string): void {
  execFileSync('cp', ['-a', from, to]);
}

/**
 * A digest of everything in a directory: every path with its type, mode, owner,
 * size and content (or link target), sorted. Two equal digests mean the trees are
 * byte-for-byte the same (timestamps aside).
 */
export function treeDigest(root: string): string {
  const hash = createHash('sha256');
  const walk = (dir: string, rel: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(path);
      hash.update(`${r}\0${st.mode.toString(8)}\0${st.uid}:${st.gid}\0`);
      if (st.isDirectory()) walk(path, r);
      else if (st.isSymbolicLink()) hash.update(`link:${readlinkSync(path)}\0`);
      else if (st.isFile()) hash.update(createHash('sha256').update(readFileSync(path)).digest('hex'));
      hash.update('\n');
    }
  };
  walk(root, '');
  return hash.digest('hex');
}

/** Every path under a directory (for "nothing appeared outside"). */
export function listAll(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, rel: string) => {
    for (const name of readdirSync(dir).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      out.push(r);
      if (lstatSync(join(dir, name)).isDirectory()) walk(join(dir, name), r);
    }
  };
  walk(root, '');
  return out;
}

export interface RawEntry {
  name: string;
  type: TarType;
  data: Buffer;
  linkname?: string;
  mode?: number;
}

export async function readBundleEntries(file: string): Promise<RawEntry[]> {
  const fh = await open(file, 'r');
  const entries: RawEntry[] = [];
  try {
    for await (const e of readTar(fh.createReadStream(), file)) {
      const parts: Buffer[] = [];
      for await (const c of e.body()) parts.push(c);
      entries.push({
        name: e.header.name,
        type: e.header.type,
        data: Buffer.concat(parts),
        linkname: e.header.linkname,
        mode: e.header.mode,
      });
    }
  } finally {
    await fh.close().catch(() => undefined);
  }
  return entries;
}

export async function writeBundleEntries(file: string, entries: RawEntry[]): Promise<void> {
  const fh = await open(file, 'w');
  try {
    const tar = new TarWriter(fileSink(fh));
    for (const e of entries)
      await tar.addBuffer(e.name, e.data, {
        type: e.type,
        mode: e.mode ?? 0o444,
        ...(e.linkname ? { linkname: e.linkname } : {}),
      });
    await tar.finish();
  } finally {
    await fh.close();
  }
}

/** Rewrites a bundle: `edit` gets the entries and the parsed manifest; the manifest entry is re-encoded from it. */
export async function rewriteBundle(
  from: string,
  to: string,
  edit: (entries: RawEntry[], manifest: BundleManifest) => RawEntry[] | void,
): Promise<void> {
  const entries = await readBundleEntries(from);
  const manifest = JSON.parse(entries[0]!.data.toString('utf8')) as BundleManifest;
  const edited = edit(entries, manifest) ?? entries;
  const idx = edited.findIndex((e) => e.name === MANIFEST_NAME);
  if (idx >= 0) edited[idx] = { ...edited[idx]!, data: Buffer.from(`${JSON.stringify(manifest)}\n`) };
  await writeBundleEntries(to, edited);
}

export function objectName(digest: string): string {
  const hex = digest.slice(7);
  return `objects/sha256/${hex.slice(0, 2)}/${hex.slice(2)}`;
}

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Replaces one object of a bundle (entry and manifest line), keeping the manifest sorted and its totals right. */
export function replaceObject(
  entries: RawEntry[],
  manifest: BundleManifest,
  oldDigest: string,
  data: Buffer,
  newDigest = sha256(data),
): string {
  const i = entries.findIndex((e) => e.name === objectName(oldDigest));
  assert.ok(i >= 0, `object ${oldDigest} not in bundle`);
  entries[i] = { ...entries[i]!, name: objectName(newDigest), data };
  manifest.objects = manifest.objects.filter((o) => o.digest !== oldDigest);
  manifest.objects.push({ digest: newDigest as `sha256:${string}`, size: data.length });
  manifest.objects.sort((a, b) => (a.digest < b.digest ? -1 : 1));
  manifest.totals = { objects: manifest.objects.length, bytes: manifest.objects.reduce((n, o) => n + o.size, 0) };
  for (const r of manifest.receipts) if (r.id === oldDigest) r.id = newDigest as `sha256:${string}`;
  return newDigest;
}

/** Asserts a refusal: the exit code, one line on stderr matching `pattern`. */
export function assertRefused(r: RunResult, code: 1 | 2, pattern: RegExp): void {
  const lines = r.stderr.split('\n').filter((l) => l.length > 0);
  assert.equal(r.code, code, `expected exit ${code}, got ${r.code}: ${r.stderr}`);
  assert.equal(lines.length, 1, `expected one line on stderr, got: ${r.stderr}`);
  assert.match(lines[0]!, /^asl: /);
  assert.match(lines[0]!, pattern);
}
