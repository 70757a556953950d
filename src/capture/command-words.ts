import { posix } from 'node:path';

/**
 * Splits a `--cmd` string the way POSIX sh would, far enough to find the words
 * that may name files (watched roots) and the words that name programs.
 *
 * This is discovery, not execution: nothing is run and nothing is read from
 * disk. What the shell would only know at run time (`$(...)`, backquotes,
 * variables nobody set, globs, `~user`) is kept as text but marked
 * `literal: false`, and callers must not treat such a word as a path.
 * Limits (also in docs/capture-rules.md): here-document bodies are skipped,
 * `case` patterns and function bodies are read as plain commands, `eval`,
 * `xargs`, `find -exec`, `su -c` and aliases are not followed, and `cd`
 * is tracked only through `&&`, `||`, `;` and newlines at the same level.
 */

/**
 * - program: argv[0] of a simple command (or the script file an interpreter runs);
 * - argument: any other argv word;
 * - assignment: `NAME=value` before a command or given to `env`;
 * - redirect: the file of a redirection (`>out`, `<in`, `2>>log`);
 * - script: the string given to `sh -c` (parsed recursively, not a path);
 * - syntax: reserved words, function and loop-variable names, case patterns,
 *   here-document delimiters, here-strings, fd numbers of `>&`.
 */
export type WordRole = 'program' | 'argument' | 'assignment' | 'redirect' | 'script' | 'syntax';

export interface CommandWord {
  /** The word after quote removal and the expansions we could do. */
  text: string;
  /** False when the shell would change the word in ways we cannot know here. */
  literal: boolean;
  role: WordRole;
  /**
   * The chroot the word is seen in (a host path, possibly relative to the
   * capture's cwd), or null outside any chroot.
   */
  root: string | null;
  /**
   * The directory a preceding `cd` moved to (inside `root` when set), or null
   * for the capture's cwd (or `/` inside a chroot).
   */
  dir: string | null;
  /** For role 'redirect': the operator, e.g. `>`, `2>>`, `<`. */
  operator?: string;
}

export interface SimpleCommand {
  /** argv[0] is the program word. */
  argv: CommandWord[];
  assignments: CommandWord[];
  redirects: CommandWord[];
  root: string | null;
  dir: string | null;
  /** Index in `commands` of the wrapper (chroot, env, sudo, sh -c …) that runs this one. */
  parent: number | null;
}

/** A program the command line runs, to be resolved through PATH (inside `root`). */
export interface ProgramWord {
  word: string;
  root: string | null;
  dir: string | null;
  /** 'script': a file given to an interpreter (`sh build.sh`), looked up without PATH. */
  kind: 'executable' | 'script';
  /** True when a wrapper (chroot, env, sudo, nice, …) execs it, so shell builtins do not apply. */
  wrapped: boolean;
  /** True when no word names it (chroot with no command runs the shell). */
  implicit?: boolean;
}

export interface CommandLine {
  /** Every word, nested `sh -c` strings included, in order of appearance. */
  words: CommandWord[];
  commands: SimpleCommand[];
  /** Distinct literal programs, in order of first appearance. */
  programs: ProgramWord[];
}

export interface SplitOptions {
  /** Variables `$NAME` may expand to (the capture's environment). Others stay non-literal. */
  env?: NodeJS.ProcessEnv;
}

/** Splits `command` as `/bin/sh -c command` would see it. */
export function splitCommand(command: string, opts: SplitOptions = {}): CommandLine {
  const out: CommandLine = { words: [], commands: [], programs: [] };
  const vars = new Map<string, string>();
  for (const [k, v] of Object.entries(opts.env ?? {})) if (v !== undefined) vars.set(k, v);
  new Parser(command, { root: null, dir: null, vars, parent: null }, out).parse();
  out.programs = dedupePrograms(out.programs);
  return out;
}

/**
 * The host path a word names, given the capture's cwd: relative words are
 * resolved against the `cd` directory, words inside a chroot against its root.
 */
