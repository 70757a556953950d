import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, readdir, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AslError } from '../../src/core/errors.js';
import { LOCKS_DIR } from '../../src/store/layout.js';
import { acquireLock, lockPath, withLock, type LockHolder } from '../../src/store/lock.js';
import { initStore, type Store } from '../../src/store/store.js';
import { REPO_ROOT, START_BARRIER, startTogether, tempDir } from '../helpers.js';

async function newStore(t: TestContext): Promise<Store> {
  return (await initStore(join(await tempDir(t), 'store'))).store;
}

function holder(overrides: Partial<LockHolder>): LockHolder {
  return {
    pid: process.pid,
    hostname: hostname(),
    acquiredAt: '2024-01-01T00:00:00.000Z',
    token: randomBytes(12).toString('hex'),
    ...overrides,
  };
}

function spawnNode(args: string[]): {
  pid: number;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
} {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>(
    (resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    },
  );
  return { pid: child.pid!, done };
}

/** A pid that belonged to a process on this host which has exited and been reaped. */
async function deadPid(): Promise<number> {
  const child = spawnNode(['-e', '']);
  await child.done;
  return child.pid;
}

const CONTENDER = `
import { pathToFileURL } from 'node:url';
import { readFile, writeFile, appendFile } from 'node:fs/promises';
const [dist, root, rounds] = process.argv.slice(2);
const { withLock } = await import(pathToFileURL(dist + '/src/store/lock.js').href);
const store = { root };
const counter = root + '/counter';
const trace = root + '/trace';
${START_BARRIER}
for (let i = 0; i < Number(rounds); i++) {
  await withLock(store, 'counter', async () => {
    await appendFile(trace, 'enter ' + process.pid + '\\n');
    const n = Number(await readFile(counter, 'utf8'));
    await new Promise((r) => setTimeout(r, 1 + Math.random() * 2));
    await writeFile(counter, String(n + 1));
    await appendFile(trace, 'leave ' + process.pid + '\\n');
  }, { timeoutMs: 60000 });
}
`;

test('several processes contending for one lock never overlap, and every round lands', async (t) => {
  const store = await newStore(t);
  const script = join(store.root, '..', 'contender.mjs');
  await writeFile(script, CONTENDER);
  await writeFile(join(store.root, 'counter'), '0');
  const procs = 6;
  const rounds = 15;
  const children = await startTogether(
    script,
    Array.from({ length: procs }, () => [join(REPO_ROOT, 'dist'), store.root, String(rounds)]),
  );
  for (const r of await Promise.all(children.map((c) => c.done))) assert.equal(r.code, 0, r.stderr);

  assert.equal(await readFile(join(store.root, 'counter'), 'utf8'), String(procs * rounds));
  const trace = (await readFile(join(store.root, 'trace'), 'utf8')).trim().split('\n');
  assert.equal(trace.length, 2 * procs * rounds);
  for (let i = 0; i < trace.length; i += 2) {
    const [enter, enterPid] = trace[i]!.split(' ');
    const [leave, leavePid] = trace[i + 1]!.split(' ');
    assert.deepEqual(
      [enter, leave, leavePid],
      ['enter', 'leave', enterPid],
      `critical sections overlap at trace line ${i + 1}`,
    );
  }
  const order = trace.filter((_, i) => i % 2 === 0).map((l) => l.split(' ')[1]);
  assert.ok(
    order.some((pid, i) => i > 0 && pid !== order[i - 1]),
    'the holders alternated',
  );
  assert.equal(new Set(order).size, procs);
  assert.deepEqual(await readdir(join(store.root, LOCKS_DIR)), [], 'no lock or temp file is left behind');
});

test('a lock left by a dead process on this host is broken', async (t) => {
  const store = await newStore(t);
  const pid = await deadPid();
  const path = lockPath(store, 'receipt-log');
  await writeFile(path, JSON.stringify(holder({ pid })));
  const started = Date.now();
  // Broken at once, not waited out: a 30 s timeout, and well under half of it is taken
  // even on a busy machine (a lock that is not broken would fail with a timeout).
  const result = await withLock(
    store,
    'receipt-log',
    async () => JSON.parse(await readFile(path, 'utf8')) as LockHolder,
    { timeoutMs: 30_000 },
  );
  assert.equal(result.pid, process.pid);
  assert.ok(Date.now() - started < 15_000);
  assert.deepEqual(await readdir(join(store.root, LOCKS_DIR)), []);
});

