// Issue 4's scale target for `asl why` (and `asl diff`): a store with 1,000 receipts and
// 100,000+ artifacts, answered in seconds with bounded memory.
//
// The store is synthetic but made only through the library's real layers: blobs and
// trees through an ObjectBatch (one tree object per directory, 10 x 10 x 10 directories
// of 100 files), receipts built, signed and appended by the receipt layer. Step 1 creates
// the whole root (before: nothing); each later step changes one file, so every step's
// after-tree is the next one's before-tree, as a real chain of captures gives. One "hot"
// file is rewritten every 10th step and chmod-ed every 50th; one "cold" file is never
// touched after step 1, so `why` on it walks the whole chain and finds nothing to report.
//
//   node dist/bench/why-scale.js [DIR]   builds the store in DIR (default: a temp dir) and times why/diff once
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Digest } from '../src/core/digest.js';
import { buildStatement } from '../src/receipt/statement.js';
import { storeSigner, signStatement } from '../src/receipt/sign.js';
import { verifyEnvelope } from '../src/receipt/verify.js';
import { appendReceiptLog } from '../src/receipt/receipt-log.js';
import { canonicalBytes } from '../src/core/canonical-json.js';
import type { CommandCore, PerRun } from '../src/receipt/types.js';
import { ObjectBatch } from '../src/store/object-batch.js';
import { initStore } from '../src/store/store.js';
import { loadTrustedKeys } from '../src/receipt/trusted-keys.js';
import { encodeTree, type Tree, type TreeEntry } from '../src/store/tree-model.js';
import { aslArgv, type BenchContext } from './context.js';
import { measure } from './measure.js';
import type { RowSpec, Section } from './runner.js';

export interface WhyScaleOptions {
  receipts?: number;
  files?: number;
}

export interface WhyScaleStore {
  store: string;
  receipts: number;
  files: number;
  /** Objects written: blobs, trees, logs, receipts. */
  objects: number;
  /** A path changed by many steps, and how many history entries `why` must report for it. */
  hot: { path: string; events: number };
  /** A path untouched after step 1: `why` walks every step and reports one entry. */
  cold: string;
  firstTree: Digest;
  lastTree: Digest;
  lastReceipt: Digest;
  buildS: number;
}

const FANOUT = 10; // 10 x 10 x 10 leaf directories
const ROOT_PATH = '/bench/iso_root';
const pad = (n: number, w: number) => String(n).padStart(w, '0');

interface Leaf {
  entries: TreeEntry[];
  id: Digest;
  bytes: number;
}

