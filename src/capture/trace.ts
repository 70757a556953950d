import { createReadStream } from 'node:fs';
import { lstat, open, realpath, stat } from 'node:fs/promises';
import { posix } from 'node:path';
import { createInterface } from 'node:readline';
import { hostPathIn, resolveInRoot } from './program.js';

/**
 * `--trace`: which files did the command's process tree read?
 *
 * The command runs under strace (Debian package `strace`), which writes one
 * line per traced system call of every process (-f). With -y strace prints,
 * next to every file descriptor, the path the kernel has for it, read from
 * /proc by strace itself, so it is the *host* path even for a process in a
 * chroot, relative paths and symlinks already resolved. The parser keeps each
 * process's cwd and root (inherited over fork/clone, shared with CLONE_FS,
 * changed by chdir, fchdir, chroot) for what has no descriptor: execve's path.
 *
 * Counted as read: a successful open/openat/openat2 whose access mode is
 * O_RDONLY, without O_CREAT, O_TRUNC, O_PATH or O_TMPFILE, plus every program
 * successfully executed (and, in resolveTrace, the interpreter the kernel
 * loads for it: the ELF PT_INTERP or the `#!` line). Files opened O_RDWR are
 * being changed: they belong to outputs, not observed inputs. Nothing at or
 * below /proc, /sys, /dev or /run (on the host or inside the process's root)
 * is kept. Directories opened for listing are reported apart.
 * Limits: docs/capture-rules.md, "Trace".
 */

/** Syscalls traced. `?` lets strace skip names this architecture lacks. */
const TRACED_SYSCALLS = [
  '?open',
  'openat',
  '?openat2',
  'execve',
  'execveat',
  'chdir',
  'fchdir',
  'chroot',
  'clone',
  '?clone3',
  '?fork',
  '?vfork',
  '?rename',
  'renameat',
  '?renameat2',
];

export interface StraceOptions {
  /** The strace binary (default: `strace` from PATH). */
  strace?: string;
}

/**
 * strace's argv, to be followed by the traced command's argv. Trace lines go
 * to `outputFile`, never to the command's stdout or stderr.
 * --seccomp-bpf stops the tracee only at the traced syscalls (much cheaper than
 * plain ptrace); verbose=!execve keeps argv and environment out of the trace
 * (an environment can hold secrets).
 */
export function straceArgv(outputFile: string, opts: StraceOptions = {}): string[] {
  return [
    opts.strace ?? 'strace',
    '-f',
    '-qq',
    '--seccomp-bpf',
    '-y',
    '-s',
    '4096',
    '-e',
    `trace=${TRACED_SYSCALLS.join(',')}`,
    '-e',
    'signal=none',
    '-e',
    'verbose=!execve,execveat',
    '-o',
    outputFile,
    '--',
  ];
}

/** A path as exact bytes and as text (UTF-8; lossy only for names that are not UTF-8). */
export interface TracedPath {
  path: string;
  pathBytes: Buffer;
}

export interface TracedExec extends TracedPath {
  /** Host path of the root the program was executed in ('/' outside a chroot). */
  root: string;
  /** The executed path inside that root, lexically resolved (symlinks not followed). */
  inRoot: string;
}

export interface TraceResult {
  /** Files opened read-only, host paths as the kernel reported them. Deduplicated. */
  reads: TracedPath[];
  /** Files opened for writing (O_WRONLY, O_RDWR, O_CREAT, O_TRUNC) or renamed onto: host paths. Deduplicated. */
  writes: TracedPath[];
  /** Programs executed successfully. Deduplicated. */
  execs: TracedExec[];
  /** Opened with O_DIRECTORY (a listing was read). */
  directories: TracedPath[];
  /** Host paths of every root a process chrooted into. */
  roots: string[];
  /** Processes seen. */
  processes: number;
  /** Lines that were not understood (a different strace version, a torn last line). */
  unparsed: number;
}

export interface ParseOptions {
  /** The cwd the traced command started in. */
  cwd: string;
}

const PSEUDO = ['/proc', '/sys', '/dev', '/run'];

