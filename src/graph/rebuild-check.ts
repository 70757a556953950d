/**
 * `asl rebuild-check`: compares this store's history (a rebuild) with an earlier
 * one, step by step, and records the verdict as a signed receipt of kind
 * "rebuild". Steps are paired by name and occurrence in log order; the other
 * history's paths are rewritten by a path map (its work directory is elsewhere)
 * before cores are compared; the verdict itself rests on the recorded trees and
 * files, which must have the same ids on both sides. docs/rebuild-check.md is the
 * prose version.
 */
import { execFile } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, delimiter, isAbsolute, join } from 'node:path';
import { canonicalBytes } from '../core/canonical-json.js';
import type { Digest } from '../core/digest.js';
import { AslError } from '../core/errors.js';
import { runDetails } from '../capture/run-details.js';
import { signStatement, storeSigner } from '../receipt/sign.js';
import { buildStatement, coreDigest, normalizeCore } from '../receipt/statement.js';
import { readReceipt, writeReceipt } from '../receipt/store-receipt.js';
import type {
  ArtifactRef,
  PerCore,
  RebuildArtifact,
  RebuildCore,
  RebuildFile,
  RebuildPair,
  RebuildUnpaired,
} from '../receipt/types.js';
import { writeObject } from '../store/object-batch.js';
import { readObject, readObjectHead } from '../store/object-read.js';
import { readReceiptLog } from '../receipt/receipt-log.js';
import type { Store } from '../store/store.js';
import { TREE_MAGIC } from '../store/tree-model.js';
import { loadTrustedKeys } from '../receipt/trusted-keys.js';
import { diffStoreTrees } from './diff.js';

export const REBUILD_STEP = 'rebuild-check';
/** Differing paths of the first diverged step kept in the signed core; the report keeps up to REPORT_FILES. */
export const CORE_FILES = 50;
const REPORT_FILES = 5000;
const DIFFOSCOPE_LINES = 200;
// A rebuild check ends a build: diffoscope gets small files and a short time, never an ISO.
const DIFFOSCOPE_MAX_BYTES = 16 * 1024 * 1024;
const DIFFOSCOPE_TIMEOUT_MS = 60_000;

export interface PathMapping {
  from: string;
  to: string;
}

export interface DiffoscopeResult {
  artifact: string;
  path: string;
  /** diffoscope's exit code: 0 same, 1 different, other: it failed. */
  exitCode: number;
  /** Its text output, cut to DIFFOSCOPE_LINES lines. */
  summary: string;
  truncated: boolean;
}

/** What the signed core does not hold: everything the comparison found, kept as a blob the receipt names. */
export interface RebuildReport {
  format: 'asl-rebuild-report/v1';
  pathMapSource: 'given' | 'inferred';
  /** Receipts of the other history this store holds too (e.g. imported): left out on this side. */
  shared: number;
  /** With `until`: receipts after its step, here and in the other history, not compared. */
  beyond: { here: number; other: number };
  /** Every differing path of the first diverged step (up to REPORT_FILES). */
  files: RebuildFile[];
  moreFiles: number;
  /** null: diffoscope was not on PATH (or not asked for). */
  diffoscope: DiffoscopeResult[] | null;
}

export interface RebuildCheckOptions {
  /** OLD=NEW prefixes given by the operator; absent: inferred from the paired receipts. */
  pathMap?: PathMapping[];
  /** Run diffoscope (when on PATH) on up to this many differing regular files; 0: never. */
  diffoscopeFiles?: number;
  /** Compare only; write no receipt. */
  record?: boolean;
  /** Judge only the receipts up to the last one of this step name in each log. */
  until?: string;
  /** The directory searched for diffoscope (default: the process's PATH). */
  path?: string;
}

export interface RebuildCheckResult {
  core: RebuildCore;
  report: RebuildReport;
  /** The verdict receipt, when recorded. */
  receipt: Digest | null;
  keyId: string | null;
}

interface StepReceipt {
  id: Digest;
  step: string;
  occurrence: number;
  core: PerCore;
  coreDigest: Digest;
  keyId: string;
}

