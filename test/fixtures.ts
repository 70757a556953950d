// Real, big test data shared by the tests and the bench, each built once into a
// repo-relative cache dir (.cache/fixtures/NAME) and reused by every later run.
//
// A fixture is built into a temp sibling and renamed into place, so a directory under
// its final name is always complete; an inter-process lock (a directory holding the
// builder's pid) keeps two test files from building the same fixture at once.
import { processAlive } from '../src/core/process-alive.js';
import { spawn } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { REPO_ROOT, prng } from './helpers.js';

export const FIXTURES_DIR = join(REPO_ROOT, '.cache', 'fixtures');
const ENSURE_SCRIPT = join(REPO_ROOT, 'scripts', 'ensure-debian-packages.sh');

// ---------------------------------------------------------------------------
// Debian mirror and packages

/**
 * The Debian mirror to use: $ASL_MIRROR, else the first Debian (non-security) URI in the
 * host's apt sources, deb822 `.sources` files first, then one-line `.list` files.
 */
export function debianMirror(): string {
  const fromEnv = process.env.ASL_MIRROR?.trim();
  if (fromEnv) return fromEnv.replace(/\/+$/, '');
  const dir = '/etc/apt/sources.list.d';
  const names = listDir(dir).sort();
  const candidates = [
    ...names.filter((n) => n.endsWith('.sources')).map((n) => join(dir, n)),
    '/etc/apt/sources.list',
    ...names.filter((n) => n.endsWith('.list')).map((n) => join(dir, n)),
  ];
  for (const file of candidates) {
    const text = readText(file);
    if (text === undefined) continue;
    const uri = file.endsWith('.sources') ? mirrorFromDeb822(text) : mirrorFromOneLine(text);
    if (uri) return uri.replace(/\/+$/, '');
  }
  throw new Error('debianMirror: no Debian mirror in /etc/apt/sources.list{,.d}; set ASL_MIRROR');
}

/**
 * A Debian archive: a path segment "debian" (…/debian, snapshot.debian.org/archive/debian/DATE),
 * not debian-security, debian-debug or a third-party repository, and no -security suite.
 */
function isDebianArchive(uri: string, suites: string[]): boolean {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return false;
  }
  return (
    ['http:', 'https:', 'file:'].includes(url.protocol) &&
    url.pathname.split('/').includes('debian') &&
    !suites.some((s) => s.endsWith('-security'))
  );
}

function mirrorFromDeb822(text: string): string | undefined {
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string[]>();
    for (const line of stanza.split('\n')) {
      const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
      if (m) fields.set(m[1]!.toLowerCase(), m[2]!.split(/\s+/).filter(Boolean));
    }
    if (fields.get('enabled')?.[0]?.toLowerCase() === 'no') continue;
    if (!(fields.get('types') ?? []).includes('deb')) continue;
    const suites = fields.get('suites') ?? [];
    const uri = (fields.get('uris') ?? []).find((u) => isDebianArchive(u, suites));
    if (uri) return uri;
  }
  return undefined;
}

function mirrorFromOneLine(text: string): string | undefined {
  for (const raw of text.split('\n')) {
    // deb [options] URI suite [components...]
    const words = raw
      .replace(/#.*/, '')
      .replace(/\[[^\]]*\]/, ' ')
      .trim()
      .split(/\s+/);
    if (words[0] !== 'deb' || words.length < 3) continue;
    if (isDebianArchive(words[1]!, [words[2]!])) return words[1];
  }
  return undefined;
}

const ensured = new Set<string>();

/**
 * The unit tier (scripts/test-tiers.mjs sets ASL_TEST_TIER) runs offline: it uses only the tools
 * it names in ASL_TEST_TOOLS, which it checked are installed, and builds no debootstrap root.
 */
const UNIT_TIER = process.env.ASL_TEST_TIER === 'unit';

function refuseInUnitTier(what: string): never {
  throw new Error(
    `${what}: not in the unit tier (it runs offline); list this test file under FULL in scripts/test-tiers.mjs`,
  );
}

/** Installs the Debian packages that are missing (scripts/ensure-debian-packages.sh). */
export async function ensureDebianPackages(...pkgs: string[]): Promise<void> {
  if (UNIT_TIER) {
    const tools = new Set((process.env.ASL_TEST_TOOLS ?? '').split(/\s+/));
    const others = pkgs.filter((p) => !tools.has(p));
    if (others.length > 0) refuseInUnitTier(`Debian package ${others.join(' ')}`);
    return;
  }
  const wanted = pkgs.filter((p) => !ensured.has(p));
  if (wanted.length === 0) return;
  const { code, output } = await runCommand('bash', [ENSURE_SCRIPT, ...wanted]);
  if (code !== 0) throw new Error(lastLine(output) || `ensure-debian-packages ${wanted.join(' ')} exited ${code}`);
  for (const p of wanted) ensured.add(p);
}

// ---------------------------------------------------------------------------
// Fixtures

/**
 * A Debian bookworm minbase root made by debootstrap from the host's mirror (~206 MB,
 * ~6,700 entries, device nodes, setuid binaries, hard links). Needs root to build.
 */