/** Builds the synthetic store at `dir` (which must not exist or be empty). */
export async function buildWhyScaleStore(
  dir: string,
  opts: WhyScaleOptions = {},
  log: (line: string) => void = () => {},
): Promise<WhyScaleStore> {
  const receipts = opts.receipts ?? 1000;
  const perLeaf = Math.ceil((opts.files ?? 100_000) / FANOUT ** 3);
  const files = perLeaf * FANOUT ** 3;
  const started = process.hrtime.bigint();
  const { store } = await initStore(dir);
  const batch = new ObjectBatch(store);
  const fileName = (p: number) => Buffer.from(`p${pad(p, 3)}.bin`);
  const fileBytes = (leaf: number, p: number, version: number) =>
    Buffer.from(`leaf ${leaf} file ${p} version ${version}\n`);
  const entryFor = async (leaf: number, p: number, version: number, mode = 0o644): Promise<TreeEntry> => {
    const bytes = fileBytes(leaf, p, version);
    return {
      name: fileName(p),
      type: 'file',
      mode,
      uid: 0,
      gid: 0,
      size: bytes.length,
      digest: await batch.addBytes(bytes),
    };
  };
  const dirEntry = (name: string, id: Digest): TreeEntry => ({
    name: Buffer.from(name),
    type: 'dir',
    mode: 0o755,
    uid: 0,
    gid: 0,
    digest: id,
  });
  const self = { mode: 0o755, uid: 0, gid: 0 };
  const addTree = (tree: Tree) => batch.addBytes(encodeTree(tree));

  // Leaves, then the three levels above them; a change re-encodes one leaf and its three parents.
  log(`why-scale: ${files} files in ${FANOUT ** 3} directories`);
  const leaves: Leaf[] = [];
  for (let l = 0; l < FANOUT ** 3; l++) {
    const entries: TreeEntry[] = [];
    for (let p = 0; p < perLeaf; p++) entries.push(await entryFor(l, p, 0));
    const bytes = entries.reduce((s, e) => s + e.size!, 0);
    leaves.push({
      entries,
      bytes,
      id: await addTree({ self, entries, totals: { files: perLeaf, dirs: 0, other: 0, bytes } }),
    });
  }
  const levelIds = { f: [] as Digest[], e: [] as Digest[] };
  const sumBytes = (from: number, count: number) => leaves.slice(from, from + count).reduce((s, l) => s + l.bytes, 0);
  const buildE = async (d: number, e: number): Promise<Digest> => {
    const first = (d * FANOUT + e) * FANOUT;
    const entries = Array.from({ length: FANOUT }, (_, f) => dirEntry(`f${f}`, leaves[first + f]!.id));
    return addTree({
      self,
      entries,
      totals: { files: FANOUT * perLeaf, dirs: FANOUT, other: 0, bytes: sumBytes(first, FANOUT) },
    });
  };
  const buildD = async (d: number): Promise<Digest> => {
    const entries = Array.from({ length: FANOUT }, (_, e) => dirEntry(`e${e}`, levelIds.f[d * FANOUT + e]!));
    return addTree({
      self,
      entries,
      totals: {
        files: FANOUT ** 2 * perLeaf,
        dirs: FANOUT + FANOUT ** 2,
        other: 0,
        bytes: sumBytes(d * FANOUT ** 2, FANOUT ** 2),
      },
    });
  };
  const buildRoot = async (): Promise<Digest> => {
    const entries = Array.from({ length: FANOUT }, (_, d) => dirEntry(`d${d}`, levelIds.e[d]!));
    return addTree({
      self,
      entries,
      totals: { files, dirs: FANOUT + FANOUT ** 2 + FANOUT ** 3, other: 0, bytes: sumBytes(0, FANOUT ** 3) },
    });
  };
  for (let d = 0; d < FANOUT; d++) for (let e = 0; e < FANOUT; e++) levelIds.f.push(await buildE(d, e));
  for (let d = 0; d < FANOUT; d++) levelIds.e.push(await buildD(d));
  const roots: Digest[] = [await buildRoot()];

  const leafPath = (l: number) => `d${Math.floor(l / 100)}/e${Math.floor(l / 10) % 10}/f${l % 10}`;
  const hotLeaf = 345;
  const hotFile = 42 % perLeaf;
  const coldLeaf = 999;
  const coldFile = perLeaf - 1;
  let random = 0x5eed;
  const next = () => (random = (Math.imul(random, 1103515245) + 12345) >>> 0);
  const changes: string[] = [];
  let hotEvents = 1; // added by step 1
  for (let step = 2; step <= receipts; step++) {
    let leaf: number;
    let p: number;
    let entry: TreeEntry;
    if (step % 10 === 0 || step % 50 === 5) {
      leaf = hotLeaf;
      p = hotFile;
      const old = leaves[leaf]!.entries[p]!;
      entry =
        step % 10 === 0
          ? await entryFor(leaf, p, step, old.mode)
          : { ...old, mode: old.mode === 0o644 ? 0o755 : 0o644 };
      hotEvents++;
    } else {
      do {
        leaf = next() % FANOUT ** 3;
        p = next() % perLeaf;
      } while ((leaf === hotLeaf && p === hotFile) || (leaf === coldLeaf && p === coldFile));
      entry = await entryFor(leaf, p, step);
    }
    const l = leaves[leaf]!;
    l.bytes += entry.size! - l.entries[p]!.size!;
    l.entries[p] = entry;
    l.id = await addTree({ self, entries: l.entries, totals: { files: perLeaf, dirs: 0, other: 0, bytes: l.bytes } });
    const d = Math.floor(leaf / 100);
    const e = Math.floor(leaf / 10) % 10;
    levelIds.f[d * FANOUT + e] = await buildE(d, e);
    levelIds.e[d] = await buildD(d);
    roots.push(await buildRoot());
    changes.push(`${leafPath(leaf)}/${fileName(p).toString()}`);
  }
  const stdout = await batch.addBytes(Buffer.from('ok\n'));
  const stderr = await batch.addBytes(Buffer.alloc(0));
  log(`why-scale: committing ${batch.objectsWritten} objects`);
  const objects = batch.objectsWritten;
  await batch.commit();

  log(`why-scale: signing and logging ${receipts} receipts`);
  const signer = await storeSigner(store);
  const keys = await loadTrustedKeys(store);
  // Receipts are verified and stored as writeReceipt does, then logged 500 to an append
  // (one signed head each): a long history is built in seconds, not one fsync'd head per step.
  const receiptBatch = new ObjectBatch(store);
  const logged: Array<{ receipt: Digest; step: string }> = [];
  for (let step = 1; step <= receipts; step++) {
    const before = step === 1 ? null : roots[step - 2]!;
    const after = roots[step - 1]!;
    const shell =
      step === 1
        ? `debootstrap --variant=minbase bookworm ${ROOT_PATH}`
        : `chroot ${ROOT_PATH} touch-up ${changes[step - 2]}`;
    const core: CommandCore = {
      kind: 'command',
      step: step === 1 ? 'bootstrap' : `step-${pad(step, 4)}`,
      command: { shell, argv: ['/bin/sh', '-c', shell], cwd: '/bench' },
      program: [],
      inputs: before
        ? [{ name: `before:${ROOT_PATH}`, role: 'watched', kind: 'tree', digest: before, path: ROOT_PATH }]
        : [],
      outputs: [
        { name: ROOT_PATH, role: 'watched', kind: 'tree', digest: after, path: ROOT_PATH },
        { name: 'stdout', role: 'stdout', kind: 'log', digest: stdout, size: 3 },
        { name: 'stderr', role: 'stderr', kind: 'log', digest: stderr, size: 0 },
      ],
      environment: { variables: { PATH: { mode: 'verbatim', value: '/usr/sbin:/usr/bin:/sbin:/bin' } } },
      exit: { kind: 'exited', code: 0 },
      watched: [
        {
          path: ROOT_PATH,
          reason: 'flag',
          before,
          after,
          added: step === 1 ? files + FANOUT ** 3 + 110 : 0,
          modified: step === 1 ? 0 : 4,
          removed: 0,
        },
      ],
      traced: false,
    };
    const at = new Date(Date.UTC(2024, 4, 1) + step * 60_000).toISOString();
    const run: PerRun = {
      startedOn: at,
      finishedOn: at,
      durationMs: 1,
      host: { hostname: 'bench', kernel: 'synthetic', arch: 'x64' },
      asl: { version: '0.1.0' },
      user: { uid: 0, gid: 0 },
    };
    const envelope = verifyEnvelope(signStatement(buildStatement(core, run), signer), keys).envelope;
    const bytes = canonicalBytes({
      payloadType: envelope.payloadType,
      payload: envelope.payload,
      signatures: envelope.signatures.map((s) => ({ keyid: s.keyid, sig: s.sig })),
    });
    logged.push({ receipt: await receiptBatch.addBytes(bytes), step: core.step });
  }
  await receiptBatch.commit();
  for (let i = 0; i < logged.length; i += 500) await appendReceiptLog(store, logged.slice(i, i + 500));
  const lastReceipt = logged[logged.length - 1]?.receipt;
  return {
    store: store.root,
    receipts,
    files,
    objects: objects + receipts,
    hot: { path: `${leafPath(hotLeaf)}/${fileName(hotFile).toString()}`, events: hotEvents },
    cold: `${leafPath(coldLeaf)}/${fileName(coldFile).toString()}`,
    firstTree: roots[0]!,
    lastTree: roots[roots.length - 1]!,
    lastReceipt: lastReceipt!,
    buildS: Number(process.hrtime.bigint() - started) / 1e9,
  };
}