interface FsState {
  cwd: string;
  root: string;
  /** After chroot + chdir("/"): the next AT_FDCWD decoration names the real root. */
  cwdIsRoot: boolean;
}

/**
 * Streaming parser of `strace -f -y` output. Feed lines in order with push(),
 * then call end(). Paths are held internally as binary strings (one char per
 * byte), so names that are not UTF-8 survive exactly.
 */
export class StraceParser {
  private readonly procs = new Map<number, FsState>();
  private readonly waiting = new Map<number, string[]>();
  private readonly unfinished = new Map<number, string>();
  private readonly reads = new Set<string>();
  private readonly writes = new Set<string>();
  private readonly dirs = new Set<string>();
  private readonly execs = new Map<string, { root: string; inRoot: string; host: string }>();
  private readonly roots = new Set<string>();
  private first = true;
  private unparsed = 0;
  private readonly initialCwd: string;

  constructor(opts: ParseOptions) {
    this.initialCwd = toBinary(opts.cwd);
  }

  push(line: string): void {
    const m = /^(\d+)\s+(.*)$/s.exec(line);
    if (!m) {
      if (line.trim() !== '') this.unparsed++;
      return;
    }
    const pid = Number(m[1]);
    let rest = m[2]!;
    if (rest.startsWith('+++') || rest.startsWith('---')) return;
    if (rest.startsWith('<... ')) {
      const r = /^<\.\.\. [\w?]+ resumed>(.*)$/s.exec(rest);
      const head = this.unfinished.get(pid);
      this.unfinished.delete(pid);
      if (!r || head === undefined) {
        this.unparsed++;
        return;
      }
      rest = head + r[1]!;
    } else if (rest.endsWith(' <unfinished ...>')) {
      this.unfinished.set(pid, rest.slice(0, -' <unfinished ...>'.length));
      return;
    }
    if (this.first) {
      this.first = false;
      this.procs.set(pid, { cwd: this.initialCwd, root: '/', cwdIsRoot: false });
    }
    if (!this.procs.has(pid)) {
      // A child whose fork has not returned in the parent yet: wait for it.
      const q = this.waiting.get(pid) ?? [];
      q.push(rest);
      this.waiting.set(pid, q);
      return;
    }
    this.syscall(pid, rest);
  }

  end(): TraceResult {
    // Children whose parent's fork never showed: best effort with the start state.
    for (const [pid, lines] of [...this.waiting]) {
      if (this.procs.has(pid)) continue;
      this.procs.set(pid, { cwd: this.initialCwd, root: '/', cwdIsRoot: false });
      this.waiting.delete(pid);
      for (const l of lines) this.syscall(pid, l);
    }
    const sortBin = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
    return {
      reads: [...this.reads].sort(sortBin).map(fromBinary),
      writes: [...this.writes].sort(sortBin).map(fromBinary),
      directories: [...this.dirs].sort(sortBin).map(fromBinary),
      execs: [...this.execs.values()]
        .sort((a, b) => sortBin(a.host, b.host))
        .map((e) => ({ ...fromBinary(e.host), root: fromBinary(e.root).path, inRoot: fromBinary(e.inRoot).path })),
      roots: [...this.roots].sort(sortBin).map((r) => fromBinary(r).path),
      processes: this.procs.size,
      unparsed: this.unparsed,
    };
  }