export function wordHostPath(word: Pick<CommandWord, 'text' | 'root' | 'dir'>, cwd: string): string {
  if (word.root === null) return posix.resolve(cwd, word.dir ?? '.', word.text);
  const root = posix.resolve(cwd, word.root);
  const inRoot = posix.resolve('/', word.dir ?? '/', word.text);
  return inRoot === '/' ? root : posix.join(root, inRoot);
}

// ---------------------------------------------------------------------------
// Lexer

interface LexWord {
  text: string;
  raw: string;
  literal: boolean;
  quoted: boolean;
}

type Token = { type: 'word'; word: LexWord } | { type: 'op'; op: string };

const OPERATORS = [
  ';;&', '&>>', '<<<', '<<-',
  '&&', '||', ';;', ';&', '|&', '&>', '<<', '<>', '<&', '>>', '>|', '>&',
  '<', '>', '&', '|', ';', '(', ')',
];
const REDIRECTS = new Set(['<', '>', '>>', '>|', '<>', '<&', '>&', '&>', '&>>', '<<', '<<-', '<<<']);
const META = new Set(['|', '&', ';', '<', '>', '(', ')', ' ', '\t', '\n']);
const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

class Lexer {
  private i = 0;
  private heredocs: Array<{ delim: string; strip: boolean }> = [];
  private expectDelimiter: boolean | null = null;

  constructor(private readonly s: string, private readonly vars: Map<string, string>, private readonly unknown: Set<string>) {}

  next(): Token | null {
    const s = this.s;
    for (;;) {
      const c = s[this.i];
      if (c === ' ' || c === '\t') { this.i++; continue; }
      if (c === '\\' && s[this.i + 1] === '\n') { this.i += 2; continue; }
      if (c === '#') { while (this.i < s.length && s[this.i] !== '\n') this.i++; continue; }
      break;
    }
    if (this.i >= s.length) return null;
    if (s[this.i] === '\n') {
      this.i++;
      this.skipHeredocBodies();
      return { type: 'op', op: '\n' };
    }
    // An IO number: digits directly followed by a redirection.
    const io = /^\d+(?=[<>])/.exec(s.slice(this.i, this.i + 12));
    const start = this.i;
    if (io) this.i += io[0].length;
    if (s.startsWith('<(', this.i) || s.startsWith('>(', this.i)) {
      // bash process substitution: a word only the shell can produce
      this.i++;
      this.skipBalanced('(', ')');
      return { type: 'word', word: { text: s.slice(start, this.i), raw: s.slice(start, this.i), literal: false, quoted: false } };
    }
    for (const op of OPERATORS) {
      if (s.startsWith(op, this.i)) {
        this.i += op.length;
        if (op === '<<' || op === '<<-') this.expectDelimiter = op === '<<-';
        return { type: 'op', op: io ? io[0] + op : op };
      }
    }
    this.i = start;
    const word = this.word();
    if (this.expectDelimiter !== null) {
      this.heredocs.push({ delim: word.text, strip: this.expectDelimiter });
      this.expectDelimiter = null;
    }
    return { type: 'word', word };
  }