/** Parses one `--map OLD=NEW`: both absolute paths. */
export function parsePathMapping(text: string): PathMapping {
  const eq = text.indexOf('=');
  const from = eq < 0 ? '' : stripSlash(text.slice(0, eq));
  const to = eq < 0 ? '' : stripSlash(text.slice(eq + 1));
  if (eq < 0 || !isAbsolute(from) || !isAbsolute(to) || from === '/' || to === '/') {
    throw new AslError(
      'USAGE',
      `rebuild-check: --map ${text}: expected OLD=NEW, two absolute directories other than / (the other history's path, then this one's)`,
    );
  }
  return { from, to };
}

function stripSlash(p: string): string {
  return p.length > 1 ? p.replace(/\/+$/, '') : p;
}

/** The non-verdict receipts of a store in log order, each with its occurrence number among receipts of its step name. */
async function stepReceipts(store: Store): Promise<{ steps: StepReceipt[]; logged: number; last: Digest | null }> {
  const keys = await loadTrustedKeys(store);
  const { records } = await readReceiptLog(store);
  const seen = new Map<string, number>();
  const steps: StepReceipt[] = [];
  for (const { entry } of records) {
    const r = await readReceipt(store, entry.receipt, { keys });
    const core = r.statement.predicate.core;
    if (core.kind === 'rebuild') continue;
    const occurrence = (seen.get(core.step) ?? 0) + 1;
    seen.set(core.step, occurrence);
    steps.push({ id: r.id, step: core.step, occurrence, core, coreDigest: r.coreDigest, keyId: r.keyId });
  }
  return { steps, logged: records.length, last: records.at(-1)?.entry.receipt ?? null };
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Rewrites every occurrence of a mapped prefix in a string: a whole path or the
 * start of one (followed by "/" or by a character that cannot be in a name), and
 * only where a path can start, so /srv/a never rewrites inside /x/srv/a or /srv/ab.
 */
export function mapText(text: string, map: readonly PathMapping[]): string {
  if (map.length === 0) return text;
  const sorted = [...map].sort((a, b) => b.from.length - a.from.length);
  const re = new RegExp(sorted.map((m) => `(?<![\\w.+/-])${escapeRe(m.from)}(?![\\w.+-])`).join('|'), 'g');
  return text.replace(re, (hit) => sorted.find((m) => m.from === hit)!.to);
}

function mapValue(value: unknown, map: readonly PathMapping[]): unknown {
  if (typeof value === 'string') return mapText(value, map);
  if (Array.isArray(value)) return value.map((v) => mapValue(v, map));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mapValue(v, map)]));
  }
  return value;
}

/** The other history's core as if it had run in this one's directories. */
export function mapCore(core: PerCore, map: readonly PathMapping[]): PerCore {
  return normalizeCore(mapValue(core, map) as PerCore);
}

/** How many last components two paths share. */
function commonTail(a: string, b: string): number {
  const x = a.split('/').filter(Boolean);
  const y = b.split('/').filter(Boolean);
  let n = 0;
  while (n < x.length && n < y.length && x[x.length - 1 - n] === y[y.length - 1 - n]) n++;
  return n;
}

/**
 * "/a/w1/iso" and "/b/w2/iso" -> /a/w1 => /b/w2: what remains once the common last
 * components are dropped. Two paths with no last component in common say nothing
 * (a build run from /srv/src in one history and from /srv/w2 in the other is no relocation).
 */
function prefixPair(other: string, here: string): PathMapping | null {
  if (other === here || !isAbsolute(other) || !isAbsolute(here)) return null;
  const n = commonTail(other, here);
  if (n === 0) return null;
  const a = other.split('/').filter(Boolean).slice(0, -n);
  const b = here.split('/').filter(Boolean).slice(0, -n);
  if (a.length === 0 || b.length === 0) return null;
  return { from: `/${a.join('/')}`, to: `/${b.join('/')}` };
}

