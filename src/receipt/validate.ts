import { isDigest } from '../core/digest.js';
import { AslError } from '../core/errors.js';
import {
  ARTIFACT_KINDS,
  ARTIFACT_ROLES,
  WATCH_REASONS,
  PER_PREDICATE_TYPE,
  STATEMENT_TYPE,
  STDIN_TYPES,
  REBUILD_ARTIFACT_KINDS,
  REBUILD_CORE_MATCHES,
  REBUILD_VERDICTS,
  type PerCore,
  type PerRun,
  type Statement,
} from './types.js';

/** One field that does not have the shape its type promises. */
export interface ShapeIssue {
  /** JSON path, e.g. `predicate.core.inputs[2].digest`. */
  path: string;
  expected: string;
  actual: string;
}

const HEX64 = /^[0-9a-f]{64}$/;
const HMAC = /^hmac-sha256:[0-9a-f]{64}$/;
const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'object') return 'an object';
  const text = JSON.stringify(value);
  return text.length > 80 ? `${typeof value} ${text.slice(0, 77)}...` : `${typeof value} ${text}`;
}

type Obj = Record<string, unknown>;

/** Collects every problem instead of stopping at the first. */
class Checker {
  readonly issues: ShapeIssue[] = [];

  fail(path: string, expected: string, value: unknown): void {
    this.issues.push({ path, expected, actual: describe(value) });
  }

  failText(path: string, expected: string, actual: string): void {
    this.issues.push({ path, expected, actual });
  }

  object(path: string, value: unknown): value is Obj {
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return true;
    this.fail(path, 'an object', value);
    return false;
  }

  array(path: string, value: unknown, nonEmpty = false): value is unknown[] {
    if (Array.isArray(value) && (!nonEmpty || value.length > 0)) return true;
    this.fail(path, nonEmpty ? 'a non-empty array' : 'an array', value);
    return false;
  }

  string(path: string, value: unknown, nonEmpty = true): value is string {
    if (typeof value === 'string' && (!nonEmpty || value.length > 0)) return true;
    this.fail(path, nonEmpty ? 'a non-empty string' : 'a string', value);
    return false;
  }

  optString(path: string, value: unknown): void {
    if (value !== undefined) this.string(path, value);
  }

  integer(path: string, value: unknown, min = 0): void {
    if (typeof value === 'number' && Number.isSafeInteger(value) && value >= min) return;
    this.fail(path, `an integer >= ${min}`, value);
  }

  optInteger(path: string, value: unknown): void {
    if (value !== undefined) this.integer(path, value);
  }

  boolean(path: string, value: unknown): void {
    if (typeof value !== 'boolean') this.fail(path, 'true or false', value);
  }

  literal(path: string, value: unknown, allowed: readonly unknown[]): void {
    if (!allowed.includes(value)) this.fail(path, allowed.map((a) => JSON.stringify(a)).join(' or '), value);
  }

  digest(path: string, value: unknown, nullable = false): void {
    if (isDigest(value) || (nullable && value === null)) return;
    this.fail(path, `sha256:<64 hex digits>${nullable ? ' or null' : ''}`, value);
  }

  time(path: string, value: unknown): void {
    if (typeof value === 'string' && RFC3339_UTC.test(value) && !Number.isNaN(Date.parse(value))) return;
    this.fail(path, 'an RFC 3339 UTC time (YYYY-MM-DDTHH:MM:SS.sssZ)', value);
  }

  uniqueNames(path: string, items: unknown[], key: string): void {
    const seen = new Set<unknown>();
    items.forEach((item, i) => {
      const name = (item as Obj | null)?.[key];
      if (typeof name !== 'string') return;
      if (seen.has(name)) this.fail(`${path}[${i}].${key}`, 'a name not used earlier in the list', name);
      seen.add(name);
    });
  }

  throwIfAny(what: string): void {
    if (this.issues.length === 0) return;
    const shown = this.issues.slice(0, 8).map((i) => `${i.path}: expected ${i.expected}, got ${i.actual}`);
    const more = this.issues.length > shown.length ? `; and ${this.issues.length - shown.length} more` : '';
    throw new AslError('BAD_INPUT', `${what} is malformed: ${shown.join('; ')}${more}`, {
      data: { issues: this.issues },
    });
  }
}