  private word(): LexWord {
    const s = this.s;
    const start = this.i;
    let text = '';
    let literal = true;
    let quoted = false;
    let unquotedBracket = false;
    if (s[this.i] === '~') {
      let j = this.i + 1;
      while (j < s.length && !META.has(s[j]!) && s[j] !== '/') j++;
      const user = s.slice(this.i + 1, j);
      const home = this.vars.get('HOME');
      if (user === '' && home !== undefined && !this.unknown.has('HOME')) text = home;
      else { text = s.slice(this.i, j); literal = false; }
      this.i = j;
    }
    while (this.i < s.length) {
      const c = s[this.i]!;
      if (META.has(c)) break;
      if (c === '\\') {
        const n = s[this.i + 1];
        this.i += 2;
        quoted = true;
        if (n !== undefined && n !== '\n') text += n;
        continue;
      }
      if (c === "'") {
        const end = s.indexOf("'", this.i + 1);
        const stop = end < 0 ? s.length : end;
        text += s.slice(this.i + 1, stop);
        this.i = stop + 1;
        quoted = true;
        continue;
      }
      if (c === '"') {
        const r = this.doubleQuoted();
        text += r.text;
        literal &&= r.literal;
        quoted = true;
        continue;
      }
      if (c === '$') {
        if (s[this.i + 1] === "'") {
          text += this.ansiC();
          quoted = true;
          continue;
        }
        const r = this.dollar(false);
        text += r.text;
        literal &&= r.literal;
        continue;
      }
      if (c === '`') {
        this.skipBackquote();
        literal = false;
        continue;
      }
      if (c === '*' || c === '?') literal = false;
      if (c === '[') unquotedBracket = true;
      if (c === ']' && unquotedBracket) literal = false;
      text += c;
      this.i++;
    }
    const raw = s.slice(start, this.i);
    if (/\{[^{}\s]*(,|\.\.)[^{}\s]*\}/.test(raw) && !quoted) literal = false; // bash brace expansion
    return { text, raw, literal, quoted };
  }

  private doubleQuoted(): { text: string; literal: boolean } {
    const s = this.s;
    this.i++; // opening quote
    let text = '';
    let literal = true;
    while (this.i < s.length && s[this.i] !== '"') {
      const c = s[this.i]!;
      if (c === '\\') {
        const n = s[this.i + 1];
        if (n === '$' || n === '`' || n === '"' || n === '\\') { text += n; this.i += 2; continue; }
        if (n === '\n') { this.i += 2; continue; }
        text += c;
        this.i++;
        continue;
      }
      if (c === '$') {
        const r = this.dollar(true);
        text += r.text;
        literal &&= r.literal;
        continue;
      }
      if (c === '`') { this.skipBackquote(); literal = false; continue; }
      text += c;
      this.i++;
    }
    this.i++; // closing quote
    return { text, literal };
  }