/** Each of `others` with the one of `heres` it shares the most last components with (a tie pairs none). */
function matchByTail(others: readonly string[], heres: readonly string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const o of others) {
    const scored = heres
      .map((h) => [h, commonTail(o, h)] as const)
      .filter(([, n]) => n > 0)
      .sort((x, y) => y[1] - x[1]);
    if (scored.length > 0 && (scored.length === 1 || scored[0]![1] > scored[1]![1])) out.push([o, scored[0]![0]]);
  }
  return out;
}

/**
 * The path map a comparison uses when none is given: from each pair's working
 * directory, watched roots (each with the root of the other side that ends the
 * same way) and ingested source, the differing prefixes; for each old prefix the
 * new one most pairs agree on. A prefix that another, shorter one already maps the
 * same way is dropped.
 */
export function inferPathMap(pairs: ReadonlyArray<{ here: PerCore; other: PerCore }>): PathMapping[] {
  const votes = new Map<string, Map<string, number>>();
  const vote = (other: string, here: string) => {
    const m = prefixPair(other, here);
    if (!m) return;
    const forFrom = votes.get(m.from) ?? new Map<string, number>();
    forFrom.set(m.to, (forFrom.get(m.to) ?? 0) + 1);
    votes.set(m.from, forFrom);
  };
  for (const { here, other } of pairs) {
    if (here.kind === 'command' && other.kind === 'command') {
      vote(other.command.cwd, here.command.cwd);
      for (const [o, h] of matchByTail(
        other.watched.map((w) => w.path),
        here.watched.map((w) => w.path),
      ))
        vote(o, h);
    } else if (here.kind === 'ingest' && other.kind === 'ingest') {
      vote(other.source.path, here.source.path);
    }
  }
  const chosen: PathMapping[] = [];
  for (const [from, tos] of votes) {
    const [to] = [...tos.entries()].sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1))[0]!;
    chosen.push({ from, to });
  }
  chosen.sort((x, y) => x.from.length - y.from.length || (x.from < y.from ? -1 : 1));
  const kept: PathMapping[] = [];
  for (const m of chosen) {
    if (mapText(m.from, kept) === m.to) continue;
    kept.push(m);
  }
  return kept.sort((x, y) => (x.from < y.from ? -1 : x.from > y.from ? 1 : 0));
}

interface Recorded {
  kind: RebuildArtifact['kind'];
  digest: Digest | null;
}

async function objectIsTree(store: Store, id: Digest): Promise<boolean> {
  const head = await readObjectHead(store, id, TREE_MAGIC.length);
  return head.equals(TREE_MAGIC);
}

/** The trees and files a step recorded: each watched root's after-state, each tree, blob or package output. */
async function recordedArtifacts(store: Store, core: PerCore): Promise<Map<string, Recorded>> {
  const out = new Map<string, Recorded>();
  if (core.kind === 'command') {
    for (const w of core.watched) {
      out.set(`watched ${w.path}`, {
        kind: w.after && !(await objectIsTree(store, w.after)) ? 'blob' : 'tree',
        digest: w.after,
      });
    }
  }
  for (const o of core.outputs) {
    if (o.kind === 'tree' || o.kind === 'blob' || o.kind === 'package')
      out.set(`output ${o.name}`, { kind: o.kind, digest: o.digest });
  }
  return out;
}

function topFieldsThatDiffer(a: PerCore, b: PerCore): string[] {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  return keys.filter(
    (k) =>
      !canonicalBytes((a as unknown as Record<string, unknown>)[k] ?? null).equals(
        canonicalBytes((b as unknown as Record<string, unknown>)[k] ?? null),
      ),
  );
}

