import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, readdirSync } from 'node:fs';
import { link, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ASL_BIN, runAsl, tempDir } from '../helpers.js';
import { ensureDebianPackages } from '../fixtures.js';
import { cliInit, cliPut, objectIds, oneLine, sha256Hex, tmpEntries } from './tree-compare.js';
import { objectPath } from '../../src/store/layout.js';
import { flipStoredByte, objectBytesAt, readStoredBytes } from './object-bytes.js';

const MB = 1024 * 1024;
const BIG = 200 * MB;
/**
 * "Well under the file size": 60% of it. Node itself needs ~50 MB; a streamed put or
 * cat peaks at ~86 MB on a quiet machine and up to ~102 MB when the machine is busy
 * (garbage collection runs later), while reading the file whole would need 200 MB+.
 */
const LIMIT = BIG * 0.6;

/** Writes `size` bytes of random data to `path` and returns their sha256 (hex). */
async function writeRandomFile(path: string, size: number): Promise<string> {
  const hash = createHash('sha256');
  const out = createWriteStream(path);
  for (let written = 0; written < size; ) {
    const chunk = randomBytes(Math.min(MB, size - written));
    hash.update(chunk);
    if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
    written += chunk.length;
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  return hash.digest('hex');
}

async function hashOfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: MB })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

interface Measured {
  code: number | null;
  stdoutSha256: string;
  stdoutBytes: number;
  stdoutHead: string;
  stderr: string;
  peakRssBytes: number;
}

/**
 * Runs the CLI under `/usr/bin/time -f %M` (peak RSS of the child, in KiB), hashing
 * stdout as it streams so the test process never holds it.
 */
