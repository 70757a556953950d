import type { Digest } from '../core/digest.js';

/**
 * The shapes of an ASL execution receipt (PER). A receipt is an in-toto
 * Statement v1 whose predicate is a PER; docs/receipt-format.md is the prose
 * version of this file. Every field here is checked by the validators in
 * validate.ts, which accept exactly what these types allow.
 */

export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
/** ASL's predicate type. A URI that names the format; it need not resolve. */
export const PER_PREDICATE_TYPE = 'https://asl.dev/per/v1';
/** The DSSE payload type in-toto uses for Statements. */
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';

/** An in-toto ResourceDescriptor as ASL writes it: a name and a sha256 digest (hex). */
export interface Subject {
  name: string;
  digest: { sha256: string };
}

export interface Statement {
  _type: typeof STATEMENT_TYPE;
  /** The step's outputs; never empty (in-toto requires at least one subject). */
  subject: Subject[];
  predicateType: typeof PER_PREDICATE_TYPE;
  predicate: PerPredicate;
}

export interface PerPredicate {
  /** What the step was: the same for two runs that did the same thing. */
  core: PerCore;
  /** `sha256:` of the RFC 8785 canonical JSON of `core`. */
  coreDigest: Digest;
  /** How this particular run went: times, host, resources. Not part of coreDigest. */
  run: PerRun;
}

// ---------------------------------------------------------------------------
// Artifacts a step touched

export const ARTIFACT_KINDS = ['blob', 'tree', 'receipt', 'package', 'log', 'paths'] as const;
/**
 * - blob: a file's bytes; tree: a directory snapshot (tree object id);
 * - receipt: another receipt (its id), e.g. PERs found in an input folder;
 * - package: a Debian package file (.deb) with `package` filled;
 * - log: captured stdout / stderr;
 * - paths: an artifact listing paths (e.g. the full change list of a watched root).
 */
export type ArtifactKind = (typeof ARTIFACT_KINDS)[number];

export const ARTIFACT_ROLES = [
  'declared', // named on the command line (--input, --artifact-inputs, --output)
  'watched', // snapshot of a watched root (before: input, after: output)
  'observed', // found by --trace: read by the process tree, declared by nobody
  'downloaded', // a package fetched during the step: a .deb that appeared in apt's or debootstrap's archive cache
  'product', // a file the step wrote in a watched root (a .deb it built is one, of kind package)
  'program', // an executable the command ran (also listed in `program`)
  'stdout',
  'stderr',
  'changes', // the full list of paths a watched root gained, changed or lost
  'source', // the file or directory an ingest step took in
] as const;
export type ArtifactRole = (typeof ARTIFACT_ROLES)[number];

export interface PackageInfo {
  name: string;
  version: string;
  architecture?: string;
}

export interface ArtifactRef {
  /** Unique within its list; for outputs it is also the subject name. Usually the path. */
  name: string;
  role: ArtifactRole;
  kind: ArtifactKind;
  digest: Digest;
  /** Host path the artifact was read from or written to, when it has one. */
  path?: string;
  /** Bytes (blob, log, package) or total bytes of regular files (tree). */
  size?: number;
  package?: PackageInfo;
}

// ---------------------------------------------------------------------------
// Program, environment, exit

export interface ProgramRef {
  /** Absolute path as resolved through PATH (inside `root` when set). */
  path: string;
  digest: Digest;
  /** The root the path is relative to when the program ran in a chroot. */
  root?: string;
  /** Debian package and version owning the file, when dpkg knows it. */
  package?: string;
  version?: string;
}

/**
 * One environment variable as recorded. `verbatim` keeps the value (allowlisted
 * names); `hashed` keeps an HMAC-SHA256 of the value under the store's
 * environment key (so two runs compare equal without revealing the value);
 * `secret` keeps only the fact that the name was set.
 */
