import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { posix } from 'node:path';
import { databaseStamp, type DebianPackage, type DpkgAnswers, type DpkgCache } from './dpkg-cache.js';

export type { DebianPackage } from './dpkg-cache.js';

/** dpkg-query's database when no --admindir is given. */
const HOST_ADMINDIR = '/var/lib/dpkg';

/** Paths per dpkg-query call: far below ARG_MAX even for long paths. */
const BATCH = 500;

/**
 * /usr-merge: on a merged system /bin is a symlink to /usr/bin, but dpkg's
 * database still lists files under the path the package shipped them at. A
 * file found at /usr/bin/cat is recorded as /bin/cat by coreutils, and the
 * reverse happens too. These are the names to ask dpkg about, `path` first.
 */
export function usrMergeAliases(path: string): string[] {
  const out = [path];
  const m = /^\/usr\/(bin|sbin|lib|lib32|lib64|libx32|libo32)(\/.*)$/.exec(path);
  if (m) out.push(`/${m[1]}${m[2]}`);
  const n = /^\/(bin|sbin|lib|lib32|lib64|libx32|libo32)(\/.*)$/.exec(path);
  if (n) out.push(`/usr/${n[1]}${n[2]}`);
  return out;
}

/**
 * Asks dpkg which package owns a file and at which version. One instance per
 * capture: answers are cached, and each call asks dpkg-query about all the
 * paths it was given at once (one `-S` and one `-W` per database).
 *
 * Paths are as seen inside `root`; `root` null means the host's database, else
 * ROOT/var/lib/dpkg (`--admindir`). A host without dpkg, a chroot without a
 * dpkg database, a file no package ships (or one managed by alternatives):
 * all give null, never an error.
 *
 * With a DpkgCache, answers also outlive the capture: they are kept per
 * database state (dpkg-cache.ts) and dpkg-query runs only for what that state
 * has not answered yet.
 */
export class DpkgLookup {
  private readonly owners = new Map<string, string | null>();
  private readonly versions = new Map<string, DebianPackage | null>();
  private readonly dpkgQuery: string;
  private readonly cache: DpkgCache | undefined;
  /** Databases whose saved answers were already taken from the cache. */
  private readonly loaded = new Set<string>();
  private queries = 0;

  constructor(opts: { dpkgQuery?: string; cache?: DpkgCache } = {}) {
    this.dpkgQuery = opts.dpkgQuery ?? 'dpkg-query';
    this.cache = opts.cache;
  }

  async packagesOf(paths: readonly string[], root: string | null = null): Promise<Map<string, DebianPackage | null>> {
    const admindir = root === null ? null : posix.join(root, 'var/lib/dpkg');
    // DPKG_ADMINDIR moves the host's database somewhere this cache does not look: no persistent answers then.
    const database = admindir ?? (process.env.DPKG_ADMINDIR ? null : HOST_ADMINDIR);
    const stamp = this.cache && database !== null ? databaseStamp(database) : null;
    if (stamp !== null && !this.loaded.has(`${admindir ?? ''}\0${stamp}`)) {
      this.loaded.add(`${admindir ?? ''}\0${stamp}`);
      const saved = await this.cache!.get(database!, stamp);
      if (saved) this.absorb(admindir, saved);
    }
    const queriesBefore = this.queries;
    const owners = await this.ownersOf(paths, admindir);
    const names = [...new Set([...owners.values()].filter((n): n is string => n !== null))];
    const info = await this.packageInfo(names, admindir);
    const out = new Map<string, DebianPackage | null>();
    for (const p of paths) {
      const owner = owners.get(p) ?? null;
      out.set(p, owner === null ? null : (info.get(owner) ?? null));
    }
    // Save new answers only if the database did not change while dpkg-query read it.
    if (stamp !== null && this.queries > queriesBefore && databaseStamp(database!) === stamp) {
      await this.cache!.put(database!, stamp, this.answers(admindir));
    }
    return out;
  }

  /** Takes saved answers for the database `admindir` (null: the host's) without overriding fresher ones. */
  private absorb(admindir: string | null, saved: DpkgAnswers): void {
    const prefix = `${admindir ?? ''}\0`;
    for (const [p, owner] of Object.entries(saved.owners)) {
      if (!this.owners.has(prefix + p)) this.owners.set(prefix + p, owner);
    }
    for (const [n, pkg] of Object.entries(saved.versions)) {
      if (!this.versions.has(prefix + n)) this.versions.set(prefix + n, pkg);
    }
  }

  /** Everything known about the database `admindir`, for the cache. */
  private answers(admindir: string | null): DpkgAnswers {
    const prefix = `${admindir ?? ''}\0`;
    const owners: DpkgAnswers['owners'] = {};
    const versions: DpkgAnswers['versions'] = {};
    for (const [k, v] of this.owners) if (k.startsWith(prefix)) owners[k.slice(prefix.length)] = v;
    for (const [k, v] of this.versions) if (k.startsWith(prefix)) versions[k.slice(prefix.length)] = v;
    return { owners, versions };
  }

