/**
 * Lanes, checked against the store: for each plan of lane-plan.ts, the state
 * the earlier record left at the path and the state the next step started from
 * are compared (sub-trees read where one record holds the other's path). What
 * differs and lies inside a path a step in between recorded changing is that
 * step's doing, provided the next step found it as that step left it; every
 * other differing path is an unrecorded change, counted as `asl diff` counts.
 *
 * `computeLanes` is what the dag draws; `unrecordedBetween` answers the same
 * question for any two states of one path.
 */
import type { Digest } from '../core/digest.js';
import { AslError } from '../core/errors.js';
import type { ArtifactKind } from '../receipt/types.js';
import { mapLimit } from '../core/map-limit.js';
import type { Store } from '../store/store.js';
import { countTreeChanges, metadataEqual, type DiffCounts } from '../store/tree-diff.js';
import { findEntry, pathComponents, readTree } from '../store/tree-lookup.js';
import type { Tree } from '../store/tree-model.js';
import { endState, LaneIndex, relativeTo, type LanePlan, type PathState, type StateRef } from './lane-plan.js';

/** One end of a lane link: a receipt's recorded state of its own path. */
export interface LaneEnd {
  receipt: Digest;
  /** The path the receipt recorded (the link's path, or a directory holding it). */
  path: string;
  /** null: the path did not exist, so the receipt itself is the end. */
  digest: Digest | null;
  dir: 'input' | 'output';
}

/**
 * One step's starting state of `path`, linked to the record it continues:
 * directly (the same content seen through a directory that holds it), through
 * the recorded steps that changed it in between, and/or through an unrecorded
 * change.
 */
export interface LaneLink {
  path: string;
  /** The earlier record's last state (after, else before). */
  from: LaneEnd;
  /** The step's starting state. */
  to: LaneEnd;
  /** Steps in between that recorded changing something inside `path`, in log order, with what they changed. */
  through: Array<{ receipt: Digest; step: string; paths: string[] }>;
  /** Paths that differ and that no step in between recorded; null when there are none (or unchecked). */
  unrecorded: DiffCounts | null;
  /**
   * Why the two states could not be compared (a tree the store does not hold):
   * then nobody can say the steps in between account for everything, and the
   * dag marks the lane as unchecked rather than guess.
   */
  unchecked?: string;
}

/** A state at some path: a tree, a file, another kind of entry, or nothing. */
type At =
  | { type: 'absent' }
  | { type: 'tree'; id: Digest }
  | { type: 'blob'; id: Digest }
  | { type: 'other'; key: string };

export interface LaneOptions {
  /** The kind of a recorded digest (trees are read, anything else compared by digest). */
  kindOf(digest: Digest): ArtifactKind | undefined;
  /** Empty content (the empty file, an empty tree) is never joined by digest, so equal digests still need a link. */
  isEmpty?(digest: Digest): boolean;
}

/** The lane links of a lineage's path states, each checked against the stored trees. */
export async function computeLanes(store: Store, states: readonly PathState[], opts: LaneOptions): Promise<LaneLink[]> {
  const reader = new StateReader(store, opts.kindOf);
  // Plans are independent: checked a few at a time (each waits on tree reads), kept in plan order.
  const checked = await mapLimit(new LaneIndex(states).plans(), 8, (plan) => checkPlan(reader, plan, opts));
  return checked.filter((l): l is LaneLink => l !== null);
}

/** One plan checked: the link to draw, or null when the pictures already join the two states. */
async function checkPlan(reader: StateReader, plan: LanePlan, opts: LaneOptions): Promise<LaneLink | null> {
  try {
    return await comparePlan(reader, plan, opts);
  } catch (err) {
    if (!(err instanceof AslError && err.code === 'NOT_FOUND')) throw err;
    // A copy of a store may lack trees (verify says which): the lane is drawn, marked unchecked.
    return {
      path: plan.path,
      from: laneEnd(plan.from, endState(plan.from)!),
      to: laneEnd(plan.to, plan.to.before!),
      through: throughOf(plan),
      unrecorded: null,
      unchecked: err.message,
    };
  }
}

function throughOf(plan: LanePlan): LaneLink['through'] {
  const through = new Map<Digest, LaneLink['through'][number]>();
  for (const s of plan.through) {
    const t = through.get(s.receipt) ?? { receipt: s.receipt, step: s.step, paths: [] };
    t.paths.push(s.path);
    through.set(s.receipt, t);
  }
  return [...through.values()];
}

async function comparePlan(reader: StateReader, plan: LanePlan, opts: LaneOptions): Promise<LaneLink | null> {
  const fromRef = endState(plan.from)!;
  const toRef = plan.to.before!;
  const [expected, actual] = await Promise.all([
    reader.at(fromRef.digest, relativeTo(plan.from.path, plan.path)),
    reader.at(toRef.digest, relativeTo(plan.to.path, plan.path)),
  ]);
  const from = laneEnd(plan.from, fromRef);
  const to = laneEnd(plan.to, toRef);
  if (plan.through.length === 0 && sameAt(expected, actual)) {
    // Nothing happened in between: draw a link only where the pictures would not already join the two.
    if (from.digest === null || to.digest === null) return null;
    const sameNode = from.digest === to.digest && !opts.isEmpty?.(from.digest);
    const rel = relativeTo(plan.to.path, plan.path);
    const directEntry =
      plan.from.path === plan.path && rel !== '' && !rel.includes('/') && !opts.isEmpty?.(from.digest);
    if (sameNode || directEntry) return null;
    return { path: plan.path, from, to, through: [], unrecorded: null };
  }
  const counts = await reader.unrecorded(expected, actual, plan.path, plan.through);
  return { path: plan.path, from, to, through: throughOf(plan), unrecorded: total(counts) > 0 ? counts : null };
}