function checkArtifact(c: Checker, path: string, ref: unknown): void {
  if (!c.object(path, ref)) return;
  c.string(`${path}.name`, ref.name);
  c.literal(`${path}.role`, ref.role, ARTIFACT_ROLES);
  c.literal(`${path}.kind`, ref.kind, ARTIFACT_KINDS);
  c.digest(`${path}.digest`, ref.digest);
  c.optString(`${path}.path`, ref.path);
  c.optInteger(`${path}.size`, ref.size);
  if (ref.package !== undefined && c.object(`${path}.package`, ref.package)) {
    c.string(`${path}.package.name`, ref.package.name);
    c.string(`${path}.package.version`, ref.package.version);
    c.optString(`${path}.package.architecture`, ref.package.architecture);
  }
  if (ref.kind === 'package' && ref.package === undefined)
    c.fail(`${path}.package`, 'package name and version for kind "package"', undefined);
}

function checkArtifacts(c: Checker, path: string, list: unknown): void {
  if (!c.array(path, list)) return;
  list.forEach((ref, i) => {
    checkArtifact(c, `${path}[${i}]`, ref);
  });
  c.uniqueNames(path, list, 'name');
}

function checkCommandCore(c: Checker, p: string, core: Obj): void {
  if (c.object(`${p}.command`, core.command)) {
    const cmd = core.command;
    c.string(`${p}.command.shell`, cmd.shell, false);
    if (
      cmd.shellBase64 !== undefined &&
      (typeof cmd.shellBase64 !== 'string' ||
        Buffer.from(cmd.shellBase64, 'base64').toString('base64') !== cmd.shellBase64 ||
        cmd.shellBase64 === '')
    ) {
      c.fail(
        `${p}.command.shellBase64`,
        "the command's bytes in standard base64 (only when they are not UTF-8)",
        cmd.shellBase64,
      );
    }
    if (c.array(`${p}.command.argv`, cmd.argv, true))
      cmd.argv.forEach((a, i) => {
        c.string(`${p}.command.argv[${i}]`, a, false);
      });
    c.string(`${p}.command.cwd`, cmd.cwd);
  }
  if (c.array(`${p}.program`, core.program)) {
    core.program.forEach((prog, i) => {
      const q = `${p}.program[${i}]`;
      if (!c.object(q, prog)) return;
      c.string(`${q}.path`, prog.path);
      c.digest(`${q}.digest`, prog.digest);
      c.optString(`${q}.root`, prog.root);
      c.optString(`${q}.package`, prog.package);
      c.optString(`${q}.version`, prog.version);
    });
  }
  if (
    c.object(`${p}.environment`, core.environment) &&
    c.object(`${p}.environment.variables`, core.environment.variables)
  ) {
    for (const [name, v] of Object.entries(core.environment.variables)) {
      const q = `${p}.environment.variables[${JSON.stringify(name)}]`;
      if (!c.object(q, v)) continue;
      switch (v.mode) {
        case 'verbatim':
          c.string(`${q}.value`, v.value, false);
          break;
        case 'hashed':
          if (typeof v.hmac !== 'string' || !HMAC.test(v.hmac))
            c.fail(`${q}.hmac`, 'hmac-sha256:<64 hex digits>', v.hmac);
          break;
        case 'secret':
          if (Object.keys(v).length !== 1)
            c.fail(q, 'only {"mode":"secret"} (a secret keeps no value)', Object.keys(v).join(','));
          break;
        default:
          c.literal(`${q}.mode`, v.mode, ['verbatim', 'hashed', 'secret']);
      }
    }
  }
  if (core.stdin !== undefined && c.object(`${p}.stdin`, core.stdin)) {
    const q = `${p}.stdin`;
    c.literal(`${q}.type`, core.stdin.type, STDIN_TYPES);
    c.optString(`${q}.path`, core.stdin.path);
    c.optInteger(`${q}.size`, core.stdin.size);
    c.optInteger(`${q}.offset`, core.stdin.offset);
    if (core.stdin.hmac !== undefined && (typeof core.stdin.hmac !== 'string' || !HMAC.test(core.stdin.hmac)))
      c.fail(`${q}.hmac`, 'hmac-sha256:<64 hex digits>', core.stdin.hmac);
  }
  if (c.object(`${p}.exit`, core.exit)) {
    const exit = core.exit;
    switch (exit.kind) {
      case 'exited':
        c.integer(`${p}.exit.code`, exit.code);
        break;
      case 'signaled':
        c.string(`${p}.exit.signal`, exit.signal);
        c.integer(`${p}.exit.code`, exit.code, 129);
        break;
      default:
        c.literal(`${p}.exit.kind`, exit.kind, ['exited', 'signaled']);
    }
  }
  if (c.array(`${p}.watched`, core.watched)) {
    core.watched.forEach((w, i) => {
      const q = `${p}.watched[${i}]`;
      if (!c.object(q, w)) return;
      c.string(`${q}.path`, w.path);
      c.literal(`${q}.reason`, w.reason, WATCH_REASONS);
      c.digest(`${q}.before`, w.before, true);
      c.digest(`${q}.after`, w.after, true);
      c.integer(`${q}.added`, w.added);
      c.integer(`${q}.modified`, w.modified);
      c.integer(`${q}.removed`, w.removed);
      if (w.paths !== undefined) c.digest(`${q}.paths`, w.paths);
      if (w.excluded !== undefined && c.array(`${q}.excluded`, w.excluded)) {
        (w.excluded as unknown[]).forEach((e, j) => {
          c.string(`${q}.excluded[${j}]`, e);
        });
      }
    });
  }
  c.boolean(`${p}.traced`, core.traced);
}

