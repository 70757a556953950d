/**
 * Helpers shared by the store tests: run real processes, and describe a directory
 * tree with the same tools an operator would use (find, sha256sum, getfattr,
 * stat), so that "identical" means identical to those tools, not to our own code.
 * Paths and names are handled as bytes (latin1 strings map bytes 1:1), because
 * some file names are not valid UTF-8.
 */
import { packedObjectIds } from './object-bytes.js';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { runAsl, type RunResult } from '../helpers.js';

export interface Proc {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs a program to completion, collecting stdout as bytes. */
export function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string | Buffer } = {},
): Promise<Proc> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (c: Buffer) => out.push(c));
    child.stderr!.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code, signal) =>
      resolve({ code, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') }),
    );
    if (child.stdin) {
      child.stdin.on('error', () => {}); // a child that exits without reading its input is not an error here
      child.stdin.end(opts.input);
    }
  });
}

/** Runs a program that must succeed; returns its stdout. */
export async function must(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string | Buffer } = {},
): Promise<Buffer> {
  const r = await run(cmd, args, opts);
  assert.equal(r.code, 0, `${cmd} ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

/** `sh -c SCRIPT` in `cwd`, which must succeed. */
export function sh(script: string, cwd?: string): Promise<Buffer> {
  return must('sh', ['-c', script], cwd ? { cwd } : {});
}

export const NOBODY = 65534;

/** Runs the real CLI as an unprivileged user (setpriv), as a root-run test must to see EACCES, EPERM. */
export function runAslAs(uid: number, args: string[]): Promise<RunResult> {
  return runAsl(args, { uid });
}

/** Creates a store with the real CLI and returns its path. */
export async function cliInit(dir: string): Promise<string> {
  const r = await runAsl(['init', '--store', dir]);
  assert.equal(r.code, 0, r.stderr);
  return dir;
}

export interface PutJson {
  path: string;
  kind: 'tree' | 'blob';
  id: string;
  times?: string;
  size: number;
  stats: {
    files: number;
    dirs: number;
    other: number;
    bytes: number;
    hashedFiles: number;
    hashedBytes: number;
    cachedFiles: number;
  };
}

/** `asl put --json` that must succeed. */
export async function cliPut(store: string, path: string, extra: string[] = []): Promise<PutJson> {
  const r = await runAsl(['put', '--store', store, path, '--json', ...extra]);
  assert.equal(r.code, 0, `put ${path} failed: ${r.stderr}`);
  assert.equal(r.stderr, '', 'put writes nothing on stderr when it is not a terminal');
  return JSON.parse(r.stdout) as PutJson;
}

/** `asl restore` that must succeed. */
export async function cliRestore(store: string, id: string, dest: string): Promise<void> {
  const r = await runAsl(['restore', '--store', store, id, dest]);
  assert.equal(r.code, 0, `restore ${id} failed: ${r.stderr}`);
}

export function sha256Hex(bytes: Buffer | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Byte order sort of latin1 strings (UTF-16 code units = bytes here). */
function byteSort(lines: string[]): string[] {
  return lines.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function lines(out: Buffer): string[] {
  const text = out.toString('latin1');
  return text.length === 0 ? [] : text.replace(/\n$/, '').split('\n');
}

/** `find -printf '%y %m %U %G %s %l %P\n'`, sorted. `dirSizes: false` blanks %s for directories. */
export async function findListing(dir: string, opts: { dirSizes?: boolean } = {}): Promise<string[]> {
  const out = lines(await must('find', ['.', '-printf', '%y %m %U %G %s %l %P\\n'], { cwd: dir }));
  const listing =
    opts.dirSizes === false
      ? out.map((l) => (l.startsWith('d ') ? l.replace(/^(d \d+ \d+ \d+) \d+/, '$1 -') : l))
      : out;
  return byteSort(listing);
}

/** `sha256sum` of every regular file, in byte order of path. */
export async function sha256Listing(dir: string): Promise<string[]> {
  const out = await must('sh', ['-c', 'find . -type f -print0 | sort -z | xargs -0 -r sha256sum --'], { cwd: dir });
  return lines(out);
}

/**
 * `getfattr -R -P -h -d -m - .`: every xattr in every namespace, without following
 * symlinks, as sorted blocks (getfattr prints in readdir order, which differs
 * between two copies of a tree).
 */
export async function xattrDump(dir: string): Promise<string[]> {
  const r = await run('getfattr', ['-R', '-P', '-h', '-d', '-m', '-', '.'], { cwd: dir });
  assert.equal(r.code, 0, `getfattr failed: ${r.stderr}`);
  const blocks = r.stdout
    .toString('latin1')
    .split('\n\n')
    .map((b) => b.trim())
    .filter((b) => b.length > 0);
  return byteSort(
    blocks.map((b) => {
      const [head, ...attrs] = b.split('\n');
      return [head, ...byteSort(attrs)].join('\n');
    }),
  );
}

/** `stat -c '%n %t:%T'` of every character and block device. */
export async function deviceNumbers(dir: string): Promise<string[]> {
  const out = await must(
    'sh',
    ['-c', "find . \\( -type c -o -type b \\) -print0 | xargs -0 -r stat -c '%F %n %t:%T'"],
    { cwd: dir },
  );
  return byteSort(lines(out));
}

interface WalkEntry {
  rel: string;
  ino: bigint;
  nlink: bigint;
  isDir: boolean;
  mtimeNs: bigint;
  mode: bigint;
  uid: bigint;
  gid: bigint;
}

/** Every entry under `dir` (and `dir` itself as ""), with lstat fields, relative paths as latin1. */
export function walk(dir: string): WalkEntry[] {
  const out: WalkEntry[] = [];
  const visit = (abs: Buffer, rel: string) => {
    const st = lstatSync(abs, { bigint: true });
    out.push({
      rel,
      ino: st.ino,
      nlink: st.nlink,
      isDir: st.isDirectory(),
      mtimeNs: st.mtimeNs,
      mode: st.mode,
      uid: st.uid,
      gid: st.gid,
    });
    if (!st.isDirectory()) return;
    for (const name of readdirSync(abs, { encoding: 'buffer' })) {
      visit(
        Buffer.concat([abs, Buffer.from('/'), name]),
        rel === '' ? name.toString('latin1') : `${rel}/${name.toString('latin1')}`,
      );
    }
  };
  visit(Buffer.from(dir), '');
  return out.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
}

/** Paths that share an inode, as sorted groups (only non-directories with nlink > 1). */
export function hardlinkGroups(dir: string): string[][] {
  const byIno = new Map<bigint, string[]>();
  for (const e of walk(dir)) {
    if (e.isDir || e.nlink < 2n) continue;
    byIno.set(e.ino, [...(byIno.get(e.ino) ?? []), e.rel]);
  }
  return [...byIno.values()].map((g) => byteSort(g)).sort((a, b) => (a[0]! < b[0]! ? -1 : 1));
}

/** "path mtime-in-ns" for every entry, the root included. */
export function mtimeListing(dir: string): string[] {
  return walk(dir).map((e) => `${e.rel} ${e.mtimeNs}`);
}

/**
 * Asserts that `restored` is identical to `original` for every property an OS
 * root needs, each compared with the standard tool.
 */
export async function assertSameTree(
  original: string,
  restored: string,
  opts: { dirSizes?: boolean; mtimes?: boolean } = {},
): Promise<void> {
  assert.deepEqual(await findListing(restored, opts), await findListing(original, opts), 'find -printf listing');
  assert.deepEqual(await sha256Listing(restored), await sha256Listing(original), 'per-file sha256sum');
  assert.deepEqual(await xattrDump(restored), await xattrDump(original), 'getfattr dump');
  assert.deepEqual(await deviceNumbers(restored), await deviceNumbers(original), 'device numbers');
  assert.deepEqual(hardlinkGroups(restored), hardlinkGroups(original), 'hard-link groups');
  if (opts.mtimes !== false) assert.deepEqual(mtimeListing(restored), mtimeListing(original), 'mtimes (ns)');
}

/** Every object id in a store, loose or packed, once each. */
export async function objectIds(store: string): Promise<string[]> {
  return [...new Set([...(await looseObjectIds(store)), ...packedObjectIds(store)])].sort();
}

/** The loose objects' ids (from the file names under objects-v1/sha256). */
export async function looseObjectIds(store: string): Promise<string[]> {
  const base = join(store, 'objects-v1', 'sha256');
  const ids: string[] = [];
  for (const fan of await readdir(base)) {
    for (const name of await readdir(join(base, fan))) ids.push(`sha256:${fan}${name}`);
  }
  return ids.sort();
}

export async function tmpEntries(store: string): Promise<string[]> {
  return (await readdir(join(store, 'tmp'))).sort();
}

export function fileSha(path: string): string {
  return `sha256:${sha256Hex(readFileSync(path))}`;
}

/** Asserts stderr is exactly one line (ending in a newline) and returns it. */
export function oneLine(stderr: string): string {
  assert.ok(stderr.endsWith('\n'), `stderr should end with a newline: ${JSON.stringify(stderr)}`);
  const body = stderr.slice(0, -1);
  assert.ok(body.length > 0 && !body.includes('\n'), `expected exactly one stderr line, got ${JSON.stringify(stderr)}`);
  return body;
}

export { prng } from '../helpers.js';