async function measuredAsl(t: { diagnostic(msg: string): void }, dir: string, args: string[]): Promise<Measured> {
  const rssFile = join(dir, `rss-${randomBytes(4).toString('hex')}`);
  const child = spawn('/usr/bin/time', ['-f', '%M', '-o', rssFile, process.execPath, ASL_BIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const hash = createHash('sha256');
  let bytes = 0;
  let head = '';
  const err: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => {
    hash.update(c);
    bytes += c.length;
    if (head.length < 4096) head += c.subarray(0, 4096).toString('latin1');
  });
  child.stderr.on('data', (c: Buffer) => err.push(c));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  const kib = Number((await readFile(rssFile, 'utf8')).trim().split('\n').pop());
  assert.ok(Number.isFinite(kib) && kib > 0, 'time -f %M reported a peak RSS');
  t.diagnostic(`asl ${args[0]}: peak RSS ${(kib / 1024).toFixed(1)} MiB`);
  return {
    code,
    stdoutSha256: hash.digest('hex'),
    stdoutBytes: bytes,
    stdoutHead: head,
    stderr: Buffer.concat(err).toString('utf8'),
    peakRssBytes: kib * 1024,
  };
}

test('put of a file prints the sha256 of its bytes (empty, small, larger than the in-memory limit)', async (t) => {
  const dir = await tempDir(t);
  const store = await cliInit(join(dir, 'S'));
  const cases: Array<[string, Buffer]> = [
    ['empty', Buffer.alloc(0)],
    ['small', Buffer.from('hello, artifact store\n')],
    ['binary', randomBytes(70_000)],
    ['five-mb', randomBytes(5 * MB + 17)],
  ];
  for (const [name, bytes] of cases) {
    const path = join(dir, name);
    await writeFile(path, bytes);
    const r = await runAsl(['put', '--store', store, path]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `sha256:${sha256Hex(bytes)}\n`, `${name}: stdout is exactly the id`);
    assert.equal(r.stderr, '');
    const stored = await readFile(objectPath(store, `sha256:${sha256Hex(bytes)}`));
    assert.ok(stored.equals(bytes), `${name}: the object holds exactly the file's bytes`);
  }
});

test('identical content is stored once, and every object is read-only (0444)', async (t) => {
  const dir = await tempDir(t);
  const store = await cliInit(join(dir, 'S'));
  const same = Buffer.from('same bytes everywhere\n');
  const big = randomBytes(5 * MB);
  await writeFile(join(dir, 'a'), same);
  await writeFile(join(dir, 'b'), same);
  const a = await cliPut(store, join(dir, 'a'));
  const b = await cliPut(store, join(dir, 'b'));
  assert.equal(a.id, `sha256:${sha256Hex(same)}`);
  assert.equal(b.id, a.id);
  assert.deepEqual(await objectIds(store), [a.id], 'one object for two files with the same content');

  const tree = join(dir, 'T');
  await mkdir(join(tree, 'sub'), { recursive: true });
  for (const p of ['x', 'y', 'sub/z']) await writeFile(join(tree, p), same);
  await writeFile(join(tree, 'unique'), 'only once\n');
  await writeFile(join(tree, 'big1'), big);
  await writeFile(join(tree, 'sub', 'big2'), big);
  const put = await cliPut(store, tree);
  assert.equal(put.kind, 'tree');
  const expected = new Set([
    a.id,
    `sha256:${sha256Hex('only once\n')}`,
    `sha256:${sha256Hex(big)}`,
    put.id,
    put.times!,
  ]);
  const subTree = (
    JSON.parse((await runAsl(['ls', '--store', store, put.id, '--json'])).stdout) as Array<{
      name: string;
      digest?: string;
    }>
  ).find((e) => e.name === 'sub')!.digest!;
  expected.add(subTree);
  assert.deepEqual(await objectIds(store), [...expected].sort(), 'blobs once each, plus two trees and a times object');
  assert.equal(put.stats.files, 6);
  assert.deepEqual(await tmpEntries(store), [], 'no staged copies left behind by deduplication');

  // Putting the same tree again adds nothing.
  const again = await cliPut(store, tree, ['--no-cache']);
  assert.equal(again.id, put.id);
  assert.deepEqual(await objectIds(store), [...expected].sort());

  for (const id of await objectIds(store)) {
    const st = await stat(objectBytesAt(store, id).file);
    assert.equal(
      st.mode & 0o7777,
      0o444,
      `${id} (${objectBytesAt(store, id).packed ? 'its pack' : 'loose'}) is mode 0444`,
    );
  }
});

/** One 200 MB random file and a store holding it, shared by the streaming tests. */
let bigFixture: Promise<{ dir: string; store: string; src: string; hex: string }> | undefined;
after(async () => {
  if (bigFixture) await rm((await bigFixture).dir, { recursive: true, force: true });
});
function big(t: { diagnostic(msg: string): void }) {
  bigFixture ??= (async () => {
    await ensureDebianPackages('time');
    const dir = await mkdtemp(join(tmpdir(), 'asl-test-big-'));
    const store = await cliInit(join(dir, 'S'));
    const src = join(dir, 'big.bin');
    const hex = await writeRandomFile(src, BIG);
    const put = await measuredAsl(t, dir, ['put', '--store', store, src]);
    assert.equal(put.code, 0, put.stderr);
    assert.equal(put.stdoutHead, `sha256:${hex}\n`);
    assert.ok(put.peakRssBytes < LIMIT, `put peak RSS ${put.peakRssBytes} < ${LIMIT}`);
    return { dir, store, src, hex };
  })();
  return bigFixture;
}

test('a 200 MB file is streamed by put and cat: peak RSS far below the file size', { timeout: 180_000 }, async (t) => {
  const { dir, store, src, hex } = await big(t);
  const id = `sha256:${hex}`;
  assert.equal(await hashOfFile(objectPath(store, id as `sha256:${string}`)), hex, 'the object holds the exact bytes');

  const cat = await measuredAsl(t, dir, ['cat', '--store', store, id]);
  assert.equal(cat.code, 0, cat.stderr);
  assert.equal(cat.stdoutBytes, BIG);
  assert.equal(cat.stdoutSha256, hex, 'cat returns identical bytes');
  assert.ok(cat.peakRssBytes < LIMIT, `cat peak RSS ${cat.peakRssBytes} < ${LIMIT}`);

  // Inside a tree: put, cat ID:PATH, restore.
  const treeDir = join(dir, 'T');
  await mkdir(treeDir);
  await writeFile(join(treeDir, 'note'), 'beside a big file\n');
  await link(src, join(treeDir, 'big.bin'));
  const tput = await measuredAsl(t, dir, ['put', '--store', store, treeDir, '--no-cache']);
  assert.equal(tput.code, 0, tput.stderr);
  assert.ok(tput.peakRssBytes < LIMIT, `put (tree) peak RSS ${tput.peakRssBytes} < ${LIMIT}`);
  const treeId = tput.stdoutHead.trim();
  assert.match(treeId, /^sha256:[0-9a-f]{64}$/);
  const tcat = await measuredAsl(t, dir, ['cat', '--store', store, `${treeId}:big.bin`]);
  assert.equal(tcat.code, 0, tcat.stderr);
  assert.equal(tcat.stdoutSha256, hex, 'cat ID:PATH returns identical bytes');
  assert.ok(tcat.peakRssBytes < LIMIT, `cat ID:PATH peak RSS ${tcat.peakRssBytes} < ${LIMIT}`);

  const trestore = await measuredAsl(t, dir, ['restore', '--store', store, treeId, join(dir, 'R-tree')]);
  assert.equal(trestore.code, 0, trestore.stderr);
  assert.equal(await hashOfFile(join(dir, 'R-tree', 'big.bin')), hex);
  assert.ok(trestore.peakRssBytes < LIMIT, `restore (tree) peak RSS ${trestore.peakRssBytes} < ${LIMIT}`);
});

test('restore of a 200 MB blob is streamed too: peak RSS far below the file size', { timeout: 180_000 }, async (t) => {
  const { dir, store, hex } = await big(t);
  const dest = join(dir, 'R-blob');
  const restore = await measuredAsl(t, dir, ['restore', '--store', store, `sha256:${hex}`, dest]);
  assert.equal(restore.code, 0, restore.stderr);
  assert.equal(await hashOfFile(dest), hex, 'restore of the blob gives identical bytes');
  assert.ok(restore.peakRssBytes < LIMIT, `restore (blob) peak RSS ${restore.peakRssBytes} < ${LIMIT}`);
});

test('asl cat returns identical bytes, for a blob id and for ID:PATH inside a tree', async (t) => {
  const dir = await tempDir(t);
  const store = await cliInit(join(dir, 'S'));
  const bytes = Buffer.concat([randomBytes(100_000), Buffer.from([0, 255, 10, 13])]);
  await mkdir(join(dir, 'T', 'deep', 'er'), { recursive: true });
  await writeFile(join(dir, 'T', 'deep', 'er', 'f.bin'), bytes);
  const tree = await cliPut(store, join(dir, 'T'));
  const blobId = `sha256:${sha256Hex(bytes)}`;
  const byId = await runAsl(['cat', '--store', store, blobId]);
  assert.equal(byId.code, 0, byId.stderr);
  assert.ok(byId.stdoutBytes.equals(bytes));
  const byPath = await runAsl(['cat', '--store', store, `${tree.id}:deep/er/f.bin`]);
  assert.equal(byPath.code, 0, byPath.stderr);
  assert.ok(byPath.stdoutBytes.equals(bytes));
  const notFile = await runAsl(['cat', '--store', store, `${tree.id}:deep`]);
  assert.equal(notFile.code, 2);
  assert.match(oneLine(notFile.stderr), /deep: is a dir, not a file/);
});

test('a corrupted object makes cat, restore and verify fail (small and streamed objects)', async (t) => {
  const dir = await tempDir(t);
  const store = await cliInit(join(dir, 'S'));
  const small = Buffer.from('precious small content\n');
  const large = randomBytes(6 * MB);
  await mkdir(join(dir, 'T'));
  await writeFile(join(dir, 'T', 'small'), small);
  await writeFile(join(dir, 'T', 'large'), large);
  const tree = await cliPut(store, join(dir, 'T'));
  const ok = await runAsl(['verify', '--store', store]);
  assert.equal(ok.code, 0, ok.stdout);
  for (const [name, bytes] of [
    ['small', small],
    ['large', large],
  ] as const) {
    const id = (await cliPut(store, join(dir, 'T', name))).id as `sha256:${string}`;
    assert.equal(
      objectBytesAt(store, id).packed,
      name === 'small',
      `${name}: ${name === 'small' ? 'packed' : 'loose'} by the tree put`,
    );
    const offset = bytes.length - 3;
    await flipStoredByte(store, id, offset);
    const corruptSha = `sha256:${sha256Hex(await readStoredBytes(store, id))}`;

    const cat = await runAsl(['cat', '--store', store, id]);
    assert.notEqual(cat.code, 0, `${name}: cat of a corrupt object fails`);
    assert.equal(cat.code, 1, 'corruption is a failed check (exit 1)');
    const line = oneLine(cat.stderr);
    assert.ok(line.includes(id) && /corrupt/.test(line) && line.includes(corruptSha), `${name}: ${line}`);
    assert.ok(!cat.stdoutBytes.equals(bytes), 'the corrupt content is never passed off as the original');

    // Restore checks every blob too, and leaves nothing behind when one is bad.
    for (const [what, rid] of [
      ['blob', id],
      ['tree', tree.id],
    ] as const) {
      const dest = join(dir, `restored-${name}-${what}`);
      const r = await runAsl(['restore', '--store', store, rid, dest]);
      assert.equal(r.code, 1, `${name}: restore of a ${what} with a corrupt blob fails (${r.stderr})`);
      const rline = oneLine(r.stderr);
      assert.ok(rline.includes(id) && /corrupt/.test(rline), `${name} ${what}: ${rline}`);
      assert.deepEqual(
        (await readdir(dir)).filter((n) => n.startsWith(`restored-`) || n.includes('asl-restore')),
        [],
        'nothing at DEST, no staging left',
      );
    }

    const v = await runAsl(['verify', '--store', store]);
    assert.equal(v.code, 1, v.stdout);
    assert.ok(v.stdout.includes(`FAIL object ${id} is corrupt`), v.stdout);
    assert.ok(v.stdout.includes(`(expected ${id}, actual ${corruptSha})`), v.stdout);

    await flipStoredByte(store, id, offset);
    const fixed = await runAsl(['verify', '--store', store]);
    assert.equal(fixed.code, 0, `${name}: clean again once the byte is restored: ${fixed.stdout}`);
  }
});

/** Resolves with the signal that ended `child`, or null when it exited by itself, which must be with 0. */
async function exitSignal(child: ReturnType<typeof spawn>): Promise<NodeJS.Signals | null> {
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.on('exit', (c, s) => resolve([c, s])),
  );
  assert.ok(signal !== null || code === 0, `a put that was not killed succeeds (exit ${code})`);
  return signal;
}

