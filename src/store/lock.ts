import { randomBytes } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import { link, readFile, readdir, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AslError, fsError } from '../core/errors.js';
import { LOCKS_DIR } from './layout.js';
import type { Store } from './store.js';
import { makeDirs, STORE_MODES, writeNewFile } from './store-modes.js';

/**
 * Inter-process locks on store resources: `locks/<name>.lock` exists while
 * someone holds the resource. The file is written in full under a private
 * name and then hard-linked into place, so it appears atomically and always
 * complete (link fails with EEXIST when the lock is held). A holder that died
 * on this host leaves a stale lock, which the next waiter breaks; a lock from
 * another host (a store on shared storage) is never broken automatically.
 * Locks are not re-entrant: taking a lock you hold waits until the timeout.
 */

/** What a lock file records about its holder. */
export interface LockHolder {
  pid: number;
  hostname: string;
  /** /proc/sys/kernel/random/boot_id: a lock from before a reboot is stale. */
  bootId?: string;
  /** /proc/self/ns/pid: a pid is only meaningful inside its pid namespace. */
  pidNs?: string;
  /** Process start time in clock ticks since boot: tells a reused pid from the holder. */
  startTime?: number;
  acquiredAt: string;
  token: string;
}

export interface LockOptions {
  /** How long to wait for a held lock before failing with LOCKED (default 30 s). */
  timeoutMs?: number;
  /** Called once when the lock is found held by someone else, e.g. to print "waiting for …". */
  onWait?: (holder: LockHolder | null) => void;
}

export interface HeldLock {
  readonly path: string;
  readonly holder: LockHolder;
  /** Removes the lock if it is still ours; false when someone broke it meanwhile. */
  release(): Promise<boolean>;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const MAX_BACKOFF_MS = 100;
/** A lock file that does not parse is broken only once it is this old. */
const UNREADABLE_GRACE_MS = 5_000;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

function readProcText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function pidNamespace(pid: number | 'self'): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return undefined;
  }
}

/** Field 22 of /proc/<pid>/stat; the command name (field 2) may hold spaces and parentheses. */
function processStartTime(pid: number | 'self'): number | undefined {
  const text = readProcText(`/proc/${pid}/stat`);
  if (!text) return undefined;
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const value = Number(fields[19]);
  return Number.isFinite(value) ? value : undefined;
}

let selfIdentity: Omit<LockHolder, 'acquiredAt' | 'token'> | undefined;
function self(): Omit<LockHolder, 'acquiredAt' | 'token'> {
  selfIdentity ??= {
    pid: process.pid,
    hostname: hostname(),
    bootId: readProcText('/proc/sys/kernel/random/boot_id'),
    pidNs: pidNamespace('self'),
    startTime: processStartTime('self'),
  };
  return selfIdentity;
}

function parseHolder(text: string): LockHolder | null {
  try {
    const h = JSON.parse(text) as LockHolder;
    if (Number.isSafeInteger(h.pid) && h.pid > 0 && typeof h.hostname === 'string' && typeof h.token === 'string')
      return h;
  } catch {
    /* fall through */
  }
  return null;
}

async function readHolder(path: string): Promise<{ holder: LockHolder | null; mtimeMs: number } | 'gone'> {
  try {
    const [text, st] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
    return { holder: parseHolder(text), mtimeMs: st.mtimeMs };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw fsError(path, err, 'cannot read lock');
  }
}