export type EnvValue = { mode: 'verbatim'; value: string } | { mode: 'hashed'; hmac: string } | { mode: 'secret' };

export interface EnvironmentRecord {
  variables: Record<string, EnvValue>;
}

/** `code` is what asl-capture exits with: the status, or 128+N for signal N. */
export type ExitStatus = { kind: 'exited'; code: number } | { kind: 'signaled'; signal: string; code: number };

export const WATCH_REASONS = ['flag', 'auto', 'cwd'] as const;
export type WatchReason = (typeof WATCH_REASONS)[number];

/** What happened to one watched root during the step. */
export interface WatchedRoot {
  path: string;
  /** Why it was watched: named by --watch, found on the command line, or the working directory. */
  reason: WatchReason;
  /** Tree (or blob) id before and after; null when the path did not exist. */
  before: Digest | null;
  after: Digest | null;
  added: number;
  modified: number;
  removed: number;
  /** Artifact listing every changed path (absent when nothing changed). */
  paths?: Digest;
  /**
   * Paths inside the root its snapshots left out (the store, the outdir, the file asl's
   * own output went to): its trees say nothing of them. Absent when none.
   */
  excluded?: string[];
}

export interface CommandSpec {
  /** The --cmd string exactly as given (bytes that are not UTF-8 shown as U+FFFD: see shellBase64). */
  shell: string;
  /** The --cmd bytes, base64, present only when they are not UTF-8: what ran, byte for byte. */
  shellBase64?: string;
  /** What was executed, e.g. ['/bin/sh', '-c', shell]. */
  argv: string[];
  cwd: string;
}

// ---------------------------------------------------------------------------
// The deterministic core, a tagged union on `kind`

export const STDIN_TYPES = ['terminal', 'pipe', 'file', 'null', 'socket', 'device', 'closed'] as const;

/**
 * What the command's standard input was. Its bytes are never stored: a secret is
 * often fed that way (`--password-stdin`). A regular file is named, with its size,
 * the offset the command started reading at, and a keyed hash of its bytes from
 * there (as for hashed environment values); give the file with `--input` too to
 * make it an artifact.
 */
export interface StdinRecord {
  type: (typeof STDIN_TYPES)[number];
  /** A regular file's path (as the kernel names the open file). */
  path?: string;
  size?: number;
  /** Where the command's reading starts, when not at 0. */
  offset?: number;
  /** `hmac-sha256:` + HMAC-SHA256(environment key, the bytes from offset to end). */
  hmac?: string;
}

export interface CommandCore {
  kind: 'command';
  step: string;
  command: CommandSpec;
  program: ProgramRef[];
  inputs: ArtifactRef[];
  outputs: ArtifactRef[];
  environment: EnvironmentRecord;
  /** Absent in receipts written before ASL recorded it. */
  stdin?: StdinRecord;
  exit: ExitStatus;
  watched: WatchedRoot[];
  /** True when the inputs include what --trace observed. */
  traced: boolean;
}

export interface IngestSource {
  path: string;
  type: 'file' | 'directory' | 'symlink';
  /** Full st_mode permission bits (including setuid/setgid/sticky). */
  mode: number;
}

export interface IngestCore {
  kind: 'ingest';
  step: string;
  source: IngestSource;
  inputs: ArtifactRef[];
  outputs: ArtifactRef[];
}

// ---------------------------------------------------------------------------
// A rebuild verdict: one history compared with an earlier one (`asl rebuild-check`)

export const REBUILD_VERDICTS = ['reproduced', 'diverged'] as const;
export type RebuildVerdict = (typeof REBUILD_VERDICTS)[number];

/**
 * How the two cores of a paired step compare: the same core digest; the same after
 * the other history's paths were rewritten by the path map; or different (see coreFields).
 */
export const REBUILD_CORE_MATCHES = ['identical', 'mapped', 'differs'] as const;
export type RebuildCoreMatch = (typeof REBUILD_CORE_MATCHES)[number];