test('a put killed at any moment never leaves a partial object under its final name', {
  timeout: 120_000,
}, async (t) => {
  const dir = await tempDir(t);
  const store = await cliInit(join(dir, 'S'));
  const tree = join(dir, 'T');
  await mkdir(join(tree, 'many'), { recursive: true });
  await writeRandomFile(join(tree, 'large.bin'), 24 * MB);
  for (let i = 0; i < 400; i++) await writeFile(join(tree, 'many', `f${i}`), randomBytes(200 + i * 50));
  const kills: string[] = [];
  for (const delayMs of [50, 150, 300, 500, 800]) {
    const child = spawn(process.execPath, [ASL_BIN, 'put', '--store', store, tree, '--no-cache'], { stdio: 'ignore' });
    const exited = exitSignal(child);
    await new Promise((r) => setTimeout(r, delayMs));
    child.kill('SIGKILL');
    kills.push(
      `${delayMs} ms: ${(await exited) ?? 'finished first'} (${(await objectIds(store)).length} objects, ${(await readdir(join(store, 'tmp'))).length} in tmp)`,
    );
    // Every object under its final name is complete: its bytes hash to its name.
    for (const id of await objectIds(store)) {
      assert.equal(
        `sha256:${sha256Hex(await readStoredBytes(store, id))}`,
        id,
        `after a kill at ${delayMs} ms: ${id} is complete`,
      );
    }
    const v = await runAsl(['verify', '--store', store, '--json']);
    assert.equal(v.code, 0, `after a kill at ${delayMs} ms: ${v.stdout}`);
  }
  // And a kill in the middle of the commit itself: as soon as the packs folder
  // appears (before, between or after the pack's two renames), or the first loose object.
  for (let attempt = 0; attempt < 4; attempt++) {
    const fresh = await cliInit(join(dir, `S${attempt}`));
    const fanout = join(fresh, 'objects-v1', attempt < 2 ? 'packs' : 'sha256');
    const seen = () => {
      try {
        return readdirSync(fanout).length > (attempt === 0 ? -1 : 0);
      } catch {
        return false;
      }
    };
    const child = spawn(process.execPath, [ASL_BIN, 'put', '--store', fresh, tree], { stdio: 'ignore' });
    const exited = exitSignal(child);
    let done = false;
    void exited.then(() => {
      done = true;
    });
    while (!done && !seen()) await new Promise((r) => setImmediate(r));
    child.kill('SIGKILL');
    const signal = await exited;
    const ids = await objectIds(fresh);
    kills.push(`mid-commit ${attempt}: ${signal ?? 'finished first'} (${ids.length} objects)`);
    for (const id of ids)
      assert.equal(`sha256:${sha256Hex(await readStoredBytes(fresh, id))}`, id, `mid-commit kill: ${id} is complete`);
    const v = await runAsl(['verify', '--store', fresh]);
    assert.equal(v.code, 0, v.stdout);
    // And the next put of the same tree completes the store.
    const again = await cliPut(fresh, tree);
    const full = await runAsl(['verify', '--store', fresh]);
    assert.equal(full.code, 0, full.stdout);
    const back = join(dir, `R${attempt}`);
    const r = await runAsl(['restore', '--store', fresh, again.id, back]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await hashOfFile(join(back, 'many', 'f7')), await hashOfFile(join(tree, 'many', 'f7')));
  }
  t.diagnostic(kills.join(', '));
  // The store is fine for the next writer.
  const put = await cliPut(store, tree);
  const dest = join(dir, 'R');
  const r = await runAsl(['restore', '--store', store, put.id, dest]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await hashOfFile(join(dest, 'large.bin')), await hashOfFile(join(tree, 'large.bin')));
});