  private async ownersOf(paths: readonly string[], admindir: string | null): Promise<Map<string, string | null>> {
    const key = (p: string): string => `${admindir ?? ''}\0${p}`;
    const todo = [...new Set(paths)].filter((p) => !this.owners.has(key(p)));
    const usable = admindir === null || existsSync(posix.join(admindir, 'status'));
    const queries: string[] = [];
    for (const p of todo) {
      // dpkg -S takes patterns: a path with glob characters cannot be asked exactly.
      if (!usable || !p.startsWith('/') || /[*?[\]\\]/.test(p)) this.owners.set(key(p), null);
      else queries.push(...usrMergeAliases(p));
    }
    const found = new Map<string, string>();
    for (let i = 0; i < queries.length; i += BATCH) {
      const out = await this.run([...adminArgs(admindir), '-S', '--', ...queries.slice(i, i + BATCH)]);
      for (const line of out.split('\n')) {
        if (line.startsWith('diversion by ')) continue;
        const sep = line.indexOf(': /');
        if (sep < 0) continue;
        const pkgs = line.slice(0, sep).split(', ');
        const path = line.slice(sep + 2);
        if (!found.has(path) && pkgs[0]) found.set(path, pkgs[0]);
      }
    }
    for (const p of todo) {
      if (this.owners.has(key(p))) continue;
      const owner = usrMergeAliases(p)
        .map((a) => found.get(a))
        .find((o) => o !== undefined);
      this.owners.set(key(p), owner ?? null);
    }
    return new Map(paths.map((p) => [p, this.owners.get(key(p)) ?? null]));
  }

  private async packageInfo(
    names: readonly string[],
    admindir: string | null,
  ): Promise<Map<string, DebianPackage | null>> {
    const key = (n: string): string => `${admindir ?? ''}\0${n}`;
    const todo = names.filter((n) => !this.versions.has(key(n)));
    for (let i = 0; i < todo.length; i += BATCH) {
      const batch = todo.slice(i, i + BATCH);
      const out = await this.run([
        ...adminArgs(admindir),
        '-W',
        '-f',
        '${binary:Package}\\t${Package}\\t${Version}\\t${Architecture}\\t${db:Status-Status}\\n',
        '--',
        ...batch,
      ]);
      for (const line of out.split('\n')) {
        const [qualified, name, version, architecture, status] = line.split('\t');
        if (!qualified || !name || !version || !architecture) continue;
        if (status !== undefined && status !== '' && status !== 'installed') continue;
        const pkg: DebianPackage = { name, version, architecture };
        // `-S` names multi-arch packages as name:arch, others as name; keep both spellings.
        this.versions.set(key(qualified), pkg);
        if (!this.versions.has(key(name))) this.versions.set(key(name), pkg);
      }
      for (const n of batch) if (!this.versions.has(key(n))) this.versions.set(key(n), null);
    }
    return new Map(names.map((n) => [n, this.versions.get(key(n)) ?? null]));
  }

  /** Runs dpkg-query; "not found" exits 1 and is an answer, a missing dpkg-query is "nothing known". */
  private async run(args: string[]): Promise<string> {
    this.queries++;
    return (await runHelper(this.dpkgQuery, args)).stdout;
  }
}

export interface HelperResult {
  stdout: string;
  stderr: string;
  /** Exit status; 127 when the program was not found, null when it was killed. */
  status: number | null;
}

/**
 * Runs a helper program (dpkg-query, dpkg-deb) without it ever becoming a
 * child this process reaps: a short-lived `sh` starts it in a background
 * subshell and exits at once, and init reaps the rest. Why: a command's peak
 * memory is read from getrusage(RUSAGE_CHILDREN).ru_maxrss, the largest child
 * this process has ever reaped, and `dpkg-query -S` alone peaks near 27 MB,
 * more than many commands (`sh -c true` is 1.5 MB). Helpers run this way
 * cannot mask a command's peak, whatever order the capture does things in.
 */
export function runHelper(program: string, args: readonly string[]): Promise<HelperResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', '("$@"; echo $? >&3) &', 'sh', program, ...args], {
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
      env: { ...process.env, LC_ALL: 'C' },
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const status: Buffer[] = [];
    const pipes = [1, 2, 3].map((fd) => child.stdio[fd] as NodeJS.ReadableStream);
    pipes[0]!.on('data', (c: Buffer) => out.push(c));
    pipes[1]!.on('data', (c: Buffer) => err.push(c));
    pipes[2]!.on('data', (c: Buffer) => status.push(c));
    let open = pipes.length;
    const ended = (): void => {
      if (--open > 0) return;
      const s = Buffer.concat(status).toString('utf8').trim();
      resolve({
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        status: /^\d+$/.test(s) ? Number(s) : null,
      });
    };
    for (const p of pipes) p.on('end', ended);
    child.on('error', reject);
  });
}

function adminArgs(admindir: string | null): string[] {
  return admindir === null ? [] : [`--admindir=${admindir}`];
}