test('a lock whose holder was SIGKILLed while holding it is broken by the next process', async (t) => {
  const store = await newStore(t);
  const script = join(store.root, '..', 'holder.mjs');
  await writeFile(
    script,
    `
import { pathToFileURL } from 'node:url';
const { acquireLock } = await import(pathToFileURL(process.argv[2] + '/src/store/lock.js').href);
await acquireLock({ root: process.argv[3] }, 'capture');
console.log('held');
// never outlive the test: leave when the parent goes away, or after 20 s at most
process.stdin.on('end', () => process.exit(0)).resume();
setTimeout(() => process.exit(0), 20000);
`,
  );
  const child = spawn(process.execPath, [script, join(REPO_ROOT, 'dist'), store.root], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const closed = new Promise((resolve) => child.on('close', resolve));
  t.after(() => {
    child.kill('SIGKILL');
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.once('close', () => reject(new Error('holder exited before taking the lock')));
  });
  const held = JSON.parse(await readFile(lockPath(store, 'capture'), 'utf8')) as LockHolder;
  assert.equal(held.pid, child.pid);

  await assert.rejects(acquireLock(store, 'capture', { timeoutMs: 200 }), (err: AslError) => {
    assert.equal(err.code, 'LOCKED');
    assert.match(
      err.message,
      new RegExp(
        `capture\\.lock: held by pid ${child.pid} on ${hostname()} since ${held.acquiredAt}; gave up after 0\\.2 s`,
      ),
    );
    assert.equal((err.data!.holder as LockHolder).pid, child.pid);
    return true;
  });
  child.kill('SIGKILL');
  await closed;
  const lock = await acquireLock(store, 'capture', { timeoutMs: 2000 });
  assert.equal(lock.holder.pid, process.pid);
  assert.equal(await lock.release(), true);
});

test('a waiter gets the lock as soon as the holder releases it', async (t) => {
  const store = await newStore(t);
  const first = await acquireLock(store, 'x');
  const waits: Array<LockHolder | null> = [];
  const second = acquireLock(store, 'x', { timeoutMs: 5000, onWait: (h) => waits.push(h) });
  await sleep(50);
  assert.equal(await first.release(), true);
  const lock = await second;
  assert.notEqual(lock.holder.token, first.holder.token);
  assert.deepEqual(
    waits.map((h) => h?.token),
    [first.holder.token],
  );
  await lock.release();
});

test('withLock releases the lock when the function throws', async (t) => {
  const store = await newStore(t);
  await assert.rejects(
    withLock(store, 'x', async () => {
      throw new Error('boom');
    }),
    /boom/,
  );
  assert.equal(await withLock(store, 'x', async () => 42, { timeoutMs: 100 }), 42);
});

test('a lock held on another host is never broken', async (t) => {
  const store = await newStore(t);
  const pid = await deadPid();
  await writeFile(lockPath(store, 'x'), JSON.stringify(holder({ pid, hostname: 'elsewhere.example' })));
  await assert.rejects(acquireLock(store, 'x', { timeoutMs: 100 }), (err: AslError) => {
    assert.equal(err.code, 'LOCKED');
    assert.equal(err.exitCode, 2);
    assert.match(err.message, new RegExp(`held by pid ${pid} on elsewhere\\.example since 2024-01-01T00:00:00\\.000Z`));
    return true;
  });
});

test('a lock from before a reboot, or whose pid now runs another process, is stale', async (t) => {
  const store = await newStore(t);
  const bootId = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
  // our own pid is alive, but a different boot id means the holder died with the old boot
  await writeFile(
    lockPath(store, 'a'),
    JSON.stringify(holder({ bootId: bootId.replace(/^./, (c) => (c === '0' ? '1' : '0')) })),
  );
  await (await acquireLock(store, 'a', { timeoutMs: 500 })).release();
  // our pid, but a different process start time: the pid was reused
  await writeFile(lockPath(store, 'b'), JSON.stringify(holder({ bootId, startTime: 1 })));
  await (await acquireLock(store, 'b', { timeoutMs: 500 })).release();
  // our pid with our real identity is a live holder
  const live = await acquireLock(store, 'c');
  await assert.rejects(acquireLock(store, 'c', { timeoutMs: 80 }), (err: AslError) => err.code === 'LOCKED');
  await live.release();
});

test('an unreadable lock file is broken only once it is old', async (t) => {
  const store = await newStore(t);
  const path = lockPath(store, 'x');
  await writeFile(path, '');
  await assert.rejects(acquireLock(store, 'x', { timeoutMs: 80 }), /held by an unreadable lock file/);
  const old = new Date(Date.now() - 60_000);
  await utimes(path, old, old);
  const lock = await acquireLock(store, 'x', { timeoutMs: 500 });
  assert.equal(await lock.release(), true);
});

test('release does not remove a lock that is no longer ours', async (t) => {
  const store = await newStore(t);
  const lock = await acquireLock(store, 'x');
  const other = holder({});
  await writeFile(lock.path, JSON.stringify(other));
  assert.equal(await lock.release(), false);
  assert.equal(JSON.parse(await readFile(lock.path, 'utf8')).token, other.token);
});

test('lock names are checked', async (t) => {
  const store = await newStore(t);
  await assert.rejects(acquireLock(store, '../escape'), (err: AslError) => err.code === 'BAD_INPUT');
});

test('many breakers racing on one stale lock: exactly one holder at a time', async (t) => {
  const store = await newStore(t);
  const pid = await deadPid();
  await writeFile(lockPath(store, 'x'), JSON.stringify(holder({ pid })));
  let inside = 0;
  let maxInside = 0;
  await Promise.all(
    Array.from({ length: 8 }, () =>
      withLock(
        store,
        'x',
        async () => {
          inside++;
          maxInside = Math.max(maxInside, inside);
          await sleep(5);
          inside--;
        },
        { timeoutMs: 5000 },
      ),
    ),
  );
  assert.equal(maxInside, 1);
});

test('temp files of processes killed while waiting are cleaned up by the next holder', async (t) => {
  const store = await newStore(t);
  const dead = holder({ pid: await deadPid() });
  const litter = `${lockPath(store, 'x')}.${dead.token}`;
  await writeFile(litter, JSON.stringify(dead));
  const lock = await acquireLock(store, 'x');
  await lock.release();
  assert.deepEqual(await readdir(join(store.root, LOCKS_DIR)), []);
});
