import { posix } from 'node:path';
import { NAME_RE, REDIRECTS, ShellLexer, type LexWord } from '../core/shell-lexer.js';
import type { CommandWord, WordRole } from './command-word.js';
import { cdDirectory, wrapperRun } from './command-wrappers.js';

/**
 * Splits a `--cmd` string the way POSIX sh would, far enough to find the words
 * that may name files (watched roots) and the words that name programs: the
 * grammar (simple commands, reserved words, `case`, functions, subshells) over
 * the tokens of core/shell-lexer.ts, with the wrapper rules of
 * command-wrappers.ts.
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

export type { CommandWord, WordRole } from './command-word.js';

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
// Parser

interface Context {
  root: string | null;
  dir: string | null;
  vars: Map<string, string>;
  parent: number | null;
}

const RESERVED_OPEN = new Set(['!', '{', 'if', 'then', 'else', 'elif', 'do', 'while', 'until']);
const RESERVED_CLOSE = new Set(['}', 'fi', 'done', 'esac']);
const SEPARATORS = new Set([';', '&', '&&', '||', '|', '|&', '\n', ';;', ';&', ';;&']);

class Parser {
  private readonly lexer: ShellLexer;
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

  constructor(
    src: string,
    private readonly ctx: Context,
    private readonly out: CommandLine,
  ) {
    this.dir = ctx.dir;
    this.envNames = new Set(ctx.vars.keys());
    this.lexer = new ShellLexer(src, ctx.vars, this.unknown);
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
        if (this.header === 'case-word') {
          this.header = null;
          this.casePatterns = true;
        }
        return;
      }
      if (bare === 'do' && this.header === 'for-list') {
        this.makeWord(w, 'syntax');
        this.header = null;
        return;
      }
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
      if (bare === 'esac') {
        this.makeWord(w, 'syntax');
        this.casePatterns = false;
        this.caseDepth--;
        return;
      }
      this.makeWord(w, 'syntax');
      return;
    }
    if (atStart && bare !== null && cmd.assignments.length === 0) {
      if (RESERVED_OPEN.has(bare) || RESERVED_CLOSE.has(bare)) {
        this.makeWord(w, 'syntax');
        if (bare === 'esac') this.caseDepth = Math.max(0, this.caseDepth - 1);
        return;
      }
      if (bare === 'for' || bare === 'select') {
        this.makeWord(w, 'syntax');
        this.header = 'for-name';
        return;
      }
      if (bare === 'case') {
        this.makeWord(w, 'syntax');
        this.header = 'case-word';
        this.caseDepth++;
        return;
      }
      if (bare === 'function') {
        this.makeWord(w, 'syntax');
        cmd.functionKeyword = true;
        return;
      }
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
      if (cmd.expectFunctionClose) {
        cmd.expectFunctionClose = false;
        return;
      }
      if (this.casePatterns) {
        this.casePatterns = false;
        return;
      }
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
      if (cmd.redirects.length > 0)
        this.out.commands.push({
          argv: [],
          assignments: cmd.assignments,
          redirects: cmd.redirects,
          root: this.ctx.root,
          dir: this.dir ?? null,
          parent: this.ctx.parent,
        });
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
   * Records one simple command and follows what it runs: `cd` and `export`
   * change the parser's state; wrappers (chroot, env, sudo, nice, …), `sh -c
   * STRING` and interpreters given a script follow command-wrappers.ts.
   */
  private analyze(
    argv: CommandWord[],
    assignments: CommandWord[],
    redirects: CommandWord[],
    root: string | null,
    dir: string | null | undefined,
    parent: number | null,
    persistent: boolean,
    wrapped = false,
  ): void {
    const index = this.out.commands.length;
    this.out.commands.push({ argv, assignments, redirects, root, dir: dir ?? null, parent });
    const program = argv[0]!;
    program.role = 'program';
    if (!program.literal) return;
    this.out.programs.push({ word: program.text, root, dir: dir ?? null, kind: 'executable', wrapped });
    const name = posix.basename(program.text);
    const args = argv.slice(1);
    if (name === 'cd') {
      if (persistent) this.dir = cdDirectory(args[0], { root, dir, home: this.ctx.vars.get('HOME') });
      return;
    }
    if (name === 'export') {
      for (const a of args) {
        const eq = a.text.indexOf('=');
        if (eq > 0 && NAME_RE.test(a.text.slice(0, eq))) {
          a.role = 'assignment';
          this.assign(a);
          this.exported.add(a.text.slice(0, eq));
        } else if (NAME_RE.test(a.text)) {
          a.role = 'syntax';
          this.exported.add(a.text);
        }
      }
      return;
    }
    const run = wrapperRun(argv, root, dir);
    switch (run.kind) {
      case 'none':
        return;
      case 'runs':
        if (run.argv.length > 0) this.analyze(run.argv, run.assignments, [], root, dir, index, false, true);
        return;
      case 'chroot': {
        for (const w of run.argv) {
          w.root = run.root;
          w.dir = run.dir;
        }
        if (run.argv.length === 0) {
          const shell = this.ctx.vars.get('SHELL') ?? '/bin/sh';
          this.out.programs.push({
            word: shell,
            root: run.root,
            dir: run.dir,
            kind: 'executable',
            wrapped: true,
            implicit: true,
          });
          return;
        }
        this.analyze(run.argv, [], [], run.root, run.dir, index, false, true);
        return;
      }
      case 'script':
        this.nested(run.script.text, root, dir ?? null, index, assignments);
        return;
      case 'script-file':
        this.out.programs.push({ word: run.file.text, root, dir: dir ?? null, kind: 'script', wrapped: true });
        return;
    }
  }

  /** Parses the string of `sh -c` as its own command line, in the same root. */
  private nested(
    script: string,
    root: string | null,
    dir: string | null,
    parent: number,
    assignments: CommandWord[],
  ): void {
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
  return {
    argv: [],
    assignments: [],
    redirects: [],
    pendingRedirect: null,
    functionKeyword: false,
    expectFunctionClose: false,
  };
}

function isAssignment(w: LexWord): boolean {
  const eq = w.raw.indexOf('=');
  return eq > 0 && NAME_RE.test(w.raw.slice(0, eq));
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