function checkWhy(events: number) {
  return (stdout: string): string | undefined => {
    const history = (JSON.parse(stdout) as { history: unknown[] }).history;
    return history.length === events ? undefined : `expected ${events} history entries, got ${history.length}`;
  };
}

/** The bench section: builds the store once (untimed), then times why and diff on it. */
export async function whyScaleSection(
  ctx: BenchContext,
  opts: WhyScaleOptions = {},
  log: (line: string) => void = () => {},
): Promise<Section> {
  const s = await buildWhyScaleStore(join(ctx.workDir, 'why-scale-store'), opts, log);
  const subject = `${s.receipts.toLocaleString('en-US')} receipts, ${s.objects.toLocaleString('en-US')} objects`;
  const rows: RowSpec[] = [
    {
      id: 'why/hot',
      subject,
      label: `asl why (changed by ${s.hot.events} steps) --json`,
      argv: ctx.asl('why', '--store', s.store, s.hot.path, '--json'),
      check: checkWhy(s.hot.events),
    },
    {
      id: 'why/cold',
      subject,
      label: `asl why (walks all ${s.receipts} steps) --json`,
      argv: ctx.asl('why', '--store', s.store, s.cold, '--json'),
      check: checkWhy(1),
    },
    {
      id: 'diff/first-last',
      subject,
      label: `asl diff first last tree (${s.receipts - 1} steps apart)`,
      argv: exits1(ctx.asl('diff', '--store', s.store, s.firstTree, s.lastTree)),
    },
    {
      id: 'diff/receipt',
      subject,
      label: 'asl diff RECEIPT (one step)',
      argv: exits1(ctx.asl('diff', '--store', s.store, s.lastReceipt)),
    },
  ];
  return {
    title: 'Provenance queries at scale (asl why, asl diff)',
    notes: [
      `A synthetic store built through the library (untimed, ${s.buildS.toFixed(0)} s): ${s.receipts.toLocaleString('en-US')} signed receipts in`,
      `the log, ${s.files.toLocaleString('en-US')} files in one watched root (10 x 10 x 10 directories), each step after the first`,
      'changing one file, so the receipts form one chain of before/after trees. The hot path is rewritten every',
      '10th step and chmod-ed every 50th; the cold path is never touched after step 1.',
    ],
    rows,
    ratioHeaders: [],
  };
}