async function comparePair(
  here: Store,
  other: Store,
  h: StepReceipt,
  o: StepReceipt,
  map: readonly PathMapping[],
): Promise<RebuildPair> {
  const mapped = mapCore(o.core, map);
  const match =
    o.coreDigest === h.coreDigest ? 'identical' : coreDigest(mapped) === h.coreDigest ? 'mapped' : 'differs';
  const mine = await recordedArtifacts(here, h.core);
  // The other side's names are mapped so the same root or file has the same name on both sides.
  const theirs = new Map([...(await recordedArtifacts(other, o.core))].map(([name, r]) => [mapText(name, map), r]));
  const artifacts: RebuildArtifact[] = [];
  for (const name of [...new Set([...mine.keys(), ...theirs.keys()])].sort()) {
    const a = mine.get(name);
    const b = theirs.get(name);
    artifacts.push({ name, kind: (a ?? b)!.kind, here: a?.digest ?? null, other: b?.digest ?? null });
  }
  const sameExit =
    h.core.kind === mapped.kind &&
    (h.core.kind !== 'command' || canonicalBytes(h.core.exit).equals(canonicalBytes((mapped as typeof h.core).exit)));
  return {
    step: h.step,
    occurrence: h.occurrence,
    here: { receipt: h.id, keyId: h.keyId, coreDigest: h.coreDigest },
    other: { receipt: o.id, keyId: o.keyId, coreDigest: o.coreDigest },
    core: match,
    ...(match === 'differs' ? { coreFields: topFieldsThatDiffer(h.core, mapped) } : {}),
    artifacts,
    reproduced: sameExit && artifacts.every((a) => a.here === a.other),
  };
}

/**
 * Every differing path of a diverged pair, in `asl diff` terms (other history -> this
 * one): paths whose content or metadata changed first, then paths only one side has.
 * An artifact only one side recorded is one entry, not a walk of all it holds.
 */
async function differingFiles(
  here: Store,
  other: Store,
  pair: RebuildPair,
  limit: number,
): Promise<{ files: RebuildFile[]; more: number }> {
  const changed: RebuildFile[] = [];
  const oneSide: RebuildFile[] = [];
  let more = 0;
  const add = (f: RebuildFile) => {
    const list = f.change === 'modified' || f.change === 'metadata' ? changed : oneSide;
    if (list.length < limit) list.push(f);
    else more++;
  };
  // A watched root is often also a tree output with the same ids: its paths are listed once, under the root.
  const watchedIds = new Set(
    pair.artifacts.filter((a) => a.name.startsWith('watched ')).map((a) => `${a.name.slice(8)}\0${a.here}\0${a.other}`),
  );
  for (const a of pair.artifacts) {
    if (a.here === a.other) continue;
    if (a.name.startsWith('output ') && watchedIds.has(`${a.name.slice(7)}\0${a.here}\0${a.other}`)) continue;
    const bothTrees =
      a.kind === 'tree' &&
      a.here !== null &&
      a.other !== null &&
      (await objectIsTree(here, a.here)) &&
      (await objectIsTree(other, a.other));
    if (!bothTrees) {
      const change = a.here === null ? 'removed' : a.other === null ? 'added' : 'modified';
      add({
        artifact: a.name,
        path: '',
        change,
        ...(change === 'modified' ? { fields: ['content'] } : {}),
        ...(a.here ? { here: a.here } : {}),
        ...(a.other ? { other: a.other } : {}),
      });
      continue;
    }
    for await (const c of diffStoreTrees(other, a.other, a.here, { storeB: here })) {
      add({
        artifact: a.name,
        path: c.path,
        change: c.kind,
        ...(c.fields ? { fields: [...c.fields] } : {}),
        ...(c.after?.digest ? { here: c.after.digest } : {}),
        ...(c.before?.digest ? { other: c.before.digest } : {}),
      });
    }
  }
  const files = [...changed, ...oneSide];
  return { files: files.slice(0, limit), more: more + Math.max(0, files.length - limit) };
}

/** diffoscope's path when it is on PATH; null otherwise (it is never required). */
export async function findDiffoscope(pathVar = process.env.PATH ?? ''): Promise<string | null> {
  for (const dir of pathVar.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, 'diffoscope');
    try {
      await access(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      /* not here */
    }
  }
  return null;
}

function runProgram(program: string, args: string[]): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile(
      program,
      args,
      { timeout: DIFFOSCOPE_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout) => {
        const code = err
          ? typeof (err as { code?: unknown }).code === 'number'
            ? (err as { code: number }).code
            : 125
          : 0;
        resolve({ code, stdout: stdout ?? '' });
      },
    );
  });
}

/**
 * Runs diffoscope on up to `max` regular files that differ in content, each
 * materialized from its store into a private temporary directory (removed after).
 */
