/**
 * `--focus ID` and `--depth N`: which nodes of the lineage a query names, and
 * the nodes around them (every ancestor and every descendant, up to N edges).
 */
import type { Digest } from '../core/digest.js';
import { isDigest } from '../core/digest.js';
import { AslError } from '../core/errors.js';
import type { Lineage } from './lineage.js';

/** A directed edge between two node ids. */
export interface Link {
  from: string;
  to: string;
}

/** Edge indexes by node: `out` are edges leaving it, `in` edges arriving. */
export interface Adjacency {
  out: Map<string, number[]>;
  in: Map<string, number[]>;
}

export function adjacencyOf(links: readonly Link[]): Adjacency {
  const out = new Map<string, number[]>();
  const inn = new Map<string, number[]>();
  links.forEach((e, i) => {
    push(out, e.from, i);
    push(inn, e.to, i);
  });
  return { out, in: inn };
}

function push(map: Map<string, number[]>, key: string, i: number): void {
  const list = map.get(key);
  if (list) list.push(i);
  else map.set(key, [i]);
}

/**
 * The nodes a focus query names, tried in order: a full digest; a step name
 * (every receipt of that step); a digest prefix of at least 4 hex digits, with or
 * without `sha256:` (must be unique); an artifact's path or display name (all of
 * them). Throws NOT_FOUND or BAD_INPUT (ambiguous prefix) with the candidates.
 */
export function resolveFocus(lineage: Lineage, query: string): Digest[] {
  const known = (id: string): boolean => lineage.receiptById.has(id as Digest) || lineage.artifacts.has(id as Digest);
  if (isDigest(query)) {
    if (known(query)) return [query];
    throw new AslError('NOT_FOUND', `--focus ${query}: no receipt or artifact with this id in the lineage`);
  }
  const steps = lineage.receipts.filter((r) => r.step === query).map((r) => r.id);
  if (steps.length > 0) return steps;
  const hex = query.startsWith('sha256:') ? query.slice(7) : query;
  if (/^[0-9a-f]{4,63}$/.test(hex)) {
    const prefix = `sha256:${hex}`;
    const hits = [...lineage.receiptById.keys(), ...lineage.artifacts.keys()].filter((id) => id.startsWith(prefix));
    if (hits.length === 1) return hits;
    if (hits.length > 1) {
      throw new AslError(
        'BAD_INPUT',
        `--focus ${query}: ambiguous, ${hits.length} ids start with it (${hits
          .slice(0, 4)
          .map((h) => h.slice(0, 23))
          .join(', ')}${hits.length > 4 ? ', …' : ''}); give more digits`,
      );
    }
  }
  const named = [...lineage.artifacts.values()].filter((a) => a.path === query || a.name === query).map((a) => a.id);
  if (named.length > 0) return named;
  throw new AslError('NOT_FOUND', `--focus ${query}: no receipt, step, artifact id or path matches`);
}

/**
 * The seeds, their ancestors (nodes with a path to a seed) and descendants
 * (nodes a seed has a path to), at most `depth` edges away when given. Only
 * ancestors and descendants: a sibling (another output of an ancestor) is not.
 */
export function nodesAround(
  links: readonly Link[],
  adj: Adjacency,
  seeds: readonly string[],
  depth = Infinity,
): Set<string> {
  const keep = new Set<string>(seeds);
  for (const dir of ['in', 'out'] as const) {
    let frontier = [...seeds];
    const seen = new Set<string>(seeds);
    for (let level = 0; level < depth && frontier.length > 0; level++) {
      const next: string[] = [];
      for (const id of frontier) {
        for (const i of adj[dir].get(id) ?? []) {
          const e = links[i]!;
          const other = dir === 'in' ? e.from : e.to;
          if (seen.has(other)) continue;
          seen.add(other);
          keep.add(other);
          next.push(other);
        }
      }
      frontier = next;
    }
  }
  return keep;
}