  /** `$…` at this.i. Returns what we know of its expansion. */
  private dollar(inDouble: boolean): { text: string; literal: boolean } {
    const s = this.s;
    const n = s[this.i + 1];
    if (n === '(') {
      this.i++;
      this.skipBalanced('(', ')');
      return { text: '', literal: false };
    }
    if (n === '{') {
      const open = this.i + 1;
      this.i++;
      this.skipBalanced('{', '}');
      return this.variable(s.slice(open + 1, this.i - 1), inDouble);
    }
    if (n !== undefined && /[A-Za-z_]/.test(n)) {
      let j = this.i + 1;
      while (j < s.length && /[A-Za-z0-9_]/.test(s[j]!)) j++;
      const name = s.slice(this.i + 1, j);
      this.i = j;
      return this.variable(name, inDouble);
    }
    if (n !== undefined && /[0-9@*#?$!-]/.test(n)) {
      this.i += 2;
      return { text: '', literal: false };
    }
    this.i++;
    return { text: '$', literal: true };
  }

  private variable(name: string, inDouble: boolean): { text: string; literal: boolean } {
    if (!NAME_RE.test(name) || this.unknown.has(name)) return { text: '', literal: false };
    const value = this.vars.get(name);
    if (value === undefined) return { text: '', literal: false };
    // Unquoted, a value with blanks or glob characters would be split or globbed.
    return { text: value, literal: inDouble || !/[\s*?[]/.test(value) };
  }

  private ansiC(): string {
    const s = this.s;
    this.i += 2;
    let text = '';
    const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', a: '\x07', b: '\b', e: '\x1b', E: '\x1b', f: '\f', v: '\v', '\\': '\\', "'": "'", '"': '"', '?': '?' };
    while (this.i < s.length && s[this.i] !== "'") {
      const c = s[this.i]!;
      if (c !== '\\') { text += c; this.i++; continue; }
      const n = s[this.i + 1] ?? '';
      if (simple[n] !== undefined) { text += simple[n]; this.i += 2; continue; }
      const hex = /^x([0-9a-fA-F]{1,2})/.exec(s.slice(this.i + 1, this.i + 4));
      if (hex) { text += String.fromCharCode(parseInt(hex[1]!, 16)); this.i += 1 + hex[0].length; continue; }
      const oct = /^[0-7]{1,3}/.exec(s.slice(this.i + 1, this.i + 4));
      if (oct) { text += String.fromCharCode(parseInt(oct[0], 8) & 0xff); this.i += 1 + oct[0].length; continue; }
      text += c + n;
      this.i += 2;
    }
    this.i++;
    return text;
  }

  /** At an opening `open` (this.i), moves past its matching `close`, minding quotes. */
  private skipBalanced(open: string, close: string): void {
    const s = this.s;
    let depth = 0;
    while (this.i < s.length) {
      const c = s[this.i]!;
      if (c === '\\') { this.i += 2; continue; }
      if (c === "'") { const e = s.indexOf("'", this.i + 1); this.i = e < 0 ? s.length : e + 1; continue; }
      if (c === '"') { this.doubleQuoted(); continue; }
      if (c === '`') { this.skipBackquote(); continue; }
      if (c === open) depth++;
      else if (c === close) {
        depth--;
        if (depth === 0) { this.i++; return; }
      }
      this.i++;
    }
  }

  private skipBackquote(): void {
    const s = this.s;
    this.i++;
    while (this.i < s.length && s[this.i] !== '`') this.i += s[this.i] === '\\' ? 2 : 1;
    this.i++;
  }

  private skipHeredocBodies(): void {
    const s = this.s;
    for (const { delim, strip } of this.heredocs) {
      while (this.i < s.length) {
        let end = s.indexOf('\n', this.i);
        if (end < 0) end = s.length;
        let line = s.slice(this.i, end);
        this.i = Math.min(end + 1, s.length);
        if (strip) line = line.replace(/^\t+/, '');
        if (line === delim) break;
      }
    }
    this.heredocs = [];
  }
}

// ---------------------------------------------------------------------------
// Parser

interface Context {
  root: string | null;
  dir: string | null;
  vars: Map<string, string>;
  parent: number | null;
}

const RESERVED_OPEN = new Set(['!', '{', 'if', 'then', 'else', 'elif', 'do', 'while', 'until']);
const RESERVED_CLOSE = new Set(['}', 'fi', 'done', 'esac']);
const SHELLS = new Set(['sh', 'bash', 'dash', 'ash', 'ksh', 'mksh', 'zsh', 'posh', 'yash']);
const SEPARATORS = new Set([';', '&', '&&', '||', '|', '|&', '\n', ';;', ';&', ';;&']);

class Parser {
  private readonly lexer: Lexer;
  private readonly unknown = new Set<string>();
  private readonly exported = new Set<string>();
  /** Set by a plain assignment and not in the environment: a nested `sh -c` does not see them unless exported. */
  private readonly shellOnly = new Set<string>();
  private readonly envNames: ReadonlySet<string>;
  private readonly functions = new Set<string>();
  private dirStack: Array<string | null | undefined> = [];
  /** undefined: a `cd` went somewhere we cannot tell. */
  private dir: string | null | undefined;
  private cmd = emptyCommand();
  private inPipeline = false;
  /** for/select/case header: words until the next separator are plain arguments. */
  private header: 'for-name' | 'for-list' | 'case-word' | null = null;
  private casePatterns = false;
  private caseDepth = 0;

  constructor(src: string, private readonly ctx: Context, private readonly out: CommandLine) {
    this.dir = ctx.dir;
    this.envNames = new Set(ctx.vars.keys());
    this.lexer = new Lexer(src, ctx.vars, this.unknown);
  }

  parse(): void {
    for (let t = this.lexer.next(); t; t = this.lexer.next()) {
      if (t.type === 'word') this.onWord(t.word);
      else this.onOp(t.op);
    }
    this.finish(null);
  }

  private makeWord(w: LexWord, role: WordRole): CommandWord {
    const knownDir = this.dir !== undefined;
    const relative = !w.text.startsWith('/');
    const word: CommandWord = {
      text: w.text,
      literal: w.literal && (knownDir || !relative),
      role,
      root: this.ctx.root,
      dir: this.dir ?? null,
    };
    this.out.words.push(word);
    return word;
  }

  private onWord(w: LexWord): void {
    const cmd = this.cmd;
    const atStart = cmd.argv.length === 0;
    const bare = !w.quoted && w.literal ? w.text : null;
    if (this.header === 'for-name') {
      this.makeWord(w, 'syntax');
      this.unknown.add(w.text);
      this.header = 'for-list';
      return;
    }
    if (this.header === 'for-list' || this.header === 'case-word') {
      if (bare === 'in') {
        this.makeWord(w, 'syntax');
        if (this.header === 'case-word') { this.header = null; this.casePatterns = true; }
        return;
      }
      if (bare === 'do' && this.header === 'for-list') { this.makeWord(w, 'syntax'); this.header = null; return; }
      this.makeWord(w, 'argument');
      return;
    }
    if (cmd.pendingRedirect !== null) {
      const op = cmd.pendingRedirect;
      cmd.pendingRedirect = null;
      const isFd = (op.endsWith('>&') || op.endsWith('<&')) && /^(\d+|-)$/.test(w.text);
      const notPath = isFd || op.endsWith('<<') || op.endsWith('<<-') || op.endsWith('<<<');
      const word = this.makeWord(w, notPath ? 'syntax' : 'redirect');
      word.operator = op;
      if (!notPath) cmd.redirects.push(word);
      return;
    }
    if (this.casePatterns) {
      if (bare === 'esac') { this.makeWord(w, 'syntax'); this.casePatterns = false; this.caseDepth--; return; }
      this.makeWord(w, 'syntax');
      return;
    }
    if (atStart && bare !== null && cmd.assignments.length === 0) {
      if (RESERVED_OPEN.has(bare) || RESERVED_CLOSE.has(bare)) {
        this.makeWord(w, 'syntax');
        if (bare === 'esac') this.caseDepth = Math.max(0, this.caseDepth - 1);
        return;
      }
      if (bare === 'for' || bare === 'select') { this.makeWord(w, 'syntax'); this.header = 'for-name'; return; }
      if (bare === 'case') { this.makeWord(w, 'syntax'); this.header = 'case-word'; this.caseDepth++; return; }
      if (bare === 'function') { this.makeWord(w, 'syntax'); cmd.functionKeyword = true; return; }
    }
    if (atStart && isAssignment(w)) {
      cmd.assignments.push(this.makeWord(w, 'assignment'));
      return;
    }
    if (cmd.functionKeyword) {
      this.functions.add(w.text);
      this.makeWord(w, 'syntax');
      cmd.functionKeyword = false;
      return;
    }
    cmd.argv.push(this.makeWord(w, atStart ? 'program' : 'argument'));
  }

  private onOp(op: string): void {
    const cmd = this.cmd;
    if (REDIRECTS.has(op.replace(/^\d+/, ''))) {
      cmd.pendingRedirect = op;
      return;
    }
    if (op === '(') {
      if (cmd.argv.length === 1 && cmd.assignments.length === 0) {
        // `name() { …; }`: a function definition, not a command
        const name = cmd.argv.pop()!;
        name.role = 'syntax';
        this.functions.add(name.text);
        cmd.expectFunctionClose = true;
        return;
      }
      this.finish(null);
      this.dirStack.push(this.dir);
      return;
    }
    if (op === ')') {
      if (cmd.expectFunctionClose) { cmd.expectFunctionClose = false; return; }
      if (this.casePatterns) { this.casePatterns = false; return; }
      this.finish(null);
      if (this.dirStack.length > 0) this.dir = this.dirStack.pop();
      return;
    }
    if (SEPARATORS.has(op)) {
      if (this.casePatterns && (op === '|' || op === '\n')) return;
      if (this.header === 'for-list' || this.header === 'case-word') {
        if (this.header === 'for-list') this.header = null;
        return;
      }
      if (this.header === 'for-name') this.header = null;
      this.finish(op);
      if (op === ';;' || op === ';&' || op === ';;&') this.casePatterns = this.caseDepth > 0;
    }
  }

  /** Ends the current simple command; `op` is what ended it. */
  private finish(op: string | null): void {
    const cmd = this.cmd;
    this.cmd = emptyCommand();
    const piped = op === '|' || op === '|&' || this.inPipeline;
    this.inPipeline = op === '|' || op === '|&';
    if (cmd.argv.length === 0) {
      for (const a of cmd.assignments) {
        this.assign(a);
        const name = a.text.slice(0, a.text.indexOf('='));
        if (!this.envNames.has(name)) this.shellOnly.add(name);
      }
      if (cmd.redirects.length > 0) this.out.commands.push({ argv: [], assignments: cmd.assignments, redirects: cmd.redirects, root: this.ctx.root, dir: this.dir ?? null, parent: this.ctx.parent });
      return;
    }
    const program = cmd.argv[0]!;
    if (program.literal && this.functions.has(program.text)) {
      program.role = 'syntax';
      return;
    }
    const persistent = !piped && op !== '&';
    this.analyze(cmd.argv, cmd.assignments, cmd.redirects, this.ctx.root, this.dir, this.ctx.parent, persistent);
  }

  private assign(word: CommandWord): void {
    const eq = word.text.indexOf('=');
    const name = word.text.slice(0, eq);
    if (word.literal) {
      this.ctx.vars.set(name, word.text.slice(eq + 1));
      this.unknown.delete(name);
    } else {
      this.unknown.add(name);
    }
  }

  /**
   * Records one simple command and follows what it runs: wrappers (chroot,
   * env, sudo, nice, …), `sh -c STRING`, interpreters given a script, `cd`.
   */
  private analyze(
    argv: CommandWord[], assignments: CommandWord[], redirects: CommandWord[],
    root: string | null, dir: string | null | undefined, parent: number | null, persistent: boolean, wrapped = false,
  ): void {
    const index = this.out.commands.length;
    this.out.commands.push({ argv, assignments, redirects, root, dir: dir ?? null, parent });
    const program = argv[0]!;
    program.role = 'program';
    if (!program.literal) return;
    this.out.programs.push({ word: program.text, root, dir: dir ?? null, kind: 'executable', wrapped });
    const name = posix.basename(program.text);
    const args = argv.slice(1);
    const lit = (w: CommandWord | undefined): string | null => (w && w.literal ? w.text : null);

    const runRest = (rest: CommandWord[], extraAssignments: CommandWord[] = []): void => {
      if (rest.length > 0) this.analyze(rest, extraAssignments, [], root, dir, index, false, true);
    };

    switch (name) {
      case 'cd': {
        if (!persistent) return;
        const target = args[0];
        if (!target) this.dir = root !== null ? '/' : this.ctx.vars.get('HOME');
        else if (!target.literal || target.text === '-') this.dir = undefined;
        else if (target.text.startsWith('/')) this.dir = posix.normalize(target.text);
        else if (this.dir !== undefined) this.dir = joinDir(this.dir, target.text, root !== null);
        return;
      }
      case 'export': {
        for (const a of args) {
          const eq = a.text.indexOf('=');
          if (eq > 0 && NAME_RE.test(a.text.slice(0, eq))) { a.role = 'assignment'; this.assign(a); this.exported.add(a.text.slice(0, eq)); }
          else if (NAME_RE.test(a.text)) { a.role = 'syntax'; this.exported.add(a.text); }
        }
        return;
      }
      case 'chroot': {
        let i = 0;
        let skipChdir = false;
        for (; i < args.length; i++) {
          const t = lit(args[i]);
          if (t === '--') { i++; break; }
          if (t === null || !t.startsWith('-') || t === '-') break;
          if (t === '--skip-chdir') skipChdir = true;
          if ((t === '--userspec' || t === '--groups') && i + 1 < args.length) i++;
        }
        const rootWord = args[i];
        if (!rootWord) return;
        if (!rootWord.literal) {
          // We cannot tell where the chroot is: its command's words stay non-literal.
          for (const w of args.slice(i + 1)) w.literal = false;
          runRest(args.slice(i + 1));
          return;
        }
        const newRoot = root === null
          ? (rootWord.text.startsWith('/') || dir === null ? rootWord.text : posix.join(dir ?? '.', rootWord.text))
          : posix.join(root, posix.resolve('/', dir ?? '/', rootWord.text));
        const newDir = skipChdir ? null : '/';
        const rest = args.slice(i + 1);
        for (const w of rest) { w.root = newRoot; w.dir = newDir; }
        if (rest.length === 0) {
          const shell = this.ctx.vars.get('SHELL') ?? '/bin/sh';
          this.out.programs.push({ word: shell, root: newRoot, dir: newDir, kind: 'executable', wrapped: true, implicit: true });
          return;
        }
        this.analyze(rest, [], [], newRoot, newDir, index, false, true);
        return;
      }
      case 'env': {
        let i = 0;
        const extra: CommandWord[] = [];
        for (; i < args.length; i++) {
          const t = lit(args[i]);
          if (t === null) break;
          if (t === '--') { i++; break; }
          if (t === '-' || t === '-i' || t === '--ignore-environment' || t === '-0' || t === '--null' || t === '-v' || t === '--debug') continue;
          if ((t === '-u' || t === '-C' || t === '--unset' || t === '--chdir') && i + 1 < args.length) { i++; continue; }
          if (t.startsWith('--unset=') || t.startsWith('--chdir=') || /^-[uC]./.test(t)) continue;
          if ((t === '-S' || t === '--split-string') && i + 1 < args.length) {
            const str = args[i + 1]!;
            str.role = 'script';
            this.nested(str.text, root, dir ?? null, index, assignments);
            return;
          }
          if (t.startsWith('-')) continue;
          if (isAssignmentText(t)) { args[i]!.role = 'assignment'; extra.push(args[i]!); continue; }
          break;
        }
        runRest(args.slice(i), extra);
        return;
      }
      case 'exec': case 'nohup': case 'setsid': case 'eatmydata': case 'fakeroot': case 'time': case 'builtin': case 'command': {
        let i = 0;
        for (; i < args.length; i++) {
          const t = lit(args[i]);
          if (t === '--') { i++; break; }
          if (t === null || !t.startsWith('-')) break;
          if (name === 'command' && (t === '-v' || t === '-V')) return; // only looks the name up
          if (name === 'exec' && t === '-a') i++;
        }
        runRest(args.slice(i));
        return;
      }
      case 'nice': case 'ionice': case 'stdbuf': case 'timeout': case 'sudo': case 'doas': case 'runuser': {
        const withValue: Record<string, string[]> = {
          nice: ['-n', '--adjustment'],
          ionice: ['-c', '-n', '-t', '--class', '--classdata'],
          stdbuf: ['-i', '-o', '-e', '--input', '--output', '--error'],
          timeout: ['-s', '-k', '--signal', '--kill-after'],
          sudo: ['-u', '-g', '-C', '-h', '-p', '-D', '-r', '-t', '-T', '-U', '--user', '--group', '--chdir', '--prompt', '--host', '--role', '--type', '--close-from', '--command-timeout', '--other-user'],
          doas: ['-u', '-C'],
          runuser: ['-u', '-g', '-G', '--user', '--group', '--supp-group'],
        };
        let i = 0;
        for (; i < args.length; i++) {
          const t = lit(args[i]);
          if (t === '--') { i++; break; }
          if (t === null || !t.startsWith('-') || t === '-') break;
          if (withValue[name]!.includes(t)) i++;
        }
        if (name === 'timeout') i++; // the duration
        runRest(args.slice(i));
        return;
      }
      default:
        break;
    }

    if (SHELLS.has(name) || name === 'busybox' && lit(args[0]) === 'sh') {
      const shellArgs = name === 'busybox' ? args.slice(1) : args;
      let hasC = false;
      let i = 0;
      for (; i < shellArgs.length; i++) {
        const t = lit(shellArgs[i]);
        if (t === null) break;
        if (t === '--' || t === '-') { i++; break; }
        if (t.startsWith('--')) {
          if ((t === '--rcfile' || t === '--init-file') && i + 1 < shellArgs.length) i++;
          continue;
        }
        if (!/^[-+][A-Za-z]+$/.test(t)) break;
        if (t.slice(1).includes('c') && t.startsWith('-')) hasC = true;
        const takesArg = (t.match(/[oO]/g) ?? []).length;
        i += takesArg;
      }
      const first = shellArgs[i];
      if (!first) return;
      if (hasC) {
        first.role = 'script';
        if (first.literal) this.nested(first.text, root, dir ?? null, index, assignments);
        return;
      }
      // `sh script.sh args…`: the script is what runs
      first.role = 'program';
      if (first.literal) this.out.programs.push({ word: first.text, root, dir: dir ?? null, kind: 'script', wrapped: true });
      return;
    }
  }

  /** Parses the string of `sh -c` as its own command line, in the same root. */
  private nested(script: string, root: string | null, dir: string | null, parent: number, assignments: CommandWord[]): void {
    // The inner shell sees the environment plus what was exported or assigned for it.
    const vars = new Map<string, string>();
    for (const [k, v] of this.ctx.vars) {
      if (this.unknown.has(k) || (this.shellOnly.has(k) && !this.exported.has(k))) continue;
      vars.set(k, v);
    }
    for (const a of assignments) {
      const eq = a.text.indexOf('=');
      if (a.literal) vars.set(a.text.slice(0, eq), a.text.slice(eq + 1));
      else vars.delete(a.text.slice(0, eq));
    }
    new Parser(script, { root, dir, vars, parent }, this.out).parse();
  }
}

interface PendingCommand {
  argv: CommandWord[];
  assignments: CommandWord[];
  redirects: CommandWord[];
  pendingRedirect: string | null;
  functionKeyword: boolean;
  expectFunctionClose: boolean;
}

function emptyCommand(): PendingCommand {
  return { argv: [], assignments: [], redirects: [], pendingRedirect: null, functionKeyword: false, expectFunctionClose: false };
}

function isAssignment(w: LexWord): boolean {
  const eq = w.raw.indexOf('=');
  return eq > 0 && NAME_RE.test(w.raw.slice(0, eq));
}

function isAssignmentText(t: string): boolean {
  const eq = t.indexOf('=');
  return eq > 0 && NAME_RE.test(t.slice(0, eq));
}

function joinDir(current: string | null, target: string, inRoot: boolean): string {
  if (target.startsWith('/')) return posix.normalize(target);
  if (current === null) return inRoot ? posix.resolve('/', target) : posix.normalize(target);
  return current.startsWith('/') ? posix.resolve(current, target) : posix.join(current, target);
}

function dedupePrograms(programs: ProgramWord[]): ProgramWord[] {
  const seen = new Set<string>();
  const out: ProgramWord[] = [];
  for (const p of programs) {
    const key = JSON.stringify([p.word, p.root, p.word.includes('/') ? p.dir : null, p.kind, p.wrapped]);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(p);
  }
  return out;
}