  private syscall(pid: number, text: string): void {
    const open = text.indexOf('(');
    if (open <= 0) {
      this.unparsed++;
      return;
    }
    const name = text.slice(0, open);
    // Fast path for the most common line, a failed open (the dynamic loader and
    // PATH searches probe many paths): only its cwd decoration is of use.
    const tail = text.lastIndexOf(') = -');
    if (tail > 0 && /^\) = -\d+ [A-Z]/.test(text.slice(tail, tail + 8)) && name.startsWith('open')) {
      const at = text.indexOf('AT_FDCWD<', open);
      if (at > 0 && at < tail) {
        const close = text.indexOf('>', at);
        if (close > 0) this.sawCwd(this.procs.get(pid)!, unescapeC(text.slice(at + 9, close)));
      }
      return;
    }
    const parsed = splitArgs(text, open + 1);
    if (!parsed) {
      this.unparsed++;
      return;
    }
    const { args, end } = parsed;
    const eq = text.indexOf('=', end + 1);
    if (eq < 0 || text.slice(end + 1, eq).trim() !== '') {
      this.unparsed++;
      return;
    }
    const result = text.slice(eq + 1).trimStart();
    const fs = this.procs.get(pid)!;
    for (const a of args) {
      if (a.startsWith('AT_FDCWD<')) this.sawCwd(fs, decoration(a));
    }
    const code = /^(-?\d+)/.exec(result);
    if (!code || Number(code[1]) < 0) return; // failed or interrupted
    const value = Number(code[1]);

    switch (name) {
      case 'open':
      case 'openat':
      case 'openat2': {
        const flagsArg = name === 'open' ? args[1] : args[2];
        const flagText = name === 'openat2' ? (/flags=([^,}]*)/.exec(flagsArg ?? '')?.[1] ?? '') : (flagsArg ?? '');
        const flags = new Set(flagText.split('|').map((f) => f.trim()));
        if (flags.has('O_PATH') || flags.has('O_TMPFILE')) return;
        const writing = !flags.has('O_RDONLY') || flags.has('O_CREAT') || flags.has('O_TRUNC');
        let path = decoration(result);
        if (path === null) {
          const p = quoted(name === 'open' ? args[0] : args[1]);
          if (p === null) return;
          path = this.resolve(fs, name === 'open' ? null : args[0]!, p);
        }
        if (!path.startsWith('/') || path.endsWith(' (deleted)') || this.pseudo(fs, path)) return;
        (writing ? this.writes : flags.has('O_DIRECTORY') ? this.dirs : this.reads).add(path);
        return;
      }
      case 'rename':
      case 'renameat':
      case 'renameat2': {
        // The new name holds what was written under the old one (write to a temporary file, rename into place).
        if (value !== 0) return;
        const p = quoted(name === 'rename' ? args[1] : args[3]);
        if (p === null) return;
        const path = this.resolve(fs, name === 'rename' ? null : args[2]!, p);
        if (!path.startsWith('/') || this.pseudo(fs, path)) return;
        this.writes.add(path);
        return;
      }
      case 'execve':
      case 'execveat': {
        if (value !== 0) return;
        let p = quoted(name === 'execve' ? args[0] : args[1]);
        if (p === null) return;
        if (name === 'execveat' && p === '' && args[0]) {
          const d = decoration(args[0]);
          if (d === null) return;
          p = d;
          this.addExec(fs, '/', d); // an fd's path is already a host path
          return;
        }
        const base = name === 'execveat' && !p.startsWith('/') ? decoration(args[0] ?? '') : null;
        const host = base !== null ? posix.resolve(base, p) : this.resolve(fs, null, p);
        if (base !== null) {
          this.addExec(fs, '/', host);
          return;
        }
        const inRoot = fs.root === '/' ? host : isWithin(host, fs.root) ? host.slice(fs.root.length) || '/' : null;
        if (inRoot === null) return;
        this.addExec(fs, fs.root, inRoot);
        return;
      }
      case 'chdir': {
        const p = quoted(args[0]);
        if (p === null) return;
        fs.cwd = this.resolve(fs, null, p);
        fs.cwdIsRoot = fs.root !== '/' && fs.cwd === fs.root;
        return;
      }
      case 'fchdir': {
        const d = decoration(args[0] ?? '');
        if (d !== null) {
          fs.cwd = d;
          fs.cwdIsRoot = false;
        }
        return;
      }
      case 'chroot': {
        const p = quoted(args[0]);
        if (p === null) return;
        fs.root = this.resolve(fs, null, p);
        fs.cwdIsRoot = false;
        this.roots.add(fs.root);
        return;
      }
      case 'clone':
      case 'clone3':
      case 'fork':
      case 'vfork': {
        if (value <= 0) return;
        const flags = /flags=([^,}]*)/.exec(args.join(', '))?.[1] ?? '';
        const shared = flags.split('|').includes('CLONE_FS');
        this.spawned(value, shared ? fs : { ...fs });
        return;
      }
      default:
        return;
    }
  }

  private spawned(pid: number, fs: FsState): void {
    if (this.procs.has(pid)) return;
    this.procs.set(pid, fs);
    const q = this.waiting.get(pid);
    if (!q) return;
    this.waiting.delete(pid);
    for (const l of q) this.syscall(pid, l);
  }

  private addExec(fs: FsState, root: string, inRoot: string): void {
    const host = hostPathIn(root === '/' ? null : root, inRoot);
    if (this.pseudo(fs, host)) return;
    this.execs.set(`${root}\0${inRoot}`, { root, inRoot, host });
  }

  /** The kernel's cwd for this process, printed next to AT_FDCWD. */
  private sawCwd(fs: FsState, cwd: string | null): void {
    if (cwd === null || !cwd.startsWith('/')) return;
    if (fs.cwdIsRoot && fs.root !== cwd) {
      // chroot(8) chdirs to "/" right after chroot(): this is the root's real path.
      this.roots.delete(fs.root);
      fs.root = cwd;
      this.roots.add(cwd);
    }
    fs.cwdIsRoot = false;
    fs.cwd = cwd;
  }

  /** Host path of `path` as process `fs` names it (relative to dirfd, its cwd, inside its root). */
  private resolve(fs: FsState, dirfd: string | null, path: string): string {
    if (path.startsWith('/')) return hostPathIn(fs.root === '/' ? null : fs.root, posix.normalize(path));
    const base = (dirfd !== null && !dirfd.startsWith('AT_FDCWD') ? decoration(dirfd) : null) ?? fs.cwd;
    return posix.resolve(base, path);
  }

  private pseudo(fs: FsState, host: string): boolean {
    if (PSEUDO.some((p) => isWithin(host, p))) return true;
    if (fs.root !== '/' && isWithin(host, fs.root)) {
      const inRoot = host.length === fs.root.length ? '/' : host.slice(fs.root.length);
      return PSEUDO.some((p) => isWithin(inRoot, p));
    }
    return false;
  }
}