/** One side of a paired step: the receipt, the key whose signature verified it, its core digest. */
export interface RebuildSide {
  receipt: Digest;
  keyId: string;
  coreDigest: Digest;
}

export const REBUILD_ARTIFACT_KINDS = ['tree', 'blob', 'package'] as const;

/** One recorded tree or file of a paired step, compared by id. */
export interface RebuildArtifact {
  /** `watched PATH` (a watched root's after-state) or `output NAME`, in the comparing history's paths. */
  name: string;
  kind: (typeof REBUILD_ARTIFACT_KINDS)[number];
  /** The id in the comparing history (`here`) and in the other one; null when that side has none. */
  here: Digest | null;
  other: Digest | null;
}

export interface RebuildPair {
  step: string;
  /** 1 for the first receipt of this step name in log order, 2 for the second, ... */
  occurrence: number;
  here: RebuildSide;
  other: RebuildSide;
  core: RebuildCoreMatch;
  /** Top-level core fields that differ after the path map (present when core is "differs"). */
  coreFields?: string[];
  artifacts: RebuildArtifact[];
  /** Every artifact has the same id on both sides and the exit status is the same. */
  reproduced: boolean;
}

/** A step of one history that has no partner in the other. */
export interface RebuildUnpaired {
  step: string;
  occurrence: number;
  receipt: Digest;
}

/** One path that differs inside the first diverged step's artifacts (`asl diff` terms). */
export interface RebuildFile {
  /** The artifact it belongs to (RebuildArtifact.name). */
  artifact: string;
  /** Path inside the tree ("" for the root itself, or for an artifact that is a file). */
  path: string;
  change: 'added' | 'removed' | 'modified' | 'metadata';
  /** modified / metadata: what differs (content, mode, owner, ...). */
  fields?: string[];
  /** The file's content id on each side, for regular files. */
  here?: Digest;
  other?: Digest;
}

export interface RebuildCore {
  kind: 'rebuild';
  /** Always "rebuild-check". */
  step: string;
  verdict: RebuildVerdict;
  /** The other history: how many receipts it logged and the last one, when the comparison read it. */
  against: { receipts: number; last: Digest | null };
  /**
   * With `--until STEP`: only the receipts up to the last one of STEP in each log were
   * compared (a later step, such as an ISO that carries each builder's own history, is not judged).
   */
  until?: string;
  /** Prefix rewrites applied to the other history's paths (its work directory -> this one's). */
  pathMap: Array<{ from: string; to: string }>;
  /** Paired steps, in this history's log order. */
  pairs: RebuildPair[];
  unpaired: { here: RebuildUnpaired[]; other: RebuildUnpaired[] };
  /** The first pair (in this history's log order) that was not reproduced; null when none. */
  firstDiverged: { step: string; occurrence: number; files: RebuildFile[]; moreFiles: number } | null;
  counts: { pairs: number; reproduced: number; diverged: number; unpairedHere: number; unpairedOther: number };
  /** Always empty: the other history's receipts are named in pairs, not as inputs (see docs/rebuild-check.md). */
  inputs: ArtifactRef[];
  /** The full comparison report (JSON blob), the statement's subject. */
  outputs: ArtifactRef[];
}

export type PerCore = CommandCore | IngestCore | RebuildCore;
export type StepKind = PerCore['kind'];

// ---------------------------------------------------------------------------
// Run details

export interface PerRun {
  /** RFC 3339 UTC times, e.g. 2024-05-01T12:00:00.000Z. */
  startedOn: string;
  finishedOn: string;
  durationMs: number;
  host: { hostname: string; kernel: string; arch: string };
  asl: { version: string };
  user: { uid: number; gid: number };
  /** Peak resident set size of the command's process tree, bytes. */
  peakRssBytes?: number;
  /** Random id of this run, so two otherwise identical runs stay distinct. */
  invocationId?: string;
}