export function bookwormMinbaseRoot(): Promise<string> {
  if (UNIT_TIER) refuseInUnitTier('the debootstrap root (bookwormMinbaseRoot)');
  return buildOnce('bookworm-minbase', async (dir) => {
    if (process.getuid?.() !== 0) throw new Error('bookwormMinbaseRoot: debootstrap needs root; run as root');
    await ensureDebianPackages('debootstrap');
    const mirror = debianMirror();
    process.stderr.write(`fixtures: debootstrap bookworm minbase from ${mirror} (once, ~25 s)\n`);
    const args = ['--variant=minbase', '--arch=amd64', 'bookworm', dir, mirror];
    const { code, output } = await runCommand('debootstrap', args);
    if (code !== 0) {
      const why =
        output
          .split('\n')
          .filter((l) => /^E:/.test(l))
          .pop() ?? lastLine(output);
      throw new Error(`bookwormMinbaseRoot: debootstrap ${args.join(' ')} exited ${code}: ${why}`);
    }
  });
}

/**
 * A deterministic tree of `count` small files (100–4,000 bytes of seeded pseudo-random
 * content), 100 files per directory: the same names, sizes, bytes and modes every time.
 */
export function manySmallFilesTree(count = 100_000): Promise<string> {
  if (!Number.isSafeInteger(count) || count < 1) throw new Error(`manySmallFilesTree: bad count ${count}`);
  return buildOnce(`small-files-${count}`, async (dir) => {
    process.stderr.write(`fixtures: generating ${count} small files (once)\n`);
    writeSmallFiles(dir, count);
  });
}

const FILES_PER_DIR = 100;

function writeSmallFiles(root: string, count: number): void {
  const random = prng(0x5eed_a51);
  const dirs = Math.ceil(count / FILES_PER_DIR);
  const dirWidth = String(dirs - 1).length;
  const buf = Buffer.alloc(4000 + 4);
  mkdirSync(root, { recursive: true });
  chmodSync(root, 0o755);
  for (let d = 0; d < dirs; d++) {
    const dir = join(root, `d${String(d).padStart(dirWidth, '0')}`);
    mkdirSync(dir);
    chmodSync(dir, 0o755);
    const files = Math.min(FILES_PER_DIR, count - d * FILES_PER_DIR);
    for (let f = 0; f < files; f++) {
      const size = 100 + Math.floor(random() * 3901);
      for (let i = 0; i < size; i += 4) buf.writeUInt32LE(Math.floor(random() * 0x1_0000_0000), i);
      const file = join(dir, `f${String(f).padStart(2, '0')}.bin`);
      writeFileSync(file, buf.subarray(0, size), { mode: 0o644 });
      chmodSync(file, 0o644); // the umask must not change the tree
    }
  }
}

// ---------------------------------------------------------------------------
// Build once: lock, temp sibling, rename

/** FIXTURES_DIR/name, made once by `build(tempDir)` (for the bench's generated stores and trees). */
export function cachedFixture(name: string, build: (dir: string) => Promise<void>): Promise<string> {
  return buildOnce(name, build);
}

const inProcess = new Map<string, Promise<string>>();

/** Returns FIXTURES_DIR/name, building it with `build(tempDir)` if it does not exist yet. */
function buildOnce(name: string, build: (dir: string) => Promise<void>): Promise<string> {
  let pending = inProcess.get(name);
  if (!pending) {
    pending = buildOnceAcrossProcesses(name, build);
    inProcess.set(name, pending);
    pending.catch(() => inProcess.delete(name));
  }
  return pending;
}

async function buildOnceAcrossProcesses(name: string, build: (dir: string) => Promise<void>): Promise<string> {
  const finalDir = join(FIXTURES_DIR, name);
  const stamp = `${finalDir}.built`;
  if (!(await isDirectory(finalDir))) {
    await mkdir(FIXTURES_DIR, { recursive: true });
    await withDirLock(`${finalDir}.lock`, async () => {
      if (await isDirectory(finalDir)) return; // another process built it while we waited
      await removeLeftovers(name);
      const tempDir = `${finalDir}.tmp-${process.pid}`;
      try {
        await build(tempDir);
        // The stamp first: a directory under the final name always has one.
        await writeFile(stamp, `${JSON.stringify({ fixture: name, built: new Date().toISOString() })}\n`);
        await rename(tempDir, finalDir);
      } finally {
        await removeTree(tempDir);
      }
    });
  }
  await assertUntouched(finalDir, stamp);
  return finalDir;
}

/**
 * Every test shares one copy of each fixture, so one that writes into it (runs apt in
 * the root, restores over it…) silently changes what the others measure. Any change to
 * an entry bumps its ctime (and its parent's), so nothing below the root may have a
 * ctime after the build stamp.
 */