/** Parses a whole strace output file, streaming. */
export async function parseStraceFile(file: string, opts: ParseOptions): Promise<TraceResult> {
  const parser = new StraceParser(opts);
  const rl = createInterface({ input: createReadStream(file, { encoding: 'latin1' }), crlfDelay: Infinity });
  for await (const line of rl) parser.push(line);
  return parser.end();
}

export interface TracedFile extends TracedPath {
  /** How the process tree used it. */
  how: 'read' | 'exec' | 'interpreter';
}

export interface TracedInputs {
  /** Regular files read or executed, host paths with symlinks resolved, sorted, deduplicated. */
  files: TracedFile[];
  /** Read during the run but gone by now (temporary files). */
  missing: TracedPath[];
  /** Files left out because they lie in `exclude` (e.g. inside watched roots). */
  excluded: number;
  /**
   * Regular files the process tree wrote (or renamed into place) that exist after
   * the run, outside `exclude`: the step's products. A file both read and written is
   * here only: what it held before the run is not known from the trace.
   */
  written: TracedPath[];
}

export interface ResolveTraceOptions {
  /** Host paths whose files are not reported (watched roots, the store, the outdir). */
  exclude?: readonly string[];
  /** Also report the ELF interpreter / `#!` interpreter of executed files (default true). */
  interpreters?: boolean;
}

/**
 * Turns a parsed trace into the files to record: executed paths are resolved
 * inside their root (absolute symlinks stay in the root), interpreters are
 * added, and only what is a regular file now is kept.
 */
