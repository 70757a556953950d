/**
 * Store verification as a list of named steps (as in cacache), each adding to one
 * report: problems (integrity failures: exit 1) and notes (harmless residue).
 * Later layers add steps (receipts, log) through `extraSteps`.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Digest } from '../core/digest.js';
import { isDigest } from '../core/digest.js';
import { AslError } from '../core/errors.js';
import { OBJECTS_DIR, TMP_DIR } from './layout.js';
import { mapLimit } from '../core/map-limit.js';
import { TEMP_MARK } from '../core/write-file-atomic.js';
import { readObject } from './object-read.js';
import { PUT_REFS_DIR, type RootRecord } from './put.js';
import type { Store } from './store.js';
import { decodeTimes } from './times-model.js';
import { decodeTree, isTreeBytes, TREE_MAGIC } from './tree-model.js';
import { keysStep } from './verify-keys.js';
import { modesStep } from './verify-modes.js';
import { packsStep } from './verify-packs.js';
import type { VerifyContext, VerifyProblem, VerifyReport, VerifyStep } from './verify-context.js';
import { DigestSizes } from './digest-sizes.js';

export type { VerifyProblem, VerifyReport } from './verify-context.js';

async function hashObject(path: string): Promise<{ digest: string; size: number; head: Buffer }> {
  const fh = await open(path, 'r');
  try {
    const st = await fh.stat();
    if (st.size <= 4 * 1024 * 1024) {
      const bytes = await fh.readFile();
      return {
        digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`,
        size: bytes.length,
        head: bytes.subarray(0, TREE_MAGIC.length),
      };
    }
  } finally {
    await fh.close();
  }
  const hash = createHash('sha256');
  let size = 0;
  let head = Buffer.alloc(0);
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) {
    if (head.length === 0) head = Buffer.from((chunk as Buffer).subarray(0, TREE_MAGIC.length));
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { digest: `sha256:${hash.digest('hex')}`, size, head };
}

/** Loose objects; packed ones are the `packs` step's (verify-packs.ts). */
const objectsStep: VerifyStep = {
  name: 'objects',
  async run(ctx) {
    const base = join(ctx.store.root, OBJECTS_DIR, 'sha256');
    const fanouts = (await readdir(base)).filter((d) => /^[0-9a-f]{2}$/.test(d));
    const files: Array<{ digest: Digest; path: string }> = [];
    for (const fan of fanouts) {
      for (const name of await readdir(join(base, fan))) {
        const id = `sha256:${fan}${name}`;
        if (!isDigest(id)) {
          ctx.notes.push(`${join(base, fan, name)}: stray file in the object folder`);
          continue;
        }
        files.push({ digest: id, path: join(base, fan, name) });
      }
    }
    let bytes = 0;
    await mapLimit(files, 8, async ({ digest, path }) => {
      if (ctx.quick) {
        const fh = await open(path, 'r');
        try {
          const st = await fh.stat();
          const head = Buffer.alloc(TREE_MAGIC.length);
          await fh.read(head, 0, head.length, 0);
          ctx.objects.set(digest, st.size);
          if (isTreeBytes(head)) ctx.trees.add(digest);
          else if (head[0] === 0x7b) ctx.jsonObjects.add(digest);
          bytes += st.size;
        } finally {
          await fh.close();
        }
        return;
      }
      const { digest: actual, size, head } = await hashObject(path);
      ctx.objects.set(digest, size);
      bytes += size;
      if (actual !== digest) {
        ctx.corrupt.add(digest);
        ctx.problems.push({
          step: 'objects',
          subject: digest,
          message: `object ${digest} is corrupt (${path})`,
          expected: digest,
          actual,
        });
        return;
      }
      if (isTreeBytes(head)) ctx.trees.add(digest);
      else if (head[0] === 0x7b) ctx.jsonObjects.add(digest);
    });
    ctx.counts.objects = files.length;
    ctx.counts.bytes = bytes;
  },
};

/** The root records (refs/put/), read before any object is listed: part of verify's cut. */
const rootsCutStep: VerifyStep = {
  name: 'roots-cut',
  async run(ctx) {
    const dir = join(ctx.store.root, PUT_REFS_DIR);
    let names: string[] = [];
    try {
      names = await readdir(dir);
    } catch {
      names = [];
    }
    const records: RootsCut = [];
    for (const name of names.sort()) {
      if (name.includes(TEMP_MARK)) continue;
      const where = join(dir, name);
      try {
        records.push({ name, where, rec: JSON.parse(await readFile(where, 'utf8')) as RootRecord });
      } catch {
        records.push({ name, where, rec: null });
      }
    }
    rootsCut.set(ctx, records);
  },
};

type RootsCut = Array<{ name: string; where: string; rec: RootRecord | null }>;
const rootsCut = new WeakMap<VerifyContext, RootsCut>();

const rootsStep: VerifyStep = {
  name: 'roots',
  async run(ctx) {
    let count = 0;
    for (const { name, where, rec } of rootsCut.get(ctx) ?? []) {
      count++;
      if (!rec) {
        ctx.problems.push({ step: 'roots', subject: where, message: `${where}: unreadable root record` });
        continue;
      }
      if (!isDigest(rec.id) || `sha256:${name}` !== rec.id) {
        ctx.problems.push({
          step: 'roots',
          subject: where,
          message: `${where}: record names ${String(rec.id)}`,
          expected: `sha256:${name}`,
          actual: String(rec.id),
        });
        continue;
      }
      ctx.roots.add(rec.id);
      if (!ctx.objects.has(rec.id))
        ctx.problems.push({
          step: 'roots',
          subject: rec.id,
          message: `${rec.source}: stored ${rec.kind} ${rec.id} is missing`,
        });
      if (rec.times !== undefined) {
        if (!isDigest(rec.times) || !ctx.objects.has(rec.times)) {
          ctx.problems.push({
            step: 'roots',
            subject: String(rec.times),
            message: `timestamps ${String(rec.times)} of ${rec.id} are missing`,
          });
        } else if (!ctx.corrupt.has(rec.times)) {
          try {
            const times = decodeTimes(await readObject(ctx.store, rec.times), rec.times);
            if (times.tree !== rec.id)
              ctx.problems.push({
                step: 'roots',
                subject: rec.times,
                message: `timestamps ${rec.times} belong to another tree`,
                expected: rec.id,
                actual: times.tree,
              });
          } catch (err) {
            ctx.problems.push({ step: 'roots', subject: rec.times, message: (err as Error).message });
          }
        }
      }
    }
    ctx.counts.roots = count;
  },
};