const HEX64_KEYID = HEX64;
const FILE_CHANGES = ['added', 'removed', 'modified', 'metadata'];

function checkRebuildSide(c: Checker, p: string, side: unknown): void {
  if (!c.object(p, side)) return;
  c.digest(`${p}.receipt`, side.receipt);
  if (typeof side.keyId !== 'string' || !HEX64_KEYID.test(side.keyId))
    c.fail(`${p}.keyId`, '64 lowercase hex digits (a key id)', side.keyId);
  c.digest(`${p}.coreDigest`, side.coreDigest);
}

function checkStepRef(c: Checker, p: string, ref: unknown): void {
  if (!c.object(p, ref)) return;
  c.string(`${p}.step`, ref.step);
  c.integer(`${p}.occurrence`, ref.occurrence, 1);
}

/**
 * A verdict's shape, and that its summary agrees with its pairs: the counts, the
 * verdict and the first diverged step are derived from the pairs, so an edit to one
 * without the others is refused here (a re-signed forgery is the signature's business).
 */
function checkRebuildCore(c: Checker, p: string, core: Obj): void {
  c.literal(`${p}.verdict`, core.verdict, REBUILD_VERDICTS);
  c.optString(`${p}.until`, core.until);
  if (c.object(`${p}.against`, core.against)) {
    c.integer(`${p}.against.receipts`, core.against.receipts);
    c.digest(`${p}.against.last`, core.against.last, true);
  }
  if (c.array(`${p}.pathMap`, core.pathMap)) {
    core.pathMap.forEach((m, i) => {
      if (!c.object(`${p}.pathMap[${i}]`, m)) return;
      c.string(`${p}.pathMap[${i}].from`, m.from);
      c.string(`${p}.pathMap[${i}].to`, m.to);
    });
  }
  let reproducedPairs = 0;
  let firstBad: Obj | undefined;
  if (c.array(`${p}.pairs`, core.pairs)) {
    core.pairs.forEach((pair, i) => {
      const q = `${p}.pairs[${i}]`;
      if (!c.object(q, pair)) return;
      checkStepRef(c, q, pair);
      checkRebuildSide(c, `${q}.here`, pair.here);
      checkRebuildSide(c, `${q}.other`, pair.other);
      c.literal(`${q}.core`, pair.core, REBUILD_CORE_MATCHES);
      if (pair.coreFields !== undefined && c.array(`${q}.coreFields`, pair.coreFields))
        pair.coreFields.forEach((f, j) => {
          c.string(`${q}.coreFields[${j}]`, f);
        });
      c.boolean(`${q}.reproduced`, pair.reproduced);
      let artifactsEqual = true;
      if (c.array(`${q}.artifacts`, pair.artifacts)) {
        pair.artifacts.forEach((a, j) => {
          const r = `${q}.artifacts[${j}]`;
          if (!c.object(r, a)) return;
          c.string(`${r}.name`, a.name);
          c.literal(`${r}.kind`, a.kind, REBUILD_ARTIFACT_KINDS);
          c.digest(`${r}.here`, a.here, true);
          c.digest(`${r}.other`, a.other, true);
          if (a.here !== a.other) artifactsEqual = false;
        });
        c.uniqueNames(`${q}.artifacts`, pair.artifacts, 'name');
      }
      if (pair.reproduced === true && !artifactsEqual)
        c.failText(`${q}.reproduced`, 'false when an artifact differs', 'true');
      if (pair.reproduced === true) reproducedPairs++;
      else if (!firstBad) firstBad = pair;
    });
  }
  if (c.object(`${p}.unpaired`, core.unpaired)) {
    for (const side of ['here', 'other'] as const) {
      const list = core.unpaired[side];
      if (!c.array(`${p}.unpaired.${side}`, list)) continue;
      list.forEach((u, i) => {
        checkStepRef(c, `${p}.unpaired.${side}[${i}]`, u);
        if (typeof u === 'object' && u !== null) c.digest(`${p}.unpaired.${side}[${i}].receipt`, (u as Obj).receipt);
      });
    }
  }
  if (core.firstDiverged !== null && c.object(`${p}.firstDiverged`, core.firstDiverged)) {
    const f = core.firstDiverged;
    checkStepRef(c, `${p}.firstDiverged`, f);
    c.integer(`${p}.firstDiverged.moreFiles`, f.moreFiles);
    if (c.array(`${p}.firstDiverged.files`, f.files)) {
      f.files.forEach((file, i) => {
        const r = `${p}.firstDiverged.files[${i}]`;
        if (!c.object(r, file)) return;
        c.string(`${r}.artifact`, file.artifact);
        c.string(`${r}.path`, file.path, false);
        c.literal(`${r}.change`, file.change, FILE_CHANGES);
        if (file.fields !== undefined && c.array(`${r}.fields`, file.fields))
          file.fields.forEach((x, j) => {
            c.string(`${r}.fields[${j}]`, x);
          });
        if (file.here !== undefined) c.digest(`${r}.here`, file.here);
        if (file.other !== undefined) c.digest(`${r}.other`, file.other);
      });
    }
  }
  if (c.object(`${p}.counts`, core.counts)) {
    const n = core.counts;
    for (const k of ['pairs', 'reproduced', 'diverged', 'unpairedHere', 'unpairedOther'])
      c.integer(`${p}.counts.${k}`, n[k]);
    if (c.issues.length > 0) return;
    const pairs = core.pairs as Obj[];
    const un = core.unpaired as { here: unknown[]; other: unknown[] };
    const derived = {
      pairs: pairs.length,
      reproduced: reproducedPairs,
      diverged: pairs.length - reproducedPairs,
      unpairedHere: un.here.length,
      unpairedOther: un.other.length,
    };
    for (const [k, v] of Object.entries(derived))
      if (n[k] !== v) c.fail(`${p}.counts.${k}`, `${v} (derived from the pairs)`, n[k]);
    const verdict = pairs.length > 0 && reproducedPairs === pairs.length ? 'reproduced' : 'diverged';
    if (core.verdict !== verdict) c.fail(`${p}.verdict`, `"${verdict}" (derived from the pairs)`, core.verdict);
    const fd = core.firstDiverged as Obj | null;
    if (
      (fd === null) !== (firstBad === undefined) ||
      (fd && firstBad && (fd.step !== firstBad.step || fd.occurrence !== firstBad.occurrence))
    ) {
      c.failText(
        `${p}.firstDiverged`,
        firstBad
          ? `step ${String(firstBad.step)} #${String(firstBad.occurrence)} (the first pair not reproduced)`
          : 'null (every pair reproduced)',
        fd ? `step ${String(fd.step)} #${String(fd.occurrence)}` : 'null',
      );
    }
  }
}