export async function resolveTrace(trace: TraceResult, opts: ResolveTraceOptions = {}): Promise<TracedInputs> {
  const exclude = (opts.exclude ?? []).map((p) => posix.resolve(p));
  const files = new Map<string, TracedFile>();
  const missing = new Map<string, TracedPath>();
  let excluded = 0;

  const add = async (p: TracedPath, how: TracedFile['how']): Promise<boolean> => {
    const key = p.pathBytes.toString('latin1');
    const known = files.get(key);
    if (known) {
      if (known.how === 'read') known.how = how; // executing says more than reading
      return true;
    }
    if (exclude.some((e) => isWithin(p.path, e))) {
      excluded++;
      return false;
    }
    try {
      const st = await stat(p.pathBytes);
      if (!st.isFile()) return false;
    } catch {
      missing.set(key, p);
      return false;
    }
    files.set(key, { ...p, how });
    return true;
  };

  const written: TracedPath[] = [];
  const writtenKeys = new Set(trace.writes.map((w) => w.pathBytes.toString('latin1')));
  for (const w of trace.writes) {
    if (exclude.some((e) => isWithin(w.path, e))) continue;
    try {
      if ((await lstat(w.pathBytes)).isFile()) written.push(w);
    } catch {
      /* written, then removed or renamed away: not a product */
    }
  }
  for (const r of trace.reads) if (!writtenKeys.has(r.pathBytes.toString('latin1'))) await add(r, 'read');
  const realRoots = new Map<string, string>();
  for (const e of trace.execs) {
    let root = realRoots.get(e.root);
    if (root === undefined) {
      root = await realpath(e.root).catch(() => e.root);
      realRoots.set(e.root, root);
    }
    let inRoot = e.inRoot;
    for (let depth = 0; depth < 4; depth++) {
      let real: string;
      try {
        real = await resolveInRoot(root, inRoot);
      } catch {
        missing.set(e.pathBytes.toString('latin1'), { path: e.path, pathBytes: e.pathBytes });
        break;
      }
      const host = hostPathIn(root === '/' ? null : root, real);
      const ok = await add({ path: host, pathBytes: Buffer.from(host) }, depth === 0 ? 'exec' : 'interpreter');
      if (!ok || opts.interpreters === false) break;
      const interp = await interpreterOf(host);
      if (interp === null) break;
      inRoot = interp;
    }
  }
  const byBytes = (a: TracedPath, b: TracedPath): number => Buffer.compare(a.pathBytes, b.pathBytes);
  return {
    files: [...files.values()].sort(byBytes),
    missing: [...missing.values()].sort(byBytes),
    excluded,
    written: written.sort(byBytes),
  };
}

/**
 * The interpreter the kernel loads to run `file`: the `#!` program of a script
 * or the PT_INTERP of a dynamic ELF executable. Null for anything else.
 */
export async function interpreterOf(file: string): Promise<string | null> {
  let fh;
  try {
    fh = await open(file, 'r');
  } catch {
    return null;
  }
  try {
    const head = Buffer.alloc(4096);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    const b = head.subarray(0, bytesRead);
    if (b[0] === 0x23 && b[1] === 0x21) {
      const line = b.toString('latin1', 2, Math.max(2, b.indexOf(0x0a) < 0 ? b.length : b.indexOf(0x0a)));
      const prog = line.trim().split(/[ \t]+/)[0];
      return prog?.startsWith('/') ? prog : null;
    }
    if (b.length < 64 || b.readUInt32BE(0) !== 0x7f454c46) return null;
    const is64 = b[4] === 2;
    const le = b[5] === 1;
    const u16 = (o: number): number => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
    const u32 = (o: number): number => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
    const u64 = (o: number): number => Number(le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o));
    const phoff = is64 ? u64(32) : u32(28);
    const phentsize = u16(is64 ? 54 : 42);
    const phnum = u16(is64 ? 56 : 44);
    const table = Buffer.alloc(phentsize * phnum);
    await fh.read(table, 0, table.length, phoff);
    for (let i = 0; i < phnum; i++) {
      const o = i * phentsize;
      const type = le ? table.readUInt32LE(o) : table.readUInt32BE(o);
      if (type !== 3) continue; // PT_INTERP
      const offset = is64
        ? Number(le ? table.readBigUInt64LE(o + 8) : table.readBigUInt64BE(o + 8))
        : le
          ? table.readUInt32LE(o + 4)
          : table.readUInt32BE(o + 4);
      const size = is64
        ? Number(le ? table.readBigUInt64LE(o + 32) : table.readBigUInt64BE(o + 32))
        : le
          ? table.readUInt32LE(o + 16)
          : table.readUInt32BE(o + 16);
      if (size <= 0 || size > 4096) return null;
      const s = Buffer.alloc(size);
      await fh.read(s, 0, size, offset);
      const end = s.indexOf(0);
      return s.toString('latin1', 0, end < 0 ? size : end);
    }
    return null;
  } finally {
    await fh.close();
  }
}

