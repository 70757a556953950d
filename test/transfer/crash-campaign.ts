// SIGKILL campaigns (shared by the crash tests of the transfer commands and of
// push / pull): a command run in its own process group and killed, with that
// group, at random moments spread over its measured run time, like a power cut;
// after every attempt a check of what it left, then a re-run that must complete.
// The CLI under test is a private snapshot of the build (see snapshotCli).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ASL_BIN, REPO_ROOT, prng, stageCli } from '../helpers.js';
import { copyTree } from './fixture.js';

export const KILLS = Number(process.env.ASL_CRASH_KILLS ?? 50);
/**
 * The seed of the kill moments: ASL_TEST_SEED replays a failed campaign's moments (each
 * a fraction of the run time, so the same points of a run are aimed at even when the
 * machine runs faster or slower); otherwise a fresh one, logged before any kill.
 */
const seedText = process.env.ASL_TEST_SEED;
if (seedText !== undefined && !/^\d{1,10}$/.test(seedText))
  throw new Error(`ASL_TEST_SEED must be an integer from 0 to 4294967295, not "${seedText}"`);
export const SEED = seedText !== undefined ? Number(seedText) >>> 0 : Math.floor(Math.random() * 0x1_0000_0000);
console.log(`crash seed: ${SEED} (replay with ASL_TEST_SEED=${SEED})`);

/** One stream of kill moments per campaign, so one campaign replays alone or in any order. */
function campaignRandom(name: string): () => number {
  let h = SEED;
  for (const c of Buffer.from(name)) h = Math.imul(h ^ c, 0x01000193) >>> 0;
  return prng(h);
}
/** The CLI under test: a private snapshot of the build (see snapshotCli). */
let aslBin = ASL_BIN;

/** Runs every later command from the snapshot at `bin`. */
export function useCli(bin: string): void {
  aslBin = bin;
}

/**
 * A private copy of the built CLI (stageCli), run instead of the working tree's: the
 * campaigns take minutes, and a rebuild of the working tree meanwhile must not be
 * mistaken for a crash-safety failure.
 */
export function snapshotCli(dir: string): string {
  return stageCli(join(dir, 'cli'));
}

/** Runs the snapshot CLI to completion. */
export function runAsl(
  args: string[],
  opts: { cwd?: string } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [aslBin, ...args], {
      cwd: opts.cwd ?? REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }),
    );
  });
}
const MAX_ATTEMPTS = KILLS * 3;

export interface Attempt {
  killed: boolean;
  code: number | null;
  ms: number;
}

/** Runs `asl args` in its own process group and SIGKILLs the group after `delayMs` unless it has finished. */
export function runAndKill(args: string[], delayMs: number, cwd: string): Promise<Attempt> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(process.execPath, [aslBin, ...args], { cwd, detached: true, stdio: 'ignore' });
    let done = false;
    const timer = setTimeout(() => {
      if (!done) {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    }, delayMs);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      done = true;
      clearTimeout(timer);
      // Whatever the command started must be gone too before the store is checked.
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* group empty */
      }
      resolve({ killed: signal === 'SIGKILL', code, ms: Date.now() - started });
    });
  });
}

export async function timed<T>(p: Promise<T>): Promise<{ r: T; ms: number }> {
  const started = Date.now();
  const r = await p;
  return { r, ms: Date.now() - started };
}

export async function timeRuns(n: number, run: () => Promise<number>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) times.push(await run());
  times.sort((a, b) => a - b);
  return times[Math.floor(n / 2)]!;
}

export async function aslVerify(store: string): Promise<{ ok: boolean; notes: number; out: string }> {
  const r = await runAsl(['verify', '--store', store, '--json']);
  const report = JSON.parse(r.stdout || '{}') as { ok?: boolean; notes?: string[] };
  return { ok: r.code === 0 && report.ok === true, notes: report.notes?.length ?? 0, out: r.stdout + r.stderr };
}

/** Loose object files plus pack files: grows as soon as anything is visible. */
export function objectCount(store: string): number {
  const base = join(store, 'objects-v1/sha256');
  const packs = join(store, 'objects-v1/packs');
  return (
    readdirSync(base).reduce((n, fan) => n + readdirSync(join(base, fan)).length, 0) +
    (existsSync(packs) ? readdirSync(packs).length : 0)
  );
}

/** Complete lines of the receipt log: the head's entries and any a crash left past it. */
export function completeLogLines(store: string): number {
  const p = join(store, 'log/receipts.log');
  if (!existsSync(p)) return 0;
  const bytes = readFileSync(p);
  let n = 0;
  for (const b of bytes) if (b === 0x0a) n++;
  return n;
}

export function logCount(store: string): number {
  const p = join(store, 'log/head.json');
  if (!existsSync(p)) return 0;
  const head = JSON.parse(readFileSync(p, 'utf8')) as { payload: string };
  return (JSON.parse(Buffer.from(head.payload, 'base64').toString()) as { seq: number }).seq;
}

export interface Figures {
  command: string;
  medianRunMs: number;
  attempts: number;
  kills: number;
  survivals: number;
  verifiedAfterKill: number;
  /** Kills after which tmp/ residue was noted by verify (allowed). */
  residueNotes: number;
  /** What state each kill left (e.g. "objects visible, no receipt"): how far the run had got. */
  killedIn: Record<string, number>;
  reruns: number;
  verifiedAfterRerun: number;
  /** When the kills that landed came, ms after the start: min, median, max. */
  killAtMs: [number, number, number];
  /** Median run time of the last complete runs, at the end. */
  lastRunMs: number;
  wallSeconds: number;
  /** ASL_TEST_SEED that replays these kill moments. */
  seed: number;
}

