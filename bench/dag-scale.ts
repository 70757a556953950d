// Issue 4's scale benchmark for `asl dag`: a synthetic store of 1,000 receipts naming
// 100,000 artifacts, signed for real with the store key and committed through the
// receipt log, then `asl dag --format json` and `--format svg` timed on it.
//
//   bench runner:  sections.push(await dagScaleSection(ctx))
//   alone:         node dist/bench/dag-scale.js [--receipts N] [--artifacts N] [--keep DIR]
//
// The store looks like a long build: ten pipelines of steps, each step reading the tree
// the previous step of its pipeline made (and, every tenth step, a tree of the next
// pipeline), running two shared programs, downloading its own packages, and writing a
// new tree, a change list and two logs; one step in fifty fails. Only the tree objects
// are real objects (the dag reads their totals); the other artifacts are digests the
// receipts name, which is all the dag needs.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { canonicalBytes } from '../src/core/canonical-json.js';
import { digestBytes, type Digest } from '../src/core/digest.js';
import { signStatement, storeSigner } from '../src/receipt/sign.js';
import { buildStatement } from '../src/receipt/statement.js';
import type { ArtifactRef, CommandCore, PerRun } from '../src/receipt/types.js';
import { ObjectBatch } from '../src/store/object-batch.js';
import { appendReceiptLog } from '../src/receipt/receipt-log.js';
import { initStore, type Store } from '../src/store/store.js';
import { encodeTree, type Tree } from '../src/store/tree-model.js';
import { aslArgv, type BenchContext } from './context.js';
import { measure } from './measure.js';
import type { RowSpec, Section } from './runner.js';

export interface SyntheticStoreOptions {
  receipts?: number;
  /** Distinct artifacts the receipts name in all (approximately: rounded per receipt). */
  artifacts?: number;
  /** Pipelines the steps are spread over. */
  pipelines?: number;
}

export interface SyntheticStore {
  store: Store;
  receipts: number;
  /** Distinct artifact digests named by the receipts. */
  artifacts: number;
  /** Receipt ids in log order. */
  ids: Digest[];
  failed: number;
  buildMs: number;
}

const fake = (label: string): Digest => digestBytes(label);

/**
 * Builds the synthetic store at `dir` (created; must not exist or be empty). Every
 * receipt goes through buildStatement and signStatement with the store key; objects
 * are committed in one batch, then the log entries are appended in batches.
 */
