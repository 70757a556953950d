/**
 * Lanes, the pure part: what the receipts say about the state of each host path
 * (a watched root, a declared input or output, an ingested file), and, for every
 * step that started from a recorded state, which earlier record that state
 * continues and which recorded steps changed something inside the path in
 * between. Content addressing joins two steps only when the bytes match; a lane
 * joins them by path, so a root that a small step changed in the middle (a file
 * copied into it) stays one connected line. No I/O here: lanes.ts reads the
 * trees to check the plan against what was stored.
 *
 * A path "holds" another when it is the same path or a directory above it. Paths
 * are the absolute host paths receipts record (capture resolves them).
 */
import type { Digest } from '../core/digest.js';
import type { PerCore } from '../receipt/types.js';

/** One recorded state: the digest (null: the path did not exist) and the edge that names it. */
export interface StateRef {
  digest: Digest | null;
  /** The receipt's input or output list that holds the digest (which node draws it). */
  dir: 'input' | 'output';
}

/** What one receipt recorded about one host path. */
export interface PathState {
  receipt: Digest;
  /** Position of the receipt in the log: the order of events. */
  seq: number;
  step: string;
  path: string;
  /** The state when the step started; absent when the step did not look (a declared output). */
  before?: StateRef;
  /** The state when it ended, when the step recorded it (a watched root, an output). */
  after?: StateRef;
  /** The step recorded changing the path (a watched root that changed, an output it wrote). */
  changed: boolean;
  /** Paths inside `path` the step's snapshots left out (the store, the outdir): its trees say nothing of them. */
  excluded?: string[];
}

/**
 * Whether `s`, recorded at `s.path`, says what `path` (at or below it) held: not
 * when the snapshot left out `path`, something inside it, or a folder holding it.
 */
function describes(s: PathState, path: string): boolean {
  if (s.path === path) return true;
  return !(s.excluded ?? []).some((e) => holds(e, path) || holds(path, e));
}

/** The last state a receipt recorded for its path: after, else before. */
export function endState(s: PathState): StateRef | undefined {
  return s.after ?? s.before;
}

/** Output roles that record the step itself, not something it wrote to a path. */
const NOT_WRITTEN = new Set(['stdout', 'stderr', 'changes', 'source', 'watched']);

/**
 * The path states one receipt records: its watched roots (before and after), its
 * declared inputs (before), the paths it wrote as outputs (after), and for an
 * ingest, the state of the path it took in. Programs, traced reads and packages
 * found in a root are left out: they are reads of tools, or parts of a root
 * already recorded whole. Roles this code does not know are taken as written
 * paths when they are outputs with a path, and ignored as inputs.
 */
export function pathStatesOf(receipt: { id: Digest; seq: number; step: string }, core: PerCore): PathState[] {
  const states = new Map<string, PathState>();
  const state = (path: string): PathState => {
    let s = states.get(path);
    if (!s) {
      s = { receipt: receipt.id, seq: receipt.seq, step: receipt.step, path, changed: false };
      states.set(path, s);
    }
    return s;
  };
  if (core.kind === 'command') {
    for (const w of core.watched) {
      const s = state(w.path);
      if (w.excluded && w.excluded.length > 0) s.excluded = [...w.excluded];
      s.before = { digest: w.before, dir: 'input' };
      // An unchanged root is an input only (capture writes no output for it).
      s.after = { digest: w.after, dir: w.after !== null && w.after !== w.before ? 'output' : 'input' };
      s.changed ||= w.after !== w.before;
    }
  }
  for (const ref of core.inputs) {
    if (ref.role !== 'declared' || ref.path === undefined || (ref.kind !== 'tree' && ref.kind !== 'blob')) continue;
    const s = state(ref.path);
    s.before ??= { digest: ref.digest, dir: 'input' };
  }
  for (const ref of core.outputs) {
    if (ref.path === undefined || ref.kind === 'log' || ref.kind === 'paths' || ref.kind === 'receipt') continue;
    if (ref.role === 'source') {
      // An ingest reads the path at one moment: a state, not a change.
      state(ref.path).before ??= { digest: ref.digest, dir: 'output' };
      continue;
    }
    if (NOT_WRITTEN.has(ref.role)) continue;
    const s = state(ref.path);
    s.after = { digest: ref.digest, dir: 'output' };
    s.changed = true;
  }
  return [...states.values()];
}

/** `parent` holds `path`: the same path, or a directory above it. */
export function holds(parent: string, path: string): boolean {
  return path === parent || path.startsWith(parent === '/' ? '/' : `${parent}/`);
}

/** `path` relative to `base` ("" when equal); `base` must hold `path`. */
export function relativeTo(base: string, path: string): string {
  if (path === base) return '';
  return path.slice(base === '/' ? 1 : base.length + 1);
}