export const figures: Figures[] = [];

export function report(f: Figures): void {
  figures.push(f);
  console.log(`crash figures: ${JSON.stringify(f)}`);
}

export async function campaign(
  name: string,
  medianRunMs: number,
  once: (delayMs: number) => Promise<{
    attempt: Attempt;
    afterKill: () => Promise<{ ok: boolean; notes: number; phase: string; out: string }>;
    rerun: () => Promise<{ ms: number; failure: string | null }>;
  }>,
): Promise<Figures> {
  const started = Date.now();
  const f: Figures = {
    command: name,
    medianRunMs,
    attempts: 0,
    kills: 0,
    survivals: 0,
    verifiedAfterKill: 0,
    residueNotes: 0,
    killedIn: {},
    reruns: 0,
    verifiedAfterRerun: 0,
    killAtMs: [0, 0, 0],
    lastRunMs: 0,
    wallSeconds: 0,
    seed: SEED,
  };
  const random = campaignRandom(name);
  const killedAt: number[] = [];
  // The run time is re-measured on every re-run (a complete run), so the kills keep
  // spanning the whole run as the machine's load changes.
  let runMs = medianRunMs;
  const recent: number[] = [medianRunMs];
  while (f.kills < KILLS && f.attempts < MAX_ATTEMPTS) {
    // Over the whole run and a little past it, so the last steps (the commit point) are hit too.
    const delay = random() * runMs * 1.15;
    const replay = `(seed ${SEED}, attempt ${f.attempts + 1}: ASL_TEST_SEED=${SEED} replays it)`;
    const { attempt, afterKill, rerun } = await once(delay);
    f.attempts++;
    if (!attempt.killed) {
      assert.equal(attempt.code, 0, `${name} finished on its own but failed (exit ${attempt.code}) ${replay}`);
      f.survivals++;
    } else {
      f.kills++;
      killedAt.push(Math.round(delay));
    }
    const check = await afterKill();
    assert.ok(check.ok, `${name}: verify failed after a kill at ${delay.toFixed(0)} ms ${replay}: ${check.out}`);
    f.verifiedAfterKill++;
    if (check.notes > 0) f.residueNotes++;
    if (attempt.killed) f.killedIn[check.phase] = (f.killedIn[check.phase] ?? 0) + 1;
    const { ms, failure } = await rerun();
    if (Number.isFinite(ms)) recent.push(ms);
    if (recent.length > 9) recent.shift();
    runMs = [...recent].sort((a, b) => a - b)[Math.floor(recent.length / 2)]!;
    assert.equal(
      failure,
      null,
      `${name}: re-run after a kill at ${delay.toFixed(0)} ms (killed: ${attempt.killed}) ${replay} did not complete and verify: ${failure}`,
    );
    f.reruns++;
    f.verifiedAfterRerun++;
  }
  assert.ok(f.kills >= KILLS, `${name}: only ${f.kills} kills landed in ${f.attempts} attempts (seed ${SEED})`);
  killedAt.sort((a, b) => a - b);
  f.killAtMs = [killedAt[0]!, killedAt[Math.floor(killedAt.length / 2)]!, killedAt[killedAt.length - 1]!];
  f.lastRunMs = runMs;
  f.wallSeconds = Math.round((Date.now() - started) / 1000);
  report(f);
  return f;
}

/**
 * The store a receiving command (bundle import, pull) runs into, as it is before each
 * attempt: trusting the source's key (`trustedKeyFile` is the name of that key's file in
 * keys/trusted/, `publicKey` its bytes) and already holding a history of its own.
 */
export async function receivingTemplate(
  dir: string,
  name: string,
  trustedKeyFile: string,
  publicKey: Buffer,
): Promise<string> {
  const template = join(dir, name);
  assert.equal((await runAsl(['init', '--store', template])).code, 0);
  await writeFile(join(template, 'keys', 'trusted', trustedKeyFile), publicKey);
  const own = ['capture', '--store', template, '--cmd', 'echo own history', '--outdir', join(dir, `${name}-own`)];
  assert.equal((await runAsl([...own, '--no-auto-watch'])).code, 0);
  return template;
}

/**
 * A campaign of a command that brings receipts into `target` (bundle import, pull): the
 * target is a fresh copy of `template` before every attempt; after a kill it must
 * verify, and the re-run must complete with `expected` log entries and verify.
 */
export async function receiveCampaign(
  name: string,
  args: string[],
  o: { dir: string; template: string; target: string; expected: number },
): Promise<void> {
  const reset = async () => {
    await rm(o.target, { recursive: true, force: true });
    copyTree(o.template, o.target);
  };
  const medianMs = await timeRuns(3, async () => {
    await reset();
    return (await runAndKill(args, 60_000, o.dir)).ms;
  });
  const objectsBefore = objectCount(o.template);
  await campaign(name, medianMs, async (delay) => {
    await reset();
    const attempt = await runAndKill(args, delay, o.dir);
    return {
      attempt,
      afterKill: async () => ({
        ...(await aslVerify(o.target)),
        phase:
          logCount(o.target) === o.expected
            ? 'receipts committed'
            : objectCount(o.target) > objectsBefore
              ? 'objects visible, receipts not yet'
              : 'nothing visible yet',
      }),
      rerun: async () => {
        const { r, ms } = await timed(runAsl(args, { cwd: o.dir }));
        if (r.code !== 0) return { ms, failure: `exit ${r.code}: ${r.stderr}` };
        if (logCount(o.target) !== o.expected)
          return { ms, failure: `log has ${logCount(o.target)} entries, expected ${o.expected}` };
        const v = await aslVerify(o.target);
        return { ms, failure: v.ok ? null : v.out };
      },
    };
  });
}