/** True only when we can tell for sure that the holder no longer runs. */
function isStaleHolder(holder: LockHolder): boolean {
  const me = self();
  if (holder.hostname !== me.hostname) return false;
  if (holder.bootId && me.bootId && holder.bootId !== me.bootId) return true;
  if (holder.pidNs && me.pidNs && holder.pidNs !== me.pidNs) return false;
  try {
    process.kill(holder.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return true;
    // EPERM: alive, owned by another user.
  }
  if (holder.startTime !== undefined) {
    const now = processStartTime(holder.pid);
    if (now !== undefined && now !== holder.startTime) return true;
  }
  return false;
}

function describeHolder(holder: LockHolder | null): string {
  if (!holder) return 'an unreadable lock file';
  return `pid ${holder.pid} on ${holder.hostname} since ${holder.acquiredAt}`;
}

/**
 * Breaks the stale lock at `path` that `stale` describes. Breakers serialize on
 * `<path>.break`, and one only removes the lock after re-reading it under that
 * guard and finding the same token, so a lock taken by someone else meanwhile
 * is never removed. A breaker that dies holding the guard leaves it stale in
 * turn; that guard is removed by the same pid test.
 */
async function breakStale(path: string, stale: string | null, mine: string): Promise<boolean> {
  const guard = `${path}.break`;
  try {
    await link(mine, guard);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fsError(guard, err, 'cannot create lock guard');
    const seen = await readHolder(guard);
    if (seen === 'gone') return true; // the other breaker is done: retry now
    if (seen.holder && isStaleHolder(seen.holder)) {
      const again = await readHolder(guard);
      if (again !== 'gone' && again.holder?.token === seen.holder.token) await unlink(guard).catch(() => undefined);
      return true;
    }
    return false; // someone alive is breaking it: wait like any waiter
  }
  try {
    const current = await readHolder(path);
    if (current === 'gone') return true;
    if ((current.holder?.token ?? null) !== stale) return true; // replaced meanwhile: look again
    try {
      await unlink(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return true;
      throw fsError(path, err, 'cannot remove stale lock');
    }
    return true;
  } finally {
    await unlink(guard).catch(() => undefined);
  }
}

/** Temp files `<name>.lock.<token>` that processes killed while waiting left behind. */
async function removeDeadTempFiles(dir: string, prefix: string, ownToken: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  for (const n of names) {
    if (!n.startsWith(prefix) || n.endsWith('.break') || n.endsWith(ownToken)) continue;
    const seen = await readHolder(join(dir, n)).catch(() => 'gone' as const);
    if (seen !== 'gone' && seen.holder && isStaleHolder(seen.holder)) await unlink(join(dir, n)).catch(() => undefined);
  }
}

function checkName(name: string): void {
  if (!NAME_RE.test(name))
    throw new AslError('BAD_INPUT', `${JSON.stringify(name)}: not a valid lock name (letters, digits, . _ -)`);
}

export function lockPath(store: Store, name: string): string {
  checkName(name);
  return join(store.root, LOCKS_DIR, `${name}.lock`);
}

/** Takes the lock `name` of `store`, waiting with backoff while another process holds it. */
export async function acquireLock(store: Store, name: string, opts: LockOptions = {}): Promise<HeldLock> {
  const path = lockPath(store, name);
  const dir = join(store.root, LOCKS_DIR);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const holder: LockHolder = {
    ...self(),
    acquiredAt: new Date().toISOString(),
    token: randomBytes(12).toString('hex'),
  };
  const mine = `${path}.${holder.token}`;
  const deadline = Date.now() + timeoutMs;
  let backoff = 2;
  let waited = false;

  let writtenAt = 0;
  const writeMine = async (flag: 'wx' | 'w') => {
    await makeDirs(dir);
    holder.acquiredAt = new Date().toISOString();
    await writeNewFile(mine, `${JSON.stringify(holder)}\n`, STORE_MODES.file, flag);
    writtenAt = Date.now();
  };
  try {
    await writeMine('wx');
  } catch (err) {
    throw fsError(mine, err, 'cannot create lock');
  }
  try {
    for (;;) {
      // keep acquiredAt honest after a long wait (the file is still private: nobody reads it)
      if (Date.now() - writtenAt > 1000) await writeMine('w');
      try {
        await link(mine, path);
        await removeDeadTempFiles(dir, `${name}.lock.`, holder.token);
        return {
          path,
          holder,
          release: async () => {
            const current = await readHolder(path);
            if (current === 'gone' || current.holder?.token !== holder.token) return false;
            await unlink(path);
            return true;
          },
        };
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') {
          await writeMine('w').catch(() => undefined);
          continue;
        } // locks/ or our file removed under us
        if (code !== 'EEXIST') throw fsError(path, err, 'cannot take lock');
      }
      const seen = await readHolder(path);
      if (seen === 'gone') continue;
      const stale = seen.holder ? isStaleHolder(seen.holder) : Date.now() - seen.mtimeMs > UNREADABLE_GRACE_MS;
      if (stale && (await breakStale(path, seen.holder?.token ?? null, mine))) continue;
      if (!waited) {
        waited = true;
        opts.onWait?.(seen.holder);
      }
      if (Date.now() >= deadline) {
        throw new AslError(
          'LOCKED',
          `${path}: held by ${describeHolder(seen.holder)}; gave up after ${(timeoutMs / 1000).toFixed(1)} s (if that process is gone, remove the file)`,
          { data: { path, holder: seen.holder } },
        );
      }
      await sleep(Math.min(backoff, Math.max(1, deadline - Date.now())) * (0.5 + Math.random()));
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
  } finally {
    await unlink(mine).catch(() => undefined);
  }
}

/** Runs `fn` while holding the lock `name`; the lock is released however `fn` ends. */
export async function withLock<T>(
  store: Store,
  name: string,
  fn: () => Promise<T>,
  opts: LockOptions = {},
): Promise<T> {
  const lock = await acquireLock(store, name, opts);
  try {
    return await fn();
  } finally {
    await lock.release().catch(() => undefined);
  }
}