async function runDiffoscope(
  program: string,
  here: Store,
  other: Store,
  files: readonly RebuildFile[],
  max: number,
): Promise<DiffoscopeResult[]> {
  const results: DiffoscopeResult[] = [];
  const done = new Set<string>();
  const dir = await mkdtemp(join(tmpdir(), 'asl-rebuild-'));
  try {
    for (const f of files) {
      if (results.length >= max) break;
      if (f.change !== 'modified' || !f.here || !f.other || !f.fields?.includes('content')) continue;
      // One file is often listed twice (a product and a path in its watched root): explained once.
      if (done.has(`${f.other} ${f.here}`)) continue;
      done.add(`${f.other} ${f.here}`);
      const [a, b] = [await readObject(other, f.other), await readObject(here, f.here)];
      if (a.length > DIFFOSCOPE_MAX_BYTES || b.length > DIFFOSCOPE_MAX_BYTES) continue;
      const name = basename(f.path || f.artifact.replace(/^\w+ /, '')) || 'file';
      const slot = join(dir, String(results.length));
      await mkdir(join(slot, 'other'), { recursive: true, mode: 0o700 });
      await mkdir(join(slot, 'here'), { recursive: true, mode: 0o700 });
      await writeFile(join(slot, 'other', name), a, { mode: 0o600 });
      await writeFile(join(slot, 'here', name), b, { mode: 0o600 });
      const { code, stdout } = await runProgram(program, [
        '--text',
        '-',
        '--no-progress',
        join(slot, 'other', name),
        join(slot, 'here', name),
      ]);
      const lines = stdout.split('\n');
      results.push({
        artifact: f.artifact,
        path: f.path,
        exitCode: code,
        summary: lines.slice(0, DIFFOSCOPE_LINES).join('\n'),
        truncated: lines.length > DIFFOSCOPE_LINES,
      });
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return results;
}

/**
 * A history that does not verify is bad input here (exit 2), not a divergence (exit 1):
 * a script reading the exit code must not take a damaged store for a different build.
 */
async function readable<T>(store: Store, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (err) {
    if (err instanceof AslError && err.exitCode === 1) {
      throw new AslError(
        'BAD_INPUT',
        `rebuild-check: ${store.root} does not verify (run \`asl verify --store ${store.root}\`): ${err.message}`,
        { cause: err },
      );
    }
    throw err;
  }
}

/**
 * Compares `store` (the rebuild) with `against` (an earlier history, only read)
 * and, unless `record` is false, stores the verdict as a signed receipt in `store`.
 * Throws BAD_INPUT when no step has a partner: there is nothing to judge.
 */
export async function rebuildCheck(
  store: Store,
  against: Store,
  opts: RebuildCheckOptions = {},
): Promise<RebuildCheckResult> {
  if (store.root === against.root)
    throw new AslError(
      'USAGE',
      `rebuild-check: --store and --against are the same store (${store.root}); compare a rebuild with another history`,
    );
  const started = new Date();
  const mine = await readable(store, () => stepReceipts(store));
  const theirs = await readable(against, () => stepReceipts(against));
  // Receipts of the other history that this store holds too (a rebuild that imported the first
  // build's closure to take its packages from) are not this history's own steps: only ours are judged.
  const theirIds = new Set(theirs.steps.map((s) => s.id));
  const here = mine.steps.filter((s) => !theirIds.has(s.id));
  const there = theirs.steps;
  const shared = mine.steps.length - here.length;
  // Occurrences are counted again without the shared receipts, so a partly imported history still pairs.
  const renumber = (list: StepReceipt[]) => {
    const n = new Map<string, number>();
    return list.map((s) => {
      const k = (n.get(s.step) ?? 0) + 1;
      n.set(s.step, k);
      return { ...s, occurrence: k };
    });
  };
  const upTo = (list: StepReceipt[], where: string): StepReceipt[] => {
    if (opts.until === undefined) return list;
    const last = list.map((s) => s.step).lastIndexOf(opts.until);
    if (last < 0)
      throw new AslError(
        'BAD_INPUT',
        `rebuild-check: --until ${opts.until}: no receipt of that step in ${where} (steps: ${[...new Set(list.map((s) => s.step))].join(', ') || 'none'})`,
      );
    return list.slice(0, last + 1);
  };
  const allHere = renumber(here);
  const allThere = renumber(there);
  const hs = upTo(allHere, store.root);
  const os = upTo(allThere, against.root);
  const key = (s: StepReceipt) => `${s.occurrence}\0${s.step}`;
  const otherByKey = new Map(os.map((s) => [key(s), s]));
  const paired: Array<[StepReceipt, StepReceipt]> = [];
  const unpairedHere: RebuildUnpaired[] = [];
  for (const h of hs) {
    const o = otherByKey.get(key(h));
    if (o) paired.push([h, o]);
    else unpairedHere.push({ step: h.step, occurrence: h.occurrence, receipt: h.id });
  }
  const pairedOther = new Set(paired.map(([, o]) => o.id));
  const unpairedOther = os
    .filter((o) => !pairedOther.has(o.id))
    .map((o) => ({ step: o.step, occurrence: o.occurrence, receipt: o.id }));
  if (paired.length === 0) {
    const names = (l: StepReceipt[]) => [...new Set(l.map((s) => s.step))].join(', ') || 'none';
    throw new AslError(
      'BAD_INPUT',
      `rebuild-check: no step of ${store.root} has a partner in ${against.root} (steps here: ${names(hs)}; there: ${names(os)})`,
    );
  }
  const pathMap = opts.pathMap ?? inferPathMap(paired.map(([h, o]) => ({ here: h.core, other: o.core })));
  const pairs: RebuildPair[] = [];
  for (const [h, o] of paired) pairs.push(await comparePair(store, against, h, o, pathMap));
  const first = pairs.find((p) => !p.reproduced);
  let files: RebuildFile[] = [];
  let moreFiles = 0;
  if (first) ({ files, more: moreFiles } = await differingFiles(store, against, first, REPORT_FILES));
  const reproduced = pairs.filter((p) => p.reproduced).length;
  const core: RebuildCore = {
    kind: 'rebuild',
    step: REBUILD_STEP,
    verdict: first ? 'diverged' : 'reproduced',
    ...(opts.until !== undefined ? { until: opts.until } : {}),
    against: { receipts: theirs.logged, last: theirs.last },
    pathMap,
    pairs,
    unpaired: { here: unpairedHere, other: unpairedOther },
    firstDiverged: first
      ? {
          step: first.step,
          occurrence: first.occurrence,
          files: files.slice(0, CORE_FILES),
          moreFiles: moreFiles + Math.max(0, files.length - CORE_FILES),
        }
      : null,
    counts: {
      pairs: pairs.length,
      reproduced,
      diverged: pairs.length - reproduced,
      unpairedHere: unpairedHere.length,
      unpairedOther: unpairedOther.length,
    },
    inputs: [],
    outputs: [],
  };
  const maxDiffoscope = opts.diffoscopeFiles ?? 3;
  const program = maxDiffoscope > 0 && files.length > 0 ? await findDiffoscope(opts.path) : null;
  const report: RebuildReport = {
    format: 'asl-rebuild-report/v1',
    pathMapSource: opts.pathMap ? 'given' : 'inferred',
    shared,
    beyond: { here: allHere.length - hs.length, other: allThere.length - os.length },
    files,
    moreFiles,
    diffoscope: program ? await runDiffoscope(program, store, against, files, maxDiffoscope) : null,
  };
  if (opts.record === false) return { core, report, receipt: null, keyId: null };
  const reportBytes = canonicalBytes(report);
  const reportId = await writeObject(store, reportBytes);
  const output: ArtifactRef = {
    name: 'rebuild-report.json',
    role: 'product',
    kind: 'blob',
    digest: reportId,
    size: reportBytes.length,
  };
  core.outputs = [output];
  const statement = buildStatement(core, runDetails(started, new Date()));
  const written = await writeReceipt(store, signStatement(statement, await storeSigner(store)));
  return { core: statement.predicate.core as RebuildCore, report, receipt: written.id, keyId: written.keyId };
}