export async function buildSyntheticStore(dir: string, opts: SyntheticStoreOptions = {}): Promise<SyntheticStore> {
  const started = performance.now();
  const count = opts.receipts ?? 1000;
  const pipelines = Math.max(1, Math.min(opts.pipelines ?? 10, count));
  const perReceipt = Math.max(6, Math.round((opts.artifacts ?? 100_000) / count));
  const packagesPer = perReceipt - 4; // + after tree, change list, stdout, stderr
  const { store } = await initStore(dir);
  const signer = await storeSigner(store);
  const batch = new ObjectBatch(store);
  const digests = new Set<string>();
  const ids: Digest[] = [];
  const steps: string[] = [];
  let failed = 0;

  const programs: ArtifactRef[] = [
    {
      name: 'program:/usr/bin/dash',
      role: 'program',
      kind: 'blob',
      digest: fake('program dash'),
      path: '/usr/bin/dash',
      size: 125_640,
    },
    {
      name: 'program:/usr/bin/make',
      role: 'program',
      kind: 'blob',
      digest: fake('program make'),
      path: '/usr/bin/make',
      size: 256_000,
    },
  ];
  const treeOf = async (label: string, files: number): Promise<{ id: Digest; bytes: number }> => {
    const entries = Array.from({ length: Math.min(files, 8) }, (_, k) => ({
      name: Buffer.from(`f${String(k).padStart(2, '0')}-${label}`),
      type: 'file' as const,
      mode: 0o644,
      uid: 0,
      gid: 0,
      size: 1000 + k,
      digest: fake(`${label} file ${k}`),
    }));
    const bytes = entries.reduce((s, e) => s + e.size, 0) * Math.max(1, Math.floor(files / 8));
    const tree: Tree = {
      self: { mode: 0o755, uid: 0, gid: 0 },
      entries,
      totals: { files, dirs: Math.ceil(files / 100), other: 0, bytes },
    };
    return { id: await batch.addBytes(encodeTree(tree)), bytes };
  };
  const heads: Array<{ id: Digest; bytes: number }> = [];
  for (let p = 0; p < pipelines; p++) heads.push(await treeOf(`pipeline ${p} base`, 500));

  try {
    for (let i = 0; i < count; i++) {
      const p = i % pipelines;
      const n = Math.floor(i / pipelines);
      const root = `/build/p${p}/root`;
      const before = heads[p]!;
      const after = await treeOf(`step ${i}`, 500 + n * 10);
      const ok = i % 50 !== 49;
      if (!ok) failed++;
      const inputs: ArtifactRef[] = [
        { name: `before:${root}`, role: 'watched', kind: 'tree', digest: before.id, path: root, size: before.bytes },
        ...programs,
        ...Array.from(
          { length: packagesPer },
          (_, k): ArtifactRef => ({
            name: `${root}/var/cache/apt/archives/pkg${i}-${k}_1.${k}_amd64.deb`,
            role: 'downloaded',
            kind: 'package',
            digest: fake(`step ${i} package ${k}`),
            path: `${root}/var/cache/apt/archives/pkg${i}-${k}_1.${k}_amd64.deb`,
            size: 20_000 + ((i * 7919 + k * 104_729) % 2_000_000),
            package: { name: `pkg${i}-${k}`, version: `1.${k}`, architecture: 'amd64' },
          }),
        ),
      ];
      if (n % 10 === 9 && pipelines > 1) {
        const other = heads[(p + 1) % pipelines]!;
        inputs.push({
          name: `/build/p${(p + 1) % pipelines}/root`,
          role: 'declared',
          kind: 'tree',
          digest: other.id,
          path: `/build/p${(p + 1) % pipelines}/root`,
          size: other.bytes,
        });
      }
      const outputs: ArtifactRef[] = [
        { name: root, role: 'watched', kind: 'tree', digest: after.id, path: root, size: after.bytes },
        { name: `changes:${root}`, role: 'changes', kind: 'paths', digest: fake(`step ${i} changes`), size: 4000 + n },
        { name: 'stdout', role: 'stdout', kind: 'log', digest: fake(`step ${i} stdout`), size: 2000 + n },
        { name: 'stderr', role: 'stderr', kind: 'log', digest: fake(`step ${i} stderr`), size: ok ? 100 : 900 },
      ];
      const step = `p${p}-step${String(n).padStart(3, '0')}`;
      const core: CommandCore = {
        kind: 'command',
        step,
        command: {
          shell: `make -C ${root} stage-${n} PIPELINE=${p}`,
          argv: ['/bin/sh', '-c', `make -C ${root} stage-${n} PIPELINE=${p}`],
          cwd: `/build/p${p}`,
        },
        program: programs.map((a) => ({ path: a.path!, digest: a.digest })),
        inputs,
        outputs,
        environment: {
          variables: {
            PATH: { mode: 'verbatim', value: '/usr/bin:/bin' },
            LANG: { mode: 'verbatim', value: 'C.UTF-8' },
            HOME: { mode: 'hashed', hmac: `hmac-sha256:${'ab'.repeat(32)}` },
            API_TOKEN: { mode: 'secret' },
          },
        },
        exit: ok ? { kind: 'exited', code: 0 } : { kind: 'exited', code: 2 },
        watched: [
          {
            path: root,
            reason: 'auto',
            before: before.id,
            after: after.id,
            added: 10,
            modified: 2,
            removed: 0,
            paths: outputs[1]!.digest,
          },
        ],
        traced: false,
      };
      const t = Date.UTC(2024, 4, 1) + i * 60_000;
      const run: PerRun = {
        startedOn: new Date(t).toISOString(),
        finishedOn: new Date(t + 30_000).toISOString(),
        durationMs: 30_000,
        host: { hostname: 'bench', kernel: '6.1.0', arch: 'x86_64' },
        asl: { version: '0.1.0' },
        user: { uid: 0, gid: 0 },
      };
      const envelope = signStatement(buildStatement(core, run), signer);
      // The stored receipt is the canonical JSON of exactly the DSSE fields (as writeReceipt stores it).
      const bytes = canonicalBytes({
        payloadType: envelope.payloadType,
        payload: envelope.payload,
        signatures: envelope.signatures.map((s) => ({ keyid: s.keyid, sig: s.sig })),
      });
      ids.push(await batch.addBytes(bytes));
      steps.push(step);
      for (const a of [...inputs, ...outputs]) digests.add(a.digest);
      heads[p] = after;
    }
    await batch.commit();
  } catch (err) {
    await batch.abort();
    throw err;
  }
  for (let i = 0; i < ids.length; i += 250) {
    await appendReceiptLog(
      store,
      ids.slice(i, i + 250).map((receipt, k) => ({ receipt, step: steps[i + k]! })),
    );
  }
  return { store, receipts: ids.length, artifacts: digests.size, ids, failed, buildMs: performance.now() - started };
}