/** `asl diff` exits 1 when the trees differ, which measure() would take for a failure. */
function exits1(argv: string[]): string[] {
  return ['sh', '-c', '"$@" >/dev/null; test $? -eq 1', 'sh', ...argv];
}

async function main(): Promise<void> {
  const dir = process.argv[2] ?? (await mkdtemp(join(tmpdir(), 'asl-why-scale-')));
  const keep = process.argv[2] !== undefined;
  try {
    const s = await buildWhyScaleStore(join(dir, 'store'), {}, (l) => process.stderr.write(`${l}\n`));
    process.stderr.write(`built in ${s.buildS.toFixed(1)} s: ${JSON.stringify({ ...s, store: undefined })}\n`);
    for (const [label, args] of [
      ['why hot', ['why', '--store', s.store, s.hot.path, '--json']],
      ['why cold', ['why', '--store', s.store, s.cold, '--json']],
      ['diff first last', ['diff', '--store', s.store, s.firstTree, s.lastTree]],
      ['diff receipt', ['diff', '--store', s.store, s.lastReceipt]],
    ] as const) {
      const argv = args[0] === 'diff' ? exits1(aslArgv(...args)) : aslArgv(...args);
      const m = await measure(argv);
      process.stdout.write(`${label}: ${m.wallS.toFixed(3)} s, peak RSS ${(m.rssKB / 1024).toFixed(0)} MB\n`);
    }
  } finally {
    if (!keep) await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`why-scale: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