function checkCore(c: Checker, p: string, core: unknown): void {
  if (!c.object(p, core)) return;
  c.string(`${p}.step`, core.step);
  checkArtifacts(c, `${p}.inputs`, core.inputs);
  checkArtifacts(c, `${p}.outputs`, core.outputs);
  switch (core.kind) {
    case 'command':
      checkCommandCore(c, p, core);
      break;
    case 'ingest':
      if (c.object(`${p}.source`, core.source)) {
        c.string(`${p}.source.path`, core.source.path);
        c.literal(`${p}.source.type`, core.source.type, ['file', 'directory', 'symlink']);
        c.integer(`${p}.source.mode`, core.source.mode);
      }
      break;
    case 'rebuild':
      checkRebuildCore(c, p, core);
      break;
    default:
      c.literal(`${p}.kind`, core.kind, ['command', 'ingest', 'rebuild']);
  }
}

function checkRun(c: Checker, p: string, run: unknown): void {
  if (!c.object(p, run)) return;
  c.time(`${p}.startedOn`, run.startedOn);
  c.time(`${p}.finishedOn`, run.finishedOn);
  c.integer(`${p}.durationMs`, run.durationMs);
  if (c.object(`${p}.host`, run.host)) {
    c.string(`${p}.host.hostname`, run.host.hostname);
    c.string(`${p}.host.kernel`, run.host.kernel);
    c.string(`${p}.host.arch`, run.host.arch);
  }
  if (c.object(`${p}.asl`, run.asl)) c.string(`${p}.asl.version`, run.asl.version);
  if (c.object(`${p}.user`, run.user)) {
    c.integer(`${p}.user.uid`, run.user.uid);
    c.integer(`${p}.user.gid`, run.user.gid);
  }
  c.optInteger(`${p}.peakRssBytes`, run.peakRssBytes);
  c.optString(`${p}.invocationId`, run.invocationId);
}

