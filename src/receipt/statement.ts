import { canonicalBytes } from '../core/canonical-json.js';
import type { Digest } from '../core/digest.js';
import { digestBytes, digestHex } from '../core/digest.js';
import {
  PER_PREDICATE_TYPE,
  STATEMENT_TYPE,
  type ArtifactRef,
  type PerCore,
  type PerRun,
  type Statement,
  type Subject,
} from './types.js';
import { assertPerCore, assertPerRun, assertStatement } from './validate.js';

/** Code-unit order, the same order RFC 8785 uses for keys (locale-independent). */
function byKey<T>(key: (item: T) => string): (a: T, b: T) => number {
  return (a, b) => {
    const ka = key(a);
    const kb = key(b);
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  };
}

/**
 * Returns a copy of `core` with its set-like lists in a fixed order (inputs and
 * outputs by name, programs by root and path, watched roots by path), so the
 * order in which a capture happened to discover things never changes the
 * core digest. argv keeps its order: it is a sequence, not a set.
 */
export function normalizeCore<T extends PerCore>(core: T): T {
  const copy = structuredClone(core);
  copy.inputs.sort(byKey((a) => a.name));
  copy.outputs.sort(byKey((a) => a.name));
  if (copy.kind === 'command') {
    copy.program.sort(byKey((p) => `${p.root ?? ''}\0${p.path}`));
    copy.watched.sort(byKey((w) => w.path));
  }
  return copy;
}

/** The core digest: sha256 of the RFC 8785 canonical JSON of the core, as given. */
export function coreDigest(core: PerCore): Digest {
  return digestBytes(canonicalBytes(core));
}

function subjectsOf(outputs: readonly ArtifactRef[]): Subject[] {
  return outputs.map((o) => ({ name: o.name, digest: { sha256: digestHex(o.digest) } }));
}

/**
 * Builds the Statement for one step: validates core and run (every bad field
 * in one error), normalizes the core, computes its digest, and derives the
 * subject from the outputs. Throws AslError BAD_INPUT when there are no
 * outputs, because in-toto requires at least one subject (a command capture
 * always has its stdout and stderr logs).
 */
export function buildStatement(core: PerCore, run: PerRun): Statement {
  assertPerCore(core);
  assertPerRun(run);
  const normal = normalizeCore(core);
  const statement: Statement = {
    _type: STATEMENT_TYPE,
    subject: subjectsOf(normal.outputs),
    predicateType: PER_PREDICATE_TYPE,
    predicate: { core: normal, coreDigest: coreDigest(normal), run: structuredClone(run) },
  };
  assertStatement(statement);
  return statement;
}

/** The exact bytes that are signed: the canonical JSON of the statement. */
export function statementBytes(statement: Statement): Buffer {
  return canonicalBytes(statement);
}