// A tree put: its small files, trees and timestamps go into one pack; a file above 4 MB is a
// loose object, in a batch small enough (≤ 64 objects) to fsync its files and folders, not syncfs.
test('objects are flushed before they get their final names, and before the ref that names them (strace order)', async (t) => {
  const smallFiles = 5;
  await ensureDebianPackages('strace');
  const dir = await tempDir(t);
  const store = await cliInit(join(dir, 'S'));
  const tree = join(dir, 'T');
  await mkdir(tree);
  for (let i = 0; i < smallFiles; i++) await writeFile(join(tree, `f${i}`), `file ${i}\n`);
  await writeFile(join(tree, 'big'), randomBytes(5 * MB));
  // One log per thread (-ff) so calls are never split across lines; -ttt orders them.
  const logDir = join(dir, 'strace');
  await mkdir(logDir);
  const traced = spawn(
    'strace',
    [
      '-f',
      '-ff',
      '-ttt',
      '-y',
      '-s',
      '4096',
      '-e',
      'trace=syncfs,fsync,fdatasync,sync,rename,renameat,renameat2',
      '-o',
      join(logDir, 'log'),
      process.execPath,
      ASL_BIN,
      'put',
      '--store',
      store,
      tree,
    ],
    { stdio: 'ignore' },
  );
  assert.equal(await new Promise((r) => traced.on('exit', r)), 0);
  const lines: Array<[number, string]> = [];
  for (const name of await readdir(logDir)) {
    for (const line of (await readFile(join(logDir, name), 'utf8')).split('\n')) {
      const m = /^(\d+\.\d+) (.*)$/.exec(line);
      if (m) lines.push([Number(m[1]), m[2]!]);
    }
  }
  lines.sort((a, b) => a[0] - b[0]);
  const events = lines.flatMap(([, line]) => {
    const m = /^(syncfs|fsync|fdatasync|sync|rename|renameat2?)\((.*)\) += 0$/.exec(line);
    return m ? [{ call: m[1]!, args: m[2]! }] : [];
  });
  const objectsDir = join(store, 'objects-v1');
  const refsDir = join(store, 'refs', 'put');
  type Event = { call: string; args: string };
  /** Absolute source and destination of a rename, renameat or renameat2 (strace -y names each dirfd). */
  const renamed = (e: Event): { src: string; dst: string } | undefined => {
    if (!e.call.startsWith('rename')) return undefined;
    const at = (dir: string, name: string) => (name.startsWith('/') ? name : `${dir}/${name}`);
    if (e.call === 'rename') {
      const m = /^"([^"]*)", "([^"]*)"/.exec(e.args);
      return m ? { src: m[1]!, dst: m[2]! } : undefined;
    }
    const m = /^[^<]*<([^>]*)>, "([^"]*)", [^<]*<([^>]*)>, "([^"]*)"/.exec(e.args);
    return m ? { src: at(m[1]!, m[2]!), dst: at(m[3]!, m[4]!) } : undefined;
  };
  const isObjectRename = (e: Event) => renamed(e)?.dst.startsWith(`${objectsDir}/`) ?? false;
  const isRefRename = (e: Event) => renamed(e)?.dst.startsWith(`${refsDir}/`) ?? false;
  const isFlush = (e: Event) => e.call === 'syncfs' || e.call === 'sync';
  const fsynced = (events: Event[], path: string) =>
    events.some((e) => (e.call === 'fsync' || e.call === 'fdatasync') && e.args.includes(`<${path}>`));
  const allRenames = events.flatMap((e, i) => (isObjectRename(e) ? [i] : []));
  const packsDir = `${objectsDir}/packs`;
  const packRenames = allRenames.filter((i) => renamed(events[i]!)!.dst.startsWith(`${packsDir}/`));
  const objectRenames = allRenames.filter((i) => !packRenames.includes(i));
  // The small files, the trees and the timestamps go into one pack: renamed into place with its index, pack first.
  assert.equal(packRenames.length, 2, `one pack and its index (${events.map((e) => e.call).join(' ')})`);
  const [packAt, indexAt] = packRenames as [number, number];
  const pack = renamed(events[packAt]!)!;
  const index = renamed(events[indexAt]!)!;
  assert.ok(pack.dst.endsWith('.pack') && index.dst.endsWith('.idx'), 'the pack gets its name before its index');
  assert.ok(
    fsynced(events.slice(0, packAt), pack.src) && fsynced(events.slice(0, packAt), index.src),
    'pack and index are flushed before either gets its name',
  );
  assert.ok(
    fsynced(events.slice(packAt + 1, indexAt), packsDir),
    "the pack's name is durable before the index names it",
  );
  assert.equal(
    objectRenames.length,
    1,
    `the big file is the one loose object, renamed into place once (${events.map((e) => e.call).join(' ')})`,
  );
  assert.ok(
    fsynced(events.slice(indexAt + 1, objectRenames[0]!), packsDir),
    "the index's name is durable before the loose objects are named",
  );
  const beforeRenames = events.slice(0, objectRenames[0]!);
  const refRename = events.findIndex(isRefRename);
  assert.ok(refRename > objectRenames.at(-1)!, 'the ref is written after the objects');
  const betweenRenamesAndRef = events.slice(objectRenames.at(-1)! + 1, refRename);
  assert.ok(!events.some(isFlush), 'a small batch does not flush the whole file system');
  for (const i of objectRenames) {
    const { src, dst } = renamed(events[i]!)!;
    assert.ok(fsynced(beforeRenames, src), `${src} is fsynced before any object gets its final name`);
    assert.ok(
      fsynced(betweenRenamesAndRef, dirname(dst)),
      `${dirname(dst)} is fsynced after the renames, before the ref`,
    );
  }
  const refTmp = renamed(events[refRename]!)!.src;
  assert.ok(
    events
      .slice(0, refRename)
      .some((e) => (e.call === 'fsync' || e.call === 'fdatasync') && e.args.includes(`<${refTmp}>`)),
    `the ref's temp file ${refTmp} is fsynced before its rename`,
  );
});