function checkStatement(c: Checker, st: unknown): void {
  if (!c.object('statement', st)) return;
  c.literal('_type', st._type, [STATEMENT_TYPE]);
  c.literal('predicateType', st.predicateType, [PER_PREDICATE_TYPE]);
  if (c.array('subject', st.subject, true)) {
    st.subject.forEach((s, i) => {
      if (!c.object(`subject[${i}]`, s)) return;
      c.string(`subject[${i}].name`, s.name);
      if (c.object(`subject[${i}].digest`, s.digest)) {
        const hex = s.digest.sha256;
        if (typeof hex !== 'string' || !HEX64.test(hex))
          c.fail(`subject[${i}].digest.sha256`, '64 lowercase hex digits', hex);
      }
    });
  }
  if (c.object('predicate', st.predicate)) {
    checkCore(c, 'predicate.core', st.predicate.core);
    c.digest('predicate.coreDigest', st.predicate.coreDigest);
    checkRun(c, 'predicate.run', st.predicate.run);
    if (c.issues.length === 0)
      checkSubjectsAreOutputs(c, st.subject as Obj[], (st.predicate.core as Obj).outputs as Obj[]);
  }
}

/** The subject list is derived from the outputs; a mismatch means one of them was edited. */
function checkSubjectsAreOutputs(c: Checker, subject: Obj[], outputs: Obj[]): void {
  const fromOutputs = outputs.map((o) => `${String(o.name)} ${String(o.digest).slice(7)}`).sort();
  const fromSubject = subject.map((s) => `${String(s.name)} ${String((s.digest as Obj).sha256)}`).sort();
  if (fromOutputs.join('\n') !== fromSubject.join('\n')) {
    c.failText(
      'subject',
      `one entry per output (${fromOutputs.length}: names and digests of predicate.core.outputs)`,
      `${fromSubject.length} entries that differ from the outputs`,
    );
  }
}

export function assertPerCore(value: unknown, what = 'receipt core'): asserts value is PerCore {
  const c = new Checker();
  checkCore(c, 'core', value);
  c.throwIfAny(what);
}

export function assertPerRun(value: unknown, what = 'receipt run details'): asserts value is PerRun {
  const c = new Checker();
  checkRun(c, 'run', value);
  c.throwIfAny(what);
}

/** Checks a whole Statement; the error lists every bad field (data.issues). */
export function assertStatement(value: unknown, what = 'statement'): asserts value is Statement {
  const c = new Checker();
  checkStatement(c, value);
  c.throwIfAny(what);
}