/** One step's starting state of `path`, and the record it continues from. */
export interface LanePlan {
  /** The host path both states are compared at. */
  path: string;
  /** The latest earlier state of `path`: recorded at `path` itself or at a directory holding it. */
  from: PathState;
  /** The step that started from `path` (its `before`), at `path` or at a directory holding it. */
  to: PathState;
  /** Changes recorded strictly inside `path` by steps between the two, in log order. */
  through: PathState[];
}

/**
 * The path states of a lineage, indexed by path and by log order. `plans()` is
 * what the dag draws; `previous` and `changedInside` answer "which recorded
 * step changed this root between these two states" for any caller.
 */
export class LaneIndex {
  private readonly byPath = new Map<string, PathState[]>();
  private readonly paths: string[];
  private readonly states: PathState[];

  constructor(states: readonly PathState[]) {
    this.states = [...states].sort((a, b) => a.seq - b.seq);
    for (const s of this.states) {
      const list = this.byPath.get(s.path);
      if (list) list.push(s);
      else this.byPath.set(s.path, [s]);
    }
    this.paths = [...this.byPath.keys()].sort();
  }

  /**
   * The latest state recorded before log position `seq` at `path` or at a
   * directory holding it; of one receipt's states, the deepest.
   */
  previous(path: string, seq: number): PathState | undefined {
    let best: PathState | undefined;
    for (let p: string | undefined = path; p !== undefined; p = parentOf(p)) {
      const list = this.byPath.get(p);
      if (!list) continue;
      // The latest record there that says what `path` held (a snapshot that left it out does not).
      for (let i = firstAt(list, seq) - 1; i >= 0; i--) {
        const hit = list[i]!;
        if (best && hit.seq <= best.seq) break;
        if (describes(hit, path)) {
          best = hit;
          break;
        }
      }
    }
    return best;
  }

  /** Changes recorded strictly inside `path` by receipts logged after `afterSeq` and before `beforeSeq`, in log order. */
  changedInside(path: string, afterSeq: number, beforeSeq: number): PathState[] {
    const out: PathState[] = [];
    for (const p of this.pathsInside(path)) {
      const list = this.byPath.get(p)!;
      for (let i = firstAfter(list, afterSeq); i < list.length && list[i]!.seq < beforeSeq; i++)
        if (list[i]!.changed) out.push(list[i]!);
    }
    return out.sort((a, b) => a.seq - b.seq);
  }

  /**
   * For every recorded starting state: the earlier state it continues. When an
   * earlier receipt recorded the path (or a directory holding it), that one.
   * Otherwise the step may hold paths earlier steps recorded (a working
   * directory holding an image root): each outermost of those continues into it.
   */
  plans(): LanePlan[] {
    const plans: LanePlan[] = [];
    for (const to of this.states) {
      if (!to.before) continue;
      const from = this.previous(to.path, to.seq);
      if (from) {
        plans.push({ path: to.path, from, to, through: this.changedInside(to.path, from.seq, to.seq) });
        continue;
      }
      const seen = this.pathsInside(to.path).filter(
        (p) => latestBefore(this.byPath.get(p), to.seq) && describes(to, p),
      );
      const recorded = new Set(seen);
      for (const p of seen) {
        let outer = false;
        for (let q = parentOf(p); q !== undefined && q !== to.path; q = parentOf(q))
          if (recorded.has(q)) {
            outer = true;
            break;
          }
        if (outer) continue;
        const sub = latestBefore(this.byPath.get(p), to.seq)!;
        plans.push({ path: p, from: sub, to, through: this.changedInside(p, sub.seq, to.seq) });
      }
    }
    return plans;
  }

  /** Recorded paths strictly inside `path`, sorted. */
  private pathsInside(path: string): string[] {
    const prefix = path === '/' ? '/' : `${path}/`;
    let lo = 0;
    let hi = this.paths.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.paths[mid]! < prefix) lo = mid + 1;
      else hi = mid;
    }
    const out: string[] = [];
    for (let i = lo; i < this.paths.length && this.paths[i]!.startsWith(prefix); i++)
      if (this.paths[i] !== path) out.push(this.paths[i]!);
    return out;
  }
}

function parentOf(path: string): string | undefined {
  if (path === '/' || path === '') return undefined;
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

/** The index of the first of `list` (in log order) logged at or after `seq`: binary search, as one root may have thousands of states. */
function firstAt(list: readonly PathState[], seq: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]!.seq < seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The index of the first of `list` logged after `seq`. */
function firstAfter(list: readonly PathState[], seq: number): number {
  return firstAt(list, seq + 1);
}

/** The last of `list` logged before `seq`. */
function latestBefore(list: readonly PathState[] | undefined, seq: number): PathState | undefined {
  if (!list) return undefined;
  const i = firstAt(list, seq);
  return i > 0 ? list[i - 1] : undefined;
}