async function assertUntouched(dir: string, stamp: string): Promise<void> {
  let stampTime: bigint;
  try {
    stampTime = (await stat(stamp, { bigint: true })).mtimeNs;
  } catch {
    // Built before stamps existed: adopt it as it is now.
    await writeFile(stamp, `${JSON.stringify({ adopted: new Date().toISOString() })}\n`);
    return;
  }
  const changed = changedSince(dir, stampTime);
  if (changed.length > 0) {
    const shown = changed
      .slice(0, 3)
      .map((p) => relative(dir, p))
      .join(', ');
    throw new Error(
      `fixtures: ${relative(REPO_ROOT, dir)} was changed after it was built (${changed.length} entries, e.g. ${shown}); ` +
        'something wrote into a shared fixture: copy it first. Delete the directory to rebuild it.',
    );
  }
}

function changedSince(root: string, time: bigint): string[] {
  const changed: string[] = [];
  const pending = [root];
  for (let dir = pending.pop(); dir !== undefined; dir = pending.pop()) {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (lstatSync(path, { bigint: true }).ctimeNs > time) changed.push(path);
      if (entry.isDirectory()) pending.push(path);
    }
  }
  return changed;
}

const LOCK_POLL_MS = 250;
const LOCK_WAIT_MS = 30 * 60_000;
const LOCK_NO_PID_STALE_MS = 30_000;

/** Runs fn holding an inter-process lock: a directory holding the owner's pid. */
async function withDirLock<T>(lockDir: string, fn: () => Promise<T>): Promise<T> {
  const started = Date.now();
  for (;;) {
    try {
      await mkdir(lockDir);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = await lockOwner(lockDir);
    if (owner.stale) {
      await breakLock(lockDir);
      continue;
    }
    if (Date.now() - started > LOCK_WAIT_MS) {
      throw new Error(
        `fixtures: lock ${lockDir} still held by pid ${owner.pid ?? '?'} after ${LOCK_WAIT_MS / 60_000} min`,
      );
    }
    await sleep(LOCK_POLL_MS);
  }
  try {
    await writeFile(join(lockDir, 'pid'), `${process.pid}\n`);
    return await fn();
  } finally {
    await removeTree(lockDir);
  }
}

async function lockOwner(lockDir: string): Promise<{ pid?: number; stale: boolean }> {
  const text = await readFile(join(lockDir, 'pid'), 'utf8').catch(() => undefined);
  const pid = text === undefined ? NaN : Number.parseInt(text, 10);
  if (Number.isInteger(pid) && pid > 0) return { pid, stale: !processAlive(pid) };
  // No pid yet: the owner is between mkdir and writing it, unless that was long ago.
  const st = await stat(lockDir).catch(() => undefined);
  return { stale: st !== undefined && Date.now() - st.mtimeMs > LOCK_NO_PID_STALE_MS };
}

/** Only one of several waiters wins the rename; the others see ENOENT and retry mkdir. */
async function breakLock(lockDir: string): Promise<void> {
  const aside = `${lockDir}.stale-${process.pid}-${Date.now()}`;
  try {
    await rename(lockDir, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  await removeTree(aside);
}

/** Temp siblings of builders that died (we hold the lock, so none is in use). */
async function removeLeftovers(name: string): Promise<void> {
  for (const entry of listDir(FIXTURES_DIR)) {
    if (entry.startsWith(`${name}.tmp-`) || entry.startsWith(`${name}.lock.stale-`)) {
      await removeTree(join(FIXTURES_DIR, entry));
    }
  }
}

/**
 * rm -rf that never leaves the fixture's file system: an interrupted debootstrap can
 * leave /proc or /sys mounted inside its target, so unmount those first.
 */
async function removeTree(dir: string): Promise<void> {
  for (const mountPoint of mountsUnder(dir)) await runCommand('umount', ['-l', mountPoint]);
  const { code, output } = await runCommand('rm', ['-rf', '--one-file-system', '--', dir]);
  if (code !== 0) throw new Error(`fixtures: cannot remove ${dir}: ${lastLine(output)}`);
}

/** Mount points at or below dir, deepest first. */
function mountsUnder(dir: string): string[] {
  const mounts = readText('/proc/self/mounts') ?? '';
  const unescapeOctal = (s: string) =>
    s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(Number.parseInt(oct, 8)));
  return mounts
    .split('\n')
    .map((line) => unescapeOctal(line.split(' ')[1] ?? ''))
    .filter((mp) => mp === dir || mp.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

// ---------------------------------------------------------------------------
// Small utilities

/** Runs a command; resolves with its exit code and combined output (never rejects on exit status). */
function runCommand(program: string, args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.stderr.on('data', (c: Buffer) => chunks.push(c));
    child.on('error', (err) => resolve({ code: 127, output: `${program}: ${err.message}` }));
    child.on('close', (code, signal) =>
      resolve({
        code: code ?? 128,
        output: Buffer.concat(chunks).toString('utf8') + (signal ? `\nkilled by ${signal}` : ''),
      }),
    );
  });
}

function lastLine(text: string): string {
  return text.trim().split('\n').pop()?.trim() ?? '';
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

async function isDirectory(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() ?? false;
}

/** For callers that want to know whether a fixture is already built (e.g. to skip slow tests). */
export function fixtureBuilt(name: 'bookworm-minbase' | `small-files-${number}`): boolean {
  try {
    return statSync(join(FIXTURES_DIR, name)).isDirectory();
  } catch {
    return false;
  }
}