/** The bench section: `asl dag` json and svg on the synthetic store (built once, untimed). */
export async function dagScaleSection(ctx: BenchContext, opts: SyntheticStoreOptions = {}): Promise<Section> {
  const dir = join(ctx.workDir, 'dag-scale-store');
  const built = await buildSyntheticStore(dir, opts);
  const rows: RowSpec[] = (['json', 'svg'] as const).map((format) => ({
    id: `dag-scale/${format}`,
    subject: `${built.receipts.toLocaleString('en-US')} receipts, ${built.artifacts.toLocaleString('en-US')} artifacts`,
    label: `asl dag --format ${format}`,
    argv: ctx.asl('dag', '--store', dir, '--out', join(ctx.workDir, `dag-scale.${format}`), '--json'),
    check: (stdout: string) => {
      const r = JSON.parse(stdout) as { totals?: { receipts: number } };
      return r.totals?.receipts === built.receipts
        ? undefined
        : `asl dag saw ${r.totals?.receipts} receipts, not ${built.receipts}`;
    },
  }));
  return {
    title: 'Lineage graph at scale',
    notes: [
      `\`asl dag\` on a synthetic store: ${built.receipts} receipts (signed with the store key, in the receipt log), ${built.artifacts} distinct`,
      'artifacts (a tree per step linking it to the next, two shared programs, ~96 packages per step, logs, change lists).',
      "Every receipt is read and verified; the drawn trees' objects are read for their totals. Default view: packages,",
      "programs and change lists are counted on each step's box, so the picture has steps, trees and logs.",
    ],
    rows,
    ratioHeaders: [],
  };
}

// ---------------------------------------------------------------------------
// Alone: build the store, then time each format as a separate `asl` process (GNU time for peak RSS).

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { receipts: { type: 'string' }, artifacts: { type: 'string' }, keep: { type: 'string' } },
  });
  const work = values.keep ?? (await mkdtemp(join(tmpdir(), 'asl-dag-scale-')));
  try {
    const dir = join(work, 'store');
    await rm(dir, { recursive: true, force: true });
    const built = await buildSyntheticStore(dir, {
      ...(values.receipts ? { receipts: Number(values.receipts) } : {}),
      ...(values.artifacts ? { artifacts: Number(values.artifacts) } : {}),
    });
    process.stdout.write(
      `built ${built.receipts} receipts, ${built.artifacts} artifacts (${built.failed} failed steps) in ${(built.buildMs / 1000).toFixed(1)} s\n`,
    );
    for (const format of ['json', 'svg', 'html']) {
      const m = await measure(aslArgv('dag', '--store', dir, '--out', join(work, `dag.${format}`), '--json'));
      const r = JSON.parse(m.stdout) as { nodes: number; edges: number; bytes: number };
      process.stdout.write(
        `asl dag --format ${format}: ${m.wallS.toFixed(2)} s, peak RSS ${(m.rssKB / 1024).toFixed(0)} MB, ${r.nodes} nodes, ${r.edges} edges, ${(r.bytes / 1e6).toFixed(1)} MB\n`,
      );
    }
  } finally {
    if (!values.keep) await rm(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`dag-scale: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