export function total(c: DiffCounts): number {
  return c.added + c.removed + c.modified + c.metadata;
}

function laneEnd(s: PathState, ref: StateRef): LaneEnd {
  return { receipt: s.receipt, path: s.path, digest: ref.digest, dir: ref.dir };
}

function sameAt(a: At, b: At): boolean {
  if (a.type !== b.type) return false;
  if (a.type === 'absent') return true;
  if (a.type === 'other') return a.key === (b as { key: string }).key;
  return a.id === (b as { id: Digest }).id;
}

function add(into: DiffCounts, c: DiffCounts): void {
  into.added += c.added;
  into.removed += c.removed;
  into.modified += c.modified;
  into.metadata += c.metadata;
}

/** Reads states at sub-paths and counts differences; tree objects are read once per computation. */
class StateReader {
  private readonly trees = new Map<Digest, Promise<Tree>>();

  constructor(
    private readonly store: Store,
    private readonly kindOf: LaneOptions['kindOf'],
  ) {}

  private tree(id: Digest): Promise<Tree> {
    let t = this.trees.get(id);
    if (!t) {
      t = readTree(this.store, id);
      this.trees.set(id, t);
    }
    return t;
  }

  private readonly read = (id: Digest): Promise<Tree> => this.tree(id);

  /** The state at `rel` below a recorded digest. */
  at(digest: Digest | null, rel: string): Promise<At> {
    if (digest === null) return Promise.resolve({ type: 'absent' });
    return this.below(
      this.kindOf(digest) === 'tree' ? { type: 'tree', id: digest } : { type: 'blob', id: digest },
      rel,
    );
  }

  /** The state at `rel` below a state. */
  async below(start: At, rel: string): Promise<At> {
    let here = start;
    for (const name of pathComponents(rel)) {
      if (here.type !== 'tree') return { type: 'absent' };
      const e = findEntry(await this.tree(here.id), name);
      if (!e) return { type: 'absent' };
      if (e.type === 'dir') here = { type: 'tree', id: e.digest! };
      else if (e.type === 'file') here = { type: 'blob', id: e.digest! };
      else return { type: 'other', key: `${e.type}:${e.target?.toString('hex') ?? ''}:${e.rdev?.join(',') ?? ''}` };
    }
    return here;
  }

  /**
   * Differences from `expected` to `actual` (both at `path`) that `changes`
   * does not account for. A change at R accounts for R if the state found at R
   * is the state its step left (later changes inside R grafted on); everything
   * outside the changed paths is compared as is.
   */
  async unrecorded(expected: At, actual: At, path: string, changes: readonly PathState[]): Promise<DiffCounts> {
    if (changes.length === 0) return this.diff(expected, actual, []);
    const rels = changes.map((c) => relativeTo(path, c.path));
    const outermost = [...new Set(rels)].filter((r) => !rels.some((o) => o !== r && holdsRel(o, r)));
    const counts = await this.diff(expected, actual, outermost);
    for (const rel of outermost) {
      let last = -1;
      rels.forEach((r, i) => {
        if (r === rel) last = i;
      });
      const after = endState(changes[last]!)!;
      const inner = changes.filter((_c, i) => i > last && rels[i] !== rel && holdsRel(rel, rels[i]!));
      const sub = `${path === '/' ? '' : path}/${rel}`;
      add(counts, await this.unrecorded(await this.at(after.digest, ''), await this.below(actual, rel), sub, inner));
    }
    return counts;
  }

  /**
   * What differs between two states, leaving out the relative paths in `skip`. Hard-link
   * references are not compared: the two states may come from different roots (a working
   * directory holding the image root), and each names its links from its own root.
   */
  private async diff(a: At, b: At, skip: string[]): Promise<DiffCounts> {
    const none: DiffCounts = { added: 0, removed: 0, modified: 0, metadata: 0 };
    if (sameAt(a, b)) return none;
    if (a.type === 'tree' && b.type === 'tree') {
      const counts = await countTreeChanges(this.store, a.id, b.id, {
        skip,
        readTree: this.read,
        ignoreHardlinks: true,
      });
      const [ta, tb] = await Promise.all([this.tree(a.id), this.tree(b.id)]);
      if (!selfEqual(ta, tb)) counts.metadata++;
      return counts;
    }
    if (a.type === 'absent' && b.type === 'absent') return none;
    const counts = { ...none };
    // One side is not a tree (or is missing): the path itself was removed and/or added, with what it held.
    if (a.type !== 'absent' && b.type !== 'absent' && a.type !== 'tree' && b.type !== 'tree') {
      if (!sameAt(a, b)) counts.modified++;
      return counts;
    }
    if (a.type !== 'absent') {
      counts.removed++;
      if (a.type === 'tree') add(counts, await countTreeChanges(this.store, a.id, null, { skip, readTree: this.read }));
    }
    if (b.type !== 'absent') {
      counts.added++;
      if (b.type === 'tree') add(counts, await countTreeChanges(this.store, null, b.id, { skip, readTree: this.read }));
    }
    return counts;
  }
}

/** Relative path `outer` holds `inner` (same, or a directory above it). */
function holdsRel(outer: string, inner: string): boolean {
  return inner === outer || outer === '' || inner.startsWith(`${outer}/`);
}

function selfEqual(a: Tree, b: Tree): boolean {
  const entry = (t: Tree) => ({
    name: Buffer.alloc(0),
    type: 'dir' as const,
    mode: t.self.mode,
    uid: t.self.uid,
    gid: t.self.gid,
    ...(t.self.xattrs ? { xattrs: t.self.xattrs } : {}),
  });
  return metadataEqual(entry(a), entry(b));
}