// ---------------------------------------------------------------------------
// strace syntax

/** Splits the arguments after `name(` at top-level commas; `end` is the index of the closing paren. */
function splitArgs(s: string, start: number): { args: string[]; end: number } | null {
  const args: string[] = [];
  let depth = 0;
  let from = start;
  for (let i = start; i < s.length; i++) {
    const c = s[i];
    if (c === '"') {
      for (i++; i < s.length && s[i] !== '"'; i++) if (s[i] === '\\') i++;
      continue;
    }
    if (c === '<') {
      // a -y decoration: '>' inside a path is printed escaped, so the first '>' ends it
      const close = s.indexOf('>', i + 1);
      if (close < 0) return null;
      i = close;
      continue;
    }
    if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ']' || c === '}') depth--;
    else if (c === ')') {
      if (depth === 0) {
        const last = s.slice(from, i).trim();
        if (last !== '' || args.length > 0) args.push(last);
        return { args, end: i };
      }
      depth--;
    } else if (c === ',' && depth === 0) {
      args.push(s.slice(from, i).trim());
      from = i + 1;
    }
  }
  return null;
}

/** The path in a `N<path>` or `AT_FDCWD<path>` decoration, as a binary string. */
function decoration(text: string): string | null {
  const open = text.indexOf('<');
  const close = text.lastIndexOf('>');
  if (open < 0 || close <= open) return null;
  return unescapeC(text.slice(open + 1, close));
}

/** The bytes of a strace string argument `"…"` (a trailing `...` means it was cut: unusable). */
function quoted(arg: string | undefined): string | null {
  if (!arg?.startsWith('"') || !arg.endsWith('"')) return null;
  return unescapeC(arg.slice(1, -1));
}

/** Decodes C escapes (\n, \", \\, \ooo, \xHH) into a binary string. */
export function unescapeC(s: string): string {
  if (!s.includes('\\')) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const n = s[i + 1] ?? '';
    const simple: Record<string, string> = {
      n: '\n',
      t: '\t',
      r: '\r',
      v: '\v',
      f: '\f',
      a: '\x07',
      b: '\b',
      '\\': '\\',
      '"': '"',
      "'": "'",
    };
    if (simple[n] !== undefined) {
      out += simple[n];
      i++;
      continue;
    }
    if (n === 'x') {
      const h = /^[0-9a-fA-F]{1,2}/.exec(s.slice(i + 2, i + 4));
      if (h) {
        out += String.fromCharCode(parseInt(h[0], 16));
        i += 1 + h[0].length;
        continue;
      }
    }
    const o = /^[0-7]{1,3}/.exec(s.slice(i + 1, i + 4));
    if (o) {
      out += String.fromCharCode(parseInt(o[0], 8) & 0xff);
      i += o[0].length;
      continue;
    }
    out += n;
    i++;
  }
  return out;
}

function toBinary(s: string): string {
  return Buffer.from(s, 'utf8').toString('latin1');
}

function fromBinary(s: string): TracedPath {
  const pathBytes = Buffer.from(s, 'latin1');
  return { path: pathBytes.toString('utf8'), pathBytes };
}

function isWithin(path: string, dir: string): boolean {
  if (dir === '/') return path.startsWith('/');
  return path === dir || path.startsWith(`${dir}/`);
}