/** Every tree parses, and every entry it names exists with the right kind and size. */
const treesStep: VerifyStep = {
  name: 'trees',
  async run(ctx) {
    const children = new Map<Digest, Digest[]>();
    const missing = new Map<Digest, VerifyProblem[]>();
    await mapLimit([...ctx.trees], 8, async (id) => {
      if (ctx.corrupt.has(id)) return;
      let tree;
      try {
        tree = decodeTree(await readObject(ctx.store, id), id);
      } catch (err) {
        ctx.problems.push({ step: 'trees', subject: id, message: err instanceof AslError ? err.message : String(err) });
        return;
      }
      const kids: Digest[] = [];
      const bad: VerifyProblem[] = [];
      for (const e of tree.entries) {
        if (!e.digest) continue;
        // Only sub-trees: reachability below decides which trees' problems count, and a
        // million-file root would otherwise hold a second copy of every blob id here.
        if (e.type === 'dir') kids.push(e.digest);
        const name = e.name.toString();
        const size = ctx.objects.get(e.digest);
        if (size === undefined)
          bad.push({
            step: 'trees',
            subject: id,
            message: `tree ${id} entry ${JSON.stringify(name)} names missing ${e.type === 'dir' ? 'tree' : 'blob'} ${e.digest}`,
          });
        else if (e.type === 'dir' && !ctx.trees.has(e.digest) && !ctx.corrupt.has(e.digest))
          bad.push({
            step: 'trees',
            subject: id,
            message: `tree ${id} entry ${JSON.stringify(name)} is a directory but ${e.digest} is not a tree`,
          });
        else if (e.type === 'file' && size !== e.size && !ctx.corrupt.has(e.digest))
          bad.push({
            step: 'trees',
            subject: id,
            message: `tree ${id} entry ${JSON.stringify(name)}: size differs from blob ${e.digest}`,
            expected: String(e.size),
            actual: String(size),
          });
      }
      children.set(id, kids);
      if (bad.length > 0) missing.set(id, bad);
    });
    // Problems in trees reachable from a root are integrity failures; in unreachable
    // trees they are residue of an interrupted write and only noted.
    const reachable = new Set<Digest>();
    const stack = [...ctx.roots];
    while (stack.length > 0) {
      const id = stack.pop()!;
      if (reachable.has(id)) continue;
      reachable.add(id);
      for (const kid of children.get(id) ?? []) stack.push(kid);
    }
    for (const [id, bad] of missing) {
      if (reachable.has(id)) ctx.problems.push(...bad);
      else ctx.notes.push(`unreferenced tree ${id} is incomplete (left by an interrupted write): ${bad[0]!.message}`);
    }
    ctx.counts.trees = ctx.trees.size;
  },
};

const tmpStep: VerifyStep = {
  name: 'tmp',
  async run(ctx) {
    let names: string[] = [];
    try {
      names = await readdir(join(ctx.store.root, TMP_DIR));
    } catch {
      names = [];
    }
    if (names.length > 0)
      ctx.notes.push(`${names.length} temporary file(s) in tmp/ (an interrupted or running write; never referenced)`);
  },
};

const STORE_VERIFY_STEPS: VerifyStep[] = [objectsStep, packsStep, rootsStep, treesStep, tmpStep, modesStep, keysStep];

/**
 * Runs the steps. Writers may commit while this runs, so verify first reads a cut
 * (the root records, and through `cutSteps` the log), then lists objects: what the
 * cut references was durable before it was read (objects are committed before
 * anything names them), so it is all listed; what writers add later is not judged.
 */
export async function verifyStore(
  store: Store,
  opts: { quick?: boolean; cutSteps?: VerifyStep[]; extraSteps?: VerifyStep[] } = {},
): Promise<VerifyReport> {
  const ctx: VerifyContext = {
    store,
    quick: opts.quick ?? false,
    objects: new DigestSizes(),
    corrupt: new Set(),
    trees: new Set(),
    jsonObjects: new Set(),
    anchor: null,
    roots: new Set(),
    problems: [],
    notes: [],
    counts: {},
    privateKeys: { files: [], imageRoot: null },
  };
  const steps: Array<{ name: string; ms: number }> = [];
  const all = [
    rootsCutStep,
    ...(opts.cutSteps ?? []),
    ...STORE_VERIFY_STEPS.slice(0, 2),
    ...(opts.extraSteps ?? []),
    ...STORE_VERIFY_STEPS.slice(2),
  ];
  for (const step of all) {
    const started = Date.now();
    await step.run(ctx);
    steps.push({ name: step.name, ms: Date.now() - started });
  }
  return {
    ok: ctx.problems.length === 0,
    store: store.root,
    anchor: ctx.anchor,
    counts: ctx.counts,
    problems: ctx.problems,
    notes: ctx.notes,
    privateKeys: ctx.privateKeys,
    steps,
  };
}
